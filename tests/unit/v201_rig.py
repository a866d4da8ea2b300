"""Test rig for the OCPP 2.0.1 adapter: an in-memory connection pair, a CSMS built on ``ocpp.v201.ChargePoint``
(real framing and schema validation on both sides) and a station on a virtual clock with emulated DC ports.

The rig plays the session driver: :meth:`Rig.pump` advances virtual time, ticks the station and dispatches every
action it produces, awaiting each CALL's answer. Nothing sleeps; tests wait for frames with :meth:`Rig.wait_sent`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import ocpp.v201
from ocpp.routing import on
from ocpp.v201 import call, call_result

from chargepoint.clock import VirtualClock, iso
from chargepoint.ocpp.base import StationIdentity
from chargepoint.ocpp.device_model import DeviceModel
from chargepoint.ocpp.v201 import V201Adapter
from chargepoint.station.auth import Authorizer, AuthPolicy
from chargepoint.station.core import Station
from chargepoint.station.settings import StationSettings
from chargepoint.station.types import AuthInfo, AuthStatus, IdToken, ResetKind
from hil.emulators.direct_dc import DirectDcPort

CS_TO_CSMS = ">"
CSMS_TO_CS = "<"


@dataclass
class Frame:
    direction: str  # ">" station -> CSMS, "<" CSMS -> station
    text: str

    @property
    def msg(self) -> Any:
        try:
            return json.loads(self.text)
        except ValueError:
            return None

    @property
    def is_call(self) -> bool:
        m = self.msg
        return isinstance(m, list) and len(m) == 4 and m[0] == 2

    @property
    def action(self) -> str | None:
        return self.msg[2] if self.is_call else None

    @property
    def payload(self) -> dict[str, Any]:
        return self.msg[3] if self.is_call else self.msg[2]


class Wire:
    """Every frame in both directions, in order, with a way to wait for one."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self._changed = asyncio.Event()

    def add(self, frame: Frame) -> None:
        self.frames.append(frame)
        self._changed.set()

    async def wait(self, check: Callable[[], Any], timeout: float = 5.0) -> Any:
        async def loop() -> Any:
            while True:
                found = check()
                if found:
                    return found
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(loop(), timeout)


class Pipe:
    """One end of an in-memory OCPP-J connection (what ``ocpp.ChargePoint`` needs: async recv/send)."""

    def __init__(self, direction: str, inbox: asyncio.Queue[str], outbox: asyncio.Queue[str], wire: Wire) -> None:
        self.direction = direction
        self.inbox = inbox
        self.outbox = outbox
        self.wire = wire

    async def recv(self) -> str:
        return await self.inbox.get()

    async def send(self, text: str) -> None:
        self.wire.add(Frame(self.direction, text))
        await self.outbox.put(text)


class Csms(ocpp.v201.ChargePoint):
    """A CSMS whose answers the test configures."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.boot_status = "Accepted"
        self.boot_interval = 300
        self.token_status: dict[str, str] = {}  # Authorize / TransactionEvent idTokenInfo, default Accepted
        self.group_of: dict[str, str] = {}
        self.fail_authorize = False

    def _info(self, id_token: dict[str, Any]) -> dict[str, Any]:
        token = id_token["id_token"]
        info: dict[str, Any] = {"status": self.token_status.get(token, "Accepted")}
        if token in self.group_of:
            info["group_id_token"] = {"id_token": self.group_of[token], "type": "Central"}
        return info

    @on("BootNotification")
    def on_boot(self, **_: Any) -> Any:
        now = iso(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
        return call_result.BootNotification(current_time=now, interval=self.boot_interval, status=self.boot_status)

    @on("Heartbeat")
    def on_heartbeat(self, **_: Any) -> Any:
        return call_result.Heartbeat(current_time=iso(datetime(2026, 3, 1, 9, 30, tzinfo=UTC)))

    @on("StatusNotification")
    def on_status(self, **_: Any) -> Any:
        return call_result.StatusNotification()

    @on("Authorize")
    def on_authorize(self, id_token: dict[str, Any], **_: Any) -> Any:
        if self.fail_authorize:
            raise RuntimeError("CSMS broke")
        return call_result.Authorize(id_token_info=self._info(id_token))

    @on("TransactionEvent")
    def on_tx(self, id_token: dict[str, Any] | None = None, **_: Any) -> Any:
        return call_result.TransactionEvent(id_token_info=self._info(id_token) if id_token else None)

    @on("MeterValues")
    def on_meter_values(self, **_: Any) -> Any:
        return call_result.MeterValues()

    @on("NotifyReport")
    def on_notify_report(self, **_: Any) -> Any:
        return call_result.NotifyReport()


@dataclass
class Hooks:
    """SessionHooks of a session driver, recording what the adapter asked for."""

    registration_status: str = "Accepted"
    reboots: list[ResetKind] = field(default_factory=list)
    heartbeat_intervals: list[int] = field(default_factory=list)
    boots_triggered: int = 0
    heartbeats_triggered: int = 0
    adapter: Any = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def request_reboot(self, kind: ResetKind) -> None:
        self.reboots.append(kind)

    def trigger_boot(self) -> None:
        self.boots_triggered += 1
        self.tasks.append(asyncio.ensure_future(self.adapter.boot("Triggered")))

    def trigger_heartbeat(self) -> None:
        self.heartbeats_triggered += 1
        self.tasks.append(asyncio.ensure_future(self.adapter.heartbeat()))

    def set_heartbeat_interval(self, seconds: int) -> None:
        self.heartbeat_intervals.append(seconds)

    def note_time(self, current_time: datetime) -> None:
        pass


class Rig:
    def __init__(self, evses: int = 1, settings: StationSettings | None = None, policy: AuthPolicy | None = None,
                 device_model: DeviceModel | None = None, online: bool = True) -> None:
        self.clock = VirtualClock(start=datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC))
        self.ports = {i: DirectDcPort() for i in range(1, evses + 1)}
        self.settings = settings or StationSettings(aligned_interval_s=0, sample_interval_s=0)
        self.station = Station({i: [p] for i, p in self.ports.items()}, self.clock, self.settings,
                               Authorizer(policy or AuthPolicy()))
        self.station.set_online(online)
        self.wire = Wire()
        to_cs: asyncio.Queue[str] = asyncio.Queue()
        to_csms: asyncio.Queue[str] = asyncio.Queue()
        self.hooks = Hooks()
        self.identity = StationIdentity(vendor="OpenV2X", model="CHAdeMO-BiDi-10", serial_number="SN-42",
                                        firmware_version="1.2.3")
        self.adapter = V201Adapter("CS001", Pipe(CS_TO_CSMS, to_cs, to_csms, self.wire), self.station, self.hooks,
                                   self.identity, response_timeout=5, device_model=device_model)
        self.hooks.adapter = self.adapter
        self.csms = Csms("CS001", Pipe(CSMS_TO_CS, to_csms, to_cs, self.wire), response_timeout=5)
        self._tasks: list[asyncio.Task[Any]] = []
        self.actions: list[object] = []

    @property
    def dm(self) -> DeviceModel:
        return self.adapter.device_model

    async def __aenter__(self) -> Rig:
        self._tasks = [asyncio.create_task(self.adapter.start()), asyncio.create_task(self.csms.start())]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for t in self._tasks + self.hooks.tasks:
            t.cancel()
        for t in self._tasks + self.hooks.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    # ------------------------------------------------------------------ driving the station
    async def flush(self) -> None:
        """Dispatch what the station has produced so far (commands emit actions without a tick)."""
        while True:
            actions = self.station.drain()
            if not actions:
                return
            for a in actions:
                self.actions.append(a)
                await self.adapter.dispatch(a)

    async def pump(self, seconds: float = 0.0, dt: float = 0.1) -> None:
        await self.flush()
        for _ in range(max(1, round(seconds / dt))):
            self.clock.advance(dt)
            for a in self.station.tick():
                self.actions.append(a)
                await self.adapter.dispatch(a)
            await self.flush()

    async def authorize(self, token: str = "TAG1", evse: int = 1) -> None:
        self.station.present_token(evse, IdToken(token))
        await self.flush()

    async def start_charging(self, token: str = "TAG1", evse: int = 1, seconds: float = 5.0) -> None:
        self.ports[evse].plug_in()
        await self.pump(0.5)
        await self.authorize(token, evse)
        await self.pump(seconds)

    # ------------------------------------------------------------------ the CSMS side
    async def request(self, payload: Any, validate: bool = True) -> Any:
        """A CSMS CALL; raises the OCPPError of a CALLERROR."""
        return await self.csms.call(payload, suppress=False, skip_schema_validation=not validate)

    async def send_raw(self, text: str) -> None:
        await self.csms._send(text)

    def sent(self, action: str | None = None) -> list[dict[str, Any]]:
        """Payloads of the CALLs the station sent (camelCase, as on the wire)."""
        return [f.payload for f in self.wire.frames
                if f.direction == CS_TO_CSMS and f.is_call and (action is None or f.action == action)]

    def actions_sent(self) -> list[str]:
        return [f.action or "" for f in self.wire.frames if f.direction == CS_TO_CSMS and f.is_call]

    async def wait_sent(self, action: str, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        await self.wire.wait(lambda: len(self.sent(action)) >= count, timeout)
        return self.sent(action)

    async def wait_error(self, unique_id: str, timeout: float = 5.0) -> list[Any]:
        """The CALLERROR the station answered to ``unique_id``."""
        def find() -> list[Any] | None:
            for f in self.wire.frames:
                m = f.msg
                if f.direction == CS_TO_CSMS and isinstance(m, list) and m[0] == 4 and m[1] == unique_id:
                    return m
            return None

        found: list[Any] = await self.wire.wait(find, timeout)
        return found

    async def get(self, component: dict[str, Any], variable: str, instance: str | None = None,
                  attribute: str | None = None) -> dict[str, Any]:
        """GetVariables for one value; returns the result (snake_case dict)."""
        var: dict[str, Any] = {"name": variable}
        if instance:
            var["instance"] = instance
        item: dict[str, Any] = {"component": component, "variable": var}
        if attribute:
            item["attribute_type"] = attribute
        res = await self.request(call.GetVariables(get_variable_data=[item]))
        result: dict[str, Any] = res.get_variable_result[0]
        return result

    async def set(self, component: dict[str, Any], variable: str, value: str, instance: str | None = None,
                  attribute: str | None = None) -> dict[str, Any]:
        var: dict[str, Any] = {"name": variable}
        if instance:
            var["instance"] = instance
        item: dict[str, Any] = {"component": component, "variable": var, "attribute_value": value}
        if attribute:
            item["attribute_type"] = attribute
        res = await self.request(call.SetVariables(set_variable_data=[item]))
        result: dict[str, Any] = res.set_variable_result[0]
        return result


def comp(name: str, evse: int | None = None, connector: int | None = None,
         instance: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if instance:
        out["instance"] = instance
    if evse is not None:
        out["evse"] = {"id": evse} if connector is None else {"id": evse, "connector_id": connector}
    return out


# helpers of the test_v201_adapter*.py files
ACCEPTED = AuthInfo(AuthStatus.ACCEPTED)


def tx_events(r: Rig) -> list[dict[str, Any]]:
    return r.sent("TransactionEvent")


def statuses(r: Rig) -> list[tuple[int, int, str]]:
    return [(p["evseId"], p["connectorId"], p["connectorStatus"]) for p in r.sent("StatusNotification")]
