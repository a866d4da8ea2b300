"""OCPP 2.0.1 adapter against a CSMS on the ``ocpp`` library over an in-memory connection, in virtual time:
authorization and transactions, meter values.

Test names carry the certification case (docs/reference/ocpp21_cs_testcases.tsv) whose behaviour they assert.
The rig (in-memory connection, CSMS, virtual clock) is in v201_rig.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from v201_rig import ACCEPTED, Rig, comp, statuses, tx_events

from chargepoint.station.auth import AuthPolicy
from chargepoint.station.settings import StationSettings, TxPoint
from chargepoint.station.types import AuthInfo, AuthStatus


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
