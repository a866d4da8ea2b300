"""Per-version CSMS endpoints: ``ocpp.v16/v201/v21.ChargePoint`` subclasses with an ``@on`` default answer for
every station-initiated action.

The handlers take the camelCase request payload and return the camelCase answer (see
:mod:`hil.emulators.csms_connection` for why the library's snake_case convention is bypassed). Answers are
validated against the library's response schemas before they are sent.
"""

from __future__ import annotations

import logging
from typing import Any

import ocpp.v16
import ocpp.v21
import ocpp.v201
from ocpp.routing import on
from ocpp.v16.enums import Action as Action16
from ocpp.v21.enums import Action as Action21
from ocpp.v201.enums import Action as Action201

from hil.emulators.csms_connection import CsmsEndpoint, EndpointContext, RecordingConnection
from hil.emulators.csms_model import log_event

__all__ = [
    "ENDPOINTS",
    "CsmsEndpoint",
    "Endpoint16",
    "Endpoint21",
    "Endpoint201",
    "EndpointContext",
    "RecordingConnection",
    "default_actions",
]

log = logging.getLogger("hil.csms")

Payload = dict[str, Any]


class Endpoint16(CsmsEndpoint, ocpp.v16.ChargePoint):
    _actions = frozenset(a.value for a in Action16)

    @on("BootNotification")
    def on_boot_notification(self, payload: Payload) -> Payload:
        return self._boot(payload)

    @on("Heartbeat")
    def on_heartbeat(self, payload: Payload) -> Payload:
        return self._heartbeat()

    @on("StatusNotification")
    def on_status_notification(self, payload: Payload) -> Payload:
        self._state.connector_status[payload["connectorId"]] = payload["status"]
        return {}

    @on("Authorize")
    def on_authorize(self, payload: Payload) -> Payload:
        return {"idTagInfo": {"status": self._id_status(payload["idTag"])}}

    @on("StartTransaction")
    def on_start_transaction(self, payload: Payload) -> Payload:
        tx = self._tx(self._ctx.next_transaction_id())
        tx.id_tag, tx.evse_id, tx.connector_id = payload["idTag"], payload["connectorId"], payload["connectorId"]
        tx.started, tx.started_at, tx.meter_start = True, payload["timestamp"], payload["meterStart"]
        tx.event_types.append("Start")
        tx.events.append(payload)
        status = self._id_status(payload["idTag"])
        log_event(log, logging.INFO, "transaction_started", station_id=self.id, transaction_id=tx.transaction_id)
        return {"transactionId": tx.transaction_id, "idTagInfo": {"status": status}}

    @on("StopTransaction")
    def on_stop_transaction(self, payload: Payload) -> Payload:
        tx = self._tx(payload["transactionId"])
        tx.ended, tx.ended_at, tx.meter_stop = True, payload["timestamp"], payload["meterStop"]
        tx.stop_reason = payload.get("reason")
        tx.event_types.append("Stop")
        tx.events.append(payload)
        tx.meter_values.extend(payload.get("transactionData", []))
        log_event(log, logging.INFO, "transaction_stopped", station_id=self.id, transaction_id=tx.transaction_id)
        return {"idTagInfo": {"status": self._id_status(payload["idTag"])}} if "idTag" in payload else {}

    @on("MeterValues")
    def on_meter_values(self, payload: Payload) -> Payload:
        self._state.meter_values.append(payload)
        tx = self._state.transactions.get(payload.get("transactionId", -1))
        if tx is not None:
            tx.meter_values.extend(payload["meterValue"])
        return {}

    @on("DataTransfer")
    def on_data_transfer(self, payload: Payload) -> Payload:
        return {"status": self._ctx.behaviour.data_transfer_status}

    @on("DiagnosticsStatusNotification")
    def on_diagnostics_status_notification(self, payload: Payload) -> Payload:
        return {}

    @on("FirmwareStatusNotification")
    def on_firmware_status_notification(self, payload: Payload) -> Payload:
        return {}

    @on("SecurityEventNotification")
    def on_security_event_notification(self, payload: Payload) -> Payload:
        return {}

    @on("SignCertificate")
    def on_sign_certificate(self, payload: Payload) -> Payload:
        return {"status": "Accepted"}

    @on("LogStatusNotification")
    def on_log_status_notification(self, payload: Payload) -> Payload:
        return {}

    @on("SignedFirmwareStatusNotification")
    def on_signed_firmware_status_notification(self, payload: Payload) -> Payload:
        return {}


class _Endpoint2x(CsmsEndpoint):
    """Station-initiated actions common to 2.0.1 and 2.1."""

    @on("BootNotification")
    def on_boot_notification(self, payload: Payload) -> Payload:
        return self._boot(payload)

    @on("Heartbeat")
    def on_heartbeat(self, payload: Payload) -> Payload:
        return self._heartbeat()

    @on("StatusNotification")
    def on_status_notification(self, payload: Payload) -> Payload:
        self._state.connector_status[(payload["evseId"], payload["connectorId"])] = payload["connectorStatus"]
        return {}

    @on("Authorize")
    def on_authorize(self, payload: Payload) -> Payload:
        return {"idTokenInfo": {"status": self._id_status(payload["idToken"]["idToken"])}}

    @on("TransactionEvent")
    def on_transaction_event(self, payload: Payload) -> Payload:
        info = payload["transactionInfo"]
        tx = self._tx(info["transactionId"])
        event_type = payload["eventType"]
        tx.events.append(payload)
        tx.event_types.append(event_type)
        tx.seq_nos.append(payload["seqNo"])
        if event_type == "Started":
            tx.started, tx.started_at = True, payload["timestamp"]
        elif event_type == "Ended":
            tx.ended, tx.ended_at, tx.stop_reason = True, payload["timestamp"], info.get("stoppedReason")
        tx.charging_state = info.get("chargingState", tx.charging_state)
        if "evse" in payload:
            tx.evse_id = payload["evse"]["id"]
            tx.connector_id = payload["evse"].get("connectorId", tx.connector_id)
        tx.meter_values.extend(payload.get("meterValue", []))
        log_event(
            log,
            logging.INFO,
            "transaction_event",
            station_id=self.id,
            transaction_id=tx.transaction_id,
            event_type=event_type,
            seq_no=payload["seqNo"],
        )
        if "idToken" not in payload:
            return {}
        tx.id_tag = payload["idToken"]["idToken"]
        return {"idTokenInfo": {"status": self._id_status(tx.id_tag)}}

    @on("MeterValues")
    def on_meter_values(self, payload: Payload) -> Payload:
        self._state.meter_values.append(payload)
        return {}

    @on("NotifyReport")
    def on_notify_report(self, payload: Payload) -> Payload:
        return {}

    @on("NotifyEvent")
    def on_notify_event(self, payload: Payload) -> Payload:
        return {}

    @on("NotifyChargingLimit")
    def on_notify_charging_limit(self, payload: Payload) -> Payload:
        return {}

    @on("ClearedChargingLimit")
    def on_cleared_charging_limit(self, payload: Payload) -> Payload:
        return {}

    @on("NotifyEVChargingNeeds")
    def on_notify_ev_charging_needs(self, payload: Payload) -> Payload:
        return {"status": "Accepted"}

    @on("NotifyEVChargingSchedule")
    def on_notify_ev_charging_schedule(self, payload: Payload) -> Payload:
        return {"status": "Accepted"}

    @on("ReportChargingProfiles")
    def on_report_charging_profiles(self, payload: Payload) -> Payload:
        return {}

    @on("SecurityEventNotification")
    def on_security_event_notification(self, payload: Payload) -> Payload:
        return {}

    @on("SignCertificate")
    def on_sign_certificate(self, payload: Payload) -> Payload:
        return {"status": "Accepted"}

    @on("DataTransfer")
    def on_data_transfer(self, payload: Payload) -> Payload:
        return {"status": self._ctx.behaviour.data_transfer_status}

    @on("FirmwareStatusNotification")
    def on_firmware_status_notification(self, payload: Payload) -> Payload:
        return {}

    @on("LogStatusNotification")
    def on_log_status_notification(self, payload: Payload) -> Payload:
        return {}

    @on("NotifyMonitoringReport")
    def on_notify_monitoring_report(self, payload: Payload) -> Payload:
        return {}

    @on("NotifyCustomerInformation")
    def on_notify_customer_information(self, payload: Payload) -> Payload:
        return {}

    @on("NotifyDisplayMessages")
    def on_notify_display_messages(self, payload: Payload) -> Payload:
        return {}

    @on("PublishFirmwareStatusNotification")
    def on_publish_firmware_status_notification(self, payload: Payload) -> Payload:
        return {}

    @on("ReservationStatusUpdate")
    def on_reservation_status_update(self, payload: Payload) -> Payload:
        return {}

    @on("Get15118EVCertificate")
    def on_get_15118_ev_certificate(self, payload: Payload) -> Payload:
        return {"status": "Failed", "exiResponse": ""}  # no contract-certificate back end

    @on("GetCertificateStatus")
    def on_get_certificate_status(self, payload: Payload) -> Payload:
        return {"status": "Failed"}  # no OCSP back end


class Endpoint201(_Endpoint2x, ocpp.v201.ChargePoint):
    _actions = frozenset(a.value for a in Action201)


class Endpoint21(_Endpoint2x, ocpp.v21.ChargePoint):
    _actions = frozenset(a.value for a in Action21)

    @on("PullDynamicScheduleUpdate")
    def on_pull_dynamic_schedule_update(self, payload: Payload) -> Payload:
        update = self._ctx.behaviour.dynamic_schedule_updates.get(payload["chargingProfileId"])
        return {"status": "Accepted"} if update is None else {"status": "Accepted", "scheduleUpdate": update}

    @on("NotifyPriorityCharging")
    def on_notify_priority_charging(self, payload: Payload) -> Payload:
        return {}

    @on("NotifyDERAlarm")
    def on_notify_der_alarm(self, payload: Payload) -> Payload:
        return {}

    @on("NotifyDERStartStop")
    def on_notify_der_start_stop(self, payload: Payload) -> Payload:
        return {}

    @on("ReportDERControl")
    def on_report_der_control(self, payload: Payload) -> Payload:
        return {}

    @on("BatterySwap")
    def on_battery_swap(self, payload: Payload) -> Payload:
        return {}

    @on("NotifySettlement")
    def on_notify_settlement(self, payload: Payload) -> Payload:
        return {}

    @on("NotifyWebPaymentStarted")
    def on_notify_web_payment_started(self, payload: Payload) -> Payload:
        return {}

    @on("VatNumberValidation")
    def on_vat_number_validation(self, payload: Payload) -> Payload:
        answer = {"vatNumber": payload["vatNumber"], "status": "Accepted"}
        return answer | ({"evseId": payload["evseId"]} if "evseId" in payload else {})

    @on("GetCertificateChainStatus")
    def on_get_certificate_chain_status(self, payload: Payload) -> Payload:
        now = self._ctx.now_iso()
        return {
            "certificateStatus": [
                {
                    "certificateHashData": r["certificateHashData"],
                    "source": r["source"],
                    "status": "Unknown",
                    "nextUpdate": now,
                }
                for r in payload["certificateStatusRequests"]
            ]
        }

    @on("OpenPeriodicEventStream")
    def on_open_periodic_event_stream(self, payload: Payload) -> Payload:
        return {"status": "Accepted"}

    @on("ClosePeriodicEventStream")
    def on_close_periodic_event_stream(self, payload: Payload) -> Payload:
        return {}


#: Negotiated subprotocol -> endpoint class.
ENDPOINTS: dict[str, type[CsmsEndpoint]] = {
    "ocpp1.6": Endpoint16,
    "ocpp2.0.1": Endpoint201,
    "ocpp2.1": Endpoint21,
}


def default_actions(protocol: str) -> frozenset[str]:
    """Station-initiated actions that get a default answer on that subprotocol (the ``@on`` routes)."""
    cls = ENDPOINTS[protocol]
    return frozenset(str(attr._on_action) for name in dir(cls) if hasattr(attr := getattr(cls, name), "_on_action"))
