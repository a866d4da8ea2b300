"""Version-independent CSMS side of one station connection (base of :mod:`hil.emulators.csms_endpoints`).

One endpoint object per WebSocket connection: :class:`Endpoint16`, :class:`Endpoint201` or :class:`Endpoint21`
(subclasses of ``ocpp.v16/v201/v21.ChargePoint``). Station-initiated actions are routed with the library's
``@on`` decorator and route map, validated with the library's JSON schemas and framed with its ``Call`` /
``CallResult`` / ``CallError`` classes.

Deliberate deviations from the library's own request path (``ChargePoint._handle_call`` / ``call``):

* **Payloads stay camelCase end to end.** The library converts camelCase -> snake_case kwargs and the returned
  dataclass back with ``snake_to_camel_case``, which is lossy for OCPP 2.1 (``limit_L2`` -> ``limitL2``,
  ``soc`` -> ``SoC`` ... library-notes §1.6.1). So the ``@on`` handlers here take the raw camelCase payload dict and
  return a camelCase dict, which is validated against the response schema and sent unchanged. The same holds for
  CSMS-initiated calls (:meth:`CsmsEndpoint.raw_call`): the camelCase payload is validated with
  ``ocpp.messages.validate_payload`` and sent in an ``ocpp.messages.Call`` without any key conversion.
* **Unrouted actions always get a CALLERROR.** The library answers nothing on 2.1 (library-notes §1.6.2) and swaps
  the two codes on 1.6 / 2.0.1. Here, per OCPP-J: an action the version does not define -> ``NotImplemented``
  ("Requested Action is not known by receiver"); a defined action the CSMS does not handle (i.e. a CSMS->CS
  action sent by the station) -> ``NotSupported`` ("recognized but not supported").
* **CALLs are handled on a separate task** from the receive loop, in arrival order, so a slow (delayed) answer or a
  handler that itself calls the station never blocks the CALLRESULTs the receive loop must deliver.
* 2.1 SEND frames (type 6) are counted and recorded; frames that are not OCPP-J are recorded and logged only.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import is_dataclass
from typing import Any, ClassVar, Protocol

from ocpp.charge_point import ChargePoint as _LibChargePoint
from ocpp.exceptions import InternalError, NotSupportedError, OCPPError
from ocpp.exceptions import NotImplementedError as OcppNotImplementedError
from ocpp.messages import Call, CallResult, unpack, validate_payload
from ocpp.messages import CallError as CallErrorMessage
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from hil.emulators.csms_model import (
    CALL,
    CALLERROR,
    CALLRESULT,
    SEND,
    CallError,
    CsmsBehaviour,
    Direction,
    Frame,
    InvalidResponse,
    StationNotConnected,
    StationState,
    Transaction,
    log_event,
    parse_frame,
)

log = logging.getLogger("hil.csms")

Payload = dict[str, Any]


class EndpointContext(Protocol):
    """What an endpoint needs from the emulator that owns it."""

    behaviour: CsmsBehaviour

    def now_iso(self) -> str: ...

    def next_transaction_id(self) -> int: ...


class RecordingConnection:
    """Wraps the websockets connection handed to the library: every frame is recorded raw before delegating."""

    def __init__(self, ws: ServerConnection, station_id: str, sink: Callable[[Frame], None]) -> None:
        self.ws = ws
        self.station_id = station_id
        self._sink = sink
        self._rx_calls: dict[str, str] = {}  # unique id -> action of CALLs received (answered by tx results)
        self._tx_calls: dict[str, str] = {}  # unique id -> action of CALLs sent (answered by rx results)

    async def recv(self) -> str | bytes:
        data = await self.ws.recv()
        self._record("rx", data)
        return data

    async def send(self, message: str) -> None:
        self._record("tx", message)
        await self.ws.send(message)

    def _record(self, direction: Direction, data: str | bytes) -> None:
        raw = data if isinstance(data, str) else data.decode("utf-8", "replace")
        mtype, uid, action, payload = parse_frame(raw)
        if uid is not None:
            own, peer = (self._rx_calls, self._tx_calls) if direction == "rx" else (self._tx_calls, self._rx_calls)
            if mtype == CALL and action is not None:
                own[uid] = action
            elif mtype in (CALLRESULT, CALLERROR):
                action = peer.pop(uid, None)
        self._sink(Frame(self.station_id, direction, raw, mtype, uid, action, payload, time.monotonic()))


async def _resolve(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class CsmsEndpoint(_LibChargePoint):
    """Version-independent part. Concrete classes add the version's ``ChargePoint`` base and ``@on`` handlers.

    ``@on`` handlers of these classes take the camelCase request payload and return the camelCase response
    (not the library's snake_case-kwargs / dataclass convention, see the module docstring).
    """

    _actions: ClassVar[frozenset[str]] = frozenset()
    _ocpp_version: str
    _call: Any

    def __init__(
        self, station_id: str, connection: RecordingConnection, ctx: EndpointContext, state: StationState
    ) -> None:
        super().__init__(station_id, connection, logger=logging.getLogger("hil.csms.ocpp"))
        self.connection = connection
        self._ctx = ctx
        self._state = state
        self._calls: asyncio.Queue[str | bytes] = asyncio.Queue()
        self._pending: dict[str, asyncio.Future[Any]] = {}

    # ------------------------------------------------------------------ receive side
    async def start(self) -> None:
        """Receive loop (replaces the library's): results go to waiting calls, CALLs to the worker task."""
        worker = asyncio.create_task(self._call_worker(), name=f"csms-calls-{self.id}")
        try:
            while True:
                self._dispatch(await self._connection.recv())
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(StationNotConnected(f"{self.id} disconnected before answering"))

    def _dispatch(self, raw: str | bytes) -> None:
        mtype, uid, action, _ = parse_frame(raw if isinstance(raw, str) else raw.decode("utf-8", "replace"))
        if mtype == CALL:
            self._calls.put_nowait(raw)
        elif mtype in (CALLRESULT, CALLERROR):
            try:
                msg = unpack(raw)
            except OCPPError as exc:
                log_event(log, logging.WARNING, "malformed_result", station_id=self.id, error=str(exc))
                return
            fut = self._pending.get(msg.unique_id)
            if fut is not None and not fut.done():
                fut.set_result(msg)
            elif not self._pending and self._call_lock.locked():
                self._response_queue.put_nowait(msg)  # a call made through the library's own call()
            else:
                log_event(log, logging.WARNING, "unsolicited_result", station_id=self.id, unique_id=uid)
        elif mtype == SEND:
            self._state.send_count += 1
            log_event(log, logging.INFO, "send_frame", station_id=self.id, action=action)
        else:
            log_event(log, logging.WARNING, "invalid_frame", station_id=self.id, message_type=mtype)

    async def _call_worker(self) -> None:
        try:
            while True:
                raw = await self._calls.get()
                try:
                    msg = unpack(raw)
                except OCPPError as exc:
                    log_event(log, logging.WARNING, "malformed_call", station_id=self.id, error=str(exc))
                    continue
                try:
                    await self._handle_call(msg)
                except OCPPError as exc:
                    log_event(
                        log,
                        logging.WARNING,
                        "callerror",
                        station_id=self.id,
                        action=msg.action,
                        code=exc.code,
                        cause=str(exc.details),
                    )
                    await self._send(msg.create_call_error(exc).to_json())
                except ConnectionClosed:
                    raise
                except Exception as exc:
                    log.exception("handler for %s from %s failed", msg.action, self.id)
                    await self._send(msg.create_call_error(exc).to_json())
        except ConnectionClosed:
            return

    def _unrouted(self, action: str) -> OCPPError:
        if action in self._actions:
            return NotSupportedError(
                description="Requested Action is recognized but not supported by the receiver",
                details={"cause": f"{action} is not a station-initiated action handled by this CSMS"},
            )
        return OcppNotImplementedError(
            description="Requested Action is not known by receiver",
            details={"cause": f"{action} is not an OCPP {self._ocpp_version} action"},
        )

    async def _handle_call(self, msg: Call) -> None:
        action: str = msg.action
        behaviour = self._ctx.behaviour
        route: dict[str, Any] = self.route_map.get(action, {})
        handler = route.get("_on_action")
        override = behaviour.handlers.get(action)
        if handler is None and override is None:
            raise self._unrouted(action)
        validate = not route.get("_skip_schema_validation", False)
        if validate:
            await validate_payload(msg, self._ocpp_version)
        self._state.action_counts[action] += 1
        if behaviour.unanswered.get(action, 0) > 0:
            behaviour.unanswered[action] -= 1
            log_event(log, logging.INFO, "call_ignored", station_id=self.id, action=action, unique_id=msg.unique_id)
            return
        if action in behaviour.silent_actions:
            log_event(log, logging.INFO, "call_ignored", station_id=self.id, action=action, unique_id=msg.unique_id)
            return
        delay = behaviour.action_delays_s.get(action, behaviour.response_delay_s)
        if delay > 0:
            await asyncio.sleep(delay)
        response = None
        if override is not None:
            response = await _resolve(override(self.id, msg.payload))
        if response is None:
            if handler is None:
                raise self._unrouted(action)
            response = await _resolve(handler(msg.payload))
        result = msg.create_call_result(response)
        if validate and behaviour.validate_responses:
            try:
                await validate_payload(CallResult(msg.unique_id, response, action), self._ocpp_version)
            except OCPPError as exc:
                log_event(log, logging.ERROR, "invalid_answer", station_id=self.id, action=action, error=str(exc))
                raise InternalError(details={"cause": f"CSMS produced an invalid {action} response"}) from exc
        await self._send(result.to_json())

    # ------------------------------------------------------------------ CSMS-initiated calls
    async def raw_call(self, action: str, payload: Payload, timeout: float, validate: bool = True) -> Payload:
        """Send a camelCase CALL without key conversion; return the camelCase CALLRESULT payload."""
        if action not in self._actions or not is_dataclass(getattr(self._call, action, None)):
            raise ValueError(f"{action!r} is not an OCPP {self._ocpp_version} action")
        unique_id = str(uuid.uuid4())
        if validate:  # validate a throw-away Call: 1.6 validation swaps floats for Decimals in its payload
            await validate_payload(Call(unique_id, action, payload), self._ocpp_version)
        call = Call(unique_id, action, payload)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout), self._call_lock:  # one outstanding CALL per connection
                fut: asyncio.Future[Any] = loop.create_future()
                self._pending[unique_id] = fut
                await self._send(call.to_json())
                response = await fut
        except TimeoutError:
            raise TimeoutError(f"no answer from {self.id} to {action} ({unique_id}) within {timeout} s") from None
        except ConnectionClosed as exc:
            raise StationNotConnected(f"{self.id} is not connected") from exc
        finally:
            self._pending.pop(unique_id, None)
        if isinstance(response, CallErrorMessage):
            raise CallError(self.id, action, response.error_code, response.error_description, response.error_details)
        if validate:
            try:
                await validate_payload(CallResult(unique_id, response.payload, action), self._ocpp_version)
            except OCPPError as exc:
                raise InvalidResponse(self.id, action, response.payload, exc) from exc
        result: Payload = response.payload
        return result

    # ------------------------------------------------------------------ shared default answers
    def _boot(self, payload: Payload) -> Payload:
        behaviour, st = self._ctx.behaviour, self._state
        statuses = behaviour.boot_statuses or ["Accepted"]
        status = statuses[min(st.boot_count, len(statuses) - 1)]
        st.boot_count += 1
        st.boot_status = status
        st.boot_payload = payload
        interval = behaviour.boot_interval if status == "Accepted" else behaviour.pending_interval
        log_event(log, logging.INFO, "boot", station_id=self.id, status=status, interval=interval)
        return {"status": status, "currentTime": self._ctx.now_iso(), "interval": interval}

    def _heartbeat(self) -> Payload:
        self._state.heartbeat_count += 1
        return {"currentTime": self._ctx.now_iso()}

    def _id_status(self, id_tag: str | None) -> str:
        return self._ctx.behaviour.id_status(id_tag)

    def _tx(self, transaction_id: int | str) -> Transaction:
        tx = self._state.transactions.get(transaction_id)
        if tx is None:
            tx = self._state.transactions[transaction_id] = Transaction(self.id, transaction_id)
        return tx
