"""Arbitration: one signed setpoint per EVSE, with the limit that decided it. Values by hand at 400 V DC.

Car: 100 A charge (40 kW), 20 A discharge (8 kW), 410 V max, 300 V discharge floor, SoC window 20..90 %.
Charger (PowerRatings defaults): 50 kW / 125 A charge (50 kW at 400 V), 10 kW / 30 A discharge (12 kW).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest
from test_schedule_support import T0, at, prof, v2x

from chargepoint.energy.arbitration import VOLTAGE_TOLERANCE_V, LoadBalance, LocalPolicy, arbitrate, interpolate
from chargepoint.energy.model import EffectiveLimits, OperationMode, Purpose
from chargepoint.energy.profiles import ProfileStore
from chargepoint.energy.schedule import limit_at
from chargepoint.hardware.interfaces import MeterReading, PortPhase, PortState, PowerRatings

M = OperationMode
RATINGS = PowerRatings()


def car(voltage_v: float = 400.0, **kw: Any) -> PortState:
    values: dict[str, Any] = {
        "soc_percent": 50.0,
        "ev_max_charge_current_a": 100.0,
        "ev_max_discharge_current_a": 20.0,
        "ev_max_voltage_v": 410.0,
        "ev_min_discharge_voltage_v": 300.0,
        "ev_soc_min_percent": 20.0,
        "ev_soc_max_percent": 90.0,
    }
    values.update(kw)
    return PortState(PortPhase.ENERGY, MeterReading(voltage_v, 0.0, 0.0, 0.0), **values)


def mode(m: OperationMode | None, **kw: Any) -> EffectiveLimits:
    return EffectiveLimits(operation_mode=m, **kw)


def result(limits: EffectiveLimits | None, ev: PortState | None = None, policy: Any = None, **kw: Any) -> tuple:
    sp = arbitrate(limits, RATINGS, ev or car(), policy, **kw)
    return sp.watts, sp.bound_by


# -- charging by default ----------------------------------------------------------------------------------------


def test_without_a_setpoint_charge_at_the_allowed_maximum() -> None:
    assert result(None) == (40_000.0, "ev.max_charge_current")
    assert result(EffectiveLimits()) == (40_000.0, "ev.max_charge_current")
    assert result(EffectiveLimits(charge_limit_w=11_000.0)) == (11_000.0, "schedule.limit")


def test_the_car_is_named_first_on_a_tie_and_charger_ratings_bind_otherwise() -> None:
    assert result(None, car(ev_max_charge_current_a=125.0)) == (50_000.0, "ev.max_charge_current")
    assert result(None, car(ev_max_charge_current_a=None)) == (50_000.0, "charger.max_charge_power")
    slow = replace(RATINGS, max_charge_current_a=50.0)
    assert arbitrate(None, slow, car()).bound_by == "charger.max_charge_current"


def test_default_setpoint_can_be_changed() -> None:
    assert result(None, default_setpoint_w=0.0) == (0.0, "default")
    assert result(None, default_setpoint_w=5_000.0) == (5_000.0, "default")


# -- discharging ------------------------------------------------------------------------------------------------


def test_central_setpoint_is_followed_within_the_limits() -> None:
    assert result(mode(M.CENTRAL_SETPOINT, setpoint_w=-3_000.0)) == (-3_000.0, "schedule.setpoint")
    assert result(mode(M.CENTRAL_SETPOINT, setpoint_w=-20_000.0)) == (-8_000.0, "ev.max_discharge_current")
    assert result(mode(M.CENTRAL_SETPOINT, setpoint_w=-20_000.0, discharge_limit_w=-5_000.0)) == (
        -5_000.0, "schedule.discharge_limit")
    assert result(mode(M.CENTRAL_SETPOINT, setpoint_w=-20_000.0), car(ev_max_discharge_current_a=100.0)) == (
        -10_000.0, "charger.max_discharge_power")


def test_charging_only_allows_no_discharge_whatever_asks_for_it() -> None:
    assert result(mode(M.CHARGING_ONLY), policy=LocalPolicy(setpoint_w=-3_000.0)) == (0.0, "schedule.charging_only")
    assert result(mode(M.CHARGING_ONLY, setpoint_w=-3_000.0)) == (40_000.0, "ev.max_charge_current")


def test_TC_Q_125_CS_idle_and_evse_sleep_give_zero() -> None:
    assert result(mode(M.IDLE, setpoint_w=5_000.0)) == (0.0, "schedule.idle")
    assert result(mode(M.CENTRAL_SETPOINT, setpoint_w=5_000.0, evse_sleep=True)) == (0.0, "schedule.evse_sleep")


def test_soc_window() -> None:
    sp = mode(M.CENTRAL_SETPOINT, setpoint_w=-3_000.0)
    assert result(sp, car(soc_percent=20.0)) == (0.0, "ev.soc_min")
    assert result(sp, car(soc_percent=20.5)) == (-3_000.0, "schedule.setpoint")
    assert result(None, car(soc_percent=90.0)) == (0.0, "ev.soc_max")
    assert result(sp, car(soc_percent=95.0)) == (-3_000.0, "schedule.setpoint")


def test_voltage_limits_and_unknown_voltage() -> None:
    sp = mode(M.CENTRAL_SETPOINT, setpoint_w=-3_000.0)
    assert result(None, car(410.0 + VOLTAGE_TOLERANCE_V + 0.1)) == (0.0, "ev.max_voltage")
    assert result(None, car(410.0))[0] > 0  # at the limit the port's CV regulation decides, not a hard cut
    assert result(sp, car(300.0)) == (0.0, "ev.min_discharge_voltage")
    assert result(None, car(500.0 + VOLTAGE_TOLERANCE_V + 0.1, ev_max_voltage_v=None)) == (0.0, "charger.max_voltage")
    assert result(sp, car(0.0)) == (0.0, "ev.voltage_unknown")
    w, bound = result(None, car(0.0))  # charging converts the car's 100 A at its 410 V maximum
    assert (w, bound) == (41_000.0, "ev.max_charge_current")


def test_unknown_car_discharge_current_allows_no_discharge() -> None:
    sp = mode(M.CENTRAL_SETPOINT, setpoint_w=-3_000.0)
    assert result(sp, car(ev_max_discharge_current_a=None)) == (0.0, "ev.max_discharge_current")
    assert result(sp, car(ev_max_discharge_current_a=0.0)) == (0.0, "ev.max_discharge_current")


def test_stop_request_and_fault_give_zero() -> None:
    assert result(None, car(ev_stop_requested=True)) == (0.0, "ev.stop_requested")
    assert result(None, replace(car(), phase=PortPhase.FAULTED)) == (0.0, "ev.fault")
    assert result(None, car(fault="insulation")) == (0.0, "ev.fault")


# -- local policy -----------------------------------------------------------------------------------------------


def test_policy_limits_and_setpoint() -> None:
    assert result(None, policy=LocalPolicy(charge_limit_w=3_000.0)) == (3_000.0, "policy.charge_limit")
    assert result(None, policy=LocalPolicy(setpoint_w=-1_000.0)) == (-1_000.0, "policy.setpoint")
    cap = LocalPolicy(setpoint_w=-5_000.0, discharge_limit_w=2_000.0)  # a magnitude
    assert result(None, policy=cap) == (-2_000.0, "policy.discharge_limit")
    assert result(None, policy=replace(cap, discharge_limit_w=-2_000.0)) == (-2_000.0, "policy.discharge_limit")


def test_any_object_with_the_policy_attributes_works() -> None:
    class Home:
        setpoint_w = -500.0

    assert result(None, policy=Home()) == (-500.0, "policy.setpoint")
    assert result(None, policy=object()) == (40_000.0, "ev.max_charge_current")


def test_TC_Q_111_CS_external_setpoint_mode_follows_the_external_setpoint() -> None:
    ext = mode(M.EXTERNAL_SETPOINT, setpoint_w=-2_000.0)
    assert result(ext, policy=LocalPolicy(setpoint_w=-4_000.0)) == (-2_000.0, "schedule.setpoint")
    assert result(mode(M.EXTERNAL_SETPOINT), policy=LocalPolicy(setpoint_w=-4_000.0)) == (-4_000.0, "policy.setpoint")
    assert result(mode(M.EXTERNAL_SETPOINT)) == (40_000.0, "ev.max_charge_current")


def test_TC_Q_112_CS_external_limits_mode_charges_as_much_as_allowed() -> None:
    lim = mode(M.EXTERNAL_LIMITS, charge_limit_w=7_000.0)
    assert result(lim, policy=LocalPolicy(setpoint_w=-4_000.0)) == (7_000.0, "schedule.limit")
    assert result(lim, policy=LocalPolicy(charge_limit_w=5_000.0)) == (5_000.0, "policy.charge_limit")


# -- local load balancing (Q09): the site's grid connection between 0 W and 20 kW; targets 500 W and 19 kW ------


LLB = mode(M.LOCAL_LOAD_BALANCING)


def site(other_w: float, **kw: Any) -> LoadBalance:
    values: dict[str, Any] = {"upper_threshold_w": 20_000.0, "lower_threshold_w": 0.0, "upper_offset_w": -1_000.0,
                              "lower_offset_w": 500.0}
    values.update(kw)
    return LoadBalance(other_w, **values)


def test_Q09_without_a_site_measurement_keep_the_baseline_never_charge_at_the_maximum() -> None:
    assert result(LLB) == (0.0, "site.unavailable")
    assert result(LLB, policy=LocalPolicy(setpoint_w=-700.0)) == (-700.0, "policy.setpoint")
    assert result(mode(M.LOCAL_LOAD_BALANCING, setpoint_w=2_000.0)) == (2_000.0, "schedule.setpoint")


def test_Q09_inside_the_band_the_baseline_holds() -> None:
    assert result(LLB, load_balance=site(10_000.0)) == (0.0, "site.baseline")
    assert result(mode(M.LOCAL_LOAD_BALANCING, setpoint_w=3_000.0), load_balance=site(10_000.0)) == (
        3_000.0, "schedule.setpoint")


def test_Q09_above_the_upper_threshold_give_way_to_upper_threshold_plus_offset() -> None:
    assert result(LLB, load_balance=site(24_000.0)) == (-5_000.0, "site.upper_threshold")  # site at 19 kW
    assert result(mode(M.LOCAL_LOAD_BALANCING, setpoint_w=3_000.0), load_balance=site(18_000.0)) == (
        1_000.0, "site.upper_threshold")  # 18 + 3 > 20: charge only up to 19 kW on the site
    assert result(LLB, load_balance=site(40_000.0)) == (-8_000.0, "ev.max_discharge_current")  # the car wins
    assert result(LLB, car(soc_percent=20.0), load_balance=site(40_000.0)) == (0.0, "ev.soc_min")
    # a positive offset tolerates more; the bound never pushes past the baseline
    assert result(LLB, load_balance=site(21_000.0, upper_offset_w=2_000.0)) == (0.0, "site.baseline")


def test_Q09_below_the_lower_threshold_absorb_up_to_lower_threshold_plus_offset() -> None:
    assert result(LLB, load_balance=site(-6_000.0)) == (6_500.0, "site.lower_threshold")  # site at +500 W
    assert result(mode(M.LOCAL_LOAD_BALANCING, charge_limit_w=3_000.0), load_balance=site(-6_000.0)) == (
        3_000.0, "schedule.limit")
    assert result(LLB, car(soc_percent=90.0), load_balance=site(-6_000.0)) == (0.0, "ev.soc_max")


def test_Q09_evses_balancing_together_take_equal_shares() -> None:
    assert result(LLB, load_balance=site(24_000.0, share=2)) == (-2_500.0, "site.upper_threshold")
    assert result(LLB, load_balance=site(-6_000.0, share=2)) == (3_250.0, "site.lower_threshold")
    assert result(LLB, load_balance=site(math.nan)) == (0.0, "site.unavailable")
    d = arbitrate(LLB, RATINGS, car(), load_balance=site(24_000.0)).details
    assert d["load_balance"] == {"other_w": 24_000.0, "upper_threshold_w": 20_000.0, "lower_threshold_w": 0.0,
                                 "upper_offset_w": -1_000.0, "lower_offset_w": 500.0, "share": 1}


# -- frequency --------------------------------------------------------------------------------------------------


CURVE = ((49.8, 5_000.0), (50.2, -5_000.0))


def test_local_frequency_follows_the_curve_around_the_baseline() -> None:
    lf = mode(M.LOCAL_FREQUENCY, v2x_baseline_w=1_000.0, v2x_freq_watt_curve=CURVE)
    assert result(lf, frequency_hz=50.0) == (1_000.0, "schedule.frequency_curve")
    assert result(lf, frequency_hz=50.1) == (pytest.approx(-1_500.0), "schedule.frequency_curve")
    assert result(lf, frequency_hz=49.0) == (6_000.0, "schedule.frequency_curve")
    assert result(lf, frequency_hz=51.0) == (-4_000.0, "schedule.frequency_curve")
    assert result(lf) == (1_000.0, "schedule.frequency_curve")  # 50 Hz by default
    assert result(lf, car(ev_max_discharge_current_a=5.0), frequency_hz=51.0) == (-2_000.0,
                                                                                   "ev.max_discharge_current")


def test_central_frequency_uses_the_signal_curve_when_a_signal_is_given() -> None:
    cf = mode(M.CENTRAL_FREQUENCY, setpoint_w=-1_000.0, v2x_baseline_w=500.0,
              v2x_signal_watt_curve=((-100, -4_000.0), (100, 4_000.0)))
    assert result(cf) == (-1_000.0, "schedule.setpoint")
    assert result(cf, afrr_signal=50) == (2_500.0, "schedule.signal_curve")
    assert result(cf, afrr_signal=-200) == (-3_500.0, "schedule.signal_curve")


def test_interpolation() -> None:
    assert interpolate([(0.0, 0.0), (10.0, 100.0)], 2.5) == 25.0
    assert interpolate([(10.0, 100.0), (0.0, 0.0)], 12.0) == 100.0
    assert interpolate([(1.0, 7.0)], 3.0) == 7.0
    with pytest.raises(ValueError):
        interpolate([], 1.0)


# -- rates, robustness, explanation -----------------------------------------------------------------------------


def test_below_the_min_charging_rate_charge_nothing() -> None:
    lim = EffectiveLimits(charge_limit_w=1_000.0, min_charging_rate_w=1_400.0)
    assert result(lim) == (0.0, "schedule.min_charging_rate")
    assert result(replace(lim, charge_limit_w=2_000.0)) == (2_000.0, "schedule.limit")


def test_nan_inputs_never_open_the_window() -> None:
    assert result(None, policy=LocalPolicy(setpoint_w=math.nan)) == (0.0, "invalid_setpoint")
    assert result(None, policy=LocalPolicy(charge_limit_w=math.nan)) == (0.0, "policy.charge_limit")
    assert result(EffectiveLimits(charge_limit_w=math.nan)) == (0.0, "schedule.limit")


def test_details_explain_the_window_deterministically() -> None:
    a = arbitrate(mode(M.CENTRAL_SETPOINT, setpoint_w=-3_000.0, source_profile_ids=(4,)), RATINGS, car())
    b = arbitrate(mode(M.CENTRAL_SETPOINT, setpoint_w=-3_000.0, source_profile_ids=(4,)), RATINGS, car())
    assert a == b
    d = a.details
    assert d["charge_limit_w"] == 40_000.0 and d["charge_bound_by"] == "ev.max_charge_current"
    assert d["discharge_limit_w"] == -8_000.0 and d["discharge_bound_by"] == "ev.max_discharge_current"
    assert d["wanted_w"] == -3_000.0 and d["operation_mode"] == "CentralSetpoint" and d["profiles"] == (4,)
    assert d["charge_limits"] == {"ev.max_charge_current": 40_000.0, "charger.max_charge_power": 50_000.0,
                                  "charger.max_charge_current": 50_000.0}
    assert d["voltage_v"] == 400.0 and d["voltage_measured"] is True


# -- from profiles to a setpoint --------------------------------------------------------------------------------


def test_TC_Q_113_CS_setpoint_profile_duration_expired_falls_back_to_charging_only() -> None:
    s = ProfileStore("2.1")
    s.add(prof(1, Purpose.TX_DEFAULT, [v2x(0, M.CHARGING_ONLY, limit=7_000.0)], evse=0))
    s.add(prof(2, Purpose.TX, [v2x(0, M.CENTRAL_SETPOINT, setpoint=-6_000.0)], tx="tx-1", duration=600),
          active_tx_ids={1: "tx-1"})
    tx = ("tx-1", T0)
    assert result(limit_at(s, 1, at(10), tx)) == (-6_000.0, "schedule.setpoint")
    assert result(limit_at(s, 1, at(600), tx), policy=LocalPolicy(setpoint_w=-1_000.0)) == (
        0.0, "schedule.charging_only")
    assert result(limit_at(s, 1, at(600), tx)) == (7_000.0, "schedule.limit")


def test_legacy_profiles_leave_discharge_to_local_policy() -> None:
    s = ProfileStore("1.6")
    s.add(prof(1, Purpose.TX_DEFAULT, [(0, 16.0)], unit="A", evse=0))
    lim = limit_at(s, 1, T0, ("1", T0), nominal_voltage_v=400.0, phases=None)
    assert lim.operation_mode is None and lim.charge_limit_w == 6_400.0
    assert result(lim) == (6_400.0, "schedule.limit")
    assert result(lim, policy=LocalPolicy(setpoint_w=-2_000.0)) == (-2_000.0, "policy.setpoint")
