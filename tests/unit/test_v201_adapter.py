"""OCPP 2.0.1 adapter against a CSMS on the ``ocpp`` library over an in-memory connection, in virtual time: boot,
reset, availability, data transfer and custom data, security and extension to later versions.

Test names carry the certification case (docs/reference/ocpp21_cs_testcases.tsv) whose behaviour they assert.
The rig (in-memory connection, CSMS, virtual clock) is in v201_rig.py.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from ocpp.exceptions import SecurityError
from ocpp.v201 import call
from v201_rig import Rig, comp, statuses, tx_events

from chargepoint.station.types import ResetKind


# ---------------------------------------------------------------------- B: boot, reset
async def test_TC_B_01_CS_cold_boot_accepted() -> None:
    async with Rig() as r:
        outcome = await r.adapter.boot("PowerUp")
        assert (outcome.status, outcome.interval) == ("Accepted", 300)
        assert outcome.current_time is not None and outcome.current_time.isoformat() == "2026-03-01T09:00:00+00:00"
        assert r.sent("BootNotification") == [{
            "chargingStation": {"model": "CHAdeMO-BiDi-10", "vendorName": "OpenV2X", "serialNumber": "SN-42",
                                "firmwareVersion": "1.2.3"},
            "reason": "PowerUp",
        }]


async def test_TC_B_02_CS_cold_boot_pending_configured_then_triggered_boot() -> None:
    async with Rig() as r:
        r.csms.boot_status = "Pending"
        r.hooks.registration_status = "Pending"
        outcome = await r.adapter.boot("PowerUp")
        assert (outcome.status, outcome.interval) == ("Pending", 300)
        # While Pending the CSMS may read and change the configuration ...
        assert (await r.set(comp("OCPPCommCtrlr"), "HeartbeatInterval", "60"))["attribute_status"] == "Accepted"
        # ... but not start a transaction nor make the station send anything but a BootNotification
        with pytest.raises(SecurityError):  # TC_B_30
            await r.request(call.RequestStartTransaction(id_token={"id_token": "R", "type": "Central"},
                                                         remote_start_id=1, evse_id=1))
        assert (await r.request(call.TriggerMessage(requested_message="Heartbeat"))).status == "Rejected"
        await r.flush()
        # ... and ask for a new BootNotification, which follows the response.
        r.csms.boot_status = "Accepted"
        res = await r.request(call.TriggerMessage(requested_message="BootNotification"))
        assert res.status == "Accepted" and r.hooks.boots_triggered == 1
        boots = await r.wait_sent("BootNotification", 2)
        assert boots[1]["reason"] == "Triggered"
        assert r.actions_sent() == ["BootNotification", "BootNotification"]


async def test_TC_B_03_CS_cold_boot_rejected_gives_retry_interval() -> None:
    async with Rig() as r:
        r.csms.boot_status, r.csms.boot_interval = "Rejected", 20
        outcome = await r.adapter.boot("PowerUp")
        assert (outcome.status, outcome.interval) == ("Rejected", 20)


async def test_TC_B_20_CS_reset_on_idle_without_transaction() -> None:
    async with Rig() as r:
        res = await r.request(call.Reset(type="OnIdle"))
        assert res.status == "Accepted"
        await r.flush()
        assert r.hooks.reboots == [ResetKind.ON_IDLE]


async def test_TC_B_21_CS_reset_on_idle_with_transaction_waits_for_its_end() -> None:
    async with Rig() as r:
        await r.start_charging()
        res = await r.request(call.Reset(type="OnIdle"))
        assert res.status == "Scheduled"
        await r.pump(3)
        assert r.hooks.reboots == []
        r.ports[1].unplug()
        await r.pump(0.5)
        assert tx_events(r)[-1]["eventType"] == "Ended"
        assert r.hooks.reboots == [ResetKind.ON_IDLE]


async def test_TC_B_22_CS_reset_immediate_with_transaction() -> None:
    async with Rig() as r:
        await r.start_charging()
        res = await r.request(call.Reset(type="Immediate"))
        assert res.status == "Accepted"
        await r.flush()
        ended = tx_events(r)[-1]
        assert ended["eventType"] == "Ended" and ended["triggerReason"] == "ResetCommand"
        assert ended["transactionInfo"]["stoppedReason"] == "ImmediateReset"
        assert r.hooks.reboots == [ResetKind.IMMEDIATE]


async def test_TC_B_28_CS_reset_evse_not_supported() -> None:
    async with Rig() as r:
        await r.start_charging()
        res = await r.request(call.Reset(type="Immediate", evse_id=1))
        assert res.status == "Rejected"
        await r.flush()
        assert [e["eventType"] for e in tx_events(r)].count("Ended") == 0 and r.hooks.reboots == []


# ---------------------------------------------------------------------- G: availability
async def test_TC_G_01_CS_and_TC_G_02_CS_status_available_occupied_available() -> None:
    async with Rig() as r:
        await r.pump(0.2)
        await r.start_charging(seconds=5)
        r.ports[1].unplug()
        await r.pump(0.5)
        assert statuses(r) == [(1, 1, "Available"), (1, 1, "Occupied"), (1, 1, "Available")]
        assert all(p["timestamp"].endswith("Z") for p in r.sent("StatusNotification"))


async def test_TC_G_03_CS_and_TC_G_04_CS_change_availability_evse() -> None:
    async with Rig(evses=2) as r:
        await r.pump(0.2)
        res = await r.request(call.ChangeAvailability(operational_status="Inoperative", evse={"id": 1}))
        assert res.status == "Accepted"
        await r.flush()
        assert statuses(r)[-1] == (1, 1, "Unavailable")
        assert (await r.get(comp("EVSE", 1), "AvailabilityState"))["attribute_value"] == "Unavailable"
        res = await r.request(call.ChangeAvailability(operational_status="Operative", evse={"id": 1}))
        assert res.status == "Accepted"
        await r.flush()
        assert statuses(r)[-1] == (1, 1, "Available")
        assert (2, 1, "Unavailable") not in statuses(r)


async def test_TC_G_05_CS_and_TC_G_06_CS_change_availability_station() -> None:
    async with Rig(evses=2) as r:
        await r.pump(0.2)
        res = await r.request(call.ChangeAvailability(operational_status="Inoperative"))
        assert res.status == "Accepted"
        await r.flush()
        assert set(statuses(r)[2:]) == {(1, 1, "Unavailable"), (2, 1, "Unavailable")}
        res = await r.request(call.ChangeAvailability(operational_status="Operative", evse={"id": 0}))
        assert res.status == "Accepted"
        await r.flush()
        assert set(statuses(r)[4:]) == {(1, 1, "Available"), (2, 1, "Available")}


async def test_TC_G_07_CS_change_availability_connector() -> None:
    async with Rig() as r:
        await r.pump(0.2)
        res = await r.request(call.ChangeAvailability(operational_status="Inoperative",
                                                      evse={"id": 1, "connector_id": 1}))
        assert res.status == "Accepted"
        await r.flush()
        assert statuses(r)[-1] == (1, 1, "Unavailable")
        res = await r.request(call.ChangeAvailability(operational_status="Inoperative",
                                                      evse={"id": 1, "connector_id": 3}))
        assert res.status == "Rejected"


async def test_TC_G_09_CS_change_availability_operative_to_operative() -> None:
    async with Rig() as r:
        await r.pump(0.2)
        res = await r.request(call.ChangeAvailability(operational_status="Operative", evse={"id": 1}))
        assert res.status == "Accepted"
        await r.pump(0.2)
        assert statuses(r) == [(1, 1, "Available")]  # no new notification


async def test_TC_G_11_CS_change_availability_evse_with_ongoing_transaction() -> None:
    async with Rig() as r:
        await r.start_charging()
        res = await r.request(call.ChangeAvailability(operational_status="Inoperative", evse={"id": 1}))
        assert res.status == "Scheduled"
        await r.pump(1)
        assert r.station.evse(1).tx is not None
        r.ports[1].unplug()
        await r.pump(0.5)
        assert statuses(r)[-1] == (1, 1, "Unavailable")


async def test_TC_G_14_CS_change_availability_station_with_ongoing_transaction() -> None:
    async with Rig(evses=2) as r:
        await r.start_charging(evse=1)
        res = await r.request(call.ChangeAvailability(operational_status="Inoperative"))
        assert res.status == "Scheduled"
        await r.flush()
        assert statuses(r)[-1] == (2, 1, "Unavailable")  # the idle EVSE at once
        r.ports[1].unplug()
        await r.pump(0.5)
        assert statuses(r)[-1] == (1, 1, "Unavailable")


async def test_change_availability_unknown_evse_rejected() -> None:
    async with Rig() as r:
        res = await r.request(call.ChangeAvailability(operational_status="Inoperative", evse={"id": 4}))
        assert res.status == "Rejected"


async def test_faulted_connector_reports_faulted() -> None:
    async with Rig() as r:
        await r.start_charging()
        r.ports[1].inject_fault("ground fault")
        await r.pump(0.5)
        assert statuses(r)[-1] == (1, 1, "Faulted")
        ended = tx_events(r)[-1]
        assert (ended["eventType"], ended["triggerReason"]) == ("Ended", "AbnormalCondition")


# ---------------------------------------------------------------------- P: data transfer, custom data
async def test_TC_P_01_CS_data_transfer_unknown_vendor() -> None:
    async with Rig() as r:
        res = await r.request(call.DataTransfer(vendor_id="com.example", message_id="Hello", data={"a": 1}))
        assert res.status == "UnknownVendorId"


async def test_TC_P_03_CS_custom_data_is_accepted_everywhere() -> None:
    custom = {"vendor_id": "com.example", "extra": 1}
    async with Rig() as r:
        res = await r.request(call.ClearCache(custom_data=custom))
        assert res.status == "Accepted"
        res = await r.request(call.GetVariables(get_variable_data=[{
            "component": {"name": "OCPPCommCtrlr", "custom_data": custom},
            "variable": {"name": "HeartbeatInterval", "custom_data": custom},
            "custom_data": custom,
        }]))
        assert res.get_variable_result[0]["attribute_status"] == "Accepted"


# ---------------------------------------------------------------------- security
async def test_basic_auth_password_is_write_only_and_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    secret = "Sup3r-Secret-Passw0rd"
    caplog.set_level(logging.DEBUG)
    async with Rig() as r:
        changes: list[str] = []
        r.dm.subscribe(lambda var, kind, value: changes.append(var.name))
        res = await r.set(comp("SecurityCtrlr"), "BasicAuthPassword", secret)
        assert res["attribute_status"] == "Accepted" and changes == ["BasicAuthPassword"]
        got = await r.get(comp("SecurityCtrlr"), "BasicAuthPassword")
        assert got["attribute_status"] == "Rejected" and "attribute_value" not in got
        await r.request(call.GetBaseReport(request_id=5, report_base="FullInventory"))
        reports = await r.wait_sent("NotifyReport", 1)
        await r.wire.wait(lambda: not r.sent("NotifyReport")[-1].get("tbc"))
        assert r.dm.read("SecurityCtrlr", "BasicAuthPassword") == secret
    station_logs = [r.getMessage() for r in caplog.records if r.name.startswith("chargepoint")]
    assert any("BasicAuthPassword" in m for m in station_logs)  # the frames were logged, redacted
    assert not any(secret in m for m in station_logs)
    assert secret not in str(r.sent())
    assert reports  # and it was reported without a value
    listed = [d for p in r.sent("NotifyReport") for d in p["reportData"]
              if d["variable"]["name"] == "BasicAuthPassword"]
    assert listed and "value" not in listed[0]["variableAttribute"][0]


# ---------------------------------------------------------------------- extension to later versions
async def test_a_later_protocol_version_subclasses_with_class_attributes_only() -> None:
    import ocpp.v21
    from ocpp.routing import on as on_call
    from ocpp.v21 import call as call21
    from ocpp.v21 import call_result as result21
    from v201_rig import CS_TO_CSMS, CSMS_TO_CS, Hooks, Pipe, Wire

    from chargepoint.ocpp.v201 import V201Adapter

    class V21Like(V201Adapter):
        version = "2.1"
        subprotocol = "ocpp2.1"
        ocpp_module = ocpp.v21

    class Csms21(ocpp.v21.ChargePoint):
        @on_call("BootNotification")
        def on_boot(self, **_: Any) -> Any:
            return result21.BootNotification(current_time="2026-03-01T09:00:00Z", interval=60, status="Accepted")

    assert (V21Like._ocpp_version, V21Like._call, V21Like._call_result) == ("2.1", call21, result21)
    assert V201Adapter._ocpp_version == "2.0.1"
    base = Rig()
    wire, a, b = Wire(), asyncio.Queue[str](), asyncio.Queue[str]()
    cs = V21Like("CS21", Pipe(CS_TO_CSMS, a, b, wire), base.station, Hooks(), base.identity)
    csms = Csms21("CS21", Pipe(CSMS_TO_CS, b, a, wire))
    tasks = [asyncio.create_task(cs.start()), asyncio.create_task(csms.start())]
    try:
        assert (await cs.boot("PowerUp")).status == "Accepted"
        res = await csms.call(call21.GetVariables(get_variable_data=[
            {"component": {"name": "TxCtrlr"}, "variable": {"name": "TxStopPoint"}}]), suppress=False)
        assert res.get_variable_result[0]["attribute_value"] == "EVConnected,Authorized"
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
