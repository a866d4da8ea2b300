"""The OCPP 1.6J adapter against a CSMS built on the ``ocpp`` library, over an in-memory connection.

Both ends use the library's real framing and schema validation: every CALL the station sends is validated by the
CSMS side (an invalid one comes back as a CALLERROR and fails the test), every answer the station gives is validated
by the CSMS's ``call()``. The station runs in virtual time (VirtualClock) with an emulated direct-DC car;
:meth:`Rig.run` plays the session driver's part (tick the station, dispatch its actions one at a time).

Tests are named after the OCPP 1.6 CTT charge-point test cases (docs/reference/ocpp16_cs_testcases.tsv) whose
behaviour they check.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint as LibChargePoint
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from chargepoint.clock import VirtualClock, parse_iso
from chargepoint.ocpp.base import StationIdentity
from chargepoint.ocpp.v16 import TransactionMessageFailed, V16Adapter, format_value, v16_state
from chargepoint.station.actions import (
    MeterValuesReport,
    RebootRequested,
    StatusChanged,
    TransactionEnded,
    TransactionUpdated,
    Unlocked,
)
from chargepoint.station.auth import Authorizer, AuthPolicy
from chargepoint.station.core import Station
from chargepoint.station.settings import StationSettings, TxPoint
from chargepoint.station.types import (
    ConnectorStatus,
    FaultInfo,
    IdToken,
    Measurand,
    MeterSample,
    ReadingContext,
    ResetKind,
    SampledValue,
    StopReason,
    TriggerReason,
)
from hil.emulators.direct_dc import DirectDcPort

T0 = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)
CSMS_TIME = "2026-03-01T09:59:58.500Z"
UNITS = {m.value: u for m, u in {
    Measurand.ENERGY_IMPORT_REGISTER: "Wh", Measurand.ENERGY_EXPORT_REGISTER: "Wh", Measurand.POWER_IMPORT: "W",
    Measurand.POWER_EXPORT: "W", Measurand.CURRENT_IMPORT: "A", Measurand.CURRENT_EXPORT: "A",
    Measurand.VOLTAGE: "V", Measurand.SOC: "Percent"}.items()}


# ---------------------------------------------------------------------------------------------------- test rig
class Wire:
    """Every frame on the in-memory connection, in order: (sender, parsed frame or the raw text if not JSON)."""

    def __init__(self) -> None:
        self.frames: list[tuple[str, Any]] = []
        self._changed = asyncio.Event()

    def record(self, sender: str, raw: str) -> None:
        try:
            msg: Any = json.loads(raw)
        except ValueError:
            msg = raw
        self.frames.append((sender, msg))
        self._changed.set()

    async def wait_for(self, pred: Callable[[str, Any], bool], since: int = 0, timeout: float = 2.0) -> Any:
        async with asyncio.timeout(timeout):
            seen = since
            while True:
                for sender, msg in self.frames[seen:]:
                    if pred(sender, msg):
                        return msg
                seen = len(self.frames)
                self._changed.clear()
                await self._changed.wait()


class Link:
    """One end of the in-memory connection: what the ``ocpp`` library needs (async recv/send)."""

    def __init__(self, name: str, wire: Wire, inbox: asyncio.Queue[str], peer: asyncio.Queue[str]) -> None:
        self.name, self.wire, self.inbox, self.peer = name, wire, inbox, peer

    async def recv(self) -> str:
        return await self.inbox.get()

    async def send(self, message: str) -> None:
        self.wire.record(self.name, message)
        self.peer.put_nowait(message)


class Csms(LibChargePoint):
    """A scriptable CSMS. Answers every station CALL; tests tune the answers."""

    def __init__(self, connection: Link) -> None:
        super().__init__("CSMS", connection, response_timeout=2)
        self.boot_status = "Accepted"
        self.boot_interval = 300
        self.tag_status: dict[str, str] = {}  # Authorize answers (default Accepted)
        self.start_status: dict[str, str] = {}  # StartTransaction idTagInfo answers (default Accepted)
        self.fail: set[str] = set()  # actions answered with a CALLERROR
        self.hold: dict[str, asyncio.Event] = {}  # actions answered only once the event is set
        self.issued: dict[int, str] = {}  # transactionId -> idTag
        self._tx_ids = itertools.count(1001)

    async def _gate(self, action: str) -> None:
        if action in self.fail:
            raise RuntimeError(f"{action} is set to fail")  # the library answers InternalError
        if action in self.hold:
            await self.hold[action].wait()

    @on(Action.boot_notification)
    async def on_boot_notification(self, **_: Any) -> call_result.BootNotification:
        await self._gate("BootNotification")
        return call_result.BootNotification(current_time=CSMS_TIME, interval=self.boot_interval,
                                            status=self.boot_status)

    @on(Action.heartbeat)
    async def on_heartbeat(self) -> call_result.Heartbeat:
        await self._gate("Heartbeat")
        return call_result.Heartbeat(current_time=CSMS_TIME)

    @on(Action.status_notification)
    async def on_status_notification(self, **_: Any) -> call_result.StatusNotification:
        await self._gate("StatusNotification")
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str) -> call_result.Authorize:
        await self._gate("Authorize")
        return call_result.Authorize(id_tag_info={"status": self.tag_status.get(id_tag, "Accepted")})

    @on(Action.start_transaction)
    async def on_start_transaction(self, id_tag: str, **_: Any) -> call_result.StartTransaction:
        await self._gate("StartTransaction")
        tx = next(self._tx_ids)
        self.issued[tx] = id_tag
        return call_result.StartTransaction(transaction_id=tx,
                                            id_tag_info={"status": self.start_status.get(id_tag, "Accepted")})

    @on(Action.stop_transaction)
    async def on_stop_transaction(self, id_tag: str | None = None, **_: Any) -> call_result.StopTransaction:
        await self._gate("StopTransaction")
        return call_result.StopTransaction(id_tag_info={"status": "Accepted"} if id_tag else None)

    @on(Action.meter_values)
    async def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        await self._gate("MeterValues")
        return call_result.MeterValues()


@dataclass
class FakeHooks:
    """The session driver's side of the adapter contract, recording what the adapter asks for."""

    registration_status: str = "Accepted"
    reboots: list[ResetKind] = field(default_factory=list)
    boots: int = 0
    heartbeats: int = 0
    intervals: list[int] = field(default_factory=list)

    def request_reboot(self, kind: ResetKind) -> None:
        self.reboots.append(kind)

    def trigger_boot(self) -> None:
        self.boots += 1

    def trigger_heartbeat(self) -> None:
        self.heartbeats += 1

    def set_heartbeat_interval(self, seconds: int) -> None:
        self.intervals.append(seconds)

    def note_time(self, current_time: datetime) -> None:
        pass


class Rig:
    def __init__(self, settings: StationSettings | None = None, policy: AuthPolicy | None = None, evses: int = 1,
                 registration: str = "Accepted", response_timeout: float = 2.0,
                 station: Station | None = None, clock: VirtualClock | None = None) -> None:
        self.clock = clock or VirtualClock(start=T0)
        if station is None:
            ports = {i: DirectDcPort() for i in range(1, evses + 1)}
            station = Station({i: [p] for i, p in ports.items()}, self.clock, settings,
                              Authorizer(policy or AuthPolicy()))
            station.set_online(True)
            station.tick()
            station.drain()  # the session reports status only after registration; tests trigger it
        self.station = station
        self.ports: dict[int, DirectDcPort] = {
            e.id: e.connector.port for e in station.evses.values()  # type: ignore[misc]
        }
        self.hooks = FakeHooks(registration)
        self.wire = Wire()
        to_cs: asyncio.Queue[str] = asyncio.Queue()
        to_csms: asyncio.Queue[str] = asyncio.Queue()
        self.to_cs = to_cs
        self.adapter = V16Adapter("CP-1", Link("cs", self.wire, to_cs, to_csms), self.station, self.hooks,
                                  StationIdentity(), response_timeout=response_timeout)
        self.csms = Csms(Link("csms", self.wire, to_csms, to_cs))
        self.tasks = [asyncio.create_task(self.adapter.start()), asyncio.create_task(self.csms.start())]

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t

    # -------------------------------------------------------------- the session driver's part
    async def pump(self) -> None:
        """Dispatch whatever the station has produced, one CALL at a time, follow-ups included."""
        while actions := self.station.drain():
            for a in actions:
                await self.adapter.dispatch(a)

    async def run(self, seconds: float, dt: float = 0.5) -> None:
        for _ in range(round(seconds / dt)):
            self.clock.advance(dt)
            for a in self.station.tick():
                await self.adapter.dispatch(a)
            await self.pump()

    # -------------------------------------------------------------- the CSMS's part
    async def call(self, payload: Any) -> Any:
        """A CSMS CALL; the station's answer is schema-validated by the library and returned as a dataclass."""
        return await self.csms.call(payload, suppress=False)

    async def raw(self, frame: str | list[Any], reply_id: str) -> list[Any]:
        """Send a raw frame to the station and return its answer (CALLRESULT or CALLERROR) with ``reply_id``."""
        text = frame if isinstance(frame, str) else json.dumps(frame)
        mark = len(self.wire.frames)
        self.wire.record("csms", text)
        self.to_cs.put_nowait(text)
        reply: list[Any] = await self.wire.wait_for(
            lambda s, m: s == "cs" and isinstance(m, list) and m[0] in (3, 4) and m[1] == reply_id, since=mark)
        await asyncio.sleep(0)  # let the CSMS object receive it, then drop it: nobody is waiting for it
        while not self.csms._response_queue.empty():
            self.csms._response_queue.get_nowait()
        return reply

    # -------------------------------------------------------------- what went over the wire
    def calls(self, action: str, since: int = 0) -> list[dict[str, Any]]:
        """Payloads of the CALLs the station sent with this action."""
        return [m[3] for s, m in self.wire.frames[since:]
                if s == "cs" and isinstance(m, list) and m[0] == 2 and m[2] == action]

    def actions(self, since: int = 0) -> list[str]:
        return [m[2] for s, m in self.wire.frames[since:] if s == "cs" and isinstance(m, list) and m[0] == 2]

    def statuses(self, connector_id: int, since: int = 0) -> list[str]:
        return [p["status"] for p in self.calls("StatusNotification", since) if p["connectorId"] == connector_id]

    def mark(self) -> int:
        return len(self.wire.frames)

    async def wait_call(self, action: str, since: int = 0, timeout: float = 2.0) -> dict[str, Any]:
        msg = await self.wire.wait_for(lambda s, m: s == "cs" and isinstance(m, list) and m[0] == 2
                                       and m[2] == action, since=since, timeout=timeout)
        payload: dict[str, Any] = msg[3]
        return payload

    # -------------------------------------------------------------- scenarios
    async def remote_session(self, tag: str = "TAG1", connector_id: int = 1) -> int:
        """Plug in, RemoteStartTransaction, run until Charging; return the CSMS's transactionId."""
        self.ports[connector_id].plug_in()
        await self.run(1)
        res = await self.call(call.RemoteStartTransaction(id_tag=tag, connector_id=connector_id))
        assert res.status == "Accepted"
        await self.pump()
        await self.run(6)
        assert self.statuses(connector_id)[-1] == "Charging"
        return max(self.csms.issued)


@pytest.fixture
async def make_rig() -> AsyncIterator[Callable[..., Rig]]:
    rigs: list[Rig] = []

    def make(**kwargs: Any) -> Rig:
        r = Rig(**kwargs)
        rigs.append(r)
        return r

    yield make
    for r in rigs:
        await r.close()


@pytest.fixture
async def rig(make_rig: Callable[..., Rig]) -> Rig:
    return make_rig()


def config_of(res: Any) -> dict[str, tuple[bool, str | None]]:
    return {e["key"]: (e["readonly"], e.get("value")) for e in res.configuration_key or []}


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


# ---------------------------------------------------------------------------------------------------- 02/03 sessions
async def test_TC_003_CS_regular_charging_session_plugin_first(rig: Rig) -> None:
    rig.ports[1].plug_in()
    await rig.run(1)
    assert rig.statuses(1) == ["Preparing"]
    rig.station.present_token(1, IdToken("TAG1"))
    await rig.pump()
    assert rig.calls("Authorize") == [{"idTag": "TAG1"}]
    await rig.run(5)
    start = rig.calls("StartTransaction")
    assert len(start) == 1
    assert start[0]["connectorId"] == 1 and start[0]["idTag"] == "TAG1" and start[0]["meterStart"] == 0
    assert "reservationId" not in start[0]
    assert parse_iso(start[0]["timestamp"]) > T0
    assert rig.statuses(1) == ["Preparing", "Charging"]
    tx_id = max(rig.csms.issued)
    assert v16_state(rig.station).tx_ids == {rig.station.transactions()[0].tx_id: tx_id}
    await rig.run(60)
    periodic = rig.calls("MeterValues")
    assert periodic and all(m["transactionId"] == tx_id and m["connectorId"] == 1 for m in periodic)
    rig.ports[1].unplug()
    await rig.run(1)
    stop = rig.calls("StopTransaction")
    assert len(stop) == 1
    assert stop[0]["transactionId"] == tx_id and stop[0]["reason"] == "EVDisconnected" and stop[0]["idTag"] == "TAG1"
    assert isinstance(stop[0]["meterStop"], int) and stop[0]["meterStop"] > 0
    end_values = stop[0]["transactionData"][0]["sampledValue"]
    assert {v["context"] for v in end_values} == {"Transaction.End"}
    register = next(v for v in end_values if v["measurand"] == "Energy.Active.Import.Register")
    assert round(float(register["value"])) == stop[0]["meterStop"]
    assert rig.statuses(1)[-1] == "Available"
    assert v16_state(rig.station).tx_ids == {}


async def test_TC_004_1_CS_regular_charging_session_identification_first(rig: Rig) -> None:
    rig.station.present_token(1, IdToken("TAG1"))
    await rig.pump()
    assert rig.calls("Authorize") == [{"idTag": "TAG1"}]
    await rig.run(1)
    assert rig.statuses(1) == ["Preparing"]
    assert rig.calls("StartTransaction") == []
    rig.ports[1].plug_in()
    await rig.run(5)
    assert [s["idTag"] for s in rig.calls("StartTransaction")] == ["TAG1"]
    assert rig.statuses(1) == ["Preparing", "Charging"]


async def test_TC_004_2_CS_identification_first_connection_timeout(rig: Rig) -> None:
    assert (await rig.call(call.ChangeConfiguration(key="ConnectionTimeOut", value="30"))).status == "Accepted"
    rig.station.present_token(1, IdToken("TAG1"))
    await rig.pump()
    await rig.run(29)
    assert rig.statuses(1) == ["Preparing"]
    await rig.run(2)
    assert rig.statuses(1) == ["Preparing", "Available"]
    rig.ports[1].plug_in()
    await rig.run(3)
    assert rig.calls("StartTransaction") == []


async def test_TC_005_1_CS_ev_side_disconnected_stops_and_unlocks(rig: Rig) -> None:
    res = await rig.call(call.GetConfiguration(key=["StopTransactionOnEVSideDisconnect",
                                                    "UnlockConnectorOnEVSideDisconnect"]))
    assert config_of(res) == {"StopTransactionOnEVSideDisconnect": (False, "true"),
                              "UnlockConnectorOnEVSideDisconnect": (False, "true")}
    tx_id = await rig.remote_session()
    assert rig.ports[1]._locked
    rig.ports[1].unplug()
    await rig.run(1)
    assert [(s["transactionId"], s["reason"]) for s in rig.calls("StopTransaction")] == [(tx_id, "EVDisconnected")]
    assert not rig.ports[1]._locked
    assert rig.statuses(1)[-1] == "Available"


async def test_TC_005_3_CS_ev_side_disconnected_without_stop(rig: Rig) -> None:
    for key in ("StopTransactionOnEVSideDisconnect", "UnlockConnectorOnEVSideDisconnect"):
        assert (await rig.call(call.ChangeConfiguration(key=key, value="false"))).status == "Accepted"
    tx_id = await rig.remote_session()
    rig.ports[1].unplug()
    await rig.run(2)
    assert rig.calls("StopTransaction") == []
    assert rig.statuses(1)[-1] in ("SuspendedEV", "SuspendedEVSE")
    assert (await rig.call(call.RemoteStopTransaction(transaction_id=tx_id))).status == "Accepted"
    await rig.pump()
    assert [(s["transactionId"], s["reason"]) for s in rig.calls("StopTransaction")] == [(tx_id, "Remote")]


# ---------------------------------------------------------------------------------------------------- 04 cache
async def test_TC_007_1_CS_regular_start_with_cached_id(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(policy=AuthPolicy(local_pre_authorize=True))
    rig.station.present_token(1, IdToken("TAG1"))  # the CSMS's answer goes into the cache
    await rig.pump()
    await rig.run(rig.station.settings.connection_timeout_s + 1)
    assert len(rig.station.auth.cache) == 1
    mark = rig.mark()
    rig.ports[1].plug_in()
    rig.station.present_token(1, IdToken("TAG1"))
    await rig.run(5)
    assert rig.calls("Authorize", mark) == []
    assert [s["idTag"] for s in rig.calls("StartTransaction", mark)] == ["TAG1"]


async def test_TC_007_2_CS_remote_start_with_cached_id(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(policy=AuthPolicy(local_pre_authorize=True))
    rig.station.present_token(1, IdToken("TAG1"))
    await rig.pump()
    await rig.run(rig.station.settings.connection_timeout_s + 1)
    mark = rig.mark()
    rig.ports[1].plug_in()
    assert (await rig.call(call.RemoteStartTransaction(id_tag="TAG1", connector_id=1))).status == "Accepted"
    await rig.run(5)
    assert rig.calls("Authorize", mark) == []
    assert [s["idTag"] for s in rig.calls("StartTransaction", mark)] == ["TAG1"]


async def test_TC_061_1_CS_clear_cache_then_local_start_asks_the_csms_again(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(policy=AuthPolicy(local_pre_authorize=True))
    rig.station.present_token(1, IdToken("TAG1"))
    await rig.pump()
    await rig.run(rig.station.settings.connection_timeout_s + 1)
    assert (await rig.call(call.ClearCache())).status == "Accepted"
    mark = rig.mark()
    rig.ports[1].plug_in()
    rig.station.present_token(1, IdToken("TAG1"))
    await rig.run(5)
    assert rig.calls("Authorize", mark) == [{"idTag": "TAG1"}]
    assert len(rig.calls("StartTransaction", mark)) == 1


async def test_TC_061_2_CS_clear_cache_remote(rig: Rig) -> None:
    rig.station.present_token(1, IdToken("TAG1"))
    await rig.pump()
    assert len(rig.station.auth.cache) == 1
    assert (await rig.call(call.ClearCache())).status == "Accepted"
    assert len(rig.station.auth.cache) == 0


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


# ---------------------------------------------------------------------------------------------------- 08 config
async def test_TC_019_CS_retrieve_configuration(rig: Rig) -> None:
    res = await rig.call(call.GetConfiguration(key=["SupportedFeatureProfiles"]))
    assert config_of(res) == {"SupportedFeatureProfiles": (True, "Core,LocalAuthListManagement,RemoteTrigger")}
    assert res.unknown_key is None
    everything = config_of(await rig.call(call.GetConfiguration()))
    assert config_of(await rig.call(call.GetConfiguration(key=[]))) == everything
    required_core = {
        "AuthorizeRemoteTxRequests": "bool", "ClockAlignedDataInterval": "int", "ConnectionTimeOut": "int",
        "ConnectorPhaseRotation": "csl", "GetConfigurationMaxKeys": "int", "HeartbeatInterval": "int",
        "LocalAuthorizeOffline": "bool", "LocalPreAuthorize": "bool", "MeterValuesAlignedData": "csl",
        "MeterValuesSampledData": "csl", "MeterValueSampleInterval": "int", "NumberOfConnectors": "int",
        "ResetRetries": "int", "StopTransactionOnEVSideDisconnect": "bool", "StopTransactionOnInvalidId": "bool",
        "StopTxnAlignedData": "csl", "StopTxnSampledData": "csl", "SupportedFeatureProfiles": "csl",
        "TransactionMessageAttempts": "int", "TransactionMessageRetryInterval": "int",
        "UnlockConnectorOnEVSideDisconnect": "bool",
        "LocalAuthListEnabled": "bool", "LocalAuthListMaxLength": "int", "SendLocalListMaxLength": "int",
    }
    for key, kind in required_core.items():
        assert key in everything, key
        value = everything[key][1]
        assert value is not None
        if kind == "bool":
            assert value in ("true", "false"), key
        elif kind == "int":
            assert value.isdigit(), key
    max_keys = int(everything["GetConfigurationMaxKeys"][1] or 0)
    assert max_keys >= len(everything)
    assert everything["NumberOfConnectors"] == (True, "1")
    # all keys at once, by name
    res = await rig.call(call.GetConfiguration(key=list(everything)))
    assert config_of(res) == everything


async def test_TC_021_CS_change_set_configuration(rig: Rig) -> None:
    original = int(config_of(await rig.call(call.GetConfiguration(key=["MeterValueSampleInterval"])))[
        "MeterValueSampleInterval"][1] or 0)
    res = await rig.call(call.ChangeConfiguration(key="MeterValueSampleInterval", value=str(original + 10)))
    assert res.status == "Accepted"
    got = config_of(await rig.call(call.GetConfiguration(key=["MeterValueSampleInterval"])))
    assert got == {"MeterValueSampleInterval": (False, str(original + 10))}
    assert rig.station.settings.sample_interval_s == original + 10
    res = await rig.call(call.ChangeConfiguration(key="MeterValueSampleInterval", value=str(original)))
    assert res.status == "Accepted" and rig.station.settings.sample_interval_s == original


async def test_TC_040_1_CS_configuration_key_not_supported(rig: Rig) -> None:
    before = config_of(await rig.call(call.GetConfiguration()))
    res = await rig.call(call.ChangeConfiguration(key="UnknownConfigKey", value="1"))
    assert res.status == "NotSupported"
    res = await rig.call(call.GetConfiguration(key=["UnknownConfigKey", "HeartbeatInterval", "BlinkRepeat"]))
    assert res.unknown_key == ["UnknownConfigKey", "BlinkRepeat"]
    assert list(config_of(res)) == ["HeartbeatInterval"]
    assert config_of(await rig.call(call.GetConfiguration())) == before


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", ""])
async def test_TC_040_2_CS_configuration_key_invalid_value(rig: Rig, value: str) -> None:
    before = rig.station.settings.sample_interval_s
    res = await rig.call(call.ChangeConfiguration(key="MeterValueSampleInterval", value=value))
    assert res.status == "Rejected"
    assert rig.station.settings.sample_interval_s == before


async def test_change_configuration_read_only_key_rejected(rig: Rig) -> None:
    for key, value in (("NumberOfConnectors", "4"), ("SupportedFeatureProfiles", "Core"),
                       ("ChargeProfileMaxStackLevel", "3"), ("MinimumStatusDuration", "10")):
        assert (await rig.call(call.ChangeConfiguration(key=key, value=value))).status == "Rejected", key
    assert config_of(await rig.call(call.GetConfiguration(key=["NumberOfConnectors"]))) == {
        "NumberOfConnectors": (True, "1")}


async def test_change_configuration_reboot_required_key(rig: Rig) -> None:
    res = await rig.call(call.ChangeConfiguration(key="WebSocketPingInterval", value="60"))
    assert res.status == "RebootRequired"
    assert rig.station.settings.web_socket_ping_interval_s == 60


async def test_change_configuration_heartbeat_interval_goes_to_the_session(rig: Rig) -> None:
    assert (await rig.call(call.ChangeConfiguration(key="HeartbeatInterval", value="120"))).status == "Accepted"
    assert rig.hooks.intervals == [120]
    assert rig.station.settings.heartbeat_interval_s == 120
    assert (await rig.call(call.ChangeConfiguration(key="HeartbeatInterval", value="0"))).status == "Rejected"
    assert rig.hooks.intervals == [120]


async def test_change_configuration_keys_are_case_insensitive(rig: Rig) -> None:
    res = await rig.call(call.ChangeConfiguration(key="localpreauthorize", value="TRUE"))
    assert res.status == "Accepted" and rig.station.auth.policy.local_pre_authorize is True
    res = await rig.call(call.GetConfiguration(key=["LOCALPREAUTHORIZE"]))
    assert config_of(res) == {"LocalPreAuthorize": (False, "true")}


async def test_measurand_lists_validated_with_unsupported_measurand_rejected(rig: Rig) -> None:
    before = rig.station.settings.sampled_measurands
    res = await rig.call(call.ChangeConfiguration(key="MeterValuesSampledData",
                                                  value="Energy.Active.Import.Register,Temperature"))
    assert res.status == "Rejected"
    assert rig.station.settings.sampled_measurands == before
    res = await rig.call(call.ChangeConfiguration(key="MeterValuesSampledData",
                                                  value="Energy.Active.Import.Register, Power.Active.Export,SoC"))
    assert res.status == "Accepted"
    assert rig.station.settings.sampled_measurands == (
        Measurand.ENERGY_IMPORT_REGISTER, Measurand.POWER_EXPORT, Measurand.SOC)
    assert config_of(await rig.call(call.GetConfiguration(key=["MeterValuesSampledData"]))) == {
        "MeterValuesSampledData": (False, "Energy.Active.Import.Register,Power.Active.Export,SoC")}


# ---------------------------------------------------------------------------------------------------- 09 meter values
async def test_TC_070_CS_sampled_meter_values(rig: Rig) -> None:
    for key, value in (("MeterValueSampleInterval", "15"), ("ClockAlignedDataInterval", "0"),
                       ("MeterValuesSampledData", "Energy.Active.Import.Register,Power.Active.Import,Current.Import,"
                                                  "Voltage,SoC")):
        assert (await rig.call(call.ChangeConfiguration(key=key, value=value))).status == "Accepted"
    tx_id = await rig.remote_session()
    mark = rig.mark()
    await rig.run(45)
    values = rig.calls("MeterValues", mark)
    assert len(values) == 3
    stamps = [parse_iso(m["meterValue"][0]["timestamp"]) for m in values]
    assert all(b - a == timedelta(seconds=15) for a, b in itertools.pairwise(stamps))
    for m in values:
        assert m["transactionId"] == tx_id and m["connectorId"] == 1
        sampled = m["meterValue"][0]["sampledValue"]
        assert [v["measurand"] for v in sampled] == [
            "Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage", "SoC"]
        for v in sampled:
            assert v["context"] == "Sample.Periodic" and v["format"] == "Raw"
            assert v["unit"] == UNITS[v["measurand"]]
            assert v["location"] == ("EV" if v["measurand"] == "SoC" else "Outlet")
            float(v["value"])
        assert float(sampled[1]["value"]) > 0  # charging


async def test_TC_071_CS_clock_aligned_meter_values(rig: Rig) -> None:
    for key, value in (("MeterValueSampleInterval", "0"), ("ClockAlignedDataInterval", "15"),
                       ("MeterValuesAlignedData", "Energy.Active.Import.Register")):
        assert (await rig.call(call.ChangeConfiguration(key=key, value=value))).status == "Accepted"
    tx_id = await rig.remote_session()
    mark = rig.mark()
    await rig.run(45)
    values = rig.calls("MeterValues", mark)
    assert len(values) == 3
    for m in values:
        assert m["transactionId"] == tx_id
        stamp = parse_iso(m["meterValue"][0]["timestamp"])
        assert stamp.second % 15 == 0 and stamp.microsecond == 0
        assert [(v["measurand"], v["context"], v["unit"]) for v in m["meterValue"][0]["sampledValue"]] == [
            ("Energy.Active.Import.Register", "Sample.Clock", "Wh")]


async def test_clock_aligned_meter_values_while_idle_carry_no_transaction(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(settings=StationSettings(aligned_interval_s=15, aligned_data_send_during_idle=True))
    await rig.run(16)
    values = rig.calls("MeterValues")
    assert len(values) == 1 and "transactionId" not in values[0] and values[0]["connectorId"] == 1


# ---------------------------------------------------------------------------------------------------- 10-12 non-happy
async def test_TC_023_4_CS_start_local_session_authorize_invalid(rig: Rig) -> None:
    rig.csms.tag_status["BAD"] = "Invalid"
    rig.ports[1].plug_in()
    await rig.run(1)
    rig.station.present_token(1, IdToken("BAD"))
    await rig.pump()
    await rig.run(20)
    assert rig.calls("Authorize") == [{"idTag": "BAD"}]
    assert rig.calls("StartTransaction") == []
    assert rig.station.reading(1).current_a == 0


async def test_TC_023_5_CS_start_remote_session_authorize_invalid(rig: Rig) -> None:
    rig.csms.tag_status["BAD"] = "Blocked"
    rig.ports[1].plug_in()
    await rig.run(1)
    assert (await rig.call(call.RemoteStartTransaction(id_tag="BAD", connector_id=1))).status == "Accepted"
    await rig.pump()
    await rig.run(20)
    assert rig.calls("Authorize") == [{"idTag": "BAD"}]
    assert rig.calls("StartTransaction") == []


async def test_TC_026_CS_remote_start_rejected_while_a_transaction_runs(rig: Rig) -> None:
    await rig.remote_session()
    mark = rig.mark()
    assert (await rig.call(call.RemoteStartTransaction(id_tag="TAG2", connector_id=1))).status == "Rejected"
    await rig.pump()
    assert rig.actions(mark) == []


async def test_TC_027_CS_remote_start_connector_id_0(rig: Rig) -> None:
    rig.ports[1].plug_in()
    await rig.run(1)
    mark = rig.mark()
    assert (await rig.call(call.RemoteStartTransaction(id_tag="TAG1", connector_id=0))).status == "Rejected"
    assert (await rig.call(call.RemoteStartTransaction(id_tag="TAG1", connector_id=7))).status == "Rejected"
    await rig.run(3)
    assert rig.actions(mark) == []
    assert rig.station.evses[1].pending is None


async def test_TC_028_CS_remote_stop_transaction_rejected(rig: Rig) -> None:
    tx_id = await rig.remote_session()
    mark = rig.mark()
    assert (await rig.call(call.RemoteStopTransaction(transaction_id=tx_id + 1))).status == "Rejected"
    await rig.pump()
    assert rig.calls("StopTransaction", mark) == []
    assert rig.station.transactions()


async def test_start_transaction_idtag_not_accepted_stops_with_deauthorized(rig: Rig) -> None:
    rig.csms.start_status["TAG1"] = "Invalid"
    rig.ports[1].plug_in()
    rig.station.present_token(1, IdToken("TAG1"))
    await rig.pump()
    await rig.run(5)
    tx_id = max(rig.csms.issued)
    assert [(s["transactionId"], s["reason"]) for s in rig.calls("StopTransaction")] == [(tx_id, "DeAuthorized")]
    assert rig.station.auth.cache.get("TAG1", rig.clock.now()) is not None  # the answer was cached


async def test_authorize_callerror_leaves_the_decision_to_local_policy(rig: Rig) -> None:
    rig.csms.fail.add("Authorize")
    rig.ports[1].plug_in()
    rig.station.present_token(1, IdToken("TAG1"))
    await rig.pump()
    await rig.run(5)
    assert rig.calls("Authorize") == [{"idTag": "TAG1"}]
    assert rig.calls("StartTransaction") == []  # unknown token, AllowOfflineTxForUnknownId false


async def test_authorize_time_out_uses_offline_rules(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(policy=AuthPolicy(allow_offline_tx_for_unknown_id=True), response_timeout=0.05)
    rig.csms.hold["Authorize"] = release = asyncio.Event()
    rig.ports[1].plug_in()
    rig.station.present_token(1, IdToken("TAG1"))
    await rig.pump()
    release.set()
    await rig.run(5)
    assert [s["idTag"] for s in rig.calls("StartTransaction")] == ["TAG1"]


async def test_transaction_message_callerror_is_retryable_and_the_retry_keeps_the_id(rig: Rig) -> None:
    rig.csms.fail.add("StartTransaction")
    rig.ports[1].plug_in()
    rig.station.present_token(1, IdToken("TAG1"))
    await rig.pump()
    for _ in range(20):
        rig.clock.advance(0.5)
        started = [a for a in rig.station.tick() if type(a).__name__ == "TransactionStarted"]
        if started:
            break
    assert started
    with pytest.raises(TransactionMessageFailed) as info:
        await rig.adapter.dispatch(started[0])
    assert isinstance(info.value, TimeoutError)  # the session driver retries TimeoutErrors
    assert v16_state(rig.station).tx_ids == {}
    rig.csms.fail.clear()
    await rig.adapter.dispatch(started[0])
    assert v16_state(rig.station).tx_ids == {started[0].tx_id: max(rig.csms.issued)}


async def test_transaction_ids_survive_a_reconnect(make_rig: Callable[..., Rig]) -> None:
    first = make_rig()
    tx_id = await first.remote_session()
    await first.close()
    second = make_rig(station=first.station, clock=first.clock)  # a new connection, a new adapter
    assert (await second.call(call.RemoteStopTransaction(transaction_id=tx_id))).status == "Accepted"
    await second.pump()
    assert [(s["transactionId"], s["reason"]) for s in second.calls("StopTransaction")] == [(tx_id, "Remote")]


# ---------------------------------------------------------------------------------------------------- 18 local list
async def test_TC_008_1_CS_regular_start_with_id_in_local_list(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(policy=AuthPolicy(local_pre_authorize=True))
    res = await rig.call(call.SendLocalList(list_version=1, update_type="Full", local_authorization_list=[
        {"idTag": "LOCAL1", "idTagInfo": {"status": "Accepted"}}]))
    assert res.status == "Accepted"
    rig.ports[1].plug_in()
    rig.station.present_token(1, IdToken("LOCAL1"))
    await rig.run(5)
    assert rig.calls("Authorize") == []
    assert [s["idTag"] for s in rig.calls("StartTransaction")] == ["LOCAL1"]


async def test_TC_008_2_CS_remote_start_with_id_in_local_list(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(policy=AuthPolicy(local_pre_authorize=True))
    res = await rig.call(call.SendLocalList(list_version=1, update_type="Full", local_authorization_list=[
        {"idTag": "LOCAL1", "idTagInfo": {"status": "Accepted"}}]))
    assert res.status == "Accepted"
    rig.ports[1].plug_in()
    assert (await rig.call(call.RemoteStartTransaction(id_tag="LOCAL1", connector_id=1))).status == "Accepted"
    await rig.run(5)
    assert rig.calls("Authorize") == []
    assert [s["idTag"] for s in rig.calls("StartTransaction")] == ["LOCAL1"]


async def test_TC_042_1_CS_get_local_list_version_not_supported(rig: Rig) -> None:
    assert (await rig.call(call.ChangeConfiguration(key="LocalAuthListEnabled", value="false"))).status == "Accepted"
    assert (await rig.call(call.GetLocalListVersion())).list_version == -1


async def test_TC_042_2_CS_get_local_list_version_empty(rig: Rig) -> None:
    assert (await rig.call(call.GetLocalListVersion())).list_version == 0
    res = await rig.call(call.SendLocalList(list_version=1, update_type="Full", local_authorization_list=[]))
    assert res.status == "Accepted"
    assert (await rig.call(call.GetLocalListVersion())).list_version == 0


async def test_TC_043_1_CS_send_local_list_not_supported(rig: Rig) -> None:
    assert (await rig.call(call.ChangeConfiguration(key="LocalAuthListEnabled", value="false"))).status == "Accepted"
    res = await rig.call(call.SendLocalList(list_version=1, update_type="Full", local_authorization_list=[
        {"idTag": "T1", "idTagInfo": {"status": "Accepted"}}]))
    assert res.status == "NotSupported"
    assert rig.station.auth.local_list.entries == {}


async def test_TC_043_2_CS_send_local_list_version_mismatch(rig: Rig) -> None:
    res = await rig.call(call.SendLocalList(list_version=5, update_type="Full", local_authorization_list=[
        {"idTag": "T1", "idTagInfo": {"status": "Accepted"}}]))
    assert res.status == "Accepted"
    for version in (5, 4):
        res = await rig.call(call.SendLocalList(list_version=version, update_type="Differential",
                                                local_authorization_list=[{"idTag": "T2",
                                                                           "idTagInfo": {"status": "Accepted"}}]))
        assert res.status == "VersionMismatch"
    assert (await rig.call(call.GetLocalListVersion())).list_version == 5
    assert set(rig.station.auth.local_list.entries or {}) == {"T1"}


async def test_TC_043_3_CS_send_local_list_failed(rig: Rig) -> None:
    # a full list must carry idTagInfo for every entry
    res = await rig.call(call.SendLocalList(list_version=1, update_type="Full", local_authorization_list=[
        {"idTag": "T1"}]))
    assert res.status == "Failed"
    # more entries than SendLocalListMaxLength
    rig.station.settings.send_local_list_max_length = 2
    entries = [{"idTag": f"T{i}", "idTagInfo": {"status": "Accepted"}} for i in range(3)]
    res = await rig.call(call.SendLocalList(list_version=1, update_type="Full", local_authorization_list=entries))
    assert res.status == "Failed"
    # an expiry date that is no date (the library's schema check does not look at formats)
    res = await rig.call(call.SendLocalList(list_version=1, update_type="Full", local_authorization_list=[
        {"idTag": "T1", "idTagInfo": {"status": "Accepted", "expiryDate": "tomorrow"}}]))
    assert res.status == "Failed"
    assert (await rig.call(call.GetLocalListVersion())).list_version == 0


async def test_TC_043_CS_send_local_list_full_and_differential(rig: Rig) -> None:
    res = await rig.call(call.SendLocalList(list_version=1, update_type="Full", local_authorization_list=[
        {"idTag": "T1", "idTagInfo": {"status": "Accepted", "expiryDate": "2027-01-01T00:00:00Z",
                                      "parentIdTag": "PARENT"}},
        {"idTag": "T2", "idTagInfo": {"status": "Blocked"}}]))
    assert res.status == "Accepted"
    assert (await rig.call(call.GetLocalListVersion())).list_version == 1
    t1 = rig.station.auth.local_list.get("T1")
    assert t1 is not None and t1.parent_id == "PARENT" and t1.expiry == datetime(2027, 1, 1, tzinfo=UTC)
    res = await rig.call(call.SendLocalList(list_version=2, update_type="Differential", local_authorization_list=[
        {"idTag": "T2"}, {"idTag": "T3", "idTagInfo": {"status": "Accepted"}}]))
    assert res.status == "Accepted"
    assert (await rig.call(call.GetLocalListVersion())).list_version == 2
    assert set(rig.station.auth.local_list.entries or {}) == {"T1", "T3"}


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


# ---------------------------------------------------------------------------------------------------- outbound mapping
async def test_fault_status_carries_the_error_code(rig: Rig) -> None:
    await rig.adapter.dispatch(StatusChanged(1, 1, ConnectorStatus.FAULTED, FaultInfo("GroundFailure", "leak")))
    await rig.adapter.dispatch(StatusChanged(1, 1, ConnectorStatus.FAULTED,
                                             FaultInfo("InsulationFailure", "x" * 80, "ISO-17")))
    notes = [n for n in rig.calls("StatusNotification") if n["connectorId"] == 1]
    assert notes[0]["errorCode"] == "GroundFailure" and notes[0]["info"] == "leak"
    assert notes[1]["errorCode"] == "OtherError" and notes[1]["vendorErrorCode"] == "ISO-17"
    assert len(notes[1]["info"]) == 50


async def test_emulated_fault_reports_faulted_and_stops_the_transaction(rig: Rig) -> None:
    tx_id = await rig.remote_session()
    mark = rig.mark()
    rig.ports[1].inject_fault("insulation fault")
    await rig.run(1)
    notes = [n for n in rig.calls("StatusNotification", mark) if n["connectorId"] == 1]
    assert notes[-1]["status"] == "Faulted" and notes[-1]["errorCode"] == "OtherError"
    assert [(s["transactionId"], s["reason"]) for s in rig.calls("StopTransaction", mark)] == [(tx_id, "Other")]


@pytest.mark.parametrize(("reason", "sent"), [
    (StopReason.EMERGENCY_STOP, "EmergencyStop"), (StopReason.LOCAL, "Local"), (StopReason.POWER_LOSS, "PowerLoss"),
    (StopReason.REBOOT, "Reboot"), (StopReason.DE_AUTHORIZED, "DeAuthorized"), (StopReason.STOPPED_BY_EV, "Other"),
    (StopReason.TIMEOUT, "Other"), (StopReason.IMMEDIATE_RESET, "Other"), (StopReason.SOC_LIMIT_REACHED, "Other"),
])
async def test_stop_reasons_map_to_1_6(rig: Rig, reason: StopReason, sent: str) -> None:
    v16_state(rig.station).tx_ids["local-1"] = 77
    when = T0 + timedelta(minutes=5)
    await rig.adapter.dispatch(TransactionEnded("local-1", 1, 1, IdToken("TAG1"), 1234.6, reason,
                                                TriggerReason.ABNORMAL_CONDITION, timestamp=when))
    stop = rig.calls("StopTransaction")[0]
    assert stop == {"meterStop": 1235, "timestamp": "2026-03-01T10:05:00.000Z", "transactionId": 77,
                    "reason": sent, "idTag": "TAG1"}


async def test_stop_transaction_is_stamped_with_the_time_it_ended_not_sent(rig: Rig) -> None:
    await rig.remote_session()
    rig.ports[1].unplug()
    rig.clock.advance(0.5)
    ended = [a for a in rig.station.tick() if isinstance(a, TransactionEnded)]
    assert len(ended) == 1
    rig.clock.advance(600)  # e.g. queued while offline
    await rig.adapter.dispatch(ended[0])
    stop = rig.calls("StopTransaction")[0]
    assert parse_iso(stop["timestamp"]) == rig.clock.now() - timedelta(seconds=600)


async def test_updates_without_samples_send_nothing_and_reports_without_transaction_have_no_id(rig: Rig) -> None:
    await rig.adapter.dispatch(TransactionUpdated("local-x", 1, 1, TriggerReason.CHARGING_STATE_CHANGED,
                                                  charging_state="SuspendedEV"))
    assert rig.actions() == []
    sample = MeterSample(T0, (SampledValue(Measurand.VOLTAGE, 401.25, ReadingContext.SAMPLE_CLOCK),))
    await rig.adapter.dispatch(MeterValuesReport(1, 1, None, (sample,), ReadingContext.SAMPLE_CLOCK))
    assert rig.calls("MeterValues") == [{"connectorId": 1, "meterValue": [{
        "timestamp": "2026-03-01T10:00:00.000Z",
        "sampledValue": [{"value": "401.25", "context": "Sample.Clock", "format": "Raw", "measurand": "Voltage",
                          "location": "Outlet", "unit": "V"}]}]}]
    # a sample without values makes no message
    await rig.adapter.dispatch(MeterValuesReport(1, 1, None, (MeterSample(T0, ()),), ReadingContext.TRIGGER))
    assert len(rig.calls("MeterValues")) == 1


async def test_reboot_requested_goes_to_the_session_and_unlocked_sends_nothing(rig: Rig) -> None:
    await rig.adapter.dispatch(RebootRequested(ResetKind.SOFT))
    await rig.adapter.dispatch(Unlocked(1, 1))
    assert rig.hooks.reboots == [ResetKind.SOFT]
    assert rig.actions() == []


async def test_transaction_started_before_authorization_waits_for_the_id_tag(make_rig: Callable[..., Rig]) -> None:
    # with a 2.x-style EVConnected start point the model starts a transaction at plug-in; 1.6 needs an idTag
    rig = make_rig(settings=StationSettings(tx_start_points=(TxPoint.EV_CONNECTED,)))
    rig.ports[1].plug_in()
    await rig.run(2)
    assert rig.calls("StartTransaction") == []
    assert len(v16_state(rig.station).deferred) == 1
    rig.station.present_token(1, IdToken("TAG1"))
    await rig.pump()
    await rig.run(5)
    assert [(s["idTag"], s["meterStart"]) for s in rig.calls("StartTransaction")] == [("TAG1", 0)]
    assert v16_state(rig.station).deferred == {}
    # unplugged before any token: no 1.6 transaction existed, so no StopTransaction either
    rig.ports[1].unplug()
    await rig.run(2)
    assert len(rig.calls("StopTransaction")) == 1
    mark = rig.mark()
    rig.ports[1].plug_in()
    await rig.run(2)
    rig.ports[1].unplug()
    await rig.run(2)
    assert rig.calls("StartTransaction", mark) == [] and rig.calls("StopTransaction", mark) == []
    assert v16_state(rig.station).deferred == {}


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

