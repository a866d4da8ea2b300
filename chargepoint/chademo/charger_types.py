"""Inputs, outputs and enums of the CHAdeMO charger state machine (:mod:`chargepoint.chademo.charger`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from chargepoint.chademo.frames import EvseFrame

__all__ = [
    "ChargerActions",
    "ChargerInputs",
    "ChargerPhase",
    "FaultFlag",
    "StopReason",
]


class ChargerPhase(StrEnum):
    """Where the charger is in the sequence of reference §3 (see the diagram in docs/chademo.md)."""

    IDLE = "idle"  # d1 off, no session
    WAIT_EV_CAN = "wait_ev_can"  # d1 on, waiting for the EV's first frames
    WAIT_PERMISSION = "wait_permission"  # 108/109 sent, compatibility checked, waiting for k + 102.5.0
    LOCKING = "locking"  # lock commanded, waiting for the feedback
    INSULATION_PRECHECK = "insulation_precheck"  # output must be < 10 V (EV contactors open)
    INSULATION_RAMP = "insulation_ramp"  # converter charges the output to the test voltage
    INSULATION_HOLD = "insulation_hold"  # insulation monitor measures
    INSULATION_DISCHARGE = "insulation_discharge"  # output discharged to < 20 V
    WAIT_EV_CONTACTORS = "wait_ev_contactors"  # d2 on, waiting for 102.5.3 = 0 / battery voltage
    PRECHARGE = "precharge"  # converter voltage matched to the battery, then output contactor closes
    WAIT_REQUEST = "wait_request"  # waiting for the first non-zero current request
    ENERGY_TRANSFER = "energy_transfer"  # 109.5.0 = 1, current follows the setpoint within the limits
    STOP_CURRENT = "stop_current"  # 109.5.5 = 1, current going to <= 5 A
    WAIT_WELDING = "wait_welding"  # output open, EV doing welding detection (102.5.3 -> 1)
    D2_OFF = "d2_off"  # d2 open, d1 opens 0.5 s later
    WAIT_UNLOCK = "wait_unlock"  # waiting for the output to be <= 10 V before unlocking
    FINISHED = "finished"  # unlocked; CAN tail then silence


# Phases in which the session is being torn down.
STOP_PHASES = frozenset(
    {
        ChargerPhase.STOP_CURRENT,
        ChargerPhase.WAIT_WELDING,
        ChargerPhase.D2_OFF,
        ChargerPhase.WAIT_UNLOCK,
        ChargerPhase.FINISHED,
    }
)
PREPARING_PHASES = frozenset(
    {
        ChargerPhase.WAIT_EV_CAN,
        ChargerPhase.WAIT_PERMISSION,
        ChargerPhase.LOCKING,
        ChargerPhase.INSULATION_PRECHECK,
        ChargerPhase.INSULATION_RAMP,
        ChargerPhase.INSULATION_HOLD,
        ChargerPhase.INSULATION_DISCHARGE,
        ChargerPhase.WAIT_EV_CONTACTORS,
        ChargerPhase.PRECHARGE,
        ChargerPhase.WAIT_REQUEST,
    }
)


class FaultFlag(StrEnum):
    """Which 109.5 fault bit a stop sets."""

    NONE = "none"
    MALFUNCTION = "malfunction"  # 109.5.1
    INCOMPATIBLE = "incompatible"  # 109.5.3
    SYSTEM = "system"  # 109.5.4


class StopReason(StrEnum):
    """Why a session ended. The row numbers refer to reference §4."""

    STATION = "station"  # charger-initiated normal stop (user / remote / disabled)
    EV_PERMISSION_WITHDRAWN = "ev_permission_withdrawn"  # row 8: k off and/or 102.5.0 = 0
    EV_STOP_BEFORE_CHARGING = "ev_stop_before_charging"  # 102.5.4
    EV_SHIFT_NOT_PARK = "ev_shift_not_park"  # row 7
    EV_BATTERY_OVERVOLTAGE = "ev_battery_overvoltage"  # row 3
    EV_BATTERY_UNDERVOLTAGE = "ev_battery_undervoltage"  # row 3
    EV_HIGH_TEMPERATURE = "ev_high_temperature"  # row 3
    EV_CURRENT_DEVIATION = "ev_current_deviation"  # row 4
    EV_VOLTAGE_DEVIATION = "ev_voltage_deviation"  # row 5
    EV_SYSTEM_FAULT = "ev_system_fault"  # row 6 (102.5.2)
    BATTERY_INCOMPATIBLE = "battery_incompatible"  # row 1
    CHARGER_FAULT = "charger_fault"  # row 9: internal fault
    EMERGENCY_STOP = "emergency_stop"  # row 9: e-stop button
    LOCK_FAILURE = "lock_failure"  # row 9
    INSULATION_FAULT = "insulation_fault"  # row 9
    INSULATION_TEST_FAILED = "insulation_test_failed"  # row 9: test voltage not reached / not discharged
    OUTPUT_OVERVOLTAGE = "output_overvoltage"  # row 9
    OUTPUT_OVERCURRENT = "output_overcurrent"  # row 9
    EV_REQUEST_ABOVE_AVAILABLE = "ev_request_above_available"  # row 10
    THRESHOLD_VOLTAGE = "threshold_voltage"  # row 11
    REMAINING_TIME_ELAPSED = "remaining_time_elapsed"  # row 12
    CAN_TIMEOUT = "can_timeout"  # row 13
    J_BEFORE_CAN = "j_before_can"  # row 14
    J_CAN_MISMATCH = "j_can_mismatch"  # row 14
    EV_CONTACTORS_CLOSED_EARLY = "ev_contactors_closed_early"  # output >= 10 V before the insulation test
    EV_CONTACTOR_TIMEOUT = "ev_contactor_timeout"  # row 15
    NO_CURRENT_REQUEST = "no_current_request"  # row 15
    WELDING_DETECTION_TIMEOUT = "welding_detection_timeout"  # row 15
    PERMISSION_TIMEOUT = "permission_timeout"  # §3.1.6 T-time
    NO_EV_CAN = "no_ev_can"  # d1 on but the EV never talked
    CURRENT_NOT_OFF = "current_not_off"  # current did not fall to <= 5 A after a stop
    D2_DEADLINE = "d2_deadline"  # d2 not closed within its C-time after permission (§3.1.9): charger too slow
    CONNECTOR_REMOVED = "connector_removed"  # proximity lost during a session (lock defeated): row 9
    UNLOCK_VOLTAGE = "unlock_voltage"  # output stayed > 10 V at the end (welded EV contactor?): stays locked


@dataclass(frozen=True, slots=True)
class ChargerInputs:
    """What the charger's hardware reports this step (SI units, + current into the car)."""

    j: bool = False  # EV permission line (photocoupler j)
    lock_engaged: bool = False  # connector lock feedback
    output_voltage_v: float = 0.0  # measured at the connector side of the output contactor
    output_current_a: float = 0.0  # measured, signed
    insulation_fault: bool = False  # insulation monitor / earth-fault detector
    estop: bool = False  # emergency-stop button
    internal_fault: bool = False  # power stage / internal supervision


@dataclass(frozen=True, slots=True)
class ChargerActions:
    """What the charger's hardware must do after this step.

    ``frames`` are due for transmission now, in order (0x108 before 0x109, then 0x118/0x208/0x209); empty between
    cycles. ``current_a`` is the signed power-stage current target; ``voltage_limit_v`` is the ceiling when
    charging (or charging the output for the insulation test) and the floor when discharging. ``current_a = 0``
    with ``voltage_limit_v = 0`` asks the stage to discharge its output. ``fast_cut`` asks for the fastest
    possible current cut (gate disable) instead of a ramp.
    """

    frames: tuple[EvseFrame, ...] = ()
    d1: bool = False
    d2: bool = False
    lock: bool = False
    output_contactor: bool = False
    current_a: float = 0.0
    voltage_limit_v: float = 0.0
    fast_cut: bool = False
