"""Strict inbound routing for OCPP-J, shared by every adapter.

The `ocpp` library logs and drops frames it cannot parse, maps schema errors to codes that differ from the
specifications, and (for 2.1) silently drops actions without a handler. This mixin replaces its ``route_message``:

* not JSON                         -> CALLERROR FormationViolation (1.6) / FormatViolation (2.x), id "-1"; "JSON" is
  RFC 8259 in UTF-8 (:func:`parse_frame`): no NaN / Infinity, no number beyond a double or Python's integer
  limits, no nesting deeper than MAX_NESTING
* not an array, wrong arity/types  -> ProtocolError (1.6) / RpcFrameworkError (2.x) (a boolean MessageTypeId too)
* unknown MessageTypeId            -> ProtocolError (1.6) / MessageTypeNotSupported (2.x); 2.1 CALLRESULTERROR (5) and
  SEND (6) are known there and get no answer
* action unknown to the version    -> NotImplemented
* action known but not handled     -> NotSupported
* payload not an object            -> FormationViolation / FormatViolation
* required / additionalProperties / minItems / maxItems violated -> OccurenceConstraintViolation (1.6 spelling) /
  OccurrenceConstraintViolation
* wrong JSON type                   -> TypeConstraintViolation
* enum, maxLength, minimum, maximum, pattern, multipleOf, format -> PropertyConstraintViolation

Rejected CALLs never reach a handler, so they change no state. The connection stays up. A CALLRESULT / CALLERROR
while none of our CALLs is in flight is dropped (logged).
"""

from __future__ import annotations

import asyncio
import decimal
import json
import logging
import math
from typing import TYPE_CHECKING, Any

from jsonschema.exceptions import ValidationError as SchemaValidationError
from ocpp.messages import Call, CallError, CallResult, MessageType, get_validator

log = logging.getLogger("chargepoint.ocpp")

_V16_ACTIONS: set[str] | None = None
CALLRESULTERROR, SEND = 5, 6  # OCPP 2.1 MessageTypeIds the library does not know
# Arrays / objects a frame may nest. The deepest OCPP request (2.x ReportChargingProfiles) needs 14 levels with the
# frame itself; the rest is headroom for customData.
MAX_NESTING = 64


def _known_actions(version: str) -> set[str]:
    if version == "1.6":
        from ocpp.v16.enums import Action as A16

        return {a.value for a in A16}
    if version == "2.0.1":
        from ocpp.v201.enums import Action as A201

        return {a.value for a in A201}
    from ocpp.v21.enums import Action as A21

    return {a.value for a in A21}


_KNOWN: dict[str, set[str]] = {}


def known_actions(version: str) -> set[str]:
    if version not in _KNOWN:
        _KNOWN[version] = _known_actions(version)
    return _KNOWN[version]


class Codes:
    def __init__(self, version: str) -> None:
        v16 = version == "1.6"
        self.format = "FormationViolation" if v16 else "FormatViolation"
        self.framework = "ProtocolError" if v16 else "RpcFrameworkError"
        self.message_type = "ProtocolError" if v16 else "MessageTypeNotSupported"
        self.occurrence = "OccurenceConstraintViolation" if v16 else "OccurrenceConstraintViolation"
        self.type = "TypeConstraintViolation"
        self.property = "PropertyConstraintViolation"
        self.not_implemented = "NotImplemented"
        self.not_supported = "NotSupported"


_OCCURRENCE = {"required", "additionalProperties", "minItems", "maxItems", "minProperties", "maxProperties"}
_TYPE = {"type"}


def classify(error: SchemaValidationError, codes: Codes) -> str:
    if error.validator in _OCCURRENCE:
        return codes.occurrence
    if error.validator in _TYPE:
        return codes.type
    return codes.property


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"number {literal[:20]} does not fit a double")
    return value


def _nesting_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def parse_frame(raw: str | bytes) -> Any:
    """Parse an OCPP-J frame as RFC 8259 JSON in UTF-8. Raises ValueError for anything else: invalid UTF-8, NaN /
    Infinity, numbers that overflow a double or exceed Python's integer-digit limit, and arrays / objects nested
    deeper than :data:`MAX_NESTING` (which also keeps every later recursive step - schema validation, key
    conversion, serialising an echo - far from Python's recursion limit)."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    try:
        msg = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError as e:
        raise ValueError("nested too deeply") from e
    if _nesting_exceeds(msg, MAX_NESTING):
        raise ValueError(f"nested deeper than {MAX_NESTING} levels")
    return msg


def _error_frame(unique_id: str, code: str, description: str, details: dict[str, Any] | None = None) -> str:
    return json.dumps([MessageType.CallError, unique_id, code, description[:255], details or {}])


class StrictRouter:
    """Mixin for ``ocpp.vXX.ChargePoint`` subclasses. Requires ``_ocpp_version``, ``route_map`` and ``_send``."""

    _ocpp_version: str
    route_map: dict[str, dict[str, Any]]
    rejected_frames: int = 0
    #: CSMS CALLs being handled whose answer is not sent yet (the session lets them out before a reboot).
    answering: int = 0

    _response_queue: Any
    _call_lock: Any

    if TYPE_CHECKING:  # provided by ocpp.ChargePoint; real stubs here would shadow it (this mixin comes first)

        async def _send(self, message: str) -> None: ...

        async def _handle_call(self, msg: Call) -> Any: ...

    async def _get_specific_response(self, unique_id: str, timeout: float) -> Any:
        """The answer to our CALL ``unique_id``; other responses in the queue are skipped. Replaces the library's
        version, which recurses once per skipped response (a RecursionError after ~1000 stale responses)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError
            response = await asyncio.wait_for(self._response_queue.get(), left)
            if response.unique_id == unique_id:
                return response
            log.warning("ignored a response to an unknown CALL %s", response.unique_id)

    def refuse_call(self, action: str) -> str | None:
        """Why a valid CSMS CALL may not be carried out now (answered with CALLERROR SecurityError), or None."""
        return None

    def check_call(self, msg: list[Any]) -> str | None:
        """Return a CALLERROR frame for an invalid CALL, or None when it may be handled."""
        version = self._ocpp_version
        codes = Codes(version)
        unique_id = msg[1]
        action = msg[2]
        payload = msg[3]
        if not isinstance(action, str):
            return _error_frame(unique_id, codes.framework, "Action must be a string")
        if action not in known_actions(version):
            return _error_frame(unique_id, codes.not_implemented, f"Unknown action {action!r} for OCPP {version}")
        if action not in self.route_map or "_on_action" not in self.route_map[action]:
            return _error_frame(unique_id, codes.not_supported, f"Action {action!r} is not supported")
        if not isinstance(payload, dict):
            return _error_frame(unique_id, codes.format, "Payload must be a JSON object")
        try:
            if version == "1.6" and action in ("SetChargingProfile", "RemoteStartTransaction"):
                validator = get_validator(MessageType.Call, action, version, parse_float=decimal.Decimal)
                payload = json.loads(json.dumps(payload), parse_float=decimal.Decimal)
            else:
                validator = get_validator(MessageType.Call, action, version)
        except OSError:
            return _error_frame(unique_id, codes.not_supported, f"No schema for {action!r}")
        error = next(iter(sorted(validator.iter_errors(payload), key=lambda e: e.path)), None)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(payload)"
            return _error_frame(unique_id, classify(error, codes), f"{where}: {error.message}")
        return None

    async def route_message(self, raw_msg: str | bytes) -> None:
        codes = Codes(self._ocpp_version)
        try:
            msg = parse_frame(raw_msg)
        except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, and the limits of parse_frame
            self.rejected_frames += 1
            log.warning("rejected frame: not JSON (%s)", e)
            await self._send(_error_frame("-1", codes.format, "Message is not valid JSON"))
            return
        if not isinstance(msg, list) or len(msg) < 3 or type(msg[0]) is not int:  # JSON true/false are no ids
            self.rejected_frames += 1
            uid = msg[1] if isinstance(msg, list) and len(msg) > 1 and isinstance(msg[1], str) else "-1"
            await self._send(_error_frame(uid, codes.framework, "Message is not an OCPP-J array"))
            return
        mtype, uid = msg[0], msg[1]
        if not isinstance(uid, str) or not 0 < len(uid) <= 36:
            self.rejected_frames += 1
            await self._send(_error_frame("-1", codes.framework, "MessageId must be a string of 1..36 characters"))
            return
        if mtype == MessageType.Call:
            if len(msg) != 4:
                self.rejected_frames += 1
                await self._send(_error_frame(uid, codes.framework, "CALL must have 4 elements"))
                return
            error = self.check_call(msg)
            if error is not None:
                self.rejected_frames += 1
                log.warning("rejected CALL %s %s: %s", uid, msg[2], error)
                await self._send(error)
                return
            refused = self.refuse_call(msg[2])
            if refused is not None:
                log.warning("refused CALL %s %s: %s", uid, msg[2], refused)
                await self._send(_error_frame(uid, "SecurityError", refused))
                return
            call = Call(uid, msg[2], msg[3])
            self.answering += 1
            try:
                await self._handle_call(call)
            except Exception as e:  # handler bugs become InternalError, never a dropped frame
                log.exception("handler for %s failed", msg[2])
                await self._send(_error_frame(uid, "InternalError", str(e) or type(e).__name__))
            finally:
                self.answering -= 1
            return
        if mtype in (MessageType.CallResult, MessageType.CallError) and not self._call_lock.locked():
            # No CALL of ours is in flight (the library holds the lock from sending until the answer): a late or
            # unsolicited response. Queueing it would only let a flood of them pile up in memory.
            self.rejected_frames += 1
            log.warning("dropped response %s: no CALL in flight", uid)
            return
        if mtype == MessageType.CallResult and len(msg) == 3:
            self._response_queue.put_nowait(CallResult(uid, msg[2]))
            return
        if mtype == MessageType.CallError and len(msg) == 5:
            self._response_queue.put_nowait(CallError(uid, msg[2], msg[3], msg[4]))
            return
        if mtype in (MessageType.CallResult, MessageType.CallError):
            self.rejected_frames += 1
            log.warning("dropped malformed response %s", uid)
            return
        if self._ocpp_version == "2.1" and mtype in (CALLRESULTERROR, SEND):
            # 2.1 Part 4: neither is ever answered. A CALLRESULTERROR reports a CALLRESULT of ours the CSMS could not
            # process; no CSMS-to-station action is sent as SEND.
            self.rejected_frames += 1
            log.warning("ignored OCPP 2.1 %s %s: %s", "SEND" if mtype == SEND else "CALLRESULTERROR", uid, msg[2:])
            return
        self.rejected_frames += 1
        await self._send(_error_frame(uid, codes.message_type, f"MessageTypeId {mtype} is not supported"))
