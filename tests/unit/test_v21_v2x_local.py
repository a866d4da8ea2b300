"""OCPP 2.1 V2X with local inputs and the V2XChargingCtrlr variables: LocalLoadBalancing thresholds (TC_Q_122),
LocalFrequency from the site meter with LocalFrequencyUpdateThreshold (Q08), frequency support with central control
(TC_Q_117, TC_Q_118), the per-operation-mode measurands (TC_Q_100) and priority charging (TC_K_118 / K21, K22).
Same rig as test_v21_v2x.py (virtual time, the ocpp library's CSMS over an in-memory wire)."""

from __future__ import annotations

from typing import Any

import pytest
from test_v201_smart_rig import SmartRig, ok, period, profile, reason, set_profile

from chargepoint.clock import iso
from chargepoint.hardware.site import EmulatedSiteMeter
from chargepoint.ocpp.device_model import Component
from chargepoint.ocpp.smart_state import use_priority_charging
from chargepoint.station.settings import StationSettings
from chargepoint.station.types import Measurand

V21 = "2.1"
V2X = "V2XChargingCtrlr"


def var(name: str, instance: str | None = None, evse_id: int = 1) -> dict[str, Any]:
    return {"component": {"name": V2X, "evse": {"id": evse_id}},
            "variable": {"name": name, **({"instance": instance} if instance else {})}}


async def set_vars(r: SmartRig, values: dict[tuple[str, str | None], str], evse_id: int = 1) -> list[str]:
    data = [{**var(n, i, evse_id), "attributeValue": v} for (n, i), v in values.items()]
    res = await r.call("SetVariables", {"setVariableData": data})
    return [x["attributeStatus"] for x in res["setVariableResult"]]


async def get_var(r: SmartRig, name: str, instance: str | None = None, evse_id: int = 1) -> dict[str, Any]:
    res = await r.call("GetVariables", {"getVariableData": [var(name, instance, evse_id)]})
    item: dict[str, Any] = res["getVariableResult"][0]
    return item


def llb(pid: int, tx_id: str | None = None, purpose: str = "TxProfile") -> dict[str, Any]:
    return profile(pid, purpose, [period(operationMode="LocalLoadBalancing")], tx_id=tx_id)


def tx_events(r: SmartRig) -> list[dict[str, Any]]:
    return r.sent("TransactionEvent")


def measurands(event: dict[str, Any]) -> list[tuple[str, str]]:
    return [(v["measurand"], v["context"]) for mv in event.get("meterValue", []) for v in mv["sampledValue"]]


# ---------------------------------------------------------------------------------------------------- Q09 / TC_Q_122
async def test_TC_Q_122_CS_local_load_balancing_needs_valid_thresholds() -> None:
    async with SmartRig(V21) as r:
        tx_id = await r.start_charging()
        assert (await get_var(r, "LocalLoadBalancing", "UpperThreshold")).get("attributeValue", "") == ""
        res = await set_profile(r, 1, llb(1, tx_id))
        assert res["status"] == "Rejected" and reason(res) == "UnsupportedParam"
        assert "TC_Q_122" in res["statusInfo"]["additionalInfo"]
        # written one at a time, in any order, even inconsistent: the profile is what is checked
        assert await set_vars(r, {("LocalLoadBalancing", "UpperThreshold"): "1000",
                                  ("LocalLoadBalancing", "LowerThreshold"): "5000"}) == ["Accepted"] * 2
        res = await set_profile(r, 1, llb(1, tx_id))
        assert res["status"] == "Rejected" and reason(res) == "UnsupportedParam"  # Lower > Upper
        assert await set_vars(r, {("LocalLoadBalancing", "LowerThreshold"): "0",
                                  ("LocalLoadBalancing", "LowerOffset"): "2000"}) == ["Accepted"] * 2
        res = await set_profile(r, 1, llb(1, tx_id))
        assert res["status"] == "Rejected"  # Lower + offset (2 kW) above Upper + offset (1 kW): an empty band
        assert await set_vars(r, {("LocalLoadBalancing", "LowerOffset"): "0"}) == ["Accepted"]
        assert ok(await set_profile(r, 1, llb(1, tx_id)))
        assert await set_vars(r, {("LocalLoadBalancing", "UpperThreshold"): "abc"}) == ["Rejected"]
        # a TxDefaultProfile on EVSE 0 needs every EVSE configured
        res = await set_profile(r, 0, llb(2, purpose="TxDefaultProfile"))
        assert ok(res)


async def test_TC_Q_122_CS_station_wide_load_balancing_needs_every_evse_configured() -> None:
    async with SmartRig(V21, evses=2) as r:
        band = {("LocalLoadBalancing", "UpperThreshold"): "20000", ("LocalLoadBalancing", "LowerThreshold"): "0"}
        assert await set_vars(r, band, evse_id=1) == ["Accepted"] * 2
        res = await set_profile(r, 0, llb(3, purpose="TxDefaultProfile"))
        assert res["status"] == "Rejected" and "EVSE 2" in res["statusInfo"]["additionalInfo"]
        assert await set_vars(r, band, evse_id=2) == ["Accepted"] * 2
        assert ok(await set_profile(r, 0, llb(3, purpose="TxDefaultProfile")))


# ---------------------------------------------------------------------------------------------------- Q08 / Q07
def freq_profile(pid: int, tx_id: str, mode: str = "LocalFrequency", kind: str = "Relative",
                 **kw: Any) -> dict[str, Any]:
    per = period(operationMode=mode, v2xBaseline=-1000.0,
                 v2xFreqWattCurve=[{"frequency": 49.8, "power": 3000.0}, {"frequency": 50.2, "power": -3000.0}],
                 v2xSignalWattCurve=[{"signal": -100, "power": 2000.0}, {"signal": 100, "power": -2000.0}], **kw)
    return profile(pid, "TxProfile", [per], tx_id=tx_id, kind=kind)


async def test_Q08_local_frequency_follows_the_site_meter_and_the_update_threshold() -> None:
    async with SmartRig(V21) as r:
        tx_id = await r.start_charging()
        meter = EmulatedSiteMeter(frequency_hz=50.0)
        r.energy.use_site_meter(meter)
        assert ok(await set_profile(r, 1, freq_profile(1, tx_id)))
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(-1000, rel=0.03)
        meter.frequency_hz = 50.1  # over-frequency: the curve asks for 1.5 kW more discharge
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(-2500, rel=0.03)
        assert r.energy.explain(1)["frequency_hz"] == 50.1
        assert (await get_var(r, "LocalFrequencyUpdateThreshold"))["attributeValue"] == "0"
        assert await set_vars(r, {("LocalFrequencyUpdateThreshold", None): "150"}) == ["Accepted"]
        meter.frequency_hz = 50.2  # 100 mHz from the frequency of the setpoint: below the threshold
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(-2500, rel=0.03)
        assert r.energy.frequency_hz == 50.2 and r.energy.explain(1)["frequency_hz"] == 50.1
        meter.frequency_hz = 49.95  # 150 mHz: recalculated
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(-1000 + 750, rel=0.03)
        meter.frequency_hz = None  # the meter stops measuring frequency: the last one stays
        await r.pump(1.0)
        assert r.energy.frequency_hz == 49.95
        assert await set_vars(r, {("LocalFrequencyUpdateThreshold", None): "-1"}) == ["Rejected"]


async def test_TC_Q_117_CS_central_frequency_dynamic_push() -> None:
    async with SmartRig(V21) as r:
        tx_id = await r.start_charging()
        body = freq_profile(2, tx_id, mode="CentralFrequency", kind="Dynamic", setpoint=-1500.0)
        assert ok(await set_profile(r, 1, body))
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(-1500, rel=0.03)
        res = await r.call("UpdateDynamicSchedule", {"chargingProfileId": 2, "scheduleUpdate": {"setpoint": -3500.0}})
        assert ok(res)
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(-3500, rel=0.03)
        assert ok(await r.call("AFRRSignal", {"timestamp": iso(r.clock.now()), "signal": -100}))
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(-1000 + 2000, rel=0.03)  # v2xBaseline + signal curve
        r.station.trigger_meter_values(1)
        await r.pump(0.1)
        assert tx_events(r)[-1]["transactionInfo"]["operationMode"] == "CentralFrequency"


async def test_TC_Q_118_CS_central_frequency_duration_expired() -> None:
    async with SmartRig(V21) as r:
        tx_id = await r.start_charging()
        body = freq_profile(3, tx_id, mode="CentralFrequency", setpoint=-2000.0)
        body["chargingSchedule"][0]["duration"] = 20
        assert ok(await set_profile(r, 1, body))
        await r.pump(5.0)
        assert r.power_w() == pytest.approx(-2000, rel=0.03)
        await r.pump(16.0)
        assert r.power_w() > 20_000  # expired: ChargingOnly at the maximum again
        r.station.trigger_meter_values(1)
        await r.pump(0.1)
        assert tx_events(r)[-1]["transactionInfo"]["operationMode"] == "ChargingOnly"


# ---------------------------------------------------------------------------------------------------- TC_Q_100
async def test_TC_Q_100_CS_v2x_tx_measurands_per_operation_mode() -> None:
    settings = StationSettings(aligned_interval_s=0, sample_interval_s=10,
                               sampled_measurands=(Measurand.ENERGY_IMPORT_REGISTER,),
                               stop_txn_sampled_measurands=(Measurand.ENERGY_IMPORT_REGISTER,))
    async with SmartRig(V21, settings=settings) as r:
        assert await set_vars(r, {
            ("TxStartedMeasurands", "ChargingOnly"): "SoC",
            ("TxUpdatedMeasurands", "CentralSetpoint"): "Power.Active.Export,Energy.Active.Export.Register",
            ("TxUpdatedInterval", "CentralSetpoint"): "5",
            ("TxEndedMeasurands", "CentralSetpoint"): "Energy.Active.Export.Register",
            ("TxEndedInterval", "CentralSetpoint"): "4",
        }) == ["Accepted"] * 5
        assert (await get_var(r, "TxUpdatedMeasurands", "CentralSetpoint"))["attributeValue"] == \
            "Power.Active.Export,Energy.Active.Export.Register"
        tx_id = await r.start_charging()
        started = tx_events(r)[0]
        assert started["eventType"] == "Started"
        assert ("SoC", "Transaction.Begin") in measurands(started)  # ChargingOnly when it started
        await r.pump(8.0)  # the first periodic sample, still ChargingOnly: SampledDataCtrlr's only
        periodic = [e for e in tx_events(r) if e["triggerReason"] == "MeterValuePeriodic"]
        assert [measurands(e) for e in periodic] == [[("Energy.Active.Import.Register", "Sample.Periodic")]]
        body = profile(1, "TxProfile", [period(setpoint=-3000.0, operationMode="CentralSetpoint")], tx_id=tx_id)
        assert ok(await set_profile(r, 1, body))
        await r.pump(21.0)  # periodic samples at 20, 25, 30 s
        periodic = [e for e in tx_events(r) if e["triggerReason"] == "MeterValuePeriodic"][1:]
        assert len(periodic) == 3
        for e in periodic:
            assert set(measurands(e)) == {("Energy.Active.Import.Register", "Sample.Periodic"),
                                          ("Power.Active.Export", "Sample.Periodic"),
                                          ("Energy.Active.Export.Register", "Sample.Periodic")}
        times = [e["timestamp"] for e in periodic]
        gaps = {round((b - a).total_seconds()) for a, b in zip(_times(times), _times(times)[1:], strict=False)}
        assert gaps == {5}  # TxUpdatedInterval[CentralSetpoint]
        r.ports[1].unplug()
        await r.pump(0.5)
        ended = tx_events(r)[-1]
        assert ended["eventType"] == "Ended"
        interim = [mv for mv in ended["meterValue"] if mv["sampledValue"][0]["context"] == "Sample.Periodic"]
        assert len(interim) >= 4 and all(
            [v["measurand"] for v in mv["sampledValue"]] == ["Energy.Active.Export.Register"] for mv in interim)
        final = ended["meterValue"][-1]
        assert [(v["measurand"], v["context"]) for v in final["sampledValue"]] == [
            ("Energy.Active.Import.Register", "Transaction.End"), ("Energy.Active.Export.Register", "Transaction.End")]


def _times(stamps: list[str]) -> list[Any]:
    from chargepoint.clock import parse_iso

    return [parse_iso(t) for t in stamps]


async def test_v2x_charging_ctrlr_variables_read_written_reported_and_persisted() -> None:
    async with SmartRig(V21) as r:
        assert await set_vars(r, {("LocalLoadBalancing", "UpperThreshold"): "22000.5",
                                  ("TxEndedInterval", "LocalFrequency"): "30",
                                  ("TxStartedMeasurands", "Idle"): "Bogus"}) == ["Accepted", "Accepted", "Rejected"]
        assert (await get_var(r, "LocalLoadBalancing", "UpperThreshold"))["attributeValue"] == "22000.5"
        assert (await get_var(r, "LocalLoadBalancing", "UpperOffset"))["attributeValue"] == "0"
        assert r.energy.evses[1].load_balancing.upper_threshold_w == 22000.5
        assert (await get_var(r, "TxUpdatedMeasurands"))["attributeStatus"] == "UnknownVariable"  # per mode only
        dm = r.adapter.device_model
        report = {(e["variable"]["name"], e["variable"].get("instance")): e for e in dm.report("FullInventory")
                  if e["component"]["name"] == V2X}
        for name in ("TxStartedMeasurands", "TxUpdatedMeasurands", "TxEndedMeasurands", "TxUpdatedInterval",
                     "TxEndedInterval"):
            assert (name, "LocalLoadBalancing") in report and (name, "CentralSetpoint") in report
        for inst in ("UpperThreshold", "LowerThreshold", "UpperOffset", "LowerOffset"):
            entry = report[("LocalLoadBalancing", inst)]
            assert entry["variable_attribute"][0]["mutability"] == "ReadWrite"
            assert entry["variable_characteristics"]["unit"] == "W"
        assert report[("LocalFrequencyUpdateThreshold", None)]["variable_characteristics"]["unit"] == "mHz"
        snap = dm.snapshot()
        r.energy.evses[1].load_balancing.upper_threshold_w = None
        dm.restore(snap)
        assert r.energy.evses[1].load_balancing.upper_threshold_w == 22000.5
        assert dm.read(Component(V2X, evse_id=1), "TxEndedInterval", "LocalFrequency") == "30"


# ---------------------------------------------------------------------------------------------------- K21 / K22
def priority_profile(pid: int, limit: float) -> dict[str, Any]:
    return profile(pid, "PriorityCharging", [period(limit=limit, operationMode="ChargingOnly")])


async def test_TC_K_118_CS_priority_charging_remote() -> None:
    async with SmartRig(V21) as r:
        tx_id = await r.start_charging()
        tx_limit = profile(1, "TxProfile", [period(limit=5000.0, operationMode="ChargingOnly")], tx_id=tx_id)
        assert ok(await set_profile(r, 1, tx_limit))
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(5000, rel=0.03)
        res = await r.call("UsePriorityCharging", {"transactionId": tx_id, "activate": True})
        assert res["status"] == "NoProfile"
        res = await r.call("UsePriorityCharging", {"transactionId": "nope", "activate": True})
        assert res["status"] == "Rejected" and reason(res) == "TxNotFound"
        assert ok(await set_profile(r, 1, priority_profile(2, 15000.0)))
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(5000, rel=0.03)  # installed, not in use
        assert ok(await r.call("UsePriorityCharging", {"transactionId": tx_id, "activate": True}))
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(15000, rel=0.03)  # the PriorityCharging profile replaces the TxProfile
        comp = await r.call("GetCompositeSchedule", {"evseId": 1, "duration": 60, "chargingRateUnit": "W"})
        assert comp["schedule"]["chargingSchedulePeriod"][0]["limit"] == pytest.approx(15000)
        await r.duties()
        assert r.sent("NotifyPriorityCharging") == [{"transactionId": tx_id, "activated": True}]
        assert ok(await r.call("UsePriorityCharging", {"transactionId": tx_id, "activate": True}))
        await r.duties()
        assert len(r.sent("NotifyPriorityCharging")) == 1  # no change, nothing to tell
        assert ok(await r.call("UsePriorityCharging", {"transactionId": tx_id, "activate": False}))
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(5000, rel=0.03)
        await r.duties()
        assert r.sent("NotifyPriorityCharging")[-1] == {"transactionId": tx_id, "activated": False}


async def test_K21_priority_charging_ends_when_its_profile_is_cleared_and_K22_local_request() -> None:
    async with SmartRig(V21) as r:
        tx_id = await r.start_charging()
        assert ok(await set_profile(r, 0, priority_profile(3, 12000.0)))  # station-wide profile counts too
        assert use_priority_charging(r.station, tx_id, True) == "Accepted"  # K22: a local request
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(12000, rel=0.03)
        await r.duties()
        assert r.sent("NotifyPriorityCharging") == [{"transactionId": tx_id, "activated": True}]
        assert ok(await r.call("ClearChargingProfile", {"chargingProfileId": 3}))
        await r.duties()  # the station stops using it and says so
        assert r.sent("NotifyPriorityCharging")[-1] == {"transactionId": tx_id, "activated": False}
        assert tx_id not in r.energy.priority_charging
        await r.pump(1.0)
        assert r.power_w() > 20_000
        # the transaction's end ends priority charging without a message
        assert ok(await set_profile(r, 1, priority_profile(4, 12000.0)))
        assert use_priority_charging(r.station, tx_id, True) == "Accepted"
        await r.duties()
        r.ports[1].unplug()
        await r.pump(0.5)
        await r.duties()
        assert len(r.sent("NotifyPriorityCharging")) == 3 and not r.energy.priority_charging


async def test_priority_charging_unsupported_purpose_is_rejected() -> None:
    async with SmartRig(V21) as r:
        tx_id = await r.start_charging()
        r.energy.store.limits = r.energy.store.limits.__class__(evse_ids=frozenset({1}),
                                                                additional_purposes=frozenset())
        res = await r.call("UsePriorityCharging", {"transactionId": tx_id, "activate": True})
        assert res["status"] == "Rejected" and reason(res) == "UnsupportedRequest"
