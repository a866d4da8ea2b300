"""CSMS emulator: an OCPP 1.6J / 2.0.1 / 2.1 central system on a real WebSocket server.

Used by the project's tests, by the HIL harness and as the embedded default CSMS of ``chargepoint run``::

    async with CsmsEmulator(behaviour=CsmsBehaviour(boot_statuses=["Pending", "Accepted"])) as csms:
        # the station connects to csms.url + station_id
        await csms.wait_connected("CP1")
        boot = await csms.wait_for("CP1", "BootNotification")
        result = await csms.call("CP1", "GetVariables", {"getVariableData": [...]})

Design:

* Built on ``websockets.asyncio.server.serve`` and the ``ocpp`` library: each connection gets an
  ``ocpp.vXX.ChargePoint`` subclass (:mod:`hil.emulators.csms_endpoints`) whose ``@on`` handlers give every
  station-initiated action a schema-valid default answer; :class:`CsmsBehaviour` tunes or overrides them.
* Every frame in both directions, including invalid ones, is recorded raw in :attr:`CsmsEmulator.frames` by the
  connection wrapper handed to the library.
* Payloads are camelCase dicts everywhere (requests, answers, overrides, :meth:`CsmsEmulator.call`). They are
  validated with the library's schemas but never passed through its snake_case <-> camelCase conversion, which
  corrupts OCPP 2.1 keys such as ``limit_L2`` / ``setpoint_L3`` / ``soc``.
* Subprotocol: the first protocol of the emulator's own ``protocols`` list that the station offers. A station that
  offers none of them (or no subprotocol at all) is refused the way OCPP-J prescribes: the handshake completes
  without a ``Sec-WebSocket-Protocol`` header and the server closes at once with code 1002 (protocol error).
  ``on_protocol_mismatch="http"`` refuses it instead with an HTTP 400 during the handshake.
* Basic auth (security profile 1): with ``basic_auth`` set, the ``Authorization`` header must carry username ==
  station id and that station's password, otherwise the handshake is answered ``401 Unauthorized``. A URL without
  station id gets ``404``. The station id is the last path segment of the URL.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from ssl import SSLContext
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidHeader, NegotiationError
from websockets.frames import CloseCode
from websockets.headers import parse_authorization_basic
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from chargepoint.clock import Clock, RealClock, iso
from hil.emulators.csms_connection import CsmsEndpoint, RecordingConnection
from hil.emulators.csms_endpoints import ENDPOINTS, default_actions
from hil.emulators.csms_model import (
    CALL,
    ActionHandler,
    CallError,
    CsmsBehaviour,
    CsmsEvent,
    Frame,
    InvalidResponse,
    StationNotConnected,
    StationState,
    Transaction,
    log_event,
)

__all__ = [
    "SUPPORTED_PROTOCOLS",
    "ActionHandler",
    "CallError",
    "CsmsBehaviour",
    "CsmsEmulator",
    "CsmsEndpoint",
    "CsmsEvent",
    "Frame",
    "InvalidResponse",
    "StationNotConnected",
    "StationState",
    "Transaction",
    "default_actions",
    "station_id_from_path",
]

log = logging.getLogger("hil.csms")

SUPPORTED_PROTOCOLS: tuple[str, ...] = ("ocpp2.1", "ocpp2.0.1", "ocpp1.6")

T = TypeVar("T")


def station_id_from_path(path: str) -> str:
    """Last non-empty, URL-decoded segment of the request path ("" if there is none)."""
    segments = [s for s in urlsplit(path).path.split("/") if s]
    return unquote(segments[-1]) if segments else ""


@dataclass
class _Connection:
    ws: ServerConnection
    endpoint: CsmsEndpoint


class CsmsEmulator:
    """See the module docstring. Not thread-safe: use it from the event loop that started it."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        protocols: Sequence[str] = SUPPORTED_PROTOCOLS,
        behaviour: CsmsBehaviour | None = None,
        basic_auth: dict[str, str] | None = None,
        ssl_context: SSLContext | None = None,
        *,
        on_protocol_mismatch: Literal["close", "http"] = "close",
        clock: Clock | None = None,
        max_frames: int | None = None,
    ) -> None:
        unknown = [p for p in protocols if p not in ENDPOINTS]
        if unknown or not protocols:
            raise ValueError(f"unsupported OCPP subprotocols {unknown}; choose from {list(ENDPOINTS)}")
        self.host, self.port = host, port
        self.protocols = tuple(protocols)
        self.behaviour = behaviour if behaviour is not None else CsmsBehaviour()
        self.basic_auth = basic_auth
        self.ssl_context = ssl_context
        self.on_protocol_mismatch = on_protocol_mismatch
        self.clock: Clock = clock if clock is not None else RealClock()
        #: Keep at most this many frames (oldest dropped); None = keep all. Frame.index stays absolute.
        self.max_frames = max_frames
        self.frames: list[Frame] = []
        self.events: list[CsmsEvent] = []
        self.stations: dict[str, StationState] = {}
        #: station id -> transaction id -> ledger entry (same objects as ``stations[id].transactions``)
        self.transactions: dict[str, dict[int | str, Transaction]] = {}
        self._connections: dict[str, _Connection] = {}
        self._server: Server | None = None
        self._next_frame_index = 0
        self._last_transaction_id = 0
        self._changed = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("CSMS emulator already started")
        self._changed = asyncio.Event()  # bind to the running loop
        self._server = await serve(
            self._handle_connection,
            self.host,
            self.port,
            select_subprotocol=self._select_subprotocol,
            process_request=self._process_request,
            ssl=self.ssl_context,
            close_timeout=2.0,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log_event(log, logging.INFO, "csms_started", url=self.url, protocols=",".join(self.protocols))

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        await server.wait_closed()
        log_event(log, logging.INFO, "csms_stopped", port=self.port)

    async def __aenter__(self) -> CsmsEmulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``ws://127.0.0.1:PORT/``; the station appends its id. Stays valid after :meth:`stop`:
        :meth:`start` again re-binds the same port, so a station can reconnect to the same URL."""
        if self.port == 0:
            raise RuntimeError("CSMS emulator not started yet (no port bound)")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'wss' if self.ssl_context else 'ws'}://{host}:{self.port}/"

    # ------------------------------------------------------------------ queries
    def protocol_of(self, station_id: str) -> str | None:
        """Negotiated subprotocol of the station's open connection (None when it is not connected)."""
        conn = self._connections.get(station_id)
        return conn.ws.subprotocol if conn is not None else None

    def is_connected(self, station_id: str) -> bool:
        return station_id in self._connections

    def station(self, station_id: str) -> StationState:
        """State of a station id (created on first use)."""
        st = self.stations.get(station_id)
        if st is None:
            st = self.stations[station_id] = StationState(station_id)
            self.transactions[station_id] = st.transactions
        return st

    def endpoint(self, station_id: str) -> CsmsEndpoint:
        """The library ``ChargePoint`` object of the open connection (e.g. to use the library's own ``call()``)."""
        conn = self._connections.get(station_id)
        if conn is None:
            raise StationNotConnected(f"{station_id} is not connected")
        return conn.endpoint

    def mark(self) -> int:
        """Index of the last recorded frame (-1 if none): ``wait_for(..., after=csms.mark())`` waits for new ones."""
        return self._next_frame_index - 1

    def calls(self, station_id: str | None = None, action: str | None = None) -> list[Frame]:
        """Recorded station -> CSMS CALL frames, optionally filtered."""
        return [
            f
            for f in self.frames
            if f.direction == "rx"
            and f.message_type == CALL
            and (station_id is None or f.station_id == station_id)
            and (action is None or f.action == action)
        ]

    # ------------------------------------------------------------------ waiting
    async def _wait_until(self, check: Callable[[], T | None], timeout: float, what: str) -> T:
        try:
            async with asyncio.timeout(timeout):
                while True:
                    changed = self._changed
                    result = check()
                    if result is not None:
                        return result
                    await changed.wait()
        except TimeoutError:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}") from None

    async def wait_connected(self, station_id: str, timeout: float = 10.0) -> None:
        await self._wait_until(
            lambda: True if station_id in self._connections else None, timeout, f"{station_id} to connect"
        )

    async def wait_disconnected(self, station_id: str, timeout: float = 10.0) -> None:
        await self._wait_until(
            lambda: True if station_id not in self._connections else None, timeout, f"{station_id} to disconnect"
        )

    async def wait_frame(self, predicate: Callable[[Frame], bool], timeout: float = 10.0, after: int = -1) -> Frame:
        """First recorded frame with ``frame.index > after`` that matches ``predicate``; waits for it if needed."""
        next_index = after + 1

        def check() -> Frame | None:
            nonlocal next_index
            for frame in self.frames[max(0, next_index - (self._next_frame_index - len(self.frames))) :]:
                next_index = frame.index + 1
                if predicate(frame):
                    return frame
            return None

        return await self._wait_until(check, timeout, "a matching frame")

    async def wait_for(
        self,
        station_id: str,
        action: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 10.0,
        after: int = -1,
    ) -> Frame:
        """First station -> CSMS CALL of ``action`` with ``frame.index > after`` whose camelCase payload matches
        ``predicate``; waits for it if it has not arrived yet. ``after`` defaults to -1 (search from the first
        frame); pass :meth:`mark` or a previous ``frame.index`` to wait for a later one."""

        def match(frame: Frame) -> bool:
            return (
                frame.station_id == station_id
                and frame.direction == "rx"
                and frame.message_type == CALL
                and frame.action == action
                and isinstance(frame.payload, dict)
                and (predicate is None or predicate(frame.payload))
            )

        try:
            return await self.wait_frame(match, timeout, after)
        except TimeoutError:
            raise TimeoutError(f"timed out after {timeout} s waiting for {action} from {station_id}") from None

    # ------------------------------------------------------------------ CSMS-initiated traffic
    async def call(
        self, station_id: str, action: str, payload: dict[str, Any], timeout: float = 10.0, *, validate: bool = True
    ) -> dict[str, Any]:
        """CSMS-initiated CALL; camelCase payload in, camelCase CALLRESULT payload out.

        The action must exist in the connection's OCPP version (``ocpp.vXX.call.<Action>``). The payload is
        validated against the library's request schema (an invalid one raises the library's ``OCPPError``
        subclass before anything is sent) and sent unchanged; the answer is validated against the response schema.
        Raises :class:`CallError` on CALLERROR, :class:`InvalidResponse` on a schema-invalid CALLRESULT,
        ``TimeoutError`` without answer, :class:`StationNotConnected` if there is (or stops being) no connection.
        ``validate=False`` skips both validations.
        """
        endpoint = self.endpoint(station_id)
        log_event(log, logging.INFO, "csms_call", station_id=station_id, action=action)
        return await endpoint.raw_call(action, payload, timeout, validate=validate)

    async def send_raw(self, station_id: str, text: str) -> None:
        """Send any text frame (even malformed) to the station; it is recorded like every other frame."""
        try:
            await self.endpoint(station_id).connection.send(text)
        except ConnectionClosed as exc:
            raise StationNotConnected(f"{station_id} is not connected") from exc

    async def disconnect(
        self, station_id: str, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "", timeout: float = 10.0
    ) -> None:
        """Server-side close of the station's connection; returns once the emulator has seen it closed."""
        conn = self._connections.get(station_id)
        if conn is None:
            raise StationNotConnected(f"{station_id} is not connected")
        await conn.ws.close(code, reason)
        await self._wait_until(
            lambda: True if self._connections.get(station_id) is not conn else None,
            timeout,
            f"{station_id} to disconnect",
        )

    # ------------------------------------------------------------------ EndpointContext
    def now_iso(self) -> str:
        return iso(self.clock.now())

    def next_transaction_id(self) -> int:
        self._last_transaction_id += 1
        return self._last_transaction_id

    # ------------------------------------------------------------------ internals
    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _record(self, frame: Frame) -> None:
        frame.index = self._next_frame_index
        self._next_frame_index += 1
        self.frames.append(frame)
        if self.max_frames is not None and len(self.frames) > self.max_frames:
            del self.frames[: len(self.frames) - self.max_frames]
        if log.isEnabledFor(logging.DEBUG):
            log_event(
                log,
                logging.DEBUG,
                "frame",
                station_id=frame.station_id,
                direction=frame.direction,
                action=frame.action,
                raw=frame.raw,
            )
        self._notify()

    def _event(self, kind: Literal["connected", "disconnected", "refused"], station_id: str, detail: str) -> None:
        self.events.append(CsmsEvent(kind, station_id, detail, time.monotonic()))
        log_event(
            log, logging.WARNING if kind == "refused" else logging.INFO, kind, station_id=station_id, detail=detail
        )
        self._notify()

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        station_id = station_id_from_path(request.path)
        if not station_id:
            self._event("refused", "", f"no station id in path {request.path!r}")
            return connection.respond(HTTPStatus.NOT_FOUND, "No charging station id in the URL path.\n")
        if self.basic_auth is None:
            return None
        problem = self._check_basic_auth(station_id, request.headers.get("Authorization"))
        if problem is None:
            return None
        self._event("refused", station_id, f"basic auth: {problem}")
        response = connection.respond(HTTPStatus.UNAUTHORIZED, "Unauthorized.\n")
        response.headers["WWW-Authenticate"] = 'Basic realm="OCPP", charset="UTF-8"'
        return response

    def _check_basic_auth(self, station_id: str, header: str | None) -> str | None:
        """None if the credentials are right, else why not."""
        assert self.basic_auth is not None
        if header is None:
            return "no Authorization header"
        try:
            username, password = parse_authorization_basic(header)
        except InvalidHeader as exc:
            return f"bad Authorization header ({exc})"
        expected = self.basic_auth.get(station_id)
        if expected is None:
            return "unknown station id"
        if username != station_id:
            return f"username {username!r} is not the station id"
        if not hmac.compare_digest(password.encode("utf-8", "surrogateescape"), expected.encode()):
            return "wrong password"
        return None

    def _select_subprotocol(self, connection: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        for protocol in self.protocols:
            if protocol in offered:
                return Subprotocol(protocol)
        if self.on_protocol_mismatch == "http":
            station_id = station_id_from_path(connection.request.path) if connection.request else ""
            self._event("refused", station_id, f"no mutual subprotocol (offered {list(offered)}); HTTP 400")
            raise NegotiationError(f"no mutual OCPP subprotocol; supported: {', '.join(self.protocols)}")
        return None  # handshake completes without a subprotocol; _handle_connection closes with 1002

    async def _handle_connection(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        station_id = station_id_from_path(ws.request.path)
        protocol = ws.subprotocol
        if protocol is None:
            offered = ws.request.headers.get_all("Sec-WebSocket-Protocol")
            self._event("refused", station_id, f"no mutual subprotocol (offered {offered}); close 1002")
            await ws.close(CloseCode.PROTOCOL_ERROR, "no mutual OCPP subprotocol")
            return
        state = self.station(station_id)
        endpoint = ENDPOINTS[protocol](station_id, RecordingConnection(ws, station_id, self._record), self, state)
        old = self._connections.get(station_id)
        conn = self._connections[station_id] = _Connection(ws, endpoint)  # register before closing the old one
        state.protocol, state.connected = protocol, True
        state.connect_count += 1
        self._event("connected", station_id, protocol)
        detail = "closed"
        try:
            if old is not None:  # a station id has at most one connection: the newest wins
                log_event(log, logging.WARNING, "connection_replaced", station_id=station_id)
                await old.ws.close(CloseCode.NORMAL_CLOSURE, "replaced by a new connection")
            await endpoint.start()
        except ConnectionClosed as exc:
            detail = f"code={exc.rcvd.code if exc.rcvd else None} reason={exc.rcvd.reason if exc.rcvd else ''!r}"
        except Exception:
            log.exception("connection handler for %s failed", station_id)
            detail = "handler error"
        finally:
            if self._connections.get(station_id) is conn:
                del self._connections[station_id]
                state.connected = False
            self._event("disconnected", station_id, detail)


def _main(argv: Sequence[str] | None = None) -> None:
    """``python -m hil.emulators.csms``: run a stand-alone emulator until interrupted."""
    import argparse

    parser = argparse.ArgumentParser(description="OCPP CSMS emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--protocols", default=",".join(SUPPORTED_PROTOCOLS))
    parser.add_argument("--boot-status", action="append", help="repeatable, e.g. Pending then Accepted")
    parser.add_argument("--heartbeat-interval", type=int, default=300)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    behaviour = CsmsBehaviour(boot_statuses=args.boot_status or ["Accepted"], boot_interval=args.heartbeat_interval)

    async def run() -> None:
        async with CsmsEmulator(args.host, args.port, args.protocols.split(","), behaviour):
            await asyncio.Event().wait()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    _main()
