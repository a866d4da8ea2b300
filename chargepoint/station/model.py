"""The station model's data: EVSEs, connectors, transactions and pending authorizations."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from chargepoint.hardware.interfaces import ConnectorPort, MeterReading, PortState
from chargepoint.station.types import AuthInfo, ChargingState, ConnectorStatus, FaultInfo, IdToken, MeterSample


class SetpointSource(Protocol):
    """Whatever decides each EVSE's signed setpoint every tick (the energy manager)."""

    def setpoint_for(self, evse: Evse, now: datetime) -> float: ...

    def transaction_ended(self, tx_id: str) -> None:
        """A transaction ended (its transaction-bound charging profiles go)."""


@dataclass
class Transaction:
    tx_id: str
    evse_id: int
    connector_id: int
    id_token: IdToken | None
    started_mono: float
    started_at: datetime
    meter_start_wh: float
    export_start_wh: float
    authorized: bool
    remote_start_id: int | None = None
    charging_state: ChargingState = ChargingState.EV_CONNECTED
    next_sample_mono: float | None = None
    parent_id: str | None = None
    ended: bool = False
    recovered: bool = False  # restored from storage after a restart; decided on the first tick
    suspend_since: float | None = None  # when the flow stopped while Charging (debounce of direction changes)
    deauthorized: bool = False  # the CSMS refused the token after the start; energy stopped (StopTxOnInvalidId off)
    # clock-aligned samples for the transaction's end message (StopTxnAlignedData / AlignedDataCtrlr.TxEndedMeasurands)
    end_aligned: list[MeterSample] = field(default_factory=list)

    def energy_wh(self, reading: MeterReading) -> tuple[float, float]:
        return reading.import_wh - self.meter_start_wh, reading.export_wh - self.export_start_wh


@dataclass
class PendingAuth:
    """An identification (local token or remote start) waiting for the car to be plugged in."""

    id_token: IdToken
    info: AuthInfo | None  # None while the CSMS has not answered yet
    expires_mono: float
    remote_start_id: int | None = None
    remote: bool = False


@dataclass
class Connector:
    evse_id: int
    connector_id: int
    port: ConnectorPort
    operative: bool = True
    pending_operative: bool | None = None
    reported: ConnectorStatus | None = None
    state: PortState | None = None
    fault: FaultInfo | None = None


@dataclass
class Evse:
    id: int
    connectors: list[Connector]
    operative: bool = True
    pending_operative: bool | None = None
    tx: Transaction | None = None
    pending: PendingAuth | None = None
    setpoint_w: float = float("inf")  # signed; +inf = as much as the car and the charger allow
    session_done: bool = False  # a transaction ended (or was refused) and the car is still plugged

    @property
    def connector(self) -> Connector:
        return self.connectors[0]


@dataclass
class _AuthWait:
    ref: int
    evse_id: int | None
    id_token: IdToken
    purpose: str  # "start" | "stop" | "remote_start"
    remote_start_id: int | None = None


@dataclass
class StationCounters:
    transactions_started: int = 0
    transactions_ended: int = 0
    status_changes: int = 0
    extra: dict[str, int] = field(default_factory=dict)
