"""Property tests of composite schedules, unit conversion and the OCPP codec.

The composite is checked against a deliberately naive reference: evaluate every profile at each whole second,
keep the highest stack level per purpose, then take the min of the charge limits and the max of the discharge
limits across purposes (TxProfile replacing TxDefaultProfile), clamping the setpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_schedule_support import T0, at, prof

from chargepoint.energy.model import (
    ChargingProfile,
    ChargingSchedule,
    Kind,
    OperationMode,
    Purpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
    convert_rate,
    from_watts,
    profile_from_dict,
    profile_to_dict,
    to_watts,
)
from chargepoint.energy.ocpp_codec import from_ocpp, to_ocpp
from chargepoint.energy.schedule import composite, limit_at

PROPS = settings(max_examples=100, deadline=None, derandomize=True)
WINDOW = 900
M = OperationMode


def opt(s: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | s


@st.composite
def periods(draw: st.DrawFn, setpoints: bool) -> list[SchedulePeriod]:
    starts = sorted(draw(st.sets(st.integers(1, 600), max_size=3)))
    out = []
    for s in [0, *starts]:
        sp = draw(opt(st.integers(-20, 20).map(lambda k: k * 500.0))) if setpoints else None
        out.append(SchedulePeriod(
            s,
            limit=draw(st.integers(0, 40).map(lambda k: k * 500.0)),
            discharge_limit=draw(opt(st.integers(-40, 0).map(lambda k: k * 500.0))),
            setpoint=sp,
            operation_mode=None if sp is None else M.CENTRAL_SETPOINT,
        ))
    return out


@st.composite
def profile(draw: st.DrawFn, pid: int, purpose: Purpose, evse: int, stack: int) -> ChargingProfile:
    return prof(
        pid, purpose, draw(periods(purpose in (Purpose.TX, Purpose.TX_DEFAULT))), stack=stack, evse=evse,
        start=at(draw(st.integers(0, 300))), duration=draw(opt(st.integers(1, 700))),
        tx="tx-1" if purpose is Purpose.TX else None, source="EMS" if pid < 0 else "CSO",
    )


@st.composite
def profile_sets(draw: st.DrawFn) -> list[ChargingProfile]:
    out: list[ChargingProfile] = []
    pid = 1
    layers = [(Purpose.TX_DEFAULT, 0), (Purpose.TX_DEFAULT, 1), (Purpose.TX, 1), (Purpose.STATION_MAX, 0),
              (Purpose.EXTERNAL_CONSTRAINTS, 0)]
    for purpose, evse in layers:
        for stack in sorted(draw(st.sets(st.integers(0, 5), max_size=2))):
            sign = -1 if purpose is Purpose.EXTERNAL_CONSTRAINTS else 1
            out.append(draw(profile(sign * pid, purpose, evse, stack)))
            pid += 1
    return out


@dataclass
class Ref:
    limit: float | None
    discharge: float | None
    setpoint: float | None


def value_at(p: ChargingProfile, t: int) -> SchedulePeriod | None:
    s = p.schedule
    assert s.start_schedule is not None
    off = t - int((s.start_schedule - T0).total_seconds())
    if off < 0 or (s.duration is not None and off >= s.duration):
        return None
    return [x for x in s.periods if x.start_s <= off][-1]


def leader(ps: list[ChargingProfile], purpose: Purpose, evses: set[int], t: int) -> SchedulePeriod | None:
    live = [(p.stack_level, p.evse_id != 0, v) for p in ps if p.purpose is purpose and p.evse_id in evses
            if (v := value_at(p, t)) is not None]
    return max(live, key=lambda x: (x[0], x[1]))[2] if live else None


def reference(ps: list[ChargingProfile], t: int, with_tx: bool) -> Ref:
    tx_layer = (leader(ps, Purpose.TX, {1}, t) if with_tx else None) or leader(ps, Purpose.TX_DEFAULT, {0, 1}, t)
    others = [leader(ps, Purpose.STATION_MAX, {0}, t), leader(ps, Purpose.EXTERNAL_CONSTRAINTS, {0}, t)]
    layers = [x for x in [tx_layer, *others] if x is not None]
    limits = [x.limit for x in layers if x.limit is not None]
    discharges = [x.discharge_limit for x in layers if x.discharge_limit is not None]
    limit = min(limits) if limits else None
    discharge = max(discharges) if discharges else None
    sp = tx_layer.setpoint if tx_layer is not None else None
    if sp is not None:
        sp = min(sp, limit) if limit is not None else sp
        sp = max(sp, discharge) if discharge is not None else sp
    return Ref(limit, discharge, sp)


@PROPS
@given(profile_sets(), st.booleans())
def test_composite_is_the_pointwise_min_and_max_of_the_leading_profiles(ps: list[ChargingProfile],
                                                                         with_tx: bool) -> None:
    tx = ("tx-1", T0) if with_tx else None
    cs = composite(ps, 1, T0, WINDOW, tx=tx)
    assert cs.periods[0].start_s == 0
    assert [p.start_s for p in cs.periods] == sorted({p.start_s for p in cs.periods})
    for t in range(0, WINDOW, 7):
        ref = reference(ps, t, with_tx)
        got = cs.at(t)
        assert (got.limit, got.discharge_limit, got.setpoint) == (ref.limit, ref.discharge, ref.setpoint), t
        eff = limit_at(ps, 1, at(t), tx)
        assert (eff.charge_limit_w, eff.discharge_limit_w, eff.setpoint_w) == (ref.limit, ref.discharge, ref.setpoint)


@PROPS
@given(profile_sets())
def test_composite_never_exceeds_any_input_limit(ps: list[ChargingProfile]) -> None:
    cs = composite(ps, 1, T0, WINDOW, tx=("tx-1", T0))
    for t in range(0, WINDOW, 11):
        got = cs.at(t)
        for v in (leader(ps, Purpose.STATION_MAX, {0}, t), leader(ps, Purpose.EXTERNAL_CONSTRAINTS, {0}, t)):
            if v is None:
                continue
            assert got.limit is not None and v.limit is not None and got.limit <= v.limit
            if v.discharge_limit is not None:
                assert got.discharge_limit is not None and got.discharge_limit >= v.discharge_limit
        if got.setpoint is not None:
            assert got.discharge_limit is None or got.setpoint >= got.discharge_limit
            assert got.limit is None or got.setpoint <= got.limit


@PROPS
@given(profile_sets())
def test_the_grid_connection_is_the_capped_sum_of_the_evses(ps: list[ChargingProfile]) -> None:
    evses = {1: ("tx-1", T0), 2: None}
    grid = composite(ps, 0, T0, WINDOW, evses=evses)
    one = composite(ps, 1, T0, WINDOW, tx=("tx-1", T0))
    two = composite(ps, 2, T0, WINDOW)
    for t in range(0, WINDOW, 13):
        a, b = one.at(t).limit, two.at(t).limit
        station = [x.limit for x in (leader(ps, Purpose.STATION_MAX, {0}, t),
                                     leader(ps, Purpose.EXTERNAL_CONSTRAINTS, {0}, t)) if x is not None]
        total = None if a is None or b is None else a + b
        caps = [x for x in [total, *station] if x is not None]
        assert grid.at(t).limit == (min(caps) if caps else None)


@PROPS
@given(st.floats(-1e6, 1e6, allow_nan=False), st.floats(1, 1000, allow_nan=False),
       st.sampled_from([None, 1, 2, 3]))
def test_unit_conversion_round_trips(x: float, volts: float, phases: int | None) -> None:
    w = to_watts(x, "A", voltage_v=volts, phases=phases)
    assert w == pytest.approx(x * volts * (phases or 1), rel=1e-12)
    assert from_watts(w, "A", voltage_v=volts, phases=phases) == pytest.approx(x, rel=1e-9, abs=1e-9)
    assert convert_rate(x, "W", "W", voltage_v=volts, phases=phases) == x
    back = convert_rate(convert_rate(x, "W", "A", voltage_v=volts, phases=phases), "A", "W", voltage_v=volts,
                        phases=phases)
    assert back == pytest.approx(x, rel=1e-9, abs=1e-9)


@PROPS
@given(st.lists(st.integers(0, 64), min_size=1, max_size=4, unique=True), st.sampled_from([None, 1, 3]))
def test_composite_in_amps_and_watts_agree(amps: list[int], phases: int | None) -> None:
    p = prof(1, periods=[(i * 60, float(a)) for i, a in enumerate(amps)], unit="A")
    in_a = composite([p], 1, T0, 600, "A", nominal_voltage_v=230.0, phases=phases)
    in_w = composite([p], 1, T0, 600, "W", nominal_voltage_v=230.0, phases=phases)
    assert [x.start_s for x in in_a.periods] == [x.start_s for x in in_w.periods]
    for a, w in zip(in_a.periods, in_w.periods, strict=True):
        assert a.limit is not None and w.limit is not None
        assert to_watts(a.limit, "A", voltage_v=230.0, phases=phases) == pytest.approx(w.limit)


# -- codec ------------------------------------------------------------------------------------------------------

num = st.integers(-10_000, 10_000).map(lambda k: k / 4)
neg = st.integers(-10_000, 0).map(lambda k: k / 4)
pos = st.integers(0, 10_000).map(lambda k: k / 4)


@st.composite
def v21_periods(draw: st.DrawFn) -> SchedulePeriod:
    return SchedulePeriod(
        start_s=0, limit=draw(opt(pos)), limit_l2=draw(opt(pos)), limit_l3=draw(opt(pos)),
        number_phases=draw(opt(st.integers(1, 3))), discharge_limit=draw(opt(neg)),
        discharge_limit_l2=draw(opt(neg)), discharge_limit_l3=draw(opt(neg)), setpoint=draw(opt(num)),
        setpoint_l2=draw(opt(num)), setpoint_l3=draw(opt(num)), setpoint_reactive=draw(opt(num)),
        setpoint_reactive_l2=draw(opt(num)), setpoint_reactive_l3=draw(opt(num)),
        operation_mode=draw(st.sampled_from(M)), v2x_baseline=draw(opt(num)),
        v2x_freq_watt_curve=tuple(draw(st.lists(st.tuples(num, num), max_size=3))),
        v2x_signal_watt_curve=tuple(draw(st.lists(st.tuples(st.integers(-100, 100), num), max_size=3))),
        evse_sleep=draw(opt(st.booleans())), preconditioning_request=draw(opt(st.booleans())),
    )


@st.composite
def v21_profiles(draw: st.DrawFn) -> ChargingProfile:
    kind = draw(st.sampled_from(Kind))
    raw = draw(st.lists(v21_periods(), min_size=1, max_size=4))
    ps = tuple(SchedulePeriod(**{**p.__dict__, "start_s": i * 60}) for i, p in enumerate(raw))
    start = None if kind is Kind.RELATIVE else at(draw(st.integers(-86400, 86400)))
    sched = ChargingSchedule(rate_unit=draw(st.sampled_from(RateUnit)), periods=ps, id=draw(st.integers(0, 9)),
                             start_schedule=start, duration=draw(opt(st.integers(0, 86400))),
                             min_charging_rate=draw(opt(pos)))
    return ChargingProfile(
        id=draw(st.integers(-100, 100)), stack_level=draw(st.integers(0, 8)), purpose=draw(st.sampled_from(Purpose)),
        kind=kind, schedules=(sched,) * draw(st.integers(1, 3)), evse_id=draw(st.integers(0, 4)),
        recurrency_kind=draw(opt(st.sampled_from(Recurrency))), valid_from=draw(opt(st.just(at(-5)))),
        valid_to=draw(opt(st.just(at(5)))), transaction_id=draw(opt(st.text("abc123-", min_size=1, max_size=36))),
        max_offline_duration=draw(opt(st.integers(0, 3600))), invalid_after_offline_duration=draw(opt(st.booleans())),
        dyn_update_interval=draw(opt(st.integers(0, 60))), dyn_update_time=draw(opt(st.just(at(-1)))),
    )


@PROPS
@given(v21_profiles())
def test_v21_codec_round_trips(p: ChargingProfile) -> None:
    assert from_ocpp(to_ocpp(p, "2.1"), "2.1", evse_id=p.evse_id) == p
    assert profile_from_dict(profile_to_dict(p)) == p


@PROPS
@given(st.integers(0, 10**6), st.lists(pos, min_size=1, max_size=5), st.sampled_from(["1.6", "2.0.1"]))
def test_legacy_codec_round_trips(tx: int, limits: list[float], version: str) -> None:
    p = prof(3, Purpose.TX, [(i * 30, x) for i, x in enumerate(limits)], tx=str(tx), duration=600)
    if version == "1.6":
        p = ChargingProfile(**{**p.__dict__, "schedules": (ChargingSchedule(**{**p.schedule.__dict__, "id": None}),)})
    assert from_ocpp(to_ocpp(p, version), version, evse_id=1) == p
