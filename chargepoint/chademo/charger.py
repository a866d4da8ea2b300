"""CHAdeMO charger (EVSE) state machine, sans-I/O.

Feed it decoded EV frames (:meth:`ChademoCharger.on_frame`) and, every few milliseconds, the line states and
measurements (:meth:`ChademoCharger.step` with :class:`ChargerInputs` and the monotonic time). Each step returns
:class:`ChargerActions`: the frames due this 100 ms cycle (0x108 before 0x109, then 0x118/0x208/0x209), the line
commands d1/d2/lock/output contactor and the power-stage target (signed current + voltage limit).

The sequence follows reference §3 (diagram in docs/chademo.md); every fault row of §4 maps to a
:class:`StopReason`. Safety rules: the car's request, voltage limit and stop flags always win over the station
setpoint; every stop commands zero current at once; unlock only at <= 10 V.

Sign convention: + current into the car (charging), - out of it (discharging / V2H).
"""

from __future__ import annotations

from chargepoint.chademo.charger_session import ChargerSession
from chargepoint.chademo.charger_types import (
    PREPARING_PHASES,
    STOP_PHASES,
    ChargerActions,
    ChargerInputs,
    ChargerPhase,
    FaultFlag,
    StopReason,
)
from chargepoint.chademo.frames import (
    EvseFrame,
    EvStatus,
)
from chargepoint.chademo.limits import clamp_current

__all__ = ["ChademoCharger"]

P = ChargerPhase

# EV-reported conditions: (predicate on 0x102, reason). Every one stops at once regardless of j (§3.3).
_EV_FAULTS: tuple[tuple[str, StopReason], ...] = (
    ("fault_overvoltage", StopReason.EV_BATTERY_OVERVOLTAGE),
    ("fault_undervoltage", StopReason.EV_BATTERY_UNDERVOLTAGE),
    ("fault_high_temperature", StopReason.EV_HIGH_TEMPERATURE),
    ("fault_current_deviation", StopReason.EV_CURRENT_DEVIATION),
    ("fault_voltage_deviation", StopReason.EV_VOLTAGE_DEVIATION),
    ("system_fault", StopReason.EV_SYSTEM_FAULT),
)
# Stops that are not faults (PortPhase FINISHED rather than FAULTED).
NORMAL_STOPS = frozenset(
    {
        StopReason.STATION,
        StopReason.EV_PERMISSION_WITHDRAWN,
        StopReason.EV_STOP_BEFORE_CHARGING,
        StopReason.EV_SHIFT_NOT_PARK,
        StopReason.REMAINING_TIME_ELAPSED,
    }
)
_PRE_D2 = frozenset(
    {
        P.WAIT_EV_CAN,
        P.WAIT_PERMISSION,
        P.LOCKING,
        P.INSULATION_PRECHECK,
        P.INSULATION_RAMP,
        P.INSULATION_HOLD,
        P.INSULATION_DISCHARGE,
    }
)



TX_EARLY_S = 0.02  # how early (s) a step may send the cyclic frames; well inside CHAdeMO's 100 ms +- 10 ms

class ChademoCharger(ChargerSession):
    """The charger side of one CHAdeMO connector."""

    def start(self, now: float) -> None:
        """Begin a session (connector plugged, transaction authorised): close d1."""
        if self.phase not in (P.IDLE, P.FINISHED):
            return
        self._reset_session()
        self._d1 = True
        self._t_d1 = now
        self._enter(P.WAIT_EV_CAN, now)

    def request_stop(self, reason: StopReason = StopReason.STATION) -> None:
        """Charger-initiated normal stop (applied at the next step)."""
        if self.phase is P.IDLE:
            return
        self._pending_stop = self._pending_stop or (reason, FaultFlag.NONE, False)

    def emergency_stop(self, reason: StopReason = StopReason.EMERGENCY_STOP) -> None:
        """Charger-detected error stop with 109.5.1 and the fastest current cut (applied at the next step)."""
        if self.phase is P.IDLE:
            return
        self._pending_stop = (reason, FaultFlag.MALFUNCTION, True)

    def reset(self) -> None:
        """Back to IDLE (after unplug). Refused while the output may be live."""
        if self.phase in (P.IDLE, P.FINISHED):
            self._reset_session()

    # ------------------------------------------------------------------------------------------------ step
    def step(self, now: float, inputs: ChargerInputs, transmit: bool = True) -> ChargerActions:
        """Advance to ``now`` with this step's hardware inputs; return the commands and frames due."""
        self._now = now
        if self.phase is P.IDLE:
            return ChargerActions()
        if self._pending_stop is not None:
            reason, flag, emergency = self._pending_stop
            self._pending_stop = None
            self._stop(now, reason, flag, emergency)
        self._supervise(now, inputs)
        for _ in range(8):  # let immediate transitions cascade within one step
            before = self.phase
            self._run_phase(now, inputs)
            if self.phase is before:
                break
        current, vlimit = self._power_target(now, inputs)
        self._current_cmd = current
        self._vlimit_cmd = vlimit
        frames = self._transmit(now, inputs) if transmit else ()
        return ChargerActions(
            frames=frames,
            d1=self._d1,
            d2=self._d2,
            lock=self._lock,
            output_contactor=self._contactor,
            current_a=current,
            voltage_limit_v=vlimit,
            fast_cut=self._fast_cut,
        )

    def _enter(self, phase: ChargerPhase, now: float) -> None:
        self.phase = phase
        self._t_phase = now

    def _elapsed(self, now: float) -> float:
        return now - self._t_phase

    # ------------------------------------------------------------------------------------------------ stop
    def _stop(self, now: float, reason: StopReason, flag: FaultFlag = FaultFlag.NONE, emergency: bool = False) -> None:
        """Start (or escalate) the stop path. The first reason is kept; fault flags and fast cut accumulate."""
        if emergency:
            self._fast_cut = True
        if flag is not FaultFlag.NONE and self.fault_flag is FaultFlag.NONE:
            self.fault_flag = flag
        if reason not in NORMAL_STOPS and self.fault_reason is None:
            self.fault_reason = reason
        if self.stop_reason is not None:
            return
        self.stop_reason = reason
        self._t_stop = now
        self._i_at_stop = self._current_cmd
        self._stop_control = True
        if self.phase in _PRE_D2:
            # EV contactors never closed: no current, no welding detection. d1 off, discharge, unlock.
            self._contactor = False
            self._enter(P.D2_OFF, now - self.timeouts.d2_to_d1_s)
        elif self.phase in STOP_PHASES:
            pass
        else:
            self._enter(P.STOP_CURRENT, now)

    # ------------------------------------------------------------------------------------------------ supervision
    def _supervise(self, now: float, inp: ChargerInputs) -> None:
        cfg = self.config
        to = self.timeouts
        phase = self.phase
        if phase is P.FINISHED:
            return
        live = phase not in (P.WAIT_UNLOCK,)
        # Row 9: charger-side hardware faults, at any time while the session is live.
        if live and inp.estop:
            self._stop(now, StopReason.EMERGENCY_STOP, FaultFlag.MALFUNCTION, True)
        if live and inp.internal_fault:
            self._stop(now, StopReason.CHARGER_FAULT, FaultFlag.MALFUNCTION, True)
        if inp.insulation_fault and phase in (
            P.WAIT_EV_CONTACTORS,
            P.PRECHARGE,
            P.WAIT_REQUEST,
            P.ENERGY_TRANSFER,
            P.STOP_CURRENT,
        ):
            self._stop(now, StopReason.INSULATION_FAULT, FaultFlag.MALFUNCTION, True)
        if inp.output_voltage_v > cfg.ratings.max_voltage_v + cfg.overvoltage_margin_v:
            self._stop(now, StopReason.OUTPUT_OVERVOLTAGE, FaultFlag.MALFUNCTION, True)
        if self._lock and self._lock_confirmed and not inp.lock_engaged and phase is not P.FINISHED:
            self._stop(now, StopReason.LOCK_FAILURE, FaultFlag.MALFUNCTION, True)

        st = self.ev_status
        if phase is P.WAIT_EV_CAN or st is None:
            return
        talking = phase in PREPARING_PHASES or phase in (P.ENERGY_TRANSFER, P.STOP_CURRENT, P.WAIT_WELDING)
        if not talking:
            return
        # Row 13: CAN silence.
        if self._t_last_status is not None and now - self._t_last_status > to.can_timeout_s:
            if self.stop_reason is None:
                self._stop(now, StopReason.CAN_TIMEOUT, FaultFlag.SYSTEM, True)
            return  # nothing below is meaningful on stale data
        # Rows 3-7: EV-reported faults stop at once, whatever j says.
        for attr, reason in _EV_FAULTS:
            if getattr(st, attr):
                self._stop(now, reason, FaultFlag.NONE, True)
                break
        if st.shift_not_park:
            self._stop(now, StopReason.EV_SHIFT_NOT_PARK, FaultFlag.NONE, True)
        if self.protocol >= 2 and st.stop_before_charging and not self._first_request_seen:
            self._stop(now, StopReason.EV_STOP_BEFORE_CHARGING)
        # Row 8: permission withdrawn (either channel) after it was given.
        if self._permitted and (not inp.j or not st.charging_enabled):
            self._stop(now, StopReason.EV_PERMISSION_WITHDRAWN)
        # Row 14: j and 102.5.0 disagree for longer than one side can lag.
        if inp.j != st.charging_enabled:
            if self._mismatch_since is None:
                self._mismatch_since = now
            elif now - self._mismatch_since > to.line_mismatch_s:
                self._stop(now, StopReason.J_CAN_MISMATCH, FaultFlag.SYSTEM, True)
        else:
            self._mismatch_since = None
        if self.stop_reason is not None:
            return
        # §3.1.9: d2 within its C-time of the permission (k + 102.5.0). The charger is the acting side: missing it
        # (a slow lock or insulation test) is its own malfunction; the car would time out on it next.
        t_perm = self._t_permitted
        if phase in _PRE_D2 and not self._d2 and t_perm is not None and now - t_perm > to.d2_deadline_s:
            self._stop(now, StopReason.D2_DEADLINE, FaultFlag.MALFUNCTION)
            return
        # Row 1: compatibility, until d2 (target voltage sampled before d2, §2.3).
        if phase in _PRE_D2:
            incompatible = st.target_voltage_v > cfg.ratings.max_voltage_v
            if self.protocol >= 2 and self.ev_limits is not None:
                vmin = self.ev_limits.min_battery_voltage_v
                incompatible |= 0 < vmin < cfg.ratings.min_voltage_v
            if incompatible:
                self._stop(now, StopReason.BATTERY_INCOMPATIBLE, FaultFlag.INCOMPATIBLE, True)
                return
        if phase is P.ENERGY_TRANSFER:
            self._supervise_energy(now, inp, st)

    def _supervise_energy(self, now: float, inp: ChargerInputs, st: EvStatus) -> None:
        cfg = self.config
        to = self.timeouts
        # Row 11: output reached the threshold voltage 108.4-5.
        if inp.output_voltage_v >= self.threshold_voltage_v:
            if self._threshold_since is None:
                self._threshold_since = now
            if now - self._threshold_since >= to.threshold_voltage_s:
                self._stop(now, StopReason.THRESHOLD_VOLTAGE, FaultFlag.NONE, True)
                return
        else:
            self._threshold_since = None
        # Row 10: the EV asks for more than 108.3.
        if st.charge_current_request_a > self._advertised_a + 0.5:
            if self._over_request_since is None:
                self._over_request_since = now
            elif now - self._over_request_since > to.request_over_available_s:
                self._stop(now, StopReason.EV_REQUEST_ABOVE_AVAILABLE, FaultFlag.SYSTEM, True)
                return
        else:
            self._over_request_since = None
        # Row 9: our own output current beyond what we command.
        if abs(inp.output_current_a) > abs(self._current_cmd) + cfg.overcurrent_margin_a:
            if self._overcurrent_since is None:
                self._overcurrent_since = now
            elif now - self._overcurrent_since > to.overcurrent_s:
                self._stop(now, StopReason.OUTPUT_OVERCURRENT, FaultFlag.MALFUNCTION, True)
                return
        else:
            self._overcurrent_since = None
        # Row 12: remaining time.
        remaining = self.remaining_time_s
        if remaining is not None and remaining <= 0:
            self._stop(now, StopReason.REMAINING_TIME_ELAPSED)
            return
        # Row 17: discharge voltage floor (latched with hysteresis; charging may continue).
        floor = self.discharge_floor_v
        if inp.output_voltage_v <= floor and inp.output_current_a < -0.5:
            self._discharge_voltage_inhibit = True
        elif (
            self._discharge_voltage_inhibit
            and inp.output_current_a >= -0.5
            and inp.output_voltage_v > floor + cfg.discharge_voltage_hysteresis_v
        ):
            self._discharge_voltage_inhibit = False

    # ------------------------------------------------------------------------------------------------ phases
    def _run_phase(self, now: float, inp: ChargerInputs) -> None:
        cfg = self.config
        to = self.timeouts
        st = self.ev_status
        phase = self.phase
        v = inp.output_voltage_v

        if phase is P.WAIT_EV_CAN:
            if st is None:
                if inp.j:  # Row 14: j on before any EV CAN frame.
                    self._stop(now, StopReason.J_BEFORE_CAN, FaultFlag.SYSTEM, True)
                elif self._elapsed(now) > to.ev_can_timeout_s:
                    self._stop(now, StopReason.NO_EV_CAN, FaultFlag.SYSTEM)
                return
            self._tx_enabled = True
            self._next_tx = now
            self._enter(P.WAIT_PERMISSION, now)

        elif phase is P.WAIT_PERMISSION:
            assert st is not None
            if inp.j and st.charging_enabled:
                self._permitted = True
                self._t_permitted = now
                self._sampled_target_v = st.target_voltage_v
                self._lock = True
                self._enter(P.LOCKING, now)
            elif now - self._t_d1 > to.permission_timeout_s:
                self._stop(now, StopReason.PERMISSION_TIMEOUT, FaultFlag.SYSTEM)

        elif phase is P.LOCKING:
            if inp.lock_engaged:
                self._lock_confirmed = True
                if cfg.energizing_at == "lock":
                    self._energizing = True
                self._enter(P.INSULATION_PRECHECK, now)
            elif self._elapsed(now) > to.lock_timeout_s:
                self._stop(now, StopReason.LOCK_FAILURE, FaultFlag.MALFUNCTION, True)

        elif phase is P.INSULATION_PRECHECK:
            if v < cfg.safe_voltage_v:
                self._contactor = True
                self._energizing = True
                self._enter(P.INSULATION_RAMP, now)
            elif self._elapsed(now) > to.contactors_open_check_s:
                self._stop(now, StopReason.EV_CONTACTORS_CLOSED_EARLY, FaultFlag.SYSTEM, True)

        elif phase is P.INSULATION_RAMP:
            if v >= self._insulation_voltage() - cfg.insulation_tolerance_v:
                self._enter(P.INSULATION_HOLD, now)
            elif self._elapsed(now) > to.insulation_ramp_timeout_s:
                self._stop(now, StopReason.INSULATION_TEST_FAILED, FaultFlag.MALFUNCTION, True)

        elif phase is P.INSULATION_HOLD:
            if inp.insulation_fault:
                self._stop(now, StopReason.INSULATION_FAULT, FaultFlag.MALFUNCTION, True)
            elif self._elapsed(now) >= to.insulation_hold_s:
                self._enter(P.INSULATION_DISCHARGE, now)

        elif phase is P.INSULATION_DISCHARGE:
            if v < cfg.isolation_end_voltage_v:
                self._contactor = False
                self._d2 = True
                self._enter(P.WAIT_EV_CONTACTORS, now)
            elif self._elapsed(now) > to.insulation_discharge_timeout_s:
                self._stop(now, StopReason.INSULATION_TEST_FAILED, FaultFlag.MALFUNCTION, True)

        elif phase is P.WAIT_EV_CONTACTORS:
            assert st is not None
            closed = v > cfg.contactor_detect_voltage_v
            if self.protocol >= 2:
                closed = closed and not st.contactor_open
            if closed:
                self._enter(P.PRECHARGE, now)
            elif self._elapsed(now) > to.contactor_close_timeout_s:
                self._stop(now, StopReason.EV_CONTACTOR_TIMEOUT, FaultFlag.SYSTEM)

        elif phase is P.PRECHARGE:
            if self._elapsed(now) >= to.precharge_s:
                self._contactor = True
                self._enter(P.WAIT_REQUEST, now)

        elif phase is P.WAIT_REQUEST:
            assert st is not None
            # A discharge offer counts as the first request only from guideline-1.1 cars (0x201 seen): older cars
            # may start with a non-zero 200.0 that must be masked (§2.6). Lets a full car start a V2H session.
            discharge_offer = (
                self.bidirectional
                and self.ev_discharge_estimate is not None
                and self.ev_discharge is not None
                and self.ev_discharge.max_discharge_current_a > 0
            )
            if st.charge_current_request_a > 0 or discharge_offer:
                self._first_request_seen = True
                self._threshold_frozen = self.threshold_voltage_v
                self._charging_flag = True  # 109.5.0 = 1 and 109.5.5 = 0 in the same frame (§2.5)
                self._stop_control = False
                self._t_energy = now
                self._max_time_s = float(self.ev_time.max_charge_time_s) if self.ev_time else None
                self._enter(P.ENERGY_TRANSFER, now)
            elif self._elapsed(now) > to.first_request_timeout_s:
                self._stop(now, StopReason.NO_CURRENT_REQUEST, FaultFlag.SYSTEM)

        elif phase is P.ENERGY_TRANSFER:
            pass  # supervision and the power target do the work

        elif phase is P.STOP_CURRENT:
            t_zero = self._t_zero_target
            if (
                abs(inp.output_current_a) > cfg.stop_current_a
                and t_zero is not None
                and now - t_zero >= to.stop_current_deadline_s - to.cycle_s
                and not self._fast_cut
            ):
                # §3.2.2 C-time: <= 5 A within 0.5 s of the car's k off (of the target reaching 0). A power stage
                # still above it one cycle before the deadline gets the fast cut (gate disable), so even with
                # 100 ms steps the current is off in time; the contactor is forced open at current_off_timeout_s
                # as the last resort.
                self._fast_cut = True
            if abs(inp.output_current_a) <= cfg.stop_current_a:
                self._charging_flag = False
                self._contactor = False  # let the inlet voltage collapse (welding-detection support)
                self._enter(P.WAIT_WELDING, now)
            elif self._elapsed(now) > to.current_off_timeout_s:
                self._stop(now, StopReason.CURRENT_NOT_OFF, FaultFlag.MALFUNCTION, True)
                self._charging_flag = False
                self._contactor = False
                self._enter(P.WAIT_WELDING, now)

        elif phase is P.WAIT_WELDING:
            done = False
            fresh = self._t_last_status is not None and now - self._t_last_status <= to.can_timeout_s
            if not fresh:
                # The car is silent: nothing to wait for. Current is off, so the protection order goes on with
                # d2/d1 off, which drops the car's contactor drive.
                done = True
            elif self.protocol >= 2:
                done = st is not None and st.contactor_open and not st.charging_enabled
            else:
                done = self._elapsed(now) >= to.welding_wait_proto1_s
            if done:
                self._enter(P.D2_OFF, now)
            elif self._elapsed(now) > to.welding_timeout_s:
                self._stop(now, StopReason.WELDING_DETECTION_TIMEOUT, FaultFlag.SYSTEM)
                self._enter(P.D2_OFF, now)

        elif phase is P.D2_OFF:
            self._d2 = False
            self._contactor = False
            if self._elapsed(now) >= to.d2_to_d1_s:
                self._d1 = False
                self._enter(P.WAIT_UNLOCK, now)

        elif phase is P.WAIT_UNLOCK:
            if v <= cfg.safe_voltage_v:
                self._energizing = False
                self._lock = False
                self._lock_confirmed = False
                self._enter(P.FINISHED, now)
            elif self._elapsed(now) > to.unlock_voltage_timeout_s and not self.unlock_blocked:
                # Output still live (welded EV contactor?): stay locked, report a malfunction (109.5.1).
                self.unlock_blocked = True
                self.fault_flag = FaultFlag.MALFUNCTION
                self._stop(now, StopReason.UNLOCK_VOLTAGE, FaultFlag.MALFUNCTION)

    def _power_target(self, now: float, inp: ChargerInputs) -> tuple[float, float]:
        phase = self.phase
        if phase in (P.INSULATION_RAMP, P.INSULATION_HOLD):
            return self.config.insulation_test_current_a, self._insulation_voltage()
        if phase is P.PRECHARGE:
            return 0.0, inp.output_voltage_v
        if phase is P.WAIT_REQUEST:
            return 0.0, self.charge_voltage_limit_v()
        if phase is P.ENERGY_TRANSFER and self.stop_reason is None:
            window = self.current_window(inp)
            current = clamp_current(self.wanted_current_a(inp.output_voltage_v), window)
            if current < 0:
                return current, window.discharge_voltage_floor_v
            return current, window.charge_voltage_limit_v
        if phase is P.STOP_CURRENT:
            current = self._stop_ramp(now, inp)
            if current == 0.0 and self._t_zero_target is None:
                self._t_zero_target = now  # the stop-current deadline counts from here
            return current, self.charge_voltage_limit_v()
        return 0.0, 0.0

    def _stop_ramp(self, now: float, inp: ChargerInputs) -> float:
        """Current during STOP_CURRENT. A charger-initiated normal stop ramps down (status 0x25, obs. 31 A -> 0 in
        0.6 s) while the car still permits; as soon as the car withdraws (k / 102.5.0), or on any error stop, the
        target is 0 at once (current <= 5 A within 0.5 s, §3.2.2)."""
        st = self.ev_status
        rate = self.config.stop_ramp_a_per_s
        if self._fast_cut or rate <= 0 or not inp.j or st is None or not st.charging_enabled:
            return 0.0
        t_stop = self._t_stop if self._t_stop is not None else now
        magnitude = max(0.0, abs(self._i_at_stop) - rate * (now - t_stop))
        if self._i_at_stop > 0:
            return min(magnitude, st.charge_current_request_a, self._advertised_a)
        return -min(magnitude, self.ev_discharge_limit_a)

    def _transmit(self, now: float, inp: ChargerInputs) -> tuple[EvseFrame, ...]:
        # A step up to TX_EARLY_S (at most half the step interval) before the deadline sends: the station's
        # real-time tick jitters by a few ms, and a tick that arrives 1 ms early must not push the frame a whole
        # cycle later (a 200 ms gap on the bus).
        last, self._t_last_tx_check = self._t_last_tx_check, now
        early = TX_EARLY_S if last is None else min(TX_EARLY_S, 0.5 * max(0.0, now - last))
        if not self._tx_enabled or now < self._next_tx - max(early, 1e-6):
            return ()
        cycle = self.timeouts.cycle_s
        self._next_tx += cycle
        if self._next_tx <= now:  # fell behind (long step): resynchronise instead of bursting
            self._next_tx = now + cycle
        if self.phase is P.FINISHED and now - self._t_phase > self.timeouts.tx_tail_s:
            self._tx_enabled = False
            return ()
        self.tx_count += 1
        return self._cycle_frames(inp)
