"""Self-test of the strict CSMS peer: a minimal charge point (Python ``ocpp`` + websockets) talks to it.

Positive: boot, heartbeat and a CSMS-initiated call for OCPP 1.6, 2.0.1 and 2.1 with zero
violations. Negative: schema-invalid frames in every direction are reported as violations.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v21 import ChargePoint as ChargePoint21
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as result21
from ocpp.v21 import datatypes as types21
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201 import datatypes as types201
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from .conftest import StrictPeerFactory
from .peer import PEER_DIR, PEER_SCRIPT, PeerCallError, StrictPeer, require_peer

pytestmark = pytest.mark.interop

Handler = Callable[..., Awaitable[Any]]


class CP16(ChargePoint16):
    @on("GetConfiguration")
    async def on_get_configuration(self, key: list[str] | None = None) -> result16.GetConfiguration:
        known = {"HeartbeatInterval": "300"}
        return result16.GetConfiguration(
            configuration_key=[{"key": k, "readonly": False, "value": known[k]} for k in key or [] if k in known],
            unknown_key=[k for k in key or [] if k not in known] or None,
        )


def _get_variables_result(get_variable_data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "attribute_status": "Accepted",
            "component": item["component"],
            "variable": item["variable"],
            "attribute_value": "300",
        }
        for item in get_variable_data
    ]


class CP201(ChargePoint201):
    @on("GetVariables")
    async def on_get_variables(self, get_variable_data: list[dict[str, Any]]) -> result201.GetVariables:
        return result201.GetVariables(get_variable_result=_get_variables_result(get_variable_data))


class CP21(ChargePoint21):
    @on("GetVariables")
    async def on_get_variables(self, get_variable_data: list[dict[str, Any]]) -> result21.GetVariables:
        return result21.GetVariables(get_variable_result=_get_variables_result(get_variable_data))


@asynccontextmanager
async def connect(
    peer: StrictPeer, station: str, protocol: str, password: str | None = None
) -> AsyncIterator[ClientConnection]:
    headers = {}
    if password is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{station}:{password}".encode()).decode()
    async with websockets.connect(
        peer.url + station, subprotocols=[Subprotocol(protocol)], additional_headers=headers, open_timeout=5
    ) as ws:
        assert ws.subprotocol == protocol
        yield ws


@asynccontextmanager
async def running(cp: Any) -> AsyncIterator[Any]:
    task = asyncio.create_task(cp.start())
    try:
        yield cp
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# ---------------------------------------------------------------- positive


async def test_core_session_16(strict_peer_16: StrictPeer) -> None:
    peer = strict_peer_16
    async with connect(peer, "CP16", "ocpp1.6") as ws, running(CP16("CP16", ws)) as cp:
        connected = await peer.wait_connected("CP16")
        assert connected["protocol"] == "ocpp1.6"

        boot = await cp.call(call16.BootNotification(charge_point_model="M1", charge_point_vendor="V1"))
        assert boot.status == "Accepted" and boot.interval == 300
        hb = await cp.call(call16.Heartbeat())
        assert hb.current_time
        start1 = await cp.call(
            call16.StartTransaction(connector_id=1, id_tag="TAG", meter_start=0, timestamp="2024-01-01T00:00:00Z")
        )
        start2 = await cp.call(
            call16.StartTransaction(connector_id=2, id_tag="TAG", meter_start=0, timestamp="2024-01-01T00:00:00Z")
        )
        assert start2.transaction_id == start1.transaction_id + 1

        seen = await peer.wait_for("CP16", "BootNotification", lambda p: p["chargePointModel"] == "M1")
        assert seen["payload"]["chargePointVendor"] == "V1"
        answer = await peer.response_to(seen)
        assert answer["type"] == 3 and answer["payload"]["status"] == "Accepted"

        conf = await peer.call("CP16", "GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]})
        assert conf == {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
                        "unknownKey": ["Nope"]}  # fmt: skip

        # the CSMS drops the connection
        assert peer.is_connected("CP16")
        await peer.close_connection("CP16", code=1001, reason="bye")
        gone = await peer.wait_disconnected("CP16")
        assert gone["conn"] == connected["conn"] and gone["code"] == 1001
        await ws.wait_closed()
        assert ws.close_code == 1001

    peer.assert_no_violations()
    assert len(peer.calls("CP16")) == 4
    assert [f["dir"] for f in peer.frames("CP16")].count("in") == 5  # 4 calls + 1 result


async def _core_session_2x(peer: StrictPeer, station: str, protocol: str, cp: Any, call: Any, types: Any) -> None:
    async with running(cp):
        connected = await peer.wait_connected(station)
        assert connected["protocol"] == protocol
        boot = await cp.call(
            call.BootNotification(
                charging_station=types.ChargingStationType(model="M1", vendor_name="V1"), reason="PowerUp"
            )
        )
        assert boot.status == "Accepted" and boot.interval == 300
        assert (await cp.call(call.Heartbeat())).current_time
        await peer.wait_for(station, "Heartbeat")

        result = await peer.call(
            station,
            "GetVariables",
            {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]},
        )
        assert result["getVariableResult"][0]["attributeStatus"] == "Accepted"
        assert result["getVariableResult"][0]["attributeValue"] == "300"
    peer.assert_no_violations()


async def test_core_session_201(strict_peer_201: StrictPeer) -> None:
    async with connect(strict_peer_201, "CP201", "ocpp2.0.1") as ws:
        await _core_session_2x(strict_peer_201, "CP201", "ocpp2.0.1", CP201("CP201", ws), call201, types201)


async def test_core_session_21(strict_peer_21: StrictPeer) -> None:
    async with connect(strict_peer_21, "CP21", "ocpp2.1") as ws:
        await _core_session_2x(strict_peer_21, "CP21", "ocpp2.1", CP21("CP21", ws), call21, types21)


# ---------------------------------------------------------------- negative

INVALID_BOOT = {
    # chargePointModel missing
    "ocpp1.6": {"chargePointVendor": "V1"},
    # reason is not in the enum
    "ocpp2.0.1": {"chargingStation": {"model": "M1", "vendorName": "V1"}, "reason": "BecauseICan"},
    "ocpp2.1": {"chargingStation": {"model": "M1", "vendorName": "V1"}, "reason": "BecauseICan"},
}

VALID_GET_VARIABLES = {
    "getVariableData": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]
}


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_invalid_call_from_station_is_a_violation(strict_peer_factory: StrictPeerFactory, protocol: str) -> None:
    peer = await strict_peer_factory([protocol])
    async with connect(peer, "BAD", protocol) as ws:
        await ws.send(json.dumps([2, "neg-1", "BootNotification", INVALID_BOOT[protocol]]))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply[0] == 4 and reply[1] == "neg-1"
        # error class, not spelling: ocpp-rpc uses 1.6 spellings for every version
        assert reply[2] in {
            "OccurrenceConstraintViolation", "OccurenceConstraintViolation",
            "FormatViolation", "FormationViolation", "PropertyConstraintViolation", "TypeConstraintViolation",
        }  # fmt: skip

        # unknown action: strict mode has no schema for it
        await ws.send(json.dumps([2, "neg-2", "MakeCoffee", {}]))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply[:2] == [4, "neg-2"]

    (v_boot, v_unknown) = peer.violations
    assert v_boot["kind"] == "call" and v_boot["direction"] == "inbound" and v_boot["culprit"] == "station"
    assert v_boot["action"] == "BootNotification" and v_boot["message_id"] == "neg-1"
    assert v_boot["payload"] == INVALID_BOOT[protocol] and v_boot["error"]["message"]
    assert v_unknown["action"] == "MakeCoffee" and v_unknown["source"] == "ocpp-rpc"
    with pytest.raises(AssertionError, match="2 OCPP violation"):
        peer.assert_no_violations()


async def test_invalid_responses_both_ways(strict_peer_201: StrictPeer) -> None:
    peer = strict_peer_201
    async with connect(peer, "CPX", "ocpp2.0.1") as ws:
        await peer.wait_connected("CPX")

        # the station answers a CSMS call with a schema-invalid CALLRESULT
        pending = asyncio.create_task(peer.call("CPX", "GetVariables", VALID_GET_VARIABLES))
        request = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert request[0] == 2 and request[2] == "GetVariables"
        await ws.send(json.dumps([3, request[1], {"getVariableResult": []}]))  # minItems 1
        with pytest.raises(PeerCallError) as err:
            await pending
        assert err.value.code == "OccurenceConstraintViolation"

        # the test asks the CSMS to send a schema-invalid CALL: it never reaches the station
        with pytest.raises(PeerCallError):
            await peer.call("CPX", "GetVariables", {"getVariableData": "nope"})

        # an overridden CSMS answer that is schema-invalid is caught before sending
        await peer.set_response("Heartbeat", {"currentTime": 12}, once=True)
        await ws.send(json.dumps([2, "hb-1", "Heartbeat", {}]))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply[:3] == [4, "hb-1", "InternalError"]
        # the override was used up: the next Heartbeat gets the default answer
        await ws.send(json.dumps([2, "hb-2", "Heartbeat", {}]))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply[0] == 3 and isinstance(reply[2]["currentTime"], str)

        # raw frames from the CSMS side reach the station untouched
        await peer.send_raw("CPX", '[2,"raw-1","ClearCache",{}]')
        assert await asyncio.wait_for(ws.recv(), 5) == '[2,"raw-1","ClearCache",{}]'

    kinds = [(v["direction"], v["kind"], v["culprit"]) for v in peer.violations]
    assert kinds == [
        ("inbound", "result", "station"),
        ("outbound", "call", "csms"),
        ("outbound", "result", "csms"),
    ]


async def test_boot_sequence_auth_and_state(strict_peer_factory: StrictPeerFactory) -> None:
    peer = await strict_peer_factory(
        ["ocpp2.0.1", "ocpp1.6"], boot_statuses=["Pending", "Accepted"], auth_station="CPA", auth_password="s3cret!"
    )
    with pytest.raises(websockets.InvalidStatus) as rejected:
        async with connect(peer, "CPA", "ocpp1.6", password="wrong"):
            pass
    assert rejected.value.response.status_code == 401

    async with connect(peer, "CPA", "ocpp1.6", password="s3cret!") as ws:
        boot = [2, "b1", "BootNotification", {"chargePointModel": "M", "chargePointVendor": "V"}]
        await ws.send(json.dumps(boot))
        assert json.loads(await ws.recv())[2]["status"] == "Pending"
        await ws.send(json.dumps([2, "h1", "Heartbeat", {}]))  # not allowed while Pending
        assert json.loads(await ws.recv())[0] == 3
        await ws.send(json.dumps([*boot[:1], "b2", *boot[2:]]))
        assert json.loads(await ws.recv())[2]["status"] == "Accepted"
        await ws.send(json.dumps([2, "h2", "Heartbeat", {}]))
        assert json.loads(await ws.recv())[0] == 3

    assert [e["reason"] for e in peer.events if e["event"] == "auth_failed"] == ["wrong password"]
    (state,) = peer.violations
    assert state["kind"] == "state" and state["message_id"] == "h1" and state["source"] == "peer"


def test_default_responses_are_schema_valid() -> None:
    """Every default answer of the peer passes ocpp-rpc's own validator, for every protocol."""
    require_peer()
    node = shutil.which("node")
    assert node is not None
    proc = subprocess.run(
        [node, str(PEER_SCRIPT), "--selfcheck"], cwd=PEER_DIR, capture_output=True, text=True, timeout=30
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 0, lines
    assert lines[-1]["ok"] and lines[-1]["checked"] == 14 + 25 + 36
