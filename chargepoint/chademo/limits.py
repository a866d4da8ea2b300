"""Pure current arbitration for a CHAdeMO session (no state, no time).

The station asks for a signed setpoint (+ into the car, - out of it); the car and the charger publish limits. The
car's limits always win:

* charging:    0 <= I <= min(102.3 request, 108.3 available, charger rating, P_max / V), and 0 when charging is
  not allowed (SoC at 200.7, stop in progress ...);
* discharging: 0 <= -I <= min(200.0 limit, 208.3 available, charger rating, P_max / V), and 0 when discharging is
  not allowed (no V2H on either side, SoC at 200.6, voltage at max(200.4-5, 208.6-7) ...).

Only one direction is non-zero at a time (§3.4.8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["CurrentWindow", "clamp_current", "setpoint_to_current", "soc_level_percent"]


@dataclass(frozen=True, slots=True)
class CurrentWindow:
    """What may flow this cycle. Magnitudes in amps (>= 0) and volts."""

    max_charge_a: float = 0.0
    max_discharge_a: float = 0.0
    charge_voltage_limit_v: float = 0.0  # the power stage must not push the output above this
    discharge_voltage_floor_v: float = 0.0  # ... nor pull it below this while discharging

    @classmethod
    def build(
        cls,
        *,
        ev_request_a: float,
        evse_available_a: float,
        charge_rating_a: float,
        charge_power_w: float,
        ev_discharge_limit_a: float,
        evse_discharge_available_a: float,
        discharge_rating_a: float,
        discharge_power_w: float,
        voltage_v: float,
        charge_allowed: bool,
        discharge_allowed: bool,
        charge_voltage_limit_v: float,
        discharge_voltage_floor_v: float,
    ) -> CurrentWindow:
        v = max(voltage_v, 1.0)
        charge = 0.0
        if charge_allowed:
            charge = max(0.0, min(ev_request_a, evse_available_a, charge_rating_a, charge_power_w / v))
        discharge = 0.0
        if discharge_allowed:
            discharge = max(
                0.0, min(ev_discharge_limit_a, evse_discharge_available_a, discharge_rating_a, discharge_power_w / v)
            )
        return cls(charge, discharge, charge_voltage_limit_v, discharge_voltage_floor_v)


def setpoint_to_current(setpoint_w: float | None, setpoint_a: float | None, voltage_v: float) -> float:
    """Signed current wanted by the station. ``None`` for both = charge as much as allowed (+inf).

    An amps setpoint wins over a watts setpoint. Watts are converted at the present output voltage; below 50 V
    (nothing measured yet) the conversion is not meaningful and only the sign is kept.
    """
    if setpoint_a is not None:
        return setpoint_a
    if setpoint_w is None:
        return math.inf
    if setpoint_w == 0:
        return 0.0
    if voltage_v < 50.0:
        return math.copysign(math.inf, setpoint_w) if math.isinf(setpoint_w) else math.copysign(0.0, setpoint_w)
    return setpoint_w / voltage_v


def clamp_current(wanted_a: float, window: CurrentWindow) -> float:
    """The signed current to command: ``wanted_a`` bounded by ``window``. NaN gives 0."""
    if wanted_a != wanted_a:  # NaN
        return 0.0
    if wanted_a > 0:
        return min(wanted_a, window.max_charge_a)
    if wanted_a < 0:
        return -min(-wanted_a, window.max_discharge_a)
    return 0.0


def soc_level_percent(raw: int, units: str, rated_capacity_wh: float) -> float | None:
    """Convert a 200.6/200.7 level to percent. 0 = unused -> None.

    ``units``: "percent", or "kwh" (0.1 kWh per bit, converted against the rated capacity and truncated to whole
    percent, §2.6). Returns None when kWh units are used but the capacity is unknown.
    """
    if raw == 0:
        return None
    if units == "percent":
        return float(raw)
    if rated_capacity_wh <= 0:
        return None
    return float(math.floor(raw * 100.0 / rated_capacity_wh * 100.0))
