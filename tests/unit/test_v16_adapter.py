"""The OCPP 1.6J adapter against a CSMS built on the ``ocpp`` library, over an in-memory connection: plumbing, boot,
remote start/stop, reset, unlock, availability, trigger message, data transfer and strictness.

Tests are named after the OCPP 1.6 CTT charge-point test cases (docs/reference/ocpp16_cs_testcases.tsv) whose
behaviour they check. The rig (in-memory connection, scriptable CSMS, virtual time) is in v16_rig.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from ocpp.v16 import ChargePoint as LibChargePoint
from ocpp.v16 import call
from v16_rig import CSMS_TIME, T0, Rig, config_of
from v16_rig import make_rig as make_rig  # a pytest fixture
from v16_rig import rig as rig  # a pytest fixture

from chargepoint.clock import parse_iso
from chargepoint.ocpp.base import StationIdentity
from chargepoint.ocpp.v16 import V16Adapter, format_value
from chargepoint.station.types import ResetKind


# ---------------------------------------------------------------------------------------------------- plumbing
def test_adapter_uses_strict_routing_and_the_library_transport() -> None:
    assert V16Adapter.version == "1.6" and V16Adapter.subprotocol == "ocpp1.6"
    assert V16Adapter.route_message.__qualname__ == "StrictRouter.route_message"
    assert V16Adapter._send is LibChargePoint._send
    assert V16Adapter._handle_call is LibChargePoint._handle_call


def test_meter_values_are_decimal_strings() -> None:
    assert format_value(1234.5) == "1234.5"
    assert format_value(12.0) == "12"
    assert format_value(0.1234) == "0.123"
    assert format_value(-0.0001) == "0"
    assert format_value(1e7) == "10000000"


# ---------------------------------------------------------------------------------------------------- 01 boot
async def test_TC_001_CS_cold_boot(rig: Rig) -> None:
    outcome = await rig.adapter.boot("PowerUp")
    assert outcome.status == "Accepted" and outcome.interval == 300
    assert outcome.current_time == parse_iso(CSMS_TIME)
    boot = rig.calls("BootNotification")[0]
    ident = StationIdentity()
    assert boot == {"chargePointVendor": ident.vendor, "chargePointModel": ident.model,
                    "chargePointSerialNumber": ident.serial_number, "firmwareVersion": ident.firmware_version}
    # after Accepted the session asks the station for every status: connectorId 0 first, then each connector
    rig.station.trigger_status()
    await rig.pump()
    notes = rig.calls("StatusNotification")
    assert [(n["connectorId"], n["status"], n["errorCode"]) for n in notes] == [
        (0, "Available", "NoError"), (1, "Available", "NoError")]
    assert all(parse_iso(n["timestamp"]) == T0 for n in notes)
    assert await rig.adapter.heartbeat() == parse_iso(CSMS_TIME)


async def test_TC_002_CS_cold_boot_pending(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(registration="Pending")
    rig.csms.boot_status, rig.csms.boot_interval = "Pending", 7
    outcome = await rig.adapter.boot("PowerUp")
    assert (outcome.status, outcome.interval) == ("Pending", 7)
    # while Pending the CSMS may read and change the configuration ...
    res = await rig.call(call.GetConfiguration(key=[]))
    assert "HeartbeatInterval" in config_of(res)
    assert (await rig.call(call.ChangeConfiguration(key="MeterValueSampleInterval", value="15"))).status == "Accepted"
    assert rig.station.settings.sample_interval_s == 15
    # ... and trigger a new BootNotification, but nothing that would make the station send anything else
    assert (await rig.call(call.TriggerMessage(requested_message="BootNotification"))).status == "Accepted"
    assert rig.hooks.boots == 1
    assert (await rig.call(call.TriggerMessage(requested_message="Heartbeat"))).status == "Rejected"
    assert (await rig.call(call.TriggerMessage(requested_message="StatusNotification"))).status == "Rejected"
    assert rig.hooks.heartbeats == 0
    rig.ports[1].plug_in()
    res = await rig.call(call.RemoteStartTransaction(id_tag="TAG1", connector_id=1))
    assert res.status == "Rejected"
    assert rig.station.evses[1].pending is None
    assert rig.actions() == ["BootNotification"]


async def test_boot_answered_with_callerror_counts_as_rejected(rig: Rig) -> None:
    rig.csms.fail.add("BootNotification")
    outcome = await rig.adapter.boot("PowerUp")
    assert (outcome.status, outcome.interval, outcome.current_time) == ("Rejected", 0, None)


async def test_heartbeat_without_answer_returns_none(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(response_timeout=0.05)
    rig.csms.hold["Heartbeat"] = release = asyncio.Event()
    assert await rig.adapter.heartbeat() is None
    release.set()


# ---------------------------------------------------------------------------------------------------- 05 remote
async def test_TC_010_CS_remote_start_cable_plugged_in_first(rig: Rig) -> None:
    rig.ports[1].plug_in()
    await rig.run(1)
    mark = rig.mark()
    assert (await rig.call(call.RemoteStartTransaction(id_tag="TAG9", connector_id=1))).status == "Accepted"
    await rig.pump()
    assert rig.calls("Authorize", mark) == [{"idTag": "TAG9"}]  # AuthorizeRemoteTxRequests is true by default
    await rig.run(5)
    assert [s["idTag"] for s in rig.calls("StartTransaction", mark)] == ["TAG9"]
    assert rig.statuses(1) == ["Preparing", "Charging"]


async def test_TC_011_1_CS_remote_start_first(rig: Rig) -> None:
    assert (await rig.call(call.RemoteStartTransaction(id_tag="TAG1"))).status == "Accepted"
    await rig.pump()
    await rig.run(1)
    assert rig.statuses(1) == ["Preparing"]
    rig.ports[1].plug_in()
    await rig.run(5)
    assert [(s["connectorId"], s["idTag"]) for s in rig.calls("StartTransaction")] == [(1, "TAG1")]


async def test_TC_011_2_CS_remote_start_time_out(rig: Rig) -> None:
    assert (await rig.call(call.ChangeConfiguration(key="ConnectionTimeOut", value="45"))).status == "Accepted"
    assert (await rig.call(call.RemoteStartTransaction(id_tag="TAG1", connector_id=1))).status == "Accepted"
    await rig.pump()
    await rig.run(44)
    assert rig.statuses(1) == ["Preparing"]
    await rig.run(2)
    assert rig.statuses(1) == ["Preparing", "Available"]
    assert rig.calls("StartTransaction") == []


async def test_TC_012_CS_remote_stop_charging_session(rig: Rig) -> None:
    tx_id = await rig.remote_session("TAG1")
    mark = rig.mark()
    assert (await rig.call(call.RemoteStopTransaction(transaction_id=tx_id))).status == "Accepted"
    await rig.pump()
    stop = rig.calls("StopTransaction", mark)
    assert [(s["transactionId"], s["reason"], s["idTag"]) for s in stop] == [(tx_id, "Remote", "TAG1")]
    await rig.run(3)
    assert "Finishing" in rig.statuses(1, mark)


async def test_remote_start_without_authorize_when_authorize_remote_tx_requests_is_false(rig: Rig) -> None:
    res = await rig.call(call.ChangeConfiguration(key="AuthorizeRemoteTxRequests", value="false"))
    assert res.status == "Accepted" and rig.station.authorize_remote_start is False
    rig.ports[1].plug_in()
    assert (await rig.call(call.RemoteStartTransaction(id_tag="TAG1", connector_id=1))).status == "Accepted"
    await rig.run(5)
    assert rig.calls("Authorize") == []
    assert [s["idTag"] for s in rig.calls("StartTransaction")] == ["TAG1"]


async def test_remote_start_with_a_tx_profile_is_accepted_other_purposes_rejected(rig: Rig) -> None:
    profile = {"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
               "chargingProfileKind": "Relative",
               "chargingSchedule": {"chargingRateUnit": "W", "chargingSchedulePeriod": [
                   {"startPeriod": 0, "limit": 7000.0}]}}
    res = await rig.call(call.RemoteStartTransaction(id_tag="TAG1", connector_id=1, charging_profile=profile))
    assert res.status == "Rejected"
    assert rig.station.evses[1].pending is None
    profile["chargingProfilePurpose"] = "TxProfile"
    res = await rig.call(call.RemoteStartTransaction(id_tag="TAG1", connector_id=1, charging_profile=profile))
    assert res.status == "Accepted"


# ---------------------------------------------------------------------------------------------------- 06 reset
@pytest.mark.parametrize(("case", "kind"), [("TC_013_CS", "Hard"), ("TC_014_CS", "Soft")])
async def test_TC_013_TC_014_CS_reset_without_transaction(rig: Rig, case: str, kind: str) -> None:
    assert (await rig.call(call.Reset(type=kind))).status == "Accepted"
    await rig.pump()
    assert rig.hooks.reboots == [ResetKind(kind)]
    assert rig.calls("StopTransaction") == []


@pytest.mark.parametrize(("case", "kind", "reason"), [("TC_015_CS", "Hard", "HardReset"),
                                                      ("TC_016_CS", "Soft", "SoftReset")])
async def test_TC_015_TC_016_CS_reset_with_transaction(rig: Rig, case: str, kind: str, reason: str) -> None:
    tx_id = await rig.remote_session("TAG1")
    mark = rig.mark()
    assert (await rig.call(call.Reset(type=kind))).status == "Accepted"
    await rig.pump()
    assert [(s["transactionId"], s["reason"], s["idTag"]) for s in rig.calls("StopTransaction", mark)] == [
        (tx_id, reason, "TAG1")]
    assert rig.hooks.reboots == [ResetKind(kind)]
    frames = [m for s, m in rig.wire.frames[mark:] if isinstance(m, list)]
    assert frames[1][0] == 3 and frames[2][2] == "StopTransaction"  # Reset.conf first


# ---------------------------------------------------------------------------------------------------- 07 unlock
async def test_TC_017_1_CS_unlock_connector_no_session(rig: Rig) -> None:
    rig.ports[1].plug_in()
    await rig.run(1)
    assert rig.statuses(1) == ["Preparing"]
    assert (await rig.call(call.UnlockConnector(connector_id=1))).status == "Unlocked"


async def test_TC_018_1_CS_unlock_connector_with_charging_session(rig: Rig) -> None:
    tx_id = await rig.remote_session()
    mark = rig.mark()
    assert (await rig.call(call.UnlockConnector(connector_id=1))).status == "Unlocked"
    await rig.pump()
    assert [(s["transactionId"], s["reason"]) for s in rig.calls("StopTransaction", mark)] == [
        (tx_id, "UnlockCommand")]


async def test_TC_030_CS_unlock_connector_unlock_failure(rig: Rig) -> None:
    rig.ports[1].plug_in()
    rig.ports[1].unlock_fails = True
    await rig.run(1)
    assert (await rig.call(call.UnlockConnector(connector_id=1))).status == "UnlockFailed"


@pytest.mark.parametrize("connector_id", [2, 0, 4352])
async def test_TC_031_CS_unlock_connector_unknown_connector(rig: Rig, connector_id: int) -> None:
    assert (await rig.call(call.UnlockConnector(connector_id=connector_id))).status == "NotSupported"


# ---------------------------------------------------------------------------------------------------- availability
async def test_change_availability_connector_reports_only_that_connector(rig: Rig) -> None:
    rig.station.trigger_status()
    await rig.pump()
    mark = rig.mark()
    res = await rig.call(call.ChangeAvailability(connector_id=1, type="Inoperative"))
    assert res.status == "Accepted"
    await rig.pump()
    assert [(n["connectorId"], n["status"]) for n in rig.calls("StatusNotification", mark)] == [(1, "Unavailable")]
    assert (await rig.call(call.RemoteStartTransaction(id_tag="TAG1", connector_id=1))).status == "Rejected"
    assert (await rig.call(call.ChangeAvailability(connector_id=1, type="Operative"))).status == "Accepted"
    await rig.pump()
    assert rig.statuses(1, mark) == ["Unavailable", "Available"]


async def test_change_availability_station_reports_connector_0_and_every_connector(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(evses=2)
    rig.station.trigger_status()
    await rig.pump()
    mark = rig.mark()
    assert (await rig.call(call.ChangeAvailability(connector_id=0, type="Inoperative"))).status == "Accepted"
    await rig.pump()
    assert [(n["connectorId"], n["status"]) for n in rig.calls("StatusNotification", mark)] == [
        (0, "Unavailable"), (1, "Unavailable"), (2, "Unavailable")]
    assert (await rig.call(call.ChangeAvailability(connector_id=0, type="Operative"))).status == "Accepted"
    await rig.pump()
    assert rig.statuses(0, mark) == ["Unavailable", "Available"]


async def test_change_availability_during_transaction_is_scheduled(rig: Rig) -> None:
    tx_id = await rig.remote_session()
    res = await rig.call(call.ChangeAvailability(connector_id=0, type="Inoperative"))
    assert res.status == "Scheduled"
    await rig.pump()
    assert rig.statuses(0) == ["Available"]
    mark = rig.mark()
    await rig.call(call.RemoteStopTransaction(transaction_id=tx_id))
    await rig.pump()
    await rig.run(1)
    assert rig.statuses(0, mark) == ["Unavailable"]
    assert rig.statuses(1, mark)[-1] == "Unavailable"


async def test_change_availability_unknown_connector_rejected(rig: Rig) -> None:
    assert (await rig.call(call.ChangeAvailability(connector_id=3, type="Inoperative"))).status == "Rejected"
    assert rig.station.evses[1].operative


# ---------------------------------------------------------------------------------------------------- 22 trigger
async def test_TC_054_CS_trigger_message(rig: Rig) -> None:
    await rig.run(1)
    mark = rig.mark()
    res = await rig.call(call.TriggerMessage(requested_message="MeterValues", connector_id=1))
    assert res.status == "Accepted"
    await rig.pump()
    mv = rig.calls("MeterValues", mark)
    assert len(mv) == 1 and mv[0]["connectorId"] == 1
    assert {v["context"] for v in mv[0]["meterValue"][0]["sampledValue"]} == {"Trigger"}

    assert (await rig.call(call.TriggerMessage(requested_message="Heartbeat"))).status == "Accepted"
    assert rig.hooks.heartbeats == 1
    assert (await rig.call(call.TriggerMessage(requested_message="BootNotification"))).status == "Accepted"
    assert rig.hooks.boots == 1

    mark = rig.mark()
    res = await rig.call(call.TriggerMessage(requested_message="StatusNotification", connector_id=1))
    assert res.status == "Accepted"
    await rig.pump()
    assert [(n["connectorId"], n["status"]) for n in rig.calls("StatusNotification", mark)] == [
        (0, "Available"), (1, "Available")]  # connectorId 0 goes with the first status of a connection
    mark = rig.mark()
    await rig.call(call.TriggerMessage(requested_message="StatusNotification", connector_id=1))
    await rig.pump()
    assert [(n["connectorId"], n["status"]) for n in rig.calls("StatusNotification", mark)] == [(1, "Available")]
    mark = rig.mark()
    await rig.call(call.TriggerMessage(requested_message="StatusNotification", connector_id=0))
    await rig.wait_call("StatusNotification", mark)
    await rig.pump()
    assert [n["connectorId"] for n in rig.calls("StatusNotification", mark)] == [0]
    mark = rig.mark()
    await rig.call(call.TriggerMessage(requested_message="StatusNotification"))
    await rig.wait_call("StatusNotification", mark)
    await rig.pump()
    assert sorted(n["connectorId"] for n in rig.calls("StatusNotification", mark)) == [0, 1]
    # the triggered message follows the answer
    answer = next(i for i, (s, m) in enumerate(rig.wire.frames) if i >= mark and s == "cs" and m[0] == 3)
    first_call = next(i for i, (s, m) in enumerate(rig.wire.frames) if i >= mark and s == "cs" and m[0] == 2)
    assert answer < first_call

    for message in ("DiagnosticsStatusNotification", "FirmwareStatusNotification"):
        assert (await rig.call(call.TriggerMessage(requested_message=message))).status == "NotImplemented"


async def test_TC_054_CS_trigger_meter_values_during_transaction_carries_the_transaction(rig: Rig) -> None:
    tx_id = await rig.remote_session()
    mark = rig.mark()
    assert (await rig.call(call.TriggerMessage(requested_message="MeterValues", connector_id=1))).status == "Accepted"
    await rig.pump()
    assert [m["transactionId"] for m in rig.calls("MeterValues", mark)] == [tx_id]


async def test_TC_055_CS_trigger_message_rejected(rig: Rig) -> None:
    mark = rig.mark()
    res = await rig.call(call.TriggerMessage(requested_message="MeterValues", connector_id=4352))
    assert res.status == "Rejected"
    await rig.pump()
    assert rig.actions(mark) == []


# ---------------------------------------------------------------------------------------------------- 24 data transfer
async def test_TC_062_CS_data_transfer_to_a_charge_point(rig: Rig) -> None:
    res = await rig.call(call.DataTransfer(vendor_id="com.example.unknown", message_id="x", data="{}"))
    assert res.status == "UnknownVendorId"
    res = await rig.call(call.DataTransfer(vendor_id=StationIdentity().vendor, message_id="x"))
    assert res.status == "UnknownMessageId"


# ---------------------------------------------------------------------------------------------------- strictness
async def test_malformed_json_gets_formation_violation_and_the_connection_stays_up(rig: Rig) -> None:
    reply = await rig.raw('[2, "m1", "Reset", {"type": "Hard"', "-1")
    assert reply[0] == 4 and reply[2] == "FormationViolation"
    assert rig.adapter.rejected_frames == 1
    await rig.pump()
    assert rig.hooks.reboots == []
    assert (await rig.call(call.GetLocalListVersion())).list_version == 0


@pytest.mark.parametrize(("frame", "code"), [
    ([2, "m1", "FooBar", {}], "NotImplemented"),
    ([2, "m1", "ReserveNow", {"connectorId": 1, "expiryDate": "2026-03-01T11:00:00Z", "idTag": "T",
                              "reservationId": 1}], "NotSupported"),
    ([2, "m1", "Reset", {"type": "Medium"}], "PropertyConstraintViolation"),
    ([2, "m1", "Reset", {}], "OccurenceConstraintViolation"),
    ([2, "m1", "Reset", {"type": "Hard", "when": "now"}], "OccurenceConstraintViolation"),
    ([2, "m1", "Reset", {"type": 1}], "TypeConstraintViolation"),
    ([2, "m1", "Reset", ["Hard"]], "FormationViolation"),
    ([2, "m1", "Reset"], "ProtocolError"),
    ([7, "m1", "Reset", {"type": "Hard"}], "ProtocolError"),
])
async def test_invalid_calls_get_the_right_callerror_and_change_nothing(rig: Rig, frame: list[Any], code: str) -> None:
    reply = await rig.raw(frame, "m1")
    assert reply[0] == 4 and reply[2] == code
    await rig.pump()
    assert rig.hooks.reboots == []
    assert rig.actions() == []


async def test_schema_violating_remote_start_changes_no_state(rig: Rig) -> None:
    rig.ports[1].plug_in()
    await rig.run(1)
    mark = rig.mark()
    reply = await rig.raw([2, "m2", "RemoteStartTransaction", {"idTag": "X" * 21, "connectorId": 1}], "m2")
    assert reply[2] == "PropertyConstraintViolation"
    reply = await rig.raw([2, "m3", "RemoteStopTransaction", {"transactionId": "12"}], "m3")
    assert reply[2] == "TypeConstraintViolation"
    reply = await rig.raw([2, "m4", "ChangeConfiguration", {"key": "HeartbeatInterval"}], "m4")
    assert reply[2] == "OccurenceConstraintViolation"
    await rig.run(2)
    assert rig.actions(mark) == []
    assert rig.station.evses[1].pending is None
    assert rig.hooks.intervals == []
