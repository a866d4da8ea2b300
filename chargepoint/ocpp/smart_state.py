"""Smart-charging state of a station that outlives OCPP connections, the SmartChargingCtrlr variables, and the API
of a local energy manager (EMS) or grid operator that sets external limits.

* :func:`set_external_limit` / :func:`clear_external_limit` install / remove a ChargingStationExternalConstraints
  (2.1 also LocalGeneration) profile in the station's profile store, apply it at once and queue NotifyChargingLimit
  (with the schedule when NotifyChargingLimitWithSchedules is true; an update that moves the limit by less than
  LimitChangeSignificance % is not reported) / ClearedChargingLimit. The connected 2.x adapter
  (:mod:`chargepoint.ocpp.v201_smart`) sends them, later if the CSMS is unreachable now.
* :func:`add_smart_variables`: SmartChargingCtrlr bound to the store's limits and to :class:`SmartState`, plus the
  vendor variable ``NegativeLimitPolicy`` (Reject | Discharge) that switches the legacy "negative limit = discharge"
  convention of 1.6 / 2.0.1 systems (docs/smart-charging.md).
* :func:`camel`: the ``ocpp`` library hands handlers snake_case keys; this restores the exact schema spelling
  (``limit_L2``, ``dischargeLimit`` ...) for the codec.
* :func:`use_priority_charging`: priority charging for a transaction, asked by the CSMS (UsePriorityCharging, K21) or
  locally (a button, the driver's app: K22); every change is reported with NotifyPriorityCharging (2.1).
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chargepoint.energy.manager import EnergyManager
from chargepoint.energy.model import ChargingProfile, Purpose
from chargepoint.energy.profiles import AddResult, ClearResult
from chargepoint.energy.schedule import limit_at
from chargepoint.energy.validation import Rejection, StoreLimits
from chargepoint.ocpp import keyfix
from chargepoint.ocpp.device_model import Component, DataType, DeviceModel, Mutability
from chargepoint.station.core import Station

SMART = Component("SmartChargingCtrlr")
EXTERNAL_SOURCES = ("EMS", "Other", "SO")  # ChargingLimitSource values of external systems (CSO is the CSMS)


def camel(data: Any) -> Any:
    """The library's snake_case payload back in the exact schema spelling (``limit_L2``, ``dischargeLimit`` ...)."""
    out = keyfix.snake_to_camel_case(data)
    return _fix_price_level(out)


def _fix_price_level(data: Any, inside: bool = False) -> Any:
    # The one ambiguous 2.1 spelling: AbsolutePriceSchedule.priceScheduleID vs PriceLevelSchedule.priceScheduleId.
    if isinstance(data, dict):
        return {("priceScheduleId" if inside and k == "priceScheduleID" else k):
                _fix_price_level(v, k == "priceLevelSchedule") for k, v in data.items()}
    if isinstance(data, list):
        return [_fix_price_level(v, inside) for v in data]
    return data


def status_info(code: str, text: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"reason_code": code[:20]}
    if text:
        out["additional_info"] = text[:512]
    return out


@dataclass(frozen=True)
class LimitNotice:
    """A NotifyChargingLimit / ClearedChargingLimit waiting for the CSMS."""

    action: str
    source: str
    evse_id: int
    profile: ChargingProfile | None = None
    grid_critical: bool | None = None


@dataclass
class SmartState:
    """Smart-charging state of one station that outlives connections (the device-model variables are bound here)."""

    enabled: bool = True
    external_signals: bool = True
    limit_change_significance: float = 0.0  # percent
    notify_with_schedules: bool = True
    negative_limit_policy: str = "Reject"  # vendor variable: Reject | Discharge
    notices: deque[LimitNotice] = field(default_factory=deque)
    needs_sent: set[str] = field(default_factory=set)  # transactions whose NotifyEVChargingNeeds went out
    # 2.1 (chargepoint.ocpp.v21_v2x)
    pulls: dict[int, datetime] = field(default_factory=dict)  # Dynamic profile id -> last update or pull
    afrr: list[tuple[datetime, int]] = field(default_factory=list)  # aFRR signals not yet active
    allowed: dict[str, tuple[str, ...]] = field(default_factory=dict)  # NotifyAllowedEnergyTransfer per tx
    v2x_enabled: dict[int, bool] = field(default_factory=dict)
    priority_notices: deque[tuple[str, bool]] = field(default_factory=deque)  # NotifyPriorityCharging to send
    wake: Callable[[], None] | None = None  # the connected adapter's duty loop

    def poke(self) -> None:
        if self.wake is not None:
            self.wake()


_STATES: weakref.WeakKeyDictionary[Station, SmartState] = weakref.WeakKeyDictionary()


def smart_state(station: Station) -> SmartState:
    return _STATES.setdefault(station, SmartState())


def energy_of(station: Station) -> EnergyManager | None:
    return station.energy if isinstance(station.energy, EnergyManager) else None


def tx_ids(station: Station) -> dict[int, str | None]:
    return {i: (e.tx.tx_id if e.tx is not None else None) for i, e in station.evses.items()}


def _charge_limit_now(energy: EnergyManager, evse_id: int, now: datetime) -> float | None:
    evse = energy.station.evses.get(evse_id)
    tx = energy.tx_info(evse) if evse is not None else None
    return limit_at(energy.store, evse_id, now, tx, nominal_voltage_v=energy.nominal_voltage_v,
                    phases=energy.phases).charge_limit_w


def _significant(before: float | None, after: float | None, percent: float) -> bool:
    if before is None or after is None or before == 0:
        return before != after
    return abs(after - before) / abs(before) * 100.0 >= percent


# ---------------------------------------------------------------------------------------------------- EMS API
def set_external_limit(station: Station, profile: ChargingProfile, *,
                       is_grid_critical: bool | None = None) -> AddResult:
    """Install (same id: replace) an external system's limit: a ChargingStationExternalConstraints (2.1 also
    LocalGeneration) profile whose ``limit_source`` names the system (EMS, SO, Other). Applied at once; the CSMS is
    told with NotifyChargingLimit."""
    energy = energy_of(station)
    if energy is None:
        raise RuntimeError("the station has no energy manager")
    if profile.limit_source not in EXTERNAL_SOURCES:
        raise ValueError(f"limit_source must be one of {EXTERNAL_SOURCES}, got {profile.limit_source!r}")
    state = smart_state(station)
    if not state.external_signals:
        return AddResult(False, rejection=Rejection(
            "NotEnabled", "SmartChargingCtrlr.ExternalControlSignalsEnabled is false"))
    now = station.clock.now()
    before = _charge_limit_now(energy, profile.evse_id, now)
    res = energy.store.add(profile, active_tx_ids=tx_ids(station), from_external=True)
    if not res.accepted:
        return res
    energy.reevaluate(profile.evse_id)
    after_ = _charge_limit_now(energy, profile.evse_id, now)
    if res.replaced_ids and not _significant(before, after_, state.limit_change_significance):
        return res  # below LimitChangeSignificance: not worth a message
    state.notices.append(LimitNotice("NotifyChargingLimit", profile.limit_source, profile.evse_id, res.profile,
                                     is_grid_critical))
    state.poke()
    return res


def clear_external_limit(station: Station, source: str | None = None, evse_id: int | None = None) -> ClearResult:
    """Release external limits (all, or of one source / EVSE); the CSMS is told with ClearedChargingLimit."""
    energy = energy_of(station)
    if energy is None:
        raise RuntimeError("the station has no energy manager")
    gone = [p for p in energy.store.profiles() if p.external and source in (None, p.limit_source)
            and evse_id in (None, p.evse_id)]
    res = energy.store.clear_external(source, evse_id=evse_id)
    if res.matched:
        energy.reevaluate(evse_id)
        state = smart_state(station)
        for src, evse in dict.fromkeys((p.limit_source, p.evse_id) for p in gone):
            state.notices.append(LimitNotice("ClearedChargingLimit", src, evse))
        state.poke()
    return res


# ---------------------------------------------------------------------------------------------------- priority
def use_priority_charging(station: Station, tx_id: str, activate: bool) -> str:
    """Start / stop priority charging of a transaction (K21 from the CSMS, K22 locally): "Accepted", "NoProfile"
    (no PriorityCharging profile for its EVSE nor station-wide) or "Rejected" (no such transaction, or the purpose is
    not supported). Applied at once; an accepted change is queued as NotifyPriorityCharging."""
    energy = energy_of(station)
    if energy is None or Purpose.PRIORITY_CHARGING not in energy.store.limits.additional_purposes:
        return "Rejected"
    before = tx_id in energy.priority_charging
    status = energy.set_priority_charging(tx_id, activate)
    if status == "Accepted" and before != activate:
        notify_priority_charging(station, tx_id, activate)
    return status


def notify_priority_charging(station: Station, tx_id: str, activated: bool) -> None:
    state = smart_state(station)
    state.priority_notices.append((tx_id, activated))
    state.poke()


# ---------------------------------------------------------------------------------------------------- variables
def _b(v: bool) -> str:
    return "true" if v else "false"


def add_smart_variables(dm: DeviceModel, station: Station, state: SmartState) -> None:
    """SmartChargingCtrlr: capabilities read from the store's limits, switches bound to ``state``."""
    rw = Mutability.READ_WRITE

    def limits() -> StoreLimits:
        energy = energy_of(station)
        return energy.store.limits if energy is not None else StoreLimits()

    def flag(attr: str) -> dict[str, Any]:
        return {"getter": lambda: _b(getattr(state, attr)), "setter": lambda v: setattr(state, attr, v == "true")}

    add, c = dm.add, SMART
    add(c, "Available", DataType.BOOLEAN, getter=lambda: _b(energy_of(station) is not None))
    add(c, "Enabled", DataType.BOOLEAN, mutability=rw, persistent=True, **flag("enabled"))
    add(c, "Entries", DataType.INTEGER, instance="ChargingProfiles", max_limit=limits().max_profiles,
        getter=lambda: str(len(e.store)) if (e := energy_of(station)) is not None else "0")
    add(c, "LimitChangeSignificance", DataType.DECIMAL, mutability=rw, persistent=True, unit="Percent",
        min_limit=0, max_limit=100, getter=lambda: f"{state.limit_change_significance:g}",
        setter=lambda v: setattr(state, "limit_change_significance", float(v)))
    add(c, "NotifyChargingLimitWithSchedules", DataType.BOOLEAN, mutability=rw, persistent=True,
        **flag("notify_with_schedules"))
    add(c, "PeriodsPerSchedule", DataType.INTEGER, getter=lambda: str(limits().max_periods))
    add(c, "ProfileStackLevel", DataType.INTEGER, getter=lambda: str(limits().max_stack_level))
    add(c, "RateUnit", DataType.MEMBER_LIST, values_list=("A", "W"),
        getter=lambda: ",".join(sorted(str(u) for u in limits().rate_units)))
    add(c, "ExternalControlSignalsEnabled", DataType.BOOLEAN, mutability=rw, persistent=True,
        **flag("external_signals"))
    add(c, "Phases3to1", DataType.BOOLEAN, value="false", constant=True)  # DC output
    add(c, "NegativeLimitPolicy", DataType.OPTION_LIST, mutability=rw, persistent=True,
        values_list=("Reject", "Discharge"), getter=lambda: state.negative_limit_policy,
        setter=lambda v: setattr(state, "negative_limit_policy", v),
        description="vendor: Discharge reads a negative limit in a Tx/TxDefault profile as a discharge setpoint")
