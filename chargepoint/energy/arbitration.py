"""Energy arbitration: one signed setpoint per EVSE from every limit that applies. Pure, deterministic, explainable.

The window is ``[lo, hi]`` with ``hi`` = the minimum of every charge limit (>= 0) and ``lo`` = the maximum (closest
to zero) of every discharge limit (<= 0), so 0 is always allowed. The inputs, in the order used to name a tie
(the car first: its limits always win):

* the car (:class:`~chargepoint.hardware.interfaces.PortState`): max charge / discharge current at the present
  voltage, max voltage (no charging at or above it), min discharge voltage (no discharging at or below it), SoC
  window (no discharging at or below the floor, no charging at or above the ceiling), stop request, fault. An
  unknown discharge current (None) allows no discharge; an unknown charge current does not constrain (the port
  enforces the live request in amps);
* the charger's :class:`~chargepoint.hardware.interfaces.PowerRatings` (power, current, max voltage);
* the composite schedule (:class:`~chargepoint.energy.model.EffectiveLimits`): limit, dischargeLimit, and the
  operation mode (ChargingOnly: no discharge; Idle and evseSleep: 0);
* local policy: any object with optional ``charge_limit_w`` / ``discharge_limit_w`` / ``setpoint_w`` (a limit's
  sign is ignored: it is a magnitude in its direction).

Currents become watts at the metered voltage; below ``ratings.min_voltage_v`` the voltage counts as unknown: the
conversion uses the lowest known maximum voltage (the port clamps again in amps) and discharge is not allowed.

The wanted value, by operation mode: Idle -> 0; CentralSetpoint -> the schedule's setpoint; CentralFrequency -> the
schedule's setpoint, or v2xBaseline + the v2xSignalWattCurve at ``afrr_signal`` when one is given; ExternalSetpoint
-> the schedule's (external) setpoint, else the policy's; ExternalLimits -> ``default_setpoint_w``; LocalFrequency
-> v2xBaseline + the v2xFreqWattCurve at ``frequency_hz`` (+ the v2xSignalWattCurve at ``afrr_signal`` when given;
curves are linear between points and flat outside them); LocalLoadBalancing -> see below; ChargingOnly and no mode
-> the policy's setpoint, else ``default_setpoint_w`` (+inf = charge at the allowed maximum). The result is the
wanted value clamped into the window; a positive result below the schedule's minChargingRate becomes 0.

LocalLoadBalancing (Q09) balances the site's grid connection with :class:`LoadBalance`: ``other_w`` is what the site
draws apart from the EVSEs under load balancing (measured site import minus their metered power), shared by
``share`` of them. The EVSE's baseline is the schedule's setpoint, else the policy's, else 0 W. When the site would
draw more than UpperThreshold with the baseline, the EVSE takes at most its share of UpperThreshold + UpperOffset
minus the rest of the site (``site.upper_threshold``: it charges less, or discharges); when the site would draw
less than LowerThreshold, at least its share of LowerThreshold + LowerOffset minus the rest (``site.lower_threshold``:
it absorbs the surplus). In between it keeps the baseline. Per EVSE with ``share`` n: other + n x baseline against
the threshold, (threshold + offset - other) / n as the bound. The bound only ever moves the baseline towards the
band, never past it. Without a measurement or without valid thresholds (``load_balance`` None) the EVSE keeps the
baseline (0 W without a setpoint: a lost site meter never lets it load the connection). The window (the car, the
charger, the schedule's limit / dischargeLimit, policy limits) clamps the result as in every mode.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise

from chargepoint.energy.model import EffectiveLimits, OperationMode
from chargepoint.hardware.interfaces import PortPhase, PortState, PowerRatings

__all__ = ["VOLTAGE_TOLERANCE_V", "LoadBalance", "LocalPolicy", "Setpoint", "arbitrate", "interpolate"]

VOLTAGE_TOLERANCE_V = 5.0  # above a voltage limit by more than this = overvoltage: no charging


@dataclass(frozen=True)
class LocalPolicy:
    """Local-policy input (the V2H policy fills it). None = no opinion."""

    charge_limit_w: float | None = None
    discharge_limit_w: float | None = None  # magnitude or signed; the sign is ignored
    setpoint_w: float | None = None


@dataclass(frozen=True)
class LoadBalance:
    """LocalLoadBalancing input of one EVSE (W): the rest of the site and the V2XChargingCtrlr.LocalLoadBalancing
    thresholds and offsets of the whole grid connection; ``share`` EVSEs balance it together (equal parts)."""

    other_w: float  # site import without the EVSEs under load balancing (+ drawn from the grid, - fed into it)
    upper_threshold_w: float
    lower_threshold_w: float
    upper_offset_w: float = 0.0
    lower_offset_w: float = 0.0
    share: int = 1


@dataclass(frozen=True)
class Setpoint:
    watts: float  # signed: + into the car, - out of it
    bound_by: str  # what decided the value, e.g. "ev.max_discharge_current", "schedule.setpoint", "default"
    details: dict[str, object]  # the window, every limit by name, the voltage used, the mode, the profiles


def interpolate(points: Sequence[tuple[float, float]], x: float) -> float:
    """Piecewise-linear y(x) through ``points`` (x ascending), flat beyond the ends."""
    pts = sorted(points)
    if not pts:
        raise ValueError("empty curve")
    if x <= pts[0][0]:
        return pts[0][1]
    if x >= pts[-1][0]:
        return pts[-1][1]
    for (x0, y0), (x1, y1) in pairwise(pts):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return pts[-1][1]  # not reached


def _num(x: object) -> float | None:
    if x is None or isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x)


def _safe(x: float) -> float:
    return 0.0 if math.isnan(x) else x


def _pick(items: list[tuple[str, float]], lowest: bool) -> tuple[str, float]:
    """The binding entry: the lowest (charge) or highest (discharge) value; the first one listed on a tie."""
    best = items[0]
    for name, value in items[1:]:
        if (value < best[1]) if lowest else (value > best[1]):
            best = (name, value)
    return best


def _balanced(scheduled: float | None, from_policy: float | None, lb: LoadBalance | None) -> tuple[float, str]:
    """LocalLoadBalancing: the baseline, moved towards the site's [lower, upper] band when the site leaves it."""
    if scheduled is not None:
        base, source = scheduled, "schedule.setpoint"
    elif from_policy is not None:
        base, source = from_policy, "policy.setpoint"
    else:
        base, source = 0.0, "site.baseline"
    values = (lb.other_w, lb.upper_threshold_w, lb.lower_threshold_w, lb.upper_offset_w, lb.lower_offset_w) \
        if lb is not None else ()
    if lb is None or not all(math.isfinite(v) for v in values):
        return base, source if source != "site.baseline" else "site.unavailable"
    n = max(1, lb.share)
    projected = lb.other_w + n * base
    if projected > lb.upper_threshold_w:
        cap = (lb.upper_threshold_w + lb.upper_offset_w - lb.other_w) / n
        if cap < base:
            return cap, "site.upper_threshold"
    elif projected < lb.lower_threshold_w:
        floor = (lb.lower_threshold_w + lb.lower_offset_w - lb.other_w) / n
        if floor > base:
            return floor, "site.lower_threshold"
    return base, source


def _wanted(
    limits: EffectiveLimits | None, policy: object | None, default_w: float, frequency_hz: float,
    afrr_signal: int | None, load_balance: LoadBalance | None = None,
) -> tuple[float, str]:
    mode = limits.operation_mode if limits is not None else None
    scheduled = limits.setpoint_w if limits is not None else None
    from_policy = _num(getattr(policy, "setpoint_w", None))
    if mode is OperationMode.IDLE:
        return 0.0, "schedule.idle"
    if mode is OperationMode.LOCAL_LOAD_BALANCING:
        return _balanced(scheduled, from_policy, load_balance)
    if limits is not None and mode in (OperationMode.LOCAL_FREQUENCY, OperationMode.CENTRAL_FREQUENCY):
        signal = None
        if afrr_signal is not None and limits.v2x_signal_watt_curve:
            signal = interpolate([(float(x), w) for x, w in limits.v2x_signal_watt_curve], afrr_signal)
        base = limits.v2x_baseline_w or 0.0
        if mode is OperationMode.LOCAL_FREQUENCY and limits.v2x_freq_watt_curve:
            local = base + interpolate(limits.v2x_freq_watt_curve, frequency_hz) + (signal or 0.0)
            return local, "schedule.frequency_curve"
        if signal is not None:
            return base + signal, "schedule.signal_curve"
    if mode is OperationMode.EXTERNAL_LIMITS:
        return default_w, "default"
    if mode in (OperationMode.CENTRAL_SETPOINT, OperationMode.CENTRAL_FREQUENCY, OperationMode.EXTERNAL_SETPOINT):
        if scheduled is not None:
            return scheduled, "schedule.setpoint"
        if mode is OperationMode.EXTERNAL_SETPOINT and from_policy is not None:
            return from_policy, "policy.setpoint"
        return default_w, "default"
    if mode is None and scheduled is not None:
        return scheduled, "schedule.setpoint"
    if from_policy is not None:
        return from_policy, "policy.setpoint"
    return default_w, "default"


def arbitrate(
    limits: EffectiveLimits | None,
    ratings: PowerRatings,
    ev: PortState,
    policy: object | None = None,
    default_setpoint_w: float = math.inf,
    *,
    frequency_hz: float = 50.0,
    afrr_signal: int | None = None,
    load_balance: LoadBalance | None = None,
) -> Setpoint:
    """The signed setpoint (W) for one EVSE: the wanted value clamped into the intersection of every limit.
    ``frequency_hz``: the grid frequency LocalFrequency follows; ``load_balance``: the site LocalLoadBalancing
    balances (None = no valid measurement or thresholds)."""
    v_meas = ev.meter.voltage_v
    measured = math.isfinite(v_meas) and v_meas >= ratings.min_voltage_v
    known_max = [x for x in (ev.ev_max_voltage_v, ratings.max_voltage_v) if x is not None and x > 0]
    v = v_meas if measured else (min(known_max) if known_max else 0.0)
    charge: list[tuple[str, float]] = []
    discharge: list[tuple[str, float]] = []

    def both(name: str) -> None:
        charge.append((name, 0.0))
        discharge.append((name, 0.0))

    # the car
    if ev.phase is PortPhase.FAULTED or ev.fault is not None:
        both("ev.fault")
    if ev.ev_stop_requested:
        both("ev.stop_requested")
    if ev.ev_max_charge_current_a is not None:
        charge.append(("ev.max_charge_current", max(0.0, ev.ev_max_charge_current_a) * v))
    discharge.append(("ev.max_discharge_current", -max(0.0, ev.ev_max_discharge_current_a or 0.0) * v))
    if not measured:
        discharge.append(("ev.voltage_unknown", 0.0))
    # Constant-voltage regulation near the car's limit is the port's job (CHAdeMO regulates below 108.4-5); this
    # layer only cuts charging once the measured voltage is clearly above it, so a ramp transient does not hunt.
    if measured and ev.ev_max_voltage_v is not None and v_meas > ev.ev_max_voltage_v + VOLTAGE_TOLERANCE_V:
        charge.append(("ev.max_voltage", 0.0))
    if measured and ev.ev_min_discharge_voltage_v is not None and v_meas <= ev.ev_min_discharge_voltage_v:
        discharge.append(("ev.min_discharge_voltage", 0.0))
    soc = ev.soc_percent
    if soc is not None and ev.ev_soc_max_percent is not None and soc >= ev.ev_soc_max_percent:
        charge.append(("ev.soc_max", 0.0))
    if soc is not None and ev.ev_soc_min_percent is not None and soc <= ev.ev_soc_min_percent:
        discharge.append(("ev.soc_min", 0.0))
    # the charger
    charge.append(("charger.max_charge_power", max(0.0, ratings.max_charge_power_w)))
    charge.append(("charger.max_charge_current", max(0.0, ratings.max_charge_current_a) * v))
    discharge.append(("charger.max_discharge_power", -max(0.0, ratings.max_discharge_power_w)))
    discharge.append(("charger.max_discharge_current", -max(0.0, ratings.max_discharge_current_a) * v))
    if measured and v_meas > ratings.max_voltage_v + VOLTAGE_TOLERANCE_V:
        charge.append(("charger.max_voltage", 0.0))
    # the schedule
    if limits is not None:
        if limits.charge_limit_w is not None:
            charge.append(("schedule.limit", max(0.0, limits.charge_limit_w)))
        if limits.discharge_limit_w is not None:
            discharge.append(("schedule.discharge_limit", min(0.0, limits.discharge_limit_w)))
        if limits.operation_mode is OperationMode.CHARGING_ONLY:
            discharge.append(("schedule.charging_only", 0.0))
        if limits.operation_mode is OperationMode.IDLE:
            both("schedule.idle")
        if limits.evse_sleep:
            both("schedule.evse_sleep")
    # local policy
    p_charge = _num(getattr(policy, "charge_limit_w", None))
    p_discharge = _num(getattr(policy, "discharge_limit_w", None))
    if p_charge is not None:
        charge.append(("policy.charge_limit", max(0.0, p_charge)))
    if p_discharge is not None:
        discharge.append(("policy.discharge_limit", -abs(p_discharge)))

    charge = [(n, _safe(x)) for n, x in charge]
    discharge = [(n, _safe(x)) for n, x in discharge]
    hi_name, hi = _pick(charge, lowest=True)
    lo_name, lo = _pick(discharge, lowest=False)
    wanted, source = _wanted(limits, policy, default_setpoint_w, frequency_hz, afrr_signal, load_balance)
    if math.isnan(wanted):
        wanted, source = 0.0, "invalid_setpoint"
    if wanted >= hi:
        watts, bound_by = hi, hi_name
    elif wanted <= lo:
        watts, bound_by = lo, lo_name
    else:
        watts, bound_by = wanted, source
    min_rate = limits.min_charging_rate_w if limits is not None else None
    if min_rate is not None and 0.0 < watts < min_rate:
        watts, bound_by = 0.0, "schedule.min_charging_rate"
    watts = watts + 0.0  # no -0.0
    details: dict[str, object] = {
        "wanted_w": wanted,
        "wanted_by": source,
        "charge_limit_w": hi,
        "charge_bound_by": hi_name,
        "discharge_limit_w": lo,
        "discharge_bound_by": lo_name,
        "voltage_v": v,
        "voltage_measured": measured,
        "operation_mode": None if limits is None or limits.operation_mode is None else str(limits.operation_mode),
        "profiles": () if limits is None else limits.source_profile_ids,
        "charge_limits": dict(charge),
        "discharge_limits": dict(discharge),
    }
    if limits is not None and limits.operation_mode is OperationMode.LOCAL_FREQUENCY:
        details["frequency_hz"] = frequency_hz
    if limits is not None and limits.operation_mode is OperationMode.LOCAL_LOAD_BALANCING:
        details["load_balance"] = asdict(load_balance) if load_balance is not None else None
    return Setpoint(watts, bound_by, details)
