"""The station's energy manager (sans-I/O): installed charging profiles + local policy -> one signed setpoint per EVSE.

Every station tick, and immediately after a profile changes, it asks the composite schedule what the profiles
allow now (:func:`limit_at`), intersects that with the charger's ratings, the car's present limits and local policy
(:func:`arbitrate`), and hands the result to the station. It remembers why each setpoint is what it is, so the
station can log which limit bound it.

Local measurements: a :class:`~chargepoint.hardware.interfaces.SiteMeter` (``site_meter``, e.g.
:class:`~chargepoint.hardware.site.EmulatedSiteMeter`) is read once per tick. Its grid frequency becomes
``frequency_hz`` (what LocalFrequency follows; without a meter, or while it measures none, the last value stays,
50 Hz at first). Each EVSE applies a new frequency only when it moved by at least its ``frequency_threshold_mhz``
from the one its setpoint was computed with (V2XChargingCtrlr.LocalFrequencyUpdateThreshold, Q08). Its import
power, minus the metered power of the EVSEs under LocalLoadBalancing, is the rest of the site those EVSEs balance
with their :class:`LoadBalancingSettings` (V2XChargingCtrlr.LocalLoadBalancing, Q09; equal shares when several do).

Priority charging (K21/K22): ``priority_charging`` holds the transactions for which the PriorityCharging profile
(of their EVSE or station-wide) replaces the transaction layer; :meth:`EnergyManager.set_priority_charging` switches
it, :meth:`EnergyManager.priority_lost` drops the transactions whose profile went away.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chargepoint.energy.arbitration import LoadBalance, LocalPolicy, Setpoint, arbitrate
from chargepoint.energy.model import (
    CompositePeriod,
    CompositeSchedule,
    EffectiveLimits,
    OperationMode,
    Purpose,
    RateUnit,
    TxInfo,
)
from chargepoint.energy.profiles import ProfileStore
from chargepoint.energy.schedule import composite, limit_at
from chargepoint.hardware.interfaces import MeterReading, PortPhase, PortState, PowerRatings, SiteMeter, SiteReading
from chargepoint.hardware.site import EmulatedSiteMeter
from chargepoint.station.core import Evse, Station

log = logging.getLogger("chargepoint.energy")

DC_NOMINAL_VOLTAGE_V = 400.0


@dataclass
class LoadBalancingSettings:
    """V2XChargingCtrlr.LocalLoadBalancing of one EVSE (W, at the site's grid connection; None = not configured)."""

    upper_threshold_w: float | None = None
    lower_threshold_w: float | None = None
    upper_offset_w: float = 0.0
    lower_offset_w: float = 0.0

    @property
    def configured(self) -> bool:
        """Both thresholds set, LowerThreshold <= UpperThreshold, and so with the offsets (the band is not empty)."""
        up, low = self.upper_threshold_w, self.lower_threshold_w
        return (up is not None and low is not None and low <= up
                and low + self.lower_offset_w <= up + self.upper_offset_w)


@dataclass
class EvseEnergy:
    ratings: PowerRatings
    policy: object | None = None  # any object with optional charge_limit_w / discharge_limit_w / setpoint_w
    last: Setpoint | None = None
    limits: EffectiveLimits | None = None
    changes: int = 0
    load_balancing: LoadBalancingSettings = field(default_factory=LoadBalancingSettings)
    frequency_threshold_mhz: float = 0.0  # V2XChargingCtrlr.LocalFrequencyUpdateThreshold
    frequency_hz: float | None = None  # the grid frequency the LocalFrequency setpoint was last computed with


@dataclass
class EnergyManager:
    station: Station
    store: ProfileStore
    ratings: dict[int, PowerRatings] = field(default_factory=dict)
    nominal_voltage_v: float = DC_NOMINAL_VOLTAGE_V
    phases: int | None = None  # None = DC
    frequency_hz: float = 50.0  # the measured grid frequency (the site meter's, when it has one)
    afrr_signal: int | None = None
    offline_since: datetime | None = None
    evses: dict[int, EvseEnergy] = field(default_factory=dict)
    site_meter: SiteMeter | None = None
    site: SiteReading | None = None  # the last valid site reading (None: no meter, or no valid reading)
    priority_charging: set[str] = field(default_factory=set)  # transactions with priority charging active

    def __post_init__(self) -> None:
        for evse_id in self.station.evses:
            self.evses.setdefault(evse_id, EvseEnergy(self.ratings.get(evse_id, PowerRatings())))
        self.station.energy = self
        self._site_at: datetime | None = None
        if self.site_meter is not None:
            self.use_site_meter(self.site_meter)

    # ----------------------------------------------------------------- inputs
    def set_policy(self, evse_id: int, policy: LocalPolicy | object | None) -> None:
        self.evses[evse_id].policy = policy
        self.reevaluate(evse_id)

    def tx_info(self, evse: Evse) -> TxInfo | None:
        tx = evse.tx
        return TxInfo(tx.tx_id, tx.started_at) if tx is not None else None

    def use_site_meter(self, meter: SiteMeter | None) -> None:
        """Read ``meter`` every tick from now on. An emulated one counts the station's own power into the site."""
        self.site_meter, self.site, self._site_at = meter, None, None
        if isinstance(meter, EmulatedSiteMeter) and meter.evse_power_w is None:
            meter.evse_power_w = lambda: sum(self._power_w(i) for i in self.station.evses)

    def _power_w(self, evse_id: int) -> float:
        st = self.station.evses[evse_id].connector.state
        p = st.meter.power_w if st is not None else 0.0
        return p if math.isfinite(p) else 0.0

    def _read_site(self, now: datetime) -> None:
        """The site meter, once per tick."""
        if self.site_meter is None or self._site_at == now:
            return
        self._site_at = now
        try:
            reading = self.site_meter.read(self.station.clock.monotonic())
        except Exception:  # a failing meter is no measurement, never a dead control loop
            log.exception("site meter read failed")
            reading = None
        if reading is None or not math.isfinite(reading.import_w):
            self.site = None
            return
        self.site = reading
        if reading.frequency_hz is not None and math.isfinite(reading.frequency_hz):
            self.frequency_hz = reading.frequency_hz

    def _frequency_for(self, e: EvseEnergy, limits: EffectiveLimits) -> float:
        """The frequency of this EVSE's LocalFrequency setpoint: the measured one once it moved by at least
        LocalFrequencyUpdateThreshold (outside LocalFrequency: followed at once)."""
        measured = self.frequency_hz
        if (e.frequency_hz is None or limits.operation_mode is not OperationMode.LOCAL_FREQUENCY
                or abs(measured - e.frequency_hz) * 1000.0 >= e.frequency_threshold_mhz - 1e-6):
            e.frequency_hz = measured
        return e.frequency_hz

    def _load_balance(self, evse: Evse) -> LoadBalance | None:
        """What LocalLoadBalancing balances for ``evse``: the rest of the site, shared with the other EVSEs that
        balance it too (a transaction, LocalLoadBalancing, valid thresholds); None without a valid reading or valid
        thresholds."""
        cfg = self.evses[evse.id].load_balancing
        if self.site is None or not cfg.configured:
            return None
        assert cfg.upper_threshold_w is not None and cfg.lower_threshold_w is not None
        members = [i for i, e in self.evses.items() if i == evse.id or (
            self.station.evses[i].tx is not None and e.load_balancing.configured and e.limits is not None
            and e.limits.operation_mode is OperationMode.LOCAL_LOAD_BALANCING)]
        other = self.site.import_w - sum(self._power_w(i) for i in members)
        return LoadBalance(other, cfg.upper_threshold_w, cfg.lower_threshold_w, cfg.upper_offset_w,
                           cfg.lower_offset_w, share=len(members))

    # ----------------------------------------------------------------- the control step
    def setpoint_for(self, evse: Evse, now: datetime) -> float:
        """Called by the station every tick for every EVSE; returns the signed setpoint in watts."""
        e = self.evses[evse.id]
        state = evse.connector.state or PortState(PortPhase.UNPLUGGED, MeterReading(0.0, 0.0, 0.0, 0.0))
        self._read_site(now)
        limits = limit_at(self.store, evse.id, now, self.tx_info(evse),
                          nominal_voltage_v=self.conversion_voltage(evse.id), phases=self.phases,
                          offline_since=self.offline_since, priority_charging=self.priority_charging)
        balance = self._load_balance(evse) if limits.operation_mode is OperationMode.LOCAL_LOAD_BALANCING else None
        sp = arbitrate(limits, e.ratings, state, e.policy, frequency_hz=self._frequency_for(e, limits),
                       afrr_signal=self.afrr_signal, load_balance=balance)
        e.limits = limits
        if e.last is None or not _close(e.last.watts, sp.watts) or e.last.bound_by != sp.bound_by:
            e.changes += 1
            log.info("setpoint", extra={"fields": {"event": "setpoint", "evse": evse.id, "watts": _fmt(sp.watts),
                                                   "bound_by": sp.bound_by}})
        e.last = sp
        return sp.watts

    def reevaluate(self, evse_id: int | None = None) -> None:
        """Apply profile or policy changes now, without waiting for the next tick (one CHAdeMO cycle matters)."""
        now = self.station.clock.now()
        self._site_at = None  # a fresh reading of the site meter
        for evse in self.station.evses.values():
            if evse_id not in (None, 0, evse.id):
                continue
            watts = self.setpoint_for(evse, now)
            evse.setpoint_w = watts
            if evse.tx is not None and evse.tx.authorized:
                port = evse.connector.port
                port.set_setpoint_w(watts)
                apply_now = getattr(port, "apply_now", None)
                if apply_now is not None:  # e.g. CHAdeMO: command the power stage now, not at the next tick
                    apply_now(self.station.clock.monotonic())

    def conversion_voltage(self, evse_id: int) -> float:
        """The voltage that converts A <-> W for an EVSE. DC: the metered one while it is known (a current limit
        means amps at the voltage the car is at, not at the nominal voltage); AC, or DC without a car: nominal."""
        evse = self.station.evses.get(evse_id)
        st = evse.connector.state if evse is not None else None
        if self.phases is None and st is not None and st.phase != PortPhase.UNPLUGGED:
            v = st.meter.voltage_v
            if math.isfinite(v) and v >= self.evses[evse_id].ratings.min_voltage_v:
                return v
        return self.nominal_voltage_v

    def transaction_ended(self, tx_id: str) -> None:
        """The station ended a transaction: its TxProfiles go (OCPP 1.6 §3.13.1, 2.x K01.FR.10), in every version."""
        self.priority_charging.discard(tx_id)
        removed = self.store.transaction_ended(tx_id)
        if removed:
            log.info("transaction profiles removed", extra={"fields": {"event": "tx_profiles_removed", "tx": tx_id,
                                                                        "profiles": list(removed)}})

    # ----------------------------------------------------------------- priority charging (K21 / K22)
    def priority_profile(self, evse_id: int) -> bool:
        """A PriorityCharging profile is installed for the EVSE or station-wide."""
        return any(p.purpose is Purpose.PRIORITY_CHARGING and p.evse_id in (0, evse_id) for p in self.store.profiles())

    def set_priority_charging(self, tx_id: str, activate: bool) -> str:
        """Start / stop using the PriorityCharging profile for a transaction: "Accepted", "NoProfile" (none for its
        EVSE nor station-wide) or "Rejected" (no such transaction). Applied at once."""
        tx = self.station.find_tx(tx_id)
        if tx is None:
            return "Rejected"
        if activate and not self.priority_profile(tx.evse_id):
            return "NoProfile"
        (self.priority_charging.add if activate else self.priority_charging.discard)(tx_id)
        self.reevaluate(tx.evse_id)
        return "Accepted"

    def priority_lost(self) -> list[str]:
        """Running transactions whose priority charging ended because no PriorityCharging profile applies any more
        (cleared, or replaced by another purpose); they are dropped from :attr:`priority_charging` (so are ids of
        transactions that are gone, silently)."""
        lost = []
        for tx_id in sorted(self.priority_charging):
            tx = self.station.find_tx(tx_id)
            if tx is None:
                self.priority_charging.discard(tx_id)
            elif not self.priority_profile(tx.evse_id):
                self.priority_charging.discard(tx_id)
                self.reevaluate(tx.evse_id)
                lost.append(tx_id)
        return lost

    def explain(self, evse_id: int) -> dict[str, Any]:
        e = self.evses[evse_id]
        if e.last is None:
            return {"evse": evse_id, "watts": None}
        return {"evse": evse_id, "watts": e.last.watts, "bound_by": e.last.bound_by, **e.last.details}

    # ----------------------------------------------------------------- what the station will actually do
    def composite_schedule(self, evse_id: int, start: datetime, duration_s: int,
                           unit: RateUnit | str = RateUnit.W) -> CompositeSchedule:
        """The composite of the installed profiles, clamped by the charger's ratings and the connected car's limits
        (so GetCompositeSchedule reports what the station will actually do, not only what the CSMS asked).
        EVSE 0 is the grid connection: the sum of every EVSE's clamped schedule, capped by the station-wide
        profiles."""
        unit = RateUnit(unit)
        evse = self.station.evses.get(evse_id)
        evses = {i: self.tx_info(e) for i, e in self.station.evses.items()}
        volts = self.conversion_voltage(evse_id) if evse is not None else self.nominal_voltage_v
        sched = composite(self.store, evse_id, start, duration_s, unit,
                          tx=self.tx_info(evse) if evse else None, nominal_voltage_v=volts,
                          phases=self.phases, evses=evses, offline_since=self.offline_since,
                          priority_charging=self.priority_charging)
        if evse_id == 0:
            parts = [self.composite_schedule(i, start, duration_s, unit) for i in sorted(self.station.evses)]
            return _station_total(sched, parts)
        if evse is None:
            return sched
        charge_w, discharge_w = self._physical_window(evse_id, volts)
        to_unit = (lambda w: w) if unit == RateUnit.W else (lambda w: w / volts)
        cmax, dmax = to_unit(charge_w), -to_unit(discharge_w)
        periods = []
        for p in sched.periods:
            limit = cmax if p.limit is None else min(p.limit, cmax)
            dlim = p.discharge_limit
            dlim = None if dlim is None else max(dlim, dmax)
            setpoint = p.setpoint
            if setpoint is not None:
                setpoint = min(max(setpoint, dmax if dlim is None else dlim), limit)
            periods.append(_replace_period(p, limit=limit, discharge_limit=dlim, setpoint=setpoint))
        return CompositeSchedule(sched.evse_id, sched.start, sched.duration_s, sched.unit, tuple(periods))

    def _physical_window(self, evse_id: int, v: float) -> tuple[float, float]:
        """(max charge W, max discharge W) the charger and the present car allow at ``v`` volts, magnitudes."""
        r = self.evses[evse_id].ratings
        charge, discharge = r.max_charge_power_w, r.max_discharge_power_w
        st = self.station.evses[evse_id].connector.state
        if st is not None and st.phase != PortPhase.UNPLUGGED:
            if st.ev_max_charge_current_a is not None:
                charge = min(charge, st.ev_max_charge_current_a * v, r.max_charge_current_a * v)
            if st.ev_max_discharge_current_a is not None:
                discharge = min(discharge, st.ev_max_discharge_current_a * v, r.max_discharge_current_a * v)
        return charge, discharge


def _station_total(raw: CompositeSchedule, parts: list[CompositeSchedule]) -> CompositeSchedule:
    """The grid connection's schedule: the sum of the EVSEs' (clamped) schedules, within the station-wide caps that
    ``raw`` (the profiles' own EVSE-0 composite) carries. Setpoints add up only when every EVSE has one."""
    starts = sorted({p.start_s for s in (raw, *parts) for p in s.periods})
    periods: list[CompositePeriod] = []
    for t in starts:
        cap = raw.at(t)
        pts = [s.at(t) for s in parts]
        total = _total([p.limit for p in pts])
        limit = cap.limit if total is None else total if cap.limit is None else min(cap.limit, total)
        dlim = _total([p.discharge_limit for p in pts])
        if cap.discharge_limit is not None:
            dlim = cap.discharge_limit if dlim is None else max(dlim, cap.discharge_limit)
        setpoint = _total([p.setpoint for p in pts])
        if setpoint is not None:
            setpoint = max(setpoint, dlim) if dlim is not None else setpoint
            setpoint = min(setpoint, limit) if limit is not None else setpoint
        sources = set(cap.source_ids).union(*(p.source_ids for p in pts))
        period = _replace_period(cap, start_s=t, limit=limit, discharge_limit=dlim, setpoint=setpoint,
                                 source_ids=tuple(sorted(sources)))
        if periods and _replace_period(periods[-1], start_s=t, source_ids=()) == _replace_period(period, source_ids=()):
            prev = periods[-1]
            periods[-1] = _replace_period(prev, source_ids=tuple(sorted(set(prev.source_ids) | sources)))
        else:
            periods.append(period)
    return CompositeSchedule(raw.evse_id, raw.start, raw.duration_s, raw.unit, tuple(periods))


def _total(xs: list[float | None]) -> float | None:
    """The sum, or None when there is nothing to add or one term is unconstrained."""
    return None if not xs or any(x is None for x in xs) else sum(x for x in xs if x is not None)


def _replace_period(p: CompositePeriod, **changes: Any) -> CompositePeriod:
    from dataclasses import replace

    return replace(p, **changes)


def _close(a: float, b: float) -> bool:
    """Changes worth a log line: the binding limit changed, or the value moved by more than 5 % (or 500 W)."""
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= max(500.0, 0.05 * max(abs(a), abs(b)))


def _fmt(w: float) -> float | str:
    return round(w, 1) if math.isfinite(w) else ("+inf" if w > 0 else "-inf")
