"""Interop, OCPP 2.1 V2X: OUR station (model + energy manager + session + V21Adapter, real websockets, RealClock,
emulated DC car) against the independent strict CSMS (npm ocpp-rpc in strict mode, tests/interop/peer.py).

Every test ends with zero schema violations in both directions as judged by the peer. Covered: NotifyEVChargingNeeds
with v2xChargingParameters, SetChargingProfile with a CentralSetpoint discharge setpoint and the discharge itself
(TransactionEvents with Power.Active.Export, a rising Energy.Active.Export.Register and operationMode),
GetCompositeSchedule, GetChargingProfiles with ReportChargingProfiles, a Dynamic profile with UpdateDynamicSchedule
(push) and PullDynamicScheduleUpdate (pull, the peer answering with a new setpoint the station applies), AFRRSignal,
NotifyAllowedEnergyTransfer, ClearChargingProfile (back to charging), NotifyChargingLimit / ClearedChargingLimit from
an external system, and profiles the station must reject (with statusInfo).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from chargepoint.clock import iso
from chargepoint.energy.model import ChargingProfile, ChargingSchedule, Kind, OperationMode, Purpose, RateUnit
from chargepoint.energy.model import SchedulePeriod as P
from chargepoint.ocpp.smart_state import clear_external_limit, set_external_limit
from chargepoint.station.types import IdToken

from .peer import StrictPeer
from .station_rig import StationRig, running_station, summary

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]

P21 = "ocpp2.1"


@pytest.fixture(scope="module", autouse=True)
def frames_summary() -> Iterator[None]:
    yield
    print("\n" + summary("2.1"))


def power(p: dict[str, Any]) -> float | None:
    """Signed power (import - export) of a TransactionEvent's first meter value, None without one."""
    found = {s.get("measurand"): float(s["value"]) for mv in p.get("meterValue", []) for s in mv["sampledValue"]}
    if "Power.Active.Import" not in found or "Power.Active.Export" not in found:
        return None
    return found["Power.Active.Import"] - found["Power.Active.Export"]


def register(p: dict[str, Any], measurand: str) -> float | None:
    """The first value of ``measurand`` in a TransactionEvent, None without one."""
    return next((float(s["value"]) for mv in p.get("meterValue", []) for s in mv["sampledValue"]
                 if s.get("measurand") == measurand), None)


def tx_profile(pid: int, tx_id: str, periods: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"id": pid, "stackLevel": 0, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
            "transactionId": tx_id, **extra,
            "chargingSchedule": [{"id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": periods}]}


async def charging(rig: StationRig, tag: str) -> str:
    rig.port(1).plug_in()
    rig.station.present_token(1, IdToken(tag))
    started = await rig.wait_for("TransactionEvent", lambda p: p.get("eventType") == "Started")
    tx_id: str = started["payload"]["transactionInfo"]["transactionId"]
    assert started["payload"]["transactionInfo"]["operationMode"] == "ChargingOnly"
    await rig.wait_for("TransactionEvent", lambda p: (w := power(p)) is not None and w > 10_000)
    return tx_id


async def test_TC_K_101_CS_TC_Q_109_CS_push_TC_Q_110_CS_pull_v2x_discharge_session(strict_peer_21: StrictPeer) -> None:
    async with running_station(strict_peer_21, P21, "CP21-V2X", evses=1) as rig:
        rig.port(1).ratings = replace(rig.port(1).ratings, ramp_a_per_s=400)
        tx_id = await charging(rig, "TAG-V2X")

        needs = await rig.wait_for("NotifyEVChargingNeeds")
        body = needs["payload"]["chargingNeeds"]
        assert body["requestedEnergyTransfer"] == "DC_BPT" and "DC_BPT" in body["availableEnergyTransfer"]
        assert body["v2xChargingParameters"]["maxDischargePower"] > 0
        assert (await rig.wait_result(needs))["status"] == "Accepted"

        # the CSMS asks for 4 kW out of the car: the operation mode changes (TC_K_101)
        period = {"startPeriod": 0, "setpoint": -4000.0, "dischargeLimit": -6000.0, "limit": 20000.0,
                  "operationMode": "CentralSetpoint"}
        res = await rig.call("SetChargingProfile", {"evseId": 1, "chargingProfile": tx_profile(1, tx_id, [period])})
        assert res == {"status": "Accepted"}
        upd = await rig.wait_for("TransactionEvent", lambda p: (w := power(p)) is not None and abs(w + 4000) < 200)
        assert upd["payload"]["transactionInfo"]["operationMode"] == "CentralSetpoint"
        # the export register rises while the car discharges
        later = await rig.wait_for("TransactionEvent", lambda p: (w := power(p)) is not None and abs(w + 4000) < 200
                                   and p["seqNo"] > upd["payload"]["seqNo"])
        exported = [register(e["payload"], "Energy.Active.Export.Register") for e in (upd, later)]
        assert exported[0] is not None and exported[1] is not None and exported[1] > exported[0]

        res = await rig.call("GetCompositeSchedule", {"evseId": 1, "duration": 600, "chargingRateUnit": "W"})
        first = res["schedule"]["chargingSchedulePeriod"][0]
        assert res["status"] == "Accepted" and first["setpoint"] == -4000.0
        assert -6000.0 <= first["dischargeLimit"] < -4000.0  # the profile's, or the car's when that is tighter

        res = await rig.call("GetChargingProfiles", {"requestId": 11, "chargingProfile": {}, "evseId": 1})
        assert res["status"] == "Accepted"
        report = await rig.wait_for("ReportChargingProfiles", lambda p: p.get("requestId") == 11)
        assert report["payload"]["chargingProfile"][0]["chargingSchedule"][0]["chargingSchedulePeriod"][0][
            "setpoint"] == -4000.0

        # a Dynamic profile one level up: a pushed update (TC_Q_109), then dynUpdateInterval after it the station
        # pulls and applies what the CSMS answers (TC_Q_110)
        await strict_peer_21.set_response("PullDynamicScheduleUpdate", {
            "status": "Accepted", "scheduleUpdate": {"setpoint": -2500.0}}, station="CP21-V2X")
        dyn = tx_profile(2, tx_id, [{"startPeriod": 0, "setpoint": -2000.0, "operationMode": "CentralSetpoint"}],
                         stackLevel=1, chargingProfileKind="Dynamic", dynUpdateInterval=4)
        assert (await rig.call("SetChargingProfile", {"evseId": 1, "chargingProfile": dyn}))["status"] == "Accepted"
        t_push = time.time()
        res = await rig.call("UpdateDynamicSchedule", {"chargingProfileId": 2, "scheduleUpdate": {"setpoint": -3000.0}})
        assert res["status"] == "Accepted"
        pushed = await rig.wait_for("TransactionEvent", lambda p: (w := power(p)) is not None and abs(w + 3000) < 200)
        pull = await rig.wait_for("PullDynamicScheduleUpdate", lambda p: p.get("chargingProfileId") == 2)
        assert pull["ts"] - t_push > 3.9  # dynUpdateInterval after the last update, not before
        assert (await rig.wait_result(pull))["status"] == "Accepted"
        await rig.wait_for("TransactionEvent", lambda p: (w := power(p)) is not None and abs(w + 2500) < 200
                           and p["seqNo"] > pushed["payload"]["seqNo"])
        await strict_peer_21.clear_responses()
        assert (await rig.call("ClearChargingProfile", {"chargingProfileId": 2}))["status"] == "Accepted"

        res = await rig.call("AFRRSignal", {"timestamp": iso(rig.station.clock.now()), "signal": 10})
        assert res["status"] == "Accepted"
        res = await rig.call("NotifyAllowedEnergyTransfer", {"transactionId": tx_id,
                                                             "allowedEnergyTransfer": ["DC", "DC_BPT"]})
        assert res["status"] == "Accepted"
        res = await rig.call("NotifyAllowedEnergyTransfer", {"transactionId": "nope", "allowedEnergyTransfer": ["DC"]})
        assert res["status"] == "Rejected" and res["statusInfo"]["reasonCode"] == "TxNotFound"

        # clearing the profile returns to charging
        crit = {"chargingProfilePurpose": "TxProfile"}
        res = await rig.call("ClearChargingProfile", {"chargingProfileCriteria": crit})
        assert res["status"] == "Accepted"
        await rig.wait_for("TransactionEvent", lambda p: (w := power(p)) is not None and w > 10_000
                           and p["transactionInfo"]["operationMode"] == "ChargingOnly")
        assert (await rig.call("ClearChargingProfile", {"chargingProfileId": 1}))["status"] == "Unknown"

        rig.port(1).unplug()
        await rig.wait_result(await rig.wait_for("TransactionEvent", lambda p: p.get("eventType") == "Ended"))
        rig.report("V2X discharge session")


async def test_TC_Q_119_CS_TC_K_16_CS_TC_K_47_CS_external_limits_and_rejected_profiles(
        strict_peer_21: StrictPeer) -> None:
    async with running_station(strict_peer_21, P21, "CP21-EXT", evses=1) as rig:
        await rig.wait_for("StatusNotification", lambda p: p.get("connectorStatus") == "Available")
        per = P(0, limit=7000.0, operation_mode=OperationMode.EXTERNAL_LIMITS)
        ems = ChargingProfile(-1, 0, Purpose.EXTERNAL_CONSTRAINTS, Kind.RELATIVE,
                              (ChargingSchedule(RateUnit.W, (per,), id=1),), evse_id=1, limit_source="EMS")
        assert set_external_limit(rig.station, ems, is_grid_critical=False).accepted
        note = await rig.wait_for("NotifyChargingLimit")
        assert note["payload"]["chargingLimit"]["chargingLimitSource"] == "EMS"
        await rig.wait_result(note)
        res = await rig.call("GetChargingProfiles", {"requestId": 12, "chargingProfile": {
            "chargingLimitSource": ["EMS"]}})
        assert res["status"] == "Accepted"
        await rig.wait_for("ReportChargingProfiles", lambda p: p.get("chargingLimitSource") == "EMS")
        assert clear_external_limit(rig.station, "EMS").matched
        await rig.wait_result(await rig.wait_for("ClearedChargingLimit"))

        # profiles the station must refuse, each with a reason
        curve = [{"frequency": 49.9, "power": 1000.0}, {"frequency": 50.1, "power": -1000.0}]
        bad = [
            ("TxDefaultProfile", {"startPeriod": 0, "operationMode": "LocalFrequency", "v2xFreqWattCurve": curve},
             "InvalidSchedule"),  # no v2xBaseline (Q08.FR.02)
            ("TxDefaultProfile", {"startPeriod": 0, "operationMode": "CentralSetpoint"}, "InvalidSchedule"),
            ("TxProfile", {"startPeriod": 0, "setpoint": -1000.0, "operationMode": "CentralSetpoint"}, "TxNotFound"),
        ]
        for n, (purpose, period, code) in enumerate(bad, start=1):
            body = tx_profile(20 + n, "no-such-tx", [period], chargingProfilePurpose=purpose)
            if purpose != "TxProfile":
                del body["transactionId"]
            res = await rig.call("SetChargingProfile", {"evseId": 1, "chargingProfile": body})
            assert res["status"] == "Rejected" and res["statusInfo"]["reasonCode"] == code, res
        res = await rig.call("SetChargingProfile", {"evseId": 0, "chargingProfile": {
            "id": 30, "stackLevel": 0, "chargingProfilePurpose": "ChargingStationExternalConstraints",
            "chargingProfileKind": "Relative", "chargingSchedule": [{"id": 1, "chargingRateUnit": "W",
                                                                      "chargingSchedulePeriod": [per_limit()]}]}})
        assert res["status"] == "Rejected" and res["statusInfo"]["reasonCode"] == "InvalidProfile"
        res = await rig.call("GetCompositeSchedule", {"evseId": 7, "duration": 60})
        assert res["status"] == "Rejected"
        rig.report("external limits, rejected profiles")


def per_limit() -> dict[str, Any]:
    return {"startPeriod": 0, "limit": 5000.0}
