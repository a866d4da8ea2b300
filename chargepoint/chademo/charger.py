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

import math

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
    EvBatteryLimits,
    EvChargeTime,
    EvDischargeEstimate,
    EvDischargeLimits,
    EvExtendedFunctions,
    EvManufacturerId,
    EvseCapability,
    EvseDischargeCapability,
    EvseDischargeEstimate,
    EvseExtendedFunctions,
    EvseFrame,
    EvseStatus,
    EvStatus,
    Frame,
)
from chargepoint.chademo.limits import CurrentWindow, clamp_current, setpoint_to_current, soc_level_percent
from chargepoint.chademo.timeouts import ChargerConfig

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


class ChademoCharger:
    """The charger side of one CHAdeMO connector."""

    def __init__(self, config: ChargerConfig | None = None) -> None:
        self.config = config or ChargerConfig()
        self.timeouts = self.config.timeouts
        self._setpoint_w: float | None = None
        self._setpoint_a: float | None = None
        self._now = 0.0
        self._reset_session()
        self.phase = P.IDLE

    # ------------------------------------------------------------------------------------------------ session
    def _reset_session(self) -> None:
        self.phase = P.IDLE
        self._t_phase = 0.0
        self.ev_limits: EvBatteryLimits | None = None
        self.ev_time: EvChargeTime | None = None
        self.ev_status: EvStatus | None = None
        self.ev_ext: EvExtendedFunctions | None = None
        self.ev_discharge: EvDischargeLimits | None = None
        self.ev_discharge_estimate: EvDischargeEstimate | None = None
        self.ev_manufacturer: EvManufacturerId | None = None
        self._t_d1 = 0.0
        self._t_last_status: float | None = None
        self._tx_enabled = False
        self._next_tx = 0.0
        self._d1 = False
        self._d2 = False
        self._lock = False
        self._lock_confirmed = False
        self._contactor = False
        self._energizing = False
        self._charging_flag = False
        self._stop_control = True
        self._permitted = False
        self._first_request_seen = False
        self._sampled_target_v: float | None = None
        self._threshold_frozen: float | None = None
        self._max_time_s: float | None = None
        self._t_energy: float | None = None
        self.stop_reason: StopReason | None = None
        self.fault_flag = FaultFlag.NONE
        self.fault_reason: StopReason | None = None
        self._fast_cut = False
        self._pending_stop: tuple[StopReason, FaultFlag, bool] | None = None
        self._t_stop: float | None = None
        self._mismatch_since: float | None = None
        self._over_request_since: float | None = None
        self._overcurrent_since: float | None = None
        self._threshold_since: float | None = None
        self._discharge_voltage_inhibit = False
        self._advertised_a = float(math.floor(min(self.config.ratings.max_charge_current_a, 255.0)))
        self._current_cmd = 0.0
        self._vlimit_cmd = 0.0
        self.tx_count = 0

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

    # ------------------------------------------------------------------------------------------------ setpoint
    def set_setpoint_w(self, watts: float | None) -> None:
        """Signed power setpoint (+ charge, - discharge); None = follow the car's request."""
        self._setpoint_w = watts
        self._setpoint_a = None

    def set_setpoint_a(self, amps: float | None) -> None:
        """Signed current setpoint (+ charge, - discharge); None = follow the car's request."""
        self._setpoint_a = amps
        self._setpoint_w = None

    # ------------------------------------------------------------------------------------------------ inputs
    def on_frame(self, frame: Frame, now: float) -> None:
        """Take a decoded EV frame. Charger frames (own echo) and unknown frames are ignored."""
        if self.phase is P.IDLE or (self.phase is P.FINISHED and not self._tx_enabled):
            return
        if isinstance(frame, EvStatus):
            self.ev_status = frame
            self._t_last_status = now
        elif isinstance(frame, EvBatteryLimits):
            self.ev_limits = frame
        elif isinstance(frame, EvChargeTime):
            self.ev_time = frame
        elif isinstance(frame, EvDischargeLimits):
            self.ev_discharge = frame
        elif isinstance(frame, EvDischargeEstimate):
            self.ev_discharge_estimate = frame
        elif isinstance(frame, EvExtendedFunctions):
            self.ev_ext = frame
        elif isinstance(frame, EvManufacturerId):
            self.ev_manufacturer = frame

    # ------------------------------------------------------------------------------------------------ derived
    @property
    def protocol(self) -> int:
        """Negotiated protocol number: min(EV, charger); 0 (pre-0.9) behaves as 1."""
        ev = self.ev_status.protocol_number if self.ev_status else self.config.protocol_number
        return max(1, min(ev, self.config.protocol_number))

    @property
    def dynamic_control(self) -> bool:
        if not self.config.dynamic_control:
            return False
        if self.ev_ext is not None:
            return self.ev_ext.dynamic_control
        return self.config.dynamic_control_without_110

    @property
    def bidirectional(self) -> bool:
        """Both sides are discharge-capable (109.4.0 and 102.5.7)."""
        return bool(
            self.config.discharge_enabled
            and self.ev_status is not None
            and self.ev_status.discharge_compatible
            and self.ev_discharge is not None
        )

    @property
    def threshold_voltage_v(self) -> float:
        """108.4-5: min(100.4-5, 108.1-2); frozen at the first current request."""
        if self._threshold_frozen is not None:
            return self._threshold_frozen
        vmax = self.config.ratings.max_voltage_v
        if self.ev_limits is not None and self.ev_limits.max_battery_voltage_v > 0:
            return min(self.ev_limits.max_battery_voltage_v, vmax)
        return vmax

    @property
    def soc_percent(self) -> float | None:
        """SoC from 102.6 relative to 100.6; None until 102.5.0 has been seen (garbage before, §2.3)."""
        st = self.ev_status
        if st is None or not self._permitted:
            return None
        const = self.ev_limits.charged_rate_ref_const if self.ev_limits else 100
        if const in (0, 100):
            return float(st.soc_percent)
        return st.soc_percent * 100.0 / const

    @property
    def rated_capacity_wh(self) -> float:
        return self.ev_time.rated_capacity_wh if self.ev_time else 0.0

    def _level_units(self) -> str:
        if self.config.soc_level_units != "auto":
            return self.config.soc_level_units
        dis = self.ev_discharge
        if self.ev_discharge_estimate is not None or dis is None:
            return "percent"
        return "percent" if max(dis.min_discharge_level, dis.max_charge_level) <= 100 else "kwh"

    @property
    def soc_min_percent(self) -> float | None:
        """200.6 in percent (None = unused / unknown). Only read after permission (§2.6)."""
        if self.ev_discharge is None or not self._permitted:
            return None
        return soc_level_percent(self.ev_discharge.min_discharge_level, self._level_units(), self.rated_capacity_wh)

    @property
    def soc_max_percent(self) -> float | None:
        """200.7 in percent (None = unused / unknown)."""
        if self.ev_discharge is None or not self._permitted:
            return None
        return soc_level_percent(self.ev_discharge.max_charge_level, self._level_units(), self.rated_capacity_wh)

    @property
    def discharge_floor_v(self) -> float:
        """max(200.4-5, 208.6-7): discharging stops at or below this voltage."""
        ev_min = self.ev_discharge.min_discharge_voltage_v if self.ev_discharge else 0.0
        return max(ev_min, self.lower_threshold_v)

    @property
    def lower_threshold_v(self) -> float:
        """208.6-7."""
        if self.config.discharge_lower_threshold_v is not None:
            return self.config.discharge_lower_threshold_v
        if self.ev_discharge is not None and self.ev_discharge.min_discharge_voltage_v > 0:
            return self.ev_discharge.min_discharge_voltage_v * (1.0 + self.config.discharge_lower_threshold_margin)
        return 250.0

    @property
    def ev_discharge_limit_a(self) -> float:
        """200.0, masked (0) until energy transfer runs: older cars may start with a non-zero value (§2.6)."""
        if self.ev_discharge is None or self.phase is not P.ENERGY_TRANSFER:
            return 0.0
        return self.ev_discharge.max_discharge_current_a

    @property
    def remaining_time_s(self) -> float | None:
        if self._max_time_s is None:
            if self.ev_time is None:
                return None
            return float(self.ev_time.max_charge_time_s)
        if self._t_energy is None or (self.bidirectional and self.config.v2h_hold_remaining_time):
            return self._max_time_s
        return max(0.0, self._max_time_s - (self._now - self._t_energy))

    @property
    def is_fault(self) -> bool:
        return self.fault_reason is not None

    @property
    def output_current_command_a(self) -> float:
        return self._current_cmd

    @property
    def advertised_current_a(self) -> float:
        """108.3 as last sent."""
        return self._advertised_a

    # ------------------------------------------------------------------------------------------------ step
    def step(self, now: float, inputs: ChargerInputs) -> ChargerActions:
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
        frames = self._transmit(now, inputs)
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
    def _stop(
        self, now: float, reason: StopReason, flag: FaultFlag = FaultFlag.NONE, emergency: bool = False
    ) -> None:
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
            if self.protocol >= 2:
                fresh = self._t_last_status is not None and now - self._t_last_status <= to.can_timeout_s
                done = fresh and st is not None and st.contactor_open and not st.charging_enabled
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
            elif self._elapsed(now) > to.unlock_voltage_timeout_s and self.fault_reason is None:
                self._stop(now, StopReason.UNLOCK_VOLTAGE, FaultFlag.MALFUNCTION)

    def _insulation_voltage(self) -> float:
        return min(self.config.insulation_test_voltage_v, self.config.ratings.max_voltage_v)

    # ------------------------------------------------------------------------------------------------ power
    def charge_voltage_limit_v(self) -> float:
        limit = self.threshold_voltage_v
        if self._sampled_target_v is not None:
            limit = min(limit, self._sampled_target_v)
        if self.ev_status is not None:
            limit = min(limit, self.ev_status.target_voltage_v)
        return limit

    def current_window(self, inp: ChargerInputs) -> CurrentWindow:
        """The bounds of this cycle's current (see :mod:`chargepoint.chademo.limits`)."""
        r = self.config.ratings
        st = self.ev_status
        if self.phase is not P.ENERGY_TRANSFER or st is None or self.stop_reason is not None:
            return CurrentWindow(0.0, 0.0, self.charge_voltage_limit_v(), self.discharge_floor_v)
        soc = self.soc_percent
        soc_max = self.soc_max_percent
        soc_min = self.soc_min_percent
        charge_ok = not (soc is not None and soc_max is not None and soc >= soc_max)
        discharge_ok = (
            self.bidirectional
            and not self._discharge_voltage_inhibit
            and inp.output_voltage_v > self.discharge_floor_v
            and not (soc is not None and soc_min is not None and soc <= soc_min)
        )
        return CurrentWindow.build(
            ev_request_a=st.charge_current_request_a,
            evse_available_a=self._advertised_a,
            charge_rating_a=r.max_charge_current_a,
            charge_power_w=r.max_charge_power_w,
            ev_discharge_limit_a=self.ev_discharge_limit_a,
            evse_discharge_available_a=min(r.max_discharge_current_a, 255.0),
            discharge_rating_a=r.max_discharge_current_a,
            discharge_power_w=r.max_discharge_power_w,
            voltage_v=inp.output_voltage_v,
            charge_allowed=charge_ok,
            discharge_allowed=discharge_ok,
            charge_voltage_limit_v=self.charge_voltage_limit_v(),
            discharge_voltage_floor_v=self.discharge_floor_v,
        )

    def _wanted_current(self, voltage_v: float) -> float:
        return setpoint_to_current(self._setpoint_w, self._setpoint_a, voltage_v)

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
            current = clamp_current(self._wanted_current(inp.output_voltage_v), window)
            if current < 0:
                return current, window.discharge_voltage_floor_v
            return current, window.charge_voltage_limit_v
        if phase is P.STOP_CURRENT:
            return 0.0, self.charge_voltage_limit_v()
        return 0.0, 0.0

    def _available_current(self, voltage_v: float) -> float:
        """108.3 for this cycle. Lowered with the setpoint only when dynamic control is agreed (§2.7)."""
        r = self.config.ratings
        base = min(r.max_charge_current_a, 255.0)
        if self.phase is not P.ENERGY_TRANSFER or not self.dynamic_control:
            return float(math.floor(base))
        if self.stop_reason is not None:
            return 0.0
        if voltage_v >= 50.0:
            base = min(base, r.max_charge_power_w / voltage_v)
        wanted = self._wanted_current(voltage_v)
        base = min(base, max(0.0, wanted))
        soc, soc_max = self.soc_percent, self.soc_max_percent
        if soc is not None and soc_max is not None and soc >= soc_max:
            base = 0.0
        return float(math.floor(base))

    # ------------------------------------------------------------------------------------------------ transmit
    def _transmit(self, now: float, inp: ChargerInputs) -> tuple[EvseFrame, ...]:
        if not self._tx_enabled or now < self._next_tx:
            return ()
        cycle = self.timeouts.cycle_s
        self._next_tx += cycle
        if self._next_tx <= now:  # fell behind (long step): resynchronise instead of bursting
            self._next_tx = now + cycle
        if self.phase is P.FINISHED and now - self._t_phase > self.timeouts.tx_tail_s:
            self._tx_enabled = False
            return ()
        self.tx_count += 1
        return self.frames(inp)

    def frames(self, inp: ChargerInputs) -> tuple[EvseFrame, ...]:
        """The charger's frames for one cycle, in transmission order."""
        cfg = self.config
        r = cfg.ratings
        v_meas = min(max(inp.output_voltage_v, 0.0), 1500.0)
        i_meas = inp.output_current_a
        avail = self._available_current(v_meas)
        self._advertised_a = avail
        remaining = self.remaining_time_s
        if remaining is None:
            t10, tmin = None, 0xFF
        else:
            t10, tmin = None, min(255, math.ceil(remaining / 60.0))
        out: list[EvseFrame] = [
            EvseCapability(
                welding_detection=cfg.welding_detection_support,
                available_voltage_v=r.max_voltage_v,
                available_current_a=avail,
                threshold_voltage_v=self.threshold_voltage_v,
            ),
            EvseStatus(
                protocol_number=cfg.protocol_number,
                output_voltage_v=float(round(v_meas)),
                output_current_a=float(min(255, max(0, round(i_meas)))),
                discharge_compatible=cfg.discharge_enabled,
                charging=self._charging_flag,
                malfunction=self.fault_flag is FaultFlag.MALFUNCTION,
                energizing=self._energizing,
                battery_incompatible=self.fault_flag is FaultFlag.INCOMPATIBLE,
                system_malfunction=self.fault_flag is FaultFlag.SYSTEM,
                stop_control=self._stop_control,
                remaining_time_10s_s=t10,
                remaining_time_min=tmin,
            ),
        ]
        if cfg.dynamic_control:
            out.append(EvseExtendedFunctions(dynamic_control=True))
        if cfg.discharge_enabled:
            running = self.phase is P.ENERGY_TRANSFER and self.stop_reason is None
            out.append(
                EvseDischargeCapability(
                    discharge_current_a=float(min(255, max(0, round(-i_meas)))),
                    available_input_voltage_v=r.max_voltage_v,
                    available_input_current_a=float(math.floor(min(r.max_discharge_current_a, 255.0))),
                    lower_threshold_voltage_v=float(round(self.lower_threshold_v)),
                )
            )
            out.append(
                EvseDischargeEstimate(
                    sequence_number=cfg.sequence_number,
                    remaining_discharge_time_min=cfg.v2h_remaining_discharge_time_min if running else 0,
                )
            )
        return tuple(out)
