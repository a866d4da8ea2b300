"""Meter values: which measurands to report and when.

Sampled values are taken every ``sample_interval_s`` from the transaction start (monotonic time); clock-aligned
values at every multiple of ``aligned_interval_s`` past midnight UTC (wall time), with or without a transaction.
A :class:`SamplingPlan` (``Station.sampling``) may add measurands and change the interval per EVSE (OCPP 2.1
V2XChargingCtrlr, per operation mode: :mod:`chargepoint.ocpp.v21_variables`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from chargepoint.hardware.interfaces import MeterReading, PortState
from chargepoint.station.types import Measurand, MeterSample, ReadingContext, SampledValue

DEFAULT_MEASURANDS: tuple[Measurand, ...] = (
    Measurand.ENERGY_IMPORT_REGISTER,
    Measurand.ENERGY_EXPORT_REGISTER,
    Measurand.POWER_IMPORT,
    Measurand.POWER_EXPORT,
    Measurand.CURRENT_IMPORT,
    Measurand.CURRENT_EXPORT,
    Measurand.VOLTAGE,
    Measurand.SOC,
)


Measurands = tuple[Measurand, ...]


class SamplingPlan(Protocol):
    """Per-EVSE additions to the station's sampling settings, asked at every transaction sample."""

    def measurands(self, evse_id: int, context: ReadingContext, base: Measurands) -> Measurands:
        """The measurands of a Transaction.Begin / Sample.Periodic / Transaction.End sample (``base``: the
        settings')."""
        ...

    def interval_s(self, evse_id: int, base: int) -> int:
        """The periodic sample interval now (``base``: the settings'), 0 = none."""
        ...

    def observe(self, evse_id: int, tx_id: str, state: PortState, now: datetime, mono: float) -> None:
        """Every tick of a running transaction (interim samples of its own)."""
        ...

    def ended_samples(self, tx_id: str) -> tuple[MeterSample, ...]:
        """Extra samples for the transaction's end message (asked once, when it ends)."""
        ...


def parse_measurands(text: str) -> tuple[Measurand, ...]:
    """Parse a CSL of measurand names, raising ValueError naming the first unknown one."""
    out: list[Measurand] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            out.append(Measurand(part))
        except ValueError:
            raise ValueError(f"unsupported measurand {part!r}") from None
    return tuple(out)


def measurand_value(m: Measurand, reading: MeterReading, soc: float | None) -> float | None:
    p = reading.power_w
    i = reading.current_a
    match m:
        case Measurand.ENERGY_IMPORT_REGISTER:
            return reading.import_wh
        case Measurand.ENERGY_EXPORT_REGISTER:
            return reading.export_wh
        case Measurand.POWER_IMPORT:
            return max(p, 0.0)
        case Measurand.POWER_EXPORT:
            return max(-p, 0.0)
        case Measurand.CURRENT_IMPORT:
            return max(i, 0.0)
        case Measurand.CURRENT_EXPORT:
            return max(-i, 0.0)
        case Measurand.VOLTAGE:
            return reading.voltage_v
        case Measurand.SOC:
            return soc
    return None  # pragma: no cover


def build_sample(
    timestamp: datetime,
    measurands: Iterable[Measurand],
    reading: MeterReading,
    soc: float | None,
    context: ReadingContext,
) -> MeterSample:
    values: list[SampledValue] = []
    for m in measurands:
        v = measurand_value(m, reading, soc)
        if v is None:
            continue  # SoC unknown: leave it out rather than invent a number
        loc = "EV" if m == Measurand.SOC else "Outlet"
        values.append(SampledValue(m, round(v, 3), context, loc))
    return MeterSample(timestamp, tuple(values))


def next_aligned(now: datetime, interval_s: float) -> float:
    """Seconds from ``now`` until the next clock-aligned boundary (midnight-based), always > 0."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    since = (now - midnight).total_seconds()
    nxt = math.floor(since / interval_s + 1e-9) * interval_s + interval_s
    return max(nxt - since, 1e-6)
