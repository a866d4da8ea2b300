"""OCPP 2.0.1 smart charging, charging-station side: :class:`V201SmartCharging`, a mixin of
:class:`~chargepoint.ocpp.v201.V201Adapter` (:class:`~chargepoint.ocpp.v21_v2x.V21V2X` adds the 2.1 parts).

Every request goes to the version-neutral core through the station's
:class:`~chargepoint.energy.manager.EnergyManager` (``station.energy``); without one the smart-charging requests are
answered CALLERROR NotSupported.

* SetChargingProfile: ``from_ocpp`` -> ``store.add`` (with the running transactions) -> ``reevaluate`` before the
  answer, so the port already has the new setpoint when the CSMS reads Accepted. Rejected carries the core's
  Rejection as ``statusInfo`` (reasonCode / additionalInfo); a ChargingStationExternalConstraints profile from the
  CSMS is refused there (K01.FR.22).
* GetChargingProfiles: Accepted / NoProfiles, then (after the answer) ReportChargingProfiles per EVSE and
  chargingLimitSource, ``tbc`` on all but the last.
* ClearChargingProfile: Accepted / Unknown. GetCompositeSchedule: the manager's composite, clamped by what the
  charger and the car allow, i.e. what the station will do; an unknown EVSE or rate unit is Rejected.
* RequestStartTransaction with a TxProfile: the 2.0.1 handler keeps the profile; it is installed bound to the new
  transaction as soon as that exists (ignored while SmartChargingCtrlr.Enabled is false).
* NotifyEVChargingNeeds, once per transaction, after its TransactionEvent Started, when the car has told all its
  limits (CHAdeMO: its 0x100 voltage and the end of its 102.3 / 200.0 ramps, see :func:`ev_max_current_a`).
* NotifyChargingLimit / ClearedChargingLimit queued by the EMS API (:mod:`chargepoint.ocpp.smart_state`).

CALLs built from the codec's camelCase go out unchanged through :meth:`V201SmartCharging.send_camel` (the library's
key conversion is lossy for 2.1). Work that answers no request runs in a small task beside the receive loop
(:meth:`V201SmartCharging.run_connection`), woken by events and every ``SMART_PERIOD_S``. The end of a connection
marks the station offline for the profiles (maxOfflineDuration); the next connection drops the profiles that became
invalid meanwhile (invalidAfterOfflineDuration).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import ocpp.charge_point
from ocpp.charge_point import camel_to_snake_case
from ocpp.exceptions import NotSupportedError
from ocpp.messages import Call, MessageType, validate_payload
from ocpp.routing import after, on
from websockets.exceptions import ConnectionClosed

from chargepoint.energy.manager import EnergyManager
from chargepoint.energy.model import ChargingProfile, Purpose, RateUnit
from chargepoint.energy.ocpp_codec import NegativeLimitPolicy, ProfileFormatError, composite_to_ocpp, from_ocpp, to_ocpp
from chargepoint.energy.validation import Rejection
from chargepoint.hardware.interfaces import PortPhase
from chargepoint.ocpp.device_model import DeviceModel
from chargepoint.ocpp.smart_state import (
    SMART,
    LimitNotice,
    add_smart_variables,
    camel,
    energy_of,
    smart_state,
    status_info,
    tx_ids,
)
from chargepoint.station.actions import TransactionEnded, TransactionStarted, TransactionUpdated
from chargepoint.station.core import Evse, Station

if TYPE_CHECKING:
    from chargepoint.ocpp.base import SessionHooks

log = logging.getLogger("chargepoint.ocpp.smart")

SMART_PERIOD_S = 0.5
TxAction = TransactionStarted | TransactionUpdated | TransactionEnded


def ev_max_current_a(evse: Evse) -> float | None:
    """The car's max charge current: what the port reports, else (CHAdeMO, which carries no maximum) the highest
    current the car has requested in this session (102.3 ``ev_max_request_a``: where its ramp ends, once the port
    says ``ev_limits_complete``); None while neither is known. Never the present request: it ramps up 2 A per cycle
    and goes down again at the end."""
    st = evse.connector.state
    if st is None or st.phase is PortPhase.UNPLUGGED:
        return None
    if st.ev_max_charge_current_a is not None:
        return st.ev_max_charge_current_a
    peak = st.details.get("ev_max_request_a")
    return float(peak) if isinstance(peak, int | float) and peak > 0 else None


def ev_limits_complete(evse: Evse) -> bool:
    """Whether the car has told all its limits (a port that knows them at once does not say: True)."""
    st = evse.connector.state
    return st is not None and st.details.get("ev_limits_complete", True) is True


# ---------------------------------------------------------------------------------------------------- the mixin
class V201SmartCharging:
    """Smart-charging handlers and duties of the 2.0.1 adapter (also the base of the 2.1 ones)."""

    if TYPE_CHECKING:
        version: ClassVar[str]
        station: Station
        hooks: SessionHooks
        device_model: DeviceModel
        _call_result: Any
        _ocpp_version: str
        _response_timeout: float
        _call_lock: asyncio.Lock
        _unique_id_generator: Callable[[], Any]
        _state: Any  # chargepoint.ocpp.v201._StationState (seqNo of open transactions)

        @property
        def tx_profiles(self) -> dict[int, dict[str, Any]]: ...

        async def _send(self, message: str) -> None: ...

        async def _get_specific_response(self, unique_id: str, timeout: float) -> Any: ...

        def _tx_payload(self, action: TxAction, seq: int) -> dict[str, Any]: ...

    # ------------------------------------------------------------------ wiring
    def bind_smart_charging(self) -> None:
        """Called by the adapter's constructor: state, the duty loop's wake-up, the device-model variables."""
        self._smart = smart_state(self.station)
        self._smart_wake = asyncio.Event()
        self._smart.wake = self._smart_wake.set
        self._profile_reports: dict[int, list[ChargingProfile]] = {}
        if self.energy is not None:
            self.energy.store.use_rules_of(self.version)  # the version this connection negotiated
            if self.device_model.find(SMART, "Enabled") is None:
                add_smart_variables(self.device_model, self.station, self._smart)

    @property
    def energy(self) -> EnergyManager | None:
        return energy_of(self.station)

    def _require_energy(self) -> EnergyManager:
        energy = self.energy
        if energy is None:
            raise NotSupportedError(description="smart charging is not available on this station")
        return energy

    def negative_limit_policy(self) -> NegativeLimitPolicy:
        return "discharge" if self._smart.negative_limit_policy == "Discharge" else "reject"

    async def run_connection(self) -> None:
        """The library's receive loop (``ocpp.ChargePoint.start``) plus this connection's smart-charging duties."""
        self._came_online()
        duties = asyncio.create_task(self._duty_loop(), name="smart-charging")
        try:
            await ocpp.charge_point.ChargePoint.start(self)
        finally:
            duties.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await duties
            self._went_offline()

    def _came_online(self) -> None:
        energy = self.energy
        if energy is None or energy.offline_since is None:
            return
        dropped = energy.store.expire_offline(energy.offline_since, self.station.clock.now())
        if dropped:
            log.info("profiles %s expired while offline (invalidAfterOfflineDuration)", list(dropped))
        energy.offline_since = None
        energy.reevaluate()

    def _went_offline(self) -> None:
        if self._smart.wake == self._smart_wake.set:
            self._smart.wake = None
        energy = self.energy
        if energy is not None and energy.offline_since is None:
            energy.offline_since = self.station.clock.now()
            energy.reevaluate()

    async def _duty_loop(self) -> None:
        while True:
            self._smart_wake.clear()
            try:
                await self.smart_duties()
            except ConnectionClosed:
                return
            except TimeoutError as e:
                log.warning("smart-charging message unanswered: %s", e)
            except Exception:  # a duty that fails must not end the others
                log.exception("smart-charging duty failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._smart_wake.wait(), SMART_PERIOD_S)

    async def smart_duties(self) -> None:
        """One pass of the work that answers no request (tests call it directly in virtual time)."""
        energy = self.energy
        if energy is None:
            return
        self._local_duties(energy)
        if self.hooks.registration_status == "Accepted":  # B02: nothing else before the CSMS accepted us
            await self._online_duties(energy)

    def _local_duties(self, energy: EnergyManager) -> None:
        self._bind_start_profiles(energy)

    async def _online_duties(self, energy: EnergyManager) -> None:
        await self._send_notices()
        await self._send_charging_needs()

    def smart_transaction_action(self, action: TxAction) -> None:
        """Called for every TransactionEvent before it is sent: a TxProfile from RequestStartTransaction is bound
        to its transaction; what belonged to an ended one is dropped."""
        energy = self.energy
        if energy is None:
            return
        if isinstance(action, TransactionEnded):
            energy.transaction_ended(action.tx_id)  # the station did it already when the transaction ended
            self._smart.needs_sent.discard(action.tx_id)
            self._transaction_ended(energy, action)
        else:
            self._bind_start_profiles(energy)
        self._smart_wake.set()

    def _transaction_ended(self, energy: EnergyManager, action: TransactionEnded) -> None:
        energy.reevaluate(action.evse_id)

    def _profile_installed(self, profile: ChargingProfile) -> None:
        """Hook for the 2.1 layer (dynamic profiles)."""

    # ------------------------------------------------------------------ outbound
    async def send_camel(self, action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """A CALL whose payload is in the exact schema spelling, sent unchanged (validated, one CALL in flight, like
        ``ocpp.ChargePoint.call``). Returns the CALLRESULT payload, None after a CALLERROR."""
        msg = Call(unique_id=str(self._unique_id_generator()), action=action, payload=payload)
        await validate_payload(msg, self._ocpp_version)
        async with self._call_lock:
            await self._send(msg.to_json())
            response = await self._get_specific_response(msg.unique_id, self._response_timeout)
        if response.message_type_id == MessageType.CallError:
            log.warning("%s answered with CALLERROR %s", action, response.error_code)
            return None
        response.action = action
        await validate_payload(response, self._ocpp_version)
        result: dict[str, Any] = response.payload
        return result

    async def _send_notices(self) -> None:
        notices = self._smart.notices
        while notices:
            notice = notices.popleft()
            try:
                await self.send_camel(notice.action, self.limit_notice_payload(notice))
            except BaseException:  # not delivered (time-out, connection lost): first in line for the next pass
                notices.appendleft(notice)
                raise

    def limit_notice_payload(self, n: LimitNotice) -> dict[str, Any]:
        if n.action == "ClearedChargingLimit":
            out: dict[str, Any] = {"chargingLimitSource": n.source}
        else:
            limit: dict[str, Any] = {"chargingLimitSource": n.source}
            if n.grid_critical is not None:
                limit["isGridCritical"] = n.grid_critical
            out = {"chargingLimit": limit}
            if self._smart.notify_with_schedules and n.profile is not None:
                body = to_ocpp(n.profile, self.version, negative_limit_policy=self.negative_limit_policy())
                out["chargingSchedule"] = body["chargingSchedule"]
        if n.evse_id > 0:
            out["evseId"] = n.evse_id
        return out

    async def _send_charging_needs(self) -> None:
        for evse in self.station.evses.values():
            tx = evse.tx
            if tx is None or tx.tx_id in self._smart.needs_sent or self._state.seq.get(tx.tx_id, 0) == 0:
                continue  # no transaction, already told, or its TransactionEvent Started is not out yet
            payload = self.charging_needs_payload(evse)
            if payload is None:
                continue  # the car's limits are not known yet
            self._smart.needs_sent.add(tx.tx_id)
            res = await self.send_camel("NotifyEVChargingNeeds", payload)
            log.info("NotifyEVChargingNeeds for EVSE %d: %s", evse.id, (res or {}).get("status", "CALLERROR"))

    def charging_needs_payload(self, evse: Evse) -> dict[str, Any] | None:
        """NotifyEVChargingNeeds from what the port knows about the car (DC); None while that is unknown."""
        st = evse.connector.state
        max_a = ev_max_current_a(evse)
        if st is None or max_a is None or st.ev_max_voltage_v is None or not ev_limits_complete(evse):
            return None
        dc: dict[str, Any] = {"evMaxCurrent": math.floor(max_a), "evMaxVoltage": math.floor(st.ev_max_voltage_v)}
        if st.ev_capacity_wh is not None:
            dc["evEnergyCapacity"] = round(st.ev_capacity_wh)
        if st.soc_percent is not None:
            dc["stateOfCharge"] = round(st.soc_percent)
            if st.ev_capacity_wh is not None:
                full = st.ev_soc_max_percent if st.ev_soc_max_percent is not None else 100.0
                dc["energyAmount"] = max(0, round((full - st.soc_percent) / 100.0 * st.ev_capacity_wh))
        if st.ev_soc_max_percent is not None:
            dc["fullSoC"] = round(st.ev_soc_max_percent)
        return {"evseId": evse.id, "chargingNeeds": {"requestedEnergyTransfer": "DC", "dcChargingParameters": dc}}

    def _bind_start_profiles(self, energy: EnergyManager) -> None:
        """Install the TxProfile that came with RequestStartTransaction once its transaction exists."""
        for evse in self.station.evses.values():
            tx = evse.tx
            if tx is None or tx.remote_start_id is None or tx.remote_start_id not in self.tx_profiles:
                continue
            raw = self.tx_profiles.pop(tx.remote_start_id)
            if not self._smart.enabled:
                log.info("SmartChargingCtrlr.Enabled is false: the TxProfile of remote start %d is ignored",
                         tx.remote_start_id)
                continue
            try:
                profile = from_ocpp(camel(raw), self.version, evse_id=evse.id,
                                    negative_limit_policy=self.negative_limit_policy())
            except ProfileFormatError as e:
                log.warning("TxProfile of remote start %d unusable: %s", tx.remote_start_id, e)
                continue
            res = energy.store.add(profile.with_transaction(tx.tx_id), active_tx_ids=tx_ids(self.station))
            if res.accepted and res.profile is not None:
                energy.reevaluate(evse.id)
                self._profile_installed(res.profile)
            else:
                log.warning("TxProfile of remote start %d refused: %s", tx.remote_start_id, res.rejection)

    # ------------------------------------------------------------------ K01 SetChargingProfile
    @on("SetChargingProfile")
    def on_set_charging_profile(self, evse_id: int, charging_profile: dict[str, Any], **_: Any) -> Any:
        energy = self._require_energy()
        result = self._call_result.SetChargingProfile
        if not self._smart.enabled:
            return result(status="Rejected", status_info=status_info("NotEnabled", "SmartChargingCtrlr.Enabled"))
        try:
            profile = from_ocpp({"evseId": evse_id, "chargingProfile": camel(charging_profile)}, self.version,
                                negative_limit_policy=self.negative_limit_policy())
        except ProfileFormatError as e:
            return result(status="Rejected", status_info=status_info("FormatViolation", str(e)))
        res = energy.store.add(profile, active_tx_ids=tx_ids(self.station))
        if not res.accepted or res.profile is None:
            rej = res.rejection or Rejection("InvalidProfile", "refused")
            log.info("SetChargingProfile %d on EVSE %d rejected: %s", profile.id, evse_id, rej)
            return result(status="Rejected", status_info=status_info(rej.code, rej.reason))
        energy.reevaluate(profile.evse_id)
        self._profile_installed(res.profile)
        return result(status="Accepted")

    # ------------------------------------------------------------------ K09 GetChargingProfiles
    @on("GetChargingProfiles")
    def on_get_charging_profiles(self, request_id: int, charging_profile: dict[str, Any], evse_id: int | None = None,
                                 **_: Any) -> Any:
        energy = self._require_energy()
        purpose = charging_profile.get("charging_profile_purpose")
        found = [p for p in energy.store.query(
            evse_id=evse_id, profile_ids=charging_profile.get("charging_profile_id"),
            purpose=Purpose(purpose) if purpose else None, stack_level=charging_profile.get("stack_level"),
            limit_sources=charging_profile.get("charging_limit_source"),
        ) if self._expressible(p)]
        if not found:
            return self._call_result.GetChargingProfiles(status="NoProfiles")
        self._profile_reports[request_id] = found
        return self._call_result.GetChargingProfiles(status="Accepted")

    @after("GetChargingProfiles")
    async def after_get_charging_profiles(self, request_id: int, **_: Any) -> None:
        profiles = self._profile_reports.pop(request_id, None)
        if not profiles:
            return
        try:
            await self.report_charging_profiles(request_id, profiles)
        except Exception as e:  # runs as a detached task: log instead of losing the error
            log.warning("ReportChargingProfiles for request %d not delivered: %s", request_id, e or type(e).__name__)

    def _expressible(self, p: ChargingProfile) -> bool:
        try:
            to_ocpp(p, self.version)
        except ValueError:
            return False
        return True

    async def report_charging_profiles(self, request_id: int, profiles: list[ChargingProfile]) -> None:
        """One ReportChargingProfiles per EVSE and chargingLimitSource; ``tbc`` on all but the last (K09.FR.04)."""
        groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
        for p in profiles:
            body = to_ocpp(p, self.version, negative_limit_policy=self.negative_limit_policy())
            groups.setdefault((p.evse_id, p.limit_source), []).append(body)
        for n, ((evse_id, source), items) in enumerate(groups.items()):
            await self.send_camel("ReportChargingProfiles", {
                "requestId": request_id, "chargingLimitSource": source, "evseId": evse_id,
                "chargingProfile": items, "tbc": n < len(groups) - 1,
            })

    # ------------------------------------------------------------------ K10 ClearChargingProfile
    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, charging_profile_id: int | None = None,
                                  charging_profile_criteria: dict[str, Any] | None = None, **_: Any) -> Any:
        energy = self._require_energy()
        crit = charging_profile_criteria or {}
        purpose = crit.get("charging_profile_purpose")
        res = energy.store.clear(charging_profile_id, evse_id=crit.get("evse_id"),
                                 purpose=Purpose(purpose) if purpose else None, stack_level=crit.get("stack_level"))
        if not res.matched:
            return self._call_result.ClearChargingProfile(status="Unknown")
        energy.reevaluate()
        return self._call_result.ClearChargingProfile(status="Accepted")

    # ------------------------------------------------------------------ K08 GetCompositeSchedule
    @on("GetCompositeSchedule")
    def on_get_composite_schedule(self, duration: int, evse_id: int, charging_rate_unit: str | None = None,
                                  **_: Any) -> Any:
        energy = self._require_energy()
        result = self._call_result.GetCompositeSchedule
        if evse_id != 0 and evse_id not in self.station.evses:
            return result(status="Rejected", status_info=status_info("UnknownEvse", f"no EVSE {evse_id}"))
        units = energy.store.limits.rate_units
        unit = RateUnit(charging_rate_unit) if charging_rate_unit else (RateUnit.W if RateUnit.W in units
                                                                        else RateUnit.A)
        if unit not in units:
            return result(status="Rejected", status_info=status_info("UnsupportedRateUnit", f"{unit} not in RateUnit"))
        if duration < 0:
            return result(status="Rejected", status_info=status_info("InvalidValue", "negative duration"))
        sched = energy.composite_schedule(evse_id, self.station.clock.now(), duration, unit)
        body = composite_to_ocpp(sched, self.version, negative_limit_policy=self.negative_limit_policy())
        return result(status="Accepted", schedule=camel_to_snake_case(body))
