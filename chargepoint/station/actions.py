"""What the station model asks its drivers to do. Adapters turn these into OCPP messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chargepoint.station.types import (
    ConnectorStatus,
    FaultInfo,
    IdToken,
    MeterSample,
    ReadingContext,
    ResetKind,
    StopReason,
    TriggerReason,
)


@dataclass(frozen=True, slots=True)
class StatusChanged:
    evse_id: int
    connector_id: int
    status: ConnectorStatus
    fault: FaultInfo | None = None


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    """The model needs the CSMS's answer; report it with Station.authorize_result(ref, info)."""

    ref: int
    id_token: IdToken


@dataclass(frozen=True, slots=True)
class TransactionStarted:
    tx_id: str  # the station's local id (2.x transactionId); 1.6 gets its integer id from the CSMS
    evse_id: int
    connector_id: int
    id_token: IdToken | None
    meter_start_wh: float
    trigger: TriggerReason
    sample: MeterSample | None
    remote_start_id: int | None = None
    charging_state: str | None = None


@dataclass(frozen=True, slots=True)
class TransactionUpdated:
    tx_id: str
    evse_id: int
    connector_id: int
    trigger: TriggerReason
    samples: tuple[MeterSample, ...] = ()
    charging_state: str | None = None
    id_token: IdToken | None = None  # set when the update carries an authorization (e.g. Authorized trigger)
    timestamp: datetime | None = None  # when it happened (stamped by Station._emit; sent later when offline)


@dataclass(frozen=True, slots=True)
class TransactionEnded:
    tx_id: str
    evse_id: int
    connector_id: int
    id_token: IdToken | None
    meter_stop_wh: float
    reason: StopReason
    trigger: TriggerReason
    samples: tuple[MeterSample, ...] = ()  # StopTxnSampledData / TxEnded values
    timestamp: datetime | None = None  # when it ended (the message may be sent much later, e.g. after going offline)


@dataclass(frozen=True, slots=True)
class MeterValuesReport:
    """Meter values outside a transaction, or 1.6 MeterValues for a transaction."""

    evse_id: int
    connector_id: int
    tx_id: str | None
    samples: tuple[MeterSample, ...]
    context: ReadingContext


@dataclass(frozen=True, slots=True)
class RebootRequested:
    kind: ResetKind


@dataclass(frozen=True, slots=True)
class Unlocked:
    evse_id: int
    connector_id: int


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """A security event for the CSMS (SecurityEventNotification). ``kind`` is the OCPP 2.0.1 name (e.g.
    "InvalidCsmsCertificate"); adapters translate it. Queued and persisted like transaction messages."""

    kind: str
    tech_info: str | None
    timestamp: datetime


Action = (
    StatusChanged
    | AuthorizeRequest
    | TransactionStarted
    | TransactionUpdated
    | TransactionEnded
    | MeterValuesReport
    | RebootRequested
    | Unlocked
    | SecurityEvent
)
