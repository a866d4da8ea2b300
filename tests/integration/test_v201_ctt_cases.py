"""OCPP 2.0.1 certification cases over real WebSockets against the CSMS emulator: the ChangeAvailability variants
(G08, G10, G12, G13, G15, G16, G17), Unavailable persisting a Reset (B23), transaction message retries on no answer
and on CALLERROR (E41, E42, E50, E51) and the SecurityError while Pending / Rejected (B30). Uses the rigs of
test_v201_session and test_availability_reboot; names carry the case ids (docs/reference/ocpp21_cs_testcases.tsv).
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest
from ocpp.exceptions import InternalError
from test_availability_reboot import CS as AVAIL_CS
from test_availability_reboot import power
from test_v201_session import CS, Bench, bench

from chargepoint.station.actions import Action, StatusChanged
from chargepoint.station.types import IdToken
from hil.emulators.csms import CallError, CsmsBehaviour, Frame

pytestmark = pytest.mark.timeout(40)

QUIET_S = 0.3  # six station ticks: long enough for a status change to reach the wire


async def change(b: Bench, operative: bool, evse: int | None = None, connector: int | None = None) -> str:
    payload: dict[str, Any] = {"operationalStatus": "Operative" if operative else "Inoperative"}
    if evse is not None:
        payload["evse"] = {"id": evse} | ({"connectorId": connector} if connector is not None else {})
    status: str = (await b.call("ChangeAvailability", payload))["status"]
    return status


async def assert_no_status_after(b: Bench, mark: int, produced: list[StatusChanged]) -> None:
    """Nothing new: no StatusChanged produced by the station, no StatusNotification on the wire since ``mark``."""
    await asyncio.sleep(QUIET_S)
    assert (await b.get("OCPPCommCtrlr", "HeartbeatInterval"))["attributeStatus"] == "Accepted"  # a round trip
    assert produced == [] and b.sent("StatusNotification", mark) == []


def record_statuses(b: Bench) -> list[StatusChanged]:
    produced: list[StatusChanged] = []

    def watch(action: Action) -> None:
        if isinstance(action, StatusChanged):
            produced.append(action)

    b.session.listeners.append(watch)
    return produced


# ---------------------------------------------------------------------- G: ChangeAvailability variants
async def test_TC_G_08_CS_change_availability_connector_inoperative_to_operative() -> None:
    async with bench() as b:
        mark = b.mark()
        assert await change(b, False, evse=1, connector=1) == "Accepted"
        await b.wait_status("Unavailable", after=mark)
        mark = b.mark()
        assert await change(b, True, evse=1, connector=1) == "Accepted"
        frame = await b.wait_status("Available", after=mark)
        assert frame.payload["connectorId"] == 1


async def test_TC_G_10_CS_change_availability_evse_inoperative_to_inoperative() -> None:
    async with bench() as b:
        mark = b.mark()
        assert await change(b, False, evse=1) == "Accepted"
        await b.wait_status("Unavailable", after=mark)
        produced, mark = record_statuses(b), b.mark()
        assert await change(b, False, evse=1) == "Accepted"
        await assert_no_status_after(b, mark, produced)


async def test_TC_G_12_CS_change_availability_charging_station_operative_to_operative() -> None:
    async with bench(evses=2) as b:
        await b.wait_status("Available", evse=2)
        produced, mark = record_statuses(b), b.mark()
        assert await change(b, True) == "Accepted"
        await assert_no_status_after(b, mark, produced)


async def test_TC_G_13_CS_change_availability_charging_station_inoperative_to_inoperative() -> None:
    async with bench(evses=2) as b:
        mark = b.mark()
        assert await change(b, False) == "Accepted"
        await b.wait_status("Unavailable", 1, mark)
        await b.wait_status("Unavailable", 2, mark)
        produced, mark = record_statuses(b), b.mark()
        assert await change(b, False) == "Accepted"
        await assert_no_status_after(b, mark, produced)


async def test_TC_G_15_CS_change_availability_connector_operative_to_operative() -> None:
    async with bench() as b:
        produced, mark = record_statuses(b), b.mark()
        assert await change(b, True, evse=1, connector=1) == "Accepted"
        await assert_no_status_after(b, mark, produced)


async def test_TC_G_16_CS_change_availability_connector_inoperative_to_inoperative() -> None:
    async with bench() as b:
        mark = b.mark()
        assert await change(b, False, evse=1, connector=1) == "Accepted"
        await b.wait_status("Unavailable", after=mark)
        produced, mark = record_statuses(b), b.mark()
        assert await change(b, False, evse=1, connector=1) == "Accepted"
        await assert_no_status_after(b, mark, produced)


async def test_TC_G_17_CS_change_availability_connector_with_ongoing_transaction() -> None:
    async with bench() as b:
        tx_id = await b.charge()
        mark = b.mark()
        assert await change(b, False, evse=1, connector=1) == "Scheduled"
        await asyncio.sleep(QUIET_S)
        assert b.sent("StatusNotification", mark) == []  # still Occupied: the change waits for the transaction
        assert b.station.evse(1).tx is not None and b.station.evse(1).tx.tx_id == tx_id  # type: ignore[union-attr]
        b.ports[1].unplug()
        ended = await b.wait_event("Ended", mark)
        unavailable = await b.wait_status("Unavailable", after=ended.index)
        assert [p["connectorStatus"] for p in b.sent("StatusNotification", mark)] == ["Unavailable"]
        assert unavailable.payload["connectorId"] == 1
        res = await b.call("RequestStartTransaction", {"idToken": {"idToken": "APP", "type": "Central"},
                                                       "remoteStartId": 3, "evseId": 1})
        assert res["status"] == "Rejected"  # inoperative now


# ---------------------------------------------------------------------- B23: Unavailable persists a Reset
async def test_TC_B_23_CS_reset_charging_station_unavailable_persists_reset(tmp_path: Path) -> None:
    async with power(tmp_path, "ocpp2.0.1", evses=2) as p:
        async with p.on() as cs:
            await cs.status(2, "Available")
            mark = cs.csms.mark()
            assert await cs.change(False, evse=1) == "Accepted"
            await cs.status(1, "Unavailable", after=mark)
            mark = cs.csms.mark()
            res = await cs.csms.call(AVAIL_CS, "Reset", {"type": "OnIdle"}, timeout=5)
            assert res["status"] == "Accepted"
            boot = await cs.csms.wait_for(AVAIL_CS, "BootNotification", after=mark, timeout=5)
            assert boot.payload["reason"] == "RemoteReset"
            await cs.status(1, "Unavailable", after=boot.index)
            await cs.status(2, "Available", after=boot.index)
        async with p.on() as cs:  # the reset as a restart of the process over the same store
            await cs.status(1, "Unavailable")
            await cs.status(2, "Available")


# ---------------------------------------------------------------------- E: transaction message retries
async def retry_settings(b: Bench, attempts: int, interval: int, timeout: int = 1) -> None:
    data = [(("MessageAttempts", "TransactionEvent"), str(attempts)),
            (("MessageAttemptInterval", "TransactionEvent"), str(interval)),
            (("MessageTimeout", "Default"), str(timeout))]
    res = await b.call("SetVariables", {"setVariableData": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": name, "instance": instance},
         "attributeValue": value} for (name, instance), value in data]})
    assert [r["attributeStatus"] for r in res["setVariableResult"]] == ["Accepted"] * 3


def starts(b: Bench) -> list[Frame]:
    return [f for f in b.csms.calls(CS, "TransactionEvent") if f.payload["eventType"] == "Started"]


async def transmissions_of_started(b: Bench, count: int) -> list[Frame]:
    """Wait for the ``count``-th transmission of TransactionEvent(Started); all of them are the same message."""
    b.ports[1].plug_in()
    b.station.present_token(1, IdToken("TAG1"))
    for _ in range(count):
        await b.wait_event("Started", starts(b)[-1].index if starts(b) else -1)
    frames = starts(b)
    assert all(f.payload == frames[0].payload for f in frames) and frames[0].payload["seqNo"] == 0
    return frames


def gaps(frames: list[Frame]) -> list[float]:
    return [round(b.t - a.t, 2) for a, b in itertools.pairwise(frames)]


async def next_event_after(b: Bench, frame: Frame) -> dict[str, Any]:
    nxt = await b.wait("TransactionEvent", lambda p: p["eventType"] != "Started", after=frame.index, timeout=10)
    await b.answered(nxt)
    payload: dict[str, Any] = nxt.payload
    return payload


async def test_TC_E_41_CS_retry_transaction_message_without_answer_max_retry_count_reached() -> None:
    behaviour = CsmsBehaviour()
    async with bench(behaviour) as b:
        await retry_settings(b, attempts=3, interval=1)
        behaviour.unanswered["TransactionEvent"] = 3
        frames = await transmissions_of_started(b, 3)
        # MessageTimeout (1 s) without an answer, then MessageAttemptInterval x the transmissions so far
        assert [1.8, 2.8] <= gaps(frames) <= [2.6, 3.6]
        after = await next_event_after(b, frames[-1])
        await asyncio.sleep(QUIET_S)
        assert len(starts(b)) == 3  # given up after MessageAttempts transmissions
        assert after["seqNo"] == 1  # the message given up keeps its number: the CSMS sees the gap


async def test_TC_E_42_CS_retry_transaction_message_without_answer_success_before_max_retry_count() -> None:
    behaviour = CsmsBehaviour()
    async with bench(behaviour) as b:
        await retry_settings(b, attempts=4, interval=1)
        behaviour.unanswered["TransactionEvent"] = 2
        frames = await transmissions_of_started(b, 3)
        assert [1.8, 2.8] <= gaps(frames) <= [2.6, 3.6]
        after = await next_event_after(b, frames[-1])
        assert len(starts(b)) == 3 and after["seqNo"] == 1
        tx_id = frames[0].payload["transactionInfo"]["transactionId"]
        assert b.csms.transactions[CS][tx_id].seq_nos[:2] == [0, 1]  # the third transmission was answered


def failing(times: int) -> Any:
    """A TransactionEvent handler answering the first ``times`` CALLs with CALLERROR InternalError."""
    count = 0

    def handler(_station: str, _payload: dict[str, Any]) -> dict[str, Any] | None:
        nonlocal count
        count += 1
        if count <= times:
            raise InternalError("not now")
        return None

    return handler


async def test_TC_E_50_CS_retry_transaction_message_callerror_max_retry_count_reached() -> None:
    behaviour = CsmsBehaviour()
    async with bench(behaviour) as b:
        await retry_settings(b, attempts=3, interval=1)
        behaviour.handlers["TransactionEvent"] = failing(3)
        frames = await transmissions_of_started(b, 3)
        assert [0.8, 1.8] <= gaps(frames) <= [1.5, 2.5]  # MessageAttemptInterval x the transmissions so far
        after = await next_event_after(b, frames[-1])
        await asyncio.sleep(QUIET_S)
        assert len(starts(b)) == 3 and after["seqNo"] == 1


async def test_TC_E_51_CS_retry_transaction_message_callerror_success_before_max_retry_count() -> None:
    behaviour = CsmsBehaviour()
    async with bench(behaviour) as b:
        await retry_settings(b, attempts=3, interval=1)
        behaviour.handlers["TransactionEvent"] = failing(1)
        frames = await transmissions_of_started(b, 2)
        assert 0.8 <= gaps(frames)[0] <= 1.5
        after = await next_event_after(b, frames[-1])
        assert len(starts(b)) == 2 and after["seqNo"] == 1


# ---------------------------------------------------------------------- B30: Pending / Rejected
async def test_TC_B_30_CS_cold_boot_pending_rejected_security_error() -> None:
    behaviour = CsmsBehaviour(boot_statuses=["Rejected", "Pending", "Accepted"], pending_interval=2)
    start = {"idToken": {"idToken": "R", "type": "Central"}, "remoteStartId": 1, "evseId": 1}
    get = {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}
    async with bench(behaviour, accepted=False) as b:
        rejected = await b.wait("BootNotification")
        async with asyncio.timeout(5):
            while b.session.registration_status != "Rejected":  # noqa: ASYNC110 - the answer is on its way
                await asyncio.sleep(0.01)
        b.ports[1].plug_in()  # an event the station must keep to itself until accepted
        for action, payload in (("RequestStartTransaction", start), ("GetVariables", get),
                                ("RequestStopTransaction", {"transactionId": "x"})):
            with pytest.raises(CallError) as err:
                await b.call(action, payload)
            assert err.value.code == "SecurityError", action
        await b.wait("BootNotification", after=rejected.index)
        async with asyncio.timeout(5):
            while b.session.registration_status != "Pending":  # noqa: ASYNC110 - the answer is on its way
                await asyncio.sleep(0.01)
        assert (await b.call("GetVariables", get))["getVariableResult"][0]["attributeStatus"] == "Accepted"
        for action, payload in (("RequestStartTransaction", start), ("RequestStopTransaction", {"transactionId": "x"})):
            with pytest.raises(CallError) as err:
                await b.call(action, payload)
            assert err.value.code == "SecurityError", action
        assert (await b.call("TriggerMessage", {"requestedMessage": "BootNotification"}))["status"] == "Accepted"
        await b.session.wait_accepted(5)
        await b.wait_status("Occupied")
        actions = [f.action for f in b.csms.calls(CS)]
        assert actions[:3] == ["BootNotification"] * 3 and "BootNotification" not in actions[3:]  # one per trigger
        assert [p["reason"] for p in b.sent("BootNotification")] == ["PowerUp", "PowerUp", "Triggered"]
        assert b.csms.is_connected(CS)
