"""Reconnect storms: a CSMS that refuses, or accepts and hangs up at once, must not make the station hammer it.

The session runs on a virtual-time event loop (:mod:`.vtime`) against a scripted CSMS that replaces
``open_connection``, so ten virtual minutes take well under a second and every delay is exact. The attempt times
must follow the exponential back-off with jitter (initial, 2x, 4x ... capped, each +/- jitter); only a connection
that was accepted and then stayed up for ``StationSession.stable_connection_s`` starts the schedule over.
A last test checks the same over real loopback sockets in real time, with generous bounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

import chargepoint.ocpp.session as session_mod
from chargepoint.clock import VirtualClock
from chargepoint.ocpp.session import StationSession
from chargepoint.ocpp.transport import Backoff, TransportConfig, TransportError
from chargepoint.station.core import Station
from hil.emulators.direct_dc import DirectDcPort

from .vtime import VirtualTimeLoop

INITIAL_S, MAX_S, JITTER = 1.0, 60.0, 0.5
WINDOW_S = 600.0  # virtual seconds per scenario
SLACK_S = 0.5  # connection set-up and tear-down on top of the delay (all in virtual time)


@dataclass
class ScriptedCsms:
    """Stands in for ``open_connection``: every call is one connection attempt of the station."""

    mode: str  # "refuse" | "close_at_once" | "close_after_boot" | "stable"
    stable_for_s: float = 0.0
    attempts: list[float] = field(default_factory=list)  # loop time of each attempt
    closed_at: list[float] = field(default_factory=list)

    async def open(self, cfg: TransportConfig) -> Any:
        loop = asyncio.get_running_loop()
        self.attempts.append(loop.time())
        if self.mode == "refuse":
            raise TransportError("CSMS refused the connection (HTTP 503)")
        return FakeWs(self, loop)


class FakeWs:
    """The station's end of one scripted connection (what the adapter needs: recv, send, close, subprotocol)."""

    subprotocol = "ocpp1.6"

    def __init__(self, csms: ScriptedCsms, loop: asyncio.AbstractEventLoop) -> None:
        self.csms = csms
        self.loop = loop
        self.inbox: asyncio.Queue[str | None] = asyncio.Queue()
        self.closed = False
        if csms.mode == "close_at_once":
            self._close()
        elif csms.mode == "stable":
            loop.call_later(csms.stable_for_s, self._close)

    def _close(self) -> None:
        if not self.closed:
            self.closed = True
            self.csms.closed_at.append(self.loop.time())
            self.inbox.put_nowait(None)

    async def recv(self) -> str:
        if self.closed and self.inbox.empty():
            raise ConnectionClosed(None, None)
        text = await self.inbox.get()
        if text is None:
            raise ConnectionClosed(None, None)
        return text

    async def send(self, text: str) -> None:
        if self.closed:
            raise ConnectionClosed(None, None)
        msg = json.loads(text)
        if msg[0] != 2:
            return
        answers: dict[str, dict[str, Any]] = {
            "BootNotification": {"status": "Accepted", "currentTime": "2026-03-01T10:00:00Z", "interval": 300},
            "Heartbeat": {"currentTime": "2026-03-01T10:00:00Z"},
        }
        self.inbox.put_nowait(json.dumps([3, msg[1], answers.get(msg[2], {})]))
        if self.csms.mode == "close_after_boot" and msg[2] == "BootNotification":
            self._close()

    async def close(self) -> None:
        self._close()


def _session() -> StationSession:
    station = Station({1: [DirectDcPort()]}, VirtualClock())
    transport = TransportConfig(url="ws://csms.invalid/ocpp", station_id="CP-STORM", protocols=("ocpp1.6",),
                                backoff_initial_s=INITIAL_S, backoff_max_s=MAX_S, backoff_jitter=JITTER)
    session = StationSession(station, transport, tick_s=0.1, response_timeout_s=5, default_retry_s=10)
    session.backoff = Backoff(INITIAL_S, MAX_S, JITTER, rng=random.Random(7))
    return session


@dataclass
class Run:
    csms: ScriptedCsms
    cpu_s: float
    polls: int
    session: StationSession


def run_storm(csms: ScriptedCsms, monkeypatch: pytest.MonkeyPatch, window_s: float = WINDOW_S,
              setup: Callable[[StationSession], None] | None = None) -> Run:
    monkeypatch.setattr(session_mod, "open_connection", csms.open)
    session = _session()
    if setup is not None:
        setup(session)

    async def main() -> None:
        task = asyncio.create_task(session.run())
        await asyncio.sleep(window_s)
        assert not task.done(), f"the session ended: {task.exception()!r}"
        session.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 60)

    loop = VirtualTimeLoop()
    cpu0 = time.process_time()
    try:
        loop.run_until_complete(main())
        cpu = time.process_time() - cpu0
    finally:
        _finish(loop)
    return Run(csms, cpu, loop.selector.polls, session)


def _finish(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left, close the loop and collect the garbage now: an un-awaited task finalised later, in the
    middle of some unrelated compile(), trips a CPython 3.11 bug ("AST constructor recursion depth mismatch")."""
    leftovers = asyncio.all_tasks(loop)
    for t in leftovers:
        t.cancel()
    if leftovers:
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
    loop.close()
    gc.collect()


def base_delay(k: int) -> float:
    return min(MAX_S, INITIAL_S * 2**k)


def assert_backoff_schedule(attempts: list[float], window_s: float) -> None:
    """Gap k between attempts k and k+1 lies in base_k * (1 +/- jitter) (+ slack for the attempt itself)."""
    for k, (a, b) in enumerate(itertools.pairwise(attempts)):
        gap = b - a
        lo, hi = base_delay(k) * (1 - JITTER), base_delay(k) * (1 + JITTER) + SLACK_S
        assert lo - 1e-6 <= gap <= hi, f"retry {k}: {gap:.3f} s after the previous attempt, outside [{lo}, {hi}]"
    # ... which bounds the count: at most this many attempts fit in the window even with the shortest delays
    most, t = 1, 0.0
    while t + base_delay(most - 1) * (1 - JITTER) <= window_s:
        t += base_delay(most - 1) * (1 - JITTER)
        most += 1
    assert len(attempts) <= most, f"{len(attempts)} attempts in {window_s} s, the back-off allows {most}"


@pytest.mark.parametrize("mode", ["refuse", "close_at_once", "close_after_boot"])
def test_hostile_csms_gets_attempts_on_the_exponential_schedule_only(mode: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    run = run_storm(ScriptedCsms(mode), monkeypatch)
    attempts = run.csms.attempts
    assert_backoff_schedule(attempts, WINDOW_S)
    # It keeps trying at the capped rate (no give-up): after the ramp, one attempt per max delay at worst.
    assert len(attempts) >= 1 + (WINDOW_S - 2 * MAX_S) // (MAX_S * (1 + JITTER) + SLACK_S)
    assert attempts[-1] >= WINDOW_S - MAX_S * (1 + JITTER) - SLACK_S
    # No busy loop: little CPU for ten virtual minutes, and the loop mostly sleeps (jumps) rather than spins.
    assert run.cpu_s < 10.0, f"{run.cpu_s:.1f} s CPU for {WINDOW_S} virtual seconds"
    assert run.polls < 100 * len(attempts) + 20 * WINDOW_S / 0.1, run.polls
    assert run.session.connect_attempts == len(attempts)


def test_a_connection_that_stayed_up_starts_the_backoff_over(monkeypatch: pytest.MonkeyPatch) -> None:
    csms = ScriptedCsms("stable", stable_for_s=120.0)
    run = run_storm(csms, monkeypatch, window_s=500.0,
                    setup=lambda s: setattr(s, "stable_connection_s", 30.0))
    assert len(csms.closed_at) >= 3
    for closed, attempt in zip(csms.closed_at, csms.attempts[1:], strict=False):
        # every connection lived 120 s after its BootNotification was accepted: back to the initial delay
        assert attempt - closed <= INITIAL_S * (1 + JITTER) + SLACK_S
    assert run.session.backoff.attempt <= 1


def test_short_lived_accepted_connections_do_not_reset_the_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    csms = ScriptedCsms("stable", stable_for_s=5.0)  # accepted, but gone again before stable_connection_s
    run = run_storm(csms, monkeypatch, setup=lambda s: setattr(s, "stable_connection_s", 30.0))
    gaps = [b - a for a, b in zip(csms.closed_at, csms.attempts[1:], strict=False)]
    for k, gap in enumerate(gaps):
        assert gap >= base_delay(k) * (1 - JITTER) - 1e-6, f"retry {k} after {gap:.2f} s"
    assert len(csms.attempts) <= 1 + WINDOW_S // (5.0 + MAX_S * (1 - JITTER)) + 7
    assert run.cpu_s < 10.0


# ---------------------------------------------------------------------------------------------------- real sockets
@pytest.mark.timeout(30)
async def test_real_loopback_csms_that_hangs_up_at_once_is_retried_on_the_backoff_schedule() -> None:
    """A websockets server that accepts the handshake (ocpp1.6) and closes at once; 3 s of real time."""
    attempts: list[float] = []
    loop = asyncio.get_running_loop()

    async def hang_up(ws: ServerConnection) -> None:
        attempts.append(loop.time())
        await ws.close()

    async with serve(hang_up, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
        port = server.sockets[0].getsockname()[1]
        station = Station({1: [DirectDcPort()]}, VirtualClock())
        transport = TransportConfig(url=f"ws://127.0.0.1:{port}/", station_id="CP-REAL", protocols=("ocpp1.6",),
                                    backoff_initial_s=0.05, backoff_max_s=0.8, backoff_jitter=0.2)
        session = StationSession(station, transport, tick_s=0.05, response_timeout_s=1)
        cpu0 = time.process_time()
        task = asyncio.create_task(session.run())
        await asyncio.sleep(3.0)
        session.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
        cpu = time.process_time() - cpu0
    await asyncio.sleep(0)
    gc.collect()  # see _finish
    # 0.05, 0.1, 0.2, 0.4, 0.8, 0.8 ... (-20 %): at most 1 + 4 + (3 - 0.6) / 0.64 = 8.75 attempts in 3 s
    assert 5 <= len(attempts) <= 8, attempts
    for k, (a, b) in enumerate(itertools.pairwise(attempts)):
        assert b - a >= min(0.8, 0.05 * 2**k) * 0.8 - 0.01, f"retry {k} after {b - a:.3f} s"
    assert cpu < 2.5, f"{cpu:.2f} s CPU in 3 s of reconnecting"
