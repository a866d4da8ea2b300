"""Session data of the CHAdeMO charger: what the car published, derived limits, the current window, frames.

:class:`ChargerSession` is the state-free-of-sequencing half of :class:`~chargepoint.chademo.charger.ChademoCharger`:
it stores the EV frames, derives the negotiated protocol, thresholds, SoC window and limits from them, computes the
bounds of the current (:mod:`chargepoint.chademo.limits`) and builds the charger's frames for one cycle. The
sequence (phases, supervision, stop path) lives in :mod:`chargepoint.chademo.charger`.
"""

from __future__ import annotations

import math

from chargepoint.chademo.charger_types import ChargerInputs, ChargerPhase, FaultFlag, StopReason
from chargepoint.chademo.codec import signal_range
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
from chargepoint.chademo.limits import CurrentWindow, setpoint_to_current, soc_level_percent
from chargepoint.chademo.timeouts import ChargerConfig

__all__ = ["ChargerSession"]

P = ChargerPhase
_LOWER_THRESHOLD_MAX_V = signal_range("LowerThresholdVoltage")[1]


class ChargerSession:
    """EV data and derived quantities of one session (base class of the state machine)."""

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
        self._t_permitted: float | None = None  # j + 102.5.0 seen: the d2 deadline (C-time, §3.1.9) counts from here
        self._t_zero_target: float | None = None  # stop path: since when the current target is 0 (§3.2.2 C-time)
        self._t_last_status: float | None = None
        self._tx_enabled = False
        self._t_last_tx_check: float | None = None
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
        self._i_at_stop = 0.0
        self._mismatch_since: float | None = None
        self._over_request_since: float | None = None
        self._overcurrent_since: float | None = None
        self._threshold_since: float | None = None
        self._discharge_voltage_inhibit = False
        self.unlock_blocked = False
        self._advertised_a = float(math.floor(min(self.config.ratings.max_charge_current_a, 255.0)))
        self._current_cmd = 0.0
        self._vlimit_cmd = 0.0
        self.tx_count = 0

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
        if self.ev_discharge is None or self.phase not in (P.ENERGY_TRANSFER, P.STOP_CURRENT):
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
    def evse_discharge_available_a(self) -> float:
        """208.3 as sent: the discharge rating in whole amps (the bound of the discharge current, not the rating)."""
        return float(math.floor(min(self.config.ratings.max_discharge_current_a, 255.0)))

    @property
    def advertised_current_a(self) -> float:
        """108.3 as last sent."""
        return self._advertised_a

    def _insulation_voltage(self) -> float:
        return min(self.config.insulation_test_voltage_v, self.config.ratings.max_voltage_v)

    def charge_voltage_limit_v(self) -> float:
        """Regulation ceiling: min(102.1-2 target, 108.4-5 threshold - margin); the threshold itself trips."""
        limit = self.threshold_voltage_v - self.config.threshold_regulation_margin_v
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
            evse_discharge_available_a=self.evse_discharge_available_a,
            discharge_rating_a=r.max_discharge_current_a,
            discharge_power_w=r.max_discharge_power_w,
            voltage_v=inp.output_voltage_v,
            charge_allowed=charge_ok,
            discharge_allowed=discharge_ok,
            charge_voltage_limit_v=self.charge_voltage_limit_v(),
            discharge_voltage_floor_v=self.discharge_floor_v,
        )

    def wanted_current_a(self, voltage_v: float) -> float:
        """The station's signed wish before any limit (+inf = follow the car)."""
        return setpoint_to_current(self._setpoint_w, self._setpoint_a, voltage_v)

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
        wanted = self.wanted_current_a(voltage_v)
        base = min(base, max(0.0, wanted))
        soc, soc_max = self.soc_percent, self.soc_max_percent
        if soc is not None and soc_max is not None and soc >= soc_max:
            base = 0.0
        return float(math.floor(base))

    # ------------------------------------------------------------------------------------------------ transmit

    def _cycle_frames(self, inp: ChargerInputs) -> tuple[EvseFrame, ...]:
        """The charger's frames for one cycle, in transmission order (updates the advertised 108.3)."""
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
                    available_input_current_a=self.evse_discharge_available_a,
                    # Derived from the car's 200.4-5, which can say anything up to 65535 V: send at most what
                    # 208.6-7 can carry (the floor itself still applies in full, so no discharge happens above it).
                    lower_threshold_voltage_v=float(round(min(self.lower_threshold_v, _LOWER_THRESHOLD_MAX_V))),
                )
            )
            out.append(
                EvseDischargeEstimate(
                    sequence_number=cfg.sequence_number,
                    remaining_discharge_time_min=cfg.v2h_remaining_discharge_time_min if running else 0,
                )
            )
        return tuple(out)
