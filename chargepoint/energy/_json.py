"""Typed reads from OCPP JSON objects, with errors that name the offending field."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from chargepoint.clock import parse_iso

__all__ = [
    "ProfileFormatError",
    "check_keys",
    "get_bool",
    "get_date",
    "get_enum",
    "get_int",
    "get_list",
    "get_num",
    "get_obj",
]

E = TypeVar("E", bound=StrEnum)


class ProfileFormatError(ValueError):
    """The dict is not a charging profile of that OCPP version (missing/unknown key, wrong type)."""


def check_keys(d: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(d) - allowed)
    if extra:
        raise ProfileFormatError(f"{where}: unknown key(s) {', '.join(extra)}")


def get_obj(d: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    v = d.get(key)
    if not isinstance(v, Mapping):
        raise ProfileFormatError(f"{where}.{key}: expected an object")
    return v


def get_int(d: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> int | None:
    v = d.get(key)
    if v is None:
        if required:
            raise ProfileFormatError(f"{where}.{key}: required")
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise ProfileFormatError(f"{where}.{key}: expected an integer, got {v!r}")
    return v


def get_num(d: Mapping[str, Any], key: str, where: str) -> float | None:
    v = d.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ProfileFormatError(f"{where}.{key}: expected a number, got {v!r}")
    return v


def get_bool(d: Mapping[str, Any], key: str, where: str) -> bool | None:
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, bool):
        raise ProfileFormatError(f"{where}.{key}: expected a boolean, got {v!r}")
    return v


def get_date(d: Mapping[str, Any], key: str, where: str) -> datetime | None:
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise ProfileFormatError(f"{where}.{key}: expected a date-time string")
    try:
        return parse_iso(v)
    except ValueError as e:
        raise ProfileFormatError(f"{where}.{key}: not a date-time: {v!r}") from e


def get_enum(d: Mapping[str, Any], key: str, where: str, cls: type[E], *, required: bool = False) -> E | None:
    v = d.get(key)
    if v is None:
        if required:
            raise ProfileFormatError(f"{where}.{key}: required")
        return None
    try:
        return cls(v)
    except ValueError as e:
        raise ProfileFormatError(f"{where}.{key}: {v!r} is not a {cls.__name__}") from e


def get_list(d: Mapping[str, Any], key: str, where: str) -> Sequence[Any]:
    v = d.get(key)
    if not isinstance(v, list) or not v:
        raise ProfileFormatError(f"{where}.{key}: expected a non-empty array")
    return v
