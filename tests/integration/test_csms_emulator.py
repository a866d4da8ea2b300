"""CSMS emulator against minimal charge points written with the ``ocpp`` library, over real loopback WebSockets:
boot and heartbeat, frame recording, CALL round trips and errors, basic auth, protocol selection and TLS.

The test stations are in csms_emulator_rig.py.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from csms_emulator_rig import assert_utc_z, boot_request, heartbeat_request, station
from ocpp.exceptions import NotImplementedError as OcppNotImplementedError
from ocpp.exceptions import NotSupportedError, OCPPError, TypeConstraintViolationError
from ocpp.v16 import call as call16
from ocpp.v21 import call as call21
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.headers import build_authorization_basic
from websockets.typing import Subprotocol

from hil.emulators.csms import CallError, CsmsBehaviour, CsmsEmulator, StationNotConnected


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_boot_and_heartbeat_accepted(protocol: str) -> None:
    async with CsmsEmulator() as csms, station(csms.url, "CP1", protocol) as st:
        await csms.wait_connected("CP1")
        assert csms.protocol_of("CP1") == protocol
        boot = await st.cp.call(boot_request(protocol), suppress=False)
        assert (boot.status, boot.interval) == ("Accepted", 300)
        assert_utc_z(boot.current_time)
        beat = await st.cp.call(heartbeat_request(protocol), suppress=False)
        assert_utc_z(beat.current_time)
        frame = await csms.wait_for("CP1", "BootNotification")
        assert frame.index == 0 and frame.direction == "rx"
        state = csms.station("CP1")
        assert (state.boot_status, state.heartbeat_count, state.action_counts["BootNotification"]) == ("Accepted", 1, 1)


@pytest.mark.parametrize(("protocol", "sequence"), [("ocpp2.0.1", "Pending"), ("ocpp1.6", "Rejected")])
async def test_boot_pending_or_rejected_then_accepted(protocol: str, sequence: str) -> None:
    behaviour = CsmsBehaviour(boot_statuses=[sequence, "Accepted"], boot_interval=60, pending_interval=2)
    async with CsmsEmulator(behaviour=behaviour) as csms, station(csms.url, "CP1", protocol) as st:
        first = await st.cp.call(boot_request(protocol), suppress=False)
        second = await st.cp.call(boot_request(protocol), suppress=False)
        third = await st.cp.call(boot_request(protocol), suppress=False)
        assert [(r.status, r.interval) for r in (first, second, third)] == [
            (sequence, 2),
            ("Accepted", 60),
            ("Accepted", 60),
        ]
        assert csms.station("CP1").boot_count == 3


async def test_frames_recorded_both_directions_with_resolved_actions() -> None:
    async with CsmsEmulator() as csms, station(csms.url, "CP1", "ocpp1.6") as st:
        await st.cp.call(boot_request("ocpp1.6"), suppress=False)
        await csms.call("CP1", "GetConfiguration", {"key": ["HeartbeatInterval"]})
        summary = [(f.direction, f.message_type, f.action) for f in csms.frames]
        assert summary == [
            ("rx", 2, "BootNotification"),
            ("tx", 3, "BootNotification"),
            ("tx", 2, "GetConfiguration"),
            ("rx", 3, "GetConfiguration"),
        ]
        assert [f.index for f in csms.frames] == [0, 1, 2, 3]
        assert all(a.t <= b.t for a, b in zip(csms.frames, csms.frames[1:], strict=False))
        for frame in csms.frames:
            assert frame.station_id == "CP1" and json.loads(frame.raw)[1] == frame.unique_id
        assert csms.frames[1].payload["status"] == "Accepted"
        assert csms.frames[2].raw == st.tap.rx[-1]  # byte-identical to what the station received
        assert [f.action for f in csms.calls("CP1")] == ["BootNotification"]


async def test_call_round_trip_16_get_configuration() -> None:
    async with CsmsEmulator() as csms, station(csms.url, "CP16", "ocpp1.6"):
        await csms.wait_connected("CP16")
        result = await csms.call("CP16", "GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]})
        assert result == {
            "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
            "unknownKey": ["Nope"],
        }
        # the library's own dataclass call() keeps working on the emulator's endpoint
        typed = await csms.endpoint("CP16").call(call16.GetConfiguration(key=["X"]), suppress=False)
        assert typed.unknown_key == ["X"]


async def test_call_round_trip_201_get_variables() -> None:
    request = {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}
    async with CsmsEmulator() as csms, station(csms.url, "CP201", "ocpp2.0.1"):
        await csms.wait_connected("CP201")
        result = await csms.call("CP201", "GetVariables", request)
        assert result == {
            "getVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "attributeValue": "42",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        }


async def test_callerror_surfaces_as_exception() -> None:
    async with CsmsEmulator() as csms, station(csms.url, "CP1", "ocpp2.0.1"):
        await csms.wait_connected("CP1")
        with pytest.raises(CallError) as raised:
            await csms.call("CP1", "Reset", {"type": "Immediate"})
        assert (raised.value.code, raised.value.description, raised.value.action) == (
            "InternalError",
            "reset exploded",
            "Reset",
        )
        with pytest.raises(CallError) as raised:  # no handler on the station: the library answers NotImplemented
            await csms.call("CP1", "ClearCache", {})
        assert raised.value.code == "NotImplemented"
        assert csms.frames[-1].action == "ClearCache" and csms.frames[-1].message_type == 4


async def test_invalid_or_unknown_call_is_refused_before_sending() -> None:
    async with CsmsEmulator() as csms, station(csms.url, "CP1", "ocpp1.6"):
        await csms.wait_connected("CP1")
        with pytest.raises(TypeConstraintViolationError):
            await csms.call("CP1", "GetConfiguration", {"key": "HeartbeatInterval"})
        with pytest.raises(ValueError, match=r"not an OCPP 1\.6 action"):
            await csms.call("CP1", "GetVariables", {})
        assert csms.frames == []
        with pytest.raises(StationNotConnected):
            await csms.call("nobody", "GetConfiguration", {})


async def test_basic_auth_accepted_and_refused() -> None:
    async with CsmsEmulator(basic_auth={"CP1": "s3cret-Pa55"}) as csms:
        auth = build_authorization_basic("CP1", "s3cret-Pa55")
        good: dict[str, Any] = {"additional_headers": {"Authorization": auth}}
        async with station(csms.url, "CP1", "ocpp1.6", **good) as st:
            assert (await st.cp.call(boot_request("ocpp1.6"), suppress=False)).status == "Accepted"
        refused: list[tuple[str, dict[str, Any]]] = [
            ("CP1", {"additional_headers": {"Authorization": build_authorization_basic("CP1", "wrong")}}),
            ("CP1", {"additional_headers": {"Authorization": build_authorization_basic("CP2", "s3cret-Pa55")}}),
            ("CP1", {}),
            ("CP9", {"additional_headers": {"Authorization": build_authorization_basic("CP9", "s3cret-Pa55")}}),
        ]
        for station_id, kwargs in refused:
            with pytest.raises(InvalidStatus) as raised:
                async with station(csms.url, station_id, "ocpp1.6", **kwargs):
                    pass
            assert raised.value.response.status_code == 401
            assert raised.value.response.headers["WWW-Authenticate"].startswith("Basic")
        reasons = [e.detail for e in csms.events if e.kind == "refused"]
        assert reasons == [
            "basic auth: wrong password",
            "basic auth: username 'CP2' is not the station id",
            "basic auth: no Authorization header",
            "basic auth: unknown station id",
        ]


async def test_unknown_and_unhandled_actions_on_21_get_callerror() -> None:
    @dataclass
    class FooBar:  # the library derives the action name from the class name
        value: int

    @dataclass
    class Reset:
        type: str

    async with CsmsEmulator() as csms, station(csms.url, "CP21", "ocpp2.1") as st:
        with pytest.raises(OcppNotImplementedError) as unknown:
            await st.cp.call(FooBar(1), suppress=False, skip_schema_validation=True)
        assert unknown.value.description == "Requested Action is not known by receiver"
        with pytest.raises(NotSupportedError):  # a CSMS -> CS action sent by the station
            await st.cp.call(Reset("Immediate"), suppress=False, skip_schema_validation=True)
        invalid = call21.Heartbeat(custom_data={"no_vendor_id": 1})
        with pytest.raises(OCPPError):  # schema violations are answered too (the library's validation)
            await st.cp.call(invalid, suppress=False, skip_schema_validation=True)
        assert [(f.action, f.message_type) for f in csms.frames if f.direction == "tx"] == [
            ("FooBar", 4),
            ("Reset", 4),
            ("Heartbeat", 4),
        ]


async def test_protocol_selection_follows_server_order() -> None:
    async with CsmsEmulator() as csms:
        async with station(csms.url, "A", "ocpp2.0.1", offer=["ocpp1.6", "ocpp2.0.1"]) as st:
            assert st.ws.subprotocol == "ocpp2.0.1"
            await csms.wait_connected("A")
            assert csms.protocol_of("A") == "ocpp2.0.1"
    async with CsmsEmulator(protocols=("ocpp1.6",)) as csms:
        async with station(csms.url, "B", "ocpp1.6", offer=["ocpp2.1", "ocpp1.6"]) as st:
            assert st.ws.subprotocol == "ocpp1.6"


async def test_protocol_mismatch_is_refused_with_close_1002() -> None:
    async with CsmsEmulator(protocols=("ocpp2.1",)) as csms:
        async with connect(csms.url + "CP1", subprotocols=[Subprotocol("ocpp1.6")], close_timeout=1) as ws:
            assert ws.subprotocol is None
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1002
        assert [e.kind for e in csms.events] == ["refused"]
        assert csms.protocol_of("CP1") is None


async def test_protocol_mismatch_http_mode_answers_400() -> None:
    async with CsmsEmulator(protocols=("ocpp2.1",), on_protocol_mismatch="http") as csms:
        for offer in ([Subprotocol("ocpp1.6")], None):
            with pytest.raises(InvalidStatus) as raised:
                async with connect(csms.url + "CP1", subprotocols=offer):
                    pass
            assert raised.value.response.status_code == 400
        assert [e.kind for e in csms.events] == ["refused", "refused"]


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl CLI to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_with_basic_auth_security_profile_2(tls_cert: tuple[Path, Path]) -> None:
    cert, key = tls_cert
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    auth: dict[str, Any] = {"additional_headers": {"Authorization": build_authorization_basic("CP1", "pw")}}
    async with CsmsEmulator(basic_auth={"CP1": "pw"}, ssl_context=server_ctx) as csms:
        assert csms.url.startswith("wss://127.0.0.1:")
        async with station(csms.url, "CP1", "ocpp2.1", ssl=client_ctx, **auth) as st:
            assert (await st.cp.call(boot_request("ocpp2.1"), suppress=False)).status == "Accepted"
