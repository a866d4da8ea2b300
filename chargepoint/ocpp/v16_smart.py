"""OCPP 1.6 Smart Charging, charge-point side: a mixin for :class:`~chargepoint.ocpp.v16.V16Adapter`.

The profiles live in the station's version-neutral :class:`~chargepoint.energy.profiles.ProfileStore`
(``station.energy.store``, persisted); the :class:`~chargepoint.energy.manager.EnergyManager` turns them into each
connector's setpoint every station tick, and at once after every change here (``reevaluate``). A station without an
energy manager does not offer the profile: SmartCharging is left out of SupportedFeatureProfiles and
SetChargingProfile answers NotSupported. The adapter switches the store to the 1.6 rules when it is built for a
connection (:meth:`V16SmartCharging.bind_smart_charging`), whatever version the station offered first.

Behaviour per message (OCPP 1.6 §3.13, §5.5, §5.7, §5.11, §5.16):

* **SetChargingProfile** (connectorId, csChargingProfiles) -> Accepted | Rejected | NotSupported.
  Rejected: unknown connector; a profile the codec cannot read; a ``transactionId`` that is not a transaction of this
  station (TC_058_2); a TxProfile on connector 0 or on a connector without a transaction (TC_058_1); a
  ChargePointMaxProfile on a connector > 0; a negative limit while ``NegativeLimitPolicy = Reject``; stackLevel,
  periods, rate unit or profile count beyond the configuration keys; every other rule of
  :mod:`chargepoint.energy.validation`. Accepted: installed, replacing the profile with the same id or with the same
  stackLevel + purpose on the same connector (§3.13.2), and applied at once. The CSMS's integer ``transactionId`` is
  mapped to the station's own transaction id (``V16State.tx_ids``) and the profile is bound to that transaction; a
  TxProfile without one is bound to the transaction running on the connector.
* **ClearChargingProfile** (id?, connectorId?, chargingProfilePurpose?, stackLevel?) -> Accepted when at least one
  profile was removed, else Unknown. With ``id`` only that profile (the other fields are ignored); otherwise every
  profile matching all given fields; ``connectorId`` 0 = the station-wide profiles only, absent = any connector.
* **GetCompositeSchedule** (connectorId, duration, chargingRateUnit?) -> Rejected for an unknown connector or a unit
  the station does not accept (ChargingScheduleAllowedChargingRateUnit), or without an energy manager; otherwise
  Accepted with connectorId, scheduleStart (now) and chargingSchedule over [now, now + duration]: what the station
  will actually do, i.e. the profiles clamped by the charger's ratings and the connected car's limits
  (:meth:`EnergyManager.composite_schedule`); connectorId 0 = the grid connection (the connectors' sum within the
  ChargePointMaxProfile). Unit: the requested one; without one, the unit of the profiles that make up the schedule
  when they agree, else W. Limits are rounded toward zero to 0.1 (``multipleOf 0.1``). With
  ``NegativeLimitPolicy = Discharge`` a discharge setpoint is reported as a negative limit.
* **RemoteStartTransaction** with chargingProfile: it must be a TxProfile without transactionId (else Rejected and
  nothing starts, TC_060) that the station would install on that connector. It is installed, bound to the new
  transaction, when that transaction starts (:meth:`V16SmartCharging.transaction_starting`, called by the adapter
  before StartTransaction goes out). The remote start is tagged with an internal remoteStartId (1.6 has none on the
  wire), so the profile goes to exactly the transaction this remote start began, never to a later one.
* A transaction's TxProfiles are removed when it ends (the station tells the energy manager; all versions).

The vendor configuration key ``NegativeLimitPolicy`` (v16_config) decides how a negative ``limit`` is read in the
profiles received from then on: ``Reject`` (default) refuses the profile, ``Discharge`` means discharge of that
magnitude (docs/smart-charging.md, "The negative-limit switch").
"""

from __future__ import annotations

import itertools
import logging
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from chargepoint.clock import iso
from chargepoint.energy.manager import EnergyManager
from chargepoint.energy.model import ChargingProfile, Purpose, RateUnit
from chargepoint.energy.ocpp_codec import ProfileFormatError, composite_to_ocpp, from_ocpp
from chargepoint.energy.validation import validate_profile
from chargepoint.ocpp.keyfix import snake_to_camel_case
from chargepoint.ocpp.v16_config import negative_limit_policy
from chargepoint.station.actions import TransactionStarted
from chargepoint.station.core import Station
from chargepoint.station.types import CommandStatus, IdToken

if TYPE_CHECKING:
    from chargepoint.ocpp.v16 import V16State

log = logging.getLogger("chargepoint.ocpp.v16.smart")

ACCEPTED = "Accepted"
REJECTED = "Rejected"
NOT_SUPPORTED = "NotSupported"
UNKNOWN = "Unknown"

PURPOSES_16 = {
    "ChargePointMaxProfile": Purpose.STATION_MAX,
    "TxDefaultProfile": Purpose.TX_DEFAULT,
    "TxProfile": Purpose.TX,
}
UNITS_16 = {"A": RateUnit.A, "W": RateUnit.W}


@dataclass
class V16SmartState:
    """Per-station bookkeeping that must outlive one connection: the profiles of accepted remote starts, by the
    internal remoteStartId the station carries into the transaction."""

    pending: dict[int, ChargingProfile] = field(default_factory=dict)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))


_STATES: weakref.WeakKeyDictionary[Station, V16SmartState] = weakref.WeakKeyDictionary()


def v16_smart_state(station: Station) -> V16SmartState:
    state = _STATES.get(station)
    if state is None:
        state = _STATES[station] = V16SmartState()
    return state


class V16SmartCharging:
    """The SmartCharging feature profile. Needs ``station`` and ``state`` (V16State) from the adapter."""

    station: Station
    state: V16State

    # ------------------------------------------------------------------ helpers
    def bind_smart_charging(self) -> None:
        """Called by the adapter's constructor: the profile store applies the 1.6 rules on this connection."""
        energy = self.energy_manager()
        if energy is not None:
            energy.store.use_rules_of("1.6")

    def energy_manager(self) -> EnergyManager | None:
        energy = self.station.energy
        return energy if isinstance(energy, EnergyManager) else None

    def _active_tx_ids(self) -> dict[int, str | None]:
        """The 1.6 transaction on each connector: started in the model and announced (or to be announced) with
        StartTransaction; one still waiting for its idTag (EVConnected start point) is no 1.6 transaction yet."""
        return {
            evse_id: evse.tx.tx_id if evse.tx is not None and evse.tx.tx_id not in self.state.deferred else None
            for evse_id, evse in self.station.evses.items()
        }

    def _parse(self, data: Mapping[str, Any], connector_id: int) -> ChargingProfile:
        """A 1.6 profile as the library hands it over (snake_case keys) -> the model. Raises ProfileFormatError."""
        body = snake_to_camel_case(dict(data))
        return from_ocpp(body, "1.6", evse_id=connector_id,
                         negative_limit_policy=negative_limit_policy(self.station))

    # ------------------------------------------------------------------ SetChargingProfile
    @on(Action.set_charging_profile, skip_schema_validation=True)
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any]
    ) -> call_result.SetChargingProfile:
        return call_result.SetChargingProfile(status=self.set_charging_profile(connector_id, cs_charging_profiles))

    def set_charging_profile(self, connector_id: int, data: Mapping[str, Any]) -> str:
        energy = self.energy_manager()
        if energy is None:
            return NOT_SUPPORTED
        pid = data.get("charging_profile_id")
        if connector_id != 0 and connector_id not in self.station.evses:
            log.info("SetChargingProfile %s: connector %s does not exist", pid, connector_id)
            return REJECTED
        try:
            profile = self._parse(data, connector_id)
        except ProfileFormatError as e:
            log.info("SetChargingProfile %s: %s", pid, e)
            return REJECTED
        csms_tx = data.get("transaction_id")
        if csms_tx is not None:
            tx_id = self.state.station_tx_id(int(csms_tx))
            if tx_id is None:
                log.info("SetChargingProfile %s: transaction %s is not one of this station's", pid, csms_tx)
                return REJECTED
            profile = profile.with_transaction(tx_id)
        result = energy.store.add(profile, active_tx_ids=self._active_tx_ids())
        if not result.accepted:
            log.info("SetChargingProfile %s on connector %s rejected: %s", pid, connector_id, result.rejection)
            return REJECTED
        log.info("SetChargingProfile %s (%s, stackLevel %s) installed on connector %s%s", profile.id, profile.purpose,
                 profile.stack_level, connector_id,
                 f", replacing {list(result.replaced_ids)}" if result.replaced_ids else "")
        energy.reevaluate(connector_id)
        return ACCEPTED

    # ------------------------------------------------------------------ ClearChargingProfile
    @on(Action.clear_charging_profile, skip_schema_validation=True)
    def on_clear_charging_profile(
        self,
        id: int | None = None,  # the library passes the payload's keys as keyword arguments
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
    ) -> call_result.ClearChargingProfile:
        energy = self.energy_manager()
        if energy is None:
            return call_result.ClearChargingProfile(status=UNKNOWN)
        purpose = PURPOSES_16[charging_profile_purpose] if charging_profile_purpose is not None else None
        result = energy.store.clear(id, evse_id=connector_id, purpose=purpose, stack_level=stack_level)
        if not result.matched:
            return call_result.ClearChargingProfile(status=UNKNOWN)
        log.info("ClearChargingProfile: removed %s", list(result.removed_ids))
        energy.reevaluate(None)
        return call_result.ClearChargingProfile(status=ACCEPTED)

    # ------------------------------------------------------------------ GetCompositeSchedule
    @on(Action.get_composite_schedule, skip_schema_validation=True)
    def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None
    ) -> call_result.GetCompositeSchedule:
        energy = self.energy_manager()
        allowed = energy.store.limits.rate_units if energy is not None else frozenset()
        unit = UNITS_16[charging_rate_unit] if charging_rate_unit is not None else None
        if (
            energy is None
            or duration < 0
            or (connector_id != 0 and connector_id not in self.station.evses)
            or (unit is not None and unit not in allowed)
        ):
            return call_result.GetCompositeSchedule(status=REJECTED)
        start = self.station.clock.now()
        schedule = energy.composite_schedule(connector_id, start, duration, unit or RateUnit.W)
        if unit is None:
            units = {
                p.schedule.rate_unit
                for period in schedule.periods for i in period.source_ids if (p := energy.store.get(i)) is not None
            }
            if len(units) == 1 and (own := units.pop()) is not RateUnit.W and own in allowed:
                schedule = energy.composite_schedule(connector_id, start, duration, own)
        body = composite_to_ocpp(schedule, "1.6", negative_limit_policy=negative_limit_policy(self.station))
        return call_result.GetCompositeSchedule(
            status=ACCEPTED,
            connector_id=body["connectorId"],
            schedule_start=iso(start),
            charging_schedule=body["chargingSchedule"],
        )

    # ------------------------------------------------------------------ RemoteStartTransaction with a profile
    def remote_start_with_profile(self, id_tag: str, connector_id: int | None, data: Mapping[str, Any]) -> str:
        """RemoteStartTransaction carrying chargingProfile (the adapter has checked registration and connector).
        Returns the RemoteStartStatus."""
        if data.get("charging_profile_purpose") != "TxProfile" or data.get("transaction_id") is not None:
            log.info("RemoteStartTransaction: the profile must be a TxProfile without transactionId (§5.11)")
            return REJECTED
        energy = self.energy_manager()
        if energy is None:
            log.info("RemoteStartTransaction: no smart charging on this station; profile %s ignored",
                     data.get("charging_profile_id"))
            status = self.station.remote_start(IdToken(id_tag), connector_id)
            return ACCEPTED if status == CommandStatus.ACCEPTED else REJECTED
        target = connector_id if connector_id is not None else min(self.station.evses)
        try:
            profile = self._parse(data, target)
        except ProfileFormatError as e:
            log.info("RemoteStartTransaction: %s", e)
            return REJECTED
        rejection = validate_profile(profile, "1.6", limits=energy.store.limits,
                                     active_tx_ids={target: "remote-start"})
        if rejection is not None:
            log.info("RemoteStartTransaction: profile %s refused: %s", profile.id, rejection)
            return REJECTED
        st = v16_smart_state(self.station)
        self._forget_stale_remote_starts(st)
        remote_start_id = next(st.ids)
        status = self.station.remote_start(IdToken(id_tag), connector_id, remote_start_id)
        if status != CommandStatus.ACCEPTED:
            return REJECTED
        st.pending[remote_start_id] = profile
        return ACCEPTED

    def _forget_stale_remote_starts(self, st: V16SmartState) -> None:
        """Drop the profiles of remote starts that can no longer start a transaction (timed out, refused)."""
        live = set()
        for evse in self.station.evses.values():
            if evse.pending is not None and evse.pending.remote_start_id is not None:
                live.add(evse.pending.remote_start_id)
            if evse.tx is not None and evse.tx.remote_start_id is not None:
                live.add(evse.tx.remote_start_id)
        for rid in set(st.pending) - live:
            del st.pending[rid]

    def transaction_starting(self, started: TransactionStarted) -> None:
        """The adapter is about to send StartTransaction: install the profile of the remote start that began this
        transaction (bound to it). Idempotent: a retried StartTransaction finds nothing left to install."""
        st = _STATES.get(self.station)
        energy = self.energy_manager()
        if st is None or not st.pending or energy is None:
            return
        rid = started.remote_start_id
        if rid is None:  # started before the idTag was known: the model has it by now
            tx = self.station.find_tx(started.tx_id)
            rid = tx.remote_start_id if tx is not None else None
        profile = st.pending.pop(rid, None) if rid is not None else None
        self._forget_stale_remote_starts(st)
        if profile is None:
            return
        profile = replace(profile.with_transaction(started.tx_id), evse_id=started.evse_id)
        result = energy.store.add(profile, active_tx_ids={started.evse_id: started.tx_id})
        if not result.accepted:
            log.warning("RemoteStartTransaction profile %s could not be installed: %s", profile.id, result.rejection)
            return
        log.info("RemoteStartTransaction profile %s installed for transaction %s", profile.id, started.tx_id)
        energy.reevaluate(started.evse_id)
