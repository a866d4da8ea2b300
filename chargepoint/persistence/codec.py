"""JSON encoding of the station's neutral actions, so queued messages survive a restart unchanged."""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from datetime import datetime
from typing import Any

from chargepoint.station import actions as A
from chargepoint.station import types as T

_ACTION_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        A.StatusChanged,
        A.AuthorizeRequest,
        A.TransactionStarted,
        A.TransactionUpdated,
        A.TransactionEnded,
        A.MeterValuesReport,
        A.RebootRequested,
        A.Unlocked,
        A.SecurityEvent,
    )
}


def _encode(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def encode_action(action: A.Action) -> dict[str, Any]:
    return {"type": type(action).__name__, "data": _encode(action)}


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls, vars(A) | vars(T) | {"datetime": datetime})
    return _HINTS[cls]


def _decode(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _decode(args[0], value) if len(args) == 1 else value
    if origin is tuple:
        (inner, *_rest) = typing.get_args(tp)
        return tuple(_decode(inner, v) for v in value)
    if tp is datetime:
        return datetime.fromisoformat(value["$dt"])
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        return tp(**{k: _decode(hints[k], v) for k, v in value.items() if k in hints})
    return value


def decode_action(obj: dict[str, Any]) -> A.Action:
    try:
        cls = _ACTION_TYPES[obj["type"]]
    except KeyError:
        raise ValueError(f"unknown queued action type {obj.get('type')!r}") from None
    action: A.Action = _decode(cls, obj["data"])
    return action
