"""OCPP 2.0.1 adapter: the neutral station model spoken as OCPP 2.0.1 (and, by subclassing, 2.1).

Outbound, :meth:`V201Adapter.dispatch` turns the station's neutral actions into CALLs (StatusNotification,
Authorize, TransactionEvent with per-transaction ``seqNo``, MeterValues). Inbound, the ``@on`` handlers in
:mod:`chargepoint.ocpp.v201_handlers` turn CSMS requests into station commands and device-model reads/writes.

A later protocol version subclasses this with three class attributes::

    class V21Adapter(V201Adapter):
        version = "2.1"
        subprotocol = "ocpp2.1"
        ocpp_module = ocpp.v21

Every message is built from ``self._call`` / ``self._call_result`` (derived from ``ocpp_module``) with plain
snake_case dicts for nested types, so nothing here names a version-specific class.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType
from typing import Any, ClassVar

import ocpp.charge_point
import ocpp.v201
from ocpp.exceptions import OCPPError, UnknownCallErrorCodeError

from chargepoint.clock import iso
from chargepoint.ocpp.base import AdapterBase, BootOutcome, SessionHooks, StationIdentity
from chargepoint.ocpp.device_model import DeviceModel
from chargepoint.ocpp.security_v201 import SIGN_TRIGGERS, V201Security
from chargepoint.ocpp.strict import StrictRouter
from chargepoint.ocpp.v201_convert import auth_info, id_token_type, meter_values, parse_time
from chargepoint.ocpp.v201_handlers import V201Handlers
from chargepoint.ocpp.v201_smart import V201SmartCharging
from chargepoint.ocpp.v201_variables import bind, connector_status_201, device_model_for
from chargepoint.station.actions import (
    Action,
    AuthorizeRequest,
    MeterValuesReport,
    RebootRequested,
    SecurityEvent,
    StatusChanged,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from chargepoint.station.core import Station
from chargepoint.station.metering import build_sample
from chargepoint.station.types import (
    ConnectorStatus,
    MeterSample,
    ReadingContext,
    StopReason,
    TriggerReason,
)

log = logging.getLogger("chargepoint.ocpp.v201")

# 2.0.1 ReasonEnumType for the neutral reasons that only exist in 1.6.
STOP_REASON_201: dict[StopReason, str] = {
    StopReason.HARD_RESET: "ImmediateReset",
    StopReason.SOFT_RESET: "ImmediateReset",
    StopReason.UNLOCK_COMMAND: "Other",
}

CALL_FAILED = (OCPPError, UnknownCallErrorCodeError)
# While Pending (B02) the CSMS may configure the station but not start or stop transactions; while Rejected (B03) it
# may only ask for a new BootNotification. Anything else gets CALLERROR SecurityError (TC_B_30).
NOT_WHILE_PENDING = frozenset({"RequestStartTransaction", "RequestStopTransaction"})
WHILE_REJECTED = frozenset({"TriggerMessage"})


class TransactionMessageFailed(TimeoutError):
    """The CSMS answered a TransactionEvent with a CALLERROR: the session retries it like an unanswered one."""


class _RedactSecrets(logging.Filter):
    """Keep WriteOnly secrets (SecurityCtrlr.BasicAuthPassword) out of the wire log."""

    _VALUE = re.compile(r'("attributeValue"\s*:\s*)"(?:[^"\\]|\\.)*"')

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is the logging module's business, not ours
            return True
        if "basicauthpassword" in text.lower():
            record.msg = self._VALUE.sub(r'\1"***"', text)
            record.args = ()
        return True


wire_log = logging.getLogger("chargepoint.ocpp.v201.wire")
wire_log.addFilter(_RedactSecrets())


@dataclass
class _StationState:
    """What must outlive one connection's adapter: the transactions' next seqNo (the device model lives in
    :mod:`chargepoint.ocpp.v201_variables`)."""

    seq: dict[str, int] = field(default_factory=dict)
    tx_profiles: dict[int, dict[str, Any]] = field(default_factory=dict)
    restored: bool = False  # persistent state loaded once per process (later connections keep what is in memory)


_STATES: weakref.WeakKeyDictionary[Station, _StationState] = weakref.WeakKeyDictionary()

_LIB = ocpp.charge_point.ChargePoint


class V201Adapter(StrictRouter, AdapterBase, V201Handlers, V201SmartCharging, V201Security, ocpp.v201.ChargePoint):
    version: ClassVar[str] = "2.0.1"
    subprotocol: ClassVar[str] = "ocpp2.0.1"
    ocpp_module: ClassVar[ModuleType] = ocpp.v201

    # The mixins declare these for type checking only; bind the library's implementations explicitly so that no
    # stub earlier in the MRO can ever shadow them.
    start = V201SmartCharging.run_connection  # the library's receive loop + smart-charging duties
    _send = _LIB._send
    _handle_call = _LIB._handle_call

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        mod = cls.__dict__.get("ocpp_module")
        if mod is not None:  # a new protocol version: its messages, results and schemas
            cls._call = mod.call
            cls._call_result = mod.call_result
            cls._ocpp_version = mod.ChargePoint._ocpp_version

    def __init__(
        self,
        station_id: str,
        connection: Any,
        station: Station,
        hooks: SessionHooks,
        identity: StationIdentity,
        response_timeout: float = 30,
        device_model: DeviceModel | None = None,
    ) -> None:
        super().__init__(station_id, connection, response_timeout, logger=wire_log)
        self.station = station
        self.hooks = hooks
        self.identity = identity
        if device_model is None:
            device_model = device_model_for(station, station_id, identity, hooks, self, response_timeout)
            # The device model outlives connections: a MessageTimeout set by the CSMS wins over the default.
            try:
                self._response_timeout = int(device_model.read("OCPPCommCtrlr", "MessageTimeout", "Default") or 0) \
                    or response_timeout
            except KeyError:
                pass
        else:
            bind(device_model, hooks, self)
        self.device_model = device_model
        self.bind_security()
        self.bind_smart_charging()
        self._state = _STATES.setdefault(station, _StationState())
        self._status_sent: dict[tuple[int, int], str] = {}
        self._tx_lock = asyncio.Lock()
        self._inbound_bytes = 0
        self._triggers: dict[str, tuple[str, list[int]]] = {}
        self._reports: dict[int, list[dict[str, Any]]] = {}

    @property
    def tx_profiles(self) -> dict[int, dict[str, Any]]:
        """TxProfiles received with RequestStartTransaction, by remoteStartId (for the smart-charging layer)."""
        return self._state.tx_profiles

    def persistent_state(self) -> dict[str, Any]:
        """What must survive a restart (saved by the session with each acknowledged transaction message): the next
        seqNo of every open transaction and the device model's persistent values."""
        return {"seq": dict(self._state.seq), "device_model": self.device_model.snapshot()}

    def load_persistent_state(self, data: dict[str, Any]) -> None:
        for tx_id, seq in (data.get("seq") or {}).items():
            self._state.seq[str(tx_id)] = max(int(seq), self._state.seq.get(str(tx_id), 0))
        if not self._state.restored:
            self._state.restored = True
            skipped = self.device_model.restore(data.get("device_model") or {})
            if skipped:
                log.warning("device model: %d stored value(s) no longer apply: %s", len(skipped), ", ".join(skipped))

    def describe(self) -> dict[str, Any]:
        return {"version": self.version, "subprotocol": self.subprotocol, "variables": len(self.device_model)}

    def refuse_call(self, action: str) -> str | None:
        status = self.hooks.registration_status
        if status == "Pending" and action in NOT_WHILE_PENDING:
            return f"{action} is not allowed while the BootNotification is Pending"
        if status == "Rejected" and action not in WHILE_REJECTED:
            return f"{action} is not allowed while the BootNotification is Rejected"
        return None

    async def route_message(self, raw_msg: str | bytes) -> None:
        # The size of the CALL being handled, for the DeviceDataCtrlr.BytesPerMessage limits.
        self._inbound_bytes = len(raw_msg.encode() if isinstance(raw_msg, str) else raw_msg)
        await super().route_message(raw_msg)

    # ------------------------------------------------------------------ registration
    async def boot(self, reason: str) -> BootOutcome:
        if reason != "Triggered":
            changed = self.device_model.apply_pending()
            if changed:
                log.info("applied %d reboot-required variable(s) at boot", len(changed))
        cs = {
            "model": self.identity.model,
            "vendor_name": self.identity.vendor,
            "serial_number": self.identity.serial_number,
            "firmware_version": self.identity.firmware_version,
        }
        res = await self.call(self._call.BootNotification(charging_station=cs, reason=reason))
        if res is None:  # CALLERROR: try again later like a rejection
            return BootOutcome("Rejected", 0)
        return BootOutcome(res.status, int(res.interval), parse_time(res.current_time))

    async def heartbeat(self) -> datetime | None:
        res = await self.call(self._call.Heartbeat())
        return None if res is None else parse_time(res.current_time)

    # ------------------------------------------------------------------ outbound
    async def dispatch(self, action: Action) -> None:
        if isinstance(action, StatusChanged):
            await self.send_status(action.evse_id, action.connector_id, action.status)
        elif isinstance(action, AuthorizeRequest):
            await self._authorize(action)
        elif isinstance(action, (TransactionStarted, TransactionUpdated, TransactionEnded)):
            await self._transaction_event(action)
        elif isinstance(action, MeterValuesReport):
            await self._meter_values(action.evse_id, action.samples)
        elif isinstance(action, RebootRequested):
            self.hooks.request_reboot(action.kind)
        elif isinstance(action, SecurityEvent):
            await self.send_security_event(action)
        # Unlocked: nothing to report in 2.x

    async def dispatch_offline(self, action: Action) -> None:
        """Like :meth:`dispatch`, for an action produced while the CSMS was unreachable: a TransactionEvent says
        ``offline: true`` (E04)."""
        if isinstance(action, (TransactionStarted, TransactionUpdated, TransactionEnded)):
            await self._transaction_event(action, offline=True)
        else:
            await self.dispatch(action)

    async def send_status(self, evse_id: int, connector_id: int, status: ConnectorStatus, force: bool = False) -> None:
        """StatusNotification, only when the 2.0.1 status changes (1.6's in-session states all read Occupied)."""
        mapped = connector_status_201(status)
        key = (evse_id, connector_id)
        if not force and self._status_sent.get(key) == mapped:
            return
        await self.call(self._call.StatusNotification(
            timestamp=iso(self.station.clock.now()), connector_status=mapped, evse_id=evse_id,
            connector_id=connector_id,
        ))
        self._status_sent[key] = mapped

    async def _authorize(self, action: AuthorizeRequest) -> None:
        try:
            res = await self.call(self._call.Authorize(id_token=id_token_type(action.id_token)), suppress=False)
        except (TimeoutError, *CALL_FAILED) as e:
            log.warning("Authorize for a token got no answer (%s); deciding locally", type(e).__name__)
            self.station.authorize_result(action.ref, None)
            return
        except BaseException:
            self.station.authorize_result(action.ref, None)
            raise
        self.station.authorize_result(action.ref, auth_info(res.id_token_info))

    async def _transaction_event(self, action: TransactionStarted | TransactionUpdated | TransactionEnded,
                                 offline: bool = False) -> None:
        self.smart_transaction_action(action)
        async with self._tx_lock:  # seqNo assignment and sending are one step
            seq = self._state.seq.get(action.tx_id, 0)
            payload = self._tx_payload(action, seq)
            if offline:
                payload["offline"] = True
            try:
                res = await self.call(self._call.TransactionEvent(**payload), suppress=False)
            except CALL_FAILED as e:
                # E14 (TC_E_50/51): a CALLERROR is retried like a missing answer (MessageAttempts / Interval), the
                # same message with the same seqNo; the session gives up after the last attempt (message_abandoned).
                log.warning("TransactionEvent %s seqNo %d refused: %s", payload["event_type"], seq, e)
                raise TransactionMessageFailed(f"TransactionEvent answered with CALLERROR {e}") from e
            # A time-out or a lost connection raises before this point too: a retry reuses the same seqNo.
            if isinstance(action, TransactionEnded):
                self._state.seq.pop(action.tx_id, None)
            else:
                self._state.seq[action.tx_id] = seq + 1
        info = getattr(res, "id_token_info", None)
        token = payload.get("id_token")
        if info is not None and token is not None:
            parsed = auth_info(info)
            self.station.auth.remember(token["id_token"], parsed)
            if not parsed.accepted:
                self.station.deauthorize(action.tx_id)

    def message_abandoned(self, action: Action) -> None:
        """The session gave up on a transaction message after its last attempt: its seqNo stays used, so the CSMS
        sees the gap (the next message does not take the same number)."""
        if isinstance(action, TransactionEnded):
            self._state.seq.pop(action.tx_id, None)
        elif isinstance(action, (TransactionStarted, TransactionUpdated)):
            self._state.seq[action.tx_id] = self._state.seq.get(action.tx_id, 0) + 1

    def _tx_payload(self, action: TransactionStarted | TransactionUpdated | TransactionEnded,
                    seq: int) -> dict[str, Any]:
        now = self.station.clock.now()
        info: dict[str, Any] = {"transaction_id": action.tx_id}
        out: dict[str, Any] = {"trigger_reason": action.trigger.value, "seq_no": seq, "transaction_info": info}
        samples: tuple[MeterSample, ...]
        if isinstance(action, TransactionStarted):
            out["event_type"] = "Started"
            out["evse"] = {"id": action.evse_id, "connector_id": action.connector_id}
            info["charging_state"] = action.charging_state
            info["remote_start_id"] = action.remote_start_id
            token = action.id_token
            samples = (action.sample,) if action.sample is not None else ()
        elif isinstance(action, TransactionUpdated):
            out["event_type"] = "Updated"
            tx = self.station.find_tx(action.tx_id)
            state = action.charging_state
            if state is None and action.trigger == TriggerReason.TRIGGER and tx is not None:
                state = tx.charging_state.value
            info["charging_state"] = state
            token = action.id_token
            if token is not None and tx is not None:
                info["remote_start_id"] = tx.remote_start_id
            samples = action.samples
        else:
            out["event_type"] = "Ended"
            info["stopped_reason"] = STOP_REASON_201.get(action.reason, action.reason.value)
            token = action.id_token if action.trigger == TriggerReason.STOP_AUTHORIZED else None
            samples = action.samples
        if token is not None:
            out["id_token"] = id_token_type(token)
        meter = meter_values(samples)
        if meter:
            out["meter_value"] = meter
        when = samples[0].timestamp if samples else now
        if not isinstance(action, TransactionStarted) and action.timestamp is not None:
            when = action.timestamp  # when it happened, even if it is sent much later
        out["timestamp"] = iso(when)
        return out

    async def _meter_values(self, evse_id: int, samples: tuple[MeterSample, ...]) -> None:
        meter = meter_values(samples)
        if meter:
            await self.call(self._call.MeterValues(evse_id=evse_id, meter_value=meter))

    # ------------------------------------------------------------------ TriggerMessage follow-ups
    async def send_triggered(self, message: str, evse_ids: list[int], connector_id: int | None) -> None:
        """Send what an accepted TriggerMessage asked for (after its response went out)."""
        st = self.station
        if message == "BootNotification":
            self.hooks.trigger_boot()
        elif message == "Heartbeat":
            self.hooks.trigger_heartbeat()
        elif message == "StatusNotification" and connector_id is not None:
            for evse_id in evse_ids:
                await self.send_status(evse_id, connector_id, st.status_of(st.evse(evse_id)), force=True)
        elif message == "MeterValues":
            for evse_id in evse_ids:
                sample = self._trigger_sample(evse_id, st.settings.aligned_measurands)
                await self._meter_values(evse_id, (sample,))
        elif message in SIGN_TRIGGERS:
            await self.sign_certificate(SIGN_TRIGGERS[message])
        elif message == "TransactionEvent":
            for evse_id in evse_ids:
                tx = st.evse(evse_id).tx
                if tx is None:
                    continue
                sample = self._trigger_sample(evse_id, st.settings.sampled_measurands)
                await self._transaction_event(TransactionUpdated(
                    tx.tx_id, evse_id, tx.connector_id, TriggerReason.TRIGGER, (sample,) if sample.values else (),
                    tx.charging_state.value,
                ))

    def _trigger_sample(self, evse_id: int, measurands: Any) -> MeterSample:
        st = self.station
        return build_sample(st.clock.now(), measurands, st.reading(evse_id), st.soc(evse_id), ReadingContext.TRIGGER)

    async def send_report(self, request_id: int) -> None:
        """NotifyReport messages for an accepted GetBaseReport, split by DeviceDataCtrlr ItemsPerMessage /
        BytesPerMessage [GetReport]."""
        entries = self._reports.pop(request_id, None)
        if not entries:
            return
        max_items = self.limit("ItemsPerMessage", "GetReport") or len(entries)
        max_bytes = self.limit("BytesPerMessage", "GetReport")
        chunks: list[list[dict[str, Any]]] = [[]]
        size = 0
        for entry in entries:
            n = len(json.dumps(entry, separators=(",", ":"))) + 1
            if chunks[-1] and (len(chunks[-1]) >= max_items or (max_bytes and size + n + 200 > max_bytes)):
                chunks.append([])
                size = 0
            chunks[-1].append(entry)
            size += n
        generated = iso(self.station.clock.now())
        for seq, chunk in enumerate(chunks):
            await self.call(self._call.NotifyReport(
                request_id=request_id, generated_at=generated, seq_no=seq, tbc=seq < len(chunks) - 1,
                report_data=chunk,
            ))

    def limit(self, variable: str, instance: str) -> int | None:
        """A DeviceDataCtrlr limit, or None when the device model has no such variable."""
        try:
            value = self.device_model.read("DeviceDataCtrlr", variable, instance)
        except KeyError:
            return None
        return int(value) if value else None
