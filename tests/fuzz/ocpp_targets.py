"""Fuzz targets of the inbound OCPP path (1.6, 2.0.1, 2.1): strategies and the one check they all share.

:func:`check_frame` feeds a frame to a fresh adapter (real receive loop, StrictRouter, handlers) and asserts:

1. nothing escapes: the receive loop is alive afterwards;
2. no hang: the frame and a probe CALL after it are answered within :data:`~.ocpp_rig.FRAME_BOUND_S`;
3. the frame gets exactly the answers the oracle (:mod:`.ocpp_oracle`) prescribes: one CALLRESULT or CALLERROR of
   the right class with the right MessageId for a CALL, none for a response;
4. a frame that got no CALLRESULT changed no station state (:func:`~.ocpp_rig.fingerprint`);
5. the connection stays usable: the probe (GetLocalListVersion) after it gets its CALLRESULT;
6. everything the station sent is RFC 8259 JSON (no NaN / Infinity echoed back).
"""

from __future__ import annotations

import asyncio
import json
from functools import partial
from typing import Any

from hypothesis import strategies as st

from chargepoint.ocpp.strict import known_actions

from .budget import Target
from .ocpp_oracle import Expect, codes, expect
from .ocpp_rig import ADAPTERS, VERSIONS, AdapterRig, fingerprint, strict_loads
from .schemas import NOT_JSON, Mutation, mutations, valid_payload

Frame = str | bytes


def handled_actions(version: str) -> tuple[str, ...]:
    cls = ADAPTERS[version]
    found = {getattr(a, "value", a) for a in (getattr(getattr(cls, n, None), "_on_action", None) for n in dir(cls))}
    return tuple(sorted(str(a) for a in found if a is not None))


# ---------------------------------------------------------------------------------------------------- the check
async def _check(version: str, frame: Frame, expected: Expect | None) -> None:
    async with AdapterRig(version) as rig:
        before = fingerprint(rig)
        ex = await rig.exchange(frame)
        rig.receive_loop_alive()
        exp = expected if expected is not None else expect(version, frame, rig.handled)
        for text in ex.sent:
            strict_loads(text)  # raises on NaN / Infinity / invalid JSON sent to the CSMS
        assert len(ex.answers) == exp.answers, f"{exp.why}: expected {exp.answers} answer(s), got {ex.answers}"
        got_result = False
        if exp.answers:
            answer = ex.answers[0]
            assert answer[1] in exp.uids, f"{exp.why}: answer {answer} should carry one of {set(exp.uids)}"
            if answer[0] == 3:
                assert exp.result_ok, f"{exp.why}: a CALLRESULT {answer} instead of one of {set(exp.codes)}"
                got_result = True
            else:
                assert answer[2] in exp.codes, f"{exp.why}: CALLERROR {answer[2]!r}, expected one of {set(exp.codes)}"
        if not got_result:
            assert fingerprint(rig) == before, f"{exp.why}: a frame without CALLRESULT changed station state"


def check_frame(version: str, frame: Frame, expected: Expect | None = None) -> None:
    asyncio.run(_check(version, frame, expected))


# ---------------------------------------------------------------------------------------------------- raw input
_TOKENS = ['[', ']', '{', '}', ',', ':', '2', '3', '4', '6', '"u1"', '"Reset"', '"DataTransfer"', '{"type":"Hard"}',
           'NaN', '-Infinity', '1e400', 'true', 'null', '"', '\\', '-', '0', '.5', '"\\ud800"', '"\\u0000"', ' ']


def _valid_call(version: str) -> str:
    payload = {"type": "Soft"} if version == "1.6" else {"type": "OnIdle"}
    return json.dumps([2, "raw-1", "Reset", payload])


@st.composite
def _byte_mutation(draw: st.DrawFn, version: str) -> bytes:
    data = bytearray(_valid_call(version).encode())
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "insert", "delete"]))
        if op == "insert" or not data:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=3))
        elif op == "delete":
            del data[min(pos, len(data) - 1)]
        else:
            data[min(pos, len(data) - 1)] ^= 1 << draw(st.integers(0, 7))
    return bytes(data)


def _deep(n: int, kind: str) -> str:
    if kind == "array":
        return "[" * n + "]" * n
    if kind == "object":
        return '{"a":' * n + "1" + "}" * n
    return "[" * n  # unterminated


def raw_frames(version: str) -> st.SearchStrategy[Frame]:
    """Arbitrary bytes and text, token soup, bit-flipped valid frames, other encodings, deep nesting."""
    soup = st.lists(st.sampled_from(_TOKENS), max_size=40).map("".join)
    valid = _valid_call(version)
    encodings = st.sampled_from(["utf-16", "utf-32", "utf-16-le", "latin-1"]).map(
        lambda enc: (valid.replace("raw-1", "raw-\u00e9")).encode(enc))
    deep = st.builds(_deep, st.sampled_from([64, 900, 1000, 5000, 100_000]),
                     st.sampled_from(["array", "object", "open"]))
    frames: st.SearchStrategy[Frame] = st.one_of(
        st.binary(max_size=300), st.text(max_size=300), soup, _byte_mutation(version), encodings, deep,
        st.sampled_from(["", " ", "null", "[]", "{}", "0", '"x"', "[2]", "[2,", valid[:-1], valid + "]"]),
    )
    return frames


# ---------------------------------------------------------------------------------------------------- structure
_MARK = "@@fuzz-literal@@"
HOSTILE_LITERALS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e308", "-0", "5e-324",
                    "123456789012345678901234567890", "9" * 4300, "9" * 4301, "-" + "9" * 6000,
                    _deep(900, "array"), _deep(1000, "object"), _deep(20_000, "array")]


def _json_values() -> st.SearchStrategy[Any]:
    leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-(2**70), 2**70),
                       st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
                       st.sampled_from(["", "A" * 10_000, "\u202e\u0000\ufeff\U0001f50c", "Accepted", "Hard"]))
    return st.recursive(leaves, lambda c: st.one_of(
        st.lists(c, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=12), st.sampled_from(
            ["type", "connectorId", "evseId", "idTag", "idToken", "key", "value", "customData", "vendorId"])),
            c, max_size=4)), max_leaves=12)


@st.composite
def structural_frames(draw: st.DrawFn, version: str) -> str:
    """OCPP-J arrays that are syntactically JSON but wrong: types, arity, ids, actions, payloads, numbers."""
    handled = handled_actions(version)
    known = sorted(known_actions(version))
    mtype = draw(st.sampled_from([2, 2, 2, 2, 3, 4, 5, 6, 7, 0, -1, 2.0, True, False, "2", None, [2], 2**64]))
    uid = draw(st.one_of(st.sampled_from(["u1", "", "x" * 36, "x" * 37, "-1", "\u00e9\U0001f50c", " ", "probe"]),
                         st.integers(), st.none(), st.text(max_size=40)))
    action = draw(st.one_of(st.sampled_from(handled), st.sampled_from(known),
                            st.sampled_from(["", "reset", "Reset ", "FooBar", "__init__", "route_message"]),
                            st.integers(), st.none(), st.text(max_size=20)))
    some_action = draw(st.sampled_from(handled))
    payload = draw(st.one_of(valid_payload(version, some_action), _json_values(),
                             st.dictionaries(st.text(max_size=10), _json_values(), max_size=5)))
    elements: list[Any] = [mtype, uid, action, payload]
    arity = draw(st.sampled_from([4, 4, 4, 4, 4, 1, 2, 3, 5, 6]))
    elements = elements[:arity] + [draw(_json_values()) for _ in range(arity - 4)]
    literal = draw(st.one_of(st.none(), st.none(), st.sampled_from(HOSTILE_LITERALS)))
    if literal is None:
        return json.dumps(elements)
    where = draw(st.integers(0, len(elements) - 1))
    if where == 3 and isinstance(payload, dict) and payload and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(payload)))
        elements[3] = {**payload, key: _MARK}
    else:
        elements[where] = _MARK
    return json.dumps(elements).replace(json.dumps(_MARK), literal)


# ---------------------------------------------------------------------------------------------------- schema-guided
def _mutated_frame(version: str, action: str, m: Mutation) -> tuple[str, Expect]:
    uid = "mut-1"
    c = codes(version)
    if m.expected == NOT_JSON:
        assert m.text is not None
        text = f'[2, "{uid}", "{action}", {m.text}]'
        return text, Expect(1, frozenset({"-1"}), frozenset({c["format"]}), why=f"{m.kind} at {m.path}")
    return json.dumps([2, uid, action, m.payload]), Expect(
        1, frozenset({uid}), frozenset({c[m.expected]}), why=f"{action}: {m.kind} at {list(m.path)}")


def mutated_frames(version: str) -> st.SearchStrategy[tuple[str, Expect]]:
    """A valid request of a handled action with one field broken; the expected error class is known."""
    return st.sampled_from(handled_actions(version)).flatmap(
        lambda action: mutations(version, action).map(lambda m: _mutated_frame(version, action, m)))


def valid_frames(version: str) -> st.SearchStrategy[str]:
    """Schema-valid requests of every handled action (handlers must cope with any valid content)."""
    return st.sampled_from(handled_actions(version)).flatmap(
        lambda action: valid_payload(version, action).map(lambda p: json.dumps([2, "ok-1", action, p])))


def _check_expected(version: str, item: tuple[str, Expect]) -> None:
    check_frame(version, item[0], item[1])


def targets() -> list[Target]:
    out: list[Target] = []
    for v in VERSIONS:
        out += [
            Target(f"ocpp{v}/raw", raw_frames(v), partial(check_frame, v), 100),
            Target(f"ocpp{v}/structural", structural_frames(v), partial(check_frame, v), 150),
            Target(f"ocpp{v}/mutated", mutated_frames(v), partial(_check_expected, v), 150),
            Target(f"ocpp{v}/valid", valid_frames(v), partial(check_frame, v), 100),
        ]
    return out
