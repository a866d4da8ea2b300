"""Builders shared by the smart-charging tests (no tests here)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import ocpp

from chargepoint.energy.model import (
    ChargingProfile,
    ChargingSchedule,
    Kind,
    OperationMode,
    Purpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
)

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def per(start: int, limit: float | None = None, **kw: Any) -> SchedulePeriod:
    return SchedulePeriod(start, limit, **kw)


def prof(
    pid: int,
    purpose: Purpose = Purpose.TX_DEFAULT,
    periods: Sequence[SchedulePeriod | tuple[int, float]] = ((0, 11_000.0),),
    *,
    stack: int = 0,
    evse: int = 1,
    kind: Kind = Kind.ABSOLUTE,
    start: datetime | None = T0,
    unit: RateUnit | str = RateUnit.W,
    duration: int | None = None,
    tx: str | None = None,
    rec: Recurrency | None = None,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    source: str = "CSO",
    min_rate: float | None = None,
    extras: dict[str, Any] | None = None,
    **kw: Any,
) -> ChargingProfile:
    ps = tuple(p if isinstance(p, SchedulePeriod) else SchedulePeriod(p[0], p[1]) for p in periods)
    if kind is Kind.RELATIVE:
        start = None
    sched = ChargingSchedule(
        rate_unit=RateUnit(unit), periods=ps, id=1, start_schedule=start, duration=duration,
        min_charging_rate=min_rate, extras=extras or {},
    )
    return ChargingProfile(
        id=pid, stack_level=stack, purpose=purpose, kind=kind, schedules=(sched,), evse_id=evse,
        recurrency_kind=rec, valid_from=valid_from, valid_to=valid_to, transaction_id=tx, limit_source=source, **kw,
    )


def limits_of(cs: Any) -> list[tuple[int, float | None]]:
    return [(p.start_s, p.limit) for p in cs.periods]


def v2x(start: int, mode: OperationMode, **kw: Any) -> SchedulePeriod:
    return SchedulePeriod(start, operation_mode=mode, **kw)


_SCHEMAS = Path(ocpp.__file__).parent


def schema_validate(version: str, action: str, payload: dict[str, Any]) -> None:
    """Validate ``payload`` against the OCA schema shipped with the ``ocpp`` package (numbers parsed as Decimal, as
    the library does, so 1.6's ``multipleOf 0.1`` works)."""
    if version == "1.6":
        path = _SCHEMAS / "v16" / "schemas" / f"{action}.json"
    else:
        path = _SCHEMAS / f"v{version.replace('.', '')}" / "schemas" / f"{action}.json"
    schema = json.loads(path.read_text(encoding="utf-8-sig"), parse_float=Decimal)
    data = json.loads(json.dumps(payload), parse_float=Decimal)
    cls = jsonschema.validators.validator_for(schema)
    cls(schema).validate(data)
