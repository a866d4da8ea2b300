"""Composite schedules: stacking, purposes, kinds, validity, units, signed V2X values. Expectations by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_schedule_support import T0, at, limits_of, per, prof, schema_validate, v2x

from chargepoint.energy.model import Kind, OperationMode, Purpose, RateUnit, Recurrency, TxInfo
from chargepoint.energy.ocpp_codec import composite_to_ocpp
from chargepoint.energy.schedule import active_period, composite, limit_at

TX = TxInfo("tx-1", T0)


# -- stacking within a purpose ----------------------------------------------------------------------------------


def test_TC_K_39_CS_no_profile_gives_the_default_limit() -> None:
    cs = composite([], 1, T0, 3600, "A", default_limit=32.0)
    assert limits_of(cs) == [(0, 32.0)]
    assert cs.start == T0 and cs.duration_s == 3600 and cs.unit is RateUnit.A
    assert limits_of(composite([], 1, T0, 3600, "A")) == [(0, None)]


def test_TC_072_CS_stacking_charging_profiles() -> None:
    """The higher stack level leads while its schedule lasts; after its duration the lower one shows through."""
    base = prof(1, periods=[(0, 6.0)], unit="A", stack=0, evse=0)
    top = prof(2, periods=[(0, 10.0)], unit="A", stack=1, evse=1, duration=300)
    cs = composite([base, top], 1, T0, 600, "A")
    assert limits_of(cs) == [(0, 10.0), (300, 6.0)]
    assert cs.periods[0].source_ids == (2,) and cs.periods[1].source_ids == (1,)


def test_highest_stack_without_duration_never_falls_back() -> None:
    base = prof(1, periods=[(0, 6.0)], unit="A", stack=0)
    top = prof(2, periods=[(0, 10.0), (120, 12.0)], unit="A", stack=1)
    assert limits_of(composite([base, top], 1, T0, 7 * 86400, "A")) == [(0, 10.0), (120, 12.0)]


def test_TC_K_40_CS_get_composite_schedule_stacking() -> None:
    """Three TxDefault stack levels with different windows: the highest level in force at each instant leads."""
    p0 = prof(1, periods=[(0, 20.0)], unit="A", stack=0)
    p1 = prof(2, periods=[(0, 16.0)], unit="A", stack=1, start=at(100), duration=400)  # [100, 500)
    p2 = prof(3, periods=[(0, 8.0), (50, 12.0)], unit="A", stack=2, start=at(200), duration=100)  # [200, 300)
    cs = composite([p0, p1, p2], 1, T0, 600, "A")
    assert limits_of(cs) == [(0, 20.0), (100, 16.0), (200, 8.0), (250, 12.0), (300, 16.0), (500, 20.0)]


def test_TC_K_21_CS_and_TC_K_22_CS_valid_from_and_valid_to_clip_a_profile() -> None:
    base = prof(1, periods=[(0, 10_000.0)], stack=0)
    window = prof(2, periods=[(0, 6_000.0)], stack=1, valid_from=at(600), valid_to=at(1200))
    assert limits_of(composite([base, window], 1, T0, 1800)) == [(0, 10_000.0), (600, 6_000.0), (1200, 10_000.0)]


def test_TC_K_23_CS_start_schedule_in_the_future() -> None:
    later = prof(1, periods=[(0, 5_000.0)], start=at(900))
    assert limits_of(composite([later], 1, T0, 1800, default_limit=7_000.0)) == [(0, 7_000.0), (900, 5_000.0)]


def test_evse_specific_tx_default_beats_station_wide_on_a_tie_but_not_a_higher_stack() -> None:
    station = prof(1, periods=[(0, 20.0)], unit="A", stack=0, evse=0)
    own = prof(2, periods=[(0, 10.0)], unit="A", stack=0, evse=1)
    assert limits_of(composite([station, own], 1, T0, 60, "A")) == [(0, 10.0)]
    assert limits_of(composite([station, own], 2, T0, 60, "A")) == [(0, 20.0)]
    higher = prof(3, periods=[(0, 25.0)], unit="A", stack=1, evse=0)
    assert limits_of(composite([station, own, higher], 1, T0, 60, "A")) == [(0, 25.0)]


# -- kinds ------------------------------------------------------------------------------------------------------


def test_TC_K_19_CS_recurring_daily_uses_the_previous_days_tail_before_todays_start() -> None:
    """Daily from yesterday 18:00: 3 kW for 6 h, then 11 kW. At 12:00 yesterday's instance (offset 18 h) is still in
    force; at 18:00 today's starts."""
    daily = prof(1, periods=[(0, 3_000.0), (21_600, 11_000.0)], kind=Kind.RECURRING, rec=Recurrency.DAILY,
                 start=T0.replace(day=1, hour=18))
    cs = composite([daily], 1, T0, 8 * 3600)
    assert limits_of(cs) == [(0, 11_000.0), (6 * 3600, 3_000.0)]


def test_recurring_profile_is_not_in_force_before_its_first_start() -> None:
    daily = prof(1, periods=[(0, 3_000.0)], kind=Kind.RECURRING, rec=Recurrency.DAILY, start=at(3600))
    assert limits_of(composite([daily], 1, T0, 7200, default_limit=9_000.0)) == [(0, 9_000.0), (3600, 3_000.0)]


def test_recurring_with_a_short_duration_covers_only_that_part_of_each_day() -> None:
    morning = prof(1, periods=[(0, 2_000.0)], kind=Kind.RECURRING, rec=Recurrency.DAILY,
                   start=T0.replace(day=1, hour=8), duration=3600)
    cs = composite([morning], 1, T0.replace(hour=0), 2 * 86400, default_limit=7_000.0)
    assert limits_of(cs) == [
        (0, 7_000.0), (8 * 3600, 2_000.0), (9 * 3600, 7_000.0),
        (86400 + 8 * 3600, 2_000.0), (86400 + 9 * 3600, 7_000.0),
    ]


def test_recurring_weekly() -> None:
    weekly = prof(1, periods=[(0, 1_000.0), (86400, 5_000.0)], kind=Kind.RECURRING, rec=Recurrency.WEEKLY,
                  start=T0 - timedelta(days=7))  # Mondays 12:00: 1 kW for a day, then 5 kW
    cs = composite([weekly], 1, T0 - timedelta(hours=1), 2 * 86400)
    assert limits_of(cs) == [(0, 5_000.0), (3600, 1_000.0), (3600 + 86400, 5_000.0)]


def test_relative_profile_is_anchored_to_the_transaction_start() -> None:
    rel = prof(1, Purpose.TX, periods=[(0, 5_000.0), (600, 7_000.0)], kind=Kind.RELATIVE, tx="tx-1")
    tx = TxInfo("tx-1", T0 - timedelta(seconds=300))
    assert limits_of(composite([rel], 1, T0, 1200, tx=tx)) == [(0, 5_000.0), (300, 7_000.0)]


def test_relative_profile_without_transaction_is_anchored_to_the_request() -> None:
    rel = prof(1, periods=[(0, 5_000.0), (600, 7_000.0)], kind=Kind.RELATIVE, duration=900)
    cs = composite([rel], 1, T0, 1200, default_limit=1_000.0)
    assert limits_of(cs) == [(0, 5_000.0), (600, 7_000.0), (900, 1_000.0)]
    assert limit_at([rel], 1, at(5000)).charge_limit_w == 5_000.0  # anchored to `when`


def test_active_period_of_a_single_profile() -> None:
    p = prof(1, periods=[(0, 1.0), (60, 2.0)], duration=120)
    assert active_period(p, at(-1), T0) is None
    assert active_period(p, at(0), T0) == per(0, 1.0)
    assert active_period(p, at(60), T0) == per(60, 2.0)
    assert active_period(p, at(120), T0) is None


# -- purposes ---------------------------------------------------------------------------------------------------


def test_TC_K_41_CS_get_composite_schedule_combining_purposes() -> None:
    """Station max 20 A; TxDefault 16/24/8 A for 300 s; TxProfile 10/30 A for 150 s: min per interval, TxProfile
    replacing TxDefault while it lasts."""
    mx = prof(1, Purpose.STATION_MAX, [(0, 20.0)], unit="A", evse=0, duration=86400)
    default = prof(2, Purpose.TX_DEFAULT, [(0, 16.0), (100, 24.0), (200, 8.0)], unit="A", duration=300)
    txp = prof(3, Purpose.TX, [(0, 10.0), (60, 30.0)], unit="A", duration=150, tx="tx-1")
    cs = composite([mx, default, txp], 1, T0, 400, "A", tx=TX)
    assert limits_of(cs) == [(0, 10.0), (60, 20.0), (200, 8.0), (300, 20.0)]
    assert cs.periods[1].source_ids == (1, 2, 3)  # merged [60, 150) Tx and [150, 200) TxDefault, both capped at 20
    without_tx = composite([mx, default, txp], 1, T0, 400, "A")
    assert limits_of(without_tx) == [(0, 16.0), (100, 20.0), (200, 8.0), (300, 20.0)]


def test_TC_057_CS_tx_profile_applies_only_to_its_transaction() -> None:
    default = prof(1, Purpose.TX_DEFAULT, [(0, 16.0)], unit="A")
    txp = prof(2, Purpose.TX, [(0, 6.0)], unit="A", tx="tx-1")
    assert limits_of(composite([default, txp], 1, T0, 60, "A", tx=TX)) == [(0, 6.0)]
    assert limits_of(composite([default, txp], 1, T0, 60, "A", tx=("tx-2", T0))) == [(0, 16.0)]
    assert limits_of(composite([default, txp], 2, T0, 60, "A", tx=TX)) == [(0, None)]


def test_TC_066_CS_get_composite_schedule_converts_units() -> None:
    """ChargePointMaxProfile 6900 W (= 10 A on 3 x 230 V); TxDefault 16 A then 8 A."""
    mx = prof(1, Purpose.STATION_MAX, [(0, 6_900.0)], evse=0)
    default = prof(2, Purpose.TX_DEFAULT, [(0, 16.0), (600, 8.0)], unit="A", evse=0)
    in_a = composite([mx, default], 1, T0, 1200, "A", nominal_voltage_v=230.0, phases=3)
    assert limits_of(in_a) == [(0, pytest.approx(10.0)), (600, 8.0)]
    in_w = composite([mx, default], 1, T0, 1200, "W", nominal_voltage_v=230.0, phases=3)
    assert limits_of(in_w) == [(0, 6_900.0), (600, 5_520.0)]
    body = composite_to_ocpp(in_a, "1.6")
    assert body["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 10.0}, {"startPeriod": 600, "limit": 8.0}
    ]
    schema_validate("1.6", "GetCompositeScheduleResponse", {"status": "Accepted", **body})


def test_period_number_phases_is_used_for_conversion() -> None:
    one_phase = prof(1, periods=[per(0, 16.0, number_phases=1)], unit="A")
    assert limits_of(composite([one_phase], 1, T0, 60, "W", nominal_voltage_v=230.0)) == [(0, 3_680.0)]
    assert composite([one_phase], 1, T0, 60, "W").periods[0].number_phases == 1


def test_dc_conversion_uses_the_given_voltage() -> None:
    dc = prof(1, periods=[(0, 100.0)], unit="A")
    assert limits_of(composite([dc], 1, T0, 60, "W", nominal_voltage_v=400.0, phases=None)) == [(0, 40_000.0)]
    assert limit_at([dc], 1, T0, nominal_voltage_v=400.0, phases=None).charge_limit_w == 40_000.0


def test_per_phase_values_are_folded_conservatively() -> None:
    p = prof(1, periods=[per(0, 3_000.0, limit_l2=2_000.0, limit_l3=4_000.0)])
    assert limits_of(composite([p], 1, T0, 60)) == [(0, 6_000.0)]  # 3 x the lowest phase


def test_station_max_limits_every_evse_and_the_sum_at_evse_0() -> None:
    default = prof(1, Purpose.TX_DEFAULT, [(0, 10_000.0)], evse=0)
    mx = prof(2, Purpose.STATION_MAX, [(0, 15_000.0), (600, 8_000.0)], evse=0)
    assert limits_of(composite([default, mx], 1, T0, 1200)) == [(0, 10_000.0), (600, 8_000.0)]
    grid = composite([default, mx], 0, T0, 1200, evses={1: None, 2: TX})
    assert limits_of(grid) == [(0, 15_000.0), (600, 8_000.0)]
    assert limits_of(composite([default, mx], 0, T0, 1200)) == [(0, 15_000.0), (600, 8_000.0)]


def test_external_constraints_lower_the_limit_and_local_generation_adds_capacity() -> None:
    default = prof(1, Purpose.TX_DEFAULT, [(0, 22_000.0)], evse=0)
    ext = prof(-1, Purpose.EXTERNAL_CONSTRAINTS, [(0, 9_000.0)], evse=0, source="EMS")
    solar = prof(-2, Purpose.LOCAL_GENERATION, [(0, 0.0), (600, 4_000.0)], evse=0, source="EMS")
    assert limits_of(composite([default, ext], 1, T0, 1200)) == [(0, 9_000.0)]
    assert limits_of(composite([default, ext, solar], 1, T0, 1200)) == [(0, 9_000.0), (600, 13_000.0)]


def test_priority_charging_replaces_the_transaction_layer_when_activated() -> None:
    default = prof(1, Purpose.TX_DEFAULT, [(0, 7_000.0)])
    prio = prof(2, Purpose.PRIORITY_CHARGING, [(0, 22_000.0)])
    mx = prof(3, Purpose.STATION_MAX, [(0, 20_000.0)], evse=0)
    assert limits_of(composite([default, prio, mx], 1, T0, 60, tx=TX)) == [(0, 7_000.0)]
    assert limits_of(composite([default, prio, mx], 1, T0, 60, tx=TX, priority_charging=True)) == [(0, 20_000.0)]


def test_TC_K_100_CS_max_offline_duration() -> None:
    """Offline since T0: the stack-1 profile with maxOfflineDuration 600 s stops counting after 600 s."""
    base = prof(1, periods=[(0, 4_000.0)], stack=0)
    online_only = prof(2, periods=[(0, 11_000.0)], stack=1, max_offline_duration=600)
    assert limits_of(composite([base, online_only], 1, T0, 1200)) == [(0, 11_000.0)]
    cs = composite([base, online_only], 1, T0, 1200, offline_since=T0)
    assert limits_of(cs) == [(0, 11_000.0), (600, 4_000.0)]


# -- signed values (2.1) ----------------------------------------------------------------------------------------


def test_discharge_limits_combine_by_max_and_setpoints_are_clamped() -> None:
    central = prof(1, Purpose.TX, [v2x(0, OperationMode.CENTRAL_SETPOINT, setpoint=-8_000.0,
                                       discharge_limit=-10_000.0)], tx="tx-1")
    ext = prof(-1, Purpose.EXTERNAL_CONSTRAINTS, [v2x(0, OperationMode.EXTERNAL_LIMITS, limit=7_000.0,
                                                     discharge_limit=-5_000.0)], evse=0, source="EMS")
    p = composite([central, ext], 1, T0, 60, tx=TX).periods[0]
    assert (p.limit, p.discharge_limit, p.setpoint) == (7_000.0, -5_000.0, -5_000.0)
    assert p.operation_mode is OperationMode.CENTRAL_SETPOINT
    eff = limit_at([central, ext], 1, T0, TX)
    assert (eff.charge_limit_w, eff.discharge_limit_w, eff.setpoint_w) == (7_000.0, -5_000.0, -5_000.0)
    assert eff.source_profile_ids == (-1, 1)


def test_positive_setpoint_is_clamped_to_the_lowest_charge_limit() -> None:
    central = prof(1, Purpose.TX, [v2x(0, OperationMode.CENTRAL_SETPOINT, setpoint=9_000.0)], tx="tx-1")
    mx = prof(2, Purpose.STATION_MAX, [(0, 6_000.0)], evse=0)
    p = composite([central, mx], 1, T0, 60, tx=TX).periods[0]
    assert (p.limit, p.setpoint) == (6_000.0, 6_000.0)


def test_external_setpoint_mode_takes_the_external_systems_setpoint() -> None:
    txp = prof(1, Purpose.TX, [v2x(0, OperationMode.EXTERNAL_SETPOINT, setpoint=3_000.0)], tx="tx-1")
    ext = prof(-1, Purpose.EXTERNAL_CONSTRAINTS, [v2x(0, OperationMode.EXTERNAL_SETPOINT, setpoint=-2_500.0)],
               source="EMS")
    assert composite([txp, ext], 1, T0, 60, tx=TX).periods[0].setpoint == -2_500.0
    assert composite([txp], 1, T0, 60, tx=TX).periods[0].setpoint is None


def test_setpoints_change_with_periods_and_carry_v2x_fields() -> None:
    curve = ((49.8, 5_000.0), (50.2, -5_000.0))
    txp = prof(1, Purpose.TX, [
        v2x(0, OperationMode.CENTRAL_SETPOINT, setpoint=-3_000.0),
        v2x(300, OperationMode.LOCAL_FREQUENCY, v2x_baseline=0.0, v2x_freq_watt_curve=curve),
        v2x(600, OperationMode.IDLE, evse_sleep=True),
    ], tx="tx-1")
    cs = composite([txp], 1, T0, 900, tx=TX)
    assert [(p.start_s, p.operation_mode, p.setpoint) for p in cs.periods] == [
        (0, OperationMode.CENTRAL_SETPOINT, -3_000.0),
        (300, OperationMode.LOCAL_FREQUENCY, None),
        (600, OperationMode.IDLE, None),
    ]
    assert cs.periods[1].v2x_freq_watt_curve == curve and cs.periods[2].evse_sleep is True
    body = composite_to_ocpp(cs, "2.1")
    assert body["chargingSchedulePeriod"][0] == {"startPeriod": 0, "setpoint": -3_000.0,
                                                 "operationMode": "CentralSetpoint"}
    schema_validate("2.1", "GetCompositeScheduleResponse", {"status": "Accepted", "schedule": body})


def test_min_charging_rate_is_carried() -> None:
    p = prof(1, periods=[(0, 16.0)], unit="A", min_rate=6.0)
    cs = composite([p], 1, T0, 60, "A")
    assert cs.periods[0].min_charging_rate == 6.0 and cs.min_charging_rate == 6.0
    assert composite_to_ocpp(cs, "1.6")["chargingSchedule"]["minChargingRate"] == 6.0
    assert limit_at([p], 1, T0, nominal_voltage_v=230.0).min_charging_rate_w == 6.0 * 690.0


# -- form -------------------------------------------------------------------------------------------------------


def test_fractional_boundaries_are_floored_to_whole_seconds() -> None:
    p = prof(1, periods=[(0, 1_000.0), (60, 2_000.0)])
    cs = composite([p], 1, T0 + timedelta(milliseconds=500), 120)
    assert limits_of(cs) == [(0, 1_000.0), (59, 2_000.0)]


def test_composite_is_a_pure_function_of_its_inputs() -> None:
    ps = [prof(1, periods=[(0, 10.0), (30, 12.0)], unit="A"), prof(2, Purpose.STATION_MAX, [(0, 11.0)], unit="A",
                                                                    evse=0)]
    a = composite(ps, 1, T0, 90, "A")
    b = composite(tuple(reversed(ps)), 1, T0, 90, "A")
    assert a == b and limits_of(a) == [(0, 10.0), (30, 11.0)]


def test_naive_times_and_negative_durations_are_refused() -> None:
    with pytest.raises(ValueError):
        composite([], 1, T0.replace(tzinfo=None), 60)
    with pytest.raises(ValueError):
        composite([], 1, T0, -1)
    with pytest.raises(ValueError):
        limit_at([], 1, T0.replace(tzinfo=None))


def test_composite_to_ocpp_201_and_missing_limit() -> None:
    cs = composite([prof(1, periods=[(0, 16.0)], unit="A")], 1, T0, 60, "A")
    body = composite_to_ocpp(cs, "2.0.1")
    assert body == {"evseId": 1, "duration": 60, "scheduleStart": "2026-03-02T12:00:00.000Z",
                    "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}
    schema_validate("2.0.1", "GetCompositeScheduleResponse", {"status": "Accepted", "schedule": body})
    with pytest.raises(ValueError, match="no limit"):
        composite_to_ocpp(composite([], 1, T0, 60), "2.0.1")
