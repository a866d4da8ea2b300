"""OCPP 2.0.1 smart charging on the station side (chargepoint.ocpp.v201_smart): the message paths into the
energy core, in virtual time. Test names carry the certification case (docs/reference/ocpp21_cs_testcases.tsv) whose
Charging-Station behaviour they assert; use-case tests without a CS case name the use case (K01, K05, K08 ...)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ocpp.charge_point import camel_to_snake_case
from ocpp.exceptions import NotSupportedError
from ocpp.v201 import call
from test_v201_smart_rig import RATINGS, SmartRig, ok, period, profile, reason, set_profile
from v201_rig import Rig

from chargepoint.energy.model import ChargingProfile, ChargingSchedule, Kind, Purpose, RateUnit, SchedulePeriod
from chargepoint.energy.profiles import ProfileStore
from chargepoint.energy.validation import StoreLimits
from chargepoint.ocpp.smart_state import SMART, clear_external_limit, set_external_limit
from chargepoint.station.types import IdToken


def ems_limit(pid: int, evse_id: int, watts: float, source: str = "EMS") -> ChargingProfile:
    schedule = ChargingSchedule(RateUnit.W, (SchedulePeriod(0, limit=watts),), id=1)
    return ChargingProfile(pid, 0, Purpose.EXTERNAL_CONSTRAINTS, Kind.RELATIVE, (schedule,), evse_id=evse_id,
                           limit_source=source)


# ---------------------------------------------------------------------------------------------------- K01
async def test_TC_K_01_CS_tx_default_profile_on_one_evse_limits_the_car() -> None:
    async with SmartRig(evses=2) as r:
        await r.start_charging(1)
        assert r.power_w(1) > 20_000
        assert ok(await set_profile(r, 1, profile(1, periods=[period(limit=6000.0)])))
        assert r.energy.explain(1)["bound_by"] == "schedule.limit"  # applied before the answer
        assert r.energy.store.get(1) is not None and r.energy.store.get(1).evse_id == 1  # type: ignore[union-attr]
        await r.pump(1.0)
        assert r.power_w(1) == pytest.approx(6000, rel=0.02)


async def test_TC_K_10_CS_tx_default_profile_on_evse_0_applies_to_every_evse() -> None:
    async with SmartRig(evses=2) as r:
        await r.start_charging(1)
        await r.start_charging(2, token="TAG2")
        assert ok(await set_profile(r, 0, profile(2, periods=[period(limit=5000.0)])))
        await r.pump(1.0)
        assert r.power_w(1) == pytest.approx(5000, rel=0.02) and r.power_w(2) == pytest.approx(5000, rel=0.02)


async def test_TC_K_02_CS_tx_profile_without_transaction_is_rejected() -> None:
    async with SmartRig() as r:
        res = await set_profile(r, 1, profile(3, "TxProfile", tx_id="nope"))
        assert res["status"] == "Rejected" and reason(res) == "TxNotFound"
        assert len(r.energy.store) == 0


async def test_TC_K_03_CS_charging_station_max_profile_only_on_evse_0() -> None:
    async with SmartRig() as r:
        assert ok(await set_profile(r, 0, profile(4, "ChargingStationMaxProfile", kind="Absolute")))
        res = await set_profile(r, 1, profile(5, "ChargingStationMaxProfile", kind="Absolute"))
        assert res["status"] == "Rejected" and reason(res) == "InvalidProfile"
        assert "K01.FR.03" in res["statusInfo"]["additionalInfo"]


async def test_TC_K_04_CS_replace_profile_with_the_same_id() -> None:
    async with SmartRig() as r:
        await r.start_charging()
        assert ok(await set_profile(r, 1, profile(6, periods=[period(limit=8000.0)])))
        assert ok(await set_profile(r, 1, profile(6, periods=[period(limit=4000.0)])))
        assert len(r.energy.store) == 1
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(4000, rel=0.02)


async def test_TC_K_11_CS_tx_profile_on_evse_0_is_rejected() -> None:
    async with SmartRig() as r:
        tx_id = await r.start_charging()
        res = await set_profile(r, 0, profile(7, "TxProfile", tx_id=tx_id))
        assert res["status"] == "Rejected" and reason(res) == "InvalidProfile"


async def test_TC_K_12_CS_rate_unit_not_supported_is_rejected() -> None:
    async with SmartRig() as r:
        r.energy.store.limits = StoreLimits(evse_ids=frozenset({1}), rate_units=frozenset({RateUnit.W}))
        res = await set_profile(r, 1, profile(8, unit="A", periods=[period(limit=16.0)]))
        assert res["status"] == "Rejected" and reason(res) == "UnsupportedRateUnit"


async def test_TC_K_14_CS_unknown_evse_is_rejected() -> None:
    async with SmartRig() as r:
        res = await set_profile(r, 9, profile(9))
        assert res["status"] == "Rejected" and reason(res) == "UnknownEvse"


async def test_TC_K_16_CS_tx_profile_with_unknown_transaction_id_is_rejected() -> None:
    async with SmartRig() as r:
        await r.start_charging()
        res = await set_profile(r, 1, profile(10, "TxProfile", tx_id="not-this-one"))
        assert res["status"] == "Rejected" and reason(res) == "TxNotFound"


async def test_TC_K_60_CS_tx_profile_for_the_running_transaction_and_removed_at_its_end() -> None:
    async with SmartRig() as r:
        tx_id = await r.start_charging()
        assert ok(await set_profile(r, 1, profile(11, "TxProfile", tx_id=tx_id, periods=[period(limit=7000.0)])))
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(7000, rel=0.02)
        r.ports[1].unplug()
        await r.pump(0.5)
        assert r.energy.store.get(11) is None  # dropped with its transaction


async def test_external_constraints_from_the_csms_are_rejected_K01_FR_22() -> None:
    async with SmartRig() as r:
        res = await set_profile(r, 0, profile(12, "ChargingStationExternalConstraints", kind="Absolute"))
        assert res["status"] == "Rejected" and "K01.FR.22" in res["statusInfo"]["additionalInfo"]


async def test_TC_K_13_CS_profiles_persist_over_a_reboot(tmp_path: Path) -> None:
    db = tmp_path / "profiles.sqlite"
    async with SmartRig() as r:
        r.energy.store = ProfileStore("2.0.1", limits=r.energy.store.limits, path=db)
        assert ok(await set_profile(r, 1, profile(13, periods=[period(limit=3000.0)])))
        r.energy.store.close()
    async with SmartRig() as r:  # the next boot opens the same file
        r.energy.store = ProfileStore("2.0.1", limits=r.energy.store.limits, path=db)
        res = await r.call("GetChargingProfiles", {"requestId": 1, "chargingProfile": {}})
        assert ok(res)
        report = (await r.wait_sent("ReportChargingProfiles"))[0]
        assert report["chargingProfile"][0]["id"] == 13
        r.energy.store.close()


async def test_K01_smart_charging_disabled_and_TC_K_15_CS_not_supported() -> None:
    async with SmartRig() as r:
        assert (await r.call("SetVariables", {"setVariableData": [{
            "component": {"name": "SmartChargingCtrlr"}, "variable": {"name": "Enabled"},
            "attributeValue": "false"}]}))["setVariableResult"][0]["attributeStatus"] == "Accepted"
        res = await set_profile(r, 1, profile(14))
        assert res["status"] == "Rejected" and reason(res) == "NotEnabled"
    async with Rig() as plain:  # a station without an energy manager: smart charging is not supported
        with pytest.raises(NotSupportedError):
            await plain.csms.call(call.SetChargingProfile(evse_id=1, charging_profile=camel_to_snake_case(
                profile(14))), suppress=False)
        with pytest.raises(NotSupportedError):
            await plain.csms.call(call.GetCompositeSchedule(duration=60, evse_id=1), suppress=False)
        assert plain.dm.find(SMART, "Enabled") is None  # and no SmartChargingCtrlr to configure


# ---------------------------------------------------------------------------------------------------- K09
async def _installed(r: SmartRig) -> None:
    assert ok(await set_profile(r, 0, profile(20, kind="Absolute", stack=0)))
    assert ok(await set_profile(r, 0, profile(21, "ChargingStationMaxProfile", kind="Absolute")))
    assert ok(await set_profile(r, 1, profile(22, stack=1)))
    assert ok(await set_profile(r, 1, profile(23, stack=2)))
    assert set_external_limit(r.station, ems_limit(-5, 1, 9000.0)).accepted


async def get_profiles(r: SmartRig, request_id: int, criterion: dict[str, Any], evse_id: int | None = None,
                       ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    before = len(r.sent("ReportChargingProfiles"))
    payload: dict[str, Any] = {"requestId": request_id, "chargingProfile": criterion}
    if evse_id is not None:
        payload["evseId"] = evse_id
    res = await r.call("GetChargingProfiles", payload)
    if not ok(res):
        return res, []
    await r.wire.wait(lambda: any(not p.get("tbc") for p in r.sent("ReportChargingProfiles")[before:]))
    return res, r.sent("ReportChargingProfiles")[before:]


def ids(reports: list[dict[str, Any]]) -> list[int]:
    return sorted(p["id"] for rep in reports for p in rep["chargingProfile"])


async def test_TC_K_29_CS_get_profiles_evse_0_reports_station_wide_ones_only() -> None:
    async with SmartRig() as r:
        await _installed(r)
        _res, reports = await get_profiles(r, 1, {}, evse_id=0)
        assert ids(reports) == [20, 21] and {rep["evseId"] for rep in reports} == {0}


async def test_TC_K_30_CS_get_profiles_evse_1() -> None:
    async with SmartRig() as r:
        await _installed(r)
        _res, reports = await get_profiles(r, 2, {}, evse_id=1)
        assert ids(reports) == [-5, 22, 23]
        # one report per EVSE and chargingLimitSource, tbc on all but the last
        assert [(rep["evseId"], rep["chargingLimitSource"], rep["tbc"]) for rep in reports] == [
            (1, "CSO", True), (1, "EMS", False)]


async def test_TC_K_31_CS_get_profiles_without_evse_reports_everything_grouped() -> None:
    async with SmartRig() as r:
        await _installed(r)
        _res, reports = await get_profiles(r, 3, {})
        assert ids(reports) == [-5, 20, 21, 22, 23]
        assert [rep["tbc"] for rep in reports] == [True, True, False]
        assert all(rep["requestId"] == 3 for rep in reports)


async def test_TC_K_32_CS_get_profiles_by_id() -> None:
    async with SmartRig() as r:
        await _installed(r)
        _res, reports = await get_profiles(r, 4, {"chargingProfileId": [22, 99]})
        assert ids(reports) == [22]


async def test_TC_K_33_CS_TC_K_35_CS_TC_K_36_CS_get_profiles_evse_1_with_stack_level_and_purpose() -> None:
    async with SmartRig() as r:
        await _installed(r)
        assert ids((await get_profiles(r, 5, {"stackLevel": 2}, evse_id=1))[1]) == [23]
        assert ids((await get_profiles(r, 6, {"chargingProfilePurpose": "TxDefaultProfile"}, evse_id=1))[1]) == [
            22, 23]
        crit = {"chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 1}
        assert ids((await get_profiles(r, 7, crit, evse_id=1))[1]) == [22]


async def test_TC_K_34_CS_get_profiles_evse_1_by_charging_limit_source() -> None:
    async with SmartRig() as r:
        await _installed(r)
        _res, reports = await get_profiles(r, 8, {"chargingLimitSource": ["EMS"]}, evse_id=1)
        assert ids(reports) == [-5] and reports[0]["chargingLimitSource"] == "EMS"
        res, _ = await get_profiles(r, 9, {"chargingLimitSource": ["SO"]}, evse_id=1)
        assert res["status"] == "NoProfiles"


# ---------------------------------------------------------------------------------------------------- K10
async def test_TC_K_05_CS_to_TC_K_08_CS_clear_charging_profile() -> None:
    async with SmartRig() as r:
        assert (await r.call("ClearChargingProfile", {}))["status"] == "Unknown"  # TC_K_08: nothing installed
        await _installed(r)
        assert ok(await r.call("ClearChargingProfile", {"chargingProfileId": 22}))  # TC_K_05
        assert r.energy.store.get(22) is None
        crit = {"chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 2}
        assert ok(await r.call("ClearChargingProfile", {"chargingProfileCriteria": crit}))  # TC_K_06
        assert r.energy.store.get(23) is None and r.energy.store.get(20) is not None
        crit = {"chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 7}
        assert (await r.call("ClearChargingProfile", {"chargingProfileCriteria": crit}))["status"] == "Unknown"
        # the CSMS cannot clear an external system's limit
        res = await r.call("ClearChargingProfile", {"chargingProfileCriteria": {
            "chargingProfilePurpose": "ChargingStationExternalConstraints"}})
        assert res["status"] == "Unknown" and r.energy.store.get(-5) is not None


async def test_TC_K_09_CS_clear_tx_default_profile_during_a_transaction_lifts_the_limit() -> None:
    async with SmartRig() as r:
        await r.start_charging()
        assert ok(await set_profile(r, 1, profile(30, periods=[period(limit=5000.0)])))
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(5000, rel=0.02)
        assert ok(await r.call("ClearChargingProfile", {"chargingProfileId": 30}))
        await r.pump(1.0)
        assert r.power_w() > 20_000


# ---------------------------------------------------------------------------------------------------- K08
async def composite(r: SmartRig, evse_id: int, duration: int = 600, unit: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"evseId": evse_id, "duration": duration}
    if unit:
        payload["chargingRateUnit"] = unit
    res: dict[str, Any] = await r.call("GetCompositeSchedule", payload)
    return res


async def test_TC_K_39_CS_composite_without_profiles_is_what_the_charger_can_do() -> None:
    async with SmartRig() as r:
        res = await composite(r, 1)
        assert ok(res)
        sched = res["schedule"]
        assert (sched["evseId"], sched["duration"], sched["chargingRateUnit"]) == (1, 600, "W")
        assert sched["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": RATINGS.max_charge_power_w}]
        grid = (await composite(r, 0))["schedule"]["chargingSchedulePeriod"]
        assert grid == [{"startPeriod": 0, "limit": RATINGS.max_charge_power_w}]  # one EVSE: its maximum


async def test_TC_K_40_CS_composite_of_stacked_profiles() -> None:
    async with SmartRig() as r:  # no transaction: Relative profiles start with the request
        assert ok(await set_profile(r, 1, profile(40, periods=[period(limit=10000.0)])))
        top = profile(41, stack=1, periods=[period(limit=6000.0)])
        top["chargingSchedule"][0]["duration"] = 300
        assert ok(await set_profile(r, 1, top))
        periods = (await composite(r, 1))["schedule"]["chargingSchedulePeriod"]
        assert [(p["startPeriod"], p["limit"]) for p in periods] == [(0, 6000.0), (300, 10000.0)]


async def test_TC_K_41_CS_composite_combines_purposes_and_TC_K_42_CS_unsupported_unit() -> None:
    async with SmartRig() as r:
        await r.start_charging()
        assert ok(await set_profile(r, 0, profile(42, "ChargingStationMaxProfile", kind="Absolute",
                                                  periods=[period(limit=8000.0)])))
        assert ok(await set_profile(r, 1, profile(43, periods=[period(limit=10000.0)])))
        periods = (await composite(r, 1))["schedule"]["chargingSchedulePeriod"]
        assert periods == [{"startPeriod": 0, "limit": 8000.0}]
        amps = (await composite(r, 1, unit="A"))["schedule"]
        volts = r.energy.conversion_voltage(1)  # DC: amps at the voltage the car is at
        assert amps["chargingRateUnit"] == "A"
        assert amps["chargingSchedulePeriod"][0]["limit"] == pytest.approx(8000 / volts)
        r.energy.store.limits = StoreLimits(evse_ids=frozenset({1}), rate_units=frozenset({RateUnit.W}))
        res = await composite(r, 1, unit="A")
        assert res["status"] == "Rejected" and reason(res) == "UnsupportedRateUnit" and "schedule" not in res


async def test_TC_K_47_CS_composite_for_an_unknown_evse_is_rejected() -> None:
    async with SmartRig() as r:
        res = await composite(r, 5)
        assert res["status"] == "Rejected" and reason(res) == "UnknownEvse"


# ---------------------------------------------------------------------------------------------------- K05
async def start_remote(r: SmartRig, body: dict[str, Any]) -> str:
    res = await r.call("RequestStartTransaction", {"idToken": {"idToken": "APP", "type": "Central"},
                                                   "remoteStartId": 77, "evseId": 1, "chargingProfile": body})
    assert ok(res)
    r.ports[1].plug_in()
    await r.pump(2.0)
    tx = r.station.evses[1].tx
    assert tx is not None and tx.remote_start_id == 77
    return tx.tx_id


async def test_TC_K_37_CS_remote_start_with_a_tx_profile_binds_it_to_the_new_transaction() -> None:
    async with SmartRig() as r:
        tx_id = await start_remote(r, profile(50, "TxProfile", periods=[period(limit=4500.0)]))
        installed = r.energy.store.get(50)
        assert installed is not None and installed.transaction_id == tx_id and installed.evse_id == 1
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(4500, rel=0.02)
        periods = (await composite(r, 1))["schedule"]["chargingSchedulePeriod"]
        assert periods[0]["limit"] == 4500.0


async def test_TC_K_38_CS_remote_start_profile_ignored_while_smart_charging_is_disabled() -> None:
    async with SmartRig() as r:
        r.adapter.device_model.set(SMART, "Enabled", "false")
        await start_remote(r, profile(51, "TxProfile", periods=[period(limit=4500.0)]))
        assert r.energy.store.get(51) is None and r.power_w() > 20_000


# ---------------------------------------------------------------------------------------------------- K15
async def test_K15_notify_ev_charging_needs_once_after_transaction_started() -> None:
    async with SmartRig(soc=60.0) as r:
        r.ports[1].plug_in()
        await r.pump(0.2)
        await r.duties()
        assert r.sent("NotifyEVChargingNeeds") == []  # no transaction yet
        r.station.present_token(1, IdToken("TAG1"))
        await r.pump(1.0)
        await r.duties()
        await r.duties()
        needs = r.sent("NotifyEVChargingNeeds")
        assert len(needs) == 1
        soc = r.station.soc(1)
        assert soc is not None
        assert needs[0] == {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "DC", "dcChargingParameters": {
            "evMaxCurrent": 125, "evMaxVoltage": 435, "evEnergyCapacity": 40000, "stateOfCharge": round(soc),
            "energyAmount": pytest.approx(0.4 * 40000, abs=50), "fullSoC": 100}}}
        frames = [f.action for f in r.wire.frames if f.is_call]
        assert frames.index("TransactionEvent") < frames.index("NotifyEVChargingNeeds")


# ---------------------------------------------------------------------------------------------------- K11-K13
async def test_TC_K_52_CS_external_limit_set_updated_and_cleared_is_notified() -> None:
    async with SmartRig() as r:
        await r.start_charging()
        assert set_external_limit(r.station, ems_limit(-1, 1, 7000.0), is_grid_critical=True).accepted
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(7000, rel=0.02)
        await r.duties()
        note = (await r.wait_sent("NotifyChargingLimit"))[0]
        assert note["chargingLimit"] == {"chargingLimitSource": "EMS", "isGridCritical": True}
        assert note["evseId"] == 1
        assert note["chargingSchedule"][0]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 7000.0}]
        # an update below LimitChangeSignificance is not reported, a larger one is (without schedule if so set)
        r.adapter.device_model.set(SMART, "LimitChangeSignificance", "10")
        r.adapter.device_model.set(SMART, "NotifyChargingLimitWithSchedules", "false")
        assert set_external_limit(r.station, ems_limit(-1, 1, 6800.0)).accepted
        await r.duties()
        assert len(r.sent("NotifyChargingLimit")) == 1
        assert set_external_limit(r.station, ems_limit(-1, 1, 3000.0)).accepted
        await r.duties()
        notes = r.sent("NotifyChargingLimit")
        assert len(notes) == 2 and "chargingSchedule" not in notes[1]
        assert clear_external_limit(r.station, "EMS").matched
        await r.duties()
        assert r.sent("ClearedChargingLimit") == [{"chargingLimitSource": "EMS", "evseId": 1}]
        await r.pump(1.0)
        assert r.power_w() > 20_000


async def test_external_control_signals_disabled_refuses_external_limits() -> None:
    async with SmartRig() as r:
        r.adapter.device_model.set(SMART, "ExternalControlSignalsEnabled", "false")
        res = set_external_limit(r.station, ems_limit(-1, 1, 7000.0))
        assert not res.accepted and res.rejection is not None and res.rejection.code == "NotEnabled"
        with pytest.raises(ValueError):
            set_external_limit(r.station, ems_limit(-2, 1, 7000.0, source="CSO"))


# ---------------------------------------------------------------------------------------------------- variables
async def get_var(r: SmartRig, name: str, instance: str | None = None) -> str:
    var: dict[str, Any] = {"name": name} | ({"instance": instance} if instance else {})
    res = await r.call("GetVariables", {"getVariableData": [{"component": {"name": "SmartChargingCtrlr"},
                                                             "variable": var}]})
    item = res["getVariableResult"][0]
    assert item["attributeStatus"] == "Accepted", item
    return str(item["attributeValue"])


async def test_smart_charging_ctrlr_variables_are_bound_to_the_store() -> None:
    async with SmartRig() as r:
        assert await get_var(r, "Available") == "true"
        assert await get_var(r, "Enabled") == "true"
        assert await get_var(r, "Entries", "ChargingProfiles") == "0"
        assert ok(await set_profile(r, 1, profile(60)))
        assert await get_var(r, "Entries", "ChargingProfiles") == "1"
        assert await get_var(r, "ProfileStackLevel") == str(r.energy.store.limits.max_stack_level)
        assert await get_var(r, "PeriodsPerSchedule") == str(r.energy.store.limits.max_periods)
        assert await get_var(r, "RateUnit") == "A,W"
        assert await get_var(r, "ExternalControlSignalsEnabled") == "true"
        assert await get_var(r, "NotifyChargingLimitWithSchedules") == "true"
        assert await get_var(r, "LimitChangeSignificance") == "0"
        assert await get_var(r, "NegativeLimitPolicy") == "Reject"
        res = await r.call("SetVariables", {"setVariableData": [{
            "component": {"name": "SmartChargingCtrlr"}, "variable": {"name": "NegativeLimitPolicy"},
            "attributeValue": "Sideways"}]})
        assert res["setVariableResult"][0]["attributeStatus"] == "Rejected"


# ---------------------------------------------------------------------------------------------------- legacy discharge
async def test_negative_limit_is_rejected_by_default_and_discharges_with_the_switch() -> None:
    async with SmartRig() as r:
        tx_id = await r.start_charging()
        body = profile(70, "TxProfile", tx_id=tx_id, periods=[period(limit=-4000.0)])
        res = await set_profile(r, 1, body)
        assert res["status"] == "Rejected" and reason(res) == "InvalidSchedule"
        r.adapter.device_model.set(SMART, "NegativeLimitPolicy", "Discharge")
        assert ok(await set_profile(r, 1, body))
        assert r.ports[1]._setpoint_w == pytest.approx(-4000)  # the port has it before the CSMS reads Accepted
        await r.pump(1.0)
        assert r.power_w() == pytest.approx(-4000, rel=0.02)
        # what the station will do, in the 2.0.1 convention: a negative limit
        periods = (await composite(r, 1))["schedule"]["chargingSchedulePeriod"]
        assert periods == [{"startPeriod": 0, "limit": -4000.0}]
        _res, reports = await get_profiles(r, 71, {"chargingProfileId": [70]})
        assert reports[0]["chargingProfile"][0]["chargingSchedule"][0]["chargingSchedulePeriod"] == [
            {"startPeriod": 0, "limit": -4000.0}]
        assert ok(await r.call("ClearChargingProfile", {"chargingProfileId": 70}))
        await r.pump(1.0)
        assert r.power_w() > 20_000
