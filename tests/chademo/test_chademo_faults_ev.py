"""Fault rows 1-8 of reference §4 (mostly car-detected), one or more tests per row, in virtual time."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chargepoint.chademo.charger_types import ChargerPhase, FaultFlag, StopReason
from chargepoint.chademo.timeouts import ChargerConfig
from chargepoint.hardware.interfaces import PowerRatings
from hil.emulators.chademo_pair import ChademoPair
from hil.emulators.ev import EvEmulator
from hil.emulators.ev_profiles import EvFault

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


# ---- Row 1 -------------------------------------------------------------------------------------------------------


def test_fault_row_01_target_voltage_above_available_sets_incompatible_and_never_starts() -> None:
    pair = make_pair(target_voltage_v=510.0, record=True, log_frames=True)
    pair.start()
    pair.run(10.0)
    ch = pair.charger
    assert ch.stop_reason is StopReason.BATTERY_INCOMPATIBLE and ch.fault_flag is FaultFlag.INCOMPATIBLE
    flagged = [f for _, f in evse_statuses(pair) if f.battery_incompatible]
    assert flagged and all(f.stop_control for f in flagged)  # 109.5.3 with 109.5.5
    assert max(s.voltage_v for s in pair.samples) == 0.0  # no lock, no insulation test, no d2
    assert not any(s.ev_contactor for s in pair.samples)
    assert ch.phase is P.FINISHED
    assert pair.ev.k is False


def test_fault_row_01_ev_min_voltage_below_charger_minimum() -> None:
    pair = make_pair(min_battery_voltage_v=30.0)  # the charger cannot go below 50 V
    pair.start()
    pair.run(6.0)
    assert pair.charger.stop_reason is StopReason.BATTERY_INCOMPATIBLE
    assert pair.charger.fault_flag is FaultFlag.INCOMPATIBLE


def test_fault_row_01_min_voltage_ignored_for_protocol_one() -> None:
    pair = make_pair(min_battery_voltage_v=30.0, protocol_number=1)  # 100.2-3 only exists from 1.0 on
    start_to(pair)
    assert pair.charger.stop_reason is None


# ---- Row 2 -------------------------------------------------------------------------------------------------------


def test_fault_row_02_ev_aborts_when_charger_cannot_supply_target_voltage() -> None:
    ev = EvEmulator("leaf40-ze1")
    bench = ScriptedCharger(ev)
    bench.cap = replace(bench.cap, available_voltage_v=400.0)  # below the car's 410 V target
    bench.d1 = True
    bench.run(0.95)
    assert not ev.system_fault  # nine frames so far
    bench.run(0.2)
    assert ev.system_fault and ev.stop_cause == "evse_voltage_insufficient"
    bench.run(5.0)
    assert bench.k is False and ev.enabled is False  # never permitted


def test_fault_row_02_charger_side_also_refuses() -> None:
    pair = make_pair(config=ChargerConfig(ratings=PowerRatings(max_voltage_v=400.0)))
    pair.start()
    pair.run(5.0)
    assert pair.charger.stop_reason is StopReason.BATTERY_INCOMPATIBLE
    assert pair.ev.k is False


# ---- Row 3 -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (EvFault.BATTERY_OVERVOLTAGE, StopReason.EV_BATTERY_OVERVOLTAGE),
        (EvFault.BATTERY_UNDERVOLTAGE, StopReason.EV_BATTERY_UNDERVOLTAGE),
        (EvFault.HIGH_TEMPERATURE, StopReason.EV_HIGH_TEMPERATURE),
    ],
    ids=["overvoltage", "undervoltage", "temperature"],
)
def test_fault_row_03_battery_fault_stops_regardless_of_j(fault: EvFault, reason: StopReason) -> None:
    pair = make_pair(record=True)
    run_to_current(pair, 40.0)
    pair.j_override = True  # the hard-wired channel still says "go": the CAN flag alone must stop us
    t0 = pair.now
    pair.ev.inject(fault)
    pair.run(0.5)
    ch = pair.charger
    assert ch.fault_reason is reason
    assert time_to_low_current(pair, t0) <= 0.2  # frame latency + immediate cut
    pair.j_override = None
    _ends_cleanly_after_fault(pair)
    assert ch.is_fault


def test_fault_row_03_battery_overvoltage_stops_regardless_of_j() -> None:
    pair = make_pair(record=True)
    run_to_current(pair, 40.0)
    pair.j_override = True
    t0 = pair.now
    pair.ev.inject(EvFault.BATTERY_OVERVOLTAGE)
    pair.run(0.3)
    assert pair.charger.stop_reason is StopReason.EV_BATTERY_OVERVOLTAGE
    assert pair.last_actions.current_a == 0.0 and pair.last_actions.fast_cut
    assert time_to_low_current(pair, t0, 0.0) <= 0.2


# ---- Row 4 -------------------------------------------------------------------------------------------------------


def test_fault_row_04_current_deviation_flag_stops() -> None:
    pair = make_pair(record=True)
    run_to_current(pair, 40.0)
    t0 = pair.now
    pair.ev.inject(EvFault.CURRENT_DEVIATION)
    _ends_cleanly_after_fault(pair)
    assert pair.charger.fault_reason is StopReason.EV_CURRENT_DEVIATION
    assert time_to_low_current(pair, t0) <= 0.5


def test_fault_row_04_car_detects_overcurrent_of_ten_amps_for_five_seconds() -> None:
    # The charger's own over-current supervision is relaxed so that the car's detection is what trips.
    pair = make_pair(config=ChargerConfig(overcurrent_margin_a=100.0), record=True)
    run_to_current(pair, 60.0)
    pair.charger.set_setpoint_a(40.0)
    pair.run(2.0)
    pair.link.extra_current_a = 12.0  # 12 A above the request
    t0 = pair.now
    pair.run(4.5)
    assert pair.charger.stop_reason is None  # not yet: needs >= 5 s
    pair.run(1.0)
    assert pair.ev.fault_bits & 0b100
    assert pair.ev.k is False and pair.ev.enabled is False  # 102.4.2 + 102.5.0 = 0 + k off together
    pair.link.extra_current_a = 0.0
    _ends_cleanly_after_fault(pair)
    assert pair.charger.fault_reason is StopReason.EV_CURRENT_DEVIATION
    assert pair.samples[-1].t - t0 > 5.0


def test_fault_row_04_car_detects_discharge_beyond_its_limit() -> None:
    pair = make_pair(config=ChargerConfig(overcurrent_margin_a=100.0), soc=60.0)
    run_to_current(pair, 10.0)
    pair.charger.set_setpoint_a(-100.0)
    pair.run(3.0)
    assert pair.link.current_a == pytest.approx(-15.0, abs=0.1)
    pair.link.extra_current_a = -12.0
    pair.run(6.0)
    assert pair.ev.fault_bits & 0b100
    pair.link.extra_current_a = 0.0
    _ends_cleanly_after_fault(pair)
    assert pair.charger.fault_reason is StopReason.EV_CURRENT_DEVIATION


# ---- Row 5 -------------------------------------------------------------------------------------------------------


def test_fault_row_05_voltage_deviation_stops() -> None:
    pair = make_pair()
    run_to_current(pair, 40.0)
    pair.link.voltage_offset_v = 15.0  # the charger's 109.1-2 is 15 V off the car's own reading
    pair.run(4.5)
    assert pair.charger.stop_reason is None
    pair.run(1.0)
    assert pair.ev.fault_bits & 0b10000
    pair.link.voltage_offset_v = 0.0
    _ends_cleanly_after_fault(pair)
    assert pair.charger.fault_reason is StopReason.EV_VOLTAGE_DEVIATION


def test_fault_row_05_voltage_deviation_flag_stops() -> None:
    pair = make_pair()
    run_to_current(pair, 40.0)
    pair.ev.inject(EvFault.VOLTAGE_DEVIATION)
    _ends_cleanly_after_fault(pair)
    assert pair.charger.fault_reason is StopReason.EV_VOLTAGE_DEVIATION


# ---- Row 6 -------------------------------------------------------------------------------------------------------


def test_fault_row_06_ev_charging_system_fault_stops_regardless_of_j() -> None:
    pair = make_pair(record=True)
    run_to_current(pair, 40.0)
    pair.j_override = True
    t0 = pair.now
    pair.ev.inject(EvFault.SYSTEM_FAULT)
    pair.run(0.5)
    assert pair.charger.fault_reason is StopReason.EV_SYSTEM_FAULT
    assert time_to_low_current(pair, t0) <= 0.2
    pair.j_override = None
    pair.ev.clear(EvFault.SYSTEM_FAULT)
    pair.run(1.0)
    assert pair.ev.system_fault  # held once set
    _ends_cleanly_after_fault(pair)


# ---- Row 7 -------------------------------------------------------------------------------------------------------


def test_fault_row_07_shift_lever_out_of_park_stops() -> None:
    pair = make_pair(record=True)
    run_to_current(pair, 40.0)
    pair.j_override = True  # prove that 102.5.1 alone is enough
    t0 = pair.now
    pair.ev.inject(EvFault.SHIFT_NOT_PARK)
    pair.run(0.5)
    assert pair.charger.stop_reason is StopReason.EV_SHIFT_NOT_PARK
    assert pair.ev.k is False
    assert time_to_low_current(pair, t0) <= 0.2
    pair.j_override = None
    _ends_cleanly_after_fault(pair)


# ---- Row 8 -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["user_stop", "k_off", "enable_off"])
def test_fault_row_08_ev_withdraws_permission_current_below_5a_within_half_a_second(how: str) -> None:
    pair = make_pair(record=True)
    run_to_current(pair, 100.0)
    t0 = pair.now
    if how == "user_stop":
        pair.ev.user_stop()
    elif how == "k_off":
        pair.ev.inject(EvFault.K_OFF)
    else:
        pair.ev.inject(EvFault.ENABLE_OFF)
    pair.run(1.0)
    assert pair.charger.stop_reason is StopReason.EV_PERMISSION_WITHDRAWN
    assert time_to_low_current(pair, t0) <= 0.5
    _ends_cleanly_after_fault(pair)
