"""Interop, OCPP 1.6J: OUR station (model + session + V16Adapter, real websockets, RealClock, emulated DC cars)
against the independent strict CSMS (npm ocpp-rpc in strict mode, tests/interop/peer.py).

Every test ends with zero schema violations in both directions as judged by the peer, and prints how many frames
the peer checked. Covered:

* boot, heartbeat (TriggerMessage), StatusNotification for every connector, every TriggerMessage we implement
* a locally authorized session (plug in, token, Authorize, StartTransaction, MeterValues at 1 s, unplug,
  StopTransaction EVDisconnected) and a second one stopped with the same token (Local)
* a remote session (RemoteStartTransaction, Authorize, StartTransaction, MeterValues, RemoteStopTransaction,
  StopTransaction Remote) plus RemoteStart/RemoteStop that must be rejected
* the CSMS-initiated calls: ChangeAvailability, UnlockConnector, GetConfiguration, ChangeConfiguration, ClearCache,
  DataTransfer, SendLocalList, GetLocalListVersion, TriggerMessage
* Reset: Hard during a transaction (StopTransaction HardReset, reconnect, boot again) and Soft while idle
* strictness: a malformed frame and schema-violating CALLs from the CSMS get CALLERRORs of the right class, the
  connection stays up and the session goes on
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chargepoint.station.types import IdToken

from .peer import StrictPeer
from .station_rig import (
    FORMAT_ERRORS,
    FRAMEWORK_ERRORS,
    NOT_IMPLEMENTED_ERRORS,
    OCCURRENCE_ERRORS,
    PROPERTY_ERRORS,
    TYPE_ERRORS,
    StationRig,
    running_station,
    summary,
)

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

P = "ocpp1.6"


@pytest.fixture(scope="module", autouse=True)
def frames_summary() -> Iterator[None]:
    yield
    print("\n" + summary("1.6"))


def status_is(connector_id: int, status: str) -> Any:
    return lambda p: p.get("connectorId") == connector_id and p.get("status") == status


async def start_local_session(rig: StationRig, connector_id: int, tag: str) -> int:
    """Plug in, present a token, return the CSMS's transactionId once MeterValues flow."""
    rig.port(connector_id).plug_in()
    await rig.wait_for("StatusNotification", status_is(connector_id, "Preparing"))
    rig.station.present_token(connector_id, IdToken(tag))
    auth = await rig.wait_for("Authorize", lambda p: p.get("idTag") == tag)
    assert (await rig.wait_result(auth))["idTagInfo"]["status"] == "Accepted"
    start = await rig.wait_for("StartTransaction", lambda p: p.get("connectorId") == connector_id)
    assert start["payload"]["idTag"] == tag
    assert isinstance(start["payload"]["meterStart"], int)
    tx_id: int = (await rig.wait_result(start))["transactionId"]
    await rig.wait_for("StatusNotification", status_is(connector_id, "Charging"))
    return tx_id


async def wait_meter_values(rig: StationRig, connector_id: int, tx_id: int, count: int = 2) -> list[dict[str, Any]]:
    out = []
    for _ in range(count):
        mv = await rig.wait_for(
            "MeterValues", lambda p: p.get("connectorId") == connector_id and p.get("transactionId") == tx_id
        )
        values = mv["payload"]["meterValue"]
        assert values and all(v["sampledValue"] for v in values)
        out.append(mv["payload"])
    return out


# ---------------------------------------------------------------------------------------------------- boot


async def test_boot_heartbeat_status_and_triggers(strict_peer_16: StrictPeer) -> None:
    async with running_station(strict_peer_16, P, "CP16-BOOT") as rig:
        boot = await rig.wait_for("BootNotification")
        assert boot["payload"]["chargePointVendor"] == "OpenV2X"
        assert boot["payload"]["chargePointModel"] == "CHAdeMO-BiDi-10"
        assert (await rig.wait_result(boot))["status"] == "Accepted"
        for connector_id in (1, 2):
            await rig.wait_for("StatusNotification", status_is(connector_id, "Available"))

        # heartbeat on demand
        assert await rig.call("TriggerMessage", {"requestedMessage": "Heartbeat"}) == {"status": "Accepted"}
        hb = await rig.wait_for("Heartbeat")
        assert hb["payload"] == {}
        await rig.wait_result(hb)

        # StatusNotification for one connector, then for all (no connectorId)
        trig = {"requestedMessage": "StatusNotification", "connectorId": 2}
        assert (await rig.call("TriggerMessage", trig))["status"] == "Accepted"
        await rig.wait_for("StatusNotification", status_is(2, "Available"))
        assert (await rig.call("TriggerMessage", {"requestedMessage": "StatusNotification"}))["status"] == "Accepted"
        for connector_id in (1, 2):
            await rig.wait_for("StatusNotification", status_is(connector_id, "Available"))

        # MeterValues outside a transaction
        trig = {"requestedMessage": "MeterValues", "connectorId": 1}
        assert (await rig.call("TriggerMessage", trig))["status"] == "Accepted"
        mv = await rig.wait_for("MeterValues", lambda p: p.get("connectorId") == 1)
        assert "transactionId" not in mv["payload"]

        # BootNotification on demand (accepted again; the session goes on)
        assert (await rig.call("TriggerMessage", {"requestedMessage": "BootNotification"}))["status"] == "Accepted"
        await rig.wait_result(await rig.wait_for("BootNotification"))

        # the two notification triggers: either sent or refused with a valid answer
        for requested in ("DiagnosticsStatusNotification", "FirmwareStatusNotification"):
            answer = await rig.call("TriggerMessage", {"requestedMessage": requested})
            assert answer["status"] in ("Accepted", "Rejected", "NotImplemented")
            if answer["status"] == "Accepted":
                await rig.wait_result(await rig.wait_for(requested))

        # a connector that does not exist
        trig = {"requestedMessage": "StatusNotification", "connectorId": 9}
        assert (await rig.call("TriggerMessage", trig))["status"] == "Rejected"
        assert (await rig.call("TriggerMessage", {"requestedMessage": "Heartbeat"}))["status"] == "Accepted"
        await rig.wait_for("Heartbeat")
        rig.report("boot/heartbeat/status/triggers")


# ---------------------------------------------------------------------------------------------------- sessions


async def test_local_session_stopped_by_unplug_then_by_token(strict_peer_16: StrictPeer) -> None:
    async with running_station(strict_peer_16, P, "CP16-LOCAL") as rig:
        await rig.wait_for("StatusNotification", status_is(1, "Available"))

        # session 1: plug in, authorize locally, charge, unplug
        tx_id = await start_local_session(rig, 1, "TAG-LOCAL")
        values = await wait_meter_values(rig, 1, tx_id)
        measurands = {
            s.get("measurand", "Energy.Active.Import.Register") for s in values[-1]["meterValue"][0]["sampledValue"]
        }
        assert "Energy.Active.Import.Register" in measurands
        rig.port(1).unplug()
        stop = await rig.wait_for("StopTransaction", lambda p: p.get("transactionId") == tx_id)
        assert stop["payload"]["reason"] == "EVDisconnected"
        assert stop["payload"]["idTag"] == "TAG-LOCAL"
        start = rig.calls("StartTransaction")[-1]["payload"]
        assert stop["payload"]["meterStop"] >= start["meterStart"]
        await rig.wait_result(stop)
        await rig.wait_for("StatusNotification", status_is(1, "Available"))

        # session 2: same token again ends it locally while the car stays plugged
        tx_id2 = await start_local_session(rig, 1, "TAG-LOCAL")
        assert tx_id2 != tx_id
        await wait_meter_values(rig, 1, tx_id2, count=1)
        rig.station.present_token(1, IdToken("TAG-LOCAL"))
        stop = await rig.wait_for("StopTransaction", lambda p: p.get("transactionId") == tx_id2)
        assert stop["payload"].get("reason", "Local") == "Local"
        await rig.wait_for("StatusNotification", status_is(1, "Finishing"))
        rig.port(1).unplug()
        await rig.wait_for("StatusNotification", status_is(1, "Available"))
        rig.report("local sessions (unplug, token)")


async def test_remote_session_and_remote_stop(strict_peer_16: StrictPeer) -> None:
    async with running_station(strict_peer_16, P, "CP16-REMOTE") as rig:
        await rig.wait_for("StatusNotification", status_is(2, "Available"))

        answer = await rig.call("RemoteStartTransaction", {"connectorId": 2, "idTag": "TAG-REMOTE"})
        assert answer == {"status": "Accepted"}
        if rig.station.authorize_remote_start:  # AuthorizeRemoteTxRequests
            auth = await rig.wait_for("Authorize", lambda p: p.get("idTag") == "TAG-REMOTE")
            await rig.wait_result(auth)
        await rig.wait_for("StatusNotification", status_is(2, "Preparing"))
        rig.port(2).plug_in()
        start = await rig.wait_for("StartTransaction", lambda p: p.get("connectorId") == 2)
        assert start["payload"]["idTag"] == "TAG-REMOTE"
        tx_id = (await rig.wait_result(start))["transactionId"]
        await rig.wait_for("StatusNotification", status_is(2, "Charging"))
        await wait_meter_values(rig, 2, tx_id)

        # refusals while busy / for unknown things
        assert (await rig.call("RemoteStartTransaction", {"connectorId": 2, "idTag": "TAG-OTHER"}))[
            "status"
        ] == "Rejected"
        assert (await rig.call("RemoteStartTransaction", {"connectorId": 7, "idTag": "TAG-OTHER"}))[
            "status"
        ] == "Rejected"
        assert (await rig.call("RemoteStopTransaction", {"transactionId": tx_id + 1000}))["status"] == "Rejected"

        answer = await rig.call("RemoteStopTransaction", {"transactionId": tx_id})
        assert answer == {"status": "Accepted"}
        stop = await rig.wait_for("StopTransaction", lambda p: p.get("transactionId") == tx_id)
        assert stop["payload"]["reason"] == "Remote"
        await rig.wait_result(stop)
        await rig.wait_for("StatusNotification", status_is(2, "Finishing"))
        rig.port(2).unplug()
        await rig.wait_for("StatusNotification", status_is(2, "Available"))
        rig.report("remote session")


async def test_rejected_token_scheduled_availability_and_reconnect_mid_session(strict_peer_16: StrictPeer) -> None:
    async with running_station(strict_peer_16, P, "CP16-EDGE") as rig:
        first = await rig.peer.wait_connected(rig.station_id)
        await rig.wait_for("BootNotification")
        await rig.wait_for("StatusNotification", status_is(1, "Available"))

        # the CSMS refuses a token: no transaction
        await rig.peer.set_response("Authorize", {"idTagInfo": {"status": "Invalid"}}, once=True)
        rig.port(1).plug_in()
        await rig.wait_for("StatusNotification", status_is(1, "Preparing"))
        rig.station.present_token(1, IdToken("TAG-BAD"))
        auth = await rig.wait_for("Authorize", lambda p: p.get("idTag") == "TAG-BAD")
        assert (await rig.wait_result(auth))["idTagInfo"]["status"] == "Invalid"
        # then accepts another one
        rig.station.present_token(1, IdToken("TAG-GOOD"))
        await rig.wait_for("Authorize", lambda p: p.get("idTag") == "TAG-GOOD")
        start = await rig.wait_for("StartTransaction", lambda p: p.get("connectorId") == 1)
        assert start["payload"]["idTag"] == "TAG-GOOD"
        assert len(rig.calls("StartTransaction")) == 1
        tx_id = (await rig.wait_result(start))["transactionId"]

        # Inoperative during a transaction is scheduled; triggered MeterValues carry the transaction
        answer = await rig.call("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
        assert answer == {"status": "Scheduled"}
        trig = {"requestedMessage": "MeterValues", "connectorId": 1}
        assert (await rig.call("TriggerMessage", trig))["status"] == "Accepted"
        mv = await rig.wait_for(
            "MeterValues",
            lambda p: p.get("meterValue", [{}])[0].get("sampledValue", [{}])[0].get("context") == "Trigger",
        )
        assert mv["payload"]["connectorId"] == 1

        # the CSMS drops the connection mid-session: the station comes back, boots, and the session goes on
        await rig.peer.close_connection(rig.station_id, code=1001, reason="maintenance")
        boot = await rig.wait_for("BootNotification", timeout=15)
        assert boot["conn"] != first["conn"]
        await rig.wait_result(boot)
        await rig.session.wait_accepted(10)
        await wait_meter_values(rig, 1, tx_id, count=2)

        rig.port(1).unplug()
        stop = await rig.wait_for("StopTransaction", lambda p: p.get("transactionId") == tx_id)
        assert stop["payload"]["reason"] == "EVDisconnected"
        await rig.wait_result(stop)
        await rig.wait_for("StatusNotification", status_is(1, "Unavailable"))  # the scheduled change took effect
        assert (await rig.call("ChangeAvailability", {"connectorId": 1, "type": "Operative"}))["status"] == "Accepted"
        await rig.wait_for("StatusNotification", status_is(1, "Available"))
        rig.report("rejected token, scheduled availability, reconnect mid-session")


# ---------------------------------------------------------------------------------------------------- commands


async def test_csms_initiated_calls(strict_peer_16: StrictPeer) -> None:
    async with running_station(strict_peer_16, P, "CP16-CMDS") as rig:
        await rig.wait_for("StatusNotification", status_is(2, "Available"))

        # ChangeAvailability: connector 2 out of service and back, then the whole station
        answer = await rig.call("ChangeAvailability", {"connectorId": 2, "type": "Inoperative"})
        assert answer == {"status": "Accepted"}
        await rig.wait_for("StatusNotification", status_is(2, "Unavailable"))
        assert (await rig.call("ChangeAvailability", {"connectorId": 2, "type": "Operative"}))["status"] == "Accepted"
        await rig.wait_for("StatusNotification", status_is(2, "Available"))
        assert (await rig.call("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}))["status"] == "Accepted"
        for connector_id in (1, 2):
            await rig.wait_for("StatusNotification", status_is(connector_id, "Unavailable"))
        assert (await rig.call("ChangeAvailability", {"connectorId": 0, "type": "Operative"}))["status"] == "Accepted"
        for connector_id in (1, 2):
            await rig.wait_for("StatusNotification", status_is(connector_id, "Available"))
        assert (await rig.call("ChangeAvailability", {"connectorId": 9, "type": "Operative"}))["status"] == "Rejected"

        # UnlockConnector
        assert (await rig.call("UnlockConnector", {"connectorId": 1}))["status"] == "Unlocked"
        assert (await rig.call("UnlockConnector", {"connectorId": 9}))["status"] == "NotSupported"

        # GetConfiguration: everything, then selected keys with an unknown one
        conf = await rig.call("GetConfiguration", {})
        keys = {k["key"]: k for k in conf["configurationKey"]}
        for required in (
            "HeartbeatInterval",
            "MeterValueSampleInterval",
            "AuthorizeRemoteTxRequests",
            "LocalAuthListEnabled",
            "NumberOfConnectors",
        ):
            assert required in keys, f"GetConfiguration lacks {required}"
        assert keys["NumberOfConnectors"]["value"] == "2" and keys["NumberOfConnectors"]["readonly"] is True
        conf = await rig.call("GetConfiguration", {"key": ["HeartbeatInterval", "NoSuchKey"]})
        assert [k["key"] for k in conf["configurationKey"]] == ["HeartbeatInterval"]
        assert conf["unknownKey"] == ["NoSuchKey"]

        # ChangeConfiguration: accepted, applied, read back; read-only, bad value and unknown key
        answer = await rig.call("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"})
        assert answer == {"status": "Accepted"}
        conf = await rig.call("GetConfiguration", {"key": ["HeartbeatInterval"]})
        assert conf["configurationKey"][0]["value"] == "120"
        assert rig.station.settings.heartbeat_interval_s == 120
        answer = await rig.call("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "1"})
        assert answer["status"] == "Accepted"
        answer = await rig.call("ChangeConfiguration", {"key": "NumberOfConnectors", "value": "5"})
        assert answer["status"] == "Rejected"
        answer = await rig.call("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "often"})
        assert answer["status"] == "Rejected"
        answer = await rig.call("ChangeConfiguration", {"key": "NoSuchKey", "value": "1"})
        assert answer["status"] == "NotSupported"

        # ClearCache, DataTransfer
        assert await rig.call("ClearCache", {}) == {"status": "Accepted"}
        answer = await rig.call("DataTransfer", {"vendorId": "org.example.nobody", "messageId": "ping", "data": "x"})
        assert answer["status"] in ("UnknownVendorId", "UnknownMessageId", "Rejected", "Accepted")

        # Local authorization list: full, differential, version read back, stale differential
        assert await rig.call("GetLocalListVersion", {}) == {"listVersion": 0}
        full = {
            "listVersion": 3,
            "updateType": "Full",
            "localAuthorizationList": [
                {"idTag": "TAG-A", "idTagInfo": {"status": "Accepted"}},
                {"idTag": "TAG-B", "idTagInfo": {"status": "Blocked", "expiryDate": "2099-01-01T00:00:00.000Z"}},
            ],
        }
        assert await rig.call("SendLocalList", full) == {"status": "Accepted"}
        assert await rig.call("GetLocalListVersion", {}) == {"listVersion": 3}
        diff = {"listVersion": 4, "updateType": "Differential", "localAuthorizationList": [{"idTag": "TAG-B"}]}
        assert await rig.call("SendLocalList", diff) == {"status": "Accepted"}
        assert await rig.call("GetLocalListVersion", {}) == {"listVersion": 4}
        stale = {"listVersion": 2, "updateType": "Differential", "localAuthorizationList": []}
        assert (await rig.call("SendLocalList", stale))["status"] == "VersionMismatch"
        assert set(rig.station.auth.local_list.entries or {}) == {"TAG-A"}

        # Heartbeat interval from ChangeConfiguration is in force; TriggerMessage still works
        assert (await rig.call("TriggerMessage", {"requestedMessage": "Heartbeat"}))["status"] == "Accepted"
        await rig.wait_for("Heartbeat")
        rig.report("CSMS-initiated calls")


async def test_reset_hard_during_transaction_then_soft(strict_peer_16: StrictPeer) -> None:
    async with running_station(strict_peer_16, P, "CP16-RESET") as rig:
        first = await rig.peer.wait_connected(rig.station_id)
        await rig.wait_for("BootNotification")
        tx_id = await start_local_session(rig, 1, "TAG-RESET")

        assert await rig.call("Reset", {"type": "Hard"}) == {"status": "Accepted"}
        stop = await rig.wait_for("StopTransaction", lambda p: p.get("transactionId") == tx_id)
        assert stop["payload"]["reason"] == "HardReset"
        await rig.wait_result(stop)
        # the station drops the connection, comes back and registers again
        boot = await rig.wait_for("BootNotification", timeout=15)
        assert boot["conn"] != first["conn"]
        assert (await rig.wait_result(boot))["status"] == "Accepted"
        await rig.session.wait_accepted(10)
        for connector_id in (1, 2):
            await rig.wait_for("StatusNotification", lambda p, c=connector_id: p.get("connectorId") == c)

        # Soft reset while idle (the car is still plugged in on connector 1, no transaction)
        assert await rig.call("Reset", {"type": "Soft"}) == {"status": "Accepted"}
        boot = await rig.wait_for("BootNotification", timeout=15)
        await rig.wait_result(boot)
        await rig.session.wait_accepted(10)
        assert await rig.call("GetLocalListVersion", {}) == {"listVersion": 0}
        disconnects = [e for e in rig.peer.events if e.get("event") == "disconnected"]
        assert len(disconnects) == 2
        rig.report("reset hard (in transaction) + soft")


# ---------------------------------------------------------------------------------------------------- strictness


async def test_malformed_and_schema_violating_frames_get_callerror(strict_peer_16: StrictPeer) -> None:
    async with running_station(strict_peer_16, P, "CP16-STRICT") as rig:
        conn = (await rig.peer.wait_connected(rig.station_id))["conn"]
        await rig.wait_for("StatusNotification", status_is(2, "Available"))

        cases: list[tuple[str, str | None, frozenset[str]]] = [
            ('[2,"bad-json","Reset",{"type":"Soft"', None, FORMAT_ERRORS),  # truncated: not JSON
            ('{"not":"an array"}', None, FRAMEWORK_ERRORS),
            ('[2,"bad-enum","Reset",{"type":"Sideways"}]', "bad-enum", PROPERTY_ERRORS),
            ('[2,"bad-missing","ChangeAvailability",{"connectorId":1}]', "bad-missing", OCCURRENCE_ERRORS),
            ('[2,"bad-type","UnlockConnector",{"connectorId":"one"}]', "bad-type", TYPE_ERRORS),
            ('[2,"bad-extra","ClearCache",{"please":true}]', "bad-extra", OCCURRENCE_ERRORS),
            ('[2,"bad-action","MakeCoffee",{}]', "bad-action", NOT_IMPLEMENTED_ERRORS),
        ]
        for raw, message_id, classes in cases:
            seen = len(rig.frames())
            await rig.send_raw(raw, message_id)
            error = await rig.wait_error_reply(message_id or "-1", after=seen)
            code = error["error"]["code"]
            assert code in classes, f"{raw}: station answered {code}, expected one of {sorted(classes)}"
            # the session goes on over the same connection: a follow-up call works
            assert await rig.call("GetLocalListVersion", {}) == {"listVersion": 0}
        # none of the rejected CALLs reached a handler (no reset, availability unchanged)
        assert rig.station.evses[1].operative and rig.station.operative

        assert (await rig.call("TriggerMessage", {"requestedMessage": "Heartbeat"}))["status"] == "Accepted"
        await rig.wait_for("Heartbeat")
        assert rig.peer.is_connected(rig.station_id)
        assert (await rig.peer.wait_connected(rig.station_id))["conn"] == conn
        assert not [e for e in rig.peer.events if e.get("event") == "disconnected"]
        # each CALLERROR above was flagged by the peer only as an answer to an id it never sent (a peer gap)
        assert len(rig.expected_violations()) == len(cases)
        rig.report("strictness")
