"""Async wrapper around the independent strict CSMS peer (``tests/interop/peer/csms.js``).

The peer is npm ``ocpp-rpc`` 2.2.1 in strict mode: every frame in both directions is validated
against the OCA JSON schemas by code nobody on this team wrote. The node process reports what it
sees as JSON lines on stdout and takes commands as JSON lines on stdin.

stdout events (one object per line, every one has ``event`` and ``ts`` = unix seconds):
    listening          first line: host, port, protocols, pid, ocpp_rpc (version)
    connected          station, conn (connection number), protocol (negotiated), offered, remote,
                       replaced_existing
    disconnected       station, conn, protocol, code, reason
    frame              station, conn, dir ("in" = station->CSMS, "out" = CSMS->station), raw (the text frame),
                       type (2/3/4), message_id, action (for results: the action of the call answered),
                       payload (CALL params / CALLRESULT payload) or error {code, message, details}
    violation          station, direction ("inbound"/"outbound"), culprit ("station"/"csms"),
                       source ("ocpp-rpc" = strict schema validation / framing, "peer" = this script's
                       checks), kind ("call", "result", "bad_message", "unhandled_action", "state",
                       "handshake"), action, message_id, payload, error {code, message, details}
    peer_gap           a frame the peer cannot judge (OCPP 2.1 message types 5/6): not a violation
    result             id, cmd, ok, payload | error {code, message, details} (answer to a command)
    handshake_rejected, auth_failed, upgrade_aborted, socket_error, server_error, stopped

stdin commands (``id`` is echoed in the ``result`` event):
    {"id": "1", "cmd": "call", "station": "CP1", "action": "GetVariables", "payload": {...}, "timeout": 10}
    {"id": "2", "cmd": "close", "station": "CP1", "code": 1000, "reason": "", "force": false}
    {"id": "3", "cmd": "respond", "action": "Authorize", "payload": {...} | "error": {"code", "message"},
     "station": null, "once": false}             override the peer's answer to a station's CALL
    {"id": "4", "cmd": "clear_responses"}
    {"id": "5", "cmd": "send_raw", "station": "CP1", "raw": "[2,\\"x\\",\\"Reset\\",{}]"}
    {"cmd": "shutdown"}                           (EOF on stdin does the same)
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

PEER_DIR = Path(__file__).resolve().parent / "peer"
PEER_SCRIPT = PEER_DIR / "csms.js"
PROTOCOLS = ("ocpp1.6", "ocpp2.0.1", "ocpp2.1")

Event = dict[str, Any]
PayloadPredicate = Callable[[dict[str, Any]], bool]


class PeerError(RuntimeError):
    """The peer process failed (did not start, died, or answered a command with an error)."""


class PeerCallError(PeerError):
    """A CSMS-initiated call failed: CALLERROR from the station, timeout, validation failure, ..."""

    def __init__(self, action: str, error: dict[str, Any]) -> None:
        self.action = action
        self.code: str = str(error.get("code", "GenericError"))
        self.description: str = str(error.get("message", ""))
        self.details: Any = error.get("details")
        super().__init__(f"{action} failed: {self.code}: {self.description}")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def peer_missing_reason() -> str | None:
    """Why the peer cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed (the strict CSMS peer runs on node >= 17)"
    if not (PEER_DIR / "node_modules" / "ocpp-rpc" / "package.json").is_file():
        return f"{PEER_DIR / 'node_modules'} is missing: run scripts/install-peer.sh"
    return None


def require_peer() -> None:
    """Skip the calling test when the peer is not installed; fail instead when running in CI."""
    reason = peer_missing_reason()
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"strict CSMS peer unavailable in CI: {reason}", pytrace=False)
    pytest.skip(f"strict CSMS peer unavailable: {reason}")


class StrictPeer:
    """A strict OCPP CSMS (npm ocpp-rpc) in a node subprocess, on 127.0.0.1 and an ephemeral port.

    ``async with StrictPeer(["ocpp2.0.1"]) as peer:`` then connect a station to ``peer.url + station_id``.
    """

    def __init__(
        self,
        protocols: Sequence[str] = PROTOCOLS,
        *,
        boot_statuses: Sequence[str] = ("Accepted",),
        heartbeat_interval: int = 300,
        auth_station: str | None = None,
        auth_password: str | None = None,
        state_checks: bool = True,
        startup_timeout: float = 15.0,
    ) -> None:
        unknown = [p for p in protocols if p not in PROTOCOLS]
        if unknown or not protocols:
            raise ValueError(f"protocols must be a non-empty subset of {PROTOCOLS}, got {list(protocols)}")
        self.protocols = list(protocols)
        self._args = [
            "--protocols", ",".join(protocols),
            "--boot-statuses", ",".join(boot_statuses),
            "--interval", str(int(heartbeat_interval)),
        ]  # fmt: skip
        if auth_station is not None:
            self._args += ["--auth-station", auth_station]
        if auth_password is not None:
            self._args += ["--auth-password", auth_password]
        if not state_checks:
            self._args.append("--no-state-checks")
        self._startup_timeout = startup_timeout
        self._proc: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._cond = asyncio.Condition()
        self._pending: dict[str, asyncio.Future[Event]] = {}
        self._ids = itertools.count(1)
        self._consumed: set[int] = set()
        self._exited = False
        self.events: list[Event] = []
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=200)
        self.port: int = 0
        self.startup_seconds: float = 0.0

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """Base URL; a station connects to ``url + station_id``."""
        return f"ws://127.0.0.1:{self.port}/"

    async def __aenter__(self) -> StrictPeer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        require_peer()
        node = shutil.which("node")
        assert node is not None
        started = time.monotonic()
        self._proc = await asyncio.create_subprocess_exec(
            node, str(PEER_SCRIPT), *self._args,
            cwd=str(PEER_DIR),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,
        )  # fmt: skip
        self._tasks = [
            asyncio.create_task(self._drain_stderr(), name="strict-peer-stderr"),
        ]
        assert self._proc.stdout is not None
        try:
            first = await asyncio.wait_for(self._proc.stdout.readline(), self._startup_timeout)
            hello = json.loads(first) if first else {}
        except (TimeoutError, json.JSONDecodeError) as exc:
            await self.stop()
            raise PeerError(f"strict peer did not start: {exc!r}\n{self._stderr_text()}") from exc
        if hello.get("event") != "listening":
            await self.stop()
            raise PeerError(f"strict peer did not start: {first!r}\n{self._stderr_text()}")
        self.events.append(hello)
        self.port = int(hello["port"])
        self.startup_seconds = time.monotonic() - started
        self._tasks.append(asyncio.create_task(self._read_stdout(), name="strict-peer-stdout"))

    async def stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError, RuntimeError):
                assert proc.stdin is not None
                proc.stdin.write(b'{"cmd":"shutdown"}\n')
                await proc.stdin.drain()
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 3)
            except TimeoutError:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 2)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
        for task in self._tasks:
            try:
                await asyncio.wait_for(task, 2)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
        self._fail_pending(PeerError("strict peer stopped"))

    # ------------------------------------------------------------------ I/O

    async def _drain_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        async for line in self._proc.stderr:
            self.stderr_tail.append(line.decode("utf-8", "replace").rstrip())

    async def _read_stdout(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        try:
            async for line in self._proc.stdout:
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    self.stderr_tail.append(f"[non-JSON stdout] {line!r}")
                    continue
                self.events.append(event)
                if event.get("event") == "result":
                    fut = self._pending.pop(str(event.get("id")), None)
                    if fut is not None and not fut.done():
                        fut.set_result(event)
                async with self._cond:
                    self._cond.notify_all()
        finally:
            self._exited = True
            self._fail_pending(PeerError(f"strict peer exited\n{self._stderr_text()}"))
            async with self._cond:
                self._cond.notify_all()

    def _fail_pending(self, exc: Exception) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(exc)
        self._pending.clear()

    def _stderr_text(self) -> str:
        return "peer stderr (tail):\n" + "\n".join(list(self.stderr_tail)[-30:])

    async def command(self, cmd: dict[str, Any], timeout: float = 10.0) -> Event:
        """Send one raw command (see module docstring) and return its ``result`` event."""
        if self._proc is None or self._proc.stdin is None or self._exited:
            raise PeerError("strict peer is not running")
        cmd_id = str(next(self._ids))
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._pending[cmd_id] = fut
        self._proc.stdin.write(json.dumps({**cmd, "id": cmd_id}).encode() + b"\n")
        await self._proc.stdin.drain()
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(cmd_id, None)

    async def _wait_event(
        self,
        pick: Callable[[], Event | None],
        timeout: float,
        what: str,
    ) -> Event:
        async def waiter() -> Event:
            async with self._cond:
                while True:
                    found = pick()
                    if found is not None:
                        return found
                    if self._exited:
                        raise PeerError(f"strict peer exited while waiting for {what}\n{self._stderr_text()}")
                    await self._cond.wait()

        try:
            return await asyncio.wait_for(waiter(), timeout)
        except TimeoutError:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}") from None

    # ------------------------------------------------------------------ queries

    @property
    def violations(self) -> list[Event]:
        """Every protocol violation seen so far, in either direction."""
        return [e for e in self.events if e.get("event") == "violation"]

    def frames(self, station: str | None = None, direction: str | None = None) -> list[Event]:
        return [
            e
            for e in self.events
            if e.get("event") == "frame"
            and (station is None or e.get("station") == station)
            and (direction is None or e.get("dir") == direction)
        ]

    def calls(self, station: str, action: str | None = None) -> list[Event]:
        """Station-initiated CALL frames seen so far."""
        return [
            e
            for e in self.frames(station, "in")
            if e.get("type") == 2 and (action is None or e.get("action") == action)
        ]

    def is_connected(self, station: str) -> bool:
        return self._last_connected(station) is not None

    def _last_connected(self, station: str) -> Event | None:
        """The ``connected`` event of the station's newest connection that is still open."""
        closed = {
            e.get("conn") for e in self.events if e.get("event") == "disconnected" and e.get("station") == station
        }
        for e in reversed(self.events):
            if e.get("event") == "connected" and e.get("station") == station and e.get("conn") not in closed:
                return e
        return None

    def assert_no_violations(self, ignore: Iterable[str] = ()) -> None:
        """Fail with a readable list unless no violation (of a kind not in ``ignore``) was seen."""
        bad = [v for v in self.violations if v.get("kind") not in set(ignore)]
        if bad:
            lines = [
                f"- {v.get('station')} {v.get('direction')} {v.get('kind')} {v.get('action')}: "
                f"{(v.get('error') or {}).get('code')}: {(v.get('error') or {}).get('message')}"
                for v in bad
            ]
            raise AssertionError(f"{len(bad)} OCPP violation(s) seen by the strict peer:\n" + "\n".join(lines))

    # ------------------------------------------------------------------ waiting

    async def wait_connected(self, station: str, timeout: float = 10.0) -> Event:
        """Return the ``connected`` event of the station's current connection (waits for one)."""
        return await self._wait_event(lambda: self._last_connected(station), timeout, f"{station} to connect")

    async def wait_disconnected(self, station: str, timeout: float = 10.0) -> Event:
        """Wait until the station has no open connection; return its last ``disconnected`` event."""

        def pick() -> Event | None:
            if self._last_connected(station) is not None:
                return None
            for e in reversed(self.events):
                if e.get("event") == "disconnected" and e.get("station") == station:
                    return e
            return None

        return await self._wait_event(pick, timeout, f"{station} to disconnect")

    async def wait_for(
        self,
        station: str,
        action: str,
        predicate: PayloadPredicate | None = None,
        timeout: float = 10.0,
    ) -> Event:
        """Return the next station-initiated CALL frame of ``action`` not yet returned by ``wait_for``.

        Earlier frames count too (no race with a call that already arrived); each frame is
        returned at most once. ``predicate`` is applied to the CALL payload. The result is the
        ``frame`` event: ``payload``, ``message_id``, ``raw``, ``ts``, ...
        """

        def pick() -> Event | None:
            for index, e in enumerate(self.events):
                if (
                    index not in self._consumed
                    and e.get("event") == "frame"
                    and e.get("dir") == "in"
                    and e.get("type") == 2
                    and e.get("station") == station
                    and e.get("action") == action
                    and (predicate is None or predicate(e.get("payload") or {}))
                ):
                    self._consumed.add(index)
                    return e
            return None

        return await self._wait_event(pick, timeout, f"{action} CALL from {station}")

    async def response_to(self, call: Event, timeout: float = 10.0) -> Event:
        """The peer's CALLRESULT/CALLERROR frame answering a station CALL returned by ``wait_for``."""

        def pick() -> Event | None:
            for e in self.events:
                if (
                    e.get("event") == "frame"
                    and e.get("dir") == "out"
                    and e.get("type") in (3, 4)
                    and e.get("station") == call.get("station")
                    and e.get("message_id") == call.get("message_id")
                ):
                    return e
            return None

        return await self._wait_event(pick, timeout, f"response to {call.get('message_id')}")

    # ------------------------------------------------------------------ commands

    async def call(
        self,
        station: str,
        action: str,
        payload: dict[str, Any],
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """Make a CSMS-initiated call; return the station's CALLRESULT payload.

        Raises PeerCallError on CALLERROR, timeout, schema-invalid request or response
        (code e.g. "NotConnected", "Timeout", "FormatViolation", "NotImplemented").
        """
        result = await self.command(
            {"cmd": "call", "station": station, "action": action, "payload": payload, "timeout": timeout},
            timeout=timeout + 5,
        )
        if not result.get("ok"):
            raise PeerCallError(action, result.get("error") or {})
        payload_out: dict[str, Any] = result.get("payload") or {}
        return payload_out

    async def close_connection(self, station: str, code: int = 1000, reason: str = "", force: bool = False) -> None:
        """Drop the station's websocket from the CSMS side."""
        result = await self.command(
            {"cmd": "close", "station": station, "code": code, "reason": reason, "force": force}
        )
        if not result.get("ok"):
            raise PeerError(f"close {station} failed: {result.get('error')}")

    async def set_response(
        self,
        action: str,
        payload: dict[str, Any] | None = None,
        *,
        error: dict[str, Any] | None = None,
        station: str | None = None,
        once: bool = False,
    ) -> None:
        """Override the peer's answer to a station-initiated ``action`` (payload, or CALLERROR ``error``).

        The override is validated by strict mode when it is sent: an invalid one shows up as an
        outbound violation and the station gets an InternalError CALLERROR instead.
        """
        cmd: dict[str, Any] = {"cmd": "respond", "action": action, "station": station, "once": once}
        if error is not None:
            cmd["error"] = error
        else:
            cmd["payload"] = payload if payload is not None else {}
        result = await self.command(cmd)
        if not result.get("ok"):
            raise PeerError(f"respond {action} failed: {result.get('error')}")

    async def clear_responses(self) -> None:
        await self.command({"cmd": "clear_responses"})

    async def send_raw(self, station: str, raw: str) -> None:
        """Send a raw text frame to the station, bypassing validation (for robustness tests)."""
        result = await self.command({"cmd": "send_raw", "station": station, "raw": raw})
        if not result.get("ok"):
            raise PeerError(f"send_raw to {station} failed: {result.get('error')}")
