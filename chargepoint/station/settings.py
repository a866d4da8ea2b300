"""Runtime settings the CSMS can read and change (1.6 configuration keys, 2.0.1 device-model variables).

One neutral store; each adapter exposes it under its own names. Values are validated on write.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from chargepoint.station.metering import DEFAULT_MEASURANDS
from chargepoint.station.types import Measurand


class TxPoint:
    """2.0.1 TxStartPoint / TxStopPoint values the model implements."""

    EV_CONNECTED = "EVConnected"
    AUTHORIZED = "Authorized"
    POWER_PATH_CLOSED = "PowerPathClosed"
    ENERGY_TRANSFER = "EnergyTransfer"
    ALL = (EV_CONNECTED, AUTHORIZED, POWER_PATH_CLOSED, ENERGY_TRANSFER)


@dataclass
class StationSettings:
    heartbeat_interval_s: int = 300
    connection_timeout_s: int = 60  # plug-in / identification time-out before a prepared session is dropped
    sample_interval_s: int = 60  # MeterValueSampleInterval / SampledDataTxUpdatedInterval, 0 = off
    aligned_interval_s: int = 900  # ClockAlignedDataInterval / AlignedDataInterval, 0 = off
    sampled_measurands: tuple[Measurand, ...] = DEFAULT_MEASURANDS
    # 2.0.1 SampledDataCtrlr.TxStartedMeasurands (Transaction.Begin sample); None = same as sampled_measurands
    tx_started_measurands: tuple[Measurand, ...] | None = None
    aligned_measurands: tuple[Measurand, ...] = (
        Measurand.ENERGY_IMPORT_REGISTER,
        Measurand.ENERGY_EXPORT_REGISTER,
    )
    stop_txn_sampled_measurands: tuple[Measurand, ...] = (
        Measurand.ENERGY_IMPORT_REGISTER,
        Measurand.ENERGY_EXPORT_REGISTER,
    )
    stop_txn_aligned_measurands: tuple[Measurand, ...] = ()
    # clock-aligned interval of the stop_txn_aligned_measurands samples (2.x AlignedDataCtrlr.TxEndedInterval);
    # None = aligned_interval_s (1.6 StopTxnAlignedData uses ClockAlignedDataInterval)
    stop_txn_aligned_interval_s: int | None = None
    aligned_data_send_during_idle: bool = False  # clock-aligned MeterValues for EVSEs without a transaction
    aligned_data_during_tx: bool = True  # False = 2.0.1 SendDuringIdle: none at all while any transaction runs
    stop_transaction_on_ev_side_disconnect: bool = True
    stop_transaction_on_invalid_id: bool = True
    unlock_connector_on_ev_side_disconnect: bool = True
    tx_start_points: tuple[str, ...] = (TxPoint.POWER_PATH_CLOSED,)
    tx_stop_points: tuple[str, ...] = (TxPoint.EV_CONNECTED, TxPoint.AUTHORIZED)
    reset_retries: int = 1
    transaction_message_attempts: int = 3
    transaction_message_retry_interval_s: int = 60
    minimum_status_duration_s: int = 0
    queue_all_messages: bool = False  # 2.x OCPPCommCtrlr.QueueAllMessages
    message_types_discard_for_queueing: tuple[str, ...] = ()  # 2.x OCPPCommCtrlr.MessageTypesDiscardForQueueing
    queue_max_messages: int = 10_000  # size threshold of the outgoing queue
    # 2.x OCPPCommCtrlr.OfflineThreshold: offline longer than this, every connector's status is reported after the
    # reconnection; shorter, only the changed ones (B04)
    offline_threshold_s: int = 60
    web_socket_ping_interval_s: int = 30
    local_list_max_length: int = 1000
    send_local_list_max_length: int = 1000
    extra: dict[str, str] = field(default_factory=dict)

    def names(self) -> list[str]:
        return [f.name for f in fields(self) if f.name != "extra"]
