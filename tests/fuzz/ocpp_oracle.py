"""What a station must answer to any inbound frame: the fuzz oracle.

Written from the OCPP-J rules (1.6 JSON spec §4, 2.0.1 / 2.1 Part 4 §4) and the error-class table in the
docstring of ``chargepoint/ocpp/strict.py``, not from its code:

* text that is not RFC 8259 JSON (not UTF-8, NaN/Infinity, numbers Python cannot hold) or nests arrays / objects
  deeper than the documented limit (``strict.MAX_NESTING``) -> FormatViolation (1.6: FormationViolation) with
  MessageId "-1", since no id is read;
* JSON that is no OCPP-J message (not an array, shorter than 3, MessageTypeId not an integer, MessageId not a
  string of 1..36 characters) -> RpcFrameworkError (1.6: ProtocolError);
* a CALL: wrong arity / action not a string -> RpcFrameworkError / ProtocolError; unknown action ->
  NotImplemented; known but unhandled -> NotSupported; payload not an object -> FormatViolation /
  FormationViolation; schema violations -> the class of the violated keyword (required / additionalProperties /
  minItems / maxItems -> OccurrenceConstraintViolation (1.6 spelling: Occurence...), type ->
  TypeConstraintViolation, everything else -> PropertyConstraintViolation); a valid CALL -> CALLRESULT;
* a CALLRESULT / CALLERROR, and in 2.1 a CALLRESULTERROR (5) or SEND (6) -> no answer at all;
* any other MessageTypeId -> MessageTypeNotSupported (1.6: ProtocolError).

InternalError is never an acceptable answer: it means a handler failed.
"""

from __future__ import annotations

import decimal
import json
from dataclasses import dataclass
from typing import Any

from jsonschema.exceptions import ValidationError
from ocpp.messages import MessageType, get_validator

from chargepoint.ocpp.strict import MAX_NESTING, known_actions

from .ocpp_rig import strict_loads


def codes(version: str) -> dict[str, str]:
    if version == "1.6":
        return {"format": "FormationViolation", "framework": "ProtocolError", "message_type": "ProtocolError",
                "occurrence": "OccurenceConstraintViolation", "type": "TypeConstraintViolation",
                "property": "PropertyConstraintViolation"}
    return {"format": "FormatViolation", "framework": "RpcFrameworkError", "message_type": "MessageTypeNotSupported",
            "occurrence": "OccurrenceConstraintViolation", "type": "TypeConstraintViolation",
            "property": "PropertyConstraintViolation"}


_KEYWORD_CLASS = {"required": "occurrence", "additionalProperties": "occurrence", "minItems": "occurrence",
                  "maxItems": "occurrence", "type": "type"}

# Documented handler-level refusals of schema-valid CALLs (2.x DeviceDataCtrlr ItemsPerMessage / BytesPerMessage).
_HANDLER_CODES = {"GetVariables": ("occurrence", "format"), "SetVariables": ("occurrence", "format")}


@dataclass(frozen=True)
class Expect:
    answers: int  # how many answers (CALLRESULT or CALLERROR) the frame must get: 0 or 1
    uids: frozenset[str] = frozenset()  # the MessageId the answer may carry
    codes: frozenset[str] = frozenset()  # acceptable CALLERROR codes
    result_ok: bool = False  # a CALLRESULT is the right answer
    why: str = ""


def _schema_classes(version: str, action: str, payload: dict[str, Any]) -> set[str]:
    if version == "1.6" and action in ("SetChargingProfile", "RemoteStartTransaction"):
        validator = get_validator(MessageType.Call, action, version, parse_float=decimal.Decimal)
        payload = json.loads(json.dumps(payload), parse_float=decimal.Decimal)
    else:
        validator = get_validator(MessageType.Call, action, version)
    errors: list[ValidationError] = list(validator.iter_errors(payload))
    return {_KEYWORD_CLASS.get(str(e.validator), "property") for e in errors}


def expect(version: str, frame: str | bytes, handled: frozenset[str]) -> Expect:
    c = codes(version)
    try:
        msg = strict_loads(frame, MAX_NESTING)
    except (ValueError, UnicodeDecodeError):
        return Expect(1, frozenset({"-1"}), frozenset({c["format"]}), why="not JSON")
    if not isinstance(msg, list) or len(msg) < 3 or type(msg[0]) is not int:
        uids = {"-1"}
        if isinstance(msg, list) and len(msg) > 1 and isinstance(msg[1], str):
            uids.add(msg[1])
        return Expect(1, frozenset(uids), frozenset({c["framework"]}), why="not an OCPP-J array")
    mtype, uid = msg[0], msg[1]
    if not isinstance(uid, str) or not 1 <= len(uid) <= 36:
        return Expect(1, frozenset({"-1"}), frozenset({c["framework"]}), why="bad MessageId")
    ids = frozenset({uid})
    if mtype in (3, 4) or (version == "2.1" and mtype in (5, 6)):
        return Expect(0, why="a response (or 2.1 SEND) is never answered")
    if mtype != 2:
        return Expect(1, ids, frozenset({c["message_type"]}), why="unknown MessageTypeId")
    if len(msg) != 4 or not isinstance(msg[2], str):
        return Expect(1, ids, frozenset({c["framework"]}), why="malformed CALL")
    action, payload = msg[2], msg[3]
    if action not in known_actions(version):
        return Expect(1, ids, frozenset({"NotImplemented"}), why="unknown action")
    if action not in handled:
        return Expect(1, ids, frozenset({"NotSupported"}), why="unhandled action")
    if not isinstance(payload, dict):
        return Expect(1, ids, frozenset({c["format"]}), why="payload not an object")
    classes = _schema_classes(version, action, payload)
    if classes:
        return Expect(1, ids, frozenset(c[k] for k in classes), why=f"schema: {sorted(classes)}")
    allowed = frozenset(c[k] for k in _HANDLER_CODES.get(action, ()))
    return Expect(1, ids, allowed, result_ok=True, why="valid CALL")
