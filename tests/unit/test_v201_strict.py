"""Malformed and invalid CSMS frames get the OCPP 2.0.1 CALLERROR, change nothing, and the connection lives on."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ocpp.exceptions import PropertyConstraintViolationError
from ocpp.v201 import call
from v201_rig import Rig


async def error_for(r: Rig, frame: list[Any] | str) -> list[Any]:
    text = frame if isinstance(frame, str) else json.dumps(frame)
    await r.send_raw(text)
    uid = frame[1] if isinstance(frame, list) and len(frame) > 1 and isinstance(frame[1], str) else "-1"
    return await r.wait_error(uid)


async def still_alive(r: Rig) -> None:
    assert (await r.request(call.GetLocalListVersion())).version_number == 0


async def test_not_json_is_format_violation() -> None:
    async with Rig() as r:
        err = await error_for(r, '[2, "m1", "Reset", {"type": ')
        assert err[:3] == [4, "-1", "FormatViolation"]
        await still_alive(r)


@pytest.mark.parametrize("frame", ['{"not": "an array"}', "[2]", '[2, 17, "Reset", {}]', '["2", "x", "Reset", {}]'])
async def test_not_an_ocpp_j_array_is_rpc_framework_error(frame: str) -> None:
    async with Rig() as r:
        await r.send_raw(frame)
        err = await r.wire.wait(lambda: next((f.msg for f in r.wire.frames if f.direction == ">" and
                                              isinstance(f.msg, list) and f.msg[0] == 4), None))
        assert err[2] == "RpcFrameworkError"
        await still_alive(r)


async def test_unknown_message_type_is_message_type_not_supported() -> None:
    async with Rig() as r:
        err = await error_for(r, [7, "m7", "Reset", {}])
        assert err[2] == "MessageTypeNotSupported"


async def test_unknown_action_is_not_implemented() -> None:
    async with Rig() as r:
        err = await error_for(r, [2, "m2", "MakeCoffee", {}])
        assert err[2] == "NotImplemented"
        await still_alive(r)


async def test_known_but_unsupported_action_is_not_supported() -> None:
    async with Rig() as r:
        err = await error_for(r, [2, "m3", "GetDisplayMessages", {"requestId": 1}])
        assert err[2] == "NotSupported"


@pytest.mark.parametrize(
    ("action", "payload", "code"),
    [
        ("RequestStartTransaction", {"remoteStartId": 1}, "OccurrenceConstraintViolation"),  # idToken missing
        ("RequestStartTransaction", {"remoteStartId": "one", "idToken": {"idToken": "A", "type": "Central"}},
         "TypeConstraintViolation"),
        ("RequestStartTransaction", {"remoteStartId": 1, "idToken": {"idToken": "A", "type": "Central"}, "x": 1},
         "OccurrenceConstraintViolation"),
        ("RequestStartTransaction", {"remoteStartId": 1, "idToken": {"idToken": "A" * 37, "type": "Central"}},
         "PropertyConstraintViolation"),
        ("Reset", {"type": "Hard"}, "PropertyConstraintViolation"),
        ("SetVariables", {"setVariableData": []}, "OccurrenceConstraintViolation"),
        ("SetVariables", {"setVariableData": [{"component": {"name": "OCPPCommCtrlr"},
                                               "variable": {"name": "HeartbeatInterval"}, "attributeValue": 10}]},
         "TypeConstraintViolation"),
        ("ChangeAvailability", ["Inoperative"], "FormatViolation"),
    ],
)
async def test_schema_violations_get_the_right_error_and_change_nothing(action: str, payload: Any,
                                                                        code: str) -> None:
    async with Rig() as r:
        err = await error_for(r, [2, "bad-1", action, payload])
        assert err[2] == code
        await r.flush()
        assert r.sent("Authorize") == [] and r.hooks.reboots == []
        assert r.settings.heartbeat_interval_s == 300 and r.station.operative
        assert all(e.pending is None for e in r.station.evses.values())
        await still_alive(r)


async def test_invalid_call_through_the_library_raises_the_error_code() -> None:
    async with Rig() as r:
        with pytest.raises(PropertyConstraintViolationError):
            await r.request(call.TriggerMessage(requested_message="Coffee"), validate=False)
