"""CSMS emulator against minimal charge points written with the ``ocpp`` library, over real loopback WebSockets."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ocpp.v16
import ocpp.v21
import ocpp.v201
import pytest
from ocpp.exceptions import (
    InternalError,
    NotSupportedError,
    OCPPError,
    TypeConstraintViolationError,
)
from ocpp.exceptions import NotImplementedError as OcppNotImplementedError
from ocpp.messages import CallResult, validate_payload
from ocpp.routing import on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as result21
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.headers import build_authorization_basic
from websockets.typing import Subprotocol

from chargepoint.clock import parse_iso
from chargepoint.ocpp.keyfix import _library_snake_to_camel as snake_to_camel_case  # the library's original
from hil.emulators.csms import CallError, CsmsBehaviour, CsmsEmulator, StationNotConnected, default_actions
from hil.emulators.csms_connection import RecordingConnection
from hil.emulators.csms_endpoints import ENDPOINTS

VERSION = {"ocpp1.6": "1.6", "ocpp2.0.1": "2.0.1", "ocpp2.1": "2.1"}
STAMP = "2026-01-01T00:00:00.000Z"


class Tap:
    """Connection wrapper for the test stations: keeps every received raw frame."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.rx: list[str] = []

    async def recv(self) -> str:
        message = await self.ws.recv()
        assert isinstance(message, str)
        self.rx.append(message)
        return message

    async def send(self, message: str) -> None:
        await self.ws.send(message)


class Station16(ocpp.v16.ChargePoint):
    @on("GetConfiguration")
    def on_get_configuration(self, **kwargs: Any) -> Any:
        return result16.GetConfiguration(
            configuration_key=[{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
            unknown_key=[k for k in kwargs.get("key", []) if k != "HeartbeatInterval"],
        )


class Station201(ocpp.v201.ChargePoint):
    @on("GetVariables")
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **kwargs: Any) -> Any:
        return result201.GetVariables(
            get_variable_result=[
                {
                    "attribute_status": "Accepted",
                    "attribute_value": "42",
                    "component": d["component"],
                    "variable": d["variable"],
                }
                for d in get_variable_data
            ]
        )

    @on("Reset")
    def on_reset(self, **kwargs: Any) -> Any:
        raise InternalError(description="reset exploded")


class Station21(ocpp.v21.ChargePoint):
    profiles: list[dict[str, Any]]

    @on("SetChargingProfile")
    def on_set_charging_profile(self, evse_id: int, charging_profile: dict[str, Any], **kwargs: Any) -> Any:
        self.profiles.append(charging_profile)
        return result21.SetChargingProfile(status="Accepted")


STATIONS: dict[str, type[Any]] = {"ocpp1.6": Station16, "ocpp2.0.1": Station201, "ocpp2.1": Station21}


@dataclass
class Link:
    cp: Any
    tap: Tap
    ws: ClientConnection


@asynccontextmanager
async def station(
    url: str, station_id: str, protocol: str = "ocpp2.0.1", *, offer: list[str] | None = None, **kwargs: Any
) -> AsyncIterator[Link]:
    offered = [Subprotocol(p) for p in (offer or [protocol])]
    async with connect(url + station_id, subprotocols=offered, open_timeout=5, close_timeout=1, **kwargs) as ws:
        tap = Tap(ws)
        cp = STATIONS[protocol](station_id, tap, response_timeout=5)
        cp.profiles = []
        task = asyncio.create_task(cp.start())
        try:
            yield Link(cp, tap, ws)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def boot_request(protocol: str) -> Any:
    if protocol == "ocpp1.6":
        return call16.BootNotification(charge_point_model="M1", charge_point_vendor="Acme")
    module = call21 if protocol == "ocpp2.1" else call201
    return module.BootNotification(charging_station={"model": "M1", "vendor_name": "Acme"}, reason="PowerUp")


def heartbeat_request(protocol: str) -> Any:
    return {"ocpp1.6": call16, "ocpp2.0.1": call201, "ocpp2.1": call21}[protocol].Heartbeat()


def assert_utc_z(stamp: str) -> None:
    assert stamp.endswith("Z")
    assert parse_iso(stamp).utcoffset() is not None


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_boot_and_heartbeat_accepted(protocol: str) -> None:
    async with CsmsEmulator() as csms, station(csms.url, "CP1", protocol) as st:
        await csms.wait_connected("CP1")
        assert csms.protocol_of("CP1") == protocol
        boot = await st.cp.call(boot_request(protocol), suppress=False)
        assert (boot.status, boot.interval) == ("Accepted", 300)
        assert_utc_z(boot.current_time)
        beat = await st.cp.call(heartbeat_request(protocol), suppress=False)
        assert_utc_z(beat.current_time)
        frame = await csms.wait_for("CP1", "BootNotification")
        assert frame.index == 0 and frame.direction == "rx"
        state = csms.station("CP1")
        assert (state.boot_status, state.heartbeat_count, state.action_counts["BootNotification"]) == ("Accepted", 1, 1)


@pytest.mark.parametrize(("protocol", "sequence"), [("ocpp2.0.1", "Pending"), ("ocpp1.6", "Rejected")])
async def test_boot_pending_or_rejected_then_accepted(protocol: str, sequence: str) -> None:
    behaviour = CsmsBehaviour(boot_statuses=[sequence, "Accepted"], boot_interval=60, pending_interval=2)
    async with CsmsEmulator(behaviour=behaviour) as csms, station(csms.url, "CP1", protocol) as st:
        first = await st.cp.call(boot_request(protocol), suppress=False)
        second = await st.cp.call(boot_request(protocol), suppress=False)
        third = await st.cp.call(boot_request(protocol), suppress=False)
        assert [(r.status, r.interval) for r in (first, second, third)] == [
            (sequence, 2),
            ("Accepted", 60),
            ("Accepted", 60),
        ]
        assert csms.station("CP1").boot_count == 3


async def test_frames_recorded_both_directions_with_resolved_actions() -> None:
    async with CsmsEmulator() as csms, station(csms.url, "CP1", "ocpp1.6") as st:
        await st.cp.call(boot_request("ocpp1.6"), suppress=False)
        await csms.call("CP1", "GetConfiguration", {"key": ["HeartbeatInterval"]})
        summary = [(f.direction, f.message_type, f.action) for f in csms.frames]
        assert summary == [
            ("rx", 2, "BootNotification"),
            ("tx", 3, "BootNotification"),
            ("tx", 2, "GetConfiguration"),
            ("rx", 3, "GetConfiguration"),
        ]
        assert [f.index for f in csms.frames] == [0, 1, 2, 3]
        assert all(a.t <= b.t for a, b in zip(csms.frames, csms.frames[1:], strict=False))
        for frame in csms.frames:
            assert frame.station_id == "CP1" and json.loads(frame.raw)[1] == frame.unique_id
        assert csms.frames[1].payload["status"] == "Accepted"
        assert csms.frames[2].raw == st.tap.rx[-1]  # byte-identical to what the station received
        assert [f.action for f in csms.calls("CP1")] == ["BootNotification"]


async def test_call_round_trip_16_get_configuration() -> None:
    async with CsmsEmulator() as csms, station(csms.url, "CP16", "ocpp1.6"):
        await csms.wait_connected("CP16")
        result = await csms.call("CP16", "GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]})
        assert result == {
            "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
            "unknownKey": ["Nope"],
        }
        # the library's own dataclass call() keeps working on the emulator's endpoint
        typed = await csms.endpoint("CP16").call(call16.GetConfiguration(key=["X"]), suppress=False)
        assert typed.unknown_key == ["X"]


async def test_call_round_trip_201_get_variables() -> None:
    request = {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}
    async with CsmsEmulator() as csms, station(csms.url, "CP201", "ocpp2.0.1"):
        await csms.wait_connected("CP201")
        result = await csms.call("CP201", "GetVariables", request)
        assert result == {
            "getVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "attributeValue": "42",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        }


async def test_callerror_surfaces_as_exception() -> None:
    async with CsmsEmulator() as csms, station(csms.url, "CP1", "ocpp2.0.1"):
        await csms.wait_connected("CP1")
        with pytest.raises(CallError) as raised:
            await csms.call("CP1", "Reset", {"type": "Immediate"})
        assert (raised.value.code, raised.value.description, raised.value.action) == (
            "InternalError",
            "reset exploded",
            "Reset",
        )
        with pytest.raises(CallError) as raised:  # no handler on the station: the library answers NotImplemented
            await csms.call("CP1", "ClearCache", {})
        assert raised.value.code == "NotImplemented"
        assert csms.frames[-1].action == "ClearCache" and csms.frames[-1].message_type == 4


async def test_invalid_or_unknown_call_is_refused_before_sending() -> None:
    async with CsmsEmulator() as csms, station(csms.url, "CP1", "ocpp1.6"):
        await csms.wait_connected("CP1")
        with pytest.raises(TypeConstraintViolationError):
            await csms.call("CP1", "GetConfiguration", {"key": "HeartbeatInterval"})
        with pytest.raises(ValueError, match=r"not an OCPP 1\.6 action"):
            await csms.call("CP1", "GetVariables", {})
        assert csms.frames == []
        with pytest.raises(StationNotConnected):
            await csms.call("nobody", "GetConfiguration", {})


async def test_basic_auth_accepted_and_refused() -> None:
    async with CsmsEmulator(basic_auth={"CP1": "s3cret-Pa55"}) as csms:
        auth = build_authorization_basic("CP1", "s3cret-Pa55")
        good: dict[str, Any] = {"additional_headers": {"Authorization": auth}}
        async with station(csms.url, "CP1", "ocpp1.6", **good) as st:
            assert (await st.cp.call(boot_request("ocpp1.6"), suppress=False)).status == "Accepted"
        refused: list[tuple[str, dict[str, Any]]] = [
            ("CP1", {"additional_headers": {"Authorization": build_authorization_basic("CP1", "wrong")}}),
            ("CP1", {"additional_headers": {"Authorization": build_authorization_basic("CP2", "s3cret-Pa55")}}),
            ("CP1", {}),
            ("CP9", {"additional_headers": {"Authorization": build_authorization_basic("CP9", "s3cret-Pa55")}}),
        ]
        for station_id, kwargs in refused:
            with pytest.raises(InvalidStatus) as raised:
                async with station(csms.url, station_id, "ocpp1.6", **kwargs):
                    pass
            assert raised.value.response.status_code == 401
            assert raised.value.response.headers["WWW-Authenticate"].startswith("Basic")
        reasons = [e.detail for e in csms.events if e.kind == "refused"]
        assert reasons == [
            "basic auth: wrong password",
            "basic auth: username 'CP2' is not the station id",
            "basic auth: no Authorization header",
            "basic auth: unknown station id",
        ]


async def test_unknown_and_unhandled_actions_on_21_get_callerror() -> None:
    @dataclass
    class FooBar:  # the library derives the action name from the class name
        value: int

    @dataclass
    class Reset:
        type: str

    async with CsmsEmulator() as csms, station(csms.url, "CP21", "ocpp2.1") as st:
        with pytest.raises(OcppNotImplementedError) as unknown:
            await st.cp.call(FooBar(1), suppress=False, skip_schema_validation=True)
        assert unknown.value.description == "Requested Action is not known by receiver"
        with pytest.raises(NotSupportedError):  # a CSMS -> CS action sent by the station
            await st.cp.call(Reset("Immediate"), suppress=False, skip_schema_validation=True)
        invalid = call21.Heartbeat(custom_data={"no_vendor_id": 1})
        with pytest.raises(OCPPError):  # schema violations are answered too (the library's validation)
            await st.cp.call(invalid, suppress=False, skip_schema_validation=True)
        assert [(f.action, f.message_type) for f in csms.frames if f.direction == "tx"] == [
            ("FooBar", 4),
            ("Reset", 4),
            ("Heartbeat", 4),
        ]


async def test_protocol_selection_follows_server_order() -> None:
    async with CsmsEmulator() as csms:
        async with station(csms.url, "A", "ocpp2.0.1", offer=["ocpp1.6", "ocpp2.0.1"]) as st:
            assert st.ws.subprotocol == "ocpp2.0.1"
            await csms.wait_connected("A")
            assert csms.protocol_of("A") == "ocpp2.0.1"
    async with CsmsEmulator(protocols=("ocpp1.6",)) as csms:
        async with station(csms.url, "B", "ocpp1.6", offer=["ocpp2.1", "ocpp1.6"]) as st:
            assert st.ws.subprotocol == "ocpp1.6"


async def test_protocol_mismatch_is_refused_with_close_1002() -> None:
    async with CsmsEmulator(protocols=("ocpp2.1",)) as csms:
        async with connect(csms.url + "CP1", subprotocols=[Subprotocol("ocpp1.6")], close_timeout=1) as ws:
            assert ws.subprotocol is None
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1002
        assert [e.kind for e in csms.events] == ["refused"]
        assert csms.protocol_of("CP1") is None


async def test_protocol_mismatch_http_mode_answers_400() -> None:
    async with CsmsEmulator(protocols=("ocpp2.1",), on_protocol_mismatch="http") as csms:
        for offer in ([Subprotocol("ocpp1.6")], None):
            with pytest.raises(InvalidStatus) as raised:
                async with connect(csms.url + "CP1", subprotocols=offer):
                    pass
            assert raised.value.response.status_code == 400
        assert [e.kind for e in csms.events] == ["refused", "refused"]


async def test_21_set_charging_profile_keeps_exact_camelcase_keys() -> None:
    period = {
        "startPeriod": 0,
        "limit": 11000.0,
        "limit_L2": 3700.0,
        "limit_L3": 3600.0,
        "setpoint": -5000.0,
        "setpoint_L2": -1600.0,
        "dischargeLimit": -7000.0,
        "dischargeLimit_L3": -2300.0,
        "operationMode": "CentralSetpoint",
    }
    profile = {
        "id": 7,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "W",
                "startSchedule": STAMP,
                "chargingSchedulePeriod": [period],
                "limitAtSoC": {"soc": 80, "limit": 5000.0},
            }
        ],
    }
    # The library's own serialisation would send these keys wrongly (why call() bypasses it):
    assert snake_to_camel_case({"limit_l2": 1, "soc": 2}) == {"limitL2": 1, "SoC": 2}
    async with CsmsEmulator() as csms, station(csms.url, "CP21", "ocpp2.1") as st:
        await csms.wait_connected("CP21")
        result = await csms.call("CP21", "SetChargingProfile", {"evseId": 1, "chargingProfile": profile})
        assert result == {"status": "Accepted"}
        received = json.loads(st.tap.rx[-1])
        assert received[2] == "SetChargingProfile"
        assert received[3]["chargingProfile"] == profile  # exact keys and values on the wire
        got = st.cp.profiles[0]["charging_schedule"][0]["charging_schedule_period"][0]
        assert (got["limit_l2"], got["setpoint"], got["discharge_limit"]) == (3700.0, -5000.0, -7000.0)


async def test_21_pull_dynamic_schedule_update_answer_keeps_l2_keys() -> None:
    update = {"limit": 7000.0, "limit_L2": 2300.0, "setpoint_L3": -1000.0, "dischargeLimit_L2": -2000.0}
    behaviour = CsmsBehaviour(dynamic_schedule_updates={7: update})
    async with CsmsEmulator(behaviour=behaviour) as csms, station(csms.url, "CP21", "ocpp2.1") as st:
        answer = await st.cp.call(call21.PullDynamicScheduleUpdate(charging_profile_id=7), suppress=False)
        assert answer.status == "Accepted"
        assert json.loads(st.tap.rx[-1])[2]["scheduleUpdate"] == update


async def test_transaction_ledger_16() -> None:
    behaviour = CsmsBehaviour(id_tags={"BLOCKED": "Blocked"})
    async with CsmsEmulator(behaviour=behaviour) as csms, station(csms.url, "CP1", "ocpp1.6") as st:
        auth = await st.cp.call(call16.Authorize(id_tag="BLOCKED"), suppress=False)
        assert auth.id_tag_info == {"status": "Blocked"}
        start = await st.cp.call(
            call16.StartTransaction(connector_id=1, id_tag="TAG1", meter_start=100, timestamp=STAMP), suppress=False
        )
        assert (start.transaction_id, start.id_tag_info) == (1, {"status": "Accepted"})
        sample = {"timestamp": STAMP, "sampled_value": [{"value": "150", "measurand": "Energy.Active.Import.Register"}]}
        await st.cp.call(call16.MeterValues(connector_id=1, transaction_id=1, meter_value=[sample]), suppress=False)
        await st.cp.call(
            call16.StopTransaction(meter_stop=200, timestamp=STAMP, transaction_id=1, reason="EVDisconnected"),
            suppress=False,
        )
        tx = csms.transactions["CP1"][1]
        assert (tx.id_tag, tx.connector_id, tx.meter_start, tx.meter_stop, tx.stop_reason, tx.active) == (
            "TAG1",
            1,
            100,
            200,
            "EVDisconnected",
            False,
        )
        assert tx.meter_values[0]["sampledValue"][0]["value"] == "150"
        second = await st.cp.call(
            call16.StartTransaction(connector_id=2, id_tag="TAG2", meter_start=0, timestamp=STAMP), suppress=False
        )
        assert second.transaction_id == 2 and csms.transactions["CP1"][2].active


async def test_transaction_ledger_21_and_id_token_status() -> None:
    behaviour = CsmsBehaviour(default_id_status="Invalid", id_tags={"GOOD": "Accepted"})
    async with CsmsEmulator(behaviour=behaviour) as csms, station(csms.url, "CP21", "ocpp2.1") as st:
        bad = await st.cp.call(call21.Authorize(id_token={"id_token": "BAD", "type": "ISO14443"}), suppress=False)
        assert bad.id_token_info == {"status": "Invalid"}
        for seq, (event, trigger) in enumerate(
            [("Started", "Authorized"), ("Updated", "MeterValuePeriodic"), ("Ended", "EVDeparted")]
        ):
            request = call21.TransactionEvent(
                event_type=event,
                timestamp=STAMP,
                trigger_reason=trigger,
                seq_no=seq,
                transaction_info={"transaction_id": "tx-1", "charging_state": "Charging"}
                | ({"stopped_reason": "EVDisconnected"} if event == "Ended" else {}),
                evse={"id": 1, "connector_id": 1} if event == "Started" else None,
                id_token={"id_token": "GOOD", "type": "ISO14443"} if event == "Started" else None,
                meter_value=[
                    {"timestamp": STAMP, "sampled_value": [{"value": -1500.0, "measurand": "Power.Active.Export"}]}
                ],
            )
            answer = await st.cp.call(request, suppress=False)
            assert answer.id_token_info == ({"status": "Accepted"} if event == "Started" else None)
        tx = csms.transactions["CP21"]["tx-1"]
        assert (tx.seq_nos, tx.event_types) == ([0, 1, 2], ["Started", "Updated", "Ended"])
        assert (tx.id_tag, tx.evse_id, tx.connector_id, tx.stop_reason, tx.ended) == (
            "GOOD",
            1,
            1,
            "EVDisconnected",
            True,
        )
        assert len(tx.meter_values) == 3 and tx.meter_values[0]["sampledValue"][0]["value"] == -1500.0


async def test_overrides_observers_and_wait_for_predicate() -> None:
    seen: list[dict[str, Any]] = []

    async def observe(station_id: str, payload: dict[str, Any]) -> None:
        seen.append(payload)  # returning None keeps the default answer

    behaviour = CsmsBehaviour(
        handlers={
            "DataTransfer": lambda sid, p: {"status": "Accepted", "data": f"{sid}:{p['vendorId']}"},
            "StatusNotification": observe,
            "Heartbeat": lambda sid, p: {"wrong": 1},
        }
    )
    async with CsmsEmulator(behaviour=behaviour) as csms, station(csms.url, "CP1", "ocpp1.6") as st:
        answer = await st.cp.call(call16.DataTransfer(vendor_id="acme"), suppress=False)
        assert (answer.status, answer.data) == ("Accepted", "CP1:acme")
        with pytest.raises(InternalError):  # an override's schema-invalid answer is not sent
            await st.cp.call(call16.Heartbeat(), suppress=False)
        mark = csms.mark()
        waiter = asyncio.create_task(
            csms.wait_for("CP1", "StatusNotification", lambda p: p["status"] == "Faulted", after=mark)
        )
        for status in ("Available", "Faulted"):
            await st.cp.call(call16.StatusNotification(connector_id=1, error_code="NoError", status=status))
        frame = await waiter
        assert frame.index > mark and frame.payload["status"] == "Faulted"
        assert [p["status"] for p in seen] == ["Available", "Faulted"]
        assert csms.station("CP1").connector_status == {1: "Faulted"}
        with pytest.raises(TimeoutError):
            await csms.wait_for("CP1", "StatusNotification", after=frame.index, timeout=0.05)


async def test_send_raw_and_server_side_disconnect() -> None:
    async with CsmsEmulator() as csms, station(csms.url, "CP1", "ocpp2.0.1") as st:
        await csms.wait_connected("CP1")
        await csms.send_raw("CP1", "this is not OCPP")
        await csms.send_raw("CP1", '[2,"raw-1","ClearCache",{}]')
        answer = await csms.wait_frame(lambda f: f.direction == "rx" and f.unique_id == "raw-1")
        assert (answer.message_type, answer.action, answer.payload["errorCode"]) == (4, "ClearCache", "NotImplemented")
        assert st.tap.rx == ["this is not OCPP", '[2,"raw-1","ClearCache",{}]']
        frame = csms.frames[0]
        assert (frame.direction, frame.message_type, frame.raw) == ("tx", None, "this is not OCPP")
        await csms.disconnect("CP1", reason="bye")
        assert not csms.is_connected("CP1") and csms.protocol_of("CP1") is None
        await st.ws.wait_closed()
        assert (st.ws.close_code, st.ws.close_reason) == (1000, "bye")
        assert [e.kind for e in csms.events] == ["connected", "disconnected"]
        with pytest.raises(StationNotConnected):
            await csms.send_raw("CP1", "[]")


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_every_default_answer_is_schema_valid(protocol: str) -> None:
    required = {
        "ocpp1.6": {
            "BootNotification",
            "Heartbeat",
            "StatusNotification",
            "Authorize",
            "StartTransaction",
            "StopTransaction",
            "MeterValues",
            "DataTransfer",
            "DiagnosticsStatusNotification",
            "FirmwareStatusNotification",
            "SecurityEventNotification",
            "SignCertificate",
            "LogStatusNotification",
            "SignedFirmwareStatusNotification",
        },
        "ocpp2.0.1": {
            "BootNotification",
            "Heartbeat",
            "StatusNotification",
            "Authorize",
            "TransactionEvent",
            "MeterValues",
            "NotifyReport",
            "NotifyEvent",
            "NotifyChargingLimit",
            "ClearedChargingLimit",
            "NotifyEVChargingNeeds",
            "NotifyEVChargingSchedule",
            "ReportChargingProfiles",
            "SecurityEventNotification",
            "SignCertificate",
            "DataTransfer",
            "FirmwareStatusNotification",
            "LogStatusNotification",
            "NotifyMonitoringReport",
            "NotifyCustomerInformation",
        },
    }
    required["ocpp2.1"] = required["ocpp2.0.1"] | {
        "PullDynamicScheduleUpdate",
        "NotifyPriorityCharging",
        "NotifyDERAlarm",
        "NotifyDERStartStop",
        "ReportDERControl",
        "BatterySwap",
        "NotifySettlement",
        "NotifyWebPaymentStarted",
        "VatNumberValidation",
    }
    actions = default_actions(protocol)
    assert required[protocol] <= actions
    payloads: dict[str, dict[str, Any]] = {
        "StatusNotification": {"connectorId": 1, "status": "Available", "evseId": 1, "connectorStatus": "Available"},
        "Authorize": {"idTag": "T", "idToken": {"idToken": "T", "type": "ISO14443"}},
        "StartTransaction": {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": STAMP},
        "StopTransaction": {"transactionId": 1, "idTag": "T", "meterStop": 1, "timestamp": STAMP},
        "MeterValues": {"meterValue": []},
        "TransactionEvent": {
            "eventType": "Started",
            "timestamp": STAMP,
            "seqNo": 0,
            "idToken": {"idToken": "T"},
            "transactionInfo": {"transactionId": "t"},
        },
        "PullDynamicScheduleUpdate": {"chargingProfileId": 1},
        "VatNumberValidation": {"vatNumber": "DE1", "evseId": 1},
        "GetCertificateChainStatus": {
            "certificateStatusRequests": [
                {
                    "source": "OCSP",
                    "urls": ["http://ocsp"],
                    "certificateHashData": {
                        "hashAlgorithm": "SHA256",
                        "issuerNameHash": "a",
                        "issuerKeyHash": "b",
                        "serialNumber": "c",
                    },
                }
            ]
        },
    }
    async with CsmsEmulator() as csms:
        endpoint = ENDPOINTS[protocol](
            "X",
            RecordingConnection(None, "X", csms.frames.append),  # type: ignore[arg-type]
            csms,
            csms.station("X"),
        )
        for action in sorted(actions):
            answer = endpoint.route_map[action]["_on_action"](payloads.get(action, {}))
            await validate_payload(CallResult("1", answer, action), VERSION[protocol])


async def test_silent_and_delayed_answers() -> None:
    behaviour = CsmsBehaviour(silent_actions={"Heartbeat"}, action_delays_s={"StatusNotification": 0.05})
    async with CsmsEmulator(behaviour=behaviour) as csms, station(csms.url, "CP1", "ocpp1.6") as st:
        st.cp._response_timeout = 0.1
        with pytest.raises(asyncio.TimeoutError):
            await st.cp.call(call16.Heartbeat())
        assert csms.station("CP1").action_counts["Heartbeat"] == 1
        assert [f.direction for f in csms.frames] == ["rx"]  # recorded, never answered
        loop = asyncio.get_running_loop()
        started = loop.time()
        await st.cp.call(
            call16.StatusNotification(connector_id=0, error_code="NoError", status="Available"), suppress=False
        )
        assert loop.time() - started >= 0.05


async def test_reconnect_replaces_connection_and_stop_closes_stations() -> None:
    csms = CsmsEmulator()
    await csms.start()
    try:
        async with station(csms.url, "CP1", "ocpp1.6") as old, station(csms.url, "CP1", "ocpp2.1") as new:
            await old.ws.wait_closed()
            assert old.ws.close_code == 1000 and old.ws.close_reason == "replaced by a new connection"
            await csms.wait_connected("CP1")
            assert csms.protocol_of("CP1") == "ocpp2.1"
            assert (await new.cp.call(boot_request("ocpp2.1"), suppress=False)).status == "Accepted"
            await csms.stop()
            await new.ws.wait_closed()
            assert new.ws.close_code == 1001
    finally:
        await csms.stop()
    assert [e.kind for e in csms.events] == ["connected", "connected", "disconnected", "disconnected"]
    assert csms.station("CP1").connect_count == 2 and not csms.station("CP1").connected


async def test_max_frames_keeps_absolute_indexes() -> None:
    async with CsmsEmulator(max_frames=2) as csms, station(csms.url, "CP1", "ocpp1.6") as st:
        for _ in range(3):
            await st.cp.call(call16.Heartbeat(), suppress=False)
        assert [f.index for f in csms.frames] == [4, 5] and csms.mark() == 5
        waiter = asyncio.create_task(csms.wait_for("CP1", "Heartbeat", after=csms.mark()))
        await st.cp.call(call16.Heartbeat(), suppress=False)
        assert (await waiter).index == 6
        assert (await csms.wait_for("CP1", "Heartbeat")).index == 6  # older ones were dropped


async def test_override_may_call_the_station_before_answering() -> None:
    csms = CsmsEmulator()

    async def boot(station_id: str, payload: dict[str, Any]) -> None:
        config = await csms.call(station_id, "GetConfiguration", {"key": ["HeartbeatInterval"]})
        csms.behaviour.boot_interval = int(config["configurationKey"][0]["value"]) // 2
        # None: the default BootNotification answer, now with the new interval

    csms.behaviour.handlers["BootNotification"] = boot
    async with csms, station(csms.url, "CP1", "ocpp1.6") as st:
        assert (await st.cp.call(boot_request("ocpp1.6"), suppress=False)).interval == 150
        assert [(f.direction, f.message_type, f.action) for f in csms.frames] == [
            ("rx", 2, "BootNotification"),
            ("tx", 2, "GetConfiguration"),
            ("rx", 3, "GetConfiguration"),
            ("tx", 3, "BootNotification"),
        ]


async def test_restart_on_same_port_lets_the_station_reconnect() -> None:
    csms = CsmsEmulator()
    async with csms, station(csms.url, "CP1", "ocpp2.0.1"):
        await csms.wait_connected("CP1")
    url = csms.url
    async with csms, station(url, "CP1", "ocpp2.0.1") as st:
        assert csms.url == url
        assert (await st.cp.call(boot_request("ocpp2.0.1"), suppress=False)).status == "Accepted"
        assert csms.station("CP1").connect_count == 2


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl CLI to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_with_basic_auth_security_profile_2(tls_cert: tuple[Path, Path]) -> None:
    cert, key = tls_cert
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    auth: dict[str, Any] = {"additional_headers": {"Authorization": build_authorization_basic("CP1", "pw")}}
    async with CsmsEmulator(basic_auth={"CP1": "pw"}, ssl_context=server_ctx) as csms:
        assert csms.url.startswith("wss://127.0.0.1:")
        async with station(csms.url, "CP1", "ocpp2.1", ssl=client_ctx, **auth) as st:
            assert (await st.cp.call(boot_request("ocpp2.1"), suppress=False)).status == "Accepted"
