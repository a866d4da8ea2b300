"""The device-model engine (validation, mutability, attributes, reboot-required writes, reports, persistence) and
the standard 2.0.1 model's bindings to the station model. No OCPP transport here: see test_v201_*.py for that."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chargepoint.clock import VirtualClock
from chargepoint.ocpp.base import StationIdentity
from chargepoint.ocpp.device_model import (
    Attribute,
    AttributeType,
    Component,
    DataType,
    DeviceModel,
    GetStatus,
    Mutability,
    ReportBase,
    SetStatus,
)
from chargepoint.ocpp.v201_variables import Bindings, build_device_model, device_model_for
from chargepoint.station.core import Station
from chargepoint.station.settings import StationSettings, TxPoint
from chargepoint.station.types import Measurand
from hil.emulators.direct_dc import DirectDcPort

CTRL = Component("TestCtrlr")
RW = Mutability.READ_WRITE


def model() -> DeviceModel:
    dm = DeviceModel()
    dm.add(CTRL, "Count", DataType.INTEGER, mutability=RW, value="5", min_limit=1, max_limit=10)
    dm.add(CTRL, "Ratio", DataType.DECIMAL, mutability=RW, value="0.5", min_limit=0, max_limit=1)
    dm.add(CTRL, "Flag", DataType.BOOLEAN, mutability=RW, value="false")
    dm.add(CTRL, "When", DataType.DATE_TIME, mutability=RW, value="2026-01-01T00:00:00Z")
    dm.add(CTRL, "Name", DataType.STRING, mutability=RW, value="abc", max_limit=8)
    dm.add(CTRL, "Mode", DataType.OPTION_LIST, mutability=RW, value="Fast", values_list=("Fast", "Slow"))
    dm.add(CTRL, "Order", DataType.SEQUENCE_LIST, mutability=RW, value="A,B", values_list=("A", "B", "C"))
    dm.add(CTRL, "Set", DataType.MEMBER_LIST, mutability=RW, value="A", values_list=("A", "B", "C"))
    dm.add(CTRL, "Fixed", DataType.STRING, value="factory", constant=True)
    dm.add(CTRL, "Secret", DataType.STRING, mutability=Mutability.WRITE_ONLY, persistent=True)
    dm.add(CTRL, "Slot", DataType.INTEGER, mutability=RW, value="1", reboot_required=True, persistent=True)
    dm.add(CTRL, "Limit", DataType.INTEGER, instance="Upper", mutability=RW, value="7", persistent=True)
    limited = dm.add(CTRL, "Power", DataType.DECIMAL, value="10.0", unit="W", max_limit=100)
    limited.attributes[AttributeType.MAX_SET] = Attribute(RW, value="100")
    dm.add(Component("Port", evse_id=1, connector_id=1), "Kind", DataType.STRING, value="cCHAdeMO")
    return dm


@pytest.mark.parametrize(
    ("name", "value", "stored"),
    [
        ("Count", "10", "10"),
        ("Count", "+3", "3"),
        ("Ratio", "0.25", "0.25"),
        ("Ratio", "1e-1", "1e-1"),
        ("Flag", "TRUE", "true"),
        ("When", "2026-05-01T12:00:00+02:00", "2026-05-01T12:00:00+02:00"),
        ("Name", "12345678", "12345678"),
        ("Mode", "Slow", "Slow"),
        ("Order", "C, A", "C,A"),
        ("Set", "b,a", "B,A"),
        ("Set", "", ""),
    ],
)
def test_valid_writes_are_normalized_and_stored(name: str, value: str, stored: str) -> None:
    dm = model()
    assert dm.set(CTRL, name, value).status == SetStatus.ACCEPTED
    assert dm.get(CTRL, name) == dm.get(CTRL, name.upper())  # names are case-insensitive
    assert dm.get(CTRL, name).value == stored


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("Count", "11", "ValueTooHigh"),
        ("Count", "0", "ValueTooLow"),
        ("Count", "2.5", "InvalidValue"),
        ("Count", "1_0", "InvalidValue"),
        ("Count", "", "InvalidValue"),
        ("Ratio", "nan", "InvalidValue"),
        ("Ratio", "1.01", "ValueTooHigh"),
        ("Flag", "yes", "InvalidValue"),
        ("When", "yesterday", "InvalidValue"),
        ("When", "2026-05-01T12:00:00", "InvalidValue"),  # no time zone
        ("Name", "123456789", "ValueTooLarge"),
        ("Mode", "fast", "InvalidValue"),  # option values are exact
        ("Mode", "Fast,Slow", "InvalidValue"),
        ("Order", "A,D", "InvalidValue"),
        ("Order", "A,,B", "InvalidValue"),
        ("Set", "A,a", "InvalidValue"),
    ],
)
def test_invalid_writes_are_rejected_and_change_nothing(name: str, value: str, reason: str) -> None:
    dm = model()
    before = dm.get(CTRL, name).value
    result = dm.set(CTRL, name, value)
    assert (result.status, result.reason) == (SetStatus.REJECTED, reason)
    assert dm.get(CTRL, name).value == before


def test_unknown_component_variable_and_attribute_type() -> None:
    dm = model()
    assert dm.get(Component("NoSuchCtrlr"), "Count").status == GetStatus.UNKNOWN_COMPONENT
    assert dm.get(CTRL, "NoSuchVariable").status == GetStatus.UNKNOWN_VARIABLE
    assert dm.get(CTRL, "Count", attribute=AttributeType.TARGET).status == GetStatus.NOT_SUPPORTED_ATTRIBUTE_TYPE
    assert dm.set(Component("NoSuchCtrlr"), "Count", "1").status == SetStatus.UNKNOWN_COMPONENT
    assert dm.set(CTRL, "NoSuchVariable", "1").status == SetStatus.UNKNOWN_VARIABLE
    assert dm.set(CTRL, "Count", "1", attribute=AttributeType.MIN_SET).status == SetStatus.NOT_SUPPORTED_ATTRIBUTE_TYPE


def test_component_identity_includes_instance_evse_and_connector() -> None:
    dm = model()
    assert dm.get(Component("port", evse_id=1, connector_id=1), "kind").value == "cCHAdeMO"
    assert dm.get(Component("Port", evse_id=1), "Kind").status == GetStatus.UNKNOWN_COMPONENT
    assert dm.get(Component("Port", evse_id=2, connector_id=1), "Kind").status == GetStatus.UNKNOWN_COMPONENT
    assert dm.get(Component("TestCtrlr", instance="Other"), "Count").status == GetStatus.UNKNOWN_COMPONENT


def test_variable_instance_must_match() -> None:
    """B06.FR.15: a variable that only exists with an instance is unknown without it."""
    dm = model()
    assert dm.get(CTRL, "Limit", instance="upper").value == "7"
    assert dm.get(CTRL, "Limit").status == GetStatus.UNKNOWN_VARIABLE
    assert dm.get(CTRL, "Limit", instance="Lower").status == GetStatus.UNKNOWN_VARIABLE


def test_read_only_attribute_cannot_be_written_but_max_set_can() -> None:
    dm = model()
    assert dm.set(CTRL, "Fixed", "hacked") == dm.set(CTRL, "Fixed", "again")
    assert dm.set(CTRL, "Fixed", "hacked").status == SetStatus.REJECTED
    assert dm.get(CTRL, "Fixed").value == "factory"
    assert dm.set(CTRL, "Power", "5").status == SetStatus.REJECTED  # Actual is ReadOnly
    assert dm.set(CTRL, "Power", "50", attribute=AttributeType.MAX_SET).status == SetStatus.ACCEPTED
    assert dm.set(CTRL, "Power", "150", attribute=AttributeType.MAX_SET).reason == "ValueTooHigh"
    assert dm.get(CTRL, "Power", attribute=AttributeType.MAX_SET).value == "50"
    assert dm.get(CTRL, "Power").value == "10.0"


def test_write_only_value_is_never_readable_nor_reported() -> None:
    dm = model()
    assert dm.set(CTRL, "Secret", "s3cr3t-password!").status == SetStatus.ACCEPTED
    got = dm.get(CTRL, "Secret")
    assert (got.status, got.value, got.reason) == (GetStatus.REJECTED, None, "WriteOnly")
    entry = next(e for e in dm.report(ReportBase.FULL_INVENTORY) if e["variable"]["name"] == "Secret")
    assert entry["variable_attribute"] == [
        {"type": "Actual", "mutability": "WriteOnly", "persistent": True, "constant": False}
    ]
    assert "s3cr3t" not in repr(dm.report(ReportBase.FULL_INVENTORY))
    assert dm.read(CTRL, "Secret") == "s3cr3t-password!"  # the firmware itself may use it


def test_reboot_required_write_takes_effect_at_the_next_boot() -> None:
    applied: list[str] = []
    dm = DeviceModel()
    dm.add(CTRL, "Slot", DataType.INTEGER, mutability=RW, getter=lambda: "1", setter=applied.append,
           reboot_required=True)
    assert dm.set(CTRL, "Slot", "2").status == SetStatus.REBOOT_REQUIRED
    assert applied == []  # not effective yet
    assert dm.get(CTRL, "Slot").value == "2"  # the configured value
    assert dm.set(CTRL, "Slot", "x").status == SetStatus.REJECTED  # still validated
    assert [v.name for v in dm.apply_pending()] == ["Slot"]
    assert applied == ["2"]
    assert dm.apply_pending() == []


def test_bound_setter_may_refuse_a_value() -> None:
    def refuse(_: str) -> None:
        raise ValueError("the power stage is busy")

    dm = DeviceModel()
    dm.add(CTRL, "Mode", DataType.STRING, mutability=RW, getter=lambda: "a", setter=refuse)
    result = dm.set(CTRL, "Mode", "b")
    assert (result.status, result.reason) == (SetStatus.REJECTED, "InvalidValue")


def test_configuration_and_reporting_value_size() -> None:
    dm = model()
    dm.configuration_value_size = 4
    assert dm.set(CTRL, "Name", "12345").reason == "ValueTooLarge"
    dm.reporting_value_size = 2
    assert dm.get(CTRL, "Name").value == "ab"


def test_listeners_see_accepted_writes_only() -> None:
    dm = model()
    seen: list[tuple[str, str, str]] = []
    dm.subscribe(lambda var, kind, value: seen.append((var.name, kind.value, value)))
    dm.set(CTRL, "Count", "7")
    dm.set(CTRL, "Count", "70")
    dm.set(CTRL, "Fixed", "x")
    assert seen == [("Count", "Actual", "7")]


def test_reports_configuration_full_and_summary() -> None:
    dm = model()
    config = {e["variable"]["name"] for e in dm.report(ReportBase.CONFIGURATION_INVENTORY)}
    assert "Fixed" not in config and "Kind" not in config and {"Count", "Secret", "Power"} <= config
    full = dm.report(ReportBase.FULL_INVENTORY)
    assert len(full) == len(dm)
    count = next(e for e in full if e["variable"]["name"] == "Count")
    assert count["variable_characteristics"] == {
        "data_type": "integer", "supports_monitoring": False, "min_limit": 1, "max_limit": 10,
    }
    mode = next(e for e in full if e["variable"]["name"] == "Mode")
    assert mode["variable_characteristics"]["values_list"] == "Fast,Slow"
    port = next(e for e in full if e["component"]["name"] == "Port")
    assert port["component"] == {"name": "Port", "evse": {"id": 1, "connector_id": 1}}
    assert dm.report(ReportBase.SUMMARY_INVENTORY) == []  # no availability variables in this model


def test_snapshot_and_restore_persistent_values() -> None:
    dm = model()
    dm.set(CTRL, "Secret", "0123456789abcdef")
    dm.set(CTRL, "Limit", "9", instance="Upper")
    dm.set(CTRL, "Slot", "4")  # reboot-required: the configured value is what persists
    saved = dm.snapshot()
    assert set(saved.values()) == {"0123456789abcdef", "9", "4"}
    fresh = model()
    saved["TestCtrlr[]@/Gone[]/Actual"] = "1"
    assert fresh.restore(saved) == ["TestCtrlr[]@/Gone[]/Actual"]
    assert fresh.read(CTRL, "Limit", "Upper") == "9" and fresh.read(CTRL, "Slot") == "4"


def test_force_writes_read_only_values_for_local_configuration() -> None:
    dm = model()
    dm.force(CTRL, "Fixed", "other")
    assert dm.get(CTRL, "Fixed").value == "other"
    with pytest.raises(KeyError):
        dm.force(CTRL, "Missing", "1")
    with pytest.raises(ValueError):
        dm.force(CTRL, "Count", "99")


# ---------------------------------------------------------------------- the standard 2.0.1 model
def station(evses: int = 1) -> tuple[Station, dict[int, DirectDcPort], VirtualClock]:
    clock = VirtualClock(start=datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    ports = {i: DirectDcPort() for i in range(1, evses + 1)}
    return Station({i: [p] for i, p in ports.items()}, clock, StationSettings()), ports, clock


def standard(st: Station) -> DeviceModel:
    return build_device_model(Bindings(st, StationIdentity(), "CS001"))


def test_standard_model_writes_reach_the_station_settings() -> None:
    st, _, _ = station()
    dm = standard(st)
    cases = [
        (Component("TxCtrlr"), "EVConnectionTimeOut", "90", lambda: st.settings.connection_timeout_s == 90),
        (Component("TxCtrlr"), "TxStartPoint", "EVConnected,Authorized",
         lambda: st.settings.tx_start_points == (TxPoint.EV_CONNECTED, TxPoint.AUTHORIZED)),
        (Component("TxCtrlr"), "StopTxOnInvalidId", "false", lambda: not st.settings.stop_transaction_on_invalid_id),
        (Component("SampledDataCtrlr"), "TxUpdatedMeasurands", "SoC,Voltage",
         lambda: st.settings.sampled_measurands == (Measurand.SOC, Measurand.VOLTAGE)),
        (Component("SampledDataCtrlr"), "TxStartedMeasurands", "Energy.Active.Import.Register",
         lambda: st.settings.tx_started_measurands == (Measurand.ENERGY_IMPORT_REGISTER,)),
        (Component("SampledDataCtrlr"), "TxUpdatedInterval", "15", lambda: st.settings.sample_interval_s == 15),
        (Component("AlignedDataCtrlr"), "Interval", "300", lambda: st.settings.aligned_interval_s == 300),
        (Component("AlignedDataCtrlr"), "SendDuringIdle", "true", lambda: not st.settings.aligned_data_during_tx),
        (Component("AuthCtrlr"), "AuthorizeRemoteStart", "false", lambda: not st.authorize_remote_start),
        (Component("AuthCtrlr"), "Enabled", "false", lambda: st.auth.policy.free_vend),
        (Component("AuthCtrlr"), "LocalPreAuthorize", "true", lambda: st.auth.policy.local_pre_authorize),
        (Component("AuthCtrlr"), "OfflineTxForUnknownIdEnabled", "true",
         lambda: st.auth.policy.allow_offline_tx_for_unknown_id),
        (Component("AuthCacheCtrlr"), "Enabled", "false", lambda: not st.auth.policy.cache_enabled),
        (Component("LocalAuthListCtrlr"), "Enabled", "false", lambda: not st.auth.policy.local_auth_list_enabled),
        (Component("OCPPCommCtrlr"), "HeartbeatInterval", "45", lambda: st.settings.heartbeat_interval_s == 45),
        (Component("OCPPCommCtrlr"), "UnlockOnEVSideDisconnect", "false",
         lambda: not st.settings.unlock_connector_on_ev_side_disconnect),
    ]
    for component, name, value, check in cases:
        assert dm.set(component, name, value).status == SetStatus.ACCEPTED, name
        assert check(), name
        assert dm.get(component, name).value == value, name


def test_standard_model_reads_follow_the_station() -> None:
    st, _, _ = station()
    dm = standard(st)
    st.settings.sample_interval_s = 7
    assert dm.get(Component("SampledDataCtrlr"), "TxUpdatedInterval").value == "7"
    st.auth.local_list.update(1, True, [])
    assert dm.get(Component("LocalAuthListCtrlr"), "Entries").value == "0"
    assert dm.get(Component("ClockCtrlr"), "DateTime").value == "2026-03-01T10:00:00.000Z"
    # TxStartedMeasurands falls back to the updated ones until set
    assert dm.get(Component("SampledDataCtrlr"), "TxStartedMeasurands").value == \
        dm.get(Component("SampledDataCtrlr"), "TxUpdatedMeasurands").value


def test_standard_model_rejects_what_the_station_cannot_do() -> None:
    st, _, _ = station()
    dm = standard(st)
    assert dm.set(Component("TxCtrlr"), "TxStartPoint", "ParkingBayOccupancy").status == SetStatus.REJECTED
    assert dm.set(Component("TxCtrlr"), "TxStopPoint", "").status == SetStatus.REJECTED
    assert dm.set(Component("SampledDataCtrlr"), "TxUpdatedMeasurands", "Frequency").status == SetStatus.REJECTED
    assert dm.set(Component("OCPPCommCtrlr"), "HeartbeatInterval", "0").status == SetStatus.REJECTED
    assert dm.set(Component("SecurityCtrlr"), "SecurityProfile", "2").status == SetStatus.REJECTED
    assert dm.set(Component("SecurityCtrlr"), "BasicAuthPassword", "short").reason == "ValueTooLow"
    assert st.settings.tx_start_points == (TxPoint.POWER_PATH_CLOSED,)


def test_availability_state_follows_the_station() -> None:
    st, ports, clock = station(2)
    dm = standard(st)
    evse1, conn1 = Component("EVSE", evse_id=1), Component("Connector", evse_id=1, connector_id=1)
    st.tick()
    assert dm.get(evse1, "AvailabilityState").value == "Available"
    ports[1].plug_in()
    clock.advance(0.1)
    st.tick()
    assert dm.get(evse1, "AvailabilityState").value == "Occupied"
    assert dm.get(conn1, "AvailabilityState").value == "Occupied"
    st.change_availability(False, 2)
    assert dm.get(Component("EVSE", evse_id=2), "AvailabilityState").value == "Unavailable"
    st.change_availability(False)
    assert dm.get(Component("ChargingStation"), "AvailabilityState").value == "Unavailable"
    summary = dm.report(ReportBase.SUMMARY_INVENTORY)
    states = {(e["component"]["name"], str(e["component"].get("evse"))): e["variable_attribute"][0]["value"]
              for e in summary if e["variable"]["name"] == "AvailabilityState"}
    assert states[("ChargingStation", "None")] == "Unavailable"
    assert all("variable_characteristics" not in e for e in summary)


def test_chademo_values_come_from_the_port_details() -> None:
    st, _, _ = station()
    dm = standard(st)
    c = Component("CHAdeMOCtrlr", evse_id=1)
    st.tick()
    assert dm.get(c, "CHAdeMOProtocolNumber").value == ""  # no car protocol data yet
    conn = st.evse(1).connector
    assert conn.state is not None
    conn.state.details.update({"chademo_protocol_number": 3, "vehicle_status": 1, "DynamicControl": True,
                               "auto_manufacturer_code": 0x22})
    assert dm.get(c, "CHAdeMOProtocolNumber").value == "3"
    assert dm.get(c, "VehicleStatus").value == "true"
    assert dm.get(c, "DynamicControl").value == "true"
    assert dm.get(c, "AutoManufacturerCode").value == "34"
    assert dm.set(c, "SelftestActive", "true").status == SetStatus.REJECTED  # read-only
    assert dm.get(Component("CHAdeMOCtrlr", evse_id=2), "VehicleStatus").status == GetStatus.UNKNOWN_COMPONENT


def test_device_model_outlives_the_adapter_of_one_connection() -> None:
    st, _, _ = station()
    first = device_model_for(st, "CS001", StationIdentity(), None, None, 30)
    first.set(Component("OCPPCommCtrlr"), "OfflineThreshold", "120")
    again = device_model_for(st, "CS001", StationIdentity(), None, None, 30)
    assert again is first and again.read("OCPPCommCtrlr", "OfflineThreshold") == "120"
    other, _, _ = station()
    assert device_model_for(other, "CS002", StationIdentity(), None, None, 30) is not first
