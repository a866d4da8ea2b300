"""The standard 2.0.1 device model of this station, bound to the neutral station model.

Every variable that names a neutral setting reads and writes it (``station.settings``, ``station.auth.policy``,
``station.authorize_remote_start``, ...), so a SetVariables takes effect at once and a GetVariables shows what the
station really does. Variables without a neutral counterpart are stored in the device model itself.

One device model lives as long as its :class:`~chargepoint.station.core.Station` (the session driver builds a new
adapter per connection): :func:`device_model_for` returns the same object for the same station and rebinds the
per-connection parts (the session hooks and the adapter whose response time-out ``MessageTimeout`` sets).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chargepoint.clock import iso
from chargepoint.ocpp.base import SessionHooks, StationIdentity
from chargepoint.ocpp.device_model import Attribute, AttributeType, Component, DataType, DeviceModel, Mutability
from chargepoint.ocpp.transport import Backoff
from chargepoint.station.core import Evse, Station
from chargepoint.station.metering import parse_measurands
from chargepoint.station.settings import StationSettings, TxPoint
from chargepoint.station.types import ConnectorStatus, Measurand

RW = Mutability.READ_WRITE
RO = Mutability.READ_ONLY
WO = Mutability.WRITE_ONLY

# 2.0.1 ConnectorStatusEnumType for each neutral status (1.6's five in-session states fold into Occupied).
CONNECTOR_STATUS_201: dict[ConnectorStatus, str] = {
    ConnectorStatus.AVAILABLE: "Available",
    ConnectorStatus.PREPARING: "Occupied",
    ConnectorStatus.CHARGING: "Occupied",
    ConnectorStatus.SUSPENDED_EV: "Occupied",
    ConnectorStatus.SUSPENDED_EVSE: "Occupied",
    ConnectorStatus.FINISHING: "Occupied",
    ConnectorStatus.RESERVED: "Reserved",
    ConnectorStatus.UNAVAILABLE: "Unavailable",
    ConnectorStatus.FAULTED: "Faulted",
}
AVAILABILITY_STATES = ("Available", "Occupied", "Reserved", "Unavailable", "Faulted")
MEASURANDS = tuple(m.value for m in Measurand)
TIME_SOURCES = ("Heartbeat", "NTP", "GPS", "RealTimeClock", "MobileNetwork", "RadioTimeTransmitter")

# CHAdeMOCtrlr variable -> (data type, key in PortState.details). The CHAdeMO port publishes these keys; the
# variable name itself is accepted as a key too.
CHADEMO_DETAILS: dict[str, tuple[DataType, str]] = {
    "CHAdeMOProtocolNumber": (DataType.INTEGER, "chademo_protocol_number"),
    "VehicleStatus": (DataType.BOOLEAN, "vehicle_status"),
    "DynamicControl": (DataType.BOOLEAN, "dynamic_control"),
    "HighCurrentControl": (DataType.BOOLEAN, "high_current_control"),
    "HighVoltageControl": (DataType.BOOLEAN, "high_voltage_control"),
    "AutoManufacturerCode": (DataType.INTEGER, "auto_manufacturer_code"),
    "SelftestActive": (DataType.BOOLEAN, "selftest_active"),
}


@dataclass
class Bindings:
    """The live objects the variables are bound to; the adapter of the current connection updates the last two."""

    station: Station
    identity: StationIdentity
    station_id: str
    hooks: SessionHooks | None = None
    adapter: Any = None  # the adapter whose ``_response_timeout`` OCPPCommCtrlr.MessageTimeout sets


def connector_status_201(status: ConnectorStatus) -> str:
    return CONNECTOR_STATUS_201[status]


def _b(v: bool) -> str:
    return "true" if v else "false"


def _flag(obj: object, attr: str) -> tuple[Callable[[], str], Callable[[str], None]]:
    return (lambda: _b(bool(getattr(obj, attr)))), (lambda v: setattr(obj, attr, v == "true"))


def _int(obj: object, attr: str) -> tuple[Callable[[], str], Callable[[str], None]]:
    return (lambda: str(int(getattr(obj, attr)))), (lambda v: setattr(obj, attr, int(v)))


def _measurands(settings: StationSettings, attr: str) -> tuple[Callable[[], str], Callable[[str], None]]:
    def get() -> str:
        value = getattr(settings, attr)
        if value is None:  # tx_started_measurands: None = same as the updated ones
            value = settings.sampled_measurands
        return ",".join(m.value for m in value)

    return get, (lambda v: setattr(settings, attr, parse_measurands(v)))


def _points(settings: StationSettings, attr: str) -> tuple[Callable[[], str], Callable[[str], None]]:
    return (lambda: ",".join(getattr(settings, attr))), (lambda v: setattr(settings, attr, tuple(v.split(","))))


def _not_empty(value: str) -> None:
    if not value:
        raise ValueError("at least one value is required")


def _integers(value: str) -> None:
    for part in value.split(","):
        if not part.strip().isdigit():
            raise ValueError("slots must be non-negative integers")


def _detail(evse: Evse, variable: str, key: str, data_type: DataType) -> Callable[[], str | None]:
    def get() -> str | None:
        st = evse.connector.state
        if st is None:
            return None
        raw = st.details.get(key, st.details.get(variable))
        if raw is None:
            return None
        if data_type == DataType.BOOLEAN:
            return _b(bool(raw))
        return str(int(raw)) if isinstance(raw, (int, float, bool)) else str(raw)

    return get


def build_device_model(b: Bindings, response_timeout: float = 30.0) -> DeviceModel:
    """The station's 2.0.1 device model. ``b.hooks``/``b.adapter`` may be set later."""
    st = b.station
    s = st.settings
    policy = st.auth.policy
    dm = DeviceModel()
    dm.bindings = b
    # 2.0.1 reports clock-aligned values of idle EVSEs as MeterValuesRequest (J01) whenever AlignedDataInterval > 0.
    s.aligned_data_send_during_idle = True
    add = dm.add

    # ---- OCPPCommCtrlr
    c = Component("OCPPCommCtrlr")

    def set_heartbeat(v: str) -> None:
        s.heartbeat_interval_s = int(v)
        if b.hooks is not None:
            b.hooks.set_heartbeat_interval(int(v))

    add(c, "HeartbeatInterval", DataType.INTEGER, mutability=RW, persistent=True, unit="s", min_limit=1,
        getter=lambda: str(s.heartbeat_interval_s), setter=set_heartbeat)

    def set_timeout(v: str) -> None:
        if b.adapter is not None:
            b.adapter._response_timeout = int(v)

    add(c, "MessageTimeout", DataType.INTEGER, instance="Default", mutability=RW, persistent=True, unit="s",
        min_limit=1, max_limit=3600, value=str(round(response_timeout)), setter=set_timeout)
    g, w = _int(s, "transaction_message_attempts")
    add(c, "MessageAttempts", DataType.INTEGER, instance="TransactionEvent", mutability=RW, persistent=True,
        min_limit=1, max_limit=100, getter=g, setter=w)
    g, w = _int(s, "transaction_message_retry_interval_s")
    add(c, "MessageAttemptInterval", DataType.INTEGER, instance="TransactionEvent", mutability=RW, persistent=True,
        unit="s", min_limit=0, max_limit=86400, getter=g, setter=w)
    g, w = _flag(s, "queue_all_messages")
    add(c, "QueueAllMessages", DataType.BOOLEAN, mutability=RW, persistent=True, getter=g, setter=w)
    g, w = _points(s, "message_types_discard_for_queueing")
    add(c, "MessageTypesDiscardForQueueing", DataType.MEMBER_LIST, mutability=RW, persistent=True,
        values_list=("StatusNotification", "MeterValues", "NotifyEvent", "Heartbeat"), getter=g,
        setter=lambda v: setattr(s, "message_types_discard_for_queueing", tuple(x for x in v.split(",") if x)))
    g, w = _int(s, "reset_retries")
    add(c, "ResetRetries", DataType.INTEGER, mutability=RW, persistent=True, min_limit=0, max_limit=100,
        getter=g, setter=w)
    g, w = _flag(s, "unlock_connector_on_ev_side_disconnect")
    add(c, "UnlockOnEVSideDisconnect", DataType.BOOLEAN, mutability=RW, persistent=True, getter=g, setter=w)
    g, w = _int(s, "web_socket_ping_interval_s")
    add(c, "WebSocketPingInterval", DataType.INTEGER, mutability=RW, persistent=True, unit="s", min_limit=0,
        max_limit=86400, getter=g, setter=w)
    g, w = _int(s, "offline_threshold_s")
    add(c, "OfflineThreshold", DataType.INTEGER, mutability=RW, persistent=True, unit="s", min_limit=0,
        getter=g, setter=w)
    _add_retry_backoff(dm, c, b)
    add(c, "NetworkProfileConnectionAttempts", DataType.INTEGER, mutability=RW, persistent=True, min_limit=1,
        max_limit=100, value="3")
    add(c, "NetworkConfigurationPriority", DataType.SEQUENCE_LIST, mutability=RW, persistent=True,
        reboot_required=True, max_limit=100, value="0", validator=_integers)
    add(c, "FileTransferProtocols", DataType.MEMBER_LIST, value="HTTPS", values_list=("HTTP", "HTTPS", "FTP",
                                                                                        "FTPS", "SFTP"))

    # ---- TxCtrlr
    c = Component("TxCtrlr")
    g, w = _int(s, "connection_timeout_s")
    add(c, "EVConnectionTimeOut", DataType.INTEGER, mutability=RW, persistent=True, unit="s", min_limit=1,
        max_limit=86400, getter=g, setter=w)
    g, w = _flag(s, "stop_transaction_on_ev_side_disconnect")
    add(c, "StopTxOnEVSideDisconnect", DataType.BOOLEAN, mutability=RW, persistent=True, getter=g, setter=w)
    g, w = _flag(s, "stop_transaction_on_invalid_id")
    add(c, "StopTxOnInvalidId", DataType.BOOLEAN, mutability=RW, persistent=True, getter=g, setter=w)
    for name, attr in (("TxStartPoint", "tx_start_points"), ("TxStopPoint", "tx_stop_points")):
        g, w = _points(s, attr)
        add(c, name, DataType.MEMBER_LIST, mutability=RW, persistent=True, values_list=TxPoint.ALL,
            getter=g, setter=w, validator=_not_empty)

    # ---- SampledDataCtrlr
    c = Component("SampledDataCtrlr")
    g, w = _int(s, "sample_interval_s")
    add(c, "TxUpdatedInterval", DataType.INTEGER, mutability=RW, persistent=True, unit="s", min_limit=0,
        getter=g, setter=w)
    for name, attr in (("TxStartedMeasurands", "tx_started_measurands"),
                       ("TxUpdatedMeasurands", "sampled_measurands"),
                       ("TxEndedMeasurands", "stop_txn_sampled_measurands")):
        g, w = _measurands(s, attr)
        add(c, name, DataType.MEMBER_LIST, mutability=RW, persistent=True, values_list=MEASURANDS,
            getter=g, setter=w)
    add(c, "TxEndedInterval", DataType.INTEGER, mutability=RW, persistent=True, unit="s", min_limit=0, value="0")

    # ---- AlignedDataCtrlr
    c = Component("AlignedDataCtrlr")
    g, w = _int(s, "aligned_interval_s")
    add(c, "Interval", DataType.INTEGER, mutability=RW, persistent=True, unit="s", min_limit=0, getter=g, setter=w)
    for name, attr in (("Measurands", "aligned_measurands"), ("TxEndedMeasurands", "stop_txn_aligned_measurands")):
        g, w = _measurands(s, attr)
        add(c, name, DataType.MEMBER_LIST, mutability=RW, persistent=True, values_list=MEASURANDS,
            getter=g, setter=w)
    # SendDuringIdle=true: clock-aligned values only while no transaction runs (J01.FR.20)
    add(c, "SendDuringIdle", DataType.BOOLEAN, mutability=RW, persistent=True,
        getter=lambda: _b(not s.aligned_data_during_tx),
        setter=lambda v: setattr(s, "aligned_data_during_tx", v == "false"))
    add(c, "TxEndedInterval", DataType.INTEGER, mutability=RW, persistent=True, unit="s", min_limit=0,
        getter=lambda: str(s.aligned_interval_s if s.stop_txn_aligned_interval_s is None
                           else s.stop_txn_aligned_interval_s),
        setter=lambda v: setattr(s, "stop_txn_aligned_interval_s", int(v)))

    # ---- AuthCtrlr / AuthCacheCtrlr / LocalAuthListCtrlr
    c = Component("AuthCtrlr")
    add(c, "Enabled", DataType.BOOLEAN, mutability=RW, persistent=True, getter=lambda: _b(not policy.free_vend),
        setter=lambda v: setattr(policy, "free_vend", v == "false"))
    g, w = _flag(st, "authorize_remote_start")
    add(c, "AuthorizeRemoteStart", DataType.BOOLEAN, mutability=RW, persistent=True, getter=g, setter=w)
    for name, attr in (("LocalAuthorizeOffline", "local_authorize_offline"),
                       ("LocalPreAuthorize", "local_pre_authorize"),
                       ("OfflineTxForUnknownIdEnabled", "allow_offline_tx_for_unknown_id")):
        g, w = _flag(policy, attr)
        add(c, name, DataType.BOOLEAN, mutability=RW, persistent=True, getter=g, setter=w)
    c = Component("AuthCacheCtrlr")
    g, w = _flag(policy, "cache_enabled")
    add(c, "Enabled", DataType.BOOLEAN, mutability=RW, persistent=True, getter=g, setter=w)
    add(c, "Available", DataType.BOOLEAN, value="true", constant=True)
    c = Component("LocalAuthListCtrlr")
    g, w = _flag(policy, "local_auth_list_enabled")
    add(c, "Enabled", DataType.BOOLEAN, mutability=RW, persistent=True, getter=g, setter=w)
    add(c, "Available", DataType.BOOLEAN, value="true", constant=True)
    add(c, "Entries", DataType.INTEGER, getter=lambda: str(len(st.auth.local_list.entries or {})))
    g, w = _int(s, "send_local_list_max_length")
    add(c, "ItemsPerMessage", DataType.INTEGER, min_limit=1, getter=g, setter=w)
    add(c, "BytesPerMessage", DataType.INTEGER, min_limit=1, value="65536")

    # ---- SecurityCtrlr (profile 1: Basic authentication over ws://)
    c = Component("SecurityCtrlr")
    add(c, "SecurityProfile", DataType.INTEGER, value="1", persistent=True, min_limit=0, max_limit=3)
    add(c, "Identity", DataType.STRING, mutability=RW, persistent=True, reboot_required=True, max_limit=48,
        value=b.station_id, validator=_not_empty)
    add(c, "BasicAuthPassword", DataType.STRING, mutability=WO, persistent=True, min_limit=16, max_limit=40)
    add(c, "OrganizationName", DataType.STRING, mutability=RW, persistent=True, max_limit=64,
        value=b.identity.vendor)
    add(c, "CertificateEntries", DataType.INTEGER, value="0")

    # ---- ChargingStation, EVSE, Connector, CHAdeMOCtrlr
    c = Component("ChargingStation")
    add(c, "AvailabilityState", DataType.OPTION_LIST, values_list=AVAILABILITY_STATES,
        getter=lambda: "Available" if st.operative else "Unavailable")
    add(c, "Available", DataType.BOOLEAN, value="true")
    add(c, "SupplyPhases", DataType.INTEGER, value="0", constant=True)  # DC output
    add(c, "Model", DataType.STRING, value=b.identity.model, constant=True)
    add(c, "VendorName", DataType.STRING, value=b.identity.vendor, constant=True)
    for evse in st.evses.values():
        _add_evse(dm, st, evse)

    # ---- DeviceDataCtrlr
    c = Component("DeviceDataCtrlr")
    for msg, items in (("GetReport", 50), ("GetVariables", 50), ("SetVariables", 50)):
        add(c, "ItemsPerMessage", DataType.INTEGER, instance=msg, min_limit=1, value=str(items))
        add(c, "BytesPerMessage", DataType.INTEGER, instance=msg, min_limit=1, value="65536")
    add(c, "ConfigurationValueSize", DataType.INTEGER, min_limit=1, max_limit=1000,
        getter=lambda: str(dm.configuration_value_size),
        setter=lambda v: setattr(dm, "configuration_value_size", int(v)))
    add(c, "ReportingValueSize", DataType.INTEGER, min_limit=1, max_limit=2500,
        getter=lambda: str(dm.reporting_value_size), setter=lambda v: setattr(dm, "reporting_value_size", int(v)))

    # ---- ClockCtrlr
    c = Component("ClockCtrlr")
    add(c, "DateTime", DataType.DATE_TIME, getter=lambda: iso(st.clock.now()))
    add(c, "TimeSource", DataType.SEQUENCE_LIST, mutability=RW, persistent=True, values_list=TIME_SOURCES,
        value="Heartbeat", validator=_not_empty)
    return dm


def _add_retry_backoff(dm: DeviceModel, c: Component, b: Bindings) -> None:
    """OCPPCommCtrlr.RetryBackOff*: the reconnect schedule of the session (Part 4 "Reconnecting"). Until the CSMS
    sets one of them the session keeps the schedule of its configuration (proportional jitter included)."""
    fallback = Backoff(10.0, 80.0, 0.0, random_range=10.0)  # without a session (unit rigs)

    def backoff() -> Backoff:
        bo = getattr(b.hooks, "backoff", None)
        return bo if isinstance(bo, Backoff) else fallback

    def setter(which: str) -> Callable[[str], None]:
        def write(v: str) -> None:
            bo = backoff()
            now = {"wait": bo.initial, "range": bo.random_range, "repeat": float(bo.repeat_times)}
            new = now | {which: float(v)}
            if new != now:  # a stored value that matches what the session does changes nothing (keeps its jitter)
                bo.use_ocpp(new["wait"], new["range"], int(new["repeat"]))

        return write

    for name, getter, which in (("RetryBackOffWaitMinimum", lambda: str(round(backoff().initial)), "wait"),
                                ("RetryBackOffRandomRange", lambda: str(round(backoff().random_range)), "range"),
                                ("RetryBackOffRepeatTimes", lambda: str(backoff().repeat_times), "repeat")):
        dm.add(c, name, DataType.INTEGER, mutability=RW, persistent=True, unit=None if which == "repeat" else "s",
               min_limit=0, getter=getter, setter=setter(which))


def _add_evse(dm: DeviceModel, st: Station, evse: Evse) -> None:
    add = dm.add
    c = Component("EVSE", evse_id=evse.id)
    add(c, "AvailabilityState", DataType.OPTION_LIST, values_list=AVAILABILITY_STATES,
        getter=lambda: connector_status_201(st.status_of(evse)))
    add(c, "Available", DataType.BOOLEAN, value="true")
    add(c, "SupplyPhases", DataType.INTEGER, value="0", constant=True)
    ratings = getattr(evse.connector.port, "ratings", None)
    max_w = getattr(ratings, "max_charge_power_w", None)
    power = add(c, "Power", DataType.DECIMAL, unit="W", max_limit=max_w,
                getter=lambda: f"{st.reading(evse.id).power_w:.1f}")
    if max_w is not None:
        power.attributes[AttributeType.MAX_SET] = Attribute(RO, value=f"{max_w:.1f}", constant=True)
    for conn in evse.connectors:
        cc = Component("Connector", evse_id=evse.id, connector_id=conn.connector_id)
        add(cc, "AvailabilityState", DataType.OPTION_LIST, values_list=AVAILABILITY_STATES,
            getter=lambda: connector_status_201(st.status_of(evse)))
        add(cc, "Available", DataType.BOOLEAN, value="true")
        add(cc, "ConnectorType", DataType.STRING, value="cCHAdeMO", constant=True)
        add(cc, "SupplyPhases", DataType.INTEGER, value="0", constant=True)
    c = Component("CHAdeMOCtrlr", evse_id=evse.id)
    for name, (data_type, key) in CHADEMO_DETAILS.items():
        add(c, name, data_type, getter=_detail(evse, name, key, data_type))


_MODELS: weakref.WeakKeyDictionary[Station, DeviceModel] = weakref.WeakKeyDictionary()


def device_model_for(station: Station, station_id: str, identity: StationIdentity, hooks: SessionHooks | None,
                     adapter: Any, response_timeout: float) -> DeviceModel:
    """The station's device model (built on first use), rebound to this connection's hooks and adapter."""
    dm = _MODELS.get(station)
    if dm is None:
        dm = build_device_model(Bindings(station, identity, station_id), response_timeout)
        _MODELS[station] = dm
    bind(dm, hooks, adapter)
    return dm


def bind(dm: DeviceModel, hooks: SessionHooks | None, adapter: Any) -> None:
    if isinstance(dm.bindings, Bindings):
        dm.bindings.hooks = hooks
        dm.bindings.adapter = adapter
