"""CHAdeMO frame types: one frozen dataclass per CAN frame, in SI units and plain bools.

Currents are positive magnitudes (the ``0xFF - A`` wire encodings live in :mod:`chargepoint.chademo.codec`),
voltages in volts, times in seconds or minutes as named, energies in watt-hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, TypeAlias

if TYPE_CHECKING:  # pragma: no cover
    import can

__all__ = [
    "CanFrame",
    "CodecError",
    "EvBatteryLimits",
    "EvChargeTime",
    "EvDischargeEstimate",
    "EvDischargeLimits",
    "EvExtendedFunctions",
    "EvFrame",
    "EvManufacturerId",
    "EvStatus",
    "EvseCapability",
    "EvseDischargeCapability",
    "EvseDischargeEstimate",
    "EvseExtendedFunctions",
    "EvseFrame",
    "EvseStatus",
    "Frame",
    "RawFrame",
]


class CodecError(ValueError):
    """A frame cannot be encoded (value out of range) or decoded (malformed data)."""


class CanFrame(NamedTuple):
    """A classic 11-bit CAN data frame, duck-compatible with ``can.Message`` for the fields a bus needs."""

    arbitration_id: int
    data: bytes

    @property
    def dlc(self) -> int:
        return len(self.data)

    @property
    def is_extended_id(self) -> bool:
        return False

    def to_message(self) -> can.Message:
        import can as _can

        return _can.Message(arbitration_id=self.arbitration_id, data=self.data, is_extended_id=False)


@dataclass(frozen=True, slots=True)
class EvBatteryLimits:
    """0x100 EV -> EVSE."""

    ARBITRATION_ID = 0x100
    min_charge_current_a: float = 0.0
    min_battery_voltage_v: float = 0.0
    max_battery_voltage_v: float = 0.0
    charged_rate_ref_const: int = 100  # full scale of 102.6 (percent); Leaf sends 0xF0 first


@dataclass(frozen=True, slots=True)
class EvChargeTime:
    """0x101 EV -> EVSE. ``max_charge_time_10s_s`` is None when the 10 s field is 0xFF (use minutes)."""

    ARBITRATION_ID = 0x101
    max_charge_time_10s_s: int | None = None
    max_charge_time_min: int = 0
    est_charge_time_min: int = 0
    rated_capacity_wh: float = 0.0  # 0.1 kWh resolution on the wire, 0 = not given

    @property
    def max_charge_time_s(self) -> int:
        if self.max_charge_time_10s_s is not None:
            return self.max_charge_time_10s_s
        return self.max_charge_time_min * 60


@dataclass(frozen=True, slots=True)
class EvStatus:
    """0x102 EV -> EVSE: protocol, target voltage, request, fault and status flags, SoC."""

    ARBITRATION_ID = 0x102
    protocol_number: int = 2
    target_voltage_v: float = 0.0
    charge_current_request_a: float = 0.0
    fault_overvoltage: bool = False  # 102.4.0
    fault_undervoltage: bool = False  # 102.4.1
    fault_current_deviation: bool = False  # 102.4.2
    fault_high_temperature: bool = False  # 102.4.3
    fault_voltage_deviation: bool = False  # 102.4.4
    charging_enabled: bool = False  # 102.5.0
    shift_not_park: bool = False  # 102.5.1
    system_fault: bool = False  # 102.5.2
    contactor_open: bool = True  # 102.5.3
    stop_before_charging: bool = False  # 102.5.4
    status_bit5: bool = False  # 102.5.5 (reserved)
    status_bit6: bool = False  # 102.5.6 (ZE0/AZE0 Leaf)
    discharge_compatible: bool = False  # 102.5.7
    soc_percent: int = 0  # 102.6 raw charged rate, relative to 100.6

    @property
    def any_fault(self) -> bool:
        return (
            self.fault_overvoltage
            or self.fault_undervoltage
            or self.fault_current_deviation
            or self.fault_high_temperature
            or self.fault_voltage_deviation
        )


@dataclass(frozen=True, slots=True)
class EvseCapability:
    """0x108 EVSE -> EV."""

    ARBITRATION_ID = 0x108
    welding_detection: bool = True
    available_voltage_v: float = 0.0
    available_current_a: float = 0.0
    threshold_voltage_v: float = 0.0


@dataclass(frozen=True, slots=True)
class EvseStatus:
    """0x109 EVSE -> EV. ``remaining_time_10s_s`` is None when the 10 s field is 0xFF (use minutes)."""

    ARBITRATION_ID = 0x109
    protocol_number: int = 2
    output_voltage_v: float = 0.0
    output_current_a: float = 0.0
    discharge_compatible: bool = False  # 109.4.0
    charging: bool = False  # 109.5.0
    malfunction: bool = False  # 109.5.1
    energizing: bool = False  # 109.5.2 (connector locked in 1.0)
    battery_incompatible: bool = False  # 109.5.3
    system_malfunction: bool = False  # 109.5.4
    stop_control: bool = True  # 109.5.5
    remaining_time_10s_s: int | None = None
    remaining_time_min: int = 0

    @property
    def remaining_time_s(self) -> int:
        if self.remaining_time_10s_s is not None:
            return self.remaining_time_10s_s
        return self.remaining_time_min * 60

    @property
    def any_fault(self) -> bool:
        return self.malfunction or self.battery_incompatible or self.system_malfunction


@dataclass(frozen=True, slots=True)
class EvExtendedFunctions:
    """0x110 EV -> EVSE (1.1 / 2.0; Leaf ZE1)."""

    ARBITRATION_ID = 0x110
    dynamic_control: bool = False
    high_current_control: bool = False
    high_voltage_control: bool = False


@dataclass(frozen=True, slots=True)
class EvseExtendedFunctions:
    """0x118 EVSE -> EV."""

    ARBITRATION_ID = 0x118
    dynamic_control: bool = False
    high_current_control: bool = False
    high_voltage_control: bool = False
    byte6_bit0: bool = False  # "permission to reset max charging time"? [L]


@dataclass(frozen=True, slots=True)
class EvDischargeLimits:
    """0x200 EV -> EVSE (V2H). Currents are positive magnitudes (wire: 0xFF - A)."""

    ARBITRATION_ID = 0x200
    max_discharge_current_a: float = 0.0
    min_discharge_voltage_v: float = 0.0
    min_discharge_level: int = 0  # percent (0 = unused); kWh*10 on pre-guideline-1.0 cars
    max_charge_level: int = 0  # percent (0 = unused); same caveat


@dataclass(frozen=True, slots=True)
class EvDischargeEstimate:
    """0x201 EV -> EVSE (V2H guideline 1.1+)."""

    ARBITRATION_ID = 0x201
    sequence_number: int = 2
    discharge_time_min: int = 0
    available_energy_wh: float = 0.0  # 0.1 kWh resolution [L]


@dataclass(frozen=True, slots=True)
class EvseDischargeCapability:
    """0x208 EVSE -> EV (V2H). Currents are positive magnitudes (wire: 0xFF - A)."""

    ARBITRATION_ID = 0x208
    discharge_current_a: float = 0.0  # present (measured) discharge current
    available_input_voltage_v: float = 0.0
    available_input_current_a: float = 0.0
    lower_threshold_voltage_v: float = 0.0


@dataclass(frozen=True, slots=True)
class EvseDischargeEstimate:
    """0x209 EVSE -> EV (V2H)."""

    ARBITRATION_ID = 0x209
    sequence_number: int = 2
    remaining_discharge_time_min: int = 0


@dataclass(frozen=True, slots=True)
class EvManufacturerId:
    """0x700 EV -> EVSE. ``optional_content`` is the 7 manufacturer-specific bytes."""

    ARBITRATION_ID = 0x700
    automaker_code: int = 0
    optional_content: bytes = bytes(7)


class RawFrame(NamedTuple):
    """Any frame the codec does not model (e.g. Nissan 0x202); encoded as is."""

    arbitration_id: int
    data: bytes


EvFrame: TypeAlias = (
    EvBatteryLimits
    | EvChargeTime
    | EvStatus
    | EvExtendedFunctions
    | EvDischargeLimits
    | EvDischargeEstimate
    | EvManufacturerId
)
EvseFrame: TypeAlias = (
    EvseCapability | EvseStatus | EvseExtendedFunctions | EvseDischargeCapability | EvseDischargeEstimate
)
Frame: TypeAlias = EvFrame | EvseFrame
