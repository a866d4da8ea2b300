"""Vehicle profiles and injectable faults for the CHAdeMO car emulator (:mod:`hil.emulators.ev`).

Nissan LEAF generations as seen in public logs (reference §2.3, §5, §6):

* ZE0 (2011-2012, 24 kWh): protocol 2, 102.5 status with bit 6 (0xC8/0xC9/0xC1), no 0x110/0x201/0x700,
  min charge current 0, not V2H-capable (Battery-Emulator wiki);
* AZE0 (2013-2017, 24/30 kWh): as ZE0 but V2H-capable (0x200 with kWh-based levels, 0x43/0xB3 = 67/179, i.e.
  6.7/17.9 kWh: 30.2 %/80.7 % of the 22.2 kWh rated capacity);
* ZE1 (2018+, 40/62 kWh): status without bit 6 (0x80/0x88/0x89/0x81), sends 0x110 = 01, 0x201 = 02, 0x700,
  0x202, min charge current 6 A, SoC levels in percent (10 / 100).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

__all__ = ["PROFILES", "EvFault", "EvProfile", "LeafGeneration", "leaf_profile"]


class LeafGeneration(StrEnum):
    ZE0 = "ZE0"
    AZE0 = "AZE0"
    ZE1 = "ZE1"


class EvFault(StrEnum):
    """Faults and misbehaviours the emulated car can be told to show (reference §4)."""

    BATTERY_OVERVOLTAGE = "battery_overvoltage"  # 102.4.0 (row 3)
    BATTERY_UNDERVOLTAGE = "battery_undervoltage"  # 102.4.1 (row 3)
    CURRENT_DEVIATION = "current_deviation"  # 102.4.2 + 102.5.0 = 0 + k off (row 4), forced
    HIGH_TEMPERATURE = "high_temperature"  # 102.4.3 (row 3)
    VOLTAGE_DEVIATION = "voltage_deviation"  # 102.4.4 (row 5), forced
    SYSTEM_FAULT = "system_fault"  # 102.5.2 (row 6), held
    SHIFT_NOT_PARK = "shift_not_park"  # 102.5.1 + k off (row 7)
    K_OFF = "k_off"  # k opens while 102.5.0 stays 1 (rows 8/14)
    ENABLE_OFF = "enable_off"  # 102.5.0 clears while k stays closed (row 8)
    CAN_SILENCE = "can_silence"  # the car stops transmitting (row 13)
    STOP_BEFORE_CHARGING = "stop_before_charging"  # 102.5.4 instead of permission
    WELDED_CONTACTOR = "welded_contactor"  # contactors stay closed at the end (row 18)
    NO_CONTACTOR_CLOSE = "no_contactor_close"  # contactors never close after d2 (row 15)
    NO_CURRENT_REQUEST = "no_current_request"  # request stays 0 (row 15)
    K_BEFORE_CAN = "k_before_can"  # k closes on d1 before any CAN frame (row 14)
    ENABLE_WITHOUT_K = "enable_without_k"  # 102.5.0 = 1 but k never closes (row 14)
    REQUEST_ABOVE_AVAILABLE = "request_above_available"  # asks 108.3 + 20 A (row 10)
    DISCHARGE_LIMIT_ZERO = "discharge_limit_zero"  # 200.0 drops to 0 A (row 17)
    NO_WELDING_FINISH = "no_welding_finish"  # 102.5.3 never returns to 1 (row 15)
    IGNORE_CHARGER_STOP = "ignore_charger_stop"  # does not react to 109.5.5


@dataclass(frozen=True, slots=True)
class EvProfile:
    """Everything that differs between emulated cars. Times in seconds, SI units."""

    name: str
    generation: LeafGeneration
    capacity_wh: float  # usable energy of the battery model
    rated_capacity_wh: float  # 101.5-6 once known
    initial_rated_capacity_wh: float  # 101.5-6 in the first frames (Leaf: nominal)
    r_internal: float = 0.1
    cell_count: int = 96
    max_charge_current_a: float = 120.0  # CC phase
    cv_voltage_v: float = 398.0  # CV limit at the battery terminals
    v_max: float = 403.0  # battery protection limit
    target_voltage_v: float = 410.0  # 102.1-2
    max_battery_voltage_v: float = 435.0  # 100.4-5
    min_battery_voltage_v: float = 0.0  # 100.2-3 (Leaf sends 0)
    min_charge_current_a: float = 0.0  # 100.0 (ZE1: 6)
    protocol_number: int = 2
    v2h: bool = True  # 102.5.7
    max_discharge_current_a: float = 15.0  # where the 200.0 ramp ends
    min_discharge_voltage_v: float = 250.0  # 200.4-5
    min_soc_percent: float = 10.0  # discharge floor (sent in 200.6)
    max_soc_percent: float = 100.0  # charge ceiling (sent in 200.7)
    soc_levels_in_kwh: bool = False  # pre-guideline-1.0 cars: 200.6/7 in 0.1 kWh
    enforces_soc_window: bool = True  # the car itself zeroes 200.0 / 102.3 at its SoC floor / ceiling
    charge_stop_soc_percent: float = 100.0  # charge-only sessions end here (EV-initiated stop)
    end_current_a: float = 2.0  # charge-only sessions end when the CC/CV request tapers below this
    max_charge_time_min: int = 60  # 101.2
    status_bit6: bool = False  # ZE0/AZE0
    sends_extended: bool = False  # 0x110 (dynamic control), ZE1
    sends_discharge_estimate: bool = False  # 0x201, ZE1
    sends_manufacturer: bool = False  # 0x700 / 0x202, ZE1
    follows_available_current: bool = True  # keeps 102.3 <= 108.3
    automaker_code: int = 1
    # Timing of reference §3 and §5 (the jitter is drawn from the seed).
    wake_delay_s: float = 0.02  # d1 -> first EV frame (charge control boots; obs. EV frames ~10 ms apart)
    permission_delay_s: float = 3.4  # first charger frame -> k + 102.5.0 (obs. 3.4 / 3.9 s)
    contactor_delay_s: float = 1.2  # d2 -> contactors closed (obs. 1.2 / 1.3 s)
    first_request_delay_s: float = 1.7  # contactors closed -> first request (obs. 1.7 s)
    request_step_a: float = 2.0  # ramp per 100 ms cycle
    discharge_ramp_delay_s: float = 0.4  # 109.5.0 -> 200.0 ramp starts
    stop_response_s: float = 0.25  # 109.5.5 -> EV stop (obs. 0.2-0.3 s)
    welding_check_s: float = 2.5  # contactors open -> 102.5.3 = 1 (obs. 2.1-2.8 s)
    timing_jitter_s: float = 0.1  # +- uniform jitter on the delays above
    soc_garbage_s: float = 2.0  # 102.6 shows 3 for this long after waking
    # Self-protection of the car (reference §3.1.12, §3.1.13, §4 rows 2, 4, 5, 16).
    can_timeout_s: float = 1.0
    charging_flag_timeout_s: float = 0.5  # first request -> 109.5.0
    no_current_timeout_s: float = 4.0  # first request -> current flows (charge-only sessions)
    current_off_timeout_s: float = 2.5  # k off -> current <= 5 A and 109.5.0 = 0
    deviation_current_a: float = 10.0  # 102.4.2 threshold ...
    deviation_time_s: float = 5.0  # ... held this long
    deviation_voltage_v: float = 10.0  # 102.4.4 threshold (stm32-car) ...
    deviation_voltage_time_s: float = 5.0
    evse_fault_frames: int = 3  # 109.5.1/3/4 seen in more frames than this -> stop (JLD505)
    incompatible_frames: int = 10  # 108.1-2 < 102.1-2 this many frames -> abort (JLD505)
    d2_inlet_voltage_limit_v: float = 20.0  # voltage at the inlet when d2 closes -> fault (osexpert)
    d2_timeout_s: float = 30.0  # k on -> d2 (charger C-time is 20 s)
    contactors_need_d1_d2: bool = True  # the contactor drive is fed through d1 and d2


_BASE_ZE0 = EvProfile(
    name="leaf24-ze0",
    generation=LeafGeneration.ZE0,
    capacity_wh=21_300.0,
    rated_capacity_wh=22_200.0,
    initial_rated_capacity_wh=24_000.0,
    r_internal=0.12,
    max_charge_current_a=120.0,
    v2h=False,
    status_bit6=True,
    soc_levels_in_kwh=True,
    # 200.6 / 200.7 = 0x43 / 0xB3 in the logs (§5, §6 B): 6.7 / 17.9 kWh of the 22.2 kWh in 101.5-6.
    min_soc_percent=30.2,
    max_soc_percent=80.7,
    max_charge_time_min=60,
)

PROFILES: dict[str, EvProfile] = {
    "leaf24-ze0": _BASE_ZE0,
    "leaf24-aze0": replace(_BASE_ZE0, name="leaf24-aze0", generation=LeafGeneration.AZE0, v2h=True),
    "leaf40-ze1": EvProfile(
        name="leaf40-ze1",
        generation=LeafGeneration.ZE1,
        capacity_wh=39_000.0,
        rated_capacity_wh=35_400.0,
        initial_rated_capacity_wh=50_000.0,
        r_internal=0.09,
        max_charge_current_a=125.0,
        min_charge_current_a=6.0,
        max_discharge_current_a=15.0,
        min_soc_percent=10.0,
        max_soc_percent=100.0,
        max_charge_time_min=80,
        sends_extended=True,
        sends_discharge_estimate=True,
        sends_manufacturer=True,
    ),
    "leaf62-ze1": EvProfile(
        name="leaf62-ze1",
        generation=LeafGeneration.ZE1,
        capacity_wh=59_000.0,
        rated_capacity_wh=56_000.0,
        initial_rated_capacity_wh=62_000.0,
        r_internal=0.06,
        cell_count=96,
        max_charge_current_a=200.0,
        min_charge_current_a=6.0,
        max_discharge_current_a=20.0,
        min_soc_percent=10.0,
        max_soc_percent=100.0,
        max_charge_time_min=80,
        sends_extended=True,
        sends_discharge_estimate=True,
        sends_manufacturer=True,
    ),
}


def leaf_profile(kwh: int, generation: LeafGeneration | str | None = None, **overrides: object) -> EvProfile:
    """The LEAF profile for 24, 40 or 62 kWh (24 kWh defaults to AZE0); ``overrides`` replace fields."""
    gen = LeafGeneration(generation) if generation is not None else None
    if kwh == 24:
        key = "leaf24-ze0" if gen is LeafGeneration.ZE0 else "leaf24-aze0"
    elif kwh in (40, 62):
        key = f"leaf{kwh}-ze1"
    else:
        raise ValueError("LEAF profiles exist for 24, 40 and 62 kWh")
    profile = PROFILES[key]
    if gen is not None and gen is not profile.generation:
        raise ValueError(f"no {gen} LEAF with {kwh} kWh")
    return replace(profile, **overrides) if overrides else profile  # type: ignore[arg-type]
