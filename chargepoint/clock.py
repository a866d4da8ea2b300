"""Injected time.

Every sans-I/O core takes a :class:`Clock`. ``monotonic()`` drives timers and physics (seconds, never goes back);
``now()`` is the wall-clock UTC time stamped on OCPP messages. The harness runs cores on a :class:`VirtualClock`
much faster than real time; the firmware runs them on :class:`RealClock`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def now(self) -> datetime: ...


class RealClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)


class VirtualClock:
    """A clock that only moves when told to. ``now()`` follows ``monotonic()`` from a fixed epoch."""

    def __init__(self, start: datetime | None = None, monotonic: float = 0.0) -> None:
        self._epoch = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._t0 = monotonic
        self._t = monotonic

    def monotonic(self) -> float:
        return self._t

    def now(self) -> datetime:
        return self._epoch + timedelta(seconds=self._t - self._t0)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("virtual time cannot go backwards")
        self._t += seconds

    def set(self, t: float) -> None:
        if t < self._t:
            raise ValueError("virtual time cannot go backwards")
        self._t = t


def iso(dt: datetime) -> str:
    """OCPP date-time: UTC, millisecond precision, 'Z' suffix."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt
