"""OCPP 2.0.1 adapter against a CSMS on the ``ocpp`` library over an in-memory connection, in virtual time: remote
control (start, stop, unlock) and TriggerMessage.

Test names carry the certification case (docs/reference/ocpp21_cs_testcases.tsv) whose behaviour they assert.
The rig (in-memory connection, CSMS, virtual clock) is in v201_rig.py.
"""

from __future__ import annotations

from typing import Any

from ocpp.v201 import call
from v201_rig import Rig, comp, statuses, tx_events

from chargepoint.station.settings import StationSettings, TxPoint


# ---------------------------------------------------------------------- F: remote control
async def test_TC_F_01_CS_remote_start_cable_plugin_first() -> None:
    settings = StationSettings(aligned_interval_s=0, sample_interval_s=0, tx_start_points=(TxPoint.EV_CONNECTED,))
    async with Rig(settings=settings) as r:
        r.ports[1].plug_in()
        await r.pump(0.5)
        tx_id = tx_events(r)[0]["transactionInfo"]["transactionId"]
        res = await r.request(call.RequestStartTransaction(
            id_token={"id_token": "REMOTE", "type": "Central"}, remote_start_id=7, evse_id=1))
        assert (res.status, res.transaction_id) == ("Accepted", tx_id)
        await r.pump(1)
        update = tx_events(r)[1]
        assert (update["triggerReason"], update["transactionInfo"]["remoteStartId"]) == ("RemoteStart", 7)
        assert update["idToken"] == {"idToken": "REMOTE", "type": "Central"}


async def test_remote_start_without_evse_id_finds_the_waiting_car() -> None:
    settings = StationSettings(aligned_interval_s=0, sample_interval_s=0, tx_start_points=(TxPoint.EV_CONNECTED,))
    async with Rig(evses=2, settings=settings) as r:
        await r.set(comp("AuthCtrlr"), "AuthorizeRemoteStart", "false")
        r.ports[2].plug_in()
        await r.pump(0.5)
        tx_id = tx_events(r)[0]["transactionInfo"]["transactionId"]
        res = await r.request(call.RequestStartTransaction(
            id_token={"id_token": "REMOTE", "type": "Central"}, remote_start_id=11))
        assert (res.status, res.transaction_id) == ("Accepted", tx_id)
        await r.pump(0.5)
        assert tx_events(r)[1]["triggerReason"] == "RemoteStart"


async def test_TC_F_02_CS_remote_start_first_authorize_remote_start_true() -> None:
    async with Rig() as r:
        res = await r.request(call.RequestStartTransaction(
            id_token={"id_token": "REMOTE", "type": "Central"}, remote_start_id=8))
        assert res.status == "Accepted" and res.transaction_id is None
        await r.flush()
        assert r.sent("Authorize") == [{"idToken": {"idToken": "REMOTE", "type": "Central"}}]
        r.ports[1].plug_in()
        await r.pump(1)
        started = tx_events(r)[0]
        assert (started["triggerReason"], started["transactionInfo"]["remoteStartId"]) == ("RemoteStart", 8)


async def test_TC_F_03_CS_remote_start_first_authorize_remote_start_false() -> None:
    async with Rig() as r:
        await r.set(comp("AuthCtrlr"), "AuthorizeRemoteStart", "false")
        res = await r.request(call.RequestStartTransaction(
            id_token={"id_token": "REMOTE", "type": "Central"}, remote_start_id=9, evse_id=1))
        assert res.status == "Accepted"
        r.ports[1].plug_in()
        await r.pump(1)
        assert r.sent("Authorize") == []
        assert tx_events(r)[0]["transactionInfo"]["remoteStartId"] == 9


async def test_remote_start_charging_profile_must_be_a_tx_profile() -> None:
    profile: dict[str, Any] = {
        "id": 1, "stack_level": 0, "charging_profile_kind": "Absolute",
        "charging_schedule": [{"id": 1, "charging_rate_unit": "W", "start_schedule": "2026-03-01T10:00:00Z",
                               "charging_schedule_period": [{"start_period": 0, "limit": 7000}]}],
    }
    async with Rig() as r:
        bad = await r.request(call.RequestStartTransaction(
            id_token={"id_token": "R", "type": "Central"}, remote_start_id=1,
            charging_profile={**profile, "charging_profile_purpose": "TxDefaultProfile"}))
        assert bad.status == "Rejected" and bad.status_info["reason_code"] == "InvalidProfile"
        await r.flush()
        assert r.sent("Authorize") == []
        good = await r.request(call.RequestStartTransaction(
            id_token={"id_token": "R", "type": "Central"}, remote_start_id=2,
            charging_profile={**profile, "charging_profile_purpose": "TxProfile"}))
        assert good.status == "Accepted"
        assert r.adapter.tx_profiles[2]["charging_schedule"][0]["charging_schedule_period"][0]["limit"] == 7000


async def test_remote_start_rejected_on_unknown_or_busy_evse() -> None:
    async with Rig() as r:
        res = await r.request(call.RequestStartTransaction(
            id_token={"id_token": "R", "type": "Central"}, remote_start_id=1, evse_id=5))
        assert res.status == "Rejected"
        await r.start_charging()
        tx_id = tx_events(r)[0]["transactionInfo"]["transactionId"]
        res = await r.request(call.RequestStartTransaction(
            id_token={"id_token": "R", "type": "Central"}, remote_start_id=2, evse_id=1))
        assert (res.status, res.transaction_id) == ("Rejected", tx_id)


async def test_TC_F_08_CS_remote_stop_success() -> None:
    async with Rig() as r:
        await r.start_charging()
        tx_id = tx_events(r)[0]["transactionInfo"]["transactionId"]
        res = await r.request(call.RequestStopTransaction(transaction_id=tx_id))
        assert res.status == "Accepted"
        await r.pump(0.5)
        ended = tx_events(r)[-1]
        assert (ended["eventType"], ended["triggerReason"], ended["transactionInfo"]["stoppedReason"]) == (
            "Ended", "RemoteStop", "Remote")


async def test_TC_F_09_CS_remote_stop_rejected_for_unknown_transaction() -> None:
    async with Rig() as r:
        await r.start_charging()
        res = await r.request(call.RequestStopTransaction(transaction_id="not-a-transaction"))
        assert res.status == "Rejected"
        await r.pump(0.5)
        assert "Ended" not in [e["eventType"] for e in tx_events(r)]


async def test_TC_F_05_CS_unlock_with_ongoing_authorized_transaction() -> None:
    async with Rig() as r:
        await r.start_charging()
        res = await r.request(call.UnlockConnector(evse_id=1, connector_id=1))
        assert res.status == "OngoingAuthorizedTransaction"
        await r.pump(1)
        assert r.station.evse(1).tx is not None and "Ended" not in [e["eventType"] for e in tx_events(r)]


async def test_TC_F_06_CS_unlock_without_transaction() -> None:
    async with Rig() as r:
        r.ports[1].plug_in()
        await r.pump(0.5)
        res = await r.request(call.UnlockConnector(evse_id=1, connector_id=1))
        assert res.status == "Unlocked"


async def test_unlock_failure_is_reported() -> None:
    async with Rig() as r:
        r.ports[1].unlock_fails = True
        res = await r.request(call.UnlockConnector(evse_id=1, connector_id=1))
        assert res.status == "UnlockFailed"


async def test_TC_F_10_CS_unlock_unknown_connector() -> None:
    async with Rig() as r:
        for evse, conn in ((1, 2), (3, 1)):
            res = await r.request(call.UnlockConnector(evse_id=evse, connector_id=conn))
            assert res.status == "UnknownConnector"


# ---------------------------------------------------------------------- F06: TriggerMessage
async def test_TC_F_11_CS_trigger_meter_values_specific_evse() -> None:
    async with Rig(evses=2) as r:
        await r.start_charging(evse=1)
        res = await r.request(call.TriggerMessage(requested_message="MeterValues", evse={"id": 1}))
        assert res.status == "Accepted"
        mv = await r.wait_sent("MeterValues")
        assert [m["evseId"] for m in mv] == [1]
        values = mv[0]["meterValue"][0]["sampledValue"]
        assert {v["context"] for v in values} == {"Trigger"}
        assert [v["measurand"] for v in values] == [m.value for m in r.settings.aligned_measurands]
        assert r.wire.frames.index(next(f for f in r.wire.frames if f.action == "MeterValues")) > \
            r.wire.frames.index(next(f for f in r.wire.frames if f.action == "TriggerMessage"))


async def test_TC_F_12_CS_trigger_meter_values_all_evses() -> None:
    async with Rig(evses=2) as r:
        res = await r.request(call.TriggerMessage(requested_message="MeterValues"))
        assert res.status == "Accepted"
        mv = await r.wait_sent("MeterValues", 2)
        assert sorted(m["evseId"] for m in mv) == [1, 2]


async def test_TC_F_13_CS_trigger_transaction_event_specific_evse() -> None:
    async with Rig(evses=2) as r:
        await r.start_charging(evse=1)
        before = len(tx_events(r))
        res = await r.request(call.TriggerMessage(requested_message="TransactionEvent", evse={"id": 1}))
        assert res.status == "Accepted"
        events = await r.wait_sent("TransactionEvent", before + 1)
        triggered = events[-1]
        assert (triggered["eventType"], triggered["triggerReason"], triggered["seqNo"]) == (
            "Updated", "Trigger", before)
        assert triggered["transactionInfo"]["chargingState"] == "Charging"
        assert {v["context"] for v in triggered["meterValue"][0]["sampledValue"]} == {"Trigger"}
        res = await r.request(call.TriggerMessage(requested_message="TransactionEvent", evse={"id": 2}))
        assert res.status == "Rejected"  # no transaction there


async def test_TC_F_14_CS_trigger_transaction_event_all_evses() -> None:
    async with Rig(evses=2) as r:
        await r.start_charging(evse=1, token="A")
        await r.start_charging(evse=2, token="B")
        before = len(tx_events(r))
        res = await r.request(call.TriggerMessage(requested_message="TransactionEvent"))
        assert res.status == "Accepted"
        events = await r.wait_sent("TransactionEvent", before + 2)
        assert {e["triggerReason"] for e in events[before:]} == {"Trigger"}
        assert len({e["transactionInfo"]["transactionId"] for e in events[before:]}) == 2


async def test_TC_F_20_CS_trigger_heartbeat() -> None:
    async with Rig() as r:
        res = await r.request(call.TriggerMessage(requested_message="Heartbeat"))
        assert res.status == "Accepted"
        await r.wait_sent("Heartbeat")
        assert r.hooks.heartbeats_triggered == 1
        assert await r.adapter.heartbeat() is not None


async def test_TC_F_23_CS_trigger_status_notification_available() -> None:
    async with Rig() as r:
        await r.pump(0.2)
        assert statuses(r) == [(1, 1, "Available")]
        res = await r.request(call.TriggerMessage(requested_message="StatusNotification",
                                                  evse={"id": 1, "connector_id": 1}))
        assert res.status == "Accepted"
        await r.wait_sent("StatusNotification", 2)
        assert statuses(r) == [(1, 1, "Available"), (1, 1, "Available")]  # sent even though unchanged


async def test_TC_F_24_CS_trigger_status_notification_occupied() -> None:
    async with Rig() as r:
        await r.start_charging()
        res = await r.request(call.TriggerMessage(requested_message="StatusNotification",
                                                  evse={"id": 1, "connector_id": 1}))
        assert res.status == "Accepted"
        await r.wait_sent("StatusNotification", 2)
        assert statuses(r)[-1] == (1, 1, "Occupied")


async def test_trigger_status_notification_needs_evse_and_connector() -> None:
    async with Rig() as r:
        for evse in (None, {"id": 1}, {"id": 1, "connector_id": 2}, {"id": 9, "connector_id": 1}):
            res = await r.request(call.TriggerMessage(requested_message="StatusNotification", evse=evse))
            assert res.status == "Rejected", evse
        assert r.sent("StatusNotification") == []


async def test_TC_F_26_CS_trigger_boot_notification_rejected_when_accepted() -> None:
    async with Rig() as r:
        res = await r.request(call.TriggerMessage(requested_message="BootNotification"))
        assert res.status == "Rejected" and r.hooks.boots_triggered == 0


async def test_TC_F_27_CS_trigger_message_not_implemented() -> None:
    async with Rig() as r:
        for message in ("LogStatusNotification", "FirmwareStatusNotification", "SignChargingStationCertificate"):
            res = await r.request(call.TriggerMessage(requested_message=message))
            assert res.status == "NotImplemented"
