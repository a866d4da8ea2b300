"""Data types of the CSMS emulator (see :mod:`hil.emulators.csms`).

Everything here is plain data: recorded frames, the configurable behaviour, the per-station ledger and the
exceptions raised by :meth:`CsmsEmulator.call`. Payloads are always the camelCase dicts seen on the wire.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

#: OCPP-J message type ids (2.1 adds 5 = CALLRESULTERROR and 6 = SEND).
CALL, CALLRESULT, CALLERROR, CALLRESULTERROR, SEND = 2, 3, 4, 5, 6

#: Override for one station-initiated action: ``(station_id, camelCase request) -> camelCase response``.
#: May be sync or async. Returning ``None`` falls back to the emulator's default answer (observe-only hook).
#: Raising an :class:`ocpp.exceptions.OCPPError` subclass answers with a CALLERROR of that code; any other
#: exception answers ``InternalError``.
ActionHandler = Callable[[str, dict[str, Any]], dict[str, Any] | Awaitable[dict[str, Any] | None] | None]

Direction = Literal["rx", "tx"]


@dataclass
class Frame:
    """One OCPP-J frame on the wire, recorded raw (``rx`` = station -> CSMS, ``tx`` = CSMS -> station).

    ``payload`` is element 3 of a CALL/SEND, element 2 of a CALLRESULT, and
    ``{"errorCode", "errorDescription", "errorDetails"}`` for a CALLERROR/CALLRESULTERROR. Frames that are not
    valid OCPP-J keep ``raw`` and have ``None`` in the fields that could not be read. ``action`` of a
    CALLRESULT/CALLERROR is taken from the CALL it answers. ``index`` is the frame's sequence number in
    :attr:`CsmsEmulator.frames` (stable even when old frames are trimmed with ``max_frames``).
    """

    station_id: str
    direction: Direction
    raw: str
    message_type: int | None
    unique_id: str | None
    action: str | None
    payload: Any
    t: float
    index: int = -1

    @property
    def is_call(self) -> bool:
        return self.message_type == CALL


def parse_frame(raw: str) -> tuple[int | None, str | None, str | None, Any]:
    """Best-effort split of an OCPP-J frame into (message_type, unique_id, action, payload); never raises."""
    try:
        msg = json.loads(raw)
    except (ValueError, TypeError):
        return None, None, None, None
    if not isinstance(msg, list) or not msg:
        return None, None, None, None
    mtype = msg[0] if isinstance(msg[0], int) and not isinstance(msg[0], bool) else None
    uid = msg[1] if len(msg) > 1 and isinstance(msg[1], str) else None
    action: str | None = None
    payload: Any = None
    if mtype in (CALL, SEND):
        action = msg[2] if len(msg) > 2 and isinstance(msg[2], str) else None
        payload = msg[3] if len(msg) > 3 else None
    elif mtype == CALLRESULT:
        payload = msg[2] if len(msg) > 2 else None
    elif mtype in (CALLERROR, CALLRESULTERROR):
        payload = {
            "errorCode": msg[2] if len(msg) > 2 else None,
            "errorDescription": msg[3] if len(msg) > 3 else None,
            "errorDetails": msg[4] if len(msg) > 4 else None,
        }
    return mtype, uid, action, payload


@dataclass
class CsmsBehaviour:
    """Configurable answers of the emulator. All fields are read on every message, so they may be changed live."""

    #: BootNotification answers, consumed in order per station (across reconnects); the last one repeats.
    boot_statuses: list[str] = field(default_factory=lambda: ["Accepted"])
    #: ``interval`` (heartbeat interval) sent with an Accepted BootNotification answer.
    boot_interval: int = 300
    #: ``interval`` (retry interval) sent with a Pending or Rejected BootNotification answer.
    pending_interval: int = 1
    #: idTagInfo / idTokenInfo status per id tag (Authorize, StartTransaction, StopTransaction, TransactionEvent).
    id_tags: dict[str, str] = field(default_factory=dict)
    default_id_status: str = "Accepted"
    #: Per-action overrides, see :data:`ActionHandler`.
    handlers: dict[str, ActionHandler] = field(default_factory=dict)
    #: Delay before answering every station-initiated CALL.
    response_delay_s: float = 0.0
    #: Per-action delay, replaces ``response_delay_s`` for that action.
    action_delays_s: dict[str, float] = field(default_factory=dict)
    #: Actions that are recorded but never answered (to test the station's response timeout).
    silent_actions: set[str] = field(default_factory=set)
    #: Leave the next N CALLs of an action unanswered (N counts down per CALL; to test the station's retries).
    unanswered: dict[str, int] = field(default_factory=dict)
    #: DataTransfer answer; OCPP says a receiver without an implementation for the vendorId answers UnknownVendorId.
    data_transfer_status: str = "UnknownVendorId"
    #: Validate handler answers against the response schema (False lets an override send a schema-invalid answer).
    validate_responses: bool = True
    #: 2.1 PullDynamicScheduleUpdate: chargingProfileId -> camelCase ChargingScheduleUpdateType to return.
    dynamic_schedule_updates: dict[int, dict[str, Any]] = field(default_factory=dict)

    def id_status(self, id_tag: str | None) -> str:
        if id_tag is None:
            return self.default_id_status
        return self.id_tags.get(id_tag, self.default_id_status)


@dataclass
class Transaction:
    """Ledger entry. 1.6: created by StartTransaction (``transaction_id`` is the int the emulator assigned).
    2.x: created by the first TransactionEvent for that transactionId (a str), whatever its eventType."""

    station_id: str
    transaction_id: int | str
    id_tag: str | None = None
    evse_id: int | None = None  # 2.x evse.id; 1.6 connectorId
    connector_id: int | None = None
    started_at: str | None = None  # station timestamp of StartTransaction / TransactionEvent(Started)
    ended_at: str | None = None
    meter_start: int | None = None  # 1.6 only (Wh)
    meter_stop: int | None = None  # 1.6 only (Wh)
    stop_reason: str | None = None  # 1.6 reason / 2.x transactionInfo.stoppedReason
    charging_state: str | None = None  # 2.x transactionInfo.chargingState (last seen)
    started: bool = False  # 1.6 StartTransaction / 2.x an event with eventType Started was received
    ended: bool = False
    seq_nos: list[int] = field(default_factory=list)  # 2.x, in arrival order
    event_types: list[str] = field(default_factory=list)  # 2.x eventType per event; 1.6 "Start"/"Stop"
    events: list[dict[str, Any]] = field(default_factory=list)  # raw request payloads
    meter_values: list[dict[str, Any]] = field(default_factory=list)  # camelCase MeterValue objects

    @property
    def active(self) -> bool:
        return not self.ended


@dataclass
class StationState:
    """What the emulator knows about one station id; survives reconnects."""

    station_id: str
    protocol: str | None = None  # subprotocol of the current / last connection
    connected: bool = False
    connect_count: int = 0
    boot_count: int = 0
    boot_status: str | None = None  # last BootNotification answer
    boot_payload: dict[str, Any] | None = None  # last BootNotification request
    heartbeat_count: int = 0
    #: 1.6: connectorId -> status; 2.x: (evseId, connectorId) -> connectorStatus
    connector_status: dict[int | tuple[int, int], str] = field(default_factory=dict)
    transactions: dict[int | str, Transaction] = field(default_factory=dict)
    meter_values: list[dict[str, Any]] = field(default_factory=list)  # MeterValues request payloads
    action_counts: Counter[str] = field(default_factory=Counter)  # handled station-initiated CALLs per action
    send_count: int = 0  # 2.1 SEND frames (e.g. NotifyPeriodicEventStream)


@dataclass
class CsmsEvent:
    """Connection-level event: ``connected``, ``disconnected`` or ``refused`` (auth / subprotocol / path)."""

    kind: Literal["connected", "disconnected", "refused"]
    station_id: str
    detail: str
    t: float = field(default_factory=time.monotonic)


class CallError(Exception):
    """The station answered a CSMS-initiated CALL with a CALLERROR."""

    def __init__(self, station_id: str, action: str, code: str, description: str, details: Any) -> None:
        super().__init__(f"{station_id} answered {action} with CALLERROR {code}: {description}")
        self.station_id = station_id
        self.action = action
        self.code = code
        self.description = description
        self.details = details


class InvalidResponse(Exception):
    """The station's CALLRESULT does not validate against the response schema; ``error`` is the OCPPError."""

    def __init__(self, station_id: str, action: str, payload: Any, error: Exception) -> None:
        super().__init__(f"{station_id} answered {action} with a schema-invalid CALLRESULT: {error}")
        self.station_id = station_id
        self.action = action
        self.payload = payload
        self.error = error


class StationNotConnected(ConnectionError):
    """No open connection for that station id (also raised when it drops while a CALL waits for its answer)."""


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """Structured log line: readable ``event k=v ...`` text plus the same fields as LogRecord attributes."""
    if logger.isEnabledFor(level):
        text = " ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in fields.items())
        logger.log(level, "%s %s", event, text, extra={"event": event, **fields}, stacklevel=2)
