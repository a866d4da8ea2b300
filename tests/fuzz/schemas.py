"""Schema-guided generation: valid OCPP request payloads from the ``ocpp`` library's JSON schemas, and single-field
mutations of them whose expected CALLERROR class is known by construction.

Only the JSON-schema subset the bundled OCPP 1.6 / 2.0.1 / 2.1 request schemas use is understood: ``type``,
``properties`` / ``required`` / ``additionalProperties``, ``items`` / ``minItems`` / ``maxItems``, ``enum``,
``maxLength``, ``minimum`` / ``maximum``, ``multipleOf`` (1.6: 0.1), ``format`` and local ``$ref``.
"""

from __future__ import annotations

import copy
import functools
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ocpp
from hypothesis import strategies as st

Json = Any
JsonPath = tuple[str | int, ...]

# Values that make handlers do real work rather than bounce off "unknown id": the rig's EVSE ids, tags the rig's
# local list knows, names the 1.6 configuration and the 2.x device model know.
ID_HINTS = st.integers(-1, 3)
NAME_HINTS = st.sampled_from([
    "HeartbeatInterval", "MeterValueSampleInterval", "AuthorizeRemoteTxRequests", "LocalAuthListEnabled",
    "OCPPCommCtrlr", "AuthCtrlr", "SampledDataCtrlr", "TxCtrlr", "DeviceDataCtrlr", "EVSE", "Connector",
    "ChargingStation", "Enabled", "AvailabilityState", "ItemsPerMessage", "BytesPerMessage", "MessageTimeout",
    "TxStartPoint", "ClockAlignedDataInterval", "SecurityCtrlr", "BasicAuthPassword",
])
TAG_HINTS = st.sampled_from(["TAG1", "TAG2", "LOCAL1", "X"])
_HINTS: dict[str, st.SearchStrategy[Any]] = {
    "connectorId": ID_HINTS, "evseId": ID_HINTS, "id": ID_HINTS, "transactionId": st.one_of(ID_HINTS, st.just("tx")),
    "name": NAME_HINTS, "key": NAME_HINTS, "idTag": TAG_HINTS, "idToken": TAG_HINTS,
    "value": st.sampled_from(["0", "1", "true", "false", "60", "-5", ""]),
    "attributeValue": st.sampled_from(["0", "1", "true", "false", "60", "-5", "Energy.Active.Import.Register"]),
}
_DATES = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


@functools.cache
def request_schema(version: str, action: str) -> dict[str, Any]:
    """The request schema as the ``ocpp`` library bundles it. Read from the file, not through
    ``ocpp.messages.get_validator``: its cache ignores ``parse_float``, and priming it with float numbers would break
    the decimal validation StrictRouter relies on for 1.6 SetChargingProfile / RemoteStartTransaction."""
    name = action if version == "1.6" else f"{action}Request"
    path = Path(ocpp.__file__).parent / f"v{version.replace('.', '')}" / "schemas" / f"{name}.json"
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8-sig"))
    return schema


def resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        ref: str = node["$ref"]
        assert ref.startswith("#/"), ref
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


def _types(node: dict[str, Any]) -> set[str]:
    t = node.get("type")
    if t is None:
        return set()
    return {t} if isinstance(t, str) else set(t)


def valid_value(node: dict[str, Any], root: dict[str, Any], key: str | None = None,
                depth: int = 0) -> st.SearchStrategy[Json]:
    """A strategy of values that validate against ``node``."""
    node = resolve(node, root)
    if "enum" in node:
        return st.sampled_from(node["enum"])
    types = _types(node)
    if "object" in types:
        props: dict[str, Any] = node.get("properties", {})
        required = [p for p in node.get("required", []) if p in props]
        optional = [p for p in props if p not in required]
        if depth > 6:  # keep optional subtrees shallow; required ones are needed for validity
            optional = []
        return st.fixed_dictionaries(
            {p: valid_value(props[p], root, p, depth + 1) for p in required},
            optional={p: valid_value(props[p], root, p, depth + 1) for p in optional},
        )
    if "array" in types:
        lo = int(node.get("minItems", 0))
        hi = max(lo, min(int(node.get("maxItems", lo + 3)), lo + 3))
        return st.lists(valid_value(node.get("items", {}), root, key, depth + 1), min_size=lo, max_size=hi)
    if "string" in types:
        if node.get("format") == "date-time":
            return _DATES.map(lambda d: d.isoformat().replace("+00:00", "Z"))
        if node.get("format") == "uri":
            return st.sampled_from(["https://example.com/x", "ftp://h/p"])
        max_len = int(node.get("maxLength", 50))
        text = st.text(max_size=min(max_len, 40))
        hint = _HINTS.get(key or "")
        if hint is not None:
            text = st.one_of(hint.filter(lambda v: isinstance(v, str) and len(v) <= max_len), text)
        return text
    if "integer" in types:
        lo_i = node.get("minimum")
        hi_i = node.get("maximum")
        wide = st.integers(int(lo_i) if lo_i is not None else -(2**31), int(hi_i) if hi_i is not None else 2**31)
        hint = _HINTS.get(key or "")
        if hint is not None:
            wide = st.one_of(hint.filter(lambda v: isinstance(v, int) and (lo_i is None or v >= lo_i)
                                         and (hi_i is None or v <= hi_i)), wide)
        return wide
    if "number" in types:
        lo_f = float(node.get("minimum", -1e6))
        hi_f = float(node.get("maximum", 1e6))
        if "multipleOf" in node:  # 1.6: multiples of 0.1, validated as decimals
            return st.integers(math.ceil(lo_f * 10), math.floor(hi_f * 10)).map(lambda k: k / 10)
        return st.floats(lo_f, hi_f, allow_nan=False, allow_infinity=False)
    if "boolean" in types:
        return st.booleans()
    return st.none()


def valid_payload(version: str, action: str) -> st.SearchStrategy[dict[str, Any]]:
    schema = request_schema(version, action)
    strategy: st.SearchStrategy[dict[str, Any]] = valid_value(schema, schema)
    return strategy


# ---------------------------------------------------------------------------------------------------- mutations
OCCURRENCE = "occurrence"
TYPE = "type"
PROPERTY = "property"
NOT_JSON = "not-json"  # the frame text is no longer RFC 8259 JSON


@dataclass(frozen=True)
class Site:
    path: JsonPath
    node: dict[str, Any]  # resolved schema of the value at path
    value: Json
    parent_required: bool  # the value is a required property of its object (or an array item)


def sites(node: dict[str, Any], root: dict[str, Any], value: Json, path: JsonPath = (),
          required: bool = True) -> list[Site]:
    """Every value in ``value`` with its schema, in document order."""
    node = resolve(node, root)
    out = [Site(path, node, value, required)]
    if isinstance(value, dict):
        props: dict[str, Any] = node.get("properties", {})
        req = set(node.get("required", []))
        for k, v in value.items():
            if k in props:
                out += sites(props[k], root, v, (*path, k), k in req)
    elif isinstance(value, list):
        items = node.get("items", {})
        for i, v in enumerate(value):
            out += sites(items, root, v, (*path, i), True)
    return out


@dataclass(frozen=True)
class Mutation:
    kind: str
    expected: str  # OCCURRENCE | TYPE | PROPERTY | NOT_JSON
    path: JsonPath
    payload: Json | None  # the mutated payload (None when the frame is rendered as text: see ``text``)
    text: str | None = None  # a raw replacement for the value at ``path`` (non-JSON numbers, huge integers)


def _set(doc: Json, path: JsonPath, value: Json) -> Json:
    if not path:
        return value
    out = copy.deepcopy(doc)
    target = out
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value
    return out


def _delete(doc: Json, path: JsonPath) -> Json:
    out = copy.deepcopy(doc)
    target = out
    for p in path[:-1]:
        target = target[p]
    del target[path[-1]]
    return out


_WRONG_TYPE_VALUES: dict[str, list[Json]] = {
    "object": [[], "x", 1, True, None],
    "array": [{}, "x", 1, False, None],
    "string": [1, 1.5, True, None, [], {}],
    "integer": ["1", 1.5, True, None, [], {}],
    "number": ["1.5", True, None, [], {}],
    "boolean": [0, "true", None, [], {}],
}


@st.composite
def mutations(draw: st.DrawFn, version: str, action: str) -> Mutation:
    """A valid payload of ``action`` with exactly one defect of a known class."""
    schema = request_schema(version, action)
    payload = draw(valid_payload(version, action))
    candidates = sites(schema, schema, payload)
    site = draw(st.sampled_from(candidates))
    node, value, path = site.node, site.value, site.path
    types = _types(node)
    kinds: list[str] = ["wrong_type"] if types and path else []
    if isinstance(value, dict):
        present_required = [p for p in node.get("required", []) if p in value]
        if present_required:
            kinds.append("drop_required")
        if node.get("additionalProperties") is False:
            kinds.append("extra_property")
    if isinstance(value, str) and "enum" in node:
        kinds.append("out_of_enum")
    if isinstance(value, str) and "maxLength" in node:
        kinds.append("too_long")
    if isinstance(value, list):
        if "maxItems" in node:
            kinds.append("too_many_items")
        if node.get("minItems", 0) > 0:
            kinds.append("too_few_items")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in node:
            kinds.append("below_minimum")
        if "maximum" in node:
            kinds.append("above_maximum")
        kinds += ["non_json_number", "overlong_integer"]
    if not kinds:
        kinds = ["drop_required"] if isinstance(payload, dict) and schema.get("required") else ["extra_property"]
        site = candidates[0]
        node, value, path = site.node, payload, ()
    kind = draw(st.sampled_from(kinds))

    if kind == "wrong_type":
        allowed = types | ({"integer"} if "number" in types else set())
        bad = [v for t in types for v in _WRONG_TYPE_VALUES.get(t, []) if _json_type(v) not in allowed]
        return Mutation(kind, TYPE, path, _set(payload, path, draw(st.sampled_from(bad))))
    if kind == "drop_required":
        req = [p for p in node.get("required", []) if p in value]
        return Mutation(kind, OCCURRENCE, path, _delete(payload, (*path, draw(st.sampled_from(req)))))
    if kind == "extra_property":
        extra = draw(st.sampled_from(["fuzzExtra", "ExtraField", "\u00e9t\u00e9", "__proto__"]))
        props = node.get("properties", {})
        if extra in props:
            extra = "fuzzExtra"
        return Mutation(kind, OCCURRENCE, path, _set(payload, path, {**value, extra: draw(_any_json())}))
    if kind == "out_of_enum":
        enum = node["enum"]
        bad_s = draw(st.one_of(st.sampled_from([e.lower() for e in enum] + [e + " " for e in enum] + [""]),
                               st.text(max_size=30)).filter(lambda s: s not in enum))
        return Mutation(kind, PROPERTY, path, _set(payload, path, bad_s))
    if kind == "too_long":
        n = int(node["maxLength"])
        extra_len = draw(st.sampled_from([1, 2, 100, 5000]))
        ch = draw(st.sampled_from(["A", "\u00e9", "\U0001f50c", "\x00"]))
        return Mutation(kind, PROPERTY, path, _set(payload, path, ch * (n + extra_len)))
    if kind == "too_many_items":
        items = value or [draw(valid_value(node.get("items", {}), schema))]
        longer = (items * (int(node["maxItems"]) + 1))[: int(node["maxItems"]) + 1]
        return Mutation(kind, OCCURRENCE, path, _set(payload, path, longer))
    if kind == "too_few_items":
        return Mutation(kind, OCCURRENCE, path, _set(payload, path, []))
    if kind in ("below_minimum", "above_maximum"):  # keep the JSON type: 2.1 writes integer bounds as 0.0
        bound = node["minimum"] if kind == "below_minimum" else node["maximum"]
        delta = draw(st.sampled_from([1, 1000, 2**63]))
        bad_n = bound - delta if kind == "below_minimum" else bound + delta
        return Mutation(kind, PROPERTY, path, _set(payload, path, int(bad_n) if isinstance(value, int) else bad_n))
    if kind == "non_json_number":  # NaN / Infinity literals, or a float literal that overflows to infinity
        literal = draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e99999"]))
        return Mutation(kind, NOT_JSON, path, None, _render_with(payload, path, literal))
    # overlong_integer: more digits than Python will convert (4300); the text is JSON but unparsable here
    digits = draw(st.integers(4301, 6000))
    return Mutation(kind, NOT_JSON, path, None, _render_with(payload, path, "9" * digits))


_MARK = "\u0000fuzz-mark\u0000"


def _render_with(payload: Json, path: JsonPath, literal: str) -> str:
    """The payload as JSON text with the value at ``path`` replaced by ``literal`` verbatim."""
    text = json.dumps(_set(payload, path, _MARK))
    return text.replace(json.dumps(_MARK), literal)


def _json_type(v: Json) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _any_json() -> st.SearchStrategy[Json]:
    leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                       st.text(max_size=20))
    return st.recursive(leaves, lambda c: st.one_of(st.lists(c, max_size=3),
                                                    st.dictionaries(st.text(max_size=8), c, max_size=3)),
                        max_leaves=8)
