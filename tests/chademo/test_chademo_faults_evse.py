"""Fault rows 9-18 of reference §4 (mostly charger-detected), one or more tests per row, in virtual time."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chargepoint.chademo.charger_types import ChargerPhase, FaultFlag, StopReason
from chargepoint.chademo.timeouts import ChargerConfig
from hil.emulators.chademo_pair import ChademoPair
from hil.emulators.ev import EvEmulator, EvPhase
from hil.emulators.ev_profiles import PROFILES, EvFault

from .bench import (
    ScriptedCharger,
    assert_unlocked_only_when_safe,
    evse_statuses,
    finish,
    make_pair,
    run_to_current,
    start_to,
    time_to_low_current,
)

P = ChargerPhase


def _ends_cleanly_after_fault(pair: ChademoPair, timeout_s: float = 20.0) -> None:
    """Whatever the fault, the teardown completes: current off, d2/d1 off, unlocked at <= 10 V."""
    assert finish(pair, timeout_s), f"stuck in {pair.charger.phase}"
    a = pair.last_actions
    assert not a.d1 and not a.d2 and not a.lock and not a.output_contactor and a.current_a == 0.0
    assert_unlocked_only_when_safe(pair)


# ---- Row 9 -------------------------------------------------------------------------------------------------------


def _estop(pair: ChademoPair) -> None:
    pair.link.estop = True


def _internal(pair: ChademoPair) -> None:
    pair.link.internal_fault = True


def _insulation(pair: ChademoPair) -> None:
    pair.link.insulation_fault = True


def _lock_lost(pair: ChademoPair) -> None:
    pair.link.lock_fails = True


def _overcurrent(pair: ChademoPair) -> None:
    pair.link.extra_current_a = 25.0


def _overvoltage(pair: ChademoPair) -> None:
    pair.link.voltage_offset_v = 200.0


def _api_estop(pair: ChademoPair) -> None:
    pair.charger.emergency_stop()


@pytest.mark.parametrize(
    ("inject", "reason"),
    [
        (_estop, StopReason.EMERGENCY_STOP),
        (_api_estop, StopReason.EMERGENCY_STOP),
        (_internal, StopReason.CHARGER_FAULT),
        (_insulation, StopReason.INSULATION_FAULT),
        (_lock_lost, StopReason.LOCK_FAILURE),
        (_overcurrent, StopReason.OUTPUT_OVERCURRENT),
        (_overvoltage, StopReason.OUTPUT_OVERVOLTAGE),
    ],
    ids=["estop_button", "estop_api", "internal", "insulation", "lock_lost", "overcurrent", "overvoltage"],
)
def test_fault_row_09_charger_fault_sets_malfunction_and_car_opens_after_low_current(inject, reason) -> None:  # type: ignore[no-untyped-def]
    pair = make_pair(record=True, log_frames=True)
    run_to_current(pair, 60.0)
    t0 = pair.now
    inject(pair)
    pair.run(2.0)
    ch = pair.charger
    assert ch.fault_reason is reason and ch.fault_flag is FaultFlag.MALFUNCTION
    flagged = [f for t, f in evse_statuses(pair) if t >= t0 and f.malfunction]
    assert flagged and all(f.stop_control for f in flagged)  # 109.5.1 + 109.5.5
    assert time_to_low_current(pair, t0) <= (0.8 if reason is StopReason.OUTPUT_OVERCURRENT else 0.2)
    # The car: request 0, k off, contactors opened only once the current was <= 5 A.
    assert pair.ev.request_a == 0.0 and pair.ev.k is False
    t_open = next(s.t for s in pair.samples if s.t >= t0 and not s.ev_contactor)
    assert all(abs(s.current_a) <= 5.0 for s in pair.samples if s.t >= t_open)
    pair.link.extra_current_a = 0.0
    pair.link.voltage_offset_v = 0.0
    pair.link.lock_fails = False
    _ends_cleanly_after_fault(pair)


def test_fault_row_09_lock_does_not_engage_before_insulation_test() -> None:
    pair = make_pair(record=True)
    pair.link.lock_fails = True
    pair.start()
    pair.run(8.0)
    assert pair.charger.fault_reason is StopReason.LOCK_FAILURE
    assert pair.charger.fault_flag is FaultFlag.MALFUNCTION
    assert max(s.voltage_v for s in pair.samples) == 0.0  # no insulation test without a lock


def test_fault_row_09_insulation_test_failure_never_closes_d2() -> None:
    pair = make_pair(record=True)
    pair.link.insulation_fault = True
    pair.start()
    pair.run(15.0)
    assert pair.charger.fault_reason is StopReason.INSULATION_FAULT
    assert not any(s.ev_contactor for s in pair.samples)
    assert all(s.phase is not P.WAIT_EV_CONTACTORS for s in pair.samples)
    assert pair.charger.phase is P.FINISHED  # discharged and unlocked


def test_fault_row_09_insulation_test_voltage_not_reached() -> None:
    pair = make_pair()
    pair.link.insulation_ramp_v_per_s = 10.0  # a weak converter: 500 V would take 50 s
    pair.start()
    pair.run(20.0)
    assert pair.charger.fault_reason is StopReason.INSULATION_TEST_FAILED


# ---- Row 10 ------------------------------------------------------------------------------------------------------


def test_fault_row_10_ev_request_above_available_sets_system_malfunction() -> None:
    pair = make_pair(log_frames=True)
    run_to_current(pair, 20.0)
    pair.charger.set_setpoint_a(30.0)
    pair.run(1.0)
    t0 = pair.now
    pair.ev.inject(EvFault.REQUEST_ABOVE_AVAILABLE)
    pair.run(0.9)
    assert pair.charger.stop_reason is None  # tolerated for one second (dynamic-control lag)
    assert pair.link.current_a <= 30.0 + 0.5  # never more than 108.3 meanwhile
    pair.run(1.0)
    assert pair.charger.fault_reason is StopReason.EV_REQUEST_ABOVE_AVAILABLE
    assert any(f.system_malfunction for t, f in evse_statuses(pair) if t > t0)
    _ends_cleanly_after_fault(pair)


def test_fault_row_10_no_current_request_sets_system_malfunction() -> None:
    pair = make_pair(log_frames=True)
    pair.ev.inject(EvFault.NO_CURRENT_REQUEST)
    start_to(pair, P.WAIT_REQUEST)
    t0 = pair.now
    assert pair.run_until(lambda: pair.charger.stop_reason is not None, 10.0)
    assert pair.charger.stop_reason is StopReason.NO_CURRENT_REQUEST
    assert 4.0 <= pair.now - t0 <= 4.1
    pair.run(0.3)
    assert evse_statuses(pair)[-1][1].system_malfunction
    _ends_cleanly_after_fault(pair)


# ---- Row 11 ------------------------------------------------------------------------------------------------------


def test_fault_row_11_output_reaching_threshold_voltage_stops() -> None:
    pair = make_pair(record=True, max_battery_voltage_v=400.0)
    run_to_current(pair, 40.0)
    assert pair.charger.threshold_voltage_v == 400.0
    t0 = pair.now
    pair.link.voltage_offset_v = 400.0 - pair.link.voltage_v + 1.0  # measured output now above 108.4-5
    pair.run(0.2)
    assert pair.charger.stop_reason is StopReason.THRESHOLD_VOLTAGE
    assert time_to_low_current(pair, t0) <= 0.05
    pair.link.voltage_offset_v = 0.0
    _ends_cleanly_after_fault(pair)


def test_fault_row_11_regulation_stays_below_threshold() -> None:
    # Charging into a nearly full pack with a low 100.4-5: the charger regulates below the threshold, no trip.
    pair = make_pair(record=True, max_battery_voltage_v=399.0, target_voltage_v=399.0, cv_voltage_v=410.0,
                     v_max=420.0, soc=92.0)
    run_to_current(pair, 10.0)
    pair.run(20.0)
    assert pair.charger.stop_reason is None
    assert max(s.voltage_v for s in pair.samples if s.phase is P.ENERGY_TRANSFER) < 399.0


# ---- Row 12 ------------------------------------------------------------------------------------------------------


def test_fault_row_12_remaining_time_zero_stops_normally() -> None:
    pair = make_pair(config=ChargerConfig(discharge_enabled=False), max_charge_time_min=1, log_frames=True)
    t0 = start_to(pair)
    assert pair.run_until(lambda: pair.charger.stop_reason is not None, 70.0)
    assert pair.charger.stop_reason is StopReason.REMAINING_TIME_ELAPSED
    assert 60.0 - 0.05 <= pair.now - t0 <= 60.1
    _ends_cleanly_after_fault(pair)
    assert not pair.charger.is_fault


# ---- Row 13 ------------------------------------------------------------------------------------------------------


def test_fault_row_13_ev_can_silence_stops_charger_within_one_second() -> None:
    pair = make_pair(record=True, log_frames=True)
    run_to_current(pair, 60.0)
    t0 = pair.now
    pair.ev.inject(EvFault.CAN_SILENCE)
    pair.run(1.5)
    ch = pair.charger
    assert ch.stop_reason is StopReason.CAN_TIMEOUT and ch.fault_flag is FaultFlag.SYSTEM
    assert time_to_low_current(pair, t0, 0.0) <= 1.15  # 1 s silence + one cycle
    _ends_cleanly_after_fault(pair)


def test_fault_row_13_charger_silence_makes_car_stop_with_system_fault() -> None:
    pair = make_pair(record=True)
    run_to_current(pair, 60.0)
    t0 = pair.now
    pair.drop_to_ev = True
    pair.run(1.5)
    assert pair.ev.system_fault and pair.ev.stop_cause == "evse_can_timeout"
    assert pair.charger.fault_reason is StopReason.EV_SYSTEM_FAULT
    assert time_to_low_current(pair, t0) <= 1.3
    pair.drop_to_ev = False
    _ends_cleanly_after_fault(pair)


# ---- Row 14 ------------------------------------------------------------------------------------------------------


def test_fault_row_14_j_on_before_ev_can_is_a_fault() -> None:
    pair = make_pair(record=True)
    pair.ev.inject(EvFault.K_BEFORE_CAN)
    pair.start()
    pair.run(3.0)
    assert pair.charger.stop_reason is StopReason.J_BEFORE_CAN
    assert pair.charger.fault_flag is FaultFlag.SYSTEM
    assert pair.charger.tx_count == 0  # never started talking
    assert max(s.voltage_v for s in pair.samples) == 0.0


def test_fault_row_14_enable_flag_without_j_is_a_fault() -> None:
    pair = make_pair(record=True)
    pair.ev.inject(EvFault.ENABLE_WITHOUT_K)
    pair.start()
    pair.run(6.0)
    assert pair.charger.stop_reason is StopReason.J_CAN_MISMATCH
    assert pair.charger.fault_flag is FaultFlag.SYSTEM
    assert max(s.voltage_v for s in pair.samples) == 0.0  # never locked nor tested


# ---- Row 15 ------------------------------------------------------------------------------------------------------


def test_fault_row_15_contactors_not_closed_within_4s_of_d2() -> None:
    pair = make_pair()
    pair.ev.inject(EvFault.NO_CONTACTOR_CLOSE)
    t_d2 = start_to(pair, P.WAIT_EV_CONTACTORS)
    assert pair.run_until(lambda: pair.charger.stop_reason is not None, 6.0)
    assert pair.charger.stop_reason is StopReason.EV_CONTACTOR_TIMEOUT
    assert 4.0 <= pair.now - t_d2 <= 4.1
    _ends_cleanly_after_fault(pair)


def test_fault_row_15_no_request_within_4s_of_contactors_closing() -> None:
    pair = make_pair()
    pair.ev.inject(EvFault.NO_CURRENT_REQUEST)
    pair.start()
    assert pair.run_until(lambda: pair.ev.contactor_closed, 20.0)
    t_closed = pair.now
    assert pair.run_until(lambda: pair.charger.stop_reason is not None, 6.0)
    assert pair.charger.stop_reason is StopReason.NO_CURRENT_REQUEST
    assert 4.0 <= pair.now - t_closed <= 4.5  # 4 s after the charger saw the contactors (+ precharge)
    _ends_cleanly_after_fault(pair)


def test_fault_row_15_welding_detection_not_finished_within_10s() -> None:
    pair = make_pair(record=True)
    run_to_current(pair, 20.0)
    pair.ev.inject(EvFault.NO_WELDING_FINISH)
    pair.charger.request_stop()
    assert pair.run_until_phase(P.WAIT_WELDING, 5.0)
    t_w = pair.now
    assert pair.run_until_phase(P.D2_OFF, 12.0)
    assert 10.0 <= pair.now - t_w <= 10.1
    assert pair.charger.fault_reason is StopReason.WELDING_DETECTION_TIMEOUT
    _ends_cleanly_after_fault(pair)


# ---- Row 16 ------------------------------------------------------------------------------------------------------


def _scripted_to_first_request(ev: EvEmulator) -> ScriptedCharger:
    bench = ScriptedCharger(ev)
    bench.status = replace(bench.status, energizing=True)
    bench.d1 = True
    bench.run(4.0)
    assert bench.k
    bench.d2 = True
    bench.run(1.3)
    assert ev.contactor_closed
    bench.run(1.8)
    assert ev.request_a > 0
    return bench


def test_fault_row_16_car_aborts_when_charging_flag_is_late() -> None:
    ev = EvEmulator("leaf40-ze1", seed=3)
    bench = _scripted_to_first_request(ev)  # the scripted charger never sets 109.5.0
    bench.run(0.5)
    assert ev.system_fault and ev.stop_cause == "evse_no_charging_flag"
    assert ev.request_a == 0.0 and bench.k is False


def test_fault_row_16_car_aborts_when_no_current_flows_within_4s() -> None:
    ev = EvEmulator("leaf24-ze0", seed=3)  # charge-only car
    bench = _scripted_to_first_request(ev)
    bench.status = replace(bench.status, charging=True, stop_control=False)
    bench.run(3.0)
    assert not ev.system_fault
    bench.run(1.5)
    assert ev.system_fault and ev.stop_cause == "evse_no_current"


def test_fault_row_16_car_flags_current_not_off_within_2_5s_of_k_off() -> None:
    ev = EvEmulator("leaf40-ze1", seed=3)
    bench = _scripted_to_first_request(ev)
    bench.status = replace(bench.status, charging=True, stop_control=False)
    bench.current_a = 20.0
    bench.run(2.0)
    ev.user_stop()
    bench.run(0.3)
    assert bench.k is False
    bench.run(2.0)
    assert not ev.system_fault
    bench.run(0.6)  # still 20 A and 109.5.0 = 1 after 2.5 s
    assert ev.system_fault and ev.stop_cause == "user_stop"
    assert not ev.contactor_closed


def test_fault_row_16_our_charger_meets_the_car_deadlines() -> None:
    pair = make_pair(record=True, log_frames=True)
    run_to_current(pair, 60.0)
    t0 = pair.now
    pair.ev.user_stop()
    _ends_cleanly_after_fault(pair)
    flag_off = next(t for t, f in evse_statuses(pair) if t > t0 and not f.charging)
    assert flag_off - t0 <= 2.5 and time_to_low_current(pair, t0) <= 2.5
    assert not pair.ev.system_fault


# ---- Row 17 ------------------------------------------------------------------------------------------------------


def test_fault_row_17_discharge_stops_at_voltage_floor_charging_continues() -> None:
    pair = make_pair(record=True, soc=35.0, capacity_wh=1000.0, min_discharge_voltage_v=350.0,
                     max_discharge_current_a=15.0)
    run_to_current(pair, 5.0)
    floor = pair.charger.discharge_floor_v
    assert floor == pytest.approx(357.0)  # max(200.4-5 = 350, 208.6-7 = 350 * 1.02)
    pair.charger.set_setpoint_a(-15.0)
    t0 = pair.now
    assert pair.run_until(lambda: pair.charger._discharge_voltage_inhibit, 120.0)
    pair.run(3.0)
    assert pair.link.current_a == 0.0 and pair.charger.phase is P.ENERGY_TRANSFER
    assert min(s.voltage_v for s in pair.samples if s.t > t0) >= floor - 1.0
    pair.charger.set_setpoint_a(10.0)
    pair.run(6.0)
    assert pair.link.current_a == pytest.approx(10.0, abs=0.5)  # charging may continue
    assert not pair.charger.is_fault


def test_fault_row_17_discharge_stops_at_min_soc_charging_continues() -> None:
    pair = make_pair(soc=47.0, capacity_wh=1000.0, min_soc_percent=45.0, enforces_soc_window=False)
    run_to_current(pair, 5.0)
    pair.charger.set_setpoint_a(-15.0)
    assert pair.run_until(lambda: pair.charger.soc_percent is not None and pair.charger.soc_percent <= 45.0, 60.0)
    pair.run(3.0)
    assert pair.link.current_a == 0.0
    assert pair.ev.battery.soc >= 45.0 - 0.2
    pair.charger.set_setpoint_a(8.0)
    pair.run(5.0)
    assert pair.link.current_a == pytest.approx(8.0, abs=0.5)


def test_fault_row_17_charge_stops_at_max_soc_discharge_continues() -> None:
    pair = make_pair(soc=51.0, capacity_wh=1000.0, max_soc_percent=52.0, enforces_soc_window=False)
    run_to_current(pair, 5.0)
    pair.charger.set_setpoint_a(30.0)
    assert pair.run_until(lambda: pair.charger.soc_percent is not None and pair.charger.soc_percent >= 52.0, 60.0)
    pair.run(2.0)
    assert pair.link.current_a == 0.0 and pair.charger.advertised_current_a == 0.0
    assert pair.ev.battery.soc <= 52.0 + 0.3
    pair.charger.set_setpoint_a(-10.0)
    pair.run(3.0)
    assert pair.link.current_a == pytest.approx(-10.0, abs=0.5)


def test_fault_row_17_discharge_limit_to_zero_stops_discharging_only() -> None:
    pair = make_pair(soc=60.0)
    run_to_current(pair, 5.0)
    pair.charger.set_setpoint_a(-15.0)
    pair.run(3.0)
    assert pair.link.current_a == pytest.approx(-15.0, abs=0.1)
    pair.ev.inject(EvFault.DISCHARGE_LIMIT_ZERO)
    pair.run(0.3)
    assert pair.link.current_a == 0.0
    assert pair.charger.phase is P.ENERGY_TRANSFER and not pair.charger.is_fault


def test_fault_row_17_kwh_levels_of_pre_guideline_cars_are_converted() -> None:
    pair = make_pair("leaf24-aze0", soc=60.0)
    run_to_current(pair, 5.0)
    # AZE0: 200.6 = 67 (6.7 kWh), 200.7 = 179 (17.9 kWh) as in the logs, against 22.2 kWh rated -> 30 % / 80 %
    # (truncated, §2.6).
    assert pair.charger.ev_discharge is not None
    assert pair.charger.ev_discharge.min_discharge_level == 67
    assert pair.charger.ev_discharge.max_charge_level == 179
    assert pair.charger.soc_min_percent == 30.0
    assert pair.charger.soc_max_percent == 80.0


# ---- Row 18 ------------------------------------------------------------------------------------------------------


def test_fault_row_18_welded_contactor_keeps_connector_locked_and_car_refuses_next_session() -> None:
    pair = make_pair(record=True)
    run_to_current(pair, 30.0)
    pair.ev.inject(EvFault.WELDED_CONTACTOR)
    pair.charger.request_stop()
    pair.run(15.0)
    ch = pair.charger
    assert ch.phase is P.WAIT_UNLOCK  # output still at battery voltage: never unlock above 10 V
    assert pair.last_actions.lock and pair.link.voltage_v > 300.0
    assert ch.unlock_blocked and ch.fault_flag is FaultFlag.MALFUNCTION
    assert "welded_contactor" in pair.ev.dtcs and pair.ev.system_fault
    # Next session with the same car (contactor repaired, DTC not cleared): refused at once.
    ev = pair.ev
    ev.clear()
    ev.contactor_closed = False
    pair2 = ChademoPair(ev=ev)
    pair2.start()
    pair2.run(6.0)
    assert pair2.charger.fault_reason is StopReason.EV_SYSTEM_FAULT
    assert pair2.ev.k is False


def test_fault_row_18_voltage_on_inlet_before_insulation_test_is_refused() -> None:
    ev = EvEmulator(PROFILES["leaf40-ze1"])
    ev.inject(EvFault.WELDED_CONTACTOR)
    ev.contactor_closed = True  # stuck closed from a previous session
    pair = ChademoPair(ev=ev, record=True)
    pair.start()
    pair.run(8.0)
    assert pair.charger.fault_reason is StopReason.EV_CONTACTORS_CLOSED_EARLY
    assert all(s.phase not in (P.INSULATION_RAMP, P.WAIT_EV_CONTACTORS) for s in pair.samples)


# ---- Sanity: EV-side phases after every fault ---------------------------------------------------------------------


def test_every_ev_fault_ends_with_car_asleep_or_done() -> None:
    for fault in EvFault:
        if fault in (EvFault.WELDED_CONTACTOR, EvFault.K_BEFORE_CAN):
            continue
        pair = make_pair()
        run_to_current(pair, 10.0)
        pair.ev.inject(fault)
        pair.run(2.0)
        pair.charger.request_stop()
        assert finish(pair, 30.0), fault
        pair.run(1.0)
        assert pair.ev.phase is EvPhase.ASLEEP, fault
        assert not pair.last_actions.lock, fault
