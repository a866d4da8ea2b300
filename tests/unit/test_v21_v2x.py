"""OCPP 2.1 V2X on the station side (chargepoint.ocpp.v21_v2x): every operationMode through the message path into
the arbitration core and out to the emulated car, dynamic profiles (push and pull), aFRR, NotifyAllowedEnergyTransfer,
NotifyEVChargingNeeds with v2xChargingParameters, going offline. Virtual time; test names carry the certification
case (docs/reference/ocpp21_cs_testcases.tsv) or the use case (Q01-Q12) whose station behaviour they assert."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from test_v201_smart_rig import SmartRig, ok, period, profile, reason, set_profile

from chargepoint.clock import iso
from chargepoint.energy.model import ChargingProfile, ChargingSchedule, Kind, OperationMode, Purpose, RateUnit
from chargepoint.energy.model import SchedulePeriod as P
from chargepoint.energy.validation import StoreLimits
from chargepoint.hardware.site import EmulatedSiteMeter
from chargepoint.ocpp.device_model import Component
from chargepoint.ocpp.smart_state import set_external_limit
from hil.emulators.direct_dc import EvProfile

V21 = "2.1"


def setpoint_profile(pid: int, setpoint: float, tx_id: str, **kw: Any) -> dict[str, Any]:
    return profile(pid, "TxProfile", [period(setpoint=setpoint, operationMode="CentralSetpoint")], tx_id=tx_id, **kw)


def tx_events(r: SmartRig) -> list[dict[str, Any]]:
    return r.sent("TransactionEvent")


# ---------------------------------------------------------------------------------------------------- Q03 / Q04
async def test_Q04_central_setpoint_discharges_and_TC_K_101_CS_change_operation_mode() -> None:
    async with SmartRig(V21) as r:
        tx_id = await r.start_charging()
        assert r.power_w() > 20_000
        assert ok(await set_profile(r, 1, setpoint_profile(1, -4000.0, tx_id)))
        assert r.ports[1]._setpoint_w == pytest.approx(-4000)  # given to the port before the answer
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(-4000, rel=0.02)
        assert r.energy.explain(1)["bound_by"] == "schedule.setpoint"
        # TC_K_101: the same profile id in another operation mode
        body = profile(1, "TxProfile", [period(limit=5000.0, operationMode="ChargingOnly")], tx_id=tx_id)
        assert ok(await set_profile(r, 1, body))
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(5000, rel=0.02)
        r.station.trigger_meter_values(1)
        await r.pump(0.1)
        assert tx_events(r)[-1]["transactionInfo"]["operationMode"] == "ChargingOnly"


async def test_Q03_central_v2x_control_follows_a_charging_schedule() -> None:
    async with SmartRig(V21) as r:
        tx_id = await r.start_charging()
        periods = [period(limit=5000.0, operationMode="ChargingOnly"),
                   {"startPeriod": 20, "setpoint": -3000.0, "operationMode": "CentralSetpoint"},
                   {"startPeriod": 40, "operationMode": "Idle"}]
        body = profile(20, "TxProfile", periods, tx_id=tx_id, kind="Absolute")
        body["chargingSchedule"][0]["startSchedule"] = iso(r.clock.now())
        assert ok(await set_profile(r, 1, body))
        res = await r.call("GetCompositeSchedule", {"evseId": 1, "duration": 60})
        modes = [(p["startPeriod"], p.get("operationMode")) for p in res["schedule"]["chargingSchedulePeriod"]]
        assert modes == [(0, "ChargingOnly"), (20, "CentralSetpoint"), (40, "Idle")]
        await r.pump(10.0)
        assert r.power_w() == pytest.approx(5000, rel=0.02)
        await r.pump(20.0)
        assert r.power_w() == pytest.approx(-3000, rel=0.02)
        await r.pump(20.0)
        assert r.power_w() == pytest.approx(0, abs=1)


async def test_Q04_setpoint_beyond_the_car_is_honoured_up_to_its_limit() -> None:
    async with SmartRig(V21, ev=EvProfile(max_discharge_current_a=12.0)) as r:
        tx_id = await r.start_charging()
        assert ok(await set_profile(r, 1, setpoint_profile(2, -20000.0, tx_id)))
        await r.pump(1.0)
        why = r.energy.explain(1)
        assert why["bound_by"] == "ev.max_discharge_current"
        assert r.power_w() == pytest.approx(-12.0 * r.station.reading(1).voltage_v, rel=0.02)
        res = await r.call("GetCompositeSchedule", {"evseId": 1, "duration": 300})
        first = res["schedule"]["chargingSchedulePeriod"][0]
        assert first["operationMode"] == "CentralSetpoint"
        assert first["setpoint"] == pytest.approx(r.power_w(), rel=0.02)  # what the station will actually do


async def test_every_2_1_transaction_event_carries_the_operation_mode() -> None:
    async with SmartRig(V21) as r:
        await r.start_charging()
        events = tx_events(r)
        assert events and all(e["transactionInfo"]["operationMode"] == "ChargingOnly" for e in events)


# ---------------------------------------------------------------------------------------------------- dynamic
def dynamic(pid: int, setpoint: float, tx_id: str, interval: int | None = None) -> dict[str, Any]:
    body = setpoint_profile(pid, setpoint, tx_id, kind="Dynamic")
    if interval is not None:
        body["dynUpdateInterval"] = interval
    return body


async def test_TC_Q_109_CS_TC_K_122_CS_dynamic_setpoint_push() -> None:
    async with SmartRig(V21) as r:
        tx_id = await r.start_charging()
        assert ok(await set_profile(r, 1, dynamic(3, -2000.0, tx_id)))
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(-2000, rel=0.02)
        pushed_at = r.clock.now()
        res = await r.call("UpdateDynamicSchedule", {"chargingProfileId": 3, "scheduleUpdate": {
            "setpoint": -4500.0, "dischargeLimit": -5000.0}})
        assert ok(res)
        assert r.ports[1]._setpoint_w == pytest.approx(-4500)  # applied before the answer
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(-4500, rel=0.02)
        updated = r.energy.store.get(3)
        assert updated is not None and updated.dyn_update_time == pushed_at
        assert updated.schedule.periods[0].discharge_limit == -5000.0
        bad = await r.call("UpdateDynamicSchedule", {"chargingProfileId": 99, "scheduleUpdate": {"setpoint": 1.0}})
        assert bad["status"] == "Rejected" and reason(bad) == "NoProfile"


async def test_TC_K_123_CS_dynamic_profile_validations() -> None:
    async with SmartRig(V21) as r:
        tx_id = await r.start_charging()
        body = setpoint_profile(4, -1000.0, tx_id)
        body["dynUpdateInterval"] = 10  # only in a Dynamic profile (K01.FR.122)
        res = await set_profile(r, 1, body)
        assert res["status"] == "Rejected" and reason(res) == "InvalidProfile"
        assert ok(await set_profile(r, 1, setpoint_profile(5, -1000.0, tx_id)))
        res = await r.call("UpdateDynamicSchedule", {"chargingProfileId": 5, "scheduleUpdate": {"setpoint": -2.0}})
        assert res["status"] == "Rejected" and reason(res) == "InvalidProfile"  # not Dynamic
        res = await r.call("UpdateDynamicSchedule", {"chargingProfileId": 5, "scheduleUpdate": {"limit": -2.0}})
        assert res["status"] == "Rejected"
        r.energy.store.limits = StoreLimits(evse_ids=frozenset({1}), dynamic_profiles=False)
        res = await set_profile(r, 1, dynamic(6, -1000.0, tx_id))
        assert res["status"] == "Rejected" and reason(res) == "UnsupportedKind"  # K01.FR.121


async def test_TC_Q_110_CS_TC_K_121_CS_dynamic_setpoint_pull_at_dyn_update_interval() -> None:
    async with SmartRig(V21) as r:
        tx_id = await r.start_charging()
        r.csms.pull_update = {"setpoint": -3500.0}
        assert ok(await set_profile(r, 1, dynamic(7, -1000.0, tx_id, interval=30)))
        await r.pump(29.0)
        await r.duties()
        assert r.sent("PullDynamicScheduleUpdate") == []
        await r.pump(1.5)
        await r.duties()
        assert r.sent("PullDynamicScheduleUpdate") == [{"chargingProfileId": 7}]
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(-3500, rel=0.02)
        await r.pump(10.0)
        await r.duties()
        assert len(r.sent("PullDynamicScheduleUpdate")) == 1  # next one after another interval
        await r.pump(21.0)
        await r.duties()
        assert len(r.sent("PullDynamicScheduleUpdate")) == 2


# ---------------------------------------------------------------------------------------------------- Q07 / Q08 aFRR
def freq_profile(pid: int, tx_id: str, mode: str = "LocalFrequency", **kw: Any) -> dict[str, Any]:
    per = period(operationMode=mode, v2xBaseline=-1000.0,
                 v2xFreqWattCurve=[{"frequency": 49.8, "power": 3000.0}, {"frequency": 50.2, "power": -3000.0}],
                 v2xSignalWattCurve=[{"signal": -100, "power": 2000.0}, {"signal": 100, "power": -2000.0}], **kw)
    return profile(pid, "TxProfile", [per], tx_id=tx_id)


async def test_Q08_local_frequency_follows_the_grid_and_TC_Q_120_CS_afrr() -> None:
    async with SmartRig(V21) as r:
        tx_id = await r.start_charging()
        assert ok(await set_profile(r, 1, freq_profile(8, tx_id)))
        r.energy.frequency_hz = 50.1
        r.energy.reevaluate(1)
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(-1000 - 1500, rel=0.02)  # baseline + curve(50.1)
        res = await r.call("AFRRSignal", {"timestamp": iso(r.clock.now()), "signal": -50})
        assert ok(res) and r.energy.afrr_signal == -50
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(-1000 - 1500 + 1000, rel=0.02)
        # a signal for later becomes active at its timestamp
        later = iso(r.clock.now() + timedelta(seconds=5))
        assert ok(await r.call("AFRRSignal", {"timestamp": later, "signal": 100}))
        assert r.energy.afrr_signal == -50
        await r.pump(5.5)
        await r.duties()
        assert r.energy.afrr_signal == 100


async def test_TC_Q_117_CS_Q07_central_frequency_push_uses_the_signal_curve() -> None:
    async with SmartRig(V21) as r:
        tx_id = await r.start_charging()
        assert ok(await set_profile(r, 1, freq_profile(9, tx_id, mode="CentralFrequency", setpoint=-500.0)))
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(-500, rel=0.02)  # no signal yet: the setpoint
        assert ok(await r.call("AFRRSignal", {"timestamp": iso(r.clock.now()), "signal": 100}))
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(-1000 - 2000, rel=0.02)


async def test_TC_Q_119_CS_local_frequency_profile_validations() -> None:
    async with SmartRig(V21) as r:
        tx_id = await r.start_charging()
        body = freq_profile(10, tx_id)
        del body["chargingSchedule"][0]["chargingSchedulePeriod"][0]["v2xBaseline"]
        res = await set_profile(r, 1, body)
        assert res["status"] == "Rejected" and "Q08.FR.02" in res["statusInfo"]["additionalInfo"]
        body = freq_profile(10, tx_id)
        body["chargingSchedule"][0]["chargingRateUnit"] = "A"
        res = await set_profile(r, 1, body)
        assert res["status"] == "Rejected" and "Q08.FR.05" in res["statusInfo"]["additionalInfo"]


# ---------------------------------------------------------------------------------------------------- Q09 / Q10
async def set_variables(r: SmartRig, evse_id: int, values: dict[tuple[str, str | None], str]) -> list[str]:
    data = [{"component": {"name": "V2XChargingCtrlr", "evse": {"id": evse_id}},
             "variable": {"name": name, **({"instance": inst} if inst else {})}, "attributeValue": value}
            for (name, inst), value in values.items()]
    res = await r.call("SetVariables", {"setVariableData": data})
    return [x["attributeStatus"] for x in res["setVariableResult"]]


LLB_BAND = {("LocalLoadBalancing", "UpperThreshold"): "20000", ("LocalLoadBalancing", "LowerThreshold"): "0",
            ("LocalLoadBalancing", "UpperOffset"): "-1000", ("LocalLoadBalancing", "LowerOffset"): "500"}


async def test_Q09_local_load_balancing_keeps_the_site_meter_inside_the_thresholds() -> None:
    async with SmartRig(V21) as r:
        tx_id = await r.start_charging()
        meter = EmulatedSiteMeter(base_load_w=5_000.0)
        r.energy.use_site_meter(meter)
        assert await set_variables(r, 1, LLB_BAND) == ["Accepted"] * 4
        body = profile(11, "TxProfile", [period(limit=9000.0, dischargeLimit=-5000.0,
                                                operationMode="LocalLoadBalancing")], tx_id=tx_id)
        assert ok(await set_profile(r, 1, body))
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(0, abs=50)  # site at 5 kW, inside [0, 20 kW]: the car is not used
        assert r.energy.explain(1)["bound_by"] == "site.baseline"
        assert r.energy.explain(1)["operation_mode"] == "LocalLoadBalancing"
        meter.base_load_w = 23_000.0  # the building draws more than UpperThreshold: the car covers the excess
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(-4_000, rel=0.03)
        assert r.energy.site is not None and r.energy.site.import_w == pytest.approx(19_000, rel=0.01)
        assert r.energy.explain(1)["bound_by"] == "site.upper_threshold"
        meter.base_load_w = 30_000.0  # more than the CSMS's dischargeLimit allows
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(-5_000, rel=0.03)
        assert r.energy.explain(1)["bound_by"] == "schedule.discharge_limit"
        meter.base_load_w = -6_000.0  # PV feeds 6 kW into the grid: the car absorbs it down to +500 W
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(6_500, rel=0.03)
        assert r.energy.explain(1)["bound_by"] == "site.lower_threshold"
        meter.base_load_w = -15_000.0
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(9_000, rel=0.03)  # the CSMS's limit holds
        meter.available = False  # no measurement: no balancing, the car is not used
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(0, abs=50)
        assert r.energy.explain(1)["bound_by"] == "site.unavailable"
        r.station.trigger_meter_values(1)
        await r.pump(0.1)
        assert tx_events(r)[-1]["transactionInfo"]["operationMode"] == "LocalLoadBalancing"


async def test_TC_Q_125_CS_idle_with_evse_sleep_and_TC_Q_126_CS_evse_sleep_unsupported() -> None:
    async with SmartRig(V21) as r:
        tx_id = await r.start_charging()
        body = profile(12, "TxProfile", [period(operationMode="Idle", evseSleep=True)], tx_id=tx_id)
        assert ok(await set_profile(r, 1, body))
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(0, abs=1)
        r.energy.store.limits = StoreLimits(evse_ids=frozenset({1}), evse_sleep=False)
        body["id"] = 13
        res = await set_profile(r, 1, body | {"stackLevel": 1})
        assert res["status"] == "Rejected" and reason(res) == "UnsupportedParam"


# ---------------------------------------------------------------------------------------------------- Q05 / Q06
def ems(pid: int, evse_id: int, *, limit: float | None = None, setpoint: float | None = None,
        discharge: float | None = None, mode: OperationMode = OperationMode.EXTERNAL_SETPOINT) -> ChargingProfile:
    per = P(0, limit=limit, setpoint=setpoint, discharge_limit=discharge, operation_mode=mode)
    return ChargingProfile(pid, 0, Purpose.EXTERNAL_CONSTRAINTS, Kind.RELATIVE,
                           (ChargingSchedule(RateUnit.W, (per,), id=1),), evse_id=evse_id, limit_source="EMS")


async def test_TC_Q_111_CS_external_setpoint_within_the_csms_limits() -> None:
    async with SmartRig(V21) as r:
        tx_id = await r.start_charging()
        body = profile(14, "TxProfile", [period(limit=8000.0, dischargeLimit=-3000.0,
                                                operationMode="ExternalSetpoint")], tx_id=tx_id)
        assert ok(await set_profile(r, 1, body))
        assert set_external_limit(r.station, ems(-1, 1, setpoint=-2000.0)).accepted
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(-2000, rel=0.02)
        assert set_external_limit(r.station, ems(-1, 1, setpoint=-6000.0)).accepted
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(-3000, rel=0.02)  # the CSMS's dischargeLimit holds
        assert r.energy.explain(1)["bound_by"] == "schedule.discharge_limit"


async def test_TC_Q_112_CS_external_limits_mode_charges_at_the_external_limit() -> None:
    async with SmartRig(V21) as r:
        tx_id = await r.start_charging()
        body = profile(15, "TxProfile", [period(limit=20000.0, operationMode="ExternalLimits")], tx_id=tx_id)
        assert ok(await set_profile(r, 1, body))
        ext = ems(-2, 1, limit=6000.0, mode=OperationMode.EXTERNAL_LIMITS)
        assert set_external_limit(r.station, ext).accepted
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(6000, rel=0.02)
        await r.duties()
        note = r.sent("NotifyChargingLimit")[0]
        assert note["chargingSchedule"][0]["chargingSchedulePeriod"][0]["operationMode"] == "ExternalLimits"


# ---------------------------------------------------------------------------------------------------- Q01 / Q02
async def test_Q01_charging_needs_carry_v2x_parameters_when_the_car_can_discharge() -> None:
    async with SmartRig(V21, soc=50.0) as r:
        await r.start_charging()
        await r.duties()
        msg = (await r.wait_sent("NotifyEVChargingNeeds"))[0]
        needs = msg["chargingNeeds"]
        assert needs["requestedEnergyTransfer"] == "DC_BPT" and needs["availableEnergyTransfer"] == ["DC", "DC_BPT"]
        v2x = needs["v2xChargingParameters"]
        volts = r.station.reading(1).voltage_v
        assert v2x["maxDischargeCurrent"] == 15.0 and v2x["maxDischargePower"] == pytest.approx(15 * volts, rel=0.02)
        assert v2x["maxChargePower"] > 0 and v2x["maxVoltage"] == 435 and v2x["targetSoC"] == 100
        assert v2x["evMinV2XEnergyRequest"] < 0 < v2x["evMaxV2XEnergyRequest"]  # inside its V2X window
        assert "timestamp" in msg


async def test_Q01_no_bpt_when_v2x_is_disabled_on_the_evse() -> None:
    async with SmartRig(V21) as r:
        assert r.adapter.device_model.set(Component("V2XChargingCtrlr", evse_id=1), "Enabled", "false").status == \
            "Accepted"
        tx_id = await r.start_charging()
        await r.duties()
        needs = (await r.wait_sent("NotifyEVChargingNeeds"))[0]["chargingNeeds"]
        assert needs["requestedEnergyTransfer"] == "DC" and needs["v2xChargingParameters"]["maxDischargePower"] == 0
        assert ok(await set_profile(r, 1, setpoint_profile(16, -4000.0, tx_id)))
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(0, abs=1)


async def test_Q02_allowed_energy_transfer_dc_only_forbids_discharge_until_the_transaction_ends() -> None:
    async with SmartRig(V21) as r:
        tx_id = await r.start_charging()
        res = await r.call("NotifyAllowedEnergyTransfer", {"transactionId": tx_id, "allowedEnergyTransfer": ["DC"]})
        assert ok(res)
        assert ok(await set_profile(r, 1, setpoint_profile(17, -4000.0, tx_id)))
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(0, abs=1)
        assert r.energy.explain(1)["bound_by"] == "policy.discharge_limit"
        res = await r.call("NotifyAllowedEnergyTransfer", {"transactionId": tx_id,
                                                           "allowedEnergyTransfer": ["DC", "DC_BPT"]})
        assert ok(res)
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(-4000, rel=0.02)
        res = await r.call("NotifyAllowedEnergyTransfer", {"transactionId": "other", "allowedEnergyTransfer": ["DC"]})
        assert res["status"] == "Rejected" and reason(res) == "TxNotFound"
        await r.call("NotifyAllowedEnergyTransfer", {"transactionId": tx_id, "allowedEnergyTransfer": ["AC_BPT"]})
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(0, abs=1)  # no DC mode at all: no energy
        r.ports[1].unplug()
        await r.pump(0.5)
        assert r.energy.evses[1].policy is None  # the gate goes with the transaction


# ---------------------------------------------------------------------------------------------------- Q11 / Q12
async def test_TC_Q_128_CS_offline_with_invalid_after_offline_duration() -> None:
    async with SmartRig(V21) as r:
        tx_id = await r.start_charging()
        body = setpoint_profile(18, -4000.0, tx_id, maxOfflineDuration=10, invalidAfterOfflineDuration=True)
        assert ok(await set_profile(r, 1, body))
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(-4000, rel=0.02)
        r.adapter._went_offline()
        await r.pump(5.0)
        assert r.power_w() == pytest.approx(-4000, rel=0.02)  # still within maxOfflineDuration
        await r.pump(6.0)
        assert r.power_w() > 20_000  # expired: back to the default
        r.adapter._came_online()
        assert r.energy.store.get(18) is None  # gone for good
        res = await r.call("GetChargingProfiles", {"requestId": 1, "chargingProfile": {"chargingProfileId": [18]}})
        assert res["status"] == "NoProfiles"


async def test_TC_K_100_CS_Q12_profile_resumes_after_reconnect_without_invalid_flag() -> None:
    async with SmartRig(V21) as r:
        tx_id = await r.start_charging()
        assert ok(await set_profile(r, 1, setpoint_profile(19, -4000.0, tx_id, maxOfflineDuration=10)))
        r.adapter._went_offline()
        await r.pump(11.0)
        assert r.power_w() > 20_000
        r.adapter._came_online()
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(-4000, rel=0.02)


# ---------------------------------------------------------------------------------------------------- variables
async def get(r: SmartRig, component: dict[str, Any], name: str) -> str:
    res = await r.call("GetVariables", {"getVariableData": [{"component": component, "variable": {"name": name}}]})
    item = res["getVariableResult"][0]
    assert item["attributeStatus"] == "Accepted", item
    return str(item["attributeValue"])


async def test_v2x_charging_ctrlr_and_2_1_smart_charging_variables() -> None:
    async with SmartRig(V21) as r:
        v2x = {"name": "V2XChargingCtrlr", "evse": {"id": 1}}
        assert await get(r, v2x, "Enabled") == "true"
        assert await get(r, v2x, "SupportedEnergyTransferModes") == "DC,DC_BPT"
        assert await get(r, v2x, "SupportedOperationModes") == ",".join(m.value for m in OperationMode)
        smart = {"name": "SmartChargingCtrlr"}
        assert await get(r, smart, "SupportsDynamicProfiles") == "true"
        assert await get(r, smart, "SupportedAdditionalPurposes") == "LocalGeneration,PriorityCharging"
        assert await get(r, smart, "ExternalConstraintsProfileDisallowed") == "false"


async def test_TC_K_109_CS_max_external_constraints_id_reserves_profile_ids() -> None:
    async with SmartRig(V21) as r:
        res = await r.call("SetVariables", {"setVariableData": [{
            "component": {"name": "SmartChargingCtrlr"}, "variable": {"name": "MaxExternalConstraintsId"},
            "attributeValue": "100"}]})
        assert res["setVariableResult"][0]["attributeStatus"] == "Accepted"
        res = await set_profile(r, 1, profile(50))
        assert res["status"] == "Rejected" and reason(res) == "InvalidProfileId"
        assert ok(await set_profile(r, 1, profile(101)))
        assert set_external_limit(r.station, ems(100, 1, limit=5000.0,
                                                 mode=OperationMode.EXTERNAL_LIMITS)).accepted
