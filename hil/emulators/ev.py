"""CHAdeMO car emulator (Nissan LEAF profiles), sans-I/O.

Feed it the charger's decoded frames (:meth:`EvEmulator.on_frame`) and, every few milliseconds, the time, the
d1/d2 line states, the inlet voltage and the current through the inlet (:meth:`EvEmulator.step`). Each step
returns :class:`EvActions`: the frames due now (every 100 ms: 0x100, 0x101, 0x102, 0x200, and on ZE1 0x110,
0x201, 0x700, 0x202), the state of switch k and of the car's main contactors.

The battery behind the contactors is a :class:`~hil.emulators.battery.Battery`; the car integrates it with the
current it is given while its contactors are closed, requests CC/CV current ramped at 2 A per 100 ms, and
supervises the charger the way reference §3/§4 describe (CAN time-out, 109.5.0 within 0.5 s, current and voltage
deviation, charger fault flags, welding detection). Faults are injected with :meth:`EvEmulator.inject`.

Deterministic: the only randomness (timing jitter) comes from ``random.Random(seed)``.
"""

from __future__ import annotations

import math
import random
from collections import deque

from chargepoint.chademo.frames import (
    EvseCapability,
    EvseDischargeCapability,
    EvseDischargeEstimate,
    EvseExtendedFunctions,
    EvseStatus,
    Frame,
)
from hil.emulators.battery import Battery
from hil.emulators.ev_frames import EvActions, EvFrameBuilder, EvFrameOut, EvPhase
from hil.emulators.ev_profiles import PROFILES, EvFault, EvProfile

__all__ = ["EvActions", "EvEmulator", "EvFault", "EvPhase"]

class EvEmulator(EvFrameBuilder):
    """One emulated car on a CHAdeMO inlet."""

    def __init__(self, profile: EvProfile | str = "leaf40-ze1", soc: float = 50.0, seed: int = 0) -> None:
        self.profile = PROFILES[profile] if isinstance(profile, str) else profile
        p = self.profile
        self.battery = Battery(p.capacity_wh, soc, r_internal=p.r_internal, v_max=p.v_max, seed=seed)
        self._rng = random.Random(seed)
        self.faults: set[EvFault] = set()
        self.dtcs: list[str] = []  # diagnostic trouble codes; "welded_contactor" makes the car refuse sessions
        self._t: float | None = None
        self.phase = EvPhase.ASLEEP
        self.contactor_closed = False  # physical state: survives sessions (a welded contactor stays closed)
        self._reset_session(0.0)

    # ------------------------------------------------------------------ control
    def inject(self, fault: EvFault) -> None:
        """Make the car show ``fault`` from the next step on."""
        self.faults.add(fault)

    def clear(self, fault: EvFault | None = None) -> None:
        """Remove one injected fault (or all). Latched flags and DTCs stay until the next session / forever."""
        if fault is None:
            self.faults.clear()
        else:
            self.faults.discard(fault)

    def user_stop(self) -> None:
        """Normal EV-initiated stop (e.g. stop button in the car): ramp down, then 102.5.0 and k off together."""
        self._user_stop = True

    def clear_dtcs(self) -> None:
        self.dtcs.clear()

    # ------------------------------------------------------------------ session state
    def _reset_session(self, now: float) -> None:
        self.phase = EvPhase.ASLEEP
        self._t_phase = now
        self._t_wake = now
        self._next_tx = now
        self.k = False
        self.enabled = False  # 102.5.0
        self.request_a = 0.0
        self.discharge_limit_a = 0.0
        self.system_fault = False  # 102.5.2, held for the session
        self.fault_bits = 0  # 102.4 bits latched for the session
        self.stop_before_charging = False
        self.contactor_open_flag = True  # 102.5.3
        self.shift_not_park = False
        self.evse_cap: EvseCapability | None = None
        self.evse_status: EvseStatus | None = None
        self.evse_ext: EvseExtendedFunctions | None = None
        self.evse_discharge: EvseDischargeCapability | None = None
        self.evse_discharge_estimate: EvseDischargeEstimate | None = None
        self._t_last_109: float | None = None
        self._t_first_charger_frame: float | None = None
        self._n_incompatible = 0
        self._n_evse_fault = 0
        self._t_first_request: float | None = None
        self._seen_charging_flag = False
        self._t_charging_flag: float | None = None
        self._current_flowed = False
        self._t_stop_seen: float | None = None
        self._t_stop: float | None = None
        self._user_stop = False
        self._over_current_since: float | None = None
        self._volt_dev_since: float | None = None
        self._recent_requests: deque[tuple[float, float]] = deque()
        self._recent_discharge: deque[tuple[float, float]] = deque()
        self._allowed_dirty = True
        self._allowed_charge = 0.0
        self._allowed_discharge = 0.0
        self._weld_v0 = 0.0
        self._weld_ok = True
        self.stop_cause: str | None = None
        self._delays = self._draw_delays()

    def _draw_delays(self) -> dict[str, float]:
        p = self.profile
        j = p.timing_jitter_s

        def jit(x: float) -> float:
            return max(0.0, x + self._rng.uniform(-j, j)) if j > 0 else x

        return {
            "permission": jit(p.permission_delay_s),
            "contactor": jit(p.contactor_delay_s),
            "first_request": jit(p.first_request_delay_s),
            "welding": jit(p.welding_check_s),
            "stop_response": max(0.1, jit(p.stop_response_s)),
        }

    @property
    def bidirectional(self) -> bool:
        """V2H session: both sides discharge-capable."""
        st = self.evse_status
        return self.profile.v2h and st is not None and st.discharge_compatible

    @property
    def charger_protocol(self) -> int:
        return self.evse_status.protocol_number if self.evse_status is not None else 0


    # ------------------------------------------------------------------ frames in
    def on_frame(self, frame: Frame, now: float) -> None:
        if self.phase is EvPhase.ASLEEP:
            return
        if isinstance(frame, EvseStatus):
            self.evse_status = frame
            self._t_last_109 = now
            if self._t_first_charger_frame is None:
                self._t_first_charger_frame = now
            if frame.any_fault:
                self._n_evse_fault += 1
            else:
                self._n_evse_fault = 0
            if frame.charging and not self._seen_charging_flag:
                self._seen_charging_flag = True
                self._t_charging_flag = now
            if frame.stop_control and self._seen_charging_flag and self._t_stop_seen is None:
                self._t_stop_seen = now
        elif isinstance(frame, EvseCapability):
            self.evse_cap = frame
            if frame.available_voltage_v < self.profile.target_voltage_v:
                self._n_incompatible += 1
            else:
                self._n_incompatible = 0
        elif isinstance(frame, EvseExtendedFunctions):
            self.evse_ext = frame
        elif isinstance(frame, EvseDischargeCapability):
            self.evse_discharge = frame
        elif isinstance(frame, EvseDischargeEstimate):
            self.evse_discharge_estimate = frame

    # ------------------------------------------------------------------ step
    def step(self, now: float, d1: bool, d2: bool, inlet_voltage_v: float, current_a: float) -> EvActions:
        """Advance to ``now``. ``current_a`` flows through the inlet (+ into the car)."""
        dt = 0.0 if self._t is None else max(0.0, now - self._t)
        self._t = now
        if self.contactor_closed and dt > 0:
            self.battery.step(current_a, dt)

        if not d1:
            if self.phase is not EvPhase.ASLEEP:
                self._sleep(now)
            return EvActions(k=False, contactor_closed=self.contactor_closed)
        if self.phase is EvPhase.ASLEEP:
            self._wake(now)

        # The contactor drive is fed through d1 and d2 (reference circuit): no d2, no contactors.
        if self.contactor_closed and not d2 and self.profile.contactors_need_d1_d2:
            self._open_contactors()

        self._supervise(now, inlet_voltage_v, current_a)
        for _ in range(4):
            before = self.phase
            self._run_phase(now, d2, inlet_voltage_v, current_a)
            if self.phase is before:
                break
        frames: tuple[EvFrameOut, ...] = ()
        if now >= self._next_tx - 1e-6:
            self._next_tx += 0.1
            if self._next_tx <= now:
                self._next_tx = now + 0.1
            self._update_request(now)
            if EvFault.CAN_SILENCE not in self.faults:
                frames = self._frames(now)
        return EvActions(frames=frames, k=self.k, contactor_closed=self.contactor_closed)

    def _wake(self, now: float) -> None:
        self._reset_session(now)
        self.phase = EvPhase.HANDSHAKE
        self._t_phase = now
        self._t_wake = now
        self._next_tx = now + self.profile.wake_delay_s
        if "welded_contactor" in self.dtcs:
            self.system_fault = True  # a welded contactor DTC refuses every new session (row 18)
            self.stop_cause = "dtc_welded_contactor"
        if EvFault.K_BEFORE_CAN in self.faults:
            self.k = True

    def _sleep(self, now: float) -> None:
        # d1 gone: charge control loses power; contactors drop (unless welded), TX stops.
        self._open_contactors()
        self.phase = EvPhase.ASLEEP
        self.k = False
        self.enabled = False
        self.request_a = 0.0
        self.discharge_limit_a = 0.0
        self._t_phase = now

    def _open_contactors(self) -> None:
        if EvFault.WELDED_CONTACTOR in self.faults:
            return
        self.contactor_closed = False

    def _enter(self, phase: EvPhase, now: float) -> None:
        self.phase = phase
        self._t_phase = now

    def _begin_stop(self, now: float, cause: str) -> None:
        """Request 0, clear 102.5.0 and open k together (§3.2 EV-initiated / §3.3 EV-detected)."""
        if self.stop_cause is None:
            self.stop_cause = cause
        self.request_a = 0.0
        self.discharge_limit_a = 0.0
        self.enabled = False
        self.k = False
        if self.phase in (EvPhase.HANDSHAKE, EvPhase.PERMITTED, EvPhase.CLOSING):
            self._enter(EvPhase.DONE, now)
        elif self.phase in (EvPhase.CLOSED, EvPhase.CHARGING):
            self._t_stop = now
            self._enter(EvPhase.STOPPING, now)

    def _raise(self, now: float, cause: str, bit: int | None = None, system: bool = False) -> None:
        """EV-detected fault: set the flag (held), then stop."""
        if bit is not None:
            self.fault_bits |= 1 << bit
        if system:
            self.system_fault = True
        self._begin_stop(now, cause)

    # ------------------------------------------------------------------ supervision
    def _supervise(self, now: float, inlet_v: float, current_a: float) -> None:
        p = self.profile
        f = self.faults
        phase = self.phase
        active = phase in (EvPhase.HANDSHAKE, EvPhase.PERMITTED, EvPhase.CLOSING, EvPhase.CLOSED, EvPhase.CHARGING)
        # Injected faults.
        for fault, bit in (
            (EvFault.BATTERY_OVERVOLTAGE, 0),
            (EvFault.BATTERY_UNDERVOLTAGE, 1),
            (EvFault.CURRENT_DEVIATION, 2),
            (EvFault.HIGH_TEMPERATURE, 3),
            (EvFault.VOLTAGE_DEVIATION, 4),
        ):
            if fault in f and not self.fault_bits >> bit & 1:
                self._raise(now, fault.value, bit=bit)
        if EvFault.SYSTEM_FAULT in f and not self.system_fault:
            self._raise(now, "system_fault", system=True)
        if EvFault.SHIFT_NOT_PARK in f and not self.shift_not_park:
            self.shift_not_park = True
            self._begin_stop(now, "shift_not_park")
        if EvFault.K_OFF in f:
            self.k = False
        if EvFault.ENABLE_OFF in f:
            self.enabled = False
        if self.system_fault and active:
            self._begin_stop(now, self.stop_cause or "system_fault")
        if not active:
            return
        # CAN time-out (row 13): no 0x109 for 1 s once the charger has talked.
        if self._t_last_109 is not None and now - self._t_last_109 > p.can_timeout_s:
            self._raise(now, "evse_can_timeout", system=True)
            return
        st = self.evse_status
        # Row 2: the charger cannot supply the target voltage.
        if self._n_incompatible >= p.incompatible_frames:
            self._raise(now, "evse_voltage_insufficient", system=True)
            return
        # Charger error flags for more than a few frames (JLD505).
        if self._n_evse_fault > p.evse_fault_frames:
            self._begin_stop(now, "evse_fault_flags")
            return
        if st is None:
            return
        # Charger-initiated stop: 109.5.5 after 109.5.0 was seen; the car answers within ~0.25 s.
        if (
            self._t_stop_seen is not None
            and now - self._t_stop_seen >= self._delays["stop_response"]
            and EvFault.IGNORE_CHARGER_STOP not in f
        ):
            self._begin_stop(now, "evse_stop")
            return
        if self._user_stop and phase is not EvPhase.CHARGING:
            self._begin_stop(now, "user_stop")
            return
        if phase is EvPhase.CHARGING:
            self._supervise_charging(now, inlet_v, current_a, st)

    def _supervise_charging(self, now: float, inlet_v: float, current_a: float, st: EvseStatus) -> None:
        p = self.profile
        t_req = self._t_first_request
        if t_req is not None and not self._seen_charging_flag and now - t_req > p.charging_flag_timeout_s:
            self._raise(now, "evse_no_charging_flag", system=True)  # row 16
            return
        if abs(current_a) >= 1.0:
            self._current_flowed = True
        if (
            t_req is not None
            and not self._current_flowed
            and not self.bidirectional
            and now - t_req > p.no_current_timeout_s
        ):
            self._raise(now, "evse_no_current", system=True)  # row 16 (Leaf: ~4 s)
            return
        # Row 4: current beyond what the car allows, >= 10 A for >= 5 s (own sensor).
        window_start = now - 1.0
        rr, rd = self._recent_requests, self._recent_discharge
        while rr and rr[0][0] < window_start:
            rr.popleft()
            self._allowed_dirty = True
        while rd and rd[0][0] < window_start:
            rd.popleft()
            self._allowed_dirty = True
        if self._allowed_dirty:  # recomputed only when the 1 s window changed (at most a few times per cycle)
            self._allowed_charge = max((a for _, a in rr), default=self.request_a)
            self._allowed_discharge = max((a for _, a in rd), default=self.discharge_limit_a)
            self._allowed_dirty = False
        allowed_charge, allowed_discharge = self._allowed_charge, self._allowed_discharge
        over = current_a > allowed_charge + p.deviation_current_a or -current_a > (
            allowed_discharge + p.deviation_current_a
        )
        if over:
            if self._over_current_since is None:
                self._over_current_since = now
            elif now - self._over_current_since >= p.deviation_time_s:
                self._raise(now, "current_deviation", bit=2)
                return
        else:
            self._over_current_since = None
        # Row 5: charger-reported voltage differs from the car's own measurement.
        if self._seen_charging_flag and abs(st.output_voltage_v - inlet_v) > p.deviation_voltage_v:
            if self._volt_dev_since is None:
                self._volt_dev_since = now
            elif now - self._volt_dev_since >= p.deviation_voltage_time_s:
                self._raise(now, "voltage_deviation", bit=4)
                return
        else:
            self._volt_dev_since = None
        # Row 12: remaining time ran out.
        if self._seen_charging_flag and st.remaining_time_s <= 0:
            self._begin_stop(now, "remaining_time")

    # ------------------------------------------------------------------ phases
    def _run_phase(self, now: float, d2: bool, inlet_v: float, current_a: float) -> None:
        p = self.profile
        f = self.faults
        phase = self.phase
        elapsed = now - self._t_phase
        if phase is EvPhase.HANDSHAKE:
            t0 = self._t_first_charger_frame
            if t0 is None or now - t0 < self._delays["permission"]:
                return
            if self.system_fault:
                return
            if EvFault.STOP_BEFORE_CHARGING in f:
                self.stop_before_charging = True
                self._enter(EvPhase.DONE, now)
                return
            self.enabled = True
            if EvFault.ENABLE_WITHOUT_K not in f and EvFault.K_OFF not in f:
                self.k = True
            if EvFault.ENABLE_OFF in f:
                self.enabled = False
            self._enter(EvPhase.PERMITTED, now)
        elif phase is EvPhase.PERMITTED:
            if d2:
                if inlet_v > p.d2_inlet_voltage_limit_v:
                    self._raise(now, "inlet_voltage_at_d2", system=True)
                    return
                self._enter(EvPhase.CLOSING, now)
            elif elapsed > p.d2_timeout_s:
                self._raise(now, "evse_no_d2", system=True)
        elif phase is EvPhase.CLOSING:
            if not d2:
                return
            if elapsed >= self._delays["contactor"] and EvFault.NO_CONTACTOR_CLOSE not in f:
                self.contactor_closed = True
                if self.negotiated_protocol >= 2:
                    self.contactor_open_flag = False
                self._enter(EvPhase.CLOSED, now)
        elif phase is EvPhase.CLOSED:
            if elapsed >= self._delays["first_request"] and EvFault.NO_CURRENT_REQUEST not in f:
                self._t_first_request = now
                self._enter(EvPhase.CHARGING, now)
        elif phase is EvPhase.CHARGING:
            pass
        elif phase is EvPhase.STOPPING:
            st = self.evse_status
            charger_done = st is None or not st.charging
            if abs(current_a) <= 5.0 and charger_done:
                self._start_welding_check(now, inlet_v)
            elif elapsed > p.current_off_timeout_s:
                self.system_fault = True  # row 16: current not <= 5 A within 2.5 s of k off
                if self.stop_cause is None:
                    self.stop_cause = "evse_current_not_off"
                self._start_welding_check(now, inlet_v)
        elif phase is EvPhase.WELDING_CHECK:
            cap = self.evse_cap
            if cap is not None and cap.welding_detection:
                if elapsed >= 1.0 and inlet_v > 0.25 * self._weld_v0 + 1.0 and self._weld_v0 > 50:
                    self._weld_ok = False
                if elapsed >= 2.0 and inlet_v > 10.0 and self._weld_v0 > 50:
                    self._weld_ok = False
            if elapsed >= max(self._delays["welding"], 2.0 if cap and cap.welding_detection else 0.0):
                if not self._weld_ok:
                    self.system_fault = True
                    if EvFault.WELDED_CONTACTOR in f and "welded_contactor" not in self.dtcs:
                        self.dtcs.append("welded_contactor")
                    elif "welding_check_failed" not in self.dtcs:
                        self.dtcs.append("welding_check_failed")
                if EvFault.NO_WELDING_FINISH not in f:
                    self.contactor_open_flag = True
                self._enter(EvPhase.DONE, now)

    def _start_welding_check(self, now: float, inlet_v: float) -> None:
        self._open_contactors()
        self._weld_v0 = inlet_v
        self._weld_ok = True
        self._enter(EvPhase.WELDING_CHECK, now)

    # ------------------------------------------------------------------ requests (once per 100 ms cycle)
    def _update_request(self, now: float) -> None:
        p = self.profile
        b = self.battery
        if self.phase is not EvPhase.CHARGING or not self.enabled:
            self.request_a = 0.0
            self.discharge_limit_a = 0.0
            return
        bidir = self.bidirectional
        soc = b.soc
        target = b.cc_cv_current(p.max_charge_current_a, p.cv_voltage_v)
        if self._user_stop:
            target = 0.0
            if self.request_a <= 0:
                self._begin_stop(now, "user_stop")
                return
        elif not bidir:
            if soc >= p.charge_stop_soc_percent or (self._current_flowed and target < p.end_current_a):
                self._begin_stop(now, "charge_complete")
                return
        elif soc >= p.max_soc_percent and p.enforces_soc_window:
            target = 0.0
        cap = self.evse_cap
        if cap is not None and p.follows_available_current:
            target = min(target, cap.available_current_a)
        if EvFault.REQUEST_ABOVE_AVAILABLE in self.faults and cap is not None:
            target = min(255.0, cap.available_current_a + 20.0)
        if EvFault.NO_CURRENT_REQUEST in self.faults:
            target = 0.0
        target = float(math.floor(target))
        if target > self.request_a:
            self.request_a = min(target, self.request_a + p.request_step_a)
        else:
            self.request_a = target
        self._recent_requests.append((now, self.request_a))
        self._allowed_dirty = True
        # 200.0 ramps 0.4 s after 109.5.0, 2 A per cycle, to the car's limit (V2H sessions only).
        # A full guideline-1.1 car (0x201) offers discharge at once: it has no charge request to start with.
        dis_target = 0.0
        t_flag = self._t_charging_flag
        ramp = t_flag is not None and now - t_flag >= p.discharge_ramp_delay_s
        ramp = ramp or (p.sends_discharge_estimate and target <= 0 and not self._seen_charging_flag)
        if bidir and ramp and not self._user_stop:
            dis_target = min(p.max_discharge_current_a, b.max_discharge_current(p.min_discharge_voltage_v))
            if (soc <= p.min_soc_percent and p.enforces_soc_window) or EvFault.DISCHARGE_LIMIT_ZERO in self.faults:
                dis_target = 0.0
        dis_target = float(math.floor(max(0.0, dis_target)))
        if dis_target > self.discharge_limit_a:
            self.discharge_limit_a = min(dis_target, self.discharge_limit_a + p.request_step_a)
        else:
            self.discharge_limit_a = dis_target
        self._recent_discharge.append((now, self.discharge_limit_a))
        self._allowed_dirty = True
