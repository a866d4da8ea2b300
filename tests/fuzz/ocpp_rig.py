"""An adapter under fuzz: one station, one OCPP adapter running its real receive loop on an in-memory connection.

:meth:`AdapterRig.exchange` feeds one hostile frame followed by a read-only probe CALL. The receive loop handles
frames strictly in order, so the probe's answer marks the end of the hostile frame's processing: whatever the
station sent in between answers the hostile frame, and the probe's CALLRESULT proves the connection still works.
Station-initiated CALLs (triggered messages) are answered with a CALLERROR so that nothing waits for a time-out.

:func:`fingerprint` captures every piece of station state a CSMS request may change, for "a rejected CALL changes
nothing" checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from chargepoint.clock import VirtualClock
from chargepoint.energy.manager import EnergyManager
from chargepoint.energy.profiles import ProfileStore
from chargepoint.ocpp.base import StationIdentity
from chargepoint.ocpp.v16 import V16Adapter, v16_state
from chargepoint.ocpp.v21 import V21Adapter
from chargepoint.ocpp.v201 import V201Adapter
from chargepoint.station.auth import Authorizer, AuthPolicy
from chargepoint.station.core import Station
from chargepoint.station.settings import StationSettings
from chargepoint.station.types import AuthInfo, AuthStatus, ResetKind
from hil.emulators.direct_dc import DirectDcPort

ADAPTERS: dict[str, type[Any]] = {"1.6": V16Adapter, "2.0.1": V201Adapter, "2.1": V21Adapter}
VERSIONS = tuple(ADAPTERS)
FRAME_BOUND_S = 5.0  # every frame is answered (and the probe after it) within this; typical is < 10 ms
PROBE = "GetLocalListVersion"


def strict_loads(text: str | bytes, max_nesting: int | None = None) -> Any:
    """RFC 8259 JSON only: UTF-8, no NaN / Infinity, no number that overflows a double; with ``max_nesting``, no
    arrays / objects nested deeper than that. Raises ValueError."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    def finite(literal: str) -> float:
        value = float(literal)
        if not math.isfinite(value):
            raise ValueError(f"{literal} overflows a double")
        return value

    try:
        value = json.loads(text, parse_constant=constant, parse_float=finite)
    except RecursionError as e:
        raise ValueError("nested too deeply") from e
    if max_nesting is not None and _depth(value) > max_nesting:
        raise ValueError(f"nested deeper than {max_nesting}")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of arrays / objects (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((c, depth + 1) for c in children)
    return deepest


@dataclass
class RecordingHooks:
    """SessionHooks that only record what the adapter asked the session for."""

    registration_status: str = "Accepted"
    asked: list[tuple[str, Any]] = field(default_factory=list)

    def request_reboot(self, kind: ResetKind) -> None:
        self.asked.append(("reboot", kind))

    def trigger_boot(self) -> None:
        self.asked.append(("boot", None))

    def trigger_heartbeat(self) -> None:
        self.asked.append(("heartbeat", None))

    def set_heartbeat_interval(self, seconds: int) -> None:
        self.asked.append(("heartbeat_interval", seconds))

    def note_time(self, current_time: datetime) -> None:
        pass


class FuzzLink:
    """The adapter's connection: frames in through a queue, everything sent recorded."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[str | bytes] = asyncio.Queue()
        self.sent: list[str] = []
        self.changed = asyncio.Event()

    async def recv(self) -> str | bytes:
        return await self.inbox.get()

    async def send(self, text: str) -> None:
        self.sent.append(text)
        self.changed.set()
        msg = json.loads(text)
        if msg[0] == 2:  # a station CALL: the rig's CSMS refuses it at once
            self.inbox.put_nowait(json.dumps([4, msg[1], "GenericError", "fuzz rig answers no station CALL", {}]))


@dataclass
class Exchange:
    answers: list[list[Any]]  # CALLRESULT / CALLERROR frames the station sent for the hostile frame
    sent: list[str]  # everything the station sent meanwhile (raw)
    elapsed_s: float


class AdapterRig:
    """``async with AdapterRig("2.0.1") as rig: await rig.exchange(frame)``"""

    _probe_ids = itertools.count()

    def __init__(self, version: str, evses: int = 2) -> None:
        self.version = version
        self.clock = VirtualClock(start=datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
        self.ports = {i: DirectDcPort() for i in range(1, evses + 1)}
        settings = StationSettings(aligned_interval_s=0, sample_interval_s=0)
        self.station = Station({i: [p] for i, p in self.ports.items()}, self.clock, settings,
                               Authorizer(AuthPolicy(local_auth_list_enabled=True, cache_enabled=True)))
        self.station.set_online(True)
        self.station.auth.local_list.update(3, True, [("LOCAL1", AuthInfo(AuthStatus.ACCEPTED))])
        self.station.auth.cache.put("TAG2", AuthInfo(AuthStatus.BLOCKED))
        self.energy = EnergyManager(self.station, ProfileStore(version))
        self.hooks = RecordingHooks()
        self.link = FuzzLink()
        self.adapter = ADAPTERS[version]("FUZZ", self.link, self.station, self.hooks,
                                         StationIdentity(serial_number="SN-FUZZ"), response_timeout=1)
        self.handled = frozenset(a for a, h in self.adapter.route_map.items() if "_on_action" in h)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AdapterRig:
        self._task = asyncio.create_task(self.adapter.start())
        return self

    async def __aexit__(self, *exc: object) -> None:
        for _ in range(3):  # let tasks spawned by the last frame start, so that cancelling them awaits their coroutine
            await asyncio.sleep(0)
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    def receive_loop_alive(self) -> None:
        """Raise what killed the adapter's receive loop, if anything did."""
        assert self._task is not None
        if self._task.done():
            exc = self._task.exception()
            raise AssertionError(f"the adapter's receive loop died: {exc!r}") from exc

    async def exchange(self, frame: str | bytes, bound_s: float = FRAME_BOUND_S) -> Exchange:
        probe_id = f"probe-{next(self._probe_ids)}"
        mark = len(self.link.sent)
        t0 = time.perf_counter()
        self.link.inbox.put_nowait(frame)
        self.link.inbox.put_nowait(json.dumps([2, probe_id, PROBE, {}]))
        probe: list[Any] | None = None
        try:
            async with asyncio.timeout(bound_s):
                while probe is None:
                    self.receive_loop_alive()
                    for text in self.link.sent[mark:]:
                        msg = json.loads(text)
                        if msg[0] in (3, 4) and msg[1] == probe_id:
                            probe = msg
                    if probe is None:
                        self.link.changed.clear()
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(0.05):  # wakes up to notice a dead receive loop
                                await self.link.changed.wait()
        except TimeoutError:
            self.receive_loop_alive()
            raise AssertionError(f"no answer to the probe after a hostile frame within {bound_s} s") from None
        elapsed = time.perf_counter() - t0
        assert probe[0] == 3, f"the connection is no longer usable: the probe got {probe}"
        sent = self.link.sent[mark:]
        answers = [m for m in map(json.loads, sent) if m[0] in (3, 4) and m[1] != probe_id]
        return Exchange(answers, sent, elapsed)


def fingerprint(rig: AdapterRig) -> dict[str, Any]:
    """Every piece of state a CSMS request could change (transactions, availability, settings, authorization data,
    profiles, device model, protocol state, what the session was asked to do, actions waiting to be sent)."""
    st = rig.station
    fp: dict[str, Any] = {
        "station": (st.operative, st._pending_station_operative, st._pending_reset, st.authorize_remote_start),
        "evses": [(e.id, e.operative, e.pending_operative, repr(e.tx), repr(e.pending), e.setpoint_w,
                   e.session_done, [(c.operative, c.pending_operative) for c in e.connectors])
                  for e in st.evses.values()],
        "settings": asdict(st.settings),
        "policy": asdict(st.auth.policy),
        "local_list": (st.auth.local_list.version, repr(st.auth.local_list.entries)),
        "cache": repr(vars(st.auth.cache)),
        "outbox": repr(st._outbox),
        "auth_waits": repr(st._auth_waits),
        "profiles": repr(rig.energy.store.profiles()),
        "hooks": list(rig.hooks.asked),
        "ports": [(p._plugged, p._enabled, p._setpoint_w, p._locked, p._phase) for p in rig.ports.values()],
    }
    ad = rig.adapter
    if rig.version == "1.6":
        state = v16_state(st)
        fp["v16"] = (dict(state.tx_ids), repr(state.deferred))
        fp["config"] = repr(ad.config.get(None))
    else:
        fp["seq"] = dict(ad._state.seq)
        fp["tx_profiles"] = repr(ad._state.tx_profiles)
        fp["triggers"] = repr(ad._triggers)
        fp["reports"] = sorted(ad._reports)
        fp["device_model"] = [
            (v.component.key, v.name, v.instance, k.value, a.value, a.pending, _safe_read(a))
            for v in ad.device_model for k, a in v.attributes.items()
        ]
    return fp


async def wait_until(predicate: Callable[[], bool], timeout: float, step_s: float = 0.02) -> None:
    """Poll ``predicate`` until it holds (for state that has no event to wait on); TimeoutError after ``timeout``."""
    async with asyncio.timeout(timeout):
        while True:
            if predicate():
                return
            await asyncio.sleep(step_s)


def _safe_read(attr: Any) -> Any:
    try:
        return attr.read()
    except Exception as e:  # a getter that fails is state too (and would show up as a difference)
        return f"<{type(e).__name__}>"
