"""Interop, OCPP 2.0.1: OUR station (model + session + V201Adapter, real websockets, RealClock, emulated DC cars)
against the independent strict CSMS (npm ocpp-rpc in strict mode, tests/interop/peer.py).

Every test ends with zero schema violations in both directions as judged by the peer, and prints how many frames
the peer checked. Covered:

* boot, heartbeat (TriggerMessage), StatusNotification for every connector, every TriggerMessage we implement
* a locally authorized session (plug in, token, Authorize, TransactionEvent Started / Updated at 1 s / Ended on
  unplug) and a second one ended with the same token
* a remote session (RequestStartTransaction, Authorize, TransactionEvent Started with remoteStartId, Updated,
  RequestStopTransaction, Ended Remote) plus requests that must be rejected
* the CSMS-initiated calls: ChangeAvailability, UnlockConnector, GetVariables, SetVariables, GetBaseReport with the
  NotifyReport frames that follow, ClearCache, DataTransfer, SendLocalList, GetLocalListVersion, TriggerMessage
* Reset: Immediate during a transaction (Ended ImmediateReset, reconnect, boot RemoteReset) and OnIdle while idle
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

P = "ocpp2.0.1"


@pytest.fixture(scope="module", autouse=True)
def frames_summary() -> Iterator[None]:
    yield
    print("\n" + summary("2.0.1"))


def status_is(evse_id: int, status: str) -> Any:
    return lambda p: p.get("evseId") == evse_id and p.get("connectorStatus") == status


def tx_event(event_type: str, tx_id: str | None = None, **expect: Any) -> Any:
    def pred(p: dict[str, Any]) -> bool:
        if p.get("eventType") != event_type:
            return False
        if tx_id is not None and p.get("transactionInfo", {}).get("transactionId") != tx_id:
            return False
        return all(p.get(k) == v for k, v in expect.items())

    return pred


def token(tag: str) -> dict[str, str]:
    return {"idToken": tag, "type": "ISO14443"}


def check_seq(rig: StationRig, tx_id: str) -> list[dict[str, Any]]:
    """TransactionEvents of one transaction: Started first, Ended last, seqNo 0, 1, 2, ... (E01.FR.16/17)."""
    events = [
        c["payload"]
        for c in rig.calls("TransactionEvent")
        if c["payload"].get("transactionInfo", {}).get("transactionId") == tx_id
    ]
    assert events[0]["eventType"] == "Started" and events[-1]["eventType"] == "Ended"
    assert all(e["eventType"] == "Updated" for e in events[1:-1])
    seq = [e["seqNo"] for e in events]
    assert seq == list(range(seq[0], seq[0] + len(seq))), f"seqNo not consecutive: {seq}"
    return events


async def start_local_session(rig: StationRig, evse_id: int, tag: str) -> str:
    """Plug in, present a token, return the transactionId once a periodic meter value has been sent."""
    rig.port(evse_id).plug_in()
    await rig.wait_for("StatusNotification", status_is(evse_id, "Occupied"))
    rig.station.present_token(evse_id, IdToken(tag))
    auth = await rig.wait_for("Authorize", lambda p: p.get("idToken", {}).get("idToken") == tag)
    assert (await rig.wait_result(auth))["idTokenInfo"]["status"] == "Accepted"
    started = await rig.wait_for("TransactionEvent", lambda p: tx_event("Started")(p) and p["evse"]["id"] == evse_id)
    payload = started["payload"]
    assert payload["idToken"]["idToken"] == tag
    assert payload["triggerReason"] == "Authorized"
    tx_id: str = payload["transactionInfo"]["transactionId"]
    await rig.wait_result(started)
    return tx_id


async def wait_periodic(rig: StationRig, tx_id: str, count: int = 2) -> None:
    for _ in range(count):
        upd = await rig.wait_for("TransactionEvent", tx_event("Updated", tx_id, triggerReason="MeterValuePeriodic"))
        values = upd["payload"]["meterValue"]
        assert values and all(v["sampledValue"] for v in values)
        assert any(s.get("context") == "Sample.Periodic" for v in values for s in v["sampledValue"])


# ---------------------------------------------------------------------------------------------------- boot


async def test_boot_heartbeat_status_and_triggers(strict_peer_201: StrictPeer) -> None:
    async with running_station(strict_peer_201, P, "CP201-BOOT") as rig:
        boot = await rig.wait_for("BootNotification")
        assert boot["payload"]["reason"] == "PowerUp"
        assert boot["payload"]["chargingStation"]["vendorName"] == "OpenV2X"
        assert boot["payload"]["chargingStation"]["model"] == "CHAdeMO-BiDi-10"
        assert (await rig.wait_result(boot))["status"] == "Accepted"
        for evse_id in (1, 2):
            sn = await rig.wait_for("StatusNotification", status_is(evse_id, "Available"))
            assert sn["payload"]["connectorId"] == 1

        # heartbeat on demand
        assert await rig.call("TriggerMessage", {"requestedMessage": "Heartbeat"}) == {"status": "Accepted"}
        hb = await rig.wait_for("Heartbeat")
        assert hb["payload"] == {}
        await rig.wait_result(hb)

        # StatusNotification for one connector
        trig = {"requestedMessage": "StatusNotification", "evse": {"id": 2, "connectorId": 1}}
        assert (await rig.call("TriggerMessage", trig))["status"] == "Accepted"
        await rig.wait_for("StatusNotification", status_is(2, "Available"))

        # MeterValues outside a transaction
        trig = {"requestedMessage": "MeterValues", "evse": {"id": 1}}
        assert (await rig.call("TriggerMessage", trig))["status"] == "Accepted"
        mv = await rig.wait_for("MeterValues", lambda p: p.get("evseId") == 1)
        assert mv["payload"]["meterValue"]

        # BootNotification on demand after it was accepted: Rejected (F06.FR.17)
        assert (await rig.call("TriggerMessage", {"requestedMessage": "BootNotification"}))["status"] == "Rejected"

        # TransactionEvent without a transaction, an EVSE that does not exist
        trig = {"requestedMessage": "TransactionEvent", "evse": {"id": 1}}
        assert (await rig.call("TriggerMessage", trig))["status"] == "Rejected"
        trig = {"requestedMessage": "StatusNotification", "evse": {"id": 9, "connectorId": 1}}
        assert (await rig.call("TriggerMessage", trig))["status"] == "Rejected"
        # whatever else is asked for gets a valid answer (and the message when Accepted)
        for requested in ("FirmwareStatusNotification", "LogStatusNotification"):
            answer = await rig.call("TriggerMessage", {"requestedMessage": requested})
            assert answer["status"] in ("Accepted", "Rejected", "NotImplemented")
            if answer["status"] == "Accepted":
                await rig.wait_result(await rig.wait_for(requested))

        assert (await rig.call("TriggerMessage", {"requestedMessage": "Heartbeat"}))["status"] == "Accepted"
        await rig.wait_for("Heartbeat")
        rig.report("boot/heartbeat/status/triggers")


# ---------------------------------------------------------------------------------------------------- sessions


async def test_local_session_ended_by_unplug_then_by_token(strict_peer_201: StrictPeer) -> None:
    async with running_station(strict_peer_201, P, "CP201-LOCAL") as rig:
        await rig.wait_for("StatusNotification", status_is(1, "Available"))

        # session 1: plug in, authorize locally, charge, unplug
        tx_id = await start_local_session(rig, 1, "TAG-LOCAL")
        await rig.wait_for(
            "TransactionEvent",
            lambda p: tx_event("Updated", tx_id)(p) and p.get("transactionInfo", {}).get("chargingState") == "Charging",
        )
        trig = {"requestedMessage": "TransactionEvent", "evse": {"id": 1}}
        assert (await rig.call("TriggerMessage", trig))["status"] == "Accepted"
        await rig.wait_for("TransactionEvent", tx_event("Updated", tx_id, triggerReason="Trigger"))
        await wait_periodic(rig, tx_id)
        rig.port(1).unplug()
        ended = await rig.wait_for("TransactionEvent", tx_event("Ended", tx_id))
        info = ended["payload"]["transactionInfo"]
        assert info["stoppedReason"] == "EVDisconnected"
        assert ended["payload"]["triggerReason"] == "EVCommunicationLost"
        await rig.wait_result(ended)
        await rig.wait_for("StatusNotification", status_is(1, "Available"))
        check_seq(rig, tx_id)

        # session 2: the same token again ends it while the car stays plugged
        tx_id2 = await start_local_session(rig, 1, "TAG-LOCAL")
        assert tx_id2 != tx_id
        await wait_periodic(rig, tx_id2, count=1)
        rig.station.present_token(1, IdToken("TAG-LOCAL"))
        ended = await rig.wait_for("TransactionEvent", tx_event("Ended", tx_id2))
        assert ended["payload"]["transactionInfo"].get("stoppedReason", "Local") == "Local"
        assert ended["payload"]["triggerReason"] == "StopAuthorized"
        await rig.wait_result(ended)
        rig.port(1).unplug()
        await rig.wait_for("StatusNotification", status_is(1, "Available"))
        check_seq(rig, tx_id2)
        rig.report("local sessions (unplug, token)")


async def test_remote_session_and_request_stop(strict_peer_201: StrictPeer) -> None:
    async with running_station(strict_peer_201, P, "CP201-REMOTE") as rig:
        await rig.wait_for("StatusNotification", status_is(2, "Available"))

        request = {"idToken": token("TAG-REMOTE"), "remoteStartId": 42, "evseId": 2}
        answer = await rig.call("RequestStartTransaction", request)
        assert answer["status"] == "Accepted"
        if rig.station.authorize_remote_start:  # AuthCtrlr.AuthorizeRemoteStart
            auth = await rig.wait_for("Authorize", lambda p: p.get("idToken", {}).get("idToken") == "TAG-REMOTE")
            await rig.wait_result(auth)
        rig.port(2).plug_in()
        started = await rig.wait_for("TransactionEvent", lambda p: tx_event("Started")(p) and p["evse"]["id"] == 2)
        payload = started["payload"]
        assert payload["triggerReason"] == "RemoteStart"
        assert payload["transactionInfo"]["remoteStartId"] == 42
        assert payload["idToken"]["idToken"] == "TAG-REMOTE"
        tx_id = payload["transactionInfo"]["transactionId"]
        await rig.wait_result(started)
        await rig.wait_for("StatusNotification", status_is(2, "Occupied"))
        await wait_periodic(rig, tx_id)

        # refusals while busy / for unknown things
        busy = {"idToken": token("TAG-OTHER"), "remoteStartId": 43, "evseId": 2}
        assert (await rig.call("RequestStartTransaction", busy))["status"] == "Rejected"
        nowhere = {"idToken": token("TAG-OTHER"), "remoteStartId": 44, "evseId": 7}
        assert (await rig.call("RequestStartTransaction", nowhere))["status"] == "Rejected"
        assert (await rig.call("RequestStopTransaction", {"transactionId": "no-such-tx"}))["status"] == "Rejected"

        assert await rig.call("RequestStopTransaction", {"transactionId": tx_id}) == {"status": "Accepted"}
        ended = await rig.wait_for("TransactionEvent", tx_event("Ended", tx_id))
        assert ended["payload"]["transactionInfo"]["stoppedReason"] == "Remote"
        assert ended["payload"]["triggerReason"] == "RemoteStop"
        await rig.wait_result(ended)
        rig.port(2).unplug()
        await rig.wait_for("StatusNotification", status_is(2, "Available"))
        check_seq(rig, tx_id)
        rig.report("remote session")


async def test_rejected_token_scheduled_availability_and_reconnect_mid_session(strict_peer_201: StrictPeer) -> None:
    async with running_station(strict_peer_201, P, "CP201-EDGE") as rig:
        first = await rig.peer.wait_connected(rig.station_id)
        await rig.wait_for("BootNotification")
        await rig.wait_for("StatusNotification", status_is(1, "Available"))

        # the CSMS refuses a token: no transaction
        await rig.peer.set_response("Authorize", {"idTokenInfo": {"status": "Invalid"}}, once=True)
        rig.port(1).plug_in()
        await rig.wait_for("StatusNotification", status_is(1, "Occupied"))
        rig.station.present_token(1, IdToken("TAG-BAD"))
        auth = await rig.wait_for("Authorize", lambda p: p.get("idToken", {}).get("idToken") == "TAG-BAD")
        assert (await rig.wait_result(auth))["idTokenInfo"]["status"] == "Invalid"
        # then accepts another one
        rig.station.present_token(1, IdToken("TAG-GOOD"))
        await rig.wait_for("Authorize", lambda p: p.get("idToken", {}).get("idToken") == "TAG-GOOD")
        started = await rig.wait_for("TransactionEvent", tx_event("Started"))
        assert started["payload"]["idToken"]["idToken"] == "TAG-GOOD"
        tx_id = started["payload"]["transactionInfo"]["transactionId"]
        assert not [
            c for c in rig.calls("TransactionEvent") if c["payload"].get("idToken", {}).get("idToken") == "TAG-BAD"
        ]

        # Inoperative during a transaction is scheduled; a triggered MeterValues is sent
        answer = await rig.call("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 1}})
        assert answer["status"] == "Scheduled"
        trig = {"requestedMessage": "MeterValues", "evse": {"id": 1}}
        assert (await rig.call("TriggerMessage", trig))["status"] == "Accepted"
        mv = await rig.wait_for("MeterValues", lambda p: p.get("evseId") == 1)
        assert mv["payload"]["meterValue"][0]["sampledValue"][0].get("context") == "Trigger"

        # the CSMS drops the connection mid-session: the station comes back, boots, and the transaction goes on
        await rig.peer.close_connection(rig.station_id, code=1001, reason="maintenance")
        boot = await rig.wait_for("BootNotification", timeout=15)
        assert boot["conn"] != first["conn"]
        await rig.wait_result(boot)
        await rig.session.wait_accepted(10)
        await wait_periodic(rig, tx_id, count=2)

        rig.port(1).unplug()
        ended = await rig.wait_for("TransactionEvent", tx_event("Ended", tx_id))
        assert ended["payload"]["transactionInfo"]["stoppedReason"] == "EVDisconnected"
        await rig.wait_result(ended)
        await rig.wait_for("StatusNotification", status_is(1, "Unavailable"))  # the scheduled change took effect
        answer = await rig.call("ChangeAvailability", {"operationalStatus": "Operative", "evse": {"id": 1}})
        assert answer["status"] == "Accepted"
        await rig.wait_for("StatusNotification", status_is(1, "Available"))
        check_seq(rig, tx_id)
        rig.report("rejected token, scheduled availability, reconnect mid-session")


# ---------------------------------------------------------------------------------------------------- commands


def gv(component: str, variable: str, evse: int | None = None, **attr: Any) -> dict[str, Any]:
    comp: dict[str, Any] = {"name": component}
    if evse is not None:
        comp["evse"] = {"id": evse}
    return {"component": comp, "variable": {"name": variable}, **attr}


async def test_csms_initiated_calls(strict_peer_201: StrictPeer) -> None:
    async with running_station(strict_peer_201, P, "CP201-CMDS") as rig:
        await rig.wait_for("StatusNotification", status_is(2, "Available"))

        # ChangeAvailability: EVSE 2 out of service and back, then the whole station
        answer = await rig.call("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 2}})
        assert answer["status"] == "Accepted"
        await rig.wait_for("StatusNotification", status_is(2, "Unavailable"))
        answer = await rig.call("ChangeAvailability", {"operationalStatus": "Operative", "evse": {"id": 2}})
        assert answer["status"] == "Accepted"
        await rig.wait_for("StatusNotification", status_is(2, "Available"))
        assert (await rig.call("ChangeAvailability", {"operationalStatus": "Inoperative"}))["status"] == "Accepted"
        for evse_id in (1, 2):
            await rig.wait_for("StatusNotification", status_is(evse_id, "Unavailable"))
        assert (await rig.call("ChangeAvailability", {"operationalStatus": "Operative"}))["status"] == "Accepted"
        for evse_id in (1, 2):
            await rig.wait_for("StatusNotification", status_is(evse_id, "Available"))
        answer = await rig.call("ChangeAvailability", {"operationalStatus": "Operative", "evse": {"id": 9}})
        assert answer["status"] == "Rejected"

        # UnlockConnector
        assert (await rig.call("UnlockConnector", {"evseId": 1, "connectorId": 1}))["status"] == "Unlocked"
        answer = await rig.call("UnlockConnector", {"evseId": 9, "connectorId": 1})
        assert answer["status"] == "UnknownConnector"

        # GetVariables: known, unknown component, unknown variable
        result = await rig.call(
            "GetVariables",
            {
                "getVariableData": [
                    gv("OCPPCommCtrlr", "HeartbeatInterval"),
                    gv("SampledDataCtrlr", "TxUpdatedInterval"),
                    gv("NoSuchCtrlr", "Enabled"),
                    gv("OCPPCommCtrlr", "NoSuchVariable"),
                ]
            },
        )
        statuses = [r["attributeStatus"] for r in result["getVariableResult"]]
        assert statuses == ["Accepted", "Accepted", "UnknownComponent", "UnknownVariable"]
        assert result["getVariableResult"][1]["attributeValue"] == "1"

        # SetVariables: accepted and applied, a bad value, a read-only one
        result = await rig.call(
            "SetVariables",
            {
                "setVariableData": [
                    gv("OCPPCommCtrlr", "HeartbeatInterval", attributeValue="120"),
                    gv("OCPPCommCtrlr", "HeartbeatInterval", attributeValue="often", attributeType="Target"),
                    gv("NoSuchCtrlr", "Enabled", attributeValue="true"),
                ]
            },
        )
        statuses = [r["attributeStatus"] for r in result["setVariableResult"]]
        assert statuses[0] == "Accepted" and statuses[2] == "UnknownComponent"
        assert statuses[1] in ("Rejected", "NotSupportedAttributeType")
        assert rig.station.settings.heartbeat_interval_s == 120
        result = await rig.call("GetVariables", {"getVariableData": [gv("OCPPCommCtrlr", "HeartbeatInterval")]})
        assert result["getVariableResult"][0]["attributeValue"] == "120"

        # GetBaseReport: accepted, then NotifyReport frames with the request id until tbc is false
        for request_id, base in ((101, "ConfigurationInventory"), (102, "FullInventory"), (103, "SummaryInventory")):
            answer = await rig.call("GetBaseReport", {"requestId": request_id, "reportBase": base})
            assert answer["status"] in ("Accepted", "NotSupported"), (base, answer)
            if answer["status"] != "Accepted":
                continue
            seq = 0
            while True:
                report = await rig.wait_for("NotifyReport", lambda p, r=request_id: p.get("requestId") == r)
                assert report["payload"]["seqNo"] == seq
                await rig.wait_result(report)
                seq += 1
                if not report["payload"].get("tbc", False):
                    break
            data = [d for c in rig.calls("NotifyReport") if c["payload"]["requestId"] == request_id
                    for d in c["payload"].get("reportData", [])]  # fmt: skip
            if base != "SummaryInventory":
                names = {(d["component"]["name"], d["variable"]["name"]) for d in data}
                assert ("OCPPCommCtrlr", "HeartbeatInterval") in names

        # ClearCache, DataTransfer
        assert await rig.call("ClearCache", {}) == {"status": "Accepted"}
        answer = await rig.call("DataTransfer", {"vendorId": "org.example.nobody", "messageId": "ping", "data": "x"})
        assert answer["status"] in ("UnknownVendorId", "UnknownMessageId", "Rejected", "Accepted")

        # Local authorization list: full, differential, version read back, stale differential
        assert await rig.call("GetLocalListVersion", {}) == {"versionNumber": 0}
        full = {
            "versionNumber": 3,
            "updateType": "Full",
            "localAuthorizationList": [
                {"idToken": token("TAG-A"), "idTokenInfo": {"status": "Accepted"}},
                {"idToken": token("TAG-B"), "idTokenInfo": {"status": "Blocked"}},
            ],
        }
        assert (await rig.call("SendLocalList", full))["status"] == "Accepted"
        assert await rig.call("GetLocalListVersion", {}) == {"versionNumber": 3}
        diff = {
            "versionNumber": 4,
            "updateType": "Differential",
            "localAuthorizationList": [{"idToken": token("TAG-B")}],
        }
        assert (await rig.call("SendLocalList", diff))["status"] == "Accepted"
        assert await rig.call("GetLocalListVersion", {}) == {"versionNumber": 4}
        stale = {"versionNumber": 2, "updateType": "Differential"}
        assert (await rig.call("SendLocalList", stale))["status"] == "VersionMismatch"
        assert set(rig.station.auth.local_list.entries or {}) == {"TAG-A"}

        assert (await rig.call("TriggerMessage", {"requestedMessage": "Heartbeat"}))["status"] == "Accepted"
        await rig.wait_for("Heartbeat")
        rig.report("CSMS-initiated calls")


async def test_reset_immediate_during_transaction(strict_peer_201: StrictPeer) -> None:
    async with running_station(strict_peer_201, P, "CP201-RESET") as rig:
        first = await rig.peer.wait_connected(rig.station_id)
        await rig.wait_for("BootNotification")
        tx_id = await start_local_session(rig, 1, "TAG-RESET")

        # OnIdle while a transaction runs is only scheduled
        assert (await rig.call("Reset", {"type": "OnIdle"}))["status"] == "Scheduled"
        # Immediate: the transaction ends, the station reconnects and boots with reason RemoteReset
        assert (await rig.call("Reset", {"type": "Immediate"}))["status"] == "Accepted"
        ended = await rig.wait_for("TransactionEvent", tx_event("Ended", tx_id))
        assert ended["payload"]["transactionInfo"]["stoppedReason"] == "ImmediateReset"
        assert ended["payload"]["triggerReason"] == "ResetCommand"
        await rig.wait_result(ended)
        boot = await rig.wait_for("BootNotification", timeout=15)
        assert boot["conn"] != first["conn"]
        assert boot["payload"]["reason"] == "RemoteReset"
        assert (await rig.wait_result(boot))["status"] == "Accepted"
        await rig.session.wait_accepted(10)
        for evse_id in (1, 2):
            await rig.wait_for("StatusNotification", lambda p, e=evse_id: p.get("evseId") == e)
        # the reboot carried out the scheduled OnIdle reset too: no second reboot follows
        assert (await rig.call("TriggerMessage", {"requestedMessage": "Heartbeat"}))["status"] == "Accepted"
        await rig.wait_for("Heartbeat")
        assert await rig.call("GetLocalListVersion", {}) == {"versionNumber": 0}
        boots = rig.calls("BootNotification")
        assert len(boots) == 2, [b["payload"]["reason"] for b in boots]
        assert len([e for e in rig.peer.events if e.get("event") == "disconnected"]) == 1
        rig.report("reset immediate (in transaction)")


@pytest.mark.parametrize("kind", ["OnIdle", "Immediate"])
async def test_reset_while_idle_is_answered_before_the_reboot(strict_peer_201: StrictPeer, kind: str) -> None:
    async with running_station(strict_peer_201, P, f"CP201-RESET-{kind}") as rig:
        first = await rig.peer.wait_connected(rig.station_id)
        await rig.wait_for("BootNotification")
        for evse_id in (1, 2):
            await rig.wait_for("StatusNotification", status_is(evse_id, "Available"))
        # an EVSE-level reset is not supported by this station: a valid refusal, nothing happens
        assert (await rig.call("Reset", {"type": kind, "evseId": 1}))["status"] == "Rejected"

        # B11.FR.01/B12.FR.01: the station answers the ResetRequest, then reboots (and boots with RemoteReset)
        assert (await rig.call("Reset", {"type": kind}))["status"] == "Accepted"
        boot = await rig.wait_for("BootNotification", timeout=15)
        assert boot["conn"] != first["conn"]
        assert boot["payload"]["reason"] == "RemoteReset"
        await rig.wait_result(boot)
        await rig.session.wait_accepted(10)
        assert await rig.call("GetLocalListVersion", {}) == {"versionNumber": 0}
        assert len([e for e in rig.peer.events if e.get("event") == "disconnected"]) == 1
        rig.report(f"reset {kind} (idle)")


# ---------------------------------------------------------------------------------------------------- strictness


async def test_malformed_and_schema_violating_frames_get_callerror(strict_peer_201: StrictPeer) -> None:
    async with running_station(strict_peer_201, P, "CP201-STRICT") as rig:
        conn = (await rig.peer.wait_connected(rig.station_id))["conn"]
        await rig.wait_for("StatusNotification", status_is(2, "Available"))

        cases: list[tuple[str, str | None, frozenset[str]]] = [
            ('[2,"bad-json","Reset",{"type":"OnIdle"}', None, FORMAT_ERRORS),  # truncated: not JSON
            ('{"not":"an array"}', None, FRAMEWORK_ERRORS),
            ('[2,"bad-enum","Reset",{"type":"Sideways"}]', "bad-enum", PROPERTY_ERRORS),
            ('[2,"bad-missing","ChangeAvailability",{}]', "bad-missing", OCCURRENCE_ERRORS),
            ('[2,"bad-type","UnlockConnector",{"evseId":"one","connectorId":1}]', "bad-type", TYPE_ERRORS),
            ('[2,"bad-extra","ClearCache",{"please":true}]', "bad-extra", OCCURRENCE_ERRORS),
            ('[2,"bad-len","GetVariables",{"getVariableData":[]}]', "bad-len", OCCURRENCE_ERRORS),
            ('[2,"bad-action","MakeCoffee",{}]', "bad-action", NOT_IMPLEMENTED_ERRORS),
        ]
        for raw, message_id, classes in cases:
            seen = len(rig.frames())
            await rig.send_raw(raw, message_id)
            error = await rig.wait_error_reply(message_id or "-1", after=seen)
            code = error["error"]["code"]
            assert code in classes, f"{raw}: station answered {code}, expected one of {sorted(classes)}"
            # the session goes on over the same connection: a follow-up call works
            assert await rig.call("GetLocalListVersion", {}) == {"versionNumber": 0}
        # none of the rejected CALLs reached a handler (no reset, availability unchanged)
        assert rig.station.operative and all(e.operative for e in rig.station.evses.values())

        assert (await rig.call("TriggerMessage", {"requestedMessage": "Heartbeat"}))["status"] == "Accepted"
        await rig.wait_for("Heartbeat")
        assert (await rig.peer.wait_connected(rig.station_id))["conn"] == conn
        assert not [e for e in rig.peer.events if e.get("event") == "disconnected"]
        # each CALLERROR above was flagged by the peer only as an answer to an id it never sent (a peer gap)
        assert len(rig.expected_violations()) == len(cases)
        rig.report("strictness")
