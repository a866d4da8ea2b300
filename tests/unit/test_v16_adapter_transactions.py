"""The OCPP 1.6J adapter against a CSMS built on the ``ocpp`` library, over an in-memory connection: charging
sessions, meter values, the non-happy paths and how station events map to 1.6 messages.

Tests are named after the OCPP 1.6 CTT charge-point test cases (docs/reference/ocpp16_cs_testcases.tsv) whose
behaviour they check. The rig (in-memory connection, scriptable CSMS, virtual time) is in v16_rig.py.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import timedelta

import pytest
from ocpp.v16 import call
from v16_rig import T0, UNITS, Rig, config_of
from v16_rig import make_rig as make_rig  # a pytest fixture
from v16_rig import rig as rig  # a pytest fixture

from chargepoint.clock import parse_iso
from chargepoint.ocpp.v16 import TransactionMessageFailed, v16_state
from chargepoint.station.actions import (
    MeterValuesReport,
    RebootRequested,
    StatusChanged,
    TransactionEnded,
    TransactionUpdated,
    Unlocked,
)
from chargepoint.station.auth import AuthPolicy
from chargepoint.station.settings import StationSettings, TxPoint
from chargepoint.station.types import (
    ConnectorStatus,
    FaultInfo,
    IdToken,
    Measurand,
    MeterSample,
    ReadingContext,
    ResetKind,
    SampledValue,
    StopReason,
    TriggerReason,
)


# ---------------------------------------------------------------------------------------------------- 02/03 sessions
async def test_TC_003_CS_regular_charging_session_plugin_first(rig: Rig) -> None:
    rig.ports[1].plug_in()
    await rig.run(1)
    assert rig.statuses(1) == ["Preparing"]
    rig.station.present_token(1, IdToken("TAG1"))
    await rig.pump()
    assert rig.calls("Authorize") == [{"idTag": "TAG1"}]
    await rig.run(5)
    start = rig.calls("StartTransaction")
    assert len(start) == 1
    assert start[0]["connectorId"] == 1 and start[0]["idTag"] == "TAG1" and start[0]["meterStart"] == 0
    assert "reservationId" not in start[0]
    assert parse_iso(start[0]["timestamp"]) > T0
    assert rig.statuses(1) == ["Preparing", "Charging"]
    tx_id = max(rig.csms.issued)
    assert v16_state(rig.station).tx_ids == {rig.station.transactions()[0].tx_id: tx_id}
    await rig.run(60)
    periodic = rig.calls("MeterValues")
    assert periodic and all(m["transactionId"] == tx_id and m["connectorId"] == 1 for m in periodic)
    rig.ports[1].unplug()
    await rig.run(1)
    stop = rig.calls("StopTransaction")
    assert len(stop) == 1
    assert stop[0]["transactionId"] == tx_id and stop[0]["reason"] == "EVDisconnected" and stop[0]["idTag"] == "TAG1"
    assert isinstance(stop[0]["meterStop"], int) and stop[0]["meterStop"] > 0
    end_values = stop[0]["transactionData"][0]["sampledValue"]
    assert {v["context"] for v in end_values} == {"Transaction.End"}
    register = next(v for v in end_values if v["measurand"] == "Energy.Active.Import.Register")
    assert round(float(register["value"])) == stop[0]["meterStop"]
    assert rig.statuses(1)[-1] == "Available"
    assert v16_state(rig.station).tx_ids == {}


async def test_TC_004_1_CS_regular_charging_session_identification_first(rig: Rig) -> None:
    rig.station.present_token(1, IdToken("TAG1"))
    await rig.pump()
    assert rig.calls("Authorize") == [{"idTag": "TAG1"}]
    await rig.run(1)
    assert rig.statuses(1) == ["Preparing"]
    assert rig.calls("StartTransaction") == []
    rig.ports[1].plug_in()
    await rig.run(5)
    assert [s["idTag"] for s in rig.calls("StartTransaction")] == ["TAG1"]
    assert rig.statuses(1) == ["Preparing", "Charging"]


async def test_TC_004_2_CS_identification_first_connection_timeout(rig: Rig) -> None:
    assert (await rig.call(call.ChangeConfiguration(key="ConnectionTimeOut", value="30"))).status == "Accepted"
    rig.station.present_token(1, IdToken("TAG1"))
    await rig.pump()
    await rig.run(29)
    assert rig.statuses(1) == ["Preparing"]
    await rig.run(2)
    assert rig.statuses(1) == ["Preparing", "Available"]
    rig.ports[1].plug_in()
    await rig.run(3)
    assert rig.calls("StartTransaction") == []


async def test_TC_005_1_CS_ev_side_disconnected_stops_and_unlocks(rig: Rig) -> None:
    res = await rig.call(call.GetConfiguration(key=["StopTransactionOnEVSideDisconnect",
                                                    "UnlockConnectorOnEVSideDisconnect"]))
    assert config_of(res) == {"StopTransactionOnEVSideDisconnect": (False, "true"),
                              "UnlockConnectorOnEVSideDisconnect": (False, "true")}
    tx_id = await rig.remote_session()
    assert rig.ports[1]._locked
    rig.ports[1].unplug()
    await rig.run(1)
    assert [(s["transactionId"], s["reason"]) for s in rig.calls("StopTransaction")] == [(tx_id, "EVDisconnected")]
    assert not rig.ports[1]._locked
    assert rig.statuses(1)[-1] == "Available"


async def test_TC_005_3_CS_ev_side_disconnected_without_stop(rig: Rig) -> None:
    for key in ("StopTransactionOnEVSideDisconnect", "UnlockConnectorOnEVSideDisconnect"):
        assert (await rig.call(call.ChangeConfiguration(key=key, value="false"))).status == "Accepted"
    tx_id = await rig.remote_session()
    rig.ports[1].unplug()
    await rig.run(2)
    assert rig.calls("StopTransaction") == []
    assert rig.statuses(1)[-1] in ("SuspendedEV", "SuspendedEVSE")
    assert (await rig.call(call.RemoteStopTransaction(transaction_id=tx_id))).status == "Accepted"
    await rig.pump()
    assert [(s["transactionId"], s["reason"]) for s in rig.calls("StopTransaction")] == [(tx_id, "Remote")]


# ---------------------------------------------------------------------------------------------------- 09 meter values
async def test_TC_070_CS_sampled_meter_values(rig: Rig) -> None:
    for key, value in (("MeterValueSampleInterval", "15"), ("ClockAlignedDataInterval", "0"),
                       ("MeterValuesSampledData", "Energy.Active.Import.Register,Power.Active.Import,Current.Import,"
                                                  "Voltage,SoC")):
        assert (await rig.call(call.ChangeConfiguration(key=key, value=value))).status == "Accepted"
    tx_id = await rig.remote_session()
    mark = rig.mark()
    await rig.run(45)
    values = rig.calls("MeterValues", mark)
    assert len(values) == 3
    stamps = [parse_iso(m["meterValue"][0]["timestamp"]) for m in values]
    assert all(b - a == timedelta(seconds=15) for a, b in itertools.pairwise(stamps))
    for m in values:
        assert m["transactionId"] == tx_id and m["connectorId"] == 1
        sampled = m["meterValue"][0]["sampledValue"]
        assert [v["measurand"] for v in sampled] == [
            "Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage", "SoC"]
        for v in sampled:
            assert v["context"] == "Sample.Periodic" and v["format"] == "Raw"
            assert v["unit"] == UNITS[v["measurand"]]
            assert v["location"] == ("EV" if v["measurand"] == "SoC" else "Outlet")
            float(v["value"])
        assert float(sampled[1]["value"]) > 0  # charging


async def test_TC_071_CS_clock_aligned_meter_values(rig: Rig) -> None:
    for key, value in (("MeterValueSampleInterval", "0"), ("ClockAlignedDataInterval", "15"),
                       ("MeterValuesAlignedData", "Energy.Active.Import.Register")):
        assert (await rig.call(call.ChangeConfiguration(key=key, value=value))).status == "Accepted"
    tx_id = await rig.remote_session()
    mark = rig.mark()
    await rig.run(45)
    values = rig.calls("MeterValues", mark)
    assert len(values) == 3
    for m in values:
        assert m["transactionId"] == tx_id
        stamp = parse_iso(m["meterValue"][0]["timestamp"])
        assert stamp.second % 15 == 0 and stamp.microsecond == 0
        assert [(v["measurand"], v["context"], v["unit"]) for v in m["meterValue"][0]["sampledValue"]] == [
            ("Energy.Active.Import.Register", "Sample.Clock", "Wh")]


async def test_clock_aligned_meter_values_while_idle_carry_no_transaction(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(settings=StationSettings(aligned_interval_s=15, aligned_data_send_during_idle=True))
    await rig.run(16)
    values = rig.calls("MeterValues")
    assert len(values) == 1 and "transactionId" not in values[0] and values[0]["connectorId"] == 1


# ---------------------------------------------------------------------------------------------------- 10-12 non-happy
async def test_TC_023_4_CS_start_local_session_authorize_invalid(rig: Rig) -> None:
    rig.csms.tag_status["BAD"] = "Invalid"
    rig.ports[1].plug_in()
    await rig.run(1)
    rig.station.present_token(1, IdToken("BAD"))
    await rig.pump()
    await rig.run(20)
    assert rig.calls("Authorize") == [{"idTag": "BAD"}]
    assert rig.calls("StartTransaction") == []
    assert rig.station.reading(1).current_a == 0


async def test_TC_023_5_CS_start_remote_session_authorize_invalid(rig: Rig) -> None:
    rig.csms.tag_status["BAD"] = "Blocked"
    rig.ports[1].plug_in()
    await rig.run(1)
    assert (await rig.call(call.RemoteStartTransaction(id_tag="BAD", connector_id=1))).status == "Accepted"
    await rig.pump()
    await rig.run(20)
    assert rig.calls("Authorize") == [{"idTag": "BAD"}]
    assert rig.calls("StartTransaction") == []


async def test_TC_026_CS_remote_start_rejected_while_a_transaction_runs(rig: Rig) -> None:
    await rig.remote_session()
    mark = rig.mark()
    assert (await rig.call(call.RemoteStartTransaction(id_tag="TAG2", connector_id=1))).status == "Rejected"
    await rig.pump()
    assert rig.actions(mark) == []


async def test_TC_027_CS_remote_start_connector_id_0(rig: Rig) -> None:
    rig.ports[1].plug_in()
    await rig.run(1)
    mark = rig.mark()
    assert (await rig.call(call.RemoteStartTransaction(id_tag="TAG1", connector_id=0))).status == "Rejected"
    assert (await rig.call(call.RemoteStartTransaction(id_tag="TAG1", connector_id=7))).status == "Rejected"
    await rig.run(3)
    assert rig.actions(mark) == []
    assert rig.station.evses[1].pending is None


async def test_TC_028_CS_remote_stop_transaction_rejected(rig: Rig) -> None:
    tx_id = await rig.remote_session()
    mark = rig.mark()
    assert (await rig.call(call.RemoteStopTransaction(transaction_id=tx_id + 1))).status == "Rejected"
    await rig.pump()
    assert rig.calls("StopTransaction", mark) == []
    assert rig.station.transactions()


async def test_start_transaction_idtag_not_accepted_stops_with_deauthorized(rig: Rig) -> None:
    rig.csms.start_status["TAG1"] = "Invalid"
    rig.ports[1].plug_in()
    rig.station.present_token(1, IdToken("TAG1"))
    await rig.pump()
    await rig.run(5)
    tx_id = max(rig.csms.issued)
    assert [(s["transactionId"], s["reason"]) for s in rig.calls("StopTransaction")] == [(tx_id, "DeAuthorized")]
    assert rig.station.auth.cache.get("TAG1", rig.clock.now()) is not None  # the answer was cached


async def test_authorize_callerror_leaves_the_decision_to_local_policy(rig: Rig) -> None:
    rig.csms.fail.add("Authorize")
    rig.ports[1].plug_in()
    rig.station.present_token(1, IdToken("TAG1"))
    await rig.pump()
    await rig.run(5)
    assert rig.calls("Authorize") == [{"idTag": "TAG1"}]
    assert rig.calls("StartTransaction") == []  # unknown token, AllowOfflineTxForUnknownId false


async def test_authorize_time_out_uses_offline_rules(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(policy=AuthPolicy(allow_offline_tx_for_unknown_id=True), response_timeout=0.05)
    rig.csms.hold["Authorize"] = release = asyncio.Event()
    rig.ports[1].plug_in()
    rig.station.present_token(1, IdToken("TAG1"))
    await rig.pump()
    release.set()
    await rig.run(5)
    assert [s["idTag"] for s in rig.calls("StartTransaction")] == ["TAG1"]


async def test_transaction_message_callerror_is_retryable_and_the_retry_keeps_the_id(rig: Rig) -> None:
    rig.csms.fail.add("StartTransaction")
    rig.ports[1].plug_in()
    rig.station.present_token(1, IdToken("TAG1"))
    await rig.pump()
    for _ in range(20):
        rig.clock.advance(0.5)
        started = [a for a in rig.station.tick() if type(a).__name__ == "TransactionStarted"]
        if started:
            break
    assert started
    with pytest.raises(TransactionMessageFailed) as info:
        await rig.adapter.dispatch(started[0])
    assert isinstance(info.value, TimeoutError)  # the session driver retries TimeoutErrors
    assert v16_state(rig.station).tx_ids == {}
    rig.csms.fail.clear()
    await rig.adapter.dispatch(started[0])
    assert v16_state(rig.station).tx_ids == {started[0].tx_id: max(rig.csms.issued)}


async def test_transaction_ids_survive_a_reconnect(make_rig: Callable[..., Rig]) -> None:
    first = make_rig()
    tx_id = await first.remote_session()
    await first.close()
    second = make_rig(station=first.station, clock=first.clock)  # a new connection, a new adapter
    assert (await second.call(call.RemoteStopTransaction(transaction_id=tx_id))).status == "Accepted"
    await second.pump()
    assert [(s["transactionId"], s["reason"]) for s in second.calls("StopTransaction")] == [(tx_id, "Remote")]


# ---------------------------------------------------------------------------------------------------- outbound mapping
async def test_fault_status_carries_the_error_code(rig: Rig) -> None:
    await rig.adapter.dispatch(StatusChanged(1, 1, ConnectorStatus.FAULTED, FaultInfo("GroundFailure", "leak")))
    await rig.adapter.dispatch(StatusChanged(1, 1, ConnectorStatus.FAULTED,
                                             FaultInfo("InsulationFailure", "x" * 80, "ISO-17")))
    notes = [n for n in rig.calls("StatusNotification") if n["connectorId"] == 1]
    assert notes[0]["errorCode"] == "GroundFailure" and notes[0]["info"] == "leak"
    assert notes[1]["errorCode"] == "OtherError" and notes[1]["vendorErrorCode"] == "ISO-17"
    assert len(notes[1]["info"]) == 50


async def test_emulated_fault_reports_faulted_and_stops_the_transaction(rig: Rig) -> None:
    tx_id = await rig.remote_session()
    mark = rig.mark()
    rig.ports[1].inject_fault("insulation fault")
    await rig.run(1)
    notes = [n for n in rig.calls("StatusNotification", mark) if n["connectorId"] == 1]
    assert notes[-1]["status"] == "Faulted" and notes[-1]["errorCode"] == "OtherError"
    assert [(s["transactionId"], s["reason"]) for s in rig.calls("StopTransaction", mark)] == [(tx_id, "Other")]


@pytest.mark.parametrize(("reason", "sent"), [
    (StopReason.EMERGENCY_STOP, "EmergencyStop"), (StopReason.LOCAL, "Local"), (StopReason.POWER_LOSS, "PowerLoss"),
    (StopReason.REBOOT, "Reboot"), (StopReason.DE_AUTHORIZED, "DeAuthorized"), (StopReason.STOPPED_BY_EV, "Other"),
    (StopReason.TIMEOUT, "Other"), (StopReason.IMMEDIATE_RESET, "Other"), (StopReason.SOC_LIMIT_REACHED, "Other"),
])
async def test_stop_reasons_map_to_1_6(rig: Rig, reason: StopReason, sent: str) -> None:
    v16_state(rig.station).tx_ids["local-1"] = 77
    when = T0 + timedelta(minutes=5)
    await rig.adapter.dispatch(TransactionEnded("local-1", 1, 1, IdToken("TAG1"), 1234.6, reason,
                                                TriggerReason.ABNORMAL_CONDITION, timestamp=when))
    stop = rig.calls("StopTransaction")[0]
    assert stop == {"meterStop": 1235, "timestamp": "2026-03-01T10:05:00.000Z", "transactionId": 77,
                    "reason": sent, "idTag": "TAG1"}


async def test_stop_transaction_is_stamped_with_the_time_it_ended_not_sent(rig: Rig) -> None:
    await rig.remote_session()
    rig.ports[1].unplug()
    rig.clock.advance(0.5)
    ended = [a for a in rig.station.tick() if isinstance(a, TransactionEnded)]
    assert len(ended) == 1
    rig.clock.advance(600)  # e.g. queued while offline
    await rig.adapter.dispatch(ended[0])
    stop = rig.calls("StopTransaction")[0]
    assert parse_iso(stop["timestamp"]) == rig.clock.now() - timedelta(seconds=600)


async def test_updates_without_samples_send_nothing_and_reports_without_transaction_have_no_id(rig: Rig) -> None:
    await rig.adapter.dispatch(TransactionUpdated("local-x", 1, 1, TriggerReason.CHARGING_STATE_CHANGED,
                                                  charging_state="SuspendedEV"))
    assert rig.actions() == []
    sample = MeterSample(T0, (SampledValue(Measurand.VOLTAGE, 401.25, ReadingContext.SAMPLE_CLOCK),))
    await rig.adapter.dispatch(MeterValuesReport(1, 1, None, (sample,), ReadingContext.SAMPLE_CLOCK))
    assert rig.calls("MeterValues") == [{"connectorId": 1, "meterValue": [{
        "timestamp": "2026-03-01T10:00:00.000Z",
        "sampledValue": [{"value": "401.25", "context": "Sample.Clock", "format": "Raw", "measurand": "Voltage",
                          "location": "Outlet", "unit": "V"}]}]}]
    # a sample without values makes no message
    await rig.adapter.dispatch(MeterValuesReport(1, 1, None, (MeterSample(T0, ()),), ReadingContext.TRIGGER))
    assert len(rig.calls("MeterValues")) == 1


async def test_reboot_requested_goes_to_the_session_and_unlocked_sends_nothing(rig: Rig) -> None:
    await rig.adapter.dispatch(RebootRequested(ResetKind.SOFT))
    await rig.adapter.dispatch(Unlocked(1, 1))
    assert rig.hooks.reboots == [ResetKind.SOFT]
    assert rig.actions() == []


async def test_transaction_started_before_authorization_waits_for_the_id_tag(make_rig: Callable[..., Rig]) -> None:
    # with a 2.x-style EVConnected start point the model starts a transaction at plug-in; 1.6 needs an idTag
    rig = make_rig(settings=StationSettings(tx_start_points=(TxPoint.EV_CONNECTED,)))
    rig.ports[1].plug_in()
    await rig.run(2)
    assert rig.calls("StartTransaction") == []
    assert len(v16_state(rig.station).deferred) == 1
    rig.station.present_token(1, IdToken("TAG1"))
    await rig.pump()
    await rig.run(5)
    assert [(s["idTag"], s["meterStart"]) for s in rig.calls("StartTransaction")] == [("TAG1", 0)]
    assert v16_state(rig.station).deferred == {}
    # unplugged before any token: no 1.6 transaction existed, so no StopTransaction either
    rig.ports[1].unplug()
    await rig.run(2)
    assert len(rig.calls("StopTransaction")) == 1
    mark = rig.mark()
    rig.ports[1].plug_in()
    await rig.run(2)
    rig.ports[1].unplug()
    await rig.run(2)
    assert rig.calls("StartTransaction", mark) == [] and rig.calls("StopTransaction", mark) == []
    assert v16_state(rig.station).deferred == {}
