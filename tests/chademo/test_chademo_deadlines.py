"""The charger's own compliance times (C-times) of reference §3, in virtual time: d2 within 20 s of the permission
(§3.1.9) and the current at <= 5 A within 0.5 s of the car's k off (§3.2.2, row 8), both configurable."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chargepoint.chademo.charger_types import ChargerActions, ChargerPhase, FaultFlag, StopReason
from chargepoint.chademo.timeouts import ChademoTimeouts, ChargerConfig
from hil.emulators.chademo_pair import ChademoPair, DcLink
from hil.emulators.ev import EvEmulator
from hil.emulators.ev_profiles import EvFault

from .bench import assert_unlocked_only_when_safe, finish, make_pair, run_to_current, time_to_low_current

P = ChargerPhase


def _config(**timeouts: float) -> ChargerConfig:
    return ChargerConfig(timeouts=replace(ChademoTimeouts(), **timeouts))


def _permission_time(pair: ChademoPair) -> float:
    return next(s.t for s in pair.samples if s.phase is P.LOCKING)


def test_d2_deadline_after_permission_stops_a_slow_insulation_test() -> None:
    """The insulation tester needs 25 s to reach 500 V (20 V/s) and its own time-out allows it: the 20 s C-time
    from k + 102.5.0 to d2 ends the session before the car's own patience does, with 109.5.1, without ever closing
    d2, and the teardown completes (output discharged, unlocked at <= 10 V)."""
    pair = make_pair(config=_config(insulation_ramp_timeout_s=60.0), record=True)
    pair.link = DcLink(insulation_ramp_v_per_s=20.0)
    pair.start()
    assert pair.run_until(lambda: pair.charger.stop_reason is not None, 60.0)
    t_stop = pair.now
    ch = pair.charger
    assert ch.stop_reason is StopReason.D2_DEADLINE and ch.fault_flag is FaultFlag.MALFUNCTION
    assert t_stop - _permission_time(pair) == pytest.approx(20.0, abs=0.05)
    assert not any(s.d2 for s in pair.samples)
    assert pair.ev.stop_cause is None  # the car (d2 T-time 30 s) had no reason to complain yet
    assert finish(pair, 20.0)
    assert_unlocked_only_when_safe(pair)


@pytest.mark.parametrize(("deadline_s", "stops"), [(3.0, True), (20.0, False)])
def test_d2_deadline_is_configurable(deadline_s: float, stops: bool) -> None:
    """The default sequence closes d2 about 3.7 s after the permission (lock 0.1 s, insulation test up to 500 V
    at 300 V/s, 1 s hold, discharge): a 3 s deadline stops it, the default 20 s does not."""
    pair = make_pair(config=_config(d2_deadline_s=deadline_s), record=True)
    pair.start()
    reached = pair.run_until(lambda: pair.charger.phase is P.ENERGY_TRANSFER or pair.charger.stop_reason is not None,
                             30.0)
    assert reached
    if stops:
        assert pair.charger.stop_reason is StopReason.D2_DEADLINE
        assert pair.now - _permission_time(pair) == pytest.approx(deadline_s, abs=0.05)
    else:
        assert pair.charger.phase is P.ENERGY_TRANSFER and pair.charger.stop_reason is None


def _sluggish_pair(**timeouts: float) -> ChademoPair:
    """A power stage that brings its current down at only 10 A/s (but honours the fast cut, a gate disable)."""
    pair = make_pair(config=_config(**timeouts), record=True)
    pair.link = DcLink(slew_down_a_per_s=10.0)
    return pair


def test_fault_row_08_current_below_5a_within_the_stop_deadline_with_a_sluggish_power_stage() -> None:
    """Row 8 / §3.2.2: k off at 40 A; the stage would need 3.5 s to get to 5 A. The charger cuts it (fast cut)
    one cycle before the 0.5 s C-time, so the current is <= 5 A in time, the stop stays a normal one (no
    CURRENT_NOT_OFF after 2 s) and the car's own 2.5 s T-time is met."""
    pair = _sluggish_pair()
    run_to_current(pair, 40.0)
    pair.ev.inject(EvFault.K_OFF)
    t0 = pair.now
    pair.run(1.0)
    assert time_to_low_current(pair, t0) <= 0.5 + 1e-9
    assert pair.last_actions.fast_cut
    assert finish(pair, 20.0)
    ch = pair.charger
    assert ch.stop_reason is StopReason.EV_PERMISSION_WITHDRAWN and ch.fault_reason is None
    assert not pair.ev.system_fault and "evse_current_not_off" != pair.ev.stop_cause
    assert_unlocked_only_when_safe(pair)


def test_stop_current_deadline_is_configurable() -> None:
    """With the C-time set to 1.5 s the sluggish stage is left to ramp for 1.4 s (40 A -> 26 A), then cut."""
    pair = _sluggish_pair(stop_current_deadline_s=1.5)
    run_to_current(pair, 40.0)
    pair.ev.inject(EvFault.K_OFF)
    t0 = pair.now
    pair.run(2.0)
    assert 1.4 - 0.05 <= time_to_low_current(pair, t0) <= 1.5
    assert pair.charger.fault_reason is None


class _UncuttableLink(DcLink):
    """A power stage whose gate disable does not work: the fast cut is ignored, the current slews as it likes."""

    def step(self, dt: float, now: float, a: ChargerActions, ev: EvEmulator, ev_closed: bool) -> None:
        super().step(dt, now, replace(a, fast_cut=False), ev, ev_closed)


def test_a_stage_that_ignores_the_fast_cut_ends_with_current_not_off() -> None:
    """The last resort stays: still above 5 A after current_off_timeout_s (2 s), the charger reports
    CURRENT_NOT_OFF (109.5.1) and forces the output contactor open."""
    pair = make_pair(record=True)
    pair.link = _UncuttableLink(slew_down_a_per_s=10.0)
    run_to_current(pair, 40.0)
    pair.ev.inject(EvFault.K_OFF)
    t0 = pair.now
    assert pair.run_until(lambda: pair.charger.fault_reason is not None, 3.0)
    assert pair.charger.fault_reason is StopReason.CURRENT_NOT_OFF
    assert pair.charger.fault_flag is FaultFlag.MALFUNCTION
    assert pair.now - t0 == pytest.approx(2.0, abs=0.05)
    assert not pair.last_actions.output_contactor
