"""DC power stage and metering.

:class:`PowerStage` is a power-stage driver interface for benches: a signed current target (+ into the car) under a
voltage limit, an enable, measured output voltage/current and an insulation-test voltage mode. (The CHAdeMO port
drives the smaller ``PowerStage`` of ``chargepoint/chademo/port.py``, which the station serves from the emulated
world's DC link, ``hil/emulators/chademo_world.py``; nothing here is on the station's runtime path.)

:class:`EmulatedPowerStage` is a deterministic model stepped with explicit times (``step(now)``):

* The load (the car's battery behind its contactors) is a function ``load(current_a, dt) -> volts | None``:
  it lets ``current_a`` flow for ``dt`` seconds and returns the terminal voltage, or None while the car's
  contactors are open. ``load(i, 0.0)`` must not change any state: the stage calls it as a probe to find the
  operating point. ``Battery.step`` from ``hil.emulators.battery`` has exactly this shape.
* Zero-order hold: the current chosen at ``step(t_k)`` flows during ``(t_k, t_{k+1}]``. Each step first
  advances the load with the held current, then picks the next current on the new state: the target, moved
  at most ``ratings.ramp_a_per_s``, clamped to the current and power ratings and reduced (bisection on the
  probe) until the terminal voltage stays within the voltage limit (charging) or at or above
  ``ratings.min_voltage_v`` (discharging). The reported voltage is the probe at that current, so it never
  exceeds the limit.
* Voltage is measured on the cable side of the output contactor. With the car's contactors closed it is the
  battery voltage, whatever the charger does; otherwise the output capacitance decays exponentially
  (``discharge_tau_s``) unless the insulation test drives it. This is what makes "unlock only at <= 10 V"
  meaningful.
* Disabling stops the current at the next step (no ramp); a normal stop ramps the target to 0 first.
* AC side: charging draws ``P_dc / efficiency`` from the grid, discharging feeds ``|P_dc| * efficiency``.

:class:`EmulatedMeter` integrates signed ``V * I`` into monotonic import/export registers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import StrEnum
from typing import Protocol

from chargepoint.hardware.interfaces import MeterReading, PowerRatings
from chargepoint.hardware.lines import ControlLines, Line

__all__ = [
    "EmulatedMeter",
    "EmulatedPowerStage",
    "LoadFn",
    "PowerFault",
    "PowerStage",
]

LoadFn = Callable[[float, float], float | None]

_BISECT_STEPS = 48


class PowerStage(Protocol):
    @property
    def ratings(self) -> PowerRatings: ...

    def set_target(self, current_a: float, voltage_limit_v: float) -> None:
        """Signed current target (+ into the car) and the highest output voltage allowed."""
        ...

    def enable(self, on: bool) -> None: ...

    def measured_voltage_v(self) -> float: ...

    def measured_current_a(self) -> float: ...

    def start_insulation_test(self, voltage_v: float) -> None:
        """Drive the (open-circuit) output up to ``voltage_v`` for the insulation test."""
        ...

    def stop_insulation_test(self) -> None: ...

    def step(self, now: float) -> None:
        """Advance to monotonic time ``now`` (emulation; real hardware just samples)."""
        ...


class PowerFault(StrEnum):
    OVERCURRENT = "overcurrent"  # regulation lost: current overshoots the target, ignoring all limits
    CONTACTOR_WELDED = "contactor_welded"  # once closed, the output contactor does not open
    CONTACTOR_STUCK_OPEN = "contactor_stuck_open"  # once open, the output contactor does not close


def _finite(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


class EmulatedPowerStage:
    """Deterministic power stage model (see the module docstring).

    Args:
        ratings: current, power, voltage, ramp and efficiency limits.
        lines: if given, the output contactor follows its ``contactor`` output; else use :meth:`set_contactor`.
        discharge_tau_s: time constant of the output capacitor discharge when nothing holds the voltage.
        insulation_ramp_v_per_s: rate of the insulation-test voltage ramp (up and back down).
        overcurrent_factor: with :attr:`PowerFault.OVERCURRENT`, ``|I| = factor * max(|target|, 10 A)``.
    """

    def __init__(
        self,
        ratings: PowerRatings | None = None,
        *,
        lines: ControlLines | None = None,
        discharge_tau_s: float = 0.4,
        insulation_ramp_v_per_s: float = 250.0,
        overcurrent_factor: float = 1.5,
    ) -> None:
        if discharge_tau_s <= 0 or insulation_ramp_v_per_s <= 0 or overcurrent_factor <= 1:
            raise ValueError("discharge_tau_s and insulation_ramp_v_per_s must be > 0, overcurrent_factor > 1")
        self.ratings = ratings or PowerRatings()
        if not 0 < self.ratings.efficiency <= 1:
            raise ValueError("ratings.efficiency must be in (0, 1]")
        self._lines = lines
        self.discharge_tau_s = discharge_tau_s
        self.insulation_ramp_v_per_s = insulation_ramp_v_per_s
        self.overcurrent_factor = overcurrent_factor
        self._load: LoadFn | None = None
        self._enabled = False
        self._target_a = 0.0
        self._vlimit = 0.0
        self._contactor_cmd = False
        self._contactor = False
        self._iso_target: float | None = None
        self._faults: set[PowerFault] = set()
        self._t: float | None = None
        self._i = 0.0
        self._v = 0.0

    # ---- configuration / commands ------
    def attach_load(self, load: LoadFn | None) -> None:
        """Connect the car side (see module docstring), or None to unplug."""
        self._load = load

    def set_target(self, current_a: float, voltage_limit_v: float) -> None:
        current_a = _finite("current_a", current_a)
        voltage_limit_v = _finite("voltage_limit_v", voltage_limit_v)
        if voltage_limit_v < 0:
            raise ValueError("voltage_limit_v must not be negative")
        r = self.ratings
        self._target_a = min(max(current_a, -r.max_discharge_current_a), r.max_charge_current_a)
        self._vlimit = min(voltage_limit_v, r.max_voltage_v)

    def enable(self, on: bool) -> None:
        self._enabled = bool(on)

    def set_contactor(self, closed: bool) -> None:
        """Command the output contactor (ignored when the stage follows a ``lines`` object)."""
        self._contactor_cmd = bool(closed)

    def start_insulation_test(self, voltage_v: float) -> None:
        voltage_v = _finite("voltage_v", voltage_v)
        if voltage_v < 0:
            raise ValueError("insulation test voltage must not be negative")
        self._iso_target = min(voltage_v, self.ratings.max_voltage_v)

    def stop_insulation_test(self) -> None:
        self._iso_target = None

    def inject_fault(self, fault: PowerFault) -> None:
        self._faults.add(PowerFault(fault))

    def clear_fault(self, fault: PowerFault | None = None) -> None:
        """Clear one fault, or all of them."""
        if fault is None:
            self._faults.clear()
        else:
            self._faults.discard(PowerFault(fault))

    # ---- state ------
    @property
    def enabled(self) -> bool:
        return self._enabled

    @property
    def target_current_a(self) -> float:
        """The target after clamping to the current ratings."""
        return self._target_a

    @property
    def voltage_limit_v(self) -> float:
        return self._vlimit

    @property
    def contactor_closed(self) -> bool:
        """Actual contactor position (after faults), as of the last step."""
        return self._contactor

    @property
    def insulation_test_active(self) -> bool:
        return self._iso_target is not None

    @property
    def faults(self) -> frozenset[PowerFault]:
        return frozenset(self._faults)

    def measured_voltage_v(self) -> float:
        return self._v

    def measured_current_a(self) -> float:
        return self._i

    def dc_power_w(self) -> float:
        return self._v * self._i

    def ac_power_w(self) -> float:
        """Grid-side power, signed like the DC side (+ drawn from the grid to charge the car)."""
        p = self.dc_power_w()
        eff = self.ratings.efficiency
        return p / eff if p >= 0 else p * eff

    # ---- physics ------
    def _probe(self, current_a: float) -> float | None:
        return None if self._load is None else self._load(current_a, 0.0)

    def _feasible(self, current_a: float) -> bool:
        v = self._probe(current_a)
        if v is None:
            return False
        r = self.ratings
        if current_a > 0:
            return v <= self._vlimit and v * current_a <= r.max_charge_power_w
        return v >= r.min_voltage_v and -v * current_a <= r.max_discharge_power_w

    def _limit(self, current_a: float) -> float:
        """Largest current with the sign and at most the magnitude of ``current_a`` within every limit."""
        if current_a == 0.0 or self._feasible(current_a):
            return current_a
        lo, hi = 0.0, 1.0
        for _ in range(_BISECT_STEPS):
            mid = (lo + hi) / 2
            if self._feasible(mid * current_a):
                lo = mid
            else:
                hi = mid
        return lo * current_a

    def _update_contactor(self) -> None:
        cmd = self._lines.get(Line.CONTACTOR) if self._lines is not None else self._contactor_cmd
        if cmd and not self._contactor and PowerFault.CONTACTOR_STUCK_OPEN in self._faults:
            return
        if not cmd and self._contactor and PowerFault.CONTACTOR_WELDED in self._faults:
            return
        self._contactor = cmd

    def step(self, now: float) -> None:
        now = _finite("now", now)
        if self._t is not None and now < self._t:
            raise ValueError(f"time went backwards: {now} < {self._t}")
        dt = 0.0 if self._t is None else now - self._t
        self._t = now
        self._update_contactor()
        if self._load is not None and dt > 0:
            self._load(self._i, dt)  # the held current flowed during the interval
        v_car = self._probe(0.0)
        if v_car is not None and self._contactor and self._enabled:
            if PowerFault.OVERCURRENT in self._faults:
                sign = -1.0 if self._target_a < 0 else 1.0
                i = sign * self.overcurrent_factor * max(abs(self._target_a), 10.0)
            else:
                step_a = self.ratings.ramp_a_per_s * dt
                i = self._i + min(max(self._target_a - self._i, -step_a), step_a)
                i = self._limit(i)
        else:
            i = 0.0
        self._i = i
        if v_car is not None:
            v = self._probe(i)
            self._v = v_car if v is None else v
        elif self._contactor and self._iso_target is not None:
            step_v = self.insulation_ramp_v_per_s * dt
            self._v += min(max(self._iso_target - self._v, -step_v), step_v)
        else:
            self._v *= math.exp(-dt / self.discharge_tau_s)


class EmulatedMeter:
    """DC energy meter: integrates signed ``V * I`` into monotonic import (+) and export (-) registers.

    Each :meth:`update` closes the interval since the previous sample using the previous sample's power
    (sample and hold, matching :class:`EmulatedPowerStage`). Deterministic.
    """

    def __init__(self, import_wh: float = 0.0, export_wh: float = 0.0) -> None:
        if import_wh < 0 or export_wh < 0:
            raise ValueError("registers must not be negative")
        self._import_wh = float(import_wh)
        self._export_wh = float(export_wh)
        self._t: float | None = None
        self._v = 0.0
        self._i = 0.0

    def update(self, now: float, voltage_v: float, current_a: float) -> MeterReading:
        now = _finite("now", now)
        voltage_v = _finite("voltage_v", voltage_v)
        current_a = _finite("current_a", current_a)
        if self._t is not None:
            if now < self._t:
                raise ValueError(f"time went backwards: {now} < {self._t}")
            wh = self._v * self._i * (now - self._t) / 3600.0
            if wh >= 0:
                self._import_wh += wh
            else:
                self._export_wh -= wh
        self._t, self._v, self._i = now, voltage_v, current_a
        return self.reading()

    def update_from(self, stage: PowerStage, now: float) -> MeterReading:
        """Sample a power stage's measured voltage and current."""
        return self.update(now, stage.measured_voltage_v(), stage.measured_current_a())

    def reading(self) -> MeterReading:
        return MeterReading(voltage_v=self._v, current_a=self._i, import_wh=self._import_wh, export_wh=self._export_wh)
