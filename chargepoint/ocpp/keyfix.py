"""A correct snake_case -> camelCase key conversion for the `ocpp` library (its 2.1 defect, neutralised).

The library converts outgoing payload keys with a rule-based ``snake_to_camel_case`` that capitalises after every
underscore and rewrites every ``soc`` substring. For OCPP 2.1 that corrupts 43 property names (``limit_L2`` ->
``limitL2``, ``LimitAtSoCType.soc`` -> ``SoC``, ``receiptUrl`` -> ``receiptURL`` ...), so schema validation of our own
messages fails. OCPP 1.6 and 2.0.1 have no such names.

The fix is data-driven: every property name of every bundled JSON schema (1.6, 2.0.1, 2.1) is mapped from the
snake_case spelling the library uses for dataclass fields back to its exact schema spelling; keys not in the table
fall back to the library's rule. :func:`install` swaps the converter in ``ocpp.charge_point`` (the library looks
it up at call time for ``call()`` and for CALLRESULTs), once per process; the table is checked for conflicts
across versions when it is built, so 1.6 and 2.0.1 traffic converts exactly as before.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import ocpp
import ocpp.charge_point

_library_snake_to_camel = ocpp.charge_point.snake_to_camel_case


def library_camel(key: str) -> str:
    """The camelCase spelling the library's rule gives one snake_case key (reproduced for single keys, because the
    library's function recurses through the module global this module replaces)."""
    key = key.replace("soc", "SoC").replace("_v2x", "V2X")
    key = key.replace("ocpp_csms_url", "ocppCsmsUrl").replace("csms", "CSMS").replace("_url", "URL")
    key = key.replace("soc", "SoC").replace("_SoCket", "Socket").replace("_v2x", "V2X")
    key = key.replace("soc_limit_reached", "SOCLimitReached").replace("_v2x", "V2X").replace("_v2g", "V2G")
    head, *rest = key.split("_")
    return head + "".join(x[:1].upper() + x[1:] for x in rest)


def library_snake(name: str) -> str:
    """The snake_case spelling the library derives from a camelCase property name (its camel_to_snake rule)."""
    key = name.replace("ocppCSMSURL", "ocpp_csms_url").replace("V2X", "_v2x").replace("V2G", "_v2g")
    s1 = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", key)
    return re.sub("([a-z0-9])([A-Z])(?=\\S)", r"\1_\2", s1).lower()


def _property_names(schema: Any, out: set[str]) -> None:
    if isinstance(schema, dict):
        props = schema.get("properties")
        if isinstance(props, dict):
            out.update(props)
        for v in schema.values():
            _property_names(v, out)
    elif isinstance(schema, list):
        for v in schema:
            _property_names(v, out)


@functools.cache
def exceptions_table() -> dict[str, str]:
    """snake -> exact camel for every schema property the library's rule gets wrong."""
    root = Path(ocpp.__file__).parent
    names: set[str] = set()
    for version in ("v16", "v201", "v21"):
        for f in (root / version / "schemas").glob("*.json"):
            _property_names(json.loads(f.read_text(encoding="utf-8-sig")), names)
    table: dict[str, str] = {}
    conflicts: dict[str, set[str]] = {}
    for camel in names:
        snake = library_snake(camel)
        if library_camel(snake) == camel:
            continue
        if snake in table and table[snake] != camel:
            conflicts.setdefault(snake, {table[snake]}).add(camel)
        table[snake] = camel
    for snake in conflicts:  # ambiguous spellings are resolved by context in snake_to_camel_case
        table.pop(snake, None)
    # Dataclass fields the library spells differently from library_snake() (see library-notes §1.2).
    table.setdefault("iso_15118_certificate_hash_data", "iso15118CertificateHashData")
    table.setdefault("prioritized_emaids", "prioritizedEMAIDs")
    return table


# "soc" is LimitAtSoCType.soc (profiles) but BatteryDataType.soC (battery swap, which carries soH beside it).
_BATTERY_DATA_KEYS = frozenset({"soh", "serial_number"})


def snake_to_camel_case(data: Any) -> Any:
    table = exceptions_table()
    if isinstance(data, dict):
        out = {}
        battery = not _BATTERY_DATA_KEYS.isdisjoint(data)
        for key, value in data.items():
            camel = table.get(key)
            if key == "soc":
                camel = "soC" if battery else "soc"
            if camel is None:
                camel = library_camel(key)
            out[camel] = snake_to_camel_case(value)
        return out
    if isinstance(data, list):
        return [snake_to_camel_case(v) for v in data]
    return data


def install() -> None:
    """Replace the library's converter (idempotent)."""
    ocpp.charge_point.snake_to_camel_case = snake_to_camel_case
