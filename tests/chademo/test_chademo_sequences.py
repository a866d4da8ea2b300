"""Whole sequences of reference §3 in virtual time: start, stops, protocol versions, dynamic control, V2H."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from chargepoint.chademo.charger_types import ChargerPhase, StopReason
from chargepoint.chademo.frames import (
    EvseCapability,
    EvseDischargeCapability,
    EvseDischargeEstimate,
    EvseExtendedFunctions,
    EvseStatus,
)
from chargepoint.chademo.timeouts import ChargerConfig
from chargepoint.hardware.interfaces import PowerRatings
from hil.emulators.ev import EvPhase

from .bench import evse_statuses, finish, make_pair, run_to_current, start_to, status_byte

P = ChargerPhase


def test_charger_waits_for_ev_frames_before_transmitting() -> None:
    pair = make_pair(log_frames=True)
    pair.start()
    pair.run(1.0)
    first_ev = min(t for t, who, _ in pair.frame_log if who == "ev")
    first_evse = min(t for t, who, _ in pair.frame_log if who == "evse")
    assert 0 < first_evse - first_ev <= 0.15  # obs. 73-146 ms


def test_frame_order_each_cycle_is_108_109_118_208_209() -> None:
    pair = make_pair(log_frames=True)
    start_to(pair)
    pair.run(1.0)
    by_time: dict[float, list[type]] = {}
    for t, who, f in pair.frame_log:
        if who == "evse":
            by_time.setdefault(t, []).append(type(f))
    cycles = list(by_time.values())
    assert len(cycles) > 50
    expected = [EvseCapability, EvseStatus, EvseExtendedFunctions, EvseDischargeCapability, EvseDischargeEstimate]
    assert all(c == expected for c in cycles)
    times = sorted(by_time)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) <= 0.1 + 1e-6 and min(gaps) >= 0.1 - 0.011  # 100 ms cycle (10 ms tick)


def test_normal_start_sequence_flags_lines_and_timing() -> None:
    pair = make_pair(log_frames=True, record=True)
    start_to(pair)
    pair.run(2.0)
    statuses = evse_statuses(pair)
    codes = [status_byte(f) for _, f in statuses]
    # 0x20 (prepare) -> 0x24 (locked/energizing) -> 0x05 (charging), never anything else on a clean start.
    collapsed = [c for i, c in enumerate(codes) if i == 0 or c != codes[i - 1]]
    assert collapsed == [0x20, 0x24, 0x05]
    # 109.5.0 -> 1 and 109.5.5 -> 0 in the same frame.
    flip = next(f for _, f in statuses if f.charging)
    assert not flip.stop_control
    # d2 only after the insulation test has finished below 20 V; the test voltage reached ~500 V before.
    samples = pair.samples
    peak = max(s.voltage_v for s in samples if s.phase is P.INSULATION_HOLD)
    assert 480 <= peak <= 505
    t_d2 = next(s.t for s in samples if s.phase is P.WAIT_EV_CONTACTORS)
    v_at_d2 = next(s.voltage_v for s in samples if s.t >= t_d2)
    assert v_at_d2 < 20.0
    # First request -> 109.5.0 within 0.5 s (spec C-time); the car's own check did not fire.
    assert pair.ev.system_fault is False
    t_req = next(s.t for s in samples if s.ev_request_a > 0)
    t_flag = next(t for t, f in statuses if f.charging)
    assert 0 <= t_flag - t_req <= 0.5
    # Threshold 108.4-5 = min(100.4-5 = 435, 108.1-2 = 500); remaining time copied from 101 (80 min).
    cap = [f for _, who, f in pair.frame_log if who == "evse" and isinstance(f, EvseCapability)][-1]
    assert cap.threshold_voltage_v == 435 and cap.available_voltage_v == 500 and cap.welding_detection
    last = statuses[-1][1]
    assert last.remaining_time_10s_s is None and last.remaining_time_min == 80
    assert last.discharge_compatible and last.protocol_number == 2


def test_current_follows_request_ramp_of_two_amps_per_cycle() -> None:
    pair = make_pair(record=True)
    start_to(pair)
    pair.run(8.0)
    reqs = [s.ev_request_a for s in pair.samples if s.phase is P.ENERGY_TRANSFER]
    steps = [round(b - a, 6) for a, b in itertools.pairwise(reqs)]
    ups = [d for d in steps if d > 0]
    assert all(d <= 2.0 for d in ups) and ups.count(2.0) >= len(ups) - 1  # +2 A per 100 ms up to the cap
    assert pair.link.current_a == pytest.approx(min(125.0, pair.ev.request_a), abs=3.0)


def _stop_and_check_teardown(pair_end_reason: StopReason | None, pair) -> None:  # type: ignore[no-untyped-def]
    samples = pair.samples
    ch = pair.charger
    assert ch.phase is P.FINISHED
    if pair_end_reason is not None:
        assert ch.stop_reason is pair_end_reason
    assert not ch.is_fault and pair.ev.dtcs == []
    # The lock opened only with the output at or below 10 V, after d1 was off.
    t_unlock = next(s.t for s in samples if s.phase is P.FINISHED)
    assert all(s.voltage_v <= 10.0 for s in samples if s.t >= t_unlock)


def test_charger_initiated_normal_stop() -> None:
    pair = make_pair(log_frames=True, record=True)
    run_to_current(pair, 30.0)
    t_stop = pair.now
    pair.charger.request_stop()
    assert finish(pair, 15.0)
    pair.run(1.0)  # CAN tail after the unlock
    _stop_and_check_teardown(StopReason.STATION, pair)
    statuses = [(t, f) for t, f in evse_statuses(pair) if t >= t_stop]
    codes = [status_byte(f) for _, f in statuses]
    collapsed = [c for i, c in enumerate(codes) if i == 0 or c != codes[i - 1]]
    assert collapsed[:3] == [0x25, 0x24, 0x20]  # stopping while current flows, then off, then unlocked
    # Current <= 5 A within the car's 2.5 s T-time after its k-off; we cut at once.
    t_low = next(s.t for s in pair.samples if s.t >= t_stop and abs(s.current_a) <= 5.0)
    assert t_low - t_stop <= 0.5
    # The car answered the stop flag (102.5.0/k off) and ended normally.
    assert pair.ev.stop_cause == "evse_stop" and not pair.ev.system_fault


def test_ev_initiated_stop_d2_then_d1_then_unlock() -> None:
    pair = make_pair(record=True)
    run_to_current(pair, 30.0)
    t_stop = pair.now
    pair.ev.user_stop()
    d1_off = d2_off = None
    while pair.charger.phase is not P.FINISHED and pair.now < t_stop + 15:
        pair.tick()
        a = pair.last_actions
        if d2_off is None and not a.d2:
            d2_off = pair.now
            assert pair.ev.contactor_open_flag  # welding detection finished before d2 opened
        if d1_off is None and not a.d1:
            d1_off = pair.now
    assert d2_off is not None and d1_off is not None
    assert d1_off - d2_off >= 0.5 - 1e-9
    _stop_and_check_teardown(StopReason.EV_PERMISSION_WITHDRAWN, pair)
    t_low = next(s.t for s in pair.samples if s.t >= t_stop and abs(s.current_a) <= 5.0)
    assert t_low - t_stop <= 0.5


def test_charge_complete_in_charge_only_session() -> None:
    cfg = ChargerConfig(discharge_enabled=False)
    pair = make_pair(config=cfg, soc=97.0, charge_stop_soc_percent=97.3)
    start_to(pair)
    assert finish(pair, 120.0)
    assert pair.charger.stop_reason is StopReason.EV_PERMISSION_WITHDRAWN
    assert pair.ev.stop_cause == "charge_complete"
    assert 97.3 <= pair.ev.battery.soc < 97.6


def test_stop_before_charging_skips_the_insulation_test() -> None:
    from hil.emulators.ev_profiles import EvFault

    pair = make_pair(record=True)
    pair.ev.inject(EvFault.STOP_BEFORE_CHARGING)
    pair.start()
    assert finish(pair, 15.0)
    assert pair.charger.stop_reason is StopReason.EV_STOP_BEFORE_CHARGING
    assert not pair.charger.is_fault
    assert max(s.voltage_v for s in pair.samples) == 0.0  # never energised
    assert all(not s.ev_contactor for s in pair.samples)


@pytest.mark.parametrize(
    ("ev_proto", "evse_proto", "negotiated"),
    [(1, 2, 1), (2, 1, 1), (2, 2, 2), (3, 2, 2), (2, 3, 2), (3, 3, 3)],
)
def test_protocol_number_behaves_as_minimum(ev_proto: int, evse_proto: int, negotiated: int) -> None:
    pair = make_pair(config=ChargerConfig(protocol_number=evse_proto), protocol_number=ev_proto, log_frames=True)
    run_to_current(pair, 20.0)
    assert pair.charger.protocol == negotiated == pair.ev.negotiated_protocol
    statuses = evse_statuses(pair)
    assert statuses[-1][1].protocol_number == evse_proto  # each side sends its own number
    t_stop = pair.now
    pair.charger.request_stop()
    assert finish(pair, 20.0)
    assert not pair.charger.is_fault
    if negotiated == 1:
        # 0.9: no 102.5.3 to wait for; the charger allows a fixed 4 s for the car's welding detection.
        assert pair.now - t_stop >= 4.0
    else:
        # 1.x/2.0: the charger goes on as soon as 102.5.3 returns to 1 (about 2.5 s of welding detection).
        assert pair.now - t_stop < 4.0


def test_protocol_one_car_never_signals_contactor_state() -> None:
    pair = make_pair(protocol_number=1, log_frames=True)
    run_to_current(pair, 10.0)
    st = [f for _, who, f in pair.frame_log if who == "ev" and type(f).__name__ == "EvStatus"]
    assert all(not f.contactor_open for f in st)  # 0.9 cars do not use 102.5.3
    assert pair.charger.phase is P.ENERGY_TRANSFER


def test_dynamic_control_lowers_available_current_and_car_follows() -> None:
    pair = make_pair(record=True)
    run_to_current(pair, 60.0)
    pair.charger.set_setpoint_a(20.0)
    pair.run(1.0)
    assert pair.charger.advertised_current_a == 20.0
    assert pair.ev.request_a <= 20.0
    assert pair.link.current_a == pytest.approx(20.0, abs=1.0)
    pair.charger.set_setpoint_a(None)
    pair.run(6.0)
    assert pair.link.current_a > 60.0
    assert not pair.charger.is_fault and pair.charger.phase is P.ENERGY_TRANSFER


def test_without_dynamic_control_setpoint_still_bounds_the_current() -> None:
    cfg = ChargerConfig(dynamic_control_without_110=False, discharge_enabled=False)
    pair = make_pair("leaf24-ze0", config=cfg, record=True)
    run_to_current(pair, 40.0)
    pair.charger.set_setpoint_w(5000.0)
    pair.run(2.0)
    assert not pair.charger.dynamic_control
    assert pair.charger.advertised_current_a == 125.0  # 108.3 untouched for a car without dynamic control
    assert pair.link.current_a == pytest.approx(5000.0 / pair.link.voltage_v, abs=1.5)


def test_v2h_session_charge_then_discharge_then_charge() -> None:
    pair = make_pair(record=True, soc=60.0)
    run_to_current(pair, 20.0)
    assert pair.charger.bidirectional
    pair.charger.set_setpoint_w(-3000.0)
    pair.run(3.0)
    v = pair.link.voltage_v
    assert pair.link.current_a == pytest.approx(-3000.0 / v, abs=0.6)
    assert pair.ev.request_a == 0.0  # 108.3 went to 0, the car followed
    # 0x208 reports the discharge current, 0x109 reports 0 A.
    pair.log_frames = True
    pair.run(0.3)
    last_209 = [f for _, who, f in pair.frame_log if who == "evse" and isinstance(f, EvseDischargeEstimate)][-1]
    last_208 = [f for _, who, f in pair.frame_log if who == "evse" and isinstance(f, EvseDischargeCapability)][-1]
    last_109 = [f for _, who, f in pair.frame_log if who == "evse" and isinstance(f, EvseStatus)][-1]
    assert last_208.discharge_current_a == pytest.approx(3000.0 / v, abs=1.0)
    assert last_109.output_current_a == 0.0 and last_109.charging
    assert last_209.remaining_discharge_time_min == 5 and last_209.sequence_number == 2
    # Big discharge setpoint: bounded by min(200.0 = 15 A, 208.3 = 30 A).
    pair.charger.set_setpoint_w(-20_000.0)
    pair.run(3.0)
    assert pair.link.current_a == pytest.approx(-15.0, abs=0.1)
    # Back to charging.
    pair.charger.set_setpoint_w(8000.0)
    pair.run(8.0)
    assert pair.link.current_a == pytest.approx(8000.0 / pair.link.voltage_v, abs=1.5)
    assert not pair.charger.is_fault and pair.ev.stop_cause is None
    # And the whole session ends cleanly while discharging.
    pair.charger.set_setpoint_w(-4000.0)
    pair.run(3.0)
    assert pair.link.current_a < -5.0
    soc_before_stop = pair.ev.battery.soc
    pair.charger.request_stop()
    assert finish(pair, 15.0)
    assert not pair.charger.is_fault and pair.ev.dtcs == [] and not pair.ev.system_fault
    assert pair.ev.battery.soc == pytest.approx(soc_before_stop, abs=0.05)
    assert pair.ev.battery.energy_in_wh > 0 and pair.ev.battery.energy_out_wh > 0


def test_v2h_discharge_limited_by_charger_rating() -> None:
    cfg = ChargerConfig(ratings=PowerRatings(max_discharge_current_a=10.0))
    pair = make_pair(config=cfg, soc=60.0)
    run_to_current(pair, 10.0)
    pair.charger.set_setpoint_a(-40.0)
    pair.run(3.0)
    assert pair.link.current_a == pytest.approx(-10.0, abs=0.1)


def test_full_guideline_11_car_can_start_a_discharge_session() -> None:
    pair = make_pair(soc=100.0, record=True)
    pair.charger.set_setpoint_w(-2000.0)
    start_to(pair)
    pair.run(4.0)
    assert pair.link.current_a < -4.0
    assert pair.ev.battery.soc < 100.0


def test_zero_setpoint_gives_suspended_energy_transfer() -> None:
    pair = make_pair()
    pair.charger.set_setpoint_w(0.0)
    start_to(pair)
    pair.run(5.0)
    assert pair.charger.phase is P.ENERGY_TRANSFER
    assert pair.link.current_a == 0.0


def test_remaining_time_counts_down_in_charge_only_session() -> None:
    cfg = ChargerConfig(discharge_enabled=False)
    pair = make_pair(config=cfg, log_frames=True)
    start_to(pair)
    pair.run(61.0)
    st = evse_statuses(pair)[-1][1]
    assert st.remaining_time_min == 79  # started at 80 min, ceil of what is left


def test_sessions_can_repeat_and_car_sleeps_after_d1() -> None:
    pair = make_pair()
    run_to_current(pair, 10.0)
    pair.charger.request_stop()
    assert finish(pair, 15.0)
    pair.run(1.0)
    assert pair.ev.phase is EvPhase.ASLEEP
    tx = pair.charger.tx_count
    pair.run(1.0)
    assert pair.charger.tx_count == tx  # CAN tail over
    run_to_current(pair, 10.0)
    assert pair.charger.stop_reason is None


def test_energizing_at_insulation_option() -> None:
    cfg = ChargerConfig(energizing_at="insulation")
    pair = make_pair(config=cfg, log_frames=True, record=True)
    start_to(pair)
    t_ramp = next(s.t for s in pair.samples if s.phase is P.INSULATION_RAMP)
    first_energizing = next(t for t, f in evse_statuses(pair) if f.energizing)
    assert first_energizing >= t_ramp - 1e-9


def test_unknown_profile_overrides_are_rejected() -> None:
    with pytest.raises(TypeError):
        replace(make_pair().ev.profile, no_such_field=1)  # type: ignore[call-arg]
