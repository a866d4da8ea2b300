"""OCPP 2.1 device-model variables of the V2X layer (:mod:`chargepoint.ocpp.v21_v2x`) and the per-operation-mode
sampling they configure (:class:`V2XSampling`).

V2XChargingCtrlr, one component per EVSE (2.1 appendix, dm_components_vars):

* Enabled (ReadWrite): false gates discharge on the EVSE (and no DC_BPT in NotifyEVChargingNeeds).
* SupportedEnergyTransferModes, SupportedOperationModes (ReadOnly).
* LocalFrequencyUpdateThreshold (ReadWrite, integer, mHz, default 0): LocalFrequency recomputes the setpoint only
  when the measured grid frequency moved at least this much from the one it was computed with (Q08). The appendix
  types it boolean although it describes an amount in mHz; it is an integer here.
* LocalLoadBalancing[UpperThreshold | LowerThreshold | UpperOffset | LowerOffset] (ReadWrite, decimal, W; the
  thresholds are unset until written, the offsets 0): the grid-connection band LocalLoadBalancing keeps the site in
  (Q09, :mod:`chargepoint.energy.arbitration`). The store's limits learn which EVSEs are configured (both thresholds,
  LowerThreshold <= UpperThreshold, also with the offsets): a LocalLoadBalancing profile for any other EVSE is
  refused with UnsupportedParam (TC_Q_122). Values may be written in any order; they are checked when used.
* TxStartedMeasurands / TxUpdatedMeasurands / TxEndedMeasurands [<OperationMode>] (ReadWrite, MemberList, default
  empty): measurands sent *in addition to* SampledDataCtrlr's in TransactionEvent Started / Updated (periodic) /
  Ended while the EVSE is in that operation mode (TC_Q_100).
* TxUpdatedInterval [<OperationMode>] (ReadWrite, s, default 0): in that mode, the periodic samples come at this
  interval instead of SampledDataCtrlr.TxUpdatedInterval (0 = that one).
* TxEndedInterval [<OperationMode>] (ReadWrite, s, default 0): in that mode, TxEndedMeasurands[<OperationMode>] are
  also sampled at this interval and all those samples go into the Ended event (0 = only the final one).

One instance per operation mode in SupportedOperationModes. The EVSE's operation mode is the one of its composite
schedule now (ChargingOnly without one), as in TransactionEvent ``transactionInfo.operationMode``; the additions
apply only while the station's profile rules are 2.1.

SmartChargingCtrlr 2.1 additions: SupportedAdditionalPurposes, SupportsDynamicProfiles,
ExternalConstraintsProfileDisallowed (ReadWrite), MaxExternalConstraintsId (ReadWrite).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from chargepoint.energy.manager import EnergyManager, EvseEnergy
from chargepoint.energy.model import OcppVersion, OperationMode, Purpose
from chargepoint.hardware.interfaces import PortState
from chargepoint.ocpp.device_model import Component, DataType, DeviceModel, Mutability
from chargepoint.ocpp.smart_state import SMART, SmartState, energy_of
from chargepoint.station.core import Evse, Station
from chargepoint.station.metering import build_sample, parse_measurands
from chargepoint.station.types import Measurand, MeterSample, ReadingContext

__all__ = ["DC_MODES", "V2X", "ModeSampling", "V2XSampling", "add_v2x_variables", "can_discharge"]

V2X = "V2XChargingCtrlr"
DC_MODES = frozenset({"DC", "DC_BPT", "DC_ACDP", "DC_ACDP_BPT"})
MEASURANDS = tuple(m.value for m in Measurand)
LOAD_BALANCING = {"UpperThreshold": "upper_threshold_w", "LowerThreshold": "lower_threshold_w",
                  "UpperOffset": "upper_offset_w", "LowerOffset": "lower_offset_w"}
MAX_ENDED_SAMPLES = 500  # TxEndedInterval samples kept per transaction (the newest)


def can_discharge(station: Station, evse: Evse) -> bool:
    """The charger can discharge on this EVSE (its ratings allow it)."""
    energy = energy_of(station)
    ratings = energy.evses[evse.id].ratings if energy is not None else getattr(evse.connector.port, "ratings", None)
    return ratings is not None and ratings.max_discharge_power_w > 0 and ratings.max_discharge_current_a > 0


# ---------------------------------------------------------------------------------------------------- sampling
@dataclass
class ModeSampling:
    """V2XChargingCtrlr Tx* variables of one EVSE and operation mode."""

    started: tuple[Measurand, ...] = ()
    updated: tuple[Measurand, ...] = ()
    ended: tuple[Measurand, ...] = ()
    updated_interval_s: int = 0
    ended_interval_s: int = 0


class V2XSampling:
    """The station's sampling plan (``station.sampling``, :class:`~chargepoint.station.metering.SamplingPlan`):
    SampledDataCtrlr's measurands and interval plus the V2XChargingCtrlr ones of the EVSE's operation mode."""

    def __init__(self, station: Station) -> None:
        self.station = station
        self.modes: dict[tuple[int, OperationMode], ModeSampling] = {}
        self._ended: dict[str, deque[MeterSample]] = {}
        self._next_ended: dict[str, float] = {}

    def mode(self, evse_id: int) -> OperationMode | None:
        """The EVSE's operation mode now; None when the profile rules are not 2.1 (no V2X additions)."""
        energy = energy_of(self.station)
        if energy is None or energy.store.version is not OcppVersion.V21:
            return None
        e = energy.evses.get(evse_id)
        mode = e.limits.operation_mode if e is not None and e.limits is not None else None
        return mode or OperationMode.CHARGING_ONLY

    def of(self, evse_id: int) -> ModeSampling | None:
        mode = self.mode(evse_id)
        return self.modes.get((evse_id, mode)) if mode is not None else None

    def settings(self, evse_id: int, mode: OperationMode) -> ModeSampling:
        return self.modes.setdefault((evse_id, mode), ModeSampling())

    def measurands(self, evse_id: int, context: ReadingContext,
                   base: tuple[Measurand, ...]) -> tuple[Measurand, ...]:
        ms = self.of(evse_id)
        if ms is None:
            return base
        extra = {ReadingContext.TRANSACTION_BEGIN: ms.started, ReadingContext.SAMPLE_PERIODIC: ms.updated,
                 ReadingContext.TRANSACTION_END: ms.ended}.get(context, ())
        return base + tuple(m for m in extra if m not in base)

    def interval_s(self, evse_id: int, base: int) -> int:
        ms = self.of(evse_id)
        return ms.updated_interval_s if ms is not None and ms.updated_interval_s > 0 else base

    def observe(self, evse_id: int, tx_id: str, state: PortState, now: datetime, mono: float) -> None:
        """Every tick of a running transaction: the TxEndedInterval samples of the EVSE's operation mode."""
        ms = self.of(evse_id)
        if ms is None or ms.ended_interval_s <= 0 or not ms.ended:
            self._next_ended.pop(tx_id, None)
            return
        due = self._next_ended.get(tx_id)
        if due is None:
            self._next_ended[tx_id] = mono + ms.ended_interval_s
            return
        if mono < due:
            return
        sample = build_sample(now, ms.ended, state.meter, state.soc_percent, ReadingContext.SAMPLE_PERIODIC)
        self._ended.setdefault(tx_id, deque(maxlen=MAX_ENDED_SAMPLES)).append(sample)
        self._next_ended[tx_id] = mono + ms.ended_interval_s

    def ended_samples(self, tx_id: str) -> tuple[MeterSample, ...]:
        """The transaction's TxEndedInterval samples (taken once: the transaction ends)."""
        self._next_ended.pop(tx_id, None)
        return tuple(self._ended.pop(tx_id, ()))


def sampling_of(station: Station) -> V2XSampling:
    """The station's V2X sampling plan, installed on first use."""
    plan = station.sampling
    if not isinstance(plan, V2XSampling):
        plan = V2XSampling(station)
        station.sampling = plan
    return plan


# ---------------------------------------------------------------------------------------------------- variables
def sync_load_balancing(energy: EnergyManager) -> None:
    """Tell the profile store which EVSEs may run LocalLoadBalancing (their thresholds are valid)."""
    ok = frozenset(i for i, e in energy.evses.items() if e.load_balancing.configured)
    if energy.store.limits.load_balancing_evses != ok:
        energy.store.limits = replace(energy.store.limits, load_balancing_evses=ok)


def _num(v: float | None) -> str | None:
    """A decimal as OCPP text, without an exponent (1000000, not 1e+06)."""
    if v is None:
        return None
    return str(int(v)) if v.is_integer() else repr(v)


def add_v2x_variables(dm: DeviceModel, station: Station, state: SmartState,
                      on_enabled: Callable[[int], None]) -> None:
    """V2XChargingCtrlr per EVSE and the 2.1 SmartChargingCtrlr variables (see the module docstring).
    ``on_enabled(evse_id)`` runs after V2XChargingCtrlr.Enabled changed."""
    rw = Mutability.READ_WRITE
    add = dm.add

    def energy() -> EnergyManager | None:
        return energy_of(station)

    def set_limit(**changes: Any) -> None:
        e = energy()
        if e is None:
            raise ValueError("smart charging is not available")
        e.store.limits = replace(e.store.limits, **changes)

    add(SMART, "SupportedAdditionalPurposes", DataType.MEMBER_LIST,
        values_list=(str(Purpose.PRIORITY_CHARGING), str(Purpose.LOCAL_GENERATION)),
        getter=lambda: ",".join(sorted(str(p) for p in e.store.limits.additional_purposes))
        if (e := energy()) is not None else "")
    add(SMART, "SupportsDynamicProfiles", DataType.BOOLEAN,
        getter=lambda: "true" if (e := energy()) is not None and e.store.limits.dynamic_profiles else "false")
    add(SMART, "ExternalConstraintsProfileDisallowed", DataType.BOOLEAN, mutability=rw, persistent=True,
        getter=lambda: "false" if (e := energy()) is None or e.store.limits.external_constraints_allowed else "true",
        setter=lambda v: set_limit(external_constraints_allowed=v == "false"))
    add(SMART, "MaxExternalConstraintsId", DataType.INTEGER, mutability=rw, persistent=True,
        getter=lambda: str(e.store.limits.max_external_constraints_id or 0) if (e := energy()) is not None else "0",
        setter=lambda v: set_limit(max_external_constraints_id=int(v) or None))

    def modes_supported() -> tuple[OperationMode, ...]:
        e = energy()
        return tuple(m for m in OperationMode if e is None or m in e.store.limits.operation_modes)

    plan = sampling_of(station)
    for evse in station.evses.values():
        _add_evse(dm, station, state, evse, modes_supported(), plan, on_enabled)
    e = energy()
    if e is not None:
        sync_load_balancing(e)


def _add_evse(dm: DeviceModel, station: Station, state: SmartState, evse: Evse, modes: tuple[OperationMode, ...],
              plan: V2XSampling, on_enabled: Callable[[int], None]) -> None:
    rw = Mutability.READ_WRITE
    add = dm.add
    c = Component(V2X, evse_id=evse.id)
    evse_id = evse.id

    def set_enabled(v: str) -> None:
        state.v2x_enabled[evse_id] = v == "true"
        on_enabled(evse_id)

    def energy_evse() -> tuple[EnergyManager, EvseEnergy]:
        e = energy_of(station)
        if e is None or evse_id not in e.evses:
            raise ValueError("smart charging is not available")
        return e, e.evses[evse_id]

    add(c, "Enabled", DataType.BOOLEAN, mutability=rw, persistent=True,
        getter=lambda: "true" if state.v2x_enabled.get(evse_id, True) else "false", setter=set_enabled)
    add(c, "SupportedEnergyTransferModes", DataType.MEMBER_LIST, values_list=tuple(sorted(DC_MODES)),
        getter=lambda: "DC,DC_BPT" if can_discharge(station, evse) else "DC")
    add(c, "SupportedOperationModes", DataType.MEMBER_LIST, values_list=tuple(m.value for m in OperationMode),
        getter=lambda: ",".join(m.value for m in OperationMode
                                if (e := energy_of(station)) is None or m in e.store.limits.operation_modes))

    def get_threshold() -> str:
        e = energy_of(station)
        return f"{e.evses[evse_id].frequency_threshold_mhz:.0f}" if e is not None else "0"

    def set_threshold(v: str) -> None:
        e, ee = energy_evse()
        ee.frequency_threshold_mhz = float(v)
        e.reevaluate(evse_id)

    add(c, "LocalFrequencyUpdateThreshold", DataType.INTEGER, mutability=rw, persistent=True, unit="mHz",
        min_limit=0, getter=get_threshold, setter=set_threshold)

    for instance, attr in LOAD_BALANCING.items():
        def get_lb(attr: str = attr) -> str | None:
            e = energy_of(station)
            return _num(getattr(e.evses[evse_id].load_balancing, attr)) if e is not None else None

        def set_lb(v: str, attr: str = attr) -> None:
            e, ee = energy_evse()
            setattr(ee.load_balancing, attr, float(v))
            sync_load_balancing(e)
            e.reevaluate(evse_id)

        add(c, "LocalLoadBalancing", DataType.DECIMAL, instance=instance, mutability=rw, persistent=True, unit="W",
            getter=get_lb, setter=set_lb)

    for mode in modes:
        ms = plan.settings(evse_id, mode)
        for name, attr in (("TxStartedMeasurands", "started"), ("TxUpdatedMeasurands", "updated"),
                           ("TxEndedMeasurands", "ended")):
            add(c, name, DataType.MEMBER_LIST, instance=mode.value, mutability=rw, persistent=True,
                values_list=MEASURANDS, **_bound(ms, attr, lambda x: ",".join(m.value for m in x), parse_measurands))
        for name, attr in (("TxUpdatedInterval", "updated_interval_s"), ("TxEndedInterval", "ended_interval_s")):
            add(c, name, DataType.INTEGER, instance=mode.value, mutability=rw, persistent=True, unit="s",
                min_limit=0, **_bound(ms, attr, str, int))


def _bound(obj: object, attr: str, show: Callable[[Any], str], parse: Callable[[str], Any]) -> dict[str, Any]:
    """getter / setter of a variable bound to ``obj.attr``."""
    def getter() -> str:
        return show(getattr(obj, attr))

    def setter(v: str) -> None:
        setattr(obj, attr, parse(v))

    return {"getter": getter, "setter": setter}
