"""OCPP 1.6J CTT charge-point cases over real WebSockets against the CSMS emulator: offline start of a transaction
(TC_037_x), fault behaviour (TC_041), stop by the start idTag or one with the same parent (TC_068 / TC_069) and Basic
authentication (TC_085). Uses the rigs of test_v16_session and security_rig; names carry the case ids
(docs/reference/ocpp16_cs_testcases.tsv)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from security_rig import CS, PASSWORD, rig
from test_v16_session import Bench, bench

from chargepoint.clock import parse_iso
from chargepoint.station.auth import AuthPolicy
from chargepoint.station.types import ChargingState, ConnectorStatus, IdToken
from hil.emulators.csms import CsmsBehaviour

pytestmark = pytest.mark.timeout(30)


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll station / session state (it has no event for these) until ``check()`` holds."""
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110 - bounded by the time-out
            await asyncio.sleep(0.01)


def status(b: Bench) -> ConnectorStatus:
    return b.station.status_of(b.station.evse(1))


async def local_session(b: Bench, tag: str) -> int:
    """Plug in, present ``tag``, wait for Charging; return the CSMS's transactionId."""
    mark = b.mark()
    b.ports[1].plug_in()
    await b.wait_status(1, "Preparing", mark)
    b.station.present_token(1, IdToken(tag))
    start = await b.wait("StartTransaction", None, mark)
    await b.wait_status(1, "Charging", mark)
    tx_id: int = (await b.answer_to(start))["transactionId"]
    return tx_id


async def start_offline(b: Bench, tag: str) -> tuple[int, datetime]:
    """The CSMS goes away; a car is plugged in and ``tag`` presented; the station charges on its own. Then the CSMS
    comes back. Returns the frame mark from before the reconnection and the time of the reconnection."""
    await b.csms.stop()
    await until(lambda: not b.session.online)
    b.ports[1].plug_in()
    await until(lambda: status(b) == ConnectorStatus.PREPARING)
    b.station.present_token(1, IdToken(tag))
    await until(lambda: status(b) == ConnectorStatus.CHARGING)
    assert b.csms.calls(action="StartTransaction") == []
    back, mark = datetime.now(UTC), b.mark()
    await b.csms.start()
    await b.session.wait_accepted(10)
    return mark, back


async def check_offline_start(b: Bench, tag: str, mark: int, back: datetime) -> tuple[Any, dict[str, Any]]:
    """The StartTransaction sent after the reconnection (and the CSMS's answer)."""
    start = await b.wait("StartTransaction", None, mark)
    assert (start.payload["connectorId"], start.payload["idTag"]) == (1, tag)
    assert parse_iso(start.payload["timestamp"]) < back  # when it started, offline - not when it was sent
    return start, await b.answer_to(start)


# ---------------------------------------------------------------------------------------------------- 15 offline
@pytest.mark.parametrize("source", ["local_list", "cache"])
async def test_TC_037_1_CS_offline_start_transaction_valid_id_tag(source: str) -> None:
    async with bench(policy=AuthPolicy(local_authorize_offline=True, allow_offline_tx_for_unknown_id=False)) as b:
        if source == "local_list":
            await b.configure("LocalAuthListEnabled", "true")
            res = await b.call("SendLocalList", {"listVersion": 1, "updateType": "Full", "localAuthorizationList": [
                {"idTag": "VALID", "idTagInfo": {"status": "Accepted"}}]})
            assert res["status"] == "Accepted"
        else:  # known from an earlier Authorize (the authorization cache)
            await b.configure("AuthorizationCacheEnabled", "true")
            b.station.present_token(1, IdToken("VALID"))
            await b.wait("Authorize", lambda p: p["idTag"] == "VALID")
            await until(lambda: b.station.auth.cache.get("VALID", b.station.clock.now()) is not None)
            b.station.evse(1).pending = None  # the driver walked away before plugging in
        mark, back = await start_offline(b, "VALID")
        start, answer = await check_offline_start(b, "VALID", mark, back)
        assert answer["idTagInfo"]["status"] == "Accepted"
        assert b.sent("Authorize", mark) == []  # decided offline; not asked again
        b.ports[1].unplug()
        stop = await b.wait("StopTransaction", None, start.index)
        assert (stop.payload["transactionId"], stop.payload["reason"]) == (answer["transactionId"], "EVDisconnected")


@pytest.mark.parametrize("stop_on_invalid", ["false", "true"], ids=["TC_037_2", "TC_037_3"])
async def test_TC_037_2_TC_037_3_CS_offline_start_transaction_invalid_id_tag(stop_on_invalid: str) -> None:
    behaviour = CsmsBehaviour(id_tags={"STRANGER": "Invalid"})
    async with bench(behaviour, policy=AuthPolicy(local_authorize_offline=True,
                                                  allow_offline_tx_for_unknown_id=True)) as b:
        await b.configure("StopTransactionOnInvalidId", stop_on_invalid)
        mark, back = await start_offline(b, "STRANGER")
        start, answer = await check_offline_start(b, "STRANGER", mark, back)
        assert answer["idTagInfo"]["status"] == "Invalid"
        if stop_on_invalid == "true":  # TC_037_3: stopped as DeAuthorized
            stop = await b.wait("StopTransaction", None, start.index)
            assert (stop.payload["transactionId"], stop.payload["reason"], stop.payload["idTag"]) == (
                answer["transactionId"], "DeAuthorized", "STRANGER")
            await b.wait_status(1, "Finishing", start.index)
        else:  # TC_037_2: only the energy delivery stops; the transaction goes on
            await b.wait_status(1, "SuspendedEVSE", start.index)
            await until(lambda: abs(b.station.reading(1).current_a) < 0.5)
            tx = b.station.evse(1).tx
            assert tx is not None and tx.charging_state == ChargingState.SUSPENDED_EVSE
            await b.barrier()
            assert b.sent("StopTransaction", start.index) == []
            b.ports[1].unplug()
            stop = await b.wait("StopTransaction", None, start.index)
            assert (stop.payload["transactionId"], stop.payload["reason"]) == (
                answer["transactionId"], "EVDisconnected")
            await b.wait_status(1, "Available", stop.index)


# ---------------------------------------------------------------------------------------------------- 17 fault
async def test_TC_041_CS_fault_behavior() -> None:
    async with bench() as b:
        mark = b.mark()
        b.ports[1].plug_in()
        await b.wait_status(1, "Preparing", mark)
        b.ports[1].inject_fault("ground fault detected")
        faulted = await b.wait_status(1, "Faulted", mark)
        assert faulted.payload["errorCode"] == "OtherError" and faulted.payload["info"] == "ground fault detected"
        res = await b.call("RemoteStartTransaction", {"idTag": "TAG1", "connectorId": 1})
        assert res["status"] == "Rejected"  # no session on a faulted connector
        mark = b.mark()
        b.ports[1].inject_fault(None)  # the fault is gone
        cleared = await b.wait("StatusNotification", lambda p: p["connectorId"] == 1, mark)
        assert (cleared.payload["status"], cleared.payload["errorCode"]) == ("Preparing", "NoError")
        b.ports[1].unplug()
        available = await b.wait_status(1, "Available", mark)
        assert available.payload["errorCode"] == "NoError"


# ---------------------------------------------------------------------------------------------------- stop by idTag
async def test_TC_068_CS_stop_transaction_id_tag_matches_start_transaction_id_tag() -> None:
    async with bench() as b:
        tx_id = await local_session(b, "TAG1")
        mark = b.mark()
        b.station.present_token(1, IdToken("TAG1"))
        stop = await b.wait("StopTransaction", None, mark)
        assert (stop.payload["transactionId"], stop.payload["idTag"], stop.payload["reason"]) == (tx_id, "TAG1",
                                                                                                 "Local")
        await b.wait_status(1, "Finishing", mark)
        assert b.sent("Authorize", mark) == []  # the start idTag needs no new authorization
        b.ports[1].unplug()
        await b.wait_status(1, "Available", mark)


async def test_TC_069_CS_stop_transaction_parent_id_tag_matches_start_transaction_parent_id_tag() -> None:
    parents = {"TAG1": "FLEET", "TAG2": "FLEET", "TAG3": "OTHER"}
    behaviour = CsmsBehaviour(handlers={"Authorize": lambda _cs, p: {"idTagInfo": {
        "status": "Accepted", "parentIdTag": parents[p["idTag"]]}}})
    async with bench(behaviour) as b:
        tx_id = await local_session(b, "TAG1")
        mark = b.mark()
        b.station.present_token(1, IdToken("TAG3"))  # accepted, but another parent: does not stop it
        await b.wait("Authorize", lambda p: p["idTag"] == "TAG3", mark)
        await b.barrier()
        assert b.sent("StopTransaction", mark) == [] and status(b) == ConnectorStatus.CHARGING
        b.station.present_token(1, IdToken("TAG2"))
        auth = await b.wait("Authorize", lambda p: p["idTag"] == "TAG2", mark)
        stop = await b.wait("StopTransaction", None, auth.index)
        assert (stop.payload["transactionId"], stop.payload["idTag"], stop.payload["reason"]) == (tx_id, "TAG2",
                                                                                                 "Local")
        await b.wait_status(1, "Finishing", auth.index)


# ---------------------------------------------------------------------------------------------------- security
async def test_TC_085_CS_basic_authentication_valid_username_password(tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    auth = {CS: PASSWORD}  # the CSMS checks: username == charge point id, password == AuthorizationKey
    async with rig(tmp_path, protocol="ocpp1.6", basic_auth=auth) as r:
        assert [e.kind for e in r.csms.events if e.station_id == CS][:1] == ["connected"]
        boot = await r.wait("BootNotification")
        assert boot.payload["chargePointModel"]
        res = await r.call("GetConfiguration", {"key": ["SecurityProfile", "AuthorizationKey"]})
        keys = {e["key"]: e for e in res["configurationKey"]}
        assert keys["SecurityProfile"]["value"] == "1"
        assert "value" not in keys["AuthorizationKey"]  # write-only
        # the credentials really are what the CSMS checks: with another password on its side, the next attempt fails
        auth[CS] = "another-password-0123"
        refused = len(r.csms.events)
        await r.csms.disconnect(CS)
        await until(lambda: any(e.kind == "refused" and "wrong password" in e.detail
                                for e in r.csms.events[refused:]))
        auth[CS] = PASSWORD
        mark = r.csms.mark()
        await r.wait("BootNotification", after=mark)
    station_logs = "\n".join(rec.getMessage() for rec in caplog.records
                             if not rec.name.startswith(("hil", "websockets.server")))
    assert PASSWORD not in station_logs
