"""The OCPP 1.6J adapter: the neutral station model on an ``ocpp.v16.ChargePoint``.

Numbering: 1.6 connectorId N is EVSE N, connector 1 (one connector per EVSE); connectorId 0 is the whole station.
The station-level status (connectorId 0) is derived here: Unavailable while the station is inoperative, Available
otherwise. It is reported before the first connector status of a connection, whenever it changes, and on
TriggerMessage.

Transactions: the station names them with its own string ids; 1.6 uses the integer the CSMS returns in
StartTransaction.conf. That mapping must survive reconnects (a new adapter is built for every connection), so it is
kept per station in :func:`v16_state`, not on the adapter.

Inbound CALLs are validated by :class:`StrictRouter` before a handler runs, so handlers skip the library's second
validation. That also keeps the library from awaiting (response validation in a thread) between a handler and the
CALLRESULT: nothing the handler makes the station emit can reach the CSMS before the answer to the command that
caused it.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ocpp.exceptions import OCPPError, UnknownCallErrorCodeError, ValidationError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action, ChargePointErrorCode

from chargepoint.clock import iso, parse_iso
from chargepoint.ocpp.base import AdapterBase, BootOutcome, SessionHooks, StationIdentity
from chargepoint.ocpp.security_v16 import SECRET_KEYS, V16Security
from chargepoint.ocpp.strict import StrictRouter
from chargepoint.ocpp.v16_config import Configuration
from chargepoint.ocpp.v16_smart import V16SmartCharging
from chargepoint.station.actions import (
    Action as StationAction,
)
from chargepoint.station.actions import (
    AuthorizeRequest,
    MeterValuesReport,
    RebootRequested,
    SecurityEvent,
    StatusChanged,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
    Unlocked,
)
from chargepoint.station.auth import LocalListError
from chargepoint.station.core import Station
from chargepoint.station.types import (
    AuthInfo,
    AuthStatus,
    CommandStatus,
    ConnectorStatus,
    FaultInfo,
    IdToken,
    MeterSample,
    ResetKind,
    SampledValue,
    StopReason,
    UnlockResult,
)

log = logging.getLogger("chargepoint.ocpp.v16")

ACCEPTED = "Accepted"
REJECTED = "Rejected"

_ERROR_CODES = frozenset(c.value for c in ChargePointErrorCode)
_STOP_REASONS_16 = frozenset(
    {
        StopReason.EMERGENCY_STOP,
        StopReason.EV_DISCONNECTED,
        StopReason.HARD_RESET,
        StopReason.LOCAL,
        StopReason.OTHER,
        StopReason.POWER_LOSS,
        StopReason.REBOOT,
        StopReason.REMOTE,
        StopReason.SOFT_RESET,
        StopReason.UNLOCK_COMMAND,
        StopReason.DE_AUTHORIZED,
    }
)
_UNLOCK = {
    UnlockResult.UNLOCKED: "Unlocked",
    UnlockResult.UNLOCK_FAILED: "UnlockFailed",
    UnlockResult.ONGOING_AUTHORIZED_TRANSACTION: "UnlockFailed",
    UnlockResult.UNKNOWN_CONNECTOR: "NotSupported",
    UnlockResult.NOT_SUPPORTED: "NotSupported",
}
# TriggerMessage requests this adapter answers by sending the message. Diagnostics/firmware status notifications
# belong to the FirmwareManagement profile, which the station does not implement.
_TRIGGERABLE = frozenset({"BootNotification", "Heartbeat", "StatusNotification", "MeterValues"})


class TransactionMessageFailed(TimeoutError):
    """The CSMS answered a transaction-related message with a CALLERROR (or an invalid CALLRESULT).

    OCPP 1.6 §4.10: such messages are retried (TransactionMessageAttempts). It is a TimeoutError so that the session
    driver treats it exactly like an unanswered CALL.
    """


@dataclass
class V16State:
    """1.6 bookkeeping that must outlive one connection."""

    tx_ids: dict[str, int] = field(default_factory=dict)  # station tx_id -> CSMS transactionId
    # Transactions the model started before an idTag was known (EVConnected start point). 1.6 cannot express them;
    # StartTransaction is sent when the authorization arrives, or never.
    deferred: dict[str, TransactionStarted] = field(default_factory=dict)

    def station_tx_id(self, csms_id: int) -> str | None:
        return next((local for local, remote in self.tx_ids.items() if remote == csms_id), None)


_STATES: weakref.WeakKeyDictionary[Station, V16State] = weakref.WeakKeyDictionary()


def v16_state(station: Station) -> V16State:
    state = _STATES.get(station)
    if state is None:
        state = _STATES[station] = V16State()
    return state


def format_value(value: float) -> str:
    """A meter value as 1.6 wants it (a decimal string): no exponent, no trailing zeros."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def sampled_value(v: SampledValue) -> dict[str, Any]:
    return {
        "value": format_value(v.value),
        "context": v.context.value,
        "format": "Raw",
        "measurand": v.measurand.value,
        "location": v.location,
        "unit": v.unit,
    }


def meter_values(samples: tuple[MeterSample, ...]) -> list[dict[str, Any]]:
    """MeterValue entries (snake_case keys; the library converts them). Samples without values are left out."""
    return [
        {"timestamp": iso(s.timestamp), "sampled_value": [sampled_value(v) for v in s.values]}
        for s in samples
        if s.values
    ]


def auth_info(id_tag_info: dict[str, Any] | None) -> AuthInfo:
    """IdTagInfo (as the library hands it over: a snake_case dict) -> AuthInfo. Raises ValueError on a bad date."""
    if not id_tag_info:
        return AuthInfo(AuthStatus.INVALID)
    expiry = id_tag_info.get("expiry_date")
    return AuthInfo(
        AuthStatus(id_tag_info["status"]),
        parse_iso(expiry) if expiry else None,
        id_tag_info.get("parent_id_tag"),
    )


def stop_reason(reason: StopReason) -> str:
    return reason.value if reason in _STOP_REASONS_16 else StopReason.OTHER.value


class V16Adapter(StrictRouter, AdapterBase, V16SmartCharging, V16Security, ChargePoint):
    version = "1.6"
    subprotocol = "ocpp1.6"

    def __init__(
        self,
        station_id: str,
        connection: Any,
        station: Station,
        hooks: SessionHooks,
        identity: StationIdentity,
        response_timeout: float = 30,
    ) -> None:
        super().__init__(station_id, connection, response_timeout)
        self.station = station
        self.hooks = hooks
        self.identity = identity
        self.state = v16_state(station)
        self.config = Configuration(station, hooks, self.feature_profiles())
        self.bind_smart_charging()
        self._station_status: str | None = None  # last connectorId 0 status sent on this connection
        self._background: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ helpers
    def feature_profiles(self) -> tuple[str, ...]:
        """The 1.6 feature profiles this adapter actually implements (SupportedFeatureProfiles)."""
        profiles = ["Core"]
        handled = {a for a, h in self.route_map.items() if "_on_action" in h}
        if {"SendLocalList", "GetLocalListVersion"} <= handled:
            profiles.append("LocalAuthListManagement")
        if {"ReserveNow", "CancelReservation"} <= handled:
            profiles.append("Reservation")
        if {"SetChargingProfile", "ClearChargingProfile", "GetCompositeSchedule"} <= handled and self.energy_manager():
            profiles.append("SmartCharging")
        if {"UpdateFirmware", "GetDiagnostics"} <= handled:
            profiles.append("FirmwareManagement")
        if "TriggerMessage" in handled:
            profiles.append("RemoteTrigger")
        return tuple(profiles)

    @property
    def accepted(self) -> bool:
        return self.hooks.registration_status == ACCEPTED

    def station_status(self) -> str:
        return ConnectorStatus.AVAILABLE.value if self.station.operative else ConnectorStatus.UNAVAILABLE.value

    async def _request(self, payload: Any, *, transaction: bool) -> Any | None:
        """Send a CALL. A CALLERROR returns None, or raises TransactionMessageFailed for transaction messages.

        TimeoutError (no answer) and connection errors propagate: the session driver retries or reconnects.
        """
        try:
            return await self.call(payload, suppress=False)
        except (OCPPError, UnknownCallErrorCodeError, ValidationError) as e:
            name = type(payload).__name__
            if transaction:
                raise TransactionMessageFailed(f"{name} failed: {e}") from e
            log.warning("%s failed: %s", name, e)
            return None

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await coro
            except Exception:
                log.exception("triggered message failed")

        task = asyncio.ensure_future(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------ session contract
    async def start(self) -> None:
        await ChargePoint.start(self)

    async def boot(self, reason: str) -> BootOutcome:
        """BootNotification (1.6 has no reason field). A CALLERROR counts as Rejected without a retry interval."""
        ident = self.identity
        req = call.BootNotification(
            charge_point_model=ident.model[:20],
            charge_point_vendor=ident.vendor[:20],
            charge_point_serial_number=ident.serial_number[:25] or None,
            firmware_version=ident.firmware_version[:50] or None,
        )
        res = await self._request(req, transaction=False)
        if res is None:
            return BootOutcome(REJECTED, 0)
        return BootOutcome(str(res.status), int(res.interval), _time(res.current_time))

    async def heartbeat(self) -> datetime | None:
        try:
            res = await self._request(call.Heartbeat(), transaction=False)
        except TimeoutError:
            log.warning("Heartbeat: no answer")
            return None
        return _time(res.current_time) if res is not None else None

    async def dispatch(self, action: StationAction) -> None:
        match action:
            case StatusChanged():
                await self._status_changed(action)
            case AuthorizeRequest():
                await self._authorize(action)
            case TransactionStarted():
                if action.id_token is None:
                    self.state.deferred[action.tx_id] = action
                    return
                await self._start_transaction(action, action.id_token)
            case TransactionUpdated():
                deferred = self.state.deferred.get(action.tx_id)
                if deferred is not None and action.id_token is not None:
                    await self._start_transaction(deferred, action.id_token)
                if action.samples:
                    await self._meter_values(action.evse_id, action.tx_id, action.samples)
            case TransactionEnded():
                await self._stop_transaction(action)
            case MeterValuesReport():
                await self._meter_values(action.evse_id, action.tx_id, action.samples)
            case RebootRequested():
                self.hooks.request_reboot(action.kind)
            case SecurityEvent():
                await self.send_security_event(action)
            case Unlocked():
                pass

    # ------------------------------------------------------------------ outbound
    async def _status_changed(self, action: StatusChanged) -> None:
        station_status = self.station_status()
        if station_status != self._station_status:
            await self._send_station_status()
        await self._send_status(action.evse_id, action.status.value, action.fault)

    async def _send_station_status(self) -> None:
        status = self.station_status()
        self._station_status = status
        await self._send_status(0, status, None)

    async def _send_status(self, connector_id: int, status: str, fault: FaultInfo | None) -> None:
        error_code, info, vendor_code = "NoError", None, None
        if fault is not None:
            error_code = fault.error_code if fault.error_code in _ERROR_CODES else "OtherError"
            info = fault.info[:50] or None
            vendor_code = fault.vendor_error_code or (fault.error_code if error_code != fault.error_code else None)
        elif status == ConnectorStatus.FAULTED:
            error_code = "OtherError"
        req = call.StatusNotification(
            connector_id=connector_id,
            error_code=error_code,
            status=status,
            timestamp=iso(self.station.clock.now()),
            info=info,
            vendor_error_code=vendor_code[:50] if vendor_code else None,
        )
        await self._request(req, transaction=False)

    async def _authorize(self, action: AuthorizeRequest) -> None:
        info: AuthInfo | None
        try:
            res = await self._request(call.Authorize(id_tag=action.id_token.id), transaction=False)
            info = auth_info(res.id_tag_info) if res is not None else None
        except (TimeoutError, ValueError) as e:
            log.warning("Authorize %s: no usable answer (%s)", action.id_token, e)
            info = None
        self.station.authorize_result(action.ref, info)

    async def _start_transaction(self, started: TransactionStarted, id_token: IdToken) -> None:
        when = started.sample.timestamp if started.sample is not None else self.station.clock.now()
        req = call.StartTransaction(
            connector_id=started.evse_id,
            id_tag=id_token.id,
            meter_start=round(started.meter_start_wh),
            timestamp=iso(when),
        )
        self.transaction_starting(started)  # a remote start's charging profile applies from the first watt
        res = await self._request(req, transaction=True)
        assert res is not None
        self.state.deferred.pop(started.tx_id, None)
        self.state.tx_ids[started.tx_id] = int(res.transaction_id)
        try:
            info = auth_info(res.id_tag_info)
        except ValueError:
            info = AuthInfo(AuthStatus(res.id_tag_info["status"]))
        self.station.auth.remember(id_token.id, info)
        if not info.accepted:
            log.info("StartTransaction %s: idTag %s is %s", res.transaction_id, id_token, info.status)
            self.station.deauthorize(started.tx_id)

    async def _meter_values(self, connector_id: int, tx_id: str | None, samples: tuple[MeterSample, ...]) -> None:
        values = meter_values(samples)
        if not values:
            return
        csms_tx = self.state.tx_ids.get(tx_id) if tx_id is not None else None
        req = call.MeterValues(connector_id=connector_id, meter_value=values, transaction_id=csms_tx)
        await self._request(req, transaction=csms_tx is not None)

    async def _stop_transaction(self, ended: TransactionEnded) -> None:
        if self.state.deferred.pop(ended.tx_id, None) is not None:
            return  # never authorized, so never a 1.6 transaction
        csms_tx = self.state.tx_ids.get(ended.tx_id)
        if csms_tx is None:
            log.error("StopTransaction for %s dropped: the CSMS never confirmed its StartTransaction", ended.tx_id)
            return
        when = ended.timestamp if ended.timestamp is not None else self.station.clock.now()
        req = call.StopTransaction(
            meter_stop=round(ended.meter_stop_wh),
            timestamp=iso(when),
            transaction_id=csms_tx,
            reason=stop_reason(ended.reason),
            id_tag=ended.id_token.id if ended.id_token is not None else None,
            transaction_data=meter_values(ended.samples) or None,
        )
        res = await self._request(req, transaction=True)
        del self.state.tx_ids[ended.tx_id]
        if res is not None and res.id_tag_info and ended.id_token is not None:
            try:
                self.station.auth.remember(ended.id_token.id, auth_info(res.id_tag_info))
            except ValueError:
                pass

    # ------------------------------------------------------------------ inbound: Core
    @on(Action.remote_start_transaction, skip_schema_validation=True)
    def on_remote_start_transaction(
        self, id_tag: str, connector_id: int | None = None, charging_profile: dict[str, Any] | None = None
    ) -> call_result.RemoteStartTransaction:
        if not self.accepted:
            return call_result.RemoteStartTransaction(status=REJECTED)
        if connector_id is not None and connector_id not in self.station.evses:
            return call_result.RemoteStartTransaction(status=REJECTED)  # includes connectorId 0 (TC_027)
        if charging_profile is not None:  # TC_059 / TC_060: see v16_smart
            return call_result.RemoteStartTransaction(
                status=self.remote_start_with_profile(id_tag, connector_id, charging_profile))
        status = self.station.remote_start(IdToken(id_tag), connector_id)
        return call_result.RemoteStartTransaction(status=ACCEPTED if status == CommandStatus.ACCEPTED else REJECTED)

    @on(Action.remote_stop_transaction, skip_schema_validation=True)
    def on_remote_stop_transaction(self, transaction_id: int) -> call_result.RemoteStopTransaction:
        tx_id = self.state.station_tx_id(transaction_id)
        status = self.station.remote_stop(tx_id) if tx_id is not None else CommandStatus.REJECTED
        return call_result.RemoteStopTransaction(status=ACCEPTED if status == CommandStatus.ACCEPTED else REJECTED)

    @on(Action.reset, skip_schema_validation=True)
    def on_reset(self, type: str) -> call_result.Reset:
        return call_result.Reset(status=ACCEPTED)

    @after(Action.reset)
    def after_reset(self, type: str) -> None:
        self.station.reset(ResetKind.HARD if type == "Hard" else ResetKind.SOFT)

    @on(Action.change_availability, skip_schema_validation=True)
    def on_change_availability(self, connector_id: int, type: str) -> call_result.ChangeAvailability:
        operative = type == "Operative"
        if connector_id == 0:
            status = self.station.change_availability(operative)
        elif connector_id in self.station.evses:
            status = self.station.change_availability(operative, connector_id, 1)
        else:
            status = CommandStatus.REJECTED
        answer = {CommandStatus.ACCEPTED: ACCEPTED, CommandStatus.SCHEDULED: "Scheduled"}.get(status, REJECTED)
        return call_result.ChangeAvailability(status=answer)

    @on(Action.unlock_connector, skip_schema_validation=True)
    def on_unlock_connector(self, connector_id: int) -> call_result.UnlockConnector:
        if connector_id not in self.station.evses:
            return call_result.UnlockConnector(status="NotSupported")  # 1.6 has no UnknownConnector
        return call_result.UnlockConnector(status=_UNLOCK[self.station.unlock(connector_id, 1)])

    @on(Action.get_configuration, skip_schema_validation=True)
    def on_get_configuration(self, key: list[str] | None = None) -> call_result.GetConfiguration:
        entries, unknown = self.config.get(key)
        return call_result.GetConfiguration(configuration_key=entries or None, unknown_key=unknown or None)

    @on(Action.change_configuration, skip_schema_validation=True)
    def on_change_configuration(self, key: str, value: str) -> call_result.ChangeConfiguration:
        status = self.config.change(key, value)
        shown = "***" if key.strip().lower() in SECRET_KEYS else repr(value)
        log.info("ChangeConfiguration %s=%s: %s", key, shown, status)
        return call_result.ChangeConfiguration(status=status)

    @on(Action.clear_cache, skip_schema_validation=True)
    def on_clear_cache(self) -> call_result.ClearCache:
        self.station.auth.cache.clear()
        return call_result.ClearCache(status=ACCEPTED)

    @on(Action.data_transfer, skip_schema_validation=True)
    def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> call_result.DataTransfer:
        # No vendor extensions are implemented: our own vendor id has no messages, any other vendor is unknown.
        status = "UnknownMessageId" if vendor_id == self.identity.vendor else "UnknownVendorId"
        return call_result.DataTransfer(status=status)

    # ------------------------------------------------------------------ inbound: RemoteTrigger
    def _trigger_status(self, requested_message: str, connector_id: int | None) -> str:
        if requested_message not in _TRIGGERABLE:
            return "NotImplemented"
        if not self.accepted and requested_message != "BootNotification":
            return REJECTED  # while Pending/Rejected only BootNotification may be sent
        if connector_id is not None and connector_id != 0 and connector_id not in self.station.evses:
            return REJECTED
        return ACCEPTED

    @on(Action.trigger_message, skip_schema_validation=True)
    def on_trigger_message(self, requested_message: str, connector_id: int | None = None) -> call_result.TriggerMessage:
        return call_result.TriggerMessage(status=self._trigger_status(requested_message, connector_id))

    @after(Action.trigger_message)
    def after_trigger_message(self, requested_message: str, connector_id: int | None = None) -> None:
        if self._trigger_status(requested_message, connector_id) != ACCEPTED:
            return
        match requested_message:
            case "BootNotification":
                self.hooks.trigger_boot()
            case "Heartbeat":
                self.hooks.trigger_heartbeat()
            case "StatusNotification":
                if connector_id in (None, 0):
                    self._spawn(self._send_station_status())
                if connector_id != 0:
                    self.station.trigger_status(connector_id)
            case "MeterValues":
                self.station.trigger_meter_values(connector_id or None)

    # ------------------------------------------------------------------ inbound: LocalAuthListManagement
    @on(Action.send_local_list, skip_schema_validation=True)
    def on_send_local_list(
        self, list_version: int, update_type: str, local_authorization_list: list[dict[str, Any]] | None = None
    ) -> call_result.SendLocalList:
        if not self.station.auth.policy.local_auth_list_enabled:
            return call_result.SendLocalList(status="NotSupported")
        entries = local_authorization_list or []
        if len(entries) > self.station.settings.send_local_list_max_length:
            return call_result.SendLocalList(status="Failed")
        try:
            items = [
                (e["id_tag"], auth_info(e["id_tag_info"]) if e.get("id_tag_info") else None) for e in entries
            ]
            self.station.auth.local_list.update(list_version, update_type == "Full", items)
        except LocalListError as e:
            log.info("SendLocalList v%s %s: %s", list_version, update_type, e)
            return call_result.SendLocalList(status=e.status)
        except ValueError as e:
            log.info("SendLocalList v%s %s: %s", list_version, update_type, e)
            return call_result.SendLocalList(status="Failed")
        return call_result.SendLocalList(status=ACCEPTED)

    @on(Action.get_local_list_version, skip_schema_validation=True)
    def on_get_local_list_version(self) -> call_result.GetLocalListVersion:
        local = self.station.auth.local_list
        if not self.station.auth.policy.local_auth_list_enabled:
            version = -1
        elif not local.entries:
            version = 0
        else:
            version = local.version
        return call_result.GetLocalListVersion(list_version=version)

    def persistent_state(self) -> dict[str, Any]:
        """What must survive a restart: the CSMS's transaction ids, so queued messages can still name them."""
        return {"tx_ids": dict(self.state.tx_ids)}

    def load_persistent_state(self, data: dict[str, Any]) -> None:
        for local, remote in data.get("tx_ids", {}).items():
            self.state.tx_ids.setdefault(str(local), int(remote))

    def describe(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "feature_profiles": list(self.config.ctx.feature_profiles),
            "transactions": dict(self.state.tx_ids),
        }


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        log.warning("CSMS sent an unparsable time %r", value)
        return None
