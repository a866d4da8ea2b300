"""The ``[evse.chademo]`` table of the station TOML: the charger's time-outs and behaviour choices.

``[evse.chademo]`` holds the :class:`~chargepoint.chademo.timeouts.ChargerConfig` choices that a site may need to
change (the capabilities the charger announces and the points where the reference is unsure, docs/chademo.md);
``[evse.chademo.timeouts]`` holds every :class:`~chargepoint.chademo.timeouts.ChademoTimeouts` field, in seconds,
under its field name. Absent keys keep the defaults from the reference. The ratings stay in ``[evse.ratings]``:
:func:`charger_config` joins them at assembly (``chargepoint.app.build_chademo``).

Not in the table, on purpose: the fixed thresholds of the reference that the safety of the sequence rests on
(unlock at <= 10 V, current <= 5 A before the contactors open, output < 20 V before d2, 50 V = EV contactors closed)
and the insulation-test tolerance. They stay as the reference gives them.

Parsing is done on the config module's ``_Table`` (typed getters that raise ``ConfigError`` naming the key); this
module only describes the keys and their bounds.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from chargepoint.chademo.timeouts import ChademoTimeouts, ChargerConfig
from chargepoint.hardware.interfaces import PowerRatings

__all__ = ["CHOICE_KEYS", "TIMEOUT_BOUNDS", "charger_config", "parse_chademo_table"]

# Upper bound of every time-out (s): an hour is far beyond any CHAdeMO deadline, and catches unit mistakes (ms).
_MAX_TIMEOUT_S = 3600.0
#: key -> (lowest, highest) in seconds. cycle_s: the standard's 100 ms (§1.3 [H]); the station's tick (0.1 s) is what
#: schedules the cycle in practice, so a shorter one only makes every tick send.
TIMEOUT_BOUNDS: dict[str, tuple[float, float]] = {
    f.name: ((0.01, 1.0) if f.name == "cycle_s" else (0.0, _MAX_TIMEOUT_S)) for f in fields(ChademoTimeouts)
}

#: ChargerConfig keys of ``[evse.chademo]``: key -> ("bool",) | ("int", lo, hi) | ("float", lo, hi) |
#: ("choice", options) | ("float_or_auto", lo, hi).
CHOICE_KEYS: dict[str, tuple[Any, ...]] = {
    "protocol_number": ("int", 1, 3),  # 109.0: 1 = 0.9, 2 = 1.x, 3 = 2.0
    "discharge_enabled": ("bool",),  # 109.4.0 + 0x208/0x209
    "dynamic_control": ("bool",),  # 118.0.0
    "dynamic_control_without_110": ("bool",),
    "welding_detection_support": ("bool",),  # 108.0
    "energizing_at": ("choice", ("lock", "insulation")),  # 109.5.2 (§9 item 10)
    "insulation_test_voltage_v": ("float", 50.0, 1000.0),  # capped at ratings.max_voltage_v
    "insulation_test_current_a": ("float", 0.1, 20.0),
    "stop_ramp_a_per_s": ("float", 0.0, 10_000.0),  # 0 = cut at once on a charger-initiated stop too
    "overcurrent_margin_a": ("float", 1.0, 100.0),
    "overvoltage_margin_v": ("float", 1.0, 100.0),
    "threshold_regulation_margin_v": ("float", 0.0, 50.0),
    "soc_level_units": ("choice", ("auto", "percent", "kwh")),
    "discharge_lower_threshold_v": ("float_or_auto", 0.0, 1000.0),  # 208.6-7; "auto" = 200.4-5 + margin
    "discharge_lower_threshold_margin": ("float", 0.0, 0.5),
    "discharge_voltage_hysteresis_v": ("float", 0.0, 100.0),
    "v2h_hold_remaining_time": ("bool",),
    "v2h_remaining_discharge_time_min": ("int", 0, 65_535),  # 209.1-2
    "sequence_number": ("int", 0, 255),  # 209.0
}


def parse_chademo_table(table: Any) -> ChargerConfig:
    """Read ``[evse.chademo]`` (and its ``timeouts`` sub-table) from a config ``_Table``; unknown keys are errors.
    The ratings of the result are the defaults: :func:`charger_config` puts the EVSE's own in."""
    d = ChargerConfig()
    values: dict[str, Any] = {}
    for key, spec in CHOICE_KEYS.items():
        default = getattr(d, key)
        kind = spec[0]
        if kind == "bool":
            values[key] = table.get(key, bool, default)
        elif kind == "int":
            values[key] = table.integer(key, default, spec[1], spec[2])
        elif kind == "float":
            values[key] = table.number(key, default, spec[1], spec[2])
        elif kind == "choice":
            values[key] = table.choice(key, spec[1], default)
        else:  # float_or_auto
            raw = table.get(key, (float, str), "auto")
            if raw == "auto":
                values[key] = None
            elif isinstance(raw, str):
                from chargepoint.config import ConfigError  # here: chargepoint.config imports this module

                raise ConfigError(f"{table.path}.{key}: expected a number (volts) or 'auto', got {raw!r}")
            else:
                values[key] = table.number(key, default, spec[1], spec[2])
    t = table.table("timeouts")
    dt = ChademoTimeouts()
    timeouts = {key: t.number(key, getattr(dt, key), lo, hi) for key, (lo, hi) in TIMEOUT_BOUNDS.items()}
    t.finish()
    table.finish()
    return ChargerConfig(**values, timeouts=ChademoTimeouts(**timeouts))


def charger_config(chademo: ChargerConfig | None, ratings: PowerRatings) -> ChargerConfig:
    """The charger's configuration for an EVSE: its ``[evse.chademo]`` choices with its ``[evse.ratings]``.
    Raises ValueError when the ratings do not fit CHAdeMO (:class:`ChargerConfig` checks them)."""
    return replace(chademo or ChargerConfig(), ratings=ratings)
