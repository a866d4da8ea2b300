"""Configuration of the CHAdeMO charger state machine: time-outs and behaviour choices.

Every time-out is a field with its default taken from the reference (``docs/reference/reference.md``); the section
and confidence tag are given in the comment. Where the reference is unsure ([L], or no number at all) the default
is a documented choice (see ``docs/chademo.md``) and stays configurable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from chargepoint.hardware.interfaces import PowerRatings

__all__ = ["ChademoTimeouts", "ChargerConfig"]


@dataclass(frozen=True, slots=True)
class ChademoTimeouts:
    """All charger-side time limits, in seconds."""

    cycle_s: float = 0.1  # §1.3 [H]: every message every 100 ms
    ev_can_timeout_s: float = 8.0  # d1 -> first EV 0x102 (no figure in the reference; = permission T-time)
    permission_timeout_s: float = 8.0  # §3.1.6 [M]: T-time d1 -> k and 102.5.0
    lock_timeout_s: float = 2.0  # lock feedback after the lock command (choice, reference has none) [L]
    contactors_open_check_s: float = 1.0  # output must be < 10 V before the insulation test (choice) [L]
    insulation_ramp_timeout_s: float = 10.0  # reach the test voltage (obs. 5 s at ~100 V/s) [M]
    insulation_hold_s: float = 1.0  # obs. hold 1-3 s [M]
    insulation_discharge_timeout_s: float = 5.0  # test voltage -> < 20 V (choice) [L]
    d2_deadline_s: float = 20.0  # §3.1.9 [M]: C-time k + 102.5.0 -> d2
    contactor_close_timeout_s: float = 4.0  # §3.1.10 / §4 row 15 [M]: T-time d2 -> EV contactors closed
    precharge_s: float = 0.2  # converter voltage matched before closing the output contactor (choice)
    first_request_timeout_s: float = 4.0  # §3.1.11 / row 15 [M]: contactors closed -> first request
    can_timeout_s: float = 1.0  # §1.3 / row 13 [M]: CAN silence that stops the charger
    line_mismatch_s: float = 0.5  # row 14 [M]: j and 102.5.0 may disagree this long (one side lags)
    request_over_available_s: float = 1.0  # row 10 [M]: EV request above 108.3 tolerated this long
    stop_current_deadline_s: float = 0.5  # §3.2.2 [M]: C-time k off -> current <= 5 A
    current_off_timeout_s: float = 2.0  # current still > 5 A after this -> charger malfunction (choice)
    welding_timeout_s: float = 10.0  # §3.2.4 / row 15 [M]: T-time 109.5.0 -> 0 until 102.5.3 = 1
    welding_wait_proto1_s: float = 4.0  # §2.8 [M]: protocol 1 has no 102.5.3; wait this long
    d2_to_d1_s: float = 0.5  # §3.2.5 [M]: open d2, wait >= 0.5 s, open d1
    unlock_voltage_timeout_s: float = 4.0  # §3.2.6 [M]: T-time for the output to fall to <= 10 V
    tx_tail_s: float = 0.6  # §1.3 obs.: CAN runs 0.5-0.8 s after 109.5.2 clears
    overcurrent_s: float = 0.5  # output current above its limit + margin this long -> malfunction (choice)
    threshold_voltage_s: float = 0.0  # output at/above 108.4-5 this long -> stop (row 11: "at once")

    def __post_init__(self) -> None:
        for name in self.__slots__:
            value = getattr(self, name)
            if not value >= 0.0:
                raise ValueError(f"ChademoTimeouts.{name} must be >= 0, got {value!r}")
        if self.cycle_s <= 0:
            raise ValueError("ChademoTimeouts.cycle_s must be > 0")


@dataclass(frozen=True, slots=True)
class ChargerConfig:
    """Charger capabilities and behaviour choices.

    ``protocol_number``: sent in 109.0; the session behaves as min(EV, charger) (1 = 0.9, 2 = 1.x, 3 = 2.0).
    ``energizing_at``: when 109.5.2 is set - at lock time (Indra) or at the start of the insulation test (public
    charger); both worked with a Leaf (§9 item 10).
    ``soc_level_units``: unit of 200.6/200.7. "auto" = percent when the car sends 0x201 (guideline 1.1+) or both
    values are <= 100, else 0.1 kWh against 101.5-6 (pre-guideline-1.0 cars, §2.6) [M/L].
    ``dynamic_control_without_110``: also vary 108.3 for cars that do not send 0x110 (ZE0/AZE0 Leafs followed it
    in a public log, §2.7) [M].
    """

    ratings: PowerRatings = field(default_factory=PowerRatings)
    protocol_number: int = 2
    discharge_enabled: bool = True  # 109.4.0 + 0x208/0x209
    dynamic_control: bool = True  # 118.0.0
    dynamic_control_without_110: bool = True
    welding_detection_support: bool = True  # 108.0
    energizing_at: Literal["lock", "insulation"] = "lock"
    insulation_test_voltage_v: float = 500.0  # obs. 480-505 V [M]; capped at ratings.max_voltage_v
    insulation_test_current_a: float = 2.0  # converter current limit while charging the output for the test
    insulation_tolerance_v: float = 10.0  # "test voltage reached" when within this of the target
    contactor_detect_voltage_v: float = 50.0  # §3.1.10: battery voltage on the output = EV contactors closed
    isolation_end_voltage_v: float = 20.0  # §3.1.8: test finished when below this
    safe_voltage_v: float = 10.0  # §1.2: EV contactors open / unlock allowed at or below this
    stop_current_a: float = 5.0  # §3.2: "current <= 5 A"
    stop_ramp_a_per_s: float = 50.0  # charger-initiated normal stop ramp while the car still permits (obs. ~0.6 s)
    overcurrent_margin_a: float = 10.0  # measured current above the allowed current + this -> malfunction
    threshold_regulation_margin_v: float = 2.0  # regulate this far below 108.4-5 so the trip stays a protection
    overvoltage_margin_v: float = 10.0  # measured voltage above ratings.max_voltage_v + this -> malfunction
    soc_level_units: Literal["auto", "percent", "kwh"] = "auto"
    discharge_lower_threshold_v: float | None = None  # 208.6-7; None = 200.4-5 * (1 + margin), 250 V until known
    discharge_lower_threshold_margin: float = 0.02  # Battery-Emulator: 200.4-5 + 2 % [M]
    discharge_voltage_hysteresis_v: float = 10.0  # discharge resumes after the floor only this far above it
    v2h_hold_remaining_time: bool = True  # §3.4.6: bidirectional sessions hold 109.6-7 (Indra) instead of counting
    v2h_remaining_discharge_time_min: int = 5  # 209.1-2 once energy transfer runs (Indra) [M]
    sequence_number: int = 2  # 209.0 [M]
    timeouts: ChademoTimeouts = field(default_factory=ChademoTimeouts)

    def __post_init__(self) -> None:
        if self.protocol_number not in (1, 2, 3):
            raise ValueError("protocol_number must be 1 (0.9), 2 (1.x) or 3 (2.0)")
        if self.energizing_at not in ("lock", "insulation"):
            raise ValueError("energizing_at must be 'lock' or 'insulation'")
        if self.soc_level_units not in ("auto", "percent", "kwh"):
            raise ValueError("soc_level_units must be 'auto', 'percent' or 'kwh'")
        if not 0 < self.ratings.max_charge_current_a <= 255:
            raise ValueError("ratings.max_charge_current_a must be in (0, 255] (one byte on the wire)")
        if not 0 <= self.ratings.max_discharge_current_a <= 255:
            raise ValueError("ratings.max_discharge_current_a must be in [0, 255]")
