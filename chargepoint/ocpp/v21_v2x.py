"""OCPP 2.1 V2X on the charging-station side: :class:`V21V2X`, a mixin of :class:`~chargepoint.ocpp.v21.V21Adapter`
on top of the 2.0.1 smart charging (:mod:`chargepoint.ocpp.v201_smart`).

The arbitration core implements every operationMode (Idle, ChargingOnly, CentralSetpoint, ExternalSetpoint,
ExternalLimits, CentralFrequency, LocalFrequency with v2xFreqWattCurve + v2xBaseline at ``energy.frequency_hz``,
LocalLoadBalancing); this module carries the 2.1 messages to and from it:

* NotifyEVChargingNeeds gains ``v2xChargingParameters`` and, when the car can discharge (its present max discharge
  current > 0, or a CHAdeMO car that announced V2H), the charger can and V2XChargingCtrlr.Enabled, ``DC_BPT`` in
  requested / available energy transfer. Powers are the car's currents at the present voltage.
* NotifyAllowedEnergyTransfer (CSMS -> station) restricts a transaction to the modes allowed: without a BPT mode the
  car is not discharged, without any DC mode it gets no energy at all. Enforced by an :class:`EnergyTransferGate`
  around the EVSE's local policy (so arbitration, and therefore the port, never leaves it); lifted when the
  transaction ends. V2XChargingCtrlr.Enabled = false gates discharge the same way.
* UpdateDynamicSchedule -> ``store.update_dynamic`` -> reevaluate (Accepted / Rejected with the core's reason).
  PullDynamicScheduleUpdate: every Dynamic profile with a dynUpdateInterval is pulled that long after its last
  update (or installation); an update in the answer is applied at once.
* AFRRSignal sets ``energy.afrr_signal`` at its timestamp (at once when that has passed).
* LocalFrequency (Q08) follows ``energy.frequency_hz``, the site meter's grid frequency, once it moved by
  V2XChargingCtrlr.LocalFrequencyUpdateThreshold; LocalLoadBalancing (Q09) keeps the site meter's import inside
  V2XChargingCtrlr.LocalLoadBalancing's thresholds (:mod:`chargepoint.energy.manager`, ``arbitration``).
* UsePriorityCharging (K21): Accepted (the PriorityCharging profile of the transaction's EVSE, or the station-wide
  one, replaces its transaction layer from now on; ``activate`` false: back to the Tx / TxDefault profiles),
  NoProfile (no such profile to activate), Rejected (unknown transaction; PriorityCharging not in
  SupportedAdditionalPurposes). NotifyPriorityCharging reports every change of a transaction's priority: after an
  accepted UsePriorityCharging, after a local request (:func:`~chargepoint.ocpp.smart_state.use_priority_charging`,
  K22), and ``activated: false`` when the station stops using the profile because it was cleared.
* TransactionEvent ``transactionInfo.operationMode``: the mode in effect on the EVSE (ChargingOnly when no profile
  says otherwise).
* Device model: V2XChargingCtrlr per EVSE and the 2.1 SmartChargingCtrlr additions, see
  :mod:`chargepoint.ocpp.v21_variables` (with the per-operation-mode measurands and intervals, TC_Q_100).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ocpp.routing import on

from chargepoint.clock import iso, parse_iso
from chargepoint.energy.manager import EnergyManager
from chargepoint.energy.model import ChargingProfile, Kind, OperationMode, Purpose
from chargepoint.ocpp.smart_state import (
    SMART,
    LimitNotice,
    camel,
    notify_priority_charging,
    status_info,
    use_priority_charging,
)
from chargepoint.ocpp.v21_variables import DC_MODES, V2X, add_v2x_variables, can_discharge
from chargepoint.ocpp.v201_smart import TxAction, V201SmartCharging, ev_max_current_a
from chargepoint.station.actions import TransactionEnded
from chargepoint.station.core import Evse

__all__ = ["BPT_MODES", "DC_MODES", "V2X", "V21V2X", "EnergyTransferGate", "can_discharge"]

log = logging.getLogger("chargepoint.ocpp.v2x")

BPT_MODES = frozenset({"DC_BPT", "DC_ACDP_BPT"})  # the DC modes that include discharging


@dataclass(frozen=True)
class EnergyTransferGate:
    """A local policy that forbids charging and/or discharging and otherwise passes ``inner`` (the EVSE's own
    local policy, e.g. the V2H policy) through."""

    inner: object | None
    charge: bool = True
    discharge: bool = True

    @property
    def charge_limit_w(self) -> float | None:
        return getattr(self.inner, "charge_limit_w", None) if self.charge else 0.0

    @property
    def discharge_limit_w(self) -> float | None:
        return getattr(self.inner, "discharge_limit_w", None) if self.discharge else 0.0

    @property
    def setpoint_w(self) -> float | None:
        return getattr(self.inner, "setpoint_w", None)


class V21V2X(V201SmartCharging):
    """2.1 V2X handlers and duties; put before V201Adapter in the 2.1 adapter's bases."""

    # ------------------------------------------------------------------ wiring
    def bind_smart_charging(self) -> None:
        super().bind_smart_charging()
        dm = self.device_model
        if self.energy is not None and dm.find(SMART, "SupportsDynamicProfiles") is None:
            add_v2x_variables(dm, self.station, self._smart, self.apply_gate)

    # ------------------------------------------------------------------ energy-transfer gate
    def apply_gate(self, evse_id: int) -> None:
        """Install / lift the EnergyTransferGate of an EVSE from V2XChargingCtrlr.Enabled and the modes the CSMS
        allowed for its transaction."""
        energy = self.energy
        if energy is None or evse_id not in energy.evses:
            return
        current = energy.evses[evse_id].policy
        inner = current.inner if isinstance(current, EnergyTransferGate) else current
        tx = self.station.evses[evse_id].tx
        allowed = self._smart.allowed.get(tx.tx_id) if tx is not None else None
        discharge = self._smart.v2x_enabled.get(evse_id, True) and (allowed is None or bool(BPT_MODES & set(allowed)))
        charge = allowed is None or bool(DC_MODES & set(allowed))
        policy = inner if charge and discharge else EnergyTransferGate(inner, charge, discharge)
        if policy != current:
            energy.set_policy(evse_id, policy)  # reevaluates at once

    def _transaction_ended(self, energy: EnergyManager, action: TransactionEnded) -> None:
        self._smart.allowed.pop(action.tx_id, None)
        self.apply_gate(action.evse_id)
        super()._transaction_ended(energy, action)

    @on("NotifyAllowedEnergyTransfer")
    def on_notify_allowed_energy_transfer(self, transaction_id: str, allowed_energy_transfer: list[str],
                                          **_: Any) -> Any:
        self._require_energy()
        result = self._call_result.NotifyAllowedEnergyTransfer
        tx = self.station.find_tx(transaction_id)
        if tx is None:
            return result(status="Rejected", status_info=status_info("TxNotFound", f"no transaction {transaction_id}"))
        self._smart.allowed[transaction_id] = tuple(allowed_energy_transfer)
        self.apply_gate(tx.evse_id)
        log.info("transaction %s: allowed energy transfer %s", transaction_id, allowed_energy_transfer)
        return result(status="Accepted")

    # ------------------------------------------------------------------ dynamic profiles, aFRR
    @on("UpdateDynamicSchedule")
    def on_update_dynamic_schedule(self, charging_profile_id: int, schedule_update: dict[str, Any],
                                   **_: Any) -> Any:
        energy = self._require_energy()
        rejection = self._apply_update(energy, charging_profile_id, camel(schedule_update))
        if rejection is not None:
            return self._call_result.UpdateDynamicSchedule(status="Rejected",
                                                           status_info=status_info(*rejection))
        return self._call_result.UpdateDynamicSchedule(status="Accepted")

    def _apply_update(self, energy: EnergyManager, profile_id: int, update: dict[str, Any]) -> tuple[str, str] | None:
        update.pop("customData", None)
        p = energy.store.get(profile_id)
        evse = self.station.evses.get(p.evse_id) if p is not None else None
        anchor = evse.tx.started_at if evse is not None and evse.tx is not None else None
        now = self.station.clock.now()
        rejection = energy.store.update_dynamic(profile_id, update, now, anchor=anchor)
        if rejection is not None:
            log.info("dynamic update of profile %d refused: %s", profile_id, rejection)
            return rejection.code, rejection.reason
        self._smart.pulls[profile_id] = now
        energy.reevaluate(p.evse_id if p is not None else None)
        return None

    def _profile_installed(self, profile: ChargingProfile) -> None:
        if profile.kind is Kind.DYNAMIC:
            self._smart.pulls[profile.id] = profile.dyn_update_time or self.station.clock.now()
            self._smart_wake.set()

    def next_pulls(self, now: datetime) -> list[int]:
        """Dynamic profiles whose dynUpdateInterval has run out since their last update or pull."""
        energy = self.energy
        if energy is None:
            return []
        due = []
        for p in energy.store.profiles():
            if p.kind is not Kind.DYNAMIC or not p.dyn_update_interval:
                continue
            last = self._smart.pulls.setdefault(p.id, p.dyn_update_time or now)
            if now >= last + timedelta(seconds=p.dyn_update_interval):
                due.append(p.id)
        return due

    async def _online_duties(self, energy: EnergyManager) -> None:
        await super()._online_duties(energy)
        await self._send_priority_notices()
        now = self.station.clock.now()
        for profile_id in self.next_pulls(now):
            self._smart.pulls[profile_id] = now  # also when unanswered: next try after another interval
            res = await self.send_camel("PullDynamicScheduleUpdate", {"chargingProfileId": profile_id})
            update = (res or {}).get("scheduleUpdate")
            if res is not None and res.get("status") == "Accepted" and update:
                self._apply_update(energy, profile_id, dict(update))

    @on("AFRRSignal")
    def on_afrr_signal(self, timestamp: str, signal: int, **_: Any) -> Any:
        self._require_energy()
        self._smart.afrr.append((parse_iso(timestamp), signal))
        self._smart.afrr.sort(key=lambda x: x[0])
        self._activate_afrr()
        self._smart_wake.set()
        return self._call_result.AFRRSignal(status="Accepted")

    def _activate_afrr(self) -> None:
        energy = self.energy
        now = self.station.clock.now()
        due = [s for s in self._smart.afrr if s[0] <= now]
        if energy is None or not due:
            return
        self._smart.afrr = [s for s in self._smart.afrr if s[0] > now]
        energy.afrr_signal = due[-1][1]
        energy.reevaluate()
        log.info("aFRR signal %d active", energy.afrr_signal)

    def _local_duties(self, energy: EnergyManager) -> None:
        super()._local_duties(energy)
        self._activate_afrr()
        for tx_id in energy.priority_lost():
            log.info("transaction %s: no PriorityCharging profile any more, priority charging ends", tx_id)
            notify_priority_charging(self.station, tx_id, False)

    # ------------------------------------------------------------------ priority charging (K21 / K22)
    @on("UsePriorityCharging")
    def on_use_priority_charging(self, transaction_id: str, activate: bool, **_: Any) -> Any:
        self._require_energy()
        status = use_priority_charging(self.station, transaction_id, activate)
        log.info("UsePriorityCharging %s for transaction %s: %s", activate, transaction_id, status)
        result = self._call_result.UsePriorityCharging
        if status == "NoProfile":
            return result(status=status, status_info=status_info("NoProfile", "no PriorityCharging profile for "
                                                                               "the EVSE of the transaction"))
        if status == "Rejected":
            tx = self.station.find_tx(transaction_id)
            why = ("TxNotFound", f"no transaction {transaction_id}") if tx is None else \
                ("UnsupportedRequest", "PriorityCharging is not in SupportedAdditionalPurposes")
            return result(status=status, status_info=status_info(*why))
        return result(status=status)

    async def _send_priority_notices(self) -> None:
        notices = self._smart.priority_notices
        while notices:
            tx_id, activated = notices[0]
            await self.send_camel("NotifyPriorityCharging", {"transactionId": tx_id, "activated": activated})
            notices.popleft()  # delivered (not before: a time-out or a lost connection retries it)

    # ------------------------------------------------------------------ outbound additions
    def operation_mode(self, evse_id: int) -> str:
        energy = self.energy
        e = energy.evses.get(evse_id) if energy is not None else None
        mode = e.limits.operation_mode if e is not None and e.limits is not None else None
        return str(mode) if mode is not None else str(OperationMode.CHARGING_ONLY)

    def _tx_payload(self, action: TxAction, seq: int) -> dict[str, Any]:
        out = super()._tx_payload(action, seq)
        if self.energy is not None:
            out["transaction_info"]["operation_mode"] = self.operation_mode(action.evse_id)
        return out

    def limit_notice_payload(self, n: LimitNotice) -> dict[str, Any]:
        out = super().limit_notice_payload(n)
        if n.profile is not None and n.profile.purpose is Purpose.LOCAL_GENERATION:
            out["chargingLimit"]["isLocalGeneration"] = True
        return out

    def charging_needs_payload(self, evse: Evse) -> dict[str, Any] | None:
        out = super().charging_needs_payload(evse)
        st = evse.connector.state
        max_a = ev_max_current_a(evse)
        if out is None or st is None or max_a is None:
            return out
        energy = self.energy
        v = st.meter.voltage_v if st.meter.voltage_v > 0 else (energy.nominal_voltage_v if energy else 400.0)
        discharge_a = max(0.0, st.ev_max_discharge_current_a or 0.0)
        capable = discharge_a > 0 or st.details.get("bidirectional") is True  # CHAdeMO 102.5.7
        bpt = capable and can_discharge(self.station, evse) and self._smart.v2x_enabled.get(evse.id, True)
        needs = out["chargingNeeds"]
        needs["requestedEnergyTransfer"] = "DC_BPT" if bpt else "DC"
        needs["availableEnergyTransfer"] = ["DC", "DC_BPT"] if bpt else ["DC"]
        if bpt:
            needs["controlMode"] = "DynamicControl"  # the station follows setpoints cycle by cycle
        v2x: dict[str, Any] = {"maxChargeCurrent": max_a, "maxChargePower": round(max_a * v, 1),
                               "maxDischargeCurrent": discharge_a if bpt else 0.0,
                               "maxDischargePower": round(discharge_a * v, 1) if bpt else 0.0}
        if st.ev_max_voltage_v is not None:
            v2x["maxVoltage"] = st.ev_max_voltage_v
        if st.ev_min_discharge_voltage_v is not None:
            v2x["minVoltage"] = st.ev_min_discharge_voltage_v
        soc, cap = st.soc_percent, st.ev_capacity_wh
        if st.ev_soc_max_percent is not None:
            v2x["targetSoC"] = round(st.ev_soc_max_percent)
        if soc is not None and cap is not None:
            def wh(to_soc: float) -> float:
                return round((to_soc - soc) / 100.0 * cap, 1)

            top = st.ev_soc_max_percent if st.ev_soc_max_percent is not None else 100.0
            v2x["evTargetEnergyRequest"] = wh(top)
            v2x["evMaxEnergyRequest"] = wh(top)
            v2x["evMinEnergyRequest"] = max(0.0, wh(st.ev_soc_min_percent or 0.0))
            if bpt and st.ev_soc_min_percent is not None:
                v2x["evMinV2XEnergyRequest"] = wh(st.ev_soc_min_percent)  # > 0: below the V2X window
                v2x["evMaxV2XEnergyRequest"] = wh(top)  # < 0: above it
        needs["v2xChargingParameters"] = v2x
        out["timestamp"] = iso(self.station.clock.now())
        return out
