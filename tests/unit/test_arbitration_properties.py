"""Property tests of arbitration (design principle 4): whatever the inputs, the setpoint stays inside every limit."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chargepoint.energy.arbitration import VOLTAGE_TOLERANCE_V, LoadBalance, LocalPolicy, arbitrate
from chargepoint.energy.model import EffectiveLimits, OperationMode
from chargepoint.hardware.interfaces import MeterReading, PortPhase, PortState, PowerRatings

PROPS = settings(max_examples=400, deadline=None, derandomize=True)


def opt(s: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | s


def f(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def mostly(common: Any, *rare: Any) -> st.SearchStrategy[Any]:
    """``common`` nine times out of ten (so that the gates do not make most examples trivially zero)."""
    return st.sampled_from([common] * 9 + list(rare))


def usually(common: st.SearchStrategy[Any], wide: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.integers(0, 9).flatmap(lambda n: wide if n == 0 else common)


limits_st = st.builds(
    EffectiveLimits,
    charge_limit_w=opt(f(-1e3, 1e5)),
    discharge_limit_w=opt(f(-1e5, 1e3)),
    setpoint_w=opt(f(-1e5, 1e5)),
    operation_mode=st.one_of(st.none(), st.sampled_from(OperationMode),
                             st.sampled_from([OperationMode.CENTRAL_SETPOINT, OperationMode.LOCAL_FREQUENCY,
                                              OperationMode.LOCAL_LOAD_BALANCING])),
    min_charging_rate_w=opt(f(0, 5e3)),
    v2x_baseline_w=opt(f(-1e4, 1e4)),
    v2x_freq_watt_curve=st.sampled_from([(), ((49.8, 9e3), (50.2, -9e3)), ((50.0, -2e5),)]),
    v2x_signal_watt_curve=st.sampled_from([(), ((-100, -5e4), (100, 5e4))]),
    evse_sleep=mostly(False, True),
)
ratings_st = st.builds(
    PowerRatings,
    max_voltage_v=usually(f(500, 1000), f(200, 1000)),
    min_voltage_v=f(0, 150),
    max_charge_current_a=f(0, 500),
    max_discharge_current_a=f(0, 200),
    max_charge_power_w=f(0, 2e5),
    max_discharge_power_w=f(0, 5e4),
)
ev_st = st.builds(
    PortState,
    phase=mostly(PortPhase.ENERGY, *PortPhase),
    meter=st.builds(MeterReading, voltage_v=usually(f(250, 480), f(0, 1000)), current_a=f(-200, 200),
                    import_wh=st.just(0.0), export_wh=st.just(0.0)),
    soc_percent=opt(f(0, 100)),
    ev_max_charge_current_a=opt(f(0, 500)),
    ev_max_discharge_current_a=usually(f(1, 200), opt(f(0, 200))),
    ev_max_voltage_v=opt(usually(f(480, 1000), f(100, 1000))),
    ev_min_discharge_voltage_v=opt(usually(f(0, 250), f(0, 800))),
    ev_soc_min_percent=opt(usually(f(0, 30), f(0, 100))),
    ev_soc_max_percent=opt(usually(f(70, 100), f(0, 100))),
    ev_stop_requested=mostly(False, True),
)
policy_st = opt(st.builds(LocalPolicy, charge_limit_w=opt(f(-1e4, 1e5)), discharge_limit_w=opt(f(-1e5, 1e5)),
                          setpoint_w=opt(f(-1e5, 1e5))))
default_st = st.sampled_from([math.inf, -math.inf, 0.0, 3_000.0, -3_000.0])
balance_st = st.builds(LoadBalance, other_w=f(-1e5, 1e5), upper_threshold_w=f(-1e4, 1e5),
                       lower_threshold_w=f(-1e5, 1e4), upper_offset_w=f(-5e3, 5e3), lower_offset_w=f(-5e3, 5e3),
                       share=st.integers(1, 4))


@PROPS
@given(limits_st | st.none(), ratings_st, ev_st, policy_st, default_st, f(45, 55), opt(st.integers(-300, 300)),
       opt(balance_st))
def test_the_setpoint_never_leaves_any_limit(
    lim: EffectiveLimits | None, ratings: PowerRatings, ev: PortState, policy: LocalPolicy | None, default: float,
    hz: float, signal: int | None, balance: LoadBalance | None,
) -> None:
    sp = arbitrate(lim, ratings, ev, policy, default, frequency_hz=hz, afrr_signal=signal, load_balance=balance)
    w = sp.watts
    v = sp.details["voltage_v"]
    assert isinstance(v, float) and math.isfinite(w)
    measured = ev.meter.voltage_v >= ratings.min_voltage_v
    # charge limits: the car, the charger, the schedule, the policy
    charge = [ratings.max_charge_power_w, ratings.max_charge_current_a * v]
    if ev.ev_max_charge_current_a is not None:
        charge.append(ev.ev_max_charge_current_a * v)
    if lim is not None and lim.charge_limit_w is not None:
        charge.append(max(0.0, lim.charge_limit_w))
    if policy is not None and policy.charge_limit_w is not None:
        charge.append(max(0.0, policy.charge_limit_w))
    assert all(w <= c for c in charge)
    # discharge limits (never more negative than any of them)
    discharge = [-ratings.max_discharge_power_w, -ratings.max_discharge_current_a * v,
                 -(ev.ev_max_discharge_current_a or 0.0) * v]
    if lim is not None and lim.discharge_limit_w is not None:
        discharge.append(min(0.0, lim.discharge_limit_w))
    if policy is not None and policy.discharge_limit_w is not None:
        discharge.append(-abs(policy.discharge_limit_w))
    assert all(w >= d for d in discharge)
    # no discharge when it is not allowed
    mode = lim.operation_mode if lim is not None else None
    soc, floor, ceiling = ev.soc_percent, ev.ev_soc_min_percent, ev.ev_soc_max_percent
    if (
        mode is OperationMode.CHARGING_ONLY
        or (soc is not None and floor is not None and soc <= floor)
        or not ev.ev_max_discharge_current_a
        or not measured
        or (ev.ev_min_discharge_voltage_v is not None and ev.meter.voltage_v <= ev.ev_min_discharge_voltage_v)
    ):
        assert w >= 0.0
    # no charge when it is not allowed
    if (soc is not None and ceiling is not None and soc >= ceiling) or (
        measured and ev.ev_max_voltage_v is not None and ev.meter.voltage_v > ev.ev_max_voltage_v + VOLTAGE_TOLERANCE_V
    ):
        assert w <= 0.0
    # nothing at all
    if (mode is OperationMode.IDLE or (lim is not None and lim.evse_sleep) or ev.ev_stop_requested
            or ev.phase is PortPhase.FAULTED):
        assert w == 0.0
    assert sp.bound_by


@PROPS
@given(limits_st, ratings_st, ev_st, policy_st)
def test_arbitration_is_deterministic(lim: EffectiveLimits, ratings: PowerRatings, ev: PortState,
                                      policy: LocalPolicy | None) -> None:
    assert arbitrate(lim, ratings, ev, policy) == arbitrate(lim, ratings, ev, policy)


@PROPS
@given(balance_st, opt(f(-2e4, 2e4)), ev_st)
def test_Q09_load_balancing_only_moves_the_baseline_towards_the_band(
    balance: LoadBalance, setpoint: float | None, ev: PortState,
) -> None:
    lim = EffectiveLimits(operation_mode=OperationMode.LOCAL_LOAD_BALANCING, setpoint_w=setpoint)
    sp = arbitrate(lim, PowerRatings(), ev, load_balance=balance)
    wanted, base, n = sp.details["wanted_w"], setpoint if setpoint is not None else 0.0, balance.share
    assert isinstance(wanted, float)
    projected = balance.other_w + n * base
    upper = balance.upper_threshold_w + balance.upper_offset_w
    lower = balance.lower_threshold_w + balance.lower_offset_w
    if projected > balance.upper_threshold_w:
        assert wanted <= base
        assert wanted == base or math.isclose(balance.other_w + n * wanted, upper, rel_tol=1e-9, abs_tol=1e-6)
    elif projected < balance.lower_threshold_w:
        assert wanted >= base
        assert wanted == base or math.isclose(balance.other_w + n * wanted, lower, rel_tol=1e-9, abs_tol=1e-6)
    else:
        assert wanted == base
