"""Regression (fuzz finding): frames the JSON parser chokes on in ways other than JSONDecodeError.

Found by the raw and structural OCPP targets. Before the fix, a frame nested a few thousand levels deep raised
RecursionError and an integer literal of more than 4300 digits raised ValueError out of ``route_message``: the
adapter's receive loop died, and with it the session. NaN / Infinity (and float literals that overflow to infinity)
were accepted although RFC 8259 has no such values, could reach handlers and be echoed back to the CSMS as invalid
JSON; binary frames in UTF-16/32 were decoded by guessing. A payload nested a few hundred levels deep passed the parser
(depending on the stack depth at the time) and then failed in a handler's echo (InternalError).
Now all of these are "not JSON": FormatViolation / FormationViolation with MessageId "-1", nothing else happens and
the connection stays usable.
"""

from __future__ import annotations

import json

import pytest

from chargepoint.ocpp.strict import MAX_NESTING, parse_frame

from .ocpp_rig import VERSIONS, AdapterRig, fingerprint

DEEP = "[" * 5000 + "]" * 5000
HUGE_INT = "9" * 5000


def _frames(version: str) -> list[str | bytes]:
    reset = '{"type": "Hard"}' if version == "1.6" else '{"type": "Immediate"}'
    valid = f'[2, "r1", "Reset", {reset}]'
    return [
        DEEP,
        "[" * 100_000,
        f'[2, "r1", "Reset", {{"type": {DEEP}}}]',
        f'[2, "r1", "Reset", {{"type": {HUGE_INT}}}]',
        f'[2, "r1", "Reset", {{"type": "Hard", "x": {HUGE_INT}}}]',
        "NaN",
        '[2, "r1", "DataTransfer", {"vendorId": "v", "data": NaN}]',
        '[2, "r1", "DataTransfer", {"vendorId": "v", "data": -Infinity}]',
        '[2, "r1", "DataTransfer", {"vendorId": "v", "data": 1e400}]',
        valid.encode("utf-16"),
        valid.encode("utf-32"),
        b"\xff" + valid.encode(),
    ]


@pytest.mark.parametrize("version", VERSIONS)
async def test_unparsable_frames_are_format_violations_and_the_connection_lives_on(version: str) -> None:
    code = "FormationViolation" if version == "1.6" else "FormatViolation"
    async with AdapterRig(version) as rig:
        before = fingerprint(rig)
        for frame in _frames(version):
            ex = await rig.exchange(frame)  # also proves the receive loop is alive and answers the next CALL
            assert [a[:3] for a in ex.answers] == [[4, "-1", code]], (str(frame)[:60], ex.answers)
        assert fingerprint(rig) == before


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
async def test_nesting_beyond_the_limit_is_refused_before_any_handler(version: str) -> None:
    def get_variables(depth: int) -> str:
        vendor = {"vendorId": "v", "x": json.loads("[" * depth + "]" * depth)}
        item = {"component": {"name": "OCPPCommCtrlr", "customData": vendor}, "variable": {"name": "HeartbeatInterval"}}
        return json.dumps([2, "g1", "GetVariables", {"getVariableData": [item]}])

    async with AdapterRig(version) as rig:
        # frame, payload, list, item, component, customData = 6 levels before the vendor's own nesting
        ok = await rig.exchange(get_variables(MAX_NESTING - 6))
        assert ok.answers[0][0] == 3  # echoed back (customData included) without trouble
        refused = await rig.exchange(get_variables(MAX_NESTING - 5))
        assert [a[:3] for a in refused.answers] == [[4, "-1", "FormatViolation"]]
        refused = await rig.exchange(get_variables(500))  # was InternalError (RecursionError in the echo)
        assert [a[:3] for a in refused.answers] == [[4, "-1", "FormatViolation"]]


def test_parse_frame_accepts_exactly_rfc8259_json_in_utf8() -> None:
    assert parse_frame('[2, "a", "Reset", {"x": 1.5e300, "y": -0.0, "z": 12345678901234567890}]')[3]["x"] == 1.5e300
    assert parse_frame(b'[3, "a", {"t": "\\u00e9"}]') == [3, "a", {"t": "\u00e9"}]
    for bad in ("NaN", "[Infinity]", "[1e309]", "[" + "1" * 4301 + "]", DEEP, b"\xfe\xff", "[1]".encode("utf-16")):
        with pytest.raises(ValueError):
            parse_frame(bad)
