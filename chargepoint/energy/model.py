"""Version-neutral smart-charging model: charging profiles, schedules, periods, and unit conversion.

One model for OCPP 1.6, 2.0.1 and 2.1. Field names are snake_case, values are the protocol's (the rate unit of a
schedule is kept: A or W); signs follow the project convention (+ into the car, - out of it), which is also OCPP
2.1's: ``discharge_limit`` is <= 0 and a negative ``setpoint`` asks for discharge.

Nothing here does I/O or reads a clock. :mod:`chargepoint.energy.ocpp_codec` converts to and from the OCPP JSON
of each version; :func:`profile_to_dict` / :func:`profile_from_dict` are the lossless persistence form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from chargepoint.clock import parse_iso

__all__ = [
    "DAY_S",
    "WEEK_S",
    "ChargingProfile",
    "ChargingSchedule",
    "CompositePeriod",
    "CompositeSchedule",
    "EffectiveLimits",
    "Kind",
    "OcppVersion",
    "OperationMode",
    "Purpose",
    "RateUnit",
    "Recurrency",
    "SchedulePeriod",
    "TxInfo",
    "convert_rate",
    "from_watts",
    "profile_from_dict",
    "profile_to_dict",
    "to_watts",
]

DAY_S = 86_400
WEEK_S = 7 * DAY_S


class OcppVersion(StrEnum):
    V16 = "1.6"
    V201 = "2.0.1"
    V21 = "2.1"


class Purpose(StrEnum):
    """chargingProfilePurpose. 1.6 ``ChargePointMaxProfile`` maps to :attr:`STATION_MAX`."""

    STATION_MAX = "ChargingStationMaxProfile"
    TX_DEFAULT = "TxDefaultProfile"
    TX = "TxProfile"
    EXTERNAL_CONSTRAINTS = "ChargingStationExternalConstraints"  # 2.0.1+
    PRIORITY_CHARGING = "PriorityCharging"  # 2.1
    LOCAL_GENERATION = "LocalGeneration"  # 2.1


class Kind(StrEnum):
    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"
    DYNAMIC = "Dynamic"  # 2.1


class Recurrency(StrEnum):
    DAILY = "Daily"
    WEEKLY = "Weekly"

    @property
    def seconds(self) -> int:
        return DAY_S if self is Recurrency.DAILY else WEEK_S


class RateUnit(StrEnum):
    A = "A"  # per phase (AC); the DC current
    W = "W"  # total over all phases


class OperationMode(StrEnum):
    """2.1 OperationModeEnumType. An absent operationMode in 2.1 means CHARGING_ONLY; ``None`` in the model means
    "not specified" (1.6 / 2.0.1 profiles), which constrains charging only."""

    IDLE = "Idle"
    CHARGING_ONLY = "ChargingOnly"
    CENTRAL_SETPOINT = "CentralSetpoint"
    EXTERNAL_SETPOINT = "ExternalSetpoint"
    EXTERNAL_LIMITS = "ExternalLimits"
    CENTRAL_FREQUENCY = "CentralFrequency"
    LOCAL_FREQUENCY = "LocalFrequency"
    LOCAL_LOAD_BALANCING = "LocalLoadBalancing"


@dataclass(frozen=True)
class SchedulePeriod:
    """ChargingSchedulePeriod. Values are in the schedule's rate unit. ``limit``/``setpoint``/``discharge_limit``
    are the sum of all phases in W (per phase in A) unless ``*_l2``/``*_l3`` are given, then they are phase L1."""

    start_s: int
    limit: float | None = None
    limit_l2: float | None = None
    limit_l3: float | None = None
    number_phases: int | None = None
    phase_to_use: int | None = None
    discharge_limit: float | None = None  # <= 0
    discharge_limit_l2: float | None = None
    discharge_limit_l3: float | None = None
    setpoint: float | None = None  # signed: negative = discharge
    setpoint_l2: float | None = None
    setpoint_l3: float | None = None
    setpoint_reactive: float | None = None
    setpoint_reactive_l2: float | None = None
    setpoint_reactive_l3: float | None = None
    operation_mode: OperationMode | None = None
    v2x_baseline: float | None = None  # W
    v2x_freq_watt_curve: tuple[tuple[float, float], ...] = ()  # (Hz, W)
    v2x_signal_watt_curve: tuple[tuple[int, float], ...] = ()  # (aFRR signal, W)
    evse_sleep: bool | None = None
    preconditioning_request: bool | None = None


@dataclass(frozen=True)
class ChargingSchedule:
    """ChargingSchedule. ``id`` is None for 1.6 (no schedule id there). ``extras`` keeps fields the core does not
    interpret (salesTariff, limitAtSoC, randomizedDelay, useLocalTime, price schedules, customData ...) verbatim."""

    rate_unit: RateUnit
    periods: tuple[SchedulePeriod, ...]
    id: int | None = None
    start_schedule: datetime | None = None
    duration: int | None = None
    min_charging_rate: float | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChargingProfile:
    """ChargingProfile plus where it is installed (``evse_id``: 1.6 connectorId / 2.x evseId of the request;
    0 = the station) and who set it (``limit_source``: "CSO" for the CSMS, or the external system's
    ChargingLimitSource such as "EMS" / "SO" / "Other")."""

    id: int
    stack_level: int
    purpose: Purpose
    kind: Kind
    schedules: tuple[ChargingSchedule, ...]
    evse_id: int = 0
    recurrency_kind: Recurrency | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = None
    max_offline_duration: int | None = None
    invalid_after_offline_duration: bool | None = None
    dyn_update_interval: int | None = None
    dyn_update_time: datetime | None = None
    limit_source: str = "CSO"
    extras: Mapping[str, Any] = field(default_factory=dict)

    @property
    def schedule(self) -> ChargingSchedule:
        """The schedule in force: the first one (2.x allows up to three for ISO 15118 schedule selection)."""
        return self.schedules[0]

    @property
    def external(self) -> bool:
        return self.limit_source != "CSO"

    def with_transaction(self, transaction_id: str) -> ChargingProfile:
        return replace(self, transaction_id=transaction_id)


class TxInfo(NamedTuple):
    """The transaction running on an EVSE: its id and when it started (Relative profiles are anchored there)."""

    id: str
    start: datetime


@dataclass(frozen=True)
class CompositePeriod:
    """One period of a composite schedule, in the composite's unit. ``None`` = not constrained by any profile."""

    start_s: int
    limit: float | None = None
    discharge_limit: float | None = None  # <= 0
    setpoint: float | None = None  # signed, already clamped into [discharge_limit, limit]
    setpoint_reactive: float | None = None
    operation_mode: OperationMode | None = None
    number_phases: int | None = None
    min_charging_rate: float | None = None
    v2x_baseline: float | None = None  # W
    v2x_freq_watt_curve: tuple[tuple[float, float], ...] = ()
    v2x_signal_watt_curve: tuple[tuple[int, float], ...] = ()
    evse_sleep: bool | None = None
    preconditioning_request: bool | None = None
    source_ids: tuple[int, ...] = ()  # profiles that contributed (explanation; not part of OCPP)


@dataclass(frozen=True)
class CompositeSchedule:
    evse_id: int
    start: datetime
    duration_s: int
    unit: RateUnit
    periods: tuple[CompositePeriod, ...]

    @property
    def min_charging_rate(self) -> float | None:
        """Schedule-level minChargingRate (1.6 reports one): the largest one met in the periods."""
        rates = [p.min_charging_rate for p in self.periods if p.min_charging_rate is not None]
        return max(rates) if rates else None

    def at(self, offset_s: float) -> CompositePeriod:
        """The period in force ``offset_s`` seconds after :attr:`start`."""
        current = self.periods[0]
        for p in self.periods:
            if p.start_s <= offset_s:
                current = p
            else:
                break
        return current


@dataclass(frozen=True)
class EffectiveLimits:
    """What the profiles say for one EVSE at one instant, in watts (the input of arbitration every cycle).

    ``charge_limit_w`` >= 0 and ``discharge_limit_w`` <= 0, or None when no profile constrains that direction;
    ``setpoint_w`` is clamped into them. ``operation_mode`` None = no 2.1 mode given (1.6 / 2.0.1 profiles or no
    profile at all)."""

    charge_limit_w: float | None = None
    discharge_limit_w: float | None = None
    setpoint_w: float | None = None
    operation_mode: OperationMode | None = None
    source_profile_ids: tuple[int, ...] = ()
    setpoint_reactive: float | None = None
    min_charging_rate_w: float | None = None
    v2x_baseline_w: float | None = None
    v2x_freq_watt_curve: tuple[tuple[float, float], ...] = ()
    v2x_signal_watt_curve: tuple[tuple[int, float], ...] = ()
    evse_sleep: bool = False
    preconditioning_request: bool = False


# ---------------------------------------------------------------------------------------------------------------
# Units


def _factor(voltage_v: float, phases: int | None) -> float:
    """W per A: ``V * phases`` for AC (A is per phase), ``V`` for DC (``phases`` None)."""
    if voltage_v <= 0:
        raise ValueError(f"voltage must be > 0 to convert between A and W, got {voltage_v}")
    if phases is None:
        return voltage_v
    if phases < 1:
        raise ValueError(f"phases must be 1..3 (None for DC), got {phases}")
    return voltage_v * phases


def to_watts(value: float, unit: RateUnit | str, *, voltage_v: float, phases: int | None) -> float:
    """A value in ``unit`` as watts. AC: P = V * I * phases; DC (``phases`` None): P = V * I."""
    if RateUnit(unit) is RateUnit.W:
        return value
    return value * _factor(voltage_v, phases)


def from_watts(watts: float, unit: RateUnit | str, *, voltage_v: float, phases: int | None) -> float:
    """Watts expressed in ``unit`` (the inverse of :func:`to_watts`)."""
    if RateUnit(unit) is RateUnit.W:
        return watts
    return watts / _factor(voltage_v, phases)


def convert_rate(
    value: float, src: RateUnit | str, dst: RateUnit | str, *, voltage_v: float, phases: int | None
) -> float:
    """Convert between rate units; the identity (exactly) when the units match."""
    if RateUnit(src) is RateUnit(dst):
        return value
    return from_watts(to_watts(value, src, voltage_v=voltage_v, phases=phases), dst, voltage_v=voltage_v, phases=phases)


# ---------------------------------------------------------------------------------------------------------------
# Lossless persistence form (JSON-compatible dicts, snake_case; not an OCPP format)

_PROFILE_DATES = ("valid_from", "valid_to", "dyn_update_time")


def _period_to_dict(p: SchedulePeriod) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(p):
        v = getattr(p, f.name)
        if v is None or v == ():
            continue
        if isinstance(v, tuple):
            v = [list(pt) for pt in v]
        out[f.name] = str(v) if isinstance(v, StrEnum) else v
    return out


def _period_from_dict(d: Mapping[str, Any]) -> SchedulePeriod:
    kw: dict[str, Any] = dict(d)
    if "operation_mode" in kw:
        kw["operation_mode"] = OperationMode(kw["operation_mode"])
    if "v2x_freq_watt_curve" in kw:
        kw["v2x_freq_watt_curve"] = tuple((float(a), float(b)) for a, b in kw["v2x_freq_watt_curve"])
    if "v2x_signal_watt_curve" in kw:
        kw["v2x_signal_watt_curve"] = tuple((int(a), float(b)) for a, b in kw["v2x_signal_watt_curve"])
    return SchedulePeriod(**kw)


def _schedule_to_dict(s: ChargingSchedule) -> dict[str, Any]:
    return {
        "id": s.id,
        "rate_unit": str(s.rate_unit),
        "start_schedule": s.start_schedule.isoformat() if s.start_schedule else None,
        "duration": s.duration,
        "min_charging_rate": s.min_charging_rate,
        "periods": [_period_to_dict(p) for p in s.periods],
        "extras": dict(s.extras),
    }


def _schedule_from_dict(d: Mapping[str, Any]) -> ChargingSchedule:
    return ChargingSchedule(
        id=d.get("id"),
        rate_unit=RateUnit(d["rate_unit"]),
        start_schedule=parse_iso(d["start_schedule"]) if d.get("start_schedule") else None,
        duration=d.get("duration"),
        min_charging_rate=d.get("min_charging_rate"),
        periods=tuple(_period_from_dict(p) for p in d["periods"]),
        extras=dict(d.get("extras") or {}),
    )


def profile_to_dict(p: ChargingProfile) -> dict[str, Any]:
    """The lossless JSON-compatible form used by the profile store's persistence."""
    out: dict[str, Any] = {
        "id": p.id,
        "stack_level": p.stack_level,
        "purpose": str(p.purpose),
        "kind": str(p.kind),
        "evse_id": p.evse_id,
        "recurrency_kind": str(p.recurrency_kind) if p.recurrency_kind else None,
        "transaction_id": p.transaction_id,
        "max_offline_duration": p.max_offline_duration,
        "invalid_after_offline_duration": p.invalid_after_offline_duration,
        "dyn_update_interval": p.dyn_update_interval,
        "limit_source": p.limit_source,
        "extras": dict(p.extras),
        "schedules": [_schedule_to_dict(s) for s in p.schedules],
    }
    for name in _PROFILE_DATES:
        v = getattr(p, name)
        out[name] = v.isoformat() if v else None
    return out


def profile_from_dict(d: Mapping[str, Any]) -> ChargingProfile:
    """Inverse of :func:`profile_to_dict`. Raises KeyError/ValueError/TypeError on malformed input."""
    dates = {name: parse_iso(d[name]) if d.get(name) else None for name in _PROFILE_DATES}
    return ChargingProfile(
        id=int(d["id"]),
        stack_level=int(d["stack_level"]),
        purpose=Purpose(d["purpose"]),
        kind=Kind(d["kind"]),
        evse_id=int(d["evse_id"]),
        recurrency_kind=Recurrency(d["recurrency_kind"]) if d.get("recurrency_kind") else None,
        transaction_id=d.get("transaction_id"),
        max_offline_duration=d.get("max_offline_duration"),
        invalid_after_offline_duration=d.get("invalid_after_offline_duration"),
        dyn_update_interval=d.get("dyn_update_interval"),
        limit_source=str(d.get("limit_source", "CSO")),
        extras=dict(d.get("extras") or {}),
        schedules=tuple(_schedule_from_dict(s) for s in d["schedules"]),
        valid_from=dates["valid_from"],
        valid_to=dates["valid_to"],
        dyn_update_time=dates["dyn_update_time"],
    )
