"""Test rig for the OCPP 1.6J adapter tests (test_v16_adapter*.py, test_v16_smart.py): the adapter against a CSMS
built on the ``ocpp`` library, over an in-memory connection.

Both ends use the library's real framing and schema validation: every CALL the station sends is validated by the
CSMS side (an invalid one comes back as a CALLERROR and fails the test), every answer the station gives is validated
by the CSMS's ``call()``. The station runs in virtual time (VirtualClock) with an emulated direct-DC car;
:meth:`Rig.run` plays the session driver's part (tick the station, dispatch its actions one at a time).

``make_rig`` and ``rig`` are pytest fixtures: a test module imports them as ``from v16_rig import rig as rig``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint as LibChargePoint
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from chargepoint.clock import VirtualClock
from chargepoint.ocpp.base import StationIdentity
from chargepoint.ocpp.v16 import V16Adapter
from chargepoint.station.auth import Authorizer, AuthPolicy
from chargepoint.station.core import Station
from chargepoint.station.settings import StationSettings
from chargepoint.station.types import Measurand, ResetKind
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
