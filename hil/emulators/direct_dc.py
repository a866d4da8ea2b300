"""An emulated DC connector with a car behind it, without a car-side protocol.

The physics are real (battery OCV vs SoC, internal resistance, CC/CV taper, current ramp, efficiency, energy
integration) but the handshake is a fixed delay instead of CHAdeMO frames. It implements the same
:class:`~chargepoint.hardware.interfaces.ConnectorPort` as the CHAdeMO port, so the station cannot tell them apart;
configuration picks one (``[evse.connector] protocol = "direct"``).
"""

from __future__ import annotations

from dataclasses import dataclass

from chargepoint.hardware.interfaces import MeterReading, PortPhase, PortState, PowerRatings
from hil.emulators.battery import Battery


@dataclass
class EvProfile:
    name: str = "generic-40"
    capacity_wh: float = 40_000.0
    max_charge_current_a: float = 125.0
    max_discharge_current_a: float = 15.0
    max_voltage_v: float = 435.0
    v_cv: float = 403.0
    soc_min_percent: float = 20.0  # discharge floor
    soc_max_percent: float = 100.0  # charge ceiling
    r_internal: float = 0.1


class DirectDcPort:
    """Power stage + meter + car. ``handshake_s`` models the time from enable to energy flow."""

    def __init__(
        self,
        ratings: PowerRatings | None = None,
        profile: EvProfile | None = None,
        soc: float = 50.0,
        handshake_s: float = 2.0,
        stop_s: float = 1.0,
        plugged: bool = False,
    ) -> None:
        self.ratings = ratings or PowerRatings()
        self.profile = profile or EvProfile()
        self.battery = Battery(self.profile.capacity_wh, soc, r_internal=self.profile.r_internal,
                               v_max=self.profile.v_cv)
        self.handshake_s = handshake_s
        self.stop_s = stop_s
        self._plugged = plugged
        self._enabled = False
        self._setpoint_w = float("inf")
        self._current_a = 0.0
        self._t: float | None = None
        self._phase = PortPhase.CONNECTED if plugged else PortPhase.UNPLUGGED
        self._phase_since = 0.0
        self._import_wh = 0.0
        self._export_wh = 0.0
        self._locked = False
        self.fault: str | None = None
        self.unlock_fails = False

    # -------------------------------------------------------------- EmulatedPlug
    def plug_in(self) -> None:
        if not self._plugged:
            self._plugged = True
            self._set_phase(PortPhase.CONNECTED)

    def unplug(self) -> None:
        self._plugged = False
        self._current_a = 0.0
        self._locked = False
        self._set_phase(PortPhase.UNPLUGGED)

    def restore_registers(self, import_wh: float, export_wh: float) -> None:
        """After a restart the emulated meter resumes from its last persisted registers (a real meter keeps them)."""
        self._import_wh = max(self._import_wh, import_wh)
        self._export_wh = max(self._export_wh, export_wh)

    def inject_fault(self, reason: str | None) -> None:
        self.fault = reason

    # -------------------------------------------------------------- ConnectorPort
    def set_session_enabled(self, enabled: bool) -> None:
        self._enabled = enabled

    def set_setpoint_w(self, watts: float) -> None:
        self._setpoint_w = watts

    def unlock(self) -> bool:
        if self.unlock_fails:
            return False
        if self._enabled:
            return False  # energy transfer still allowed: unlocking would be unsafe
        self._current_a = 0.0  # the stop opened the contactor; the output is discharged before the latch opens
        self._locked = False
        return True

    def _set_phase(self, phase: PortPhase) -> None:
        self._phase = phase
        self._phase_since = self._t or 0.0

    def limits(self) -> tuple[float, float]:
        """(max charge A, max discharge A) the car and the charger allow right now (magnitudes)."""
        p = self.profile
        b = self.battery
        charge = min(p.max_charge_current_a, self.ratings.max_charge_current_a, b.max_charge_current(p.v_cv))
        if b.soc >= p.soc_max_percent:
            charge = 0.0
        discharge = min(p.max_discharge_current_a, self.ratings.max_discharge_current_a, b.max_discharge_current())
        if b.soc <= p.soc_min_percent:
            discharge = 0.0
        return max(charge, 0.0), max(discharge, 0.0)

    def _target_current(self) -> float:
        charge_max, discharge_max = self.limits()
        v = max(self.battery.terminal_voltage(self._current_a), 1.0)
        sp = self._setpoint_w
        if sp >= 0:
            target = min(sp / v, charge_max, self.ratings.max_charge_power_w / v)
        else:
            target = -min(-sp / v, discharge_max, self.ratings.max_discharge_power_w / v)
        return target

    def step(self, now: float) -> PortState:
        dt = 0.0 if self._t is None else max(0.0, now - self._t)
        self._t = now
        if self.fault is not None and self._plugged:
            self._current_a = 0.0
            self._phase = PortPhase.FAULTED
        elif self._plugged:
            self._advance_phase(now)
        # physics: ramp the current toward the target, integrate energy
        target = self._target_current() if self._phase == PortPhase.ENERGY else 0.0
        max_step = self.ratings.ramp_a_per_s * dt if dt > 0 else 0.0
        if self._phase != PortPhase.ENERGY:
            max_step = max(max_step, abs(self._current_a))  # stopping/unplugged: current is cut at once
        delta = max(-max_step, min(max_step, target - self._current_a))
        self._current_a += delta
        v = self.battery.step(self._current_a, dt) if self._plugged else 0.0
        energy = v * self._current_a * dt / 3600.0
        if energy > 0:
            self._import_wh += energy
        else:
            self._export_wh -= energy
        return self._state(v)

    def _advance_phase(self, now: float) -> None:
        since = now - self._phase_since
        ph = self._phase
        if ph in (PortPhase.CONNECTED, PortPhase.FINISHED, PortPhase.FAULTED) and self._enabled:
            self._locked = True
            self._set_phase(PortPhase.PREPARING)
        elif ph == PortPhase.FAULTED:
            self._set_phase(PortPhase.CONNECTED)
        elif ph == PortPhase.PREPARING and not self._enabled:
            self._set_phase(PortPhase.CONNECTED)
        elif ph == PortPhase.PREPARING and since >= self.handshake_s:
            self._set_phase(PortPhase.ENERGY)
        elif ph in (PortPhase.ENERGY, PortPhase.SUSPENDED_EV) and not self._enabled:
            self._set_phase(PortPhase.STOPPING)
        elif ph == PortPhase.ENERGY and self.limits() == (0.0, 0.0) and abs(self._current_a) < 0.5:
            self._set_phase(PortPhase.SUSPENDED_EV)
        elif ph == PortPhase.SUSPENDED_EV and self.limits() != (0.0, 0.0):
            self._set_phase(PortPhase.ENERGY)
        elif ph == PortPhase.STOPPING and since >= self.stop_s:
            self._set_phase(PortPhase.FINISHED)

    def _state(self, v: float) -> PortState:
        charge_max, discharge_max = self.limits()
        p = self.profile
        return PortState(
            phase=self._phase,
            meter=MeterReading(v if self._plugged else 0.0, self._current_a, self._import_wh, self._export_wh),
            soc_percent=round(self.battery.soc, 2) if self._plugged else None,
            ev_max_charge_current_a=charge_max if self._plugged else None,
            ev_max_discharge_current_a=discharge_max if self._plugged else None,
            ev_max_voltage_v=p.max_voltage_v,
            ev_soc_min_percent=p.soc_min_percent,
            ev_soc_max_percent=p.soc_max_percent,
            ev_capacity_wh=p.capacity_wh,
            ev_stop_requested=False,
            fault=self.fault,
            details={"locked": self._locked},
        )
