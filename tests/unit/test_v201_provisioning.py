"""OCPP 2.0.1 provisioning over the in-memory connection: GetVariables, SetVariables, GetBaseReport/NotifyReport
and the DeviceDataCtrlr message limits."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ocpp.exceptions import FormatViolationError, OccurrenceConstraintViolationError
from ocpp.v201 import call
from v201_rig import Rig, comp

from chargepoint.ocpp.device_model import AttributeType, Component, DataType, DeviceModel
from chargepoint.ocpp.v201 import V201Adapter
from chargepoint.station.settings import TxPoint
from chargepoint.station.types import Measurand


def item(component: dict[str, Any], name: str, instance: str | None = None, **extra: Any) -> dict[str, Any]:
    var: dict[str, Any] = {"name": name}
    if instance:
        var["instance"] = instance
    return {"component": component, "variable": var, **extra}


async def full_report(r: Rig, request_id: int, base: str) -> list[dict[str, Any]]:
    """The NotifyReport messages answering one GetBaseReport, after its Accepted response."""
    res = await r.request(call.GetBaseReport(request_id=request_id, report_base=base))
    assert res.status == "Accepted"

    def complete() -> list[dict[str, Any]] | None:
        mine = [p for p in r.sent("NotifyReport") if p["requestId"] == request_id]
        return mine if mine and not mine[-1].get("tbc", False) else None

    reports: list[dict[str, Any]] = await r.wire.wait(complete)
    return reports


def flatten(reports: list[dict[str, Any]]) -> dict[tuple[str, int | None, int | None, str, str | None], Any]:
    out = {}
    for p in reports:
        for d in p["reportData"]:
            c, v = d["component"], d["variable"]
            evse = c.get("evse", {})
            out[(c["name"], evse.get("id"), evse.get("connectorId"), v["name"], v.get("instance"))] = d
    return out


# ---------------------------------------------------------------------- GetVariables
async def test_TC_B_06_CS_get_variables_single_value() -> None:
    async with Rig() as r:
        r.settings.heartbeat_interval_s = 123
        res = await r.get(comp("OCPPCommCtrlr"), "HeartbeatInterval")
        assert res == {"attribute_status": "Accepted", "attribute_type": "Actual", "attribute_value": "123",
                       "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}


async def test_TC_B_07_CS_get_variables_multiple_values() -> None:
    async with Rig() as r:
        res = await r.request(call.GetVariables(get_variable_data=[
            item(comp("TxCtrlr"), "TxStartPoint"),
            item(comp("OCPPCommCtrlr"), "MessageAttempts", "TransactionEvent"),
            item(comp("EVSE", 1), "AvailabilityState"),
            item(comp("Connector", 1, 1), "ConnectorType"),
            item(comp("EVSE", 1), "Power", attribute_type="MaxSet"),
        ]))
        results = res.get_variable_result
        assert [x["attribute_status"] for x in results] == ["Accepted"] * 5
        assert [x["attribute_value"] for x in results] == ["PowerPathClosed", "3", "Available", "cCHAdeMO",
                                                           "50000.0"]
        assert results[1]["variable"] == {"name": "MessageAttempts", "instance": "TransactionEvent"}
        assert results[3]["component"] == {"name": "Connector", "evse": {"id": 1, "connector_id": 1}}
        assert results[4]["attribute_type"] == "MaxSet"


async def test_TC_B_32_CS_get_variables_unknown_component() -> None:
    async with Rig() as r:
        for c in (comp("NoSuchCtrlr"), comp("EVSE", 7), comp("TxCtrlr", 1)):
            res = await r.get(c, "Enabled")
            assert res["attribute_status"] == "UnknownComponent" and "attribute_value" not in res


async def test_TC_B_33_CS_get_variables_unknown_variable() -> None:
    async with Rig() as r:
        res = await r.get(comp("OCPPCommCtrlr"), "NoSuchVariable")
        assert res["attribute_status"] == "UnknownVariable" and "attribute_value" not in res
        res = await r.get(comp("OCPPCommCtrlr"), "MessageAttempts")  # exists only with an instance
        assert res["attribute_status"] == "UnknownVariable"


async def test_TC_B_34_CS_get_variables_not_supported_attribute_type() -> None:
    async with Rig() as r:
        res = await r.get(comp("OCPPCommCtrlr"), "HeartbeatInterval", attribute="Target")
        assert (res["attribute_status"], res["attribute_type"]) == ("NotSupportedAttributeType", "Target")
        assert "attribute_value" not in res


# ---------------------------------------------------------------------- SetVariables
async def test_TC_B_09_CS_set_variables_single_value() -> None:
    async with Rig() as r:
        res = await r.set(comp("OCPPCommCtrlr"), "HeartbeatInterval", "77")
        assert res["attribute_status"] == "Accepted"
        assert r.settings.heartbeat_interval_s == 77 and r.hooks.heartbeat_intervals == [77]
        assert (await r.get(comp("OCPPCommCtrlr"), "HeartbeatInterval"))["attribute_value"] == "77"


async def test_TC_B_10_CS_set_variables_multiple_values() -> None:
    async with Rig() as r:
        res = await r.request(call.SetVariables(set_variable_data=[
            item(comp("TxCtrlr"), "TxStopPoint", attribute_value="EVConnected"),
            item(comp("SampledDataCtrlr"), "TxUpdatedMeasurands", attribute_value="SoC"),
            item(comp("OCPPCommCtrlr"), "MessageAttemptInterval", "TransactionEvent", attribute_value="15"),
            item(comp("TxCtrlr"), "EVConnectionTimeOut", attribute_value="-5"),  # one bad value rejects only itself
        ]))
        assert [x["attribute_status"] for x in res.set_variable_result] == ["Accepted"] * 3 + ["Rejected"]
        assert r.settings.tx_stop_points == (TxPoint.EV_CONNECTED,)
        assert r.settings.sampled_measurands == (Measurand.SOC,)
        assert r.settings.transaction_message_retry_interval_s == 15
        assert r.settings.connection_timeout_s == 60


@pytest.mark.parametrize(
    ("component", "name", "value"),
    [
        ("OCPPCommCtrlr", "HeartbeatInterval", "ten"),
        ("OCPPCommCtrlr", "HeartbeatInterval", "1.5"),
        ("TxCtrlr", "StopTxOnInvalidId", "yes"),
        ("TxCtrlr", "TxStartPoint", "EVConnected;Authorized"),
        ("AlignedDataCtrlr", "Measurands", "Energy.Active.Import.Register,Bogus"),
        ("ClockCtrlr", "TimeSource", "Sundial"),
    ],
)
async def test_TC_B_11_CS_set_variables_invalidly_formatted_values(component: str, name: str, value: str) -> None:
    async with Rig() as r:
        before = (await r.get(comp(component), name))["attribute_value"]
        res = await r.set(comp(component), name, value)
        assert res["attribute_status"] == "Rejected" and res["attribute_status_info"]["reason_code"]
        assert (await r.get(comp(component), name))["attribute_value"] == before


async def test_TC_B_35_CS_TC_B_36_CS_TC_B_37_CS_set_unknown_component_variable_attribute() -> None:
    async with Rig() as r:
        res = await r.set(comp("NoSuchCtrlr"), "Enabled", "true")
        assert res["attribute_status"] == "UnknownComponent"
        res = await r.set(comp("AuthCtrlr"), "NoSuchVariable", "true")
        assert res["attribute_status"] == "UnknownVariable"
        res = await r.set(comp("AuthCtrlr"), "Enabled", "true", attribute="MinSet")
        assert (res["attribute_status"], res["attribute_type"]) == ("NotSupportedAttributeType", "MinSet")


async def test_TC_B_39_CS_set_variables_read_only() -> None:
    async with Rig() as r:
        res = await r.set(comp("SecurityCtrlr"), "SecurityProfile", "2")
        assert res["attribute_status"] == "Rejected" and res["attribute_status_info"]["reason_code"] == "ReadOnly"
        res = await r.set(comp("EVSE", 1), "AvailabilityState", "Unavailable")
        assert res["attribute_status"] == "Rejected"
        assert r.station.evse(1).operative


async def test_set_variables_reboot_required_applies_at_next_boot() -> None:
    async with Rig() as r:
        res = await r.set(comp("SecurityCtrlr"), "Identity", "CS-NEW")
        assert res["attribute_status"] == "RebootRequired"
        var = r.dm.find(Component("SecurityCtrlr"), "Identity")
        assert var is not None
        attr = var.attributes[AttributeType.ACTUAL]
        assert (attr.pending, attr.value) == ("CS-NEW", "CS001")
        assert (await r.get(comp("SecurityCtrlr"), "Identity"))["attribute_value"] == "CS-NEW"  # as configured
        await r.adapter.boot("Triggered")  # a triggered BootNotification is no reboot
        assert attr.pending == "CS-NEW"
        await r.adapter.boot("RemoteReset")
        assert (attr.pending, attr.value) == (None, "CS-NEW")


async def test_message_timeout_sets_the_response_timeout_and_survives_reconnects() -> None:
    async with Rig() as r:
        assert (await r.set(comp("OCPPCommCtrlr"), "MessageTimeout", "12", instance="Default"))[
            "attribute_status"] == "Accepted"
        assert r.adapter._response_timeout == 12
        await r.set(comp("OCPPCommCtrlr"), "OfflineThreshold", "240")
        # The session driver builds a new adapter for every connection: the device model stays with the station.
        again = V201Adapter("CS001", None, r.station, r.hooks, r.identity, response_timeout=30)
        assert again.device_model is r.dm and again._response_timeout == 12
        assert again.device_model.read("OCPPCommCtrlr", "OfflineThreshold") == "240"
        res = await r.set(comp("OCPPCommCtrlr"), "MessageTimeout", "20", instance="Default")
        assert res["attribute_status"] == "Accepted" and again._response_timeout == 20


async def test_seqno_continues_across_a_new_adapter_for_the_same_station() -> None:
    async with Rig() as r:
        await r.start_charging()
        tx = r.station.evse(1).tx
        assert tx is not None
        n = len(r.sent("TransactionEvent"))
        again = V201Adapter("CS001", None, r.station, r.hooks, r.identity)
        payload = again._tx_payload(_updated(tx.tx_id), again._state.seq[tx.tx_id])
        assert payload["seq_no"] == n


def _updated(tx_id: str) -> Any:
    from chargepoint.station.actions import TransactionUpdated
    from chargepoint.station.types import TriggerReason

    return TransactionUpdated(tx_id, 1, 1, TriggerReason.TRIGGER)


# ---------------------------------------------------------------------- DeviceDataCtrlr limits
@pytest.mark.parametrize("action", ["GetVariables", "SetVariables"])
async def test_items_per_message_exceeded_is_occurrence_constraint_violation(action: str) -> None:
    async with Rig() as r:
        r.dm.force("DeviceDataCtrlr", "ItemsPerMessage", "2", instance=action)
        items = [item(comp("OCPPCommCtrlr"), "HeartbeatInterval", attribute_value="99") for _ in range(3)]
        request = call.GetVariables(get_variable_data=[{k: v for k, v in i.items() if k != "attribute_value"}
                                                       for i in items]) if action == "GetVariables" \
            else call.SetVariables(set_variable_data=items)
        with pytest.raises(OccurrenceConstraintViolationError):
            await r.request(request)
        assert r.settings.heartbeat_interval_s == 300  # nothing applied
        ok = call.SetVariables(set_variable_data=items[:2]) if action == "SetVariables" else call.GetVariables(
            get_variable_data=[item(comp("OCPPCommCtrlr"), "HeartbeatInterval")] * 2)
        await r.request(ok)


@pytest.mark.parametrize("action", ["GetVariables", "SetVariables"])
async def test_bytes_per_message_exceeded_is_format_violation(action: str) -> None:
    async with Rig() as r:
        r.dm.force("DeviceDataCtrlr", "BytesPerMessage", "200", instance=action)
        data = [item(comp("SecurityCtrlr"), "OrganizationName", attribute_value="x" * 60) for _ in range(2)]
        request = call.SetVariables(set_variable_data=data) if action == "SetVariables" else call.GetVariables(
            get_variable_data=[{k: v for k, v in i.items() if k != "attribute_value"} for i in data] * 2)
        with pytest.raises(FormatViolationError):
            await r.request(request)
        assert r.dm.read("SecurityCtrlr", "OrganizationName") == "OpenV2X"


# ---------------------------------------------------------------------- GetBaseReport / NotifyReport
async def test_TC_B_12_CS_get_base_report_configuration_inventory() -> None:
    async with Rig() as r:
        reports = await full_report(r, 11, "ConfigurationInventory")
        assert [p["seqNo"] for p in reports] == list(range(len(reports)))
        assert all(p["generatedAt"].endswith("Z") for p in reports)
        data = flatten(reports)
        attrs = [a for d in data.values() for a in d["variableAttribute"]]
        assert all(a["mutability"] in ("ReadWrite", "WriteOnly") for a in attrs)
        assert data[("OCPPCommCtrlr", None, None, "HeartbeatInterval", None)]["variableAttribute"][0]["value"] == \
            "300"
        assert ("ChargingStation", None, None, "Model", None) not in data
        secret = data[("SecurityCtrlr", None, None, "BasicAuthPassword", None)]["variableAttribute"][0]
        assert "value" not in secret and secret["mutability"] == "WriteOnly"


async def test_TC_B_13_CS_get_base_report_full_inventory() -> None:
    async with Rig(evses=2) as r:
        reports = await full_report(r, 12, "FullInventory")
        data = flatten(reports)
        assert len(data) == len(r.dm)
        assert len(reports) > 1 and [p.get("tbc", False) for p in reports] == [True] * (len(reports) - 1) + [False]
        ctype = data[("Connector", 2, 1, "ConnectorType", None)]
        assert ctype["variableAttribute"] == [{"type": "Actual", "mutability": "ReadOnly", "persistent": False,
                                               "constant": True, "value": "cCHAdeMO"}]
        assert ctype["variableCharacteristics"] == {"dataType": "string", "supportsMonitoring": False}
        start = data[("TxCtrlr", None, None, "TxStartPoint", None)]["variableCharacteristics"]
        assert start["dataType"] == "MemberList" and start["valuesList"] == ",".join(TxPoint.ALL)
        power = data[("EVSE", 1, None, "Power", None)]
        assert [a["type"] for a in power["variableAttribute"]] == ["Actual", "MaxSet"]
        assert power["variableCharacteristics"]["unit"] == "W"
        assert ("CHAdeMOCtrlr", 2, None, "CHAdeMOProtocolNumber", None) in data


async def test_TC_B_14_CS_get_base_report_summary_inventory() -> None:
    async with Rig(evses=2) as r:
        r.ports[2].plug_in()
        await r.pump(0.3)
        data = flatten(await full_report(r, 13, "SummaryInventory"))
        states = {k: d["variableAttribute"][0]["value"] for k, d in data.items() if k[3] == "AvailabilityState"}
        assert states == {
            ("ChargingStation", None, None, "AvailabilityState", None): "Available",
            ("EVSE", 1, None, "AvailabilityState", None): "Available",
            ("EVSE", 2, None, "AvailabilityState", None): "Occupied",
            ("Connector", 1, 1, "AvailabilityState", None): "Available",
            ("Connector", 2, 1, "AvailabilityState", None): "Occupied",
        }
        assert {k[3] for k in data} <= {"AvailabilityState", "Available"}


MANDATORY = [
    ("AlignedDataCtrlr", "Interval", None), ("AlignedDataCtrlr", "Measurands", None),
    ("AlignedDataCtrlr", "TxEndedInterval", None), ("AlignedDataCtrlr", "TxEndedMeasurands", None),
    ("AuthCtrlr", "AuthorizeRemoteStart", None), ("AuthCtrlr", "LocalAuthorizeOffline", None),
    ("AuthCtrlr", "LocalPreAuthorize", None),
    ("ChargingStation", "AvailabilityState", None), ("ChargingStation", "Available", None),
    ("ChargingStation", "SupplyPhases", None),
    ("ClockCtrlr", "DateTime", None), ("ClockCtrlr", "TimeSource", None),
    ("DeviceDataCtrlr", "ItemsPerMessage", "GetReport"), ("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables"),
    ("DeviceDataCtrlr", "BytesPerMessage", "GetReport"), ("DeviceDataCtrlr", "BytesPerMessage", "GetVariables"),
    ("DeviceDataCtrlr", "ItemsPerMessage", "SetVariables"), ("DeviceDataCtrlr", "BytesPerMessage", "SetVariables"),
    ("LocalAuthListCtrlr", "Entries", None), ("LocalAuthListCtrlr", "ItemsPerMessage", None),
    ("LocalAuthListCtrlr", "BytesPerMessage", None),
    ("OCPPCommCtrlr", "FileTransferProtocols", None), ("OCPPCommCtrlr", "MessageTimeout", "Default"),
    ("OCPPCommCtrlr", "MessageAttemptInterval", "TransactionEvent"),
    ("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent"), ("OCPPCommCtrlr", "NetworkConfigurationPriority", None),
    ("OCPPCommCtrlr", "NetworkProfileConnectionAttempts", None), ("OCPPCommCtrlr", "OfflineThreshold", None),
    ("OCPPCommCtrlr", "ResetRetries", None), ("OCPPCommCtrlr", "UnlockOnEVSideDisconnect", None),
    ("SampledDataCtrlr", "TxEndedInterval", None), ("SampledDataCtrlr", "TxEndedMeasurands", None),
    ("SampledDataCtrlr", "TxStartedMeasurands", None), ("SampledDataCtrlr", "TxUpdatedInterval", None),
    ("SampledDataCtrlr", "TxUpdatedMeasurands", None),
    ("SecurityCtrlr", "CertificateEntries", None), ("SecurityCtrlr", "OrganizationName", None),
    ("SecurityCtrlr", "SecurityProfile", None),
    ("TxCtrlr", "EVConnectionTimeOut", None), ("TxCtrlr", "StopTxOnEVSideDisconnect", None),
    ("TxCtrlr", "StopTxOnInvalidId", None), ("TxCtrlr", "TxStartPoint", None), ("TxCtrlr", "TxStopPoint", None),
]


async def test_TC_B_53_CS_full_inventory_reports_the_mandatory_variables() -> None:
    async with Rig() as r:
        data = flatten(await full_report(r, 14, "FullInventory"))
        missing = [m for m in MANDATORY if (m[0], None, None, m[1], m[2]) not in data]
        assert missing == []
        for per_evse in ("AvailabilityState", "Available", "Power", "SupplyPhases"):
            assert ("EVSE", 1, None, per_evse, None) in data
        for per_connector in ("AvailabilityState", "Available", "ConnectorType", "SupplyPhases"):
            assert ("Connector", 1, 1, per_connector, None) in data
        for d in data.values():  # every reported non-WriteOnly attribute carries a value
            assert all("value" in a for a in d["variableAttribute"] if a["mutability"] != "WriteOnly")


async def test_notify_report_respects_items_and_bytes_per_message() -> None:
    async with Rig() as r:
        r.dm.force("DeviceDataCtrlr", "ItemsPerMessage", "7", instance="GetReport")
        reports = await full_report(r, 20, "FullInventory")
        assert max(len(p["reportData"]) for p in reports) == 7
        assert sum(len(p["reportData"]) for p in reports) == len(r.dm)
        r.dm.force("DeviceDataCtrlr", "ItemsPerMessage", "500", instance="GetReport")
        r.dm.force("DeviceDataCtrlr", "BytesPerMessage", "2000", instance="GetReport")
        reports = await full_report(r, 21, "FullInventory")
        framed = [f.text for f in r.wire.frames if f.action == "NotifyReport" and '"requestId":21' in f.text]
        assert len(framed) == len(reports) > 5
        assert max(len(t.encode()) for t in framed) <= 2000
        assert [p["seqNo"] for p in reports] == list(range(len(reports)))


async def test_get_base_report_with_nothing_to_report_is_empty_result_set() -> None:
    dm = DeviceModel()
    dm.add(Component("OnlyCtrlr"), "Fixed", DataType.STRING, value="x")
    async with Rig(device_model=dm) as r:
        res = await r.request(call.GetBaseReport(request_id=3, report_base="ConfigurationInventory"))
        assert res.status == "EmptyResultSet"
        res = await r.request(call.GetBaseReport(request_id=4, report_base="FullInventory"))
        assert res.status == "Accepted"
        await r.wait_sent("NotifyReport")
        assert [p["requestId"] for p in r.sent("NotifyReport")] == [4]


async def test_persistent_state_restores_seqno_and_device_model_after_a_restart() -> None:
    async with Rig() as r:
        await r.start_charging()
        await r.set(comp("OCPPCommCtrlr"), "OfflineThreshold", "321")
        await r.set(comp("SecurityCtrlr"), "BasicAuthPassword", "0123456789abcdefXYZ")
        tx = r.station.evse(1).tx
        assert tx is not None
        saved = json.loads(json.dumps(r.adapter.persistent_state()))  # what the session's store keeps
        assert saved["seq"] == {tx.tx_id: len(r.sent("TransactionEvent"))}
    async with Rig() as fresh:  # a new process: new station, new device model
        fresh.adapter.load_persistent_state(saved)
        assert fresh.adapter._state.seq == saved["seq"]
        assert fresh.dm.read("OCPPCommCtrlr", "OfflineThreshold") == "321"
        assert fresh.dm.read("SecurityCtrlr", "BasicAuthPassword") == "0123456789abcdefXYZ"
        await fresh.set(comp("OCPPCommCtrlr"), "OfflineThreshold", "99")
        fresh.adapter.load_persistent_state(saved)  # a later connection of the same process keeps newer values
        assert fresh.dm.read("OCPPCommCtrlr", "OfflineThreshold") == "99"
