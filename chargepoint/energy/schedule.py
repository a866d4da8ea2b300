"""Composite schedules: what the installed charging profiles allow, over a window or at one instant. Pure functions.

Rules (OCPP 1.6 §3.13, 2.0.1 / 2.1 K08 and "Stacking" / "Combining charging profile purposes"):

* A profile is *in force* at t when t is inside [validFrom, validTo), inside its schedule's coverage (startSchedule
  for Absolute; anchor + k x 1 day / 1 week for Recurring, k >= 0, so before today's start time yesterday's tail is in
  force; the transaction start, or the request start without a transaction, for Relative), before the end of its
  ``duration`` (a profile without duration never ends, so a lower stack level never shows through), and, while the
  station is offline, no longer than ``maxOfflineDuration`` after going offline.
* Within a purpose the in-force profile with the highest stackLevel leads (EVSE-specific before station-wide on a
  tie: 1.6 lets a connector profile replace the connector-0 default for that connector).
* Per EVSE the transaction layer is PriorityCharging (when activated) > TxProfile of the running transaction >
  TxDefaultProfile (EVSE-specific and EVSE 0), or ``default_limit`` where none is in force; it is then limited by
  ChargingStationExternalConstraints (EVSE and station scope) and ChargingStationMaxProfile; a LocalGeneration
  profile adds its limit to the station (or EVSE) cap it sits on. Station-scope constraints apply to every EVSE.
* Signed combination: charge limits by min, discharge limits (<= 0) by max (closest to zero); the setpoint comes
  from the transaction layer (from the external-constraints layer when its mode is ExternalSetpoint or when there is
  no transaction layer) and is clamped into [discharge limit, limit].
* EVSE 0 = the grid connection: the sum of the EVSEs passed in ``evses`` (each with its own transaction), limited by
  the station-scope constraints.
* Units: every value is converted into the requested unit (A <-> W: AC P = V x I x phases, DC P = V x I); values
  already in that unit are not touched. Per-phase values (``*_L2``/``*_L3``) are folded conservatively: n x the
  lowest phase limit, n x the discharge limit closest to zero, the sum of the setpoints.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from chargepoint.energy.model import (
    ChargingProfile,
    ChargingSchedule,
    CompositePeriod,
    CompositeSchedule,
    EffectiveLimits,
    Kind,
    OcppVersion,
    OperationMode,
    Purpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
    TxInfo,
    convert_rate,
    from_watts,
    to_watts,
)
from chargepoint.energy.ocpp_codec import NegativeLimitPolicy, composite_to_ocpp, from_ocpp, to_ocpp

__all__ = [
    # the neutral model (defined in model.py / ocpp_codec.py, re-exported here)
    "ChargingProfile",
    "ChargingSchedule",
    "CompositePeriod",
    "CompositeSchedule",
    "EffectiveLimits",
    "Kind",
    "NegativeLimitPolicy",
    "OcppVersion",
    "OperationMode",
    "ProfileSource",
    "Purpose",
    "RateUnit",
    "Recurrency",
    "SchedulePeriod",
    "TxInfo",
    "active_period",
    "composite",
    "composite_to_ocpp",
    "convert_rate",
    "from_ocpp",
    "from_watts",
    "limit_at",
    "to_ocpp",
    "to_watts",
]


class ProfileSource(Protocol):
    def profiles(self) -> Sequence[ChargingProfile]: ...


Profiles = ProfileSource | Iterable[ChargingProfile]
TxArg = TxInfo | tuple[str, datetime] | None
Priority = bool | AbstractSet[str]  # UsePriorityCharging: for every transaction, or for the transaction ids listed


def _as_tuple(src: Profiles) -> tuple[ChargingProfile, ...]:
    getter = getattr(src, "profiles", None)
    if callable(getter):
        return tuple(getter())
    return tuple(src)  # type: ignore[arg-type]


def _tx(tx: TxArg) -> TxInfo | None:
    return None if tx is None else TxInfo(*tx)


def _aware(dt: datetime, name: str) -> None:
    if dt.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")


# ---------------------------------------------------------------------------------------------------------------
# one profile at one instant


def _instance_start(p: ChargingProfile, s: ChargingSchedule, t: datetime, anchor: datetime) -> datetime | None:
    if p.kind is Kind.RELATIVE or s.start_schedule is None:
        return anchor
    if p.kind is Kind.RECURRING and p.recurrency_kind is not None:
        if t < s.start_schedule:
            return None
        period = p.recurrency_kind.seconds
        k = math.floor((t - s.start_schedule).total_seconds() / period)
        return s.start_schedule + timedelta(seconds=k * period)
    return s.start_schedule


def _coverage_s(p: ChargingProfile, s: ChargingSchedule) -> float:
    """How long one instance of the schedule lasts (inf = open-ended)."""
    length = math.inf if s.duration is None else float(s.duration)
    if p.kind is Kind.RECURRING and p.recurrency_kind is not None and s.start_schedule is not None:
        length = min(length, float(p.recurrency_kind.seconds))
    return length


def _in_validity(p: ChargingProfile, t: datetime, offline_since: datetime | None) -> bool:
    if p.valid_from is not None and t < p.valid_from:
        return False
    if p.valid_to is not None and t >= p.valid_to:
        return False
    if offline_since is not None and p.max_offline_duration is not None:
        if t >= offline_since + timedelta(seconds=p.max_offline_duration):
            return False
    return True


def active_period(
    p: ChargingProfile, t: datetime, anchor: datetime, offline_since: datetime | None = None
) -> SchedulePeriod | None:
    """The period of ``p`` in force at ``t`` (None when the profile is not in force). ``anchor`` is where a Relative
    schedule starts (the transaction start, or the request time)."""
    if not _in_validity(p, t, offline_since):
        return None
    s = p.schedule
    start = _instance_start(p, s, t, anchor)
    if start is None:
        return None
    offset = (t - start).total_seconds()
    if offset < 0 or offset >= _coverage_s(p, s):
        return None
    current = None
    for per in s.periods:
        if per.start_s <= offset:
            current = per
        else:
            break
    return current


@dataclass(frozen=True)
class _Hit:
    profile: ChargingProfile
    period: SchedulePeriod


def _top(
    profiles: Iterable[ChargingProfile], t: datetime, anchor: datetime, offline_since: datetime | None
) -> _Hit | None:
    best: _Hit | None = None
    best_key: tuple[int, bool, int] | None = None
    for p in profiles:
        per = active_period(p, t, anchor, offline_since)
        if per is None:
            continue
        key = (p.stack_level, p.evse_id != 0, p.id)
        if best_key is None or key > best_key:
            best, best_key = _Hit(p, per), key
    return best


# ---------------------------------------------------------------------------------------------------------------
# values in the requested unit


def _fold(unit: RateUnit, l1: float | None, l2: float | None, l3: float | None, how: str) -> float | None:
    if l1 is None or (l2 is None and l3 is None):
        return l1
    vals = [v for v in (l1, l2, l3) if v is not None]
    n = len(vals)
    if how == "sum":
        return sum(vals) if unit is RateUnit.W else sum(vals) / n
    agg = min(vals) if how == "min" else max(vals)
    return agg * n if unit is RateUnit.W else agg


@dataclass(frozen=True)
class _Vals:
    limit: float | None
    discharge: float | None
    setpoint: float | None
    reactive: float | None
    min_rate: float | None


class _Conv:
    def __init__(self, unit: RateUnit, voltage_v: float, phases: int | None) -> None:
        self.unit, self.voltage_v, self.phases = unit, voltage_v, phases

    def vals(self, h: _Hit | None) -> _Vals:
        if h is None:
            return _Vals(None, None, None, None, None)
        s, per = h.profile.schedule, h.period
        ph = None if self.phases is None else (per.number_phases or self.phases)

        def cv(v: float | None) -> float | None:
            if v is None:
                return None
            return convert_rate(v, s.rate_unit, self.unit, voltage_v=self.voltage_v, phases=ph)

        u = s.rate_unit
        return _Vals(
            limit=cv(_fold(u, per.limit, per.limit_l2, per.limit_l3, "min")),
            discharge=cv(_fold(u, per.discharge_limit, per.discharge_limit_l2, per.discharge_limit_l3, "max")),
            setpoint=cv(_fold(u, per.setpoint, per.setpoint_l2, per.setpoint_l3, "sum")),
            reactive=cv(_fold(u, per.setpoint_reactive, per.setpoint_reactive_l2, per.setpoint_reactive_l3, "sum")),
            min_rate=cv(s.min_charging_rate),
        )


def _min(*xs: float | None) -> float | None:
    vals = [x for x in xs if x is not None]
    return min(vals) if vals else None


def _max(*xs: float | None) -> float | None:
    vals = [x for x in xs if x is not None]
    return max(vals) if vals else None


def _plus(cap: float | None, extra: float | None) -> float | None:
    return cap if cap is None or extra is None else cap + extra


def _clamp(sp: float | None, lo: float | None, hi: float | None) -> float | None:
    if sp is None:
        return None
    if hi is not None:
        sp = min(sp, hi)
    if lo is not None:
        sp = max(sp, lo)
    return sp


# ---------------------------------------------------------------------------------------------------------------
# one EVSE (or the station) at one instant


class _Ctx:
    """What every evaluation of one composite / limit_at call shares."""

    def __init__(self, profiles: tuple[ChargingProfile, ...], conv: _Conv, default_limit: float | None,
                 offline_since: datetime | None, priority: Priority, request_start: datetime) -> None:
        self.profiles, self.conv, self.default_limit = profiles, conv, default_limit
        self.offline_since, self.priority, self.request_start = offline_since, priority, request_start
        self.by_purpose: dict[Purpose, list[ChargingProfile]] = {p: [] for p in Purpose}
        for p in profiles:
            self.by_purpose[p.purpose].append(p)

    def of(self, purpose: Purpose) -> list[ChargingProfile]:
        return self.by_purpose[purpose]

    def prioritised(self, tx: TxInfo | None) -> bool:
        """UsePriorityCharging is active for ``tx`` (True: for every transaction; a set: for the ids in it)."""
        if isinstance(self.priority, bool):
            return self.priority
        return tx is not None and tx.id in self.priority

    def pick(self, purpose: Purpose, evses: set[int], t: datetime, anchor: datetime, tx_id: str | None = None,
             match_tx: bool = False) -> _Hit | None:
        cands = (
            p for p in self.of(purpose)
            if p.evse_id in evses and (not match_tx or p.transaction_id is None or p.transaction_id == tx_id)
        )
        return _top(cands, t, anchor, self.offline_since)

    def station(self, t: datetime) -> tuple[_Hit | None, _Hit | None, _Hit | None]:
        a = self.request_start
        return (
            self.pick(Purpose.STATION_MAX, {0}, t, a),
            self.pick(Purpose.EXTERNAL_CONSTRAINTS, {0}, t, a),
            self.pick(Purpose.LOCAL_GENERATION, {0}, t, a),
        )


def _evse_point(ctx: _Ctx, evse_id: int, t: datetime, tx: TxInfo | None) -> CompositePeriod:
    anchor = tx.start if tx is not None else ctx.request_start
    tx_id = tx.id if tx is not None else None
    layer: _Hit | None = None
    if ctx.prioritised(tx):
        layer = ctx.pick(Purpose.PRIORITY_CHARGING, {0, evse_id}, t, anchor, tx_id, match_tx=True)
    if layer is None and tx is not None:
        cands = (p for p in ctx.of(Purpose.TX) if p.evse_id == evse_id and p.transaction_id == tx.id)
        layer = _top(cands, t, anchor, ctx.offline_since)
    if layer is None:
        layer = ctx.pick(Purpose.TX_DEFAULT, {0, evse_id}, t, anchor)
    ec_e = ctx.pick(Purpose.EXTERNAL_CONSTRAINTS, {evse_id}, t, anchor)
    lg_e = ctx.pick(Purpose.LOCAL_GENERATION, {evse_id}, t, anchor)
    mx, ec_0, lg_0 = ctx.station(t)
    c = ctx.conv
    v_layer, v_ece, v_lge, v_mx, v_ec0, v_lg0 = (c.vals(h) for h in (layer, ec_e, lg_e, mx, ec_0, lg_0))

    tx_limit = v_layer.limit if v_layer.limit is not None else ctx.default_limit
    station_cap = _plus(_min(v_mx.limit, v_ec0.limit), v_lg0.limit)
    evse_cap = _plus(v_ece.limit, v_lge.limit)
    limit = _min(tx_limit, evse_cap, station_cap)
    discharge = _max(v_layer.discharge, v_ece.discharge, v_ec0.discharge, v_mx.discharge)

    ext, v_ext = (ec_e, v_ece) if ec_e is not None else (ec_0, v_ec0)
    mode_hit: _Hit | None
    if layer is not None:
        mode_hit, mode = layer, layer.period.operation_mode
        sp_vals = v_ext if mode is OperationMode.EXTERNAL_SETPOINT else v_layer
    else:
        mode_hit = ext
        mode = ext.period.operation_mode if ext is not None else None
        sp_vals = v_ext
    per = mode_hit.period if mode_hit is not None else SchedulePeriod(0)
    hits = (layer, ec_e, lg_e, mx, ec_0, lg_0)
    return CompositePeriod(
        start_s=0,
        limit=limit,
        discharge_limit=discharge,
        setpoint=_clamp(sp_vals.setpoint, discharge, limit),
        setpoint_reactive=sp_vals.reactive,
        operation_mode=mode,
        number_phases=layer.period.number_phases if layer is not None else None,
        min_charging_rate=v_layer.min_rate,
        v2x_baseline=per.v2x_baseline,
        v2x_freq_watt_curve=per.v2x_freq_watt_curve,
        v2x_signal_watt_curve=per.v2x_signal_watt_curve,
        evse_sleep=per.evse_sleep,
        preconditioning_request=per.preconditioning_request,
        source_ids=tuple(sorted({h.profile.id for h in hits if h is not None})),
    )


def _sum(xs: Sequence[float | None]) -> float | None:
    return None if not xs or any(x is None for x in xs) else sum(x for x in xs if x is not None)


def _station_point(ctx: _Ctx, t: datetime, evses: Mapping[int, TxInfo | None] | None) -> CompositePeriod:
    mx, ec_0, lg_0 = ctx.station(t)
    v_mx, v_ec0, v_lg0 = (ctx.conv.vals(h) for h in (mx, ec_0, lg_0))
    station_cap = _plus(_min(v_mx.limit, v_ec0.limit), v_lg0.limit)
    pts = [_evse_point(ctx, e, t, tx) for e, tx in sorted((evses or {}).items()) if e != 0]
    sources = {h.profile.id for h in (mx, ec_0, lg_0) if h is not None}
    for pt in pts:
        sources.update(pt.source_ids)
    if pts:
        limit = _sum([pt.limit for pt in pts])
        discharge = _sum([pt.discharge_limit for pt in pts])
        setpoint = _sum([pt.setpoint for pt in pts])
        modes = {pt.operation_mode for pt in pts}
        mode = modes.pop() if len(modes) == 1 else None
        reactive = None
    else:
        limit = station_cap if station_cap is not None else ctx.default_limit
        discharge = None
        setpoint, reactive = v_ec0.setpoint, v_ec0.reactive
        mode = ec_0.period.operation_mode if ec_0 is not None else None
    limit = _min(limit, station_cap)
    discharge = _max(discharge, v_ec0.discharge, v_mx.discharge)
    return CompositePeriod(
        start_s=0,
        limit=limit,
        discharge_limit=discharge,
        setpoint=_clamp(setpoint, discharge, limit),
        setpoint_reactive=reactive,
        operation_mode=mode,
        source_ids=tuple(sorted(sources)),
    )


def _point(ctx: _Ctx, evse_id: int, t: datetime, tx: TxInfo | None,
           evses: Mapping[int, TxInfo | None] | None) -> CompositePeriod:
    if evse_id == 0:
        return _station_point(ctx, t, evses)
    return _evse_point(ctx, evse_id, t, tx)


# ---------------------------------------------------------------------------------------------------------------
# public API


def _breakpoints(
    profiles: Iterable[ChargingProfile], t0: datetime, t1: datetime, anchors: set[datetime],
    offline_since: datetime | None,
) -> list[datetime]:
    pts = {t0}
    for p in profiles:
        pts.update(d for d in (p.valid_from, p.valid_to) if d is not None)
        if offline_since is not None and p.max_offline_duration is not None:
            pts.add(offline_since + timedelta(seconds=p.max_offline_duration))
        s = p.schedule
        length = _coverage_s(p, s)
        if p.kind is Kind.RELATIVE or s.start_schedule is None:
            starts = sorted(anchors)
        elif p.kind is Kind.RECURRING and p.recurrency_kind is not None:
            period = p.recurrency_kind.seconds
            first = max(0, math.floor((t0 - s.start_schedule).total_seconds() / period))
            last = math.floor((t1 - s.start_schedule).total_seconds() / period)
            starts = [s.start_schedule + timedelta(seconds=k * period) for k in range(first, last + 1)]
        else:
            starts = [s.start_schedule]
        for st in starts:
            pts.update(st + timedelta(seconds=per.start_s) for per in s.periods)
            if math.isfinite(length):
                pts.add(st + timedelta(seconds=length))
    return sorted(x for x in pts if t0 <= x < t1)


def _same(a: CompositePeriod, b: CompositePeriod) -> bool:
    return replace(a, start_s=0, source_ids=()) == replace(b, start_s=0, source_ids=())


def composite(
    store: Profiles,
    evse_id: int,
    start: datetime,
    duration_s: int,
    unit: RateUnit | str = RateUnit.W,
    *,
    tx: TxArg = None,
    nominal_voltage_v: float = 230.0,
    phases: int | None = 3,
    default_limit: float | None = None,
    evses: Mapping[int, TxArg] | None = None,
    offline_since: datetime | None = None,
    priority_charging: Priority = False,
) -> CompositeSchedule:
    """The composite schedule of ``evse_id`` over [start, start + duration_s), in ``unit``.

    ``tx``: the transaction on that EVSE (id, start) or None. ``evses`` (for ``evse_id`` 0): every EVSE of the station
    with its transaction, summed into the grid-connection schedule. ``nominal_voltage_v`` / ``phases`` (None = DC)
    convert between A and W. ``default_limit`` (in ``unit``) fills the transaction layer where no Tx / TxDefault
    profile is in force (None leaves the period unconstrained). ``offline_since``: when the station went offline
    (maxOfflineDuration). ``priority_charging``: UsePriorityCharging is active for the transaction (True), or for
    the transactions whose ids are in the set (the grid connection: per EVSE). Period starts
    are whole seconds (a change at a fractional second shows from the second it falls in)."""
    _aware(start, "start")
    if duration_s < 0:
        raise ValueError("duration_s must be >= 0")
    out_unit = RateUnit(unit)
    profiles = _as_tuple(store)
    txi = _tx(tx)
    evse_txs = None if evses is None else {k: _tx(v) for k, v in evses.items()}
    ctx = _Ctx(profiles, _Conv(out_unit, nominal_voltage_v, phases), default_limit, offline_since,
               priority_charging, start)
    anchors = {start} | {x.start for x in [txi, *(evse_txs or {}).values()] if x is not None}
    end = start + timedelta(seconds=duration_s)
    periods: list[CompositePeriod] = []
    for bp in _breakpoints(profiles, start, max(end, start + timedelta(microseconds=1)), anchors, offline_since):
        offset = math.floor((bp - start).total_seconds())
        pt = replace(_point(ctx, evse_id, bp, txi, evse_txs), start_s=offset)
        if periods and periods[-1].start_s == offset:
            periods[-1] = pt
        elif periods and _same(periods[-1], pt):
            prev = periods[-1]
            periods[-1] = replace(prev, source_ids=tuple(sorted(set(prev.source_ids) | set(pt.source_ids))))
        else:
            periods.append(pt)
    return CompositeSchedule(evse_id, start, duration_s, out_unit, tuple(periods))


def limit_at(
    store: Profiles,
    evse_id: int,
    when: datetime,
    tx: TxArg = None,
    *,
    nominal_voltage_v: float = 230.0,
    phases: int | None = 3,
    evses: Mapping[int, TxArg] | None = None,
    offline_since: datetime | None = None,
    priority_charging: Priority = False,
) -> EffectiveLimits:
    """What the profiles allow for ``evse_id`` at ``when``, in watts: the value used every control cycle.
    Same rules as :func:`composite` (no default limit: unconstrained stays None). Relative profiles are anchored
    to the transaction start, or to ``when`` without a transaction."""
    _aware(when, "when")
    profiles = _as_tuple(store)
    ctx = _Ctx(profiles, _Conv(RateUnit.W, nominal_voltage_v, phases), None, offline_since, priority_charging, when)
    evse_txs = None if evses is None else {k: _tx(v) for k, v in evses.items()}
    p = _point(ctx, evse_id, when, _tx(tx), evse_txs)
    return EffectiveLimits(
        charge_limit_w=p.limit,
        discharge_limit_w=p.discharge_limit,
        setpoint_w=p.setpoint,
        operation_mode=p.operation_mode,
        source_profile_ids=p.source_ids,
        setpoint_reactive=p.setpoint_reactive,
        min_charging_rate_w=p.min_charging_rate,
        v2x_baseline_w=p.v2x_baseline,
        v2x_freq_watt_curve=p.v2x_freq_watt_curve,
        v2x_signal_watt_curve=p.v2x_signal_watt_curve,
        evse_sleep=bool(p.evse_sleep),
        preconditioning_request=bool(p.preconditioning_request),
    )
