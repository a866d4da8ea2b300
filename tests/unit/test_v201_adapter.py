"""OCPP 2.0.1 adapter against a CSMS on the ``ocpp`` library over an in-memory connection, in virtual time.

Test names carry the certification case (docs/reference/ocpp21_cs_testcases.tsv) whose behaviour they assert.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from ocpp.exceptions import SecurityError
from ocpp.v201 import call
from v201_rig import Rig, comp

from chargepoint.station.auth import AuthPolicy
from chargepoint.station.settings import StationSettings, TxPoint
from chargepoint.station.types import AuthInfo, AuthStatus, ResetKind

ACCEPTED = AuthInfo(AuthStatus.ACCEPTED)


def tx_events(r: Rig) -> list[dict[str, Any]]:
    return r.sent("TransactionEvent")


def statuses(r: Rig) -> list[tuple[int, int, str]]:
    return [(p["evseId"], p["connectorId"], p["connectorStatus"]) for p in r.sent("StatusNotification")]


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


# ---------------------------------------------------------------------- C/E: authorization and transactions
async def test_TC_E_04_CS_authorization_first_then_cable_starts_transaction() -> None:
    async with Rig() as r:
        await r.authorize("TAG1")
        assert r.sent("Authorize") == [{"idToken": {"idToken": "TAG1", "type": "ISO14443"}}]
        r.ports[1].plug_in()
        await r.pump(1)
        started = tx_events(r)[0]
        assert started["eventType"] == "Started" and started["seqNo"] == 0
        assert started["triggerReason"] == "Authorized"
        assert started["evse"] == {"id": 1, "connectorId": 1}
        assert started["idToken"] == {"idToken": "TAG1", "type": "ISO14443"}
        assert 0 < len(started["transactionInfo"]["transactionId"]) <= 36
        assert started["transactionInfo"]["chargingState"] == "EVConnected"
        values = started["meterValue"][0]["sampledValue"]
        assert {v["context"] for v in values} == {"Transaction.Begin"}
        energy = next(v for v in values if v["measurand"] == "Energy.Active.Import.Register")
        assert isinstance(energy["value"], float) and energy["unitOfMeasure"] == {"unit": "Wh"}
        assert energy["location"] == "Outlet"


async def test_TC_E_03_CS_cable_plugin_first_then_authorization() -> None:
    async with Rig() as r:
        r.ports[1].plug_in()
        await r.pump(0.5)
        assert statuses(r) == [(1, 1, "Occupied")]
        await r.authorize("TAG1")
        await r.pump(4)
        events = tx_events(r)
        assert [e["eventType"] for e in events] == ["Started", "Updated"]
        assert events[1]["triggerReason"] == "ChargingStateChanged"
        assert events[1]["transactionInfo"]["chargingState"] == "Charging"
        assert "evse" not in events[1]  # only the first event names the EVSE
        assert statuses(r) == [(1, 1, "Occupied")]  # Preparing -> Charging is still Occupied


async def test_TC_E_09_CS_start_option_ev_connected() -> None:
    settings = StationSettings(aligned_interval_s=0, sample_interval_s=0, tx_start_points=(TxPoint.EV_CONNECTED,))
    async with Rig(settings=settings) as r:
        r.ports[1].plug_in()
        await r.pump(0.5)
        started = tx_events(r)[0]
        assert started["triggerReason"] == "CablePluggedIn" and "idToken" not in started
        await r.authorize("TAG1")
        await r.pump(0.5)
        authorized = tx_events(r)[1]
        assert (authorized["eventType"], authorized["triggerReason"], authorized["seqNo"]) == ("Updated",
                                                                                              "Authorized", 1)
        assert authorized["idToken"]["idToken"] == "TAG1"


async def test_TC_C_02_CS_local_start_authorization_invalid() -> None:
    async with Rig() as r:
        r.csms.token_status["BAD"] = "Invalid"
        r.ports[1].plug_in()
        await r.pump(0.5)
        await r.authorize("BAD")
        await r.pump(3)
        assert len(r.sent("Authorize")) == 1 and tx_events(r) == []
        assert r.station.evse(1).tx is None
        assert r.station.auth.cache.get("BAD", r.clock.now()) == AuthInfo(AuthStatus.INVALID)


async def test_authorize_callerror_falls_back_to_the_local_decision() -> None:
    async with Rig(policy=AuthPolicy(allow_offline_tx_for_unknown_id=True)) as r:
        r.csms.fail_authorize = True
        r.ports[1].plug_in()
        await r.pump(0.5)
        await r.authorize("ANY")  # CALLERROR: decided as if offline -> unknown ids allowed here
        await r.pump(1)
        assert tx_events(r)[0]["idToken"]["idToken"] == "ANY"


async def test_TC_E_16_CS_deauthorized_by_transaction_event_response_updates_cache() -> None:
    """Pre-authorized from the cache (no Authorize), the TransactionEventResponse says Invalid (C_34 too)."""
    async with Rig(policy=AuthPolicy(local_pre_authorize=True)) as r:
        r.station.auth.cache.put("OLD", ACCEPTED)
        r.csms.token_status["OLD"] = "Invalid"
        await r.start_charging("OLD", seconds=1)
        assert r.sent("Authorize") == []
        events = tx_events(r)
        assert [e["eventType"] for e in events] == ["Started", "Ended"]
        assert events[1]["triggerReason"] == "Deauthorized"
        assert events[1]["transactionInfo"]["stoppedReason"] == "DeAuthorized"
        assert r.station.auth.cache.get("OLD", r.clock.now()) == AuthInfo(AuthStatus.INVALID)


async def test_TC_E_06_CS_local_stop_with_same_token() -> None:
    async with Rig() as r:
        await r.start_charging("TAG1")
        await r.authorize("TAG1")
        ended = tx_events(r)[-1]
        assert (ended["eventType"], ended["triggerReason"]) == ("Ended", "StopAuthorized")
        assert ended["transactionInfo"]["stoppedReason"] == "Local"
        assert ended["idToken"]["idToken"] == "TAG1"


async def test_transaction_seqno_is_continuous_and_restarts_per_transaction() -> None:
    settings = StationSettings(aligned_interval_s=0, sample_interval_s=10)
    async with Rig(settings=settings) as r:
        for _ in range(2):
            await r.start_charging("TAG1", seconds=25)
            r.ports[1].unplug()
            await r.pump(0.5)
        events = tx_events(r)
        by_tx: dict[str, list[int]] = {}
        for e in events:
            by_tx.setdefault(e["transactionInfo"]["transactionId"], []).append(e["seqNo"])
        assert len(by_tx) == 2
        for seqs in by_tx.values():
            assert seqs == list(range(len(seqs))) and len(seqs) >= 4
        assert [e["eventType"] for e in events].count("Ended") == 2
        ended = [e for e in events if e["eventType"] == "Ended"]
        assert {e["transactionInfo"]["stoppedReason"] for e in ended} == {"EVDisconnected"}


async def test_transaction_event_retry_after_timeout_reuses_the_seqno() -> None:
    async with Rig() as r:
        gate = asyncio.Event()
        original = r.csms.route_map["TransactionEvent"]["_on_action"]

        async def slow(**kwargs: Any) -> Any:
            if not gate.is_set():
                await gate.wait()
            return original(**kwargs)

        r.csms.route_map["TransactionEvent"]["_on_action"] = slow
        r.adapter._response_timeout = 0.2
        r.ports[1].plug_in()
        await r.pump(0.5)
        await r.authorize()
        with pytest.raises(TimeoutError):
            await r.pump(0.5)  # Started is not answered in time
        started = r.actions[-1]
        gate.set()
        await r.adapter.dispatch(started)  # what the session does: retry the same action
        seqs = [e["seqNo"] for e in tx_events(r)]
        assert seqs == [0, 0]
        await r.pump(3)
        assert [e["seqNo"] for e in tx_events(r)][2:] == [1]


async def test_offline_queued_transaction_event_is_marked_offline() -> None:
    async with Rig() as r:
        r.ports[1].plug_in()
        await r.pump(0.5)
        await r.authorize()
        r.clock.advance(0.1)
        started = [a for a in r.station.tick() if type(a).__name__ == "TransactionStarted"]
        await r.adapter.dispatch_offline(started[0])
        assert tx_events(r)[0]["offline"] is True


# ---------------------------------------------------------------------- J: meter values
async def test_TC_J_07_CS_started_event_carries_tx_started_measurands() -> None:
    async with Rig() as r:
        await r.set(comp("SampledDataCtrlr"), "TxStartedMeasurands", "Energy.Active.Import.Register,SoC")
        await r.start_charging()
        values = tx_events(r)[0]["meterValue"][0]["sampledValue"]
        assert [(v["measurand"], v["context"]) for v in values] == [
            ("Energy.Active.Import.Register", "Transaction.Begin"), ("SoC", "Transaction.Begin")]
        assert values[1]["location"] == "EV" and values[1]["unitOfMeasure"] == {"unit": "Percent"}


async def test_TC_J_09_CS_updated_events_carry_periodic_samples() -> None:
    async with Rig() as r:
        await r.set(comp("SampledDataCtrlr"), "TxUpdatedInterval", "10")
        await r.set(comp("SampledDataCtrlr"), "TxUpdatedMeasurands",
                    "Energy.Active.Import.Register,Power.Active.Import")
        await r.start_charging(seconds=31)
        periodic = [e for e in tx_events(r) if e["triggerReason"] == "MeterValuePeriodic"]
        assert len(periodic) == 3
        for e in periodic:
            values = e["meterValue"][0]["sampledValue"]
            assert [v["measurand"] for v in values] == ["Energy.Active.Import.Register", "Power.Active.Import"]
            assert {v["context"] for v in values} == {"Sample.Periodic"}
        energy = [e["meterValue"][0]["sampledValue"][0]["value"] for e in periodic]
        assert energy == sorted(energy) and energy[-1] > energy[0]


async def test_TC_J_10_CS_ended_event_carries_tx_ended_measurands() -> None:
    async with Rig() as r:
        await r.set(comp("SampledDataCtrlr"), "TxEndedMeasurands", "Energy.Active.Import.Register")
        await r.start_charging(seconds=10)
        r.ports[1].unplug()
        await r.pump(0.5)
        ended = tx_events(r)[-1]
        assert ended["eventType"] == "Ended"
        values = ended["meterValue"][0]["sampledValue"]
        assert [(v["measurand"], v["context"]) for v in values] == [
            ("Energy.Active.Import.Register", "Transaction.End")]
        assert values[0]["value"] > 0


async def test_TC_J_01_CS_clock_aligned_meter_values_without_transaction() -> None:
    async with Rig() as r:
        await r.set(comp("AlignedDataCtrlr"), "Interval", "60")
        await r.set(comp("AlignedDataCtrlr"), "Measurands", "Energy.Active.Import.Register")
        await r.pump(125)
        mv = r.sent("MeterValues")
        assert len(mv) == 2 and {m["evseId"] for m in mv} == {1}
        assert [m["meterValue"][0]["timestamp"] for m in mv] == ["2026-03-01T10:01:00.000Z",
                                                                  "2026-03-01T10:02:00.000Z"]
        assert mv[0]["meterValue"][0]["sampledValue"][0]["context"] == "Sample.Clock"


async def test_TC_J_02_CS_clock_aligned_meter_values_during_transaction() -> None:
    async with Rig() as r:
        await r.set(comp("AlignedDataCtrlr"), "Interval", "60")
        await r.start_charging(seconds=65)
        clock = [e for e in tx_events(r) if e["triggerReason"] == "MeterValueClock"]
        assert len(clock) == 1 and clock[0]["meterValue"][0]["sampledValue"][0]["context"] == "Sample.Clock"
        assert r.sent("MeterValues") == []


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


# ---------------------------------------------------------------------- C/D: authorization data
async def test_TC_C_37_CS_clear_cache_accepted() -> None:
    async with Rig() as r:
        await r.authorize("TAG1")
        assert len(r.station.auth.cache) == 1
        res = await r.request(call.ClearCache())
        assert res.status == "Accepted" and len(r.station.auth.cache) == 0


async def test_TC_C_38_CS_clear_cache_rejected_when_cache_disabled() -> None:
    async with Rig() as r:
        r.station.auth.cache.put("TAG1", ACCEPTED)
        await r.set(comp("AuthCacheCtrlr"), "Enabled", "false")
        res = await r.request(call.ClearCache())
        assert res.status == "Rejected" and len(r.station.auth.cache) == 1


def entry(token: str, status: str | None = "Accepted") -> dict[str, Any]:
    out: dict[str, Any] = {"id_token": {"id_token": token, "type": "ISO14443"}}
    if status is not None:
        out["id_token_info"] = {"status": status}
    return out


async def test_TC_D_01_CS_and_TC_D_08_CS_send_full_list_and_get_version() -> None:
    async with Rig() as r:
        res = await r.request(call.SendLocalList(version_number=3, update_type="Full",
                                                 local_authorization_list=[entry("A"), entry("B", "Blocked")]))
        assert res.status == "Accepted"
        assert (await r.request(call.GetLocalListVersion())).version_number == 3
        lst = r.station.auth.local_list
        assert lst.get("A") == ACCEPTED and lst.get("B") == AuthInfo(AuthStatus.BLOCKED)
        assert (await r.get(comp("LocalAuthListCtrlr"), "Entries"))["attribute_value"] == "2"


async def test_TC_D_02_CS_and_TC_D_03_CS_differential_update_and_remove() -> None:
    async with Rig() as r:
        await r.request(call.SendLocalList(version_number=1, update_type="Full",
                                           local_authorization_list=[entry("A"), entry("B")]))
        res = await r.request(call.SendLocalList(version_number=2, update_type="Differential",
                                                 local_authorization_list=[entry("C"), entry("A", "Expired")]))
        assert res.status == "Accepted"
        res = await r.request(call.SendLocalList(version_number=3, update_type="Differential",
                                                 local_authorization_list=[entry("B", None)]))
        assert res.status == "Accepted"
        lst = r.station.auth.local_list
        assert sorted(lst.entries or {}) == ["A", "C"] and lst.get("A") == AuthInfo(AuthStatus.EXPIRED)
        assert (await r.request(call.GetLocalListVersion())).version_number == 3


async def test_TC_D_04_CS_full_with_empty_list_clears_it() -> None:
    async with Rig() as r:
        await r.request(call.SendLocalList(version_number=1, update_type="Full", local_authorization_list=[entry("A")]))
        res = await r.request(call.SendLocalList(version_number=2, update_type="Full"))
        assert res.status == "Accepted" and r.station.auth.local_list.entries == {}
        assert (await r.request(call.GetLocalListVersion())).version_number == 2


async def test_TC_D_05_CS_differential_with_empty_list_updates_the_version() -> None:
    async with Rig() as r:
        await r.request(call.SendLocalList(version_number=1, update_type="Full", local_authorization_list=[entry("A")]))
        res = await r.request(call.SendLocalList(version_number=5, update_type="Differential"))
        assert res.status == "Accepted" and sorted(r.station.auth.local_list.entries or {}) == ["A"]
        assert (await r.request(call.GetLocalListVersion())).version_number == 5


async def test_TC_D_06_CS_version_mismatch() -> None:
    async with Rig() as r:
        await r.request(call.SendLocalList(version_number=4, update_type="Full", local_authorization_list=[entry("A")]))
        res = await r.request(call.SendLocalList(version_number=4, update_type="Differential",
                                                 local_authorization_list=[entry("B")]))
        assert res.status == "VersionMismatch" and r.station.auth.local_list.get("B") is None


async def test_send_local_list_failures_change_nothing() -> None:
    async with Rig() as r:
        await r.request(call.SendLocalList(version_number=1, update_type="Full", local_authorization_list=[entry("A")]))
        dup = await r.request(call.SendLocalList(version_number=2, update_type="Full",
                                                 local_authorization_list=[entry("X"), entry("X", "Blocked")]))
        no_info = await r.request(call.SendLocalList(version_number=2, update_type="Full",
                                                     local_authorization_list=[entry("Y", None)]))
        assert (dup.status, no_info.status) == ("Failed", "Failed")
        assert sorted(r.station.auth.local_list.entries or {}) == ["A"]
        assert r.station.auth.local_list.version == 1


async def test_TC_D_10_CS_local_list_disabled() -> None:
    async with Rig() as r:
        await r.request(call.SendLocalList(version_number=2, update_type="Full", local_authorization_list=[entry("A")]))
        await r.set(comp("LocalAuthListCtrlr"), "Enabled", "false")
        assert (await r.request(call.GetLocalListVersion())).version_number == 0
        res = await r.request(call.SendLocalList(version_number=3, update_type="Full"))
        assert res.status == "Failed" and r.station.auth.local_list.version == 2


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
