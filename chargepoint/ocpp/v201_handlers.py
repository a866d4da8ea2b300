"""Inbound OCPP 2.0.1 requests (CSMS -> station): the ``@on`` / ``@after`` handlers of the 2.0.1 adapter.

Handlers receive the payload as snake_case keyword arguments (nested objects as plain dicts) after the strict
router validated it against the schema. Each one maps the request onto a station command or the device model and
answers with ``self._call_result``; follow-up messages (NotifyReport, triggered messages) are sent by the
``@after`` hooks once the response is out. Every handler accepts ``**_`` so that ``customData`` never breaks it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import FormatViolationError, OccurrenceConstraintViolationError
from ocpp.routing import after, on

from chargepoint.ocpp.device_model import AttributeType, Component, DeviceModel, GetStatus
from chargepoint.ocpp.v201_convert import auth_info
from chargepoint.station.auth import LocalListError
from chargepoint.station.types import AuthInfo, CommandStatus, IdToken, ResetKind, UnlockResult

if TYPE_CHECKING:
    from chargepoint.ocpp.base import SessionHooks
    from chargepoint.station.core import Station

log = logging.getLogger("chargepoint.ocpp.v201")

UNLOCK_201 = {
    UnlockResult.UNLOCKED: "Unlocked",
    UnlockResult.UNLOCK_FAILED: "UnlockFailed",
    UnlockResult.ONGOING_AUTHORIZED_TRANSACTION: "OngoingAuthorizedTransaction",
    UnlockResult.UNKNOWN_CONNECTOR: "UnknownConnector",
    UnlockResult.NOT_SUPPORTED: "UnlockFailed",
}


def _status_info(reason: str | None, info: str | None = None) -> dict[str, Any] | None:
    if reason is None:
        return None
    out: dict[str, Any] = {"reason_code": reason[:20]}
    if info:
        out["additional_info"] = info[:512]
    return out


def _accepted(status: CommandStatus) -> str:
    return "Accepted" if status == CommandStatus.ACCEPTED else "Rejected"


class V201Handlers:
    """Mixin of :class:`~chargepoint.ocpp.v201.V201Adapter` holding its inbound handlers."""

    if TYPE_CHECKING:
        station: Station
        hooks: SessionHooks
        device_model: DeviceModel
        _call_result: Any
        _inbound_bytes: int
        _triggers: dict[str, tuple[str, list[int]]]
        _reports: dict[int, list[dict[str, Any]]]

        @property
        def tx_profiles(self) -> dict[int, dict[str, Any]]: ...

        def limit(self, variable: str, instance: str) -> int | None: ...

        async def send_triggered(self, message: str, evse_ids: list[int], connector_id: int | None) -> None: ...

        async def send_report(self, request_id: int) -> None: ...

    def _registered(self) -> bool:
        return self.hooks.registration_status == "Accepted"

    # ------------------------------------------------------------------ B: provisioning
    def _check_size(self, action: str, items: int) -> None:
        """DeviceDataCtrlr ItemsPerMessage / BytesPerMessage (B06.FR.16/17, B07): CALLERROR when exceeded."""
        max_items = self.limit("ItemsPerMessage", action)
        if max_items is not None and items > max_items:
            raise OccurrenceConstraintViolationError(
                description=f"{items} items exceed ItemsPerMessage{action} ({max_items})")
        max_bytes = self.limit("BytesPerMessage", action)
        if max_bytes is not None and self._inbound_bytes > max_bytes:
            raise FormatViolationError(
                description=f"{self._inbound_bytes} bytes exceed BytesPerMessage{action} ({max_bytes})")

    @on("GetVariables")
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        self._check_size("GetVariables", len(get_variable_data))
        results = []
        for item in get_variable_data:
            var = item["variable"]
            kind = AttributeType(item.get("attribute_type", "Actual"))
            r = self.device_model.get(Component.from_ocpp(item["component"]), var["name"], var.get("instance"), kind)
            results.append({
                "attribute_status": r.status.value,
                "attribute_type": kind.value,
                "attribute_value": r.value if r.status == GetStatus.ACCEPTED else None,
                "attribute_status_info": _status_info(r.reason),
                "component": item["component"],
                "variable": var,
            })
        return self._call_result.GetVariables(get_variable_result=results)

    @on("SetVariables")
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        self._check_size("SetVariables", len(set_variable_data))
        results = []
        for item in set_variable_data:
            var = item["variable"]
            kind = AttributeType(item.get("attribute_type", "Actual"))
            r = self.device_model.set(Component.from_ocpp(item["component"]), var["name"], item["attribute_value"],
                                      var.get("instance"), kind)
            results.append({
                "attribute_status": r.status.value,
                "attribute_type": kind.value,
                "attribute_status_info": _status_info(r.reason, r.info),
                "component": item["component"],
                "variable": var,
            })
        return self._call_result.SetVariables(set_variable_result=results)

    @on("GetBaseReport")
    def on_get_base_report(self, request_id: int, report_base: str, **_: Any) -> Any:
        entries = self.device_model.report(report_base)
        if not entries:
            return self._call_result.GetBaseReport(status="EmptyResultSet")
        self._reports[request_id] = entries
        return self._call_result.GetBaseReport(status="Accepted")

    @after("GetBaseReport")
    async def after_get_base_report(self, request_id: int, **_: Any) -> None:
        try:
            await self.send_report(request_id)
        except Exception as e:  # runs as a detached task: log instead of losing the error
            log.warning("NotifyReport for request %d not delivered: %s", request_id, e or type(e).__name__)

    @on("Reset")
    def on_reset(self, type: str, evse_id: int | None = None, **_: Any) -> Any:
        if evse_id is not None:  # resetting a single EVSE is not supported: Rejected
            return self._call_result.Reset(status="Rejected", status_info=_status_info("UnsupportedRequest"))
        kind = ResetKind.IMMEDIATE if type == "Immediate" else ResetKind.ON_IDLE
        status = self.station.reset(kind)
        return self._call_result.Reset(status="Scheduled" if status == CommandStatus.SCHEDULED else _accepted(status))

    # ------------------------------------------------------------------ C/D: authorization data
    @on("ClearCache")
    def on_clear_cache(self, **_: Any) -> Any:
        if not self.station.auth.policy.cache_enabled:
            return self._call_result.ClearCache(status="Rejected")
        self.station.auth.cache.clear()
        return self._call_result.ClearCache(status="Accepted")

    @on("SendLocalList")
    def on_send_local_list(self, version_number: int, update_type: str,
                           local_authorization_list: list[dict[str, Any]] | None = None, **_: Any) -> Any:
        auth = self.station.auth
        entries = local_authorization_list or []
        if not auth.policy.local_auth_list_enabled:
            return self._call_result.SendLocalList(status="Failed", status_info=_status_info("NotEnabled"))
        if len(entries) > self.station.settings.send_local_list_max_length:
            return self._call_result.SendLocalList(status="Failed", status_info=_status_info("TooManyElements"))
        items: list[tuple[str, AuthInfo | None]] = []
        for entry in entries:
            token = entry["id_token"]["id_token"]
            if any(token == t for t, _i in items):
                return self._call_result.SendLocalList(status="Failed", status_info=_status_info("DuplicateEntry"))
            info = entry.get("id_token_info")
            items.append((token, auth_info(info) if info is not None else None))
        try:
            auth.local_list.update(version_number, update_type == "Full", items)
        except LocalListError as e:
            return self._call_result.SendLocalList(status=e.status)
        return self._call_result.SendLocalList(status="Accepted")

    @on("GetLocalListVersion")
    def on_get_local_list_version(self, **_: Any) -> Any:
        auth = self.station.auth
        version = auth.local_list.version if auth.policy.local_auth_list_enabled else 0
        return self._call_result.GetLocalListVersion(version_number=version)

    # ------------------------------------------------------------------ E: transactions
    @on("GetTransactionStatus")
    def on_get_transaction_status(self, transaction_id: str | None = None, **_: Any) -> Any:
        """E14: the station model knows whether the transaction is ongoing, the session whether its messages still
        wait in the queue. Without a transactionId: any transaction's messages, and no ongoingIndicator."""
        queued = getattr(self.hooks, "transaction_messages_queued", None)  # a session driver without a queue: none
        in_queue = bool(queued(transaction_id)) if queued is not None else False
        if transaction_id is None:
            return self._call_result.GetTransactionStatus(messages_in_queue=in_queue)
        ongoing = self.station.find_tx(transaction_id) is not None
        return self._call_result.GetTransactionStatus(messages_in_queue=in_queue, ongoing_indicator=ongoing)

    # ------------------------------------------------------------------ F: remote control
    @on("RequestStartTransaction")
    def on_request_start_transaction(self, id_token: dict[str, Any], remote_start_id: int,
                                     evse_id: int | None = None, charging_profile: dict[str, Any] | None = None,
                                     **_: Any) -> Any:
        st = self.station
        result = self._call_result.RequestStartTransaction
        if not self._registered():  # B02: no transactions on request while the CSMS has not accepted us
            return result(status="Rejected", status_info=_status_info("NotRegistered"))
        if charging_profile is not None and charging_profile.get("charging_profile_purpose") != "TxProfile":
            return result(status="Rejected", status_info=_status_info("InvalidProfile"))
        if evse_id is not None and evse_id not in st.evses:
            return result(status="Rejected", status_info=_status_info("UnknownEvse"))
        status = st.remote_start(IdToken(id_token["id_token"], id_token["type"]), evse_id, remote_start_id)
        evse = st.evses.get(evse_id) if evse_id is not None else next(
            (e for e in st.evses.values() if e.pending is not None and e.pending.remote_start_id == remote_start_id),
            None,
        )
        tx_id = evse.tx.tx_id if evse is not None and evse.tx is not None else None
        if status == CommandStatus.ACCEPTED and charging_profile is not None:
            self.tx_profiles[remote_start_id] = charging_profile
        return result(status=_accepted(status), transaction_id=tx_id)

    @on("RequestStopTransaction")
    def on_request_stop_transaction(self, transaction_id: str, **_: Any) -> Any:
        if not self._registered():
            return self._call_result.RequestStopTransaction(status="Rejected")
        return self._call_result.RequestStopTransaction(status=_accepted(self.station.remote_stop(transaction_id)))

    @on("UnlockConnector")
    def on_unlock_connector(self, evse_id: int, connector_id: int, **_: Any) -> Any:
        st = self.station
        try:
            st.connector(evse_id, connector_id)
        except KeyError:
            return self._call_result.UnlockConnector(status="UnknownConnector")
        tx = st.evse(evse_id).tx
        if tx is not None and tx.authorized:  # 2.0.1 F05.FR.02: never unlock under an authorized transaction
            return self._call_result.UnlockConnector(status="OngoingAuthorizedTransaction")
        return self._call_result.UnlockConnector(status=UNLOCK_201[st.unlock(evse_id, connector_id)])

    @on("TriggerMessage")
    def on_trigger_message(self, requested_message: str, call_unique_id: str, evse: dict[str, Any] | None = None,
                           **_: Any) -> Any:
        status, evse_ids = self._trigger_decision(requested_message, evse)
        if status == "Accepted":
            self._triggers[call_unique_id] = (requested_message, evse_ids)
        return self._call_result.TriggerMessage(status=status)

    def _trigger_decision(self, message: str, evse: dict[str, Any] | None) -> tuple[str, list[int]]:
        st = self.station
        evse_id = evse.get("id") if evse else None
        if evse_id not in (None, 0) and evse_id not in st.evses:
            return "Rejected", []
        targets = [evse_id] if evse_id else list(st.evses)
        if message == "BootNotification":  # F06.FR.17
            return ("Rejected" if self._registered() else "Accepted"), []
        if not self._registered():  # B02: nothing but BootNotification may be sent before acceptance
            return "Rejected", []
        if message == "Heartbeat":
            return "Accepted", []
        if message == "StatusNotification":
            conn = evse.get("connector_id") if evse else None
            if not evse_id or conn is None:  # F06.FR.12: needs both the EVSE and the connector
                return "Rejected", []
            try:
                st.connector(evse_id, conn)
            except KeyError:
                return "Rejected", []
            return "Accepted", targets
        if message == "MeterValues":
            return ("Accepted" if st.settings.aligned_measurands else "Rejected"), targets
        if message == "TransactionEvent":
            with_tx = [i for i in targets if st.evses[i].tx is not None]
            return ("Accepted" if with_tx else "Rejected"), with_tx
        if message in ("SignChargingStationCertificate", "SignV2GCertificate"):  # A02 (security_v201)
            return ("Accepted" if getattr(self.hooks, "security", None) is not None else "NotImplemented"), []
        return "NotImplemented", []

    @after("TriggerMessage")
    async def after_trigger_message(self, call_unique_id: str, evse: dict[str, Any] | None = None,
                                    **_: Any) -> None:
        accepted = self._triggers.pop(call_unique_id, None)
        if accepted is None:
            return
        message, evse_ids = accepted
        try:
            await self.send_triggered(message, evse_ids, (evse or {}).get("connector_id"))
        except Exception as e:  # runs as a detached task: log instead of losing the error
            log.warning("triggered %s not delivered: %s", message, e or type(e).__name__)

    # ------------------------------------------------------------------ G: availability
    @on("ChangeAvailability")
    def on_change_availability(self, operational_status: str, evse: dict[str, Any] | None = None,
                               **_: Any) -> Any:
        evse_id = evse.get("id") if evse else None
        connector_id = evse.get("connector_id") if evse else None
        if evse_id == 0 and connector_id is not None:
            return self._call_result.ChangeAvailability(status="Rejected")
        status = self.station.change_availability(operational_status == "Operative", evse_id or None, connector_id)
        name = {CommandStatus.ACCEPTED: "Accepted", CommandStatus.SCHEDULED: "Scheduled"}.get(status, "Rejected")
        return self._call_result.ChangeAvailability(status=name)

    # ------------------------------------------------------------------ P: data transfer
    @on("DataTransfer")
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        return self._call_result.DataTransfer(status="UnknownVendorId")
