"""The CHAdeMO DBC through cantools: the reference encoder/decoder the fast codec is checked against.

:func:`database` loads ``chademo.dbc`` (next to this module) once, strictly. :data:`SIGNALS` maps every frame
dataclass field to its DBC signal. :func:`encode_with_dbc` / :func:`decode_with_dbc` are slow but obviously
correct; tests prove the struct-based :mod:`chargepoint.chademo.codec` produces the same bytes and values.
"""

from __future__ import annotations

from dataclasses import fields
from functools import cache
from pathlib import Path
from typing import Any, cast

import cantools.database

from chargepoint.chademo.frames import (
    CanFrame,
    CodecError,
    EvBatteryLimits,
    EvChargeTime,
    EvDischargeEstimate,
    EvDischargeLimits,
    EvExtendedFunctions,
    EvManufacturerId,
    EvseCapability,
    EvseDischargeCapability,
    EvseDischargeEstimate,
    EvseExtendedFunctions,
    EvseStatus,
    EvStatus,
    Frame,
)

__all__ = ["DBC_PATH", "SIGNALS", "database", "decode_with_dbc", "encode_with_dbc"]

DBC_PATH = Path(__file__).with_name("chademo.dbc")


@cache
def database() -> cantools.database.can.Database:
    """The CHAdeMO DBC, loaded once (strict)."""
    db = cantools.database.load_file(str(DBC_PATH), strict=True)
    assert isinstance(db, cantools.database.can.Database)
    return db


def _pairs(cls: type, signals: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Pair the dataclass fields of ``cls`` (in declaration order) with DBC signal names."""
    return tuple(zip((f.name for f in fields(cls)), signals, strict=True))


# dataclass field -> DBC signal, per frame type. Special conversions are applied in _to_phys/_from_phys.
SIGNALS: dict[type, tuple[tuple[str, str], ...]] = {
    EvBatteryLimits: _pairs(
        EvBatteryLimits, ("MinChargeCurrent", "MinBatteryVoltage", "MaxBatteryVoltage", "ChargedRateRefConst")
    ),
    EvChargeTime: _pairs(
        EvChargeTime, ("MaxChargeTime10s", "MaxChargeTimeMin", "EstChargeTimeMin", "RatedBatteryCapacity")
    ),
    EvStatus: _pairs(
        EvStatus,
        (
            "EvProtocolNumber",
            "TargetBatteryVoltage",
            "ChargeCurrentRequest",
            "FaultBatteryOverVoltage",
            "FaultBatteryUnderVoltage",
            "FaultBatteryCurrentDeviation",
            "FaultHighBatteryTemperature",
            "FaultBatteryVoltageDeviation",
            "VehicleChargingEnabled",
            "ShiftNotInPark",
            "ChargingSystemFault",
            "ContactorOpen",
            "NormalStopRequestBeforeCharging",
            "StatusBit5",
            "StatusBit6",
            "DischargeCompatible",
            "ChargedRate",
        ),
    ),
    EvseCapability: _pairs(
        EvseCapability,
        ("WeldingDetectionSupport", "AvailableOutputVoltage", "AvailableOutputCurrent", "ThresholdVoltage"),
    ),
    EvseStatus: _pairs(
        EvseStatus,
        (
            "EvseProtocolNumber",
            "PresentOutputVoltage",
            "PresentChargingCurrent",
            "EvseDischargeCompatible",
            "EvseCharging",
            "EvseMalfunction",
            "EnergizingOrConnectorLocked",
            "BatteryIncompatible",
            "ChargingSystemMalfunction",
            "ChargerStopControl",
            "RemainingTime10s",
            "RemainingTimeMin",
        ),
    ),
    EvExtendedFunctions: _pairs(
        EvExtendedFunctions, ("EvDynamicControl", "EvHighCurrentControl", "EvHighVoltageControl")
    ),
    EvseExtendedFunctions: _pairs(
        EvseExtendedFunctions,
        ("EvseDynamicControl", "EvseHighCurrentControl", "EvseHighVoltageControl", "EvseByte6Bit0"),
    ),
    EvDischargeLimits: _pairs(
        EvDischargeLimits, ("MaxDischargeCurrent", "MinDischargeVoltage", "MinDischargeLevel", "MaxChargeLevel")
    ),
    EvDischargeEstimate: _pairs(
        EvDischargeEstimate,
        ("EvSequenceControlNumber", "ApproxDischargeCompletionTime", "AvailableVehicleEnergy"),
    ),
    EvseDischargeCapability: _pairs(
        EvseDischargeCapability,
        ("PresentDischargeCurrent", "AvailableInputVoltage", "AvailableInputCurrent", "LowerThresholdVoltage"),
    ),
    EvseDischargeEstimate: _pairs(EvseDischargeEstimate, ("EvseSequenceControlNumber", "RemainingDischargeTime")),
    EvManufacturerId: _pairs(EvManufacturerId, ("AutomakerCode", "OptionalContent")),
}
_BY_ID: dict[int, type] = {cls.ARBITRATION_ID: cls for cls in SIGNALS}  # type: ignore[attr-defined]

_TIME10 = ("MaxChargeTime10s", "RemainingTime10s")
_KWH = ("RatedBatteryCapacity", "AvailableVehicleEnergy")


def _to_phys(signal: str, value: Any) -> float | int:
    if signal in _TIME10:
        return 2550 if value is None else int(value)
    if signal in _KWH:
        return float(value) / 1000.0
    if signal == "OptionalContent":
        return int.from_bytes(value, "little")
    if isinstance(value, bool):
        return int(value)
    return cast(float | int, value)


def _from_phys(cls: type, field_name: str, signal: str, value: Any) -> Any:
    if signal in _TIME10:
        return None if round(value) == 2550 else round(value)
    if signal in _KWH:
        return round(value * 10) * 100.0
    if signal == "OptionalContent":
        return int(value).to_bytes(7, "little")
    default = next(f.default for f in fields(cls) if f.name == field_name)
    if isinstance(default, bool):
        return bool(value)
    if isinstance(default, int):
        return round(value)
    return float(value)


def encode_with_dbc(frame: Frame) -> CanFrame:
    """Reference encoder through cantools (strict range checks)."""
    cls = type(frame)
    frame_id: int = frame.ARBITRATION_ID
    signals = {sig: _to_phys(sig, getattr(frame, name)) for name, sig in SIGNALS[cls]}
    try:
        data = database().get_message_by_frame_id(frame_id).encode(signals, strict=True)
    except Exception as exc:  # cantools raises EncodeError / ValueError
        raise CodecError(str(exc)) from exc
    return CanFrame(frame_id, bytes(data))


def decode_with_dbc(arbitration_id: int, data: bytes) -> Frame | None:
    """Reference decoder through cantools."""
    cls = _BY_ID.get(arbitration_id)
    if cls is None:
        return None
    if len(data) != 8:
        raise CodecError(f"0x{arbitration_id:03X}: DLC {len(data)}, expected 8")
    phys = cast(
        dict[str, Any],
        database().get_message_by_frame_id(arbitration_id).decode(data, decode_choices=False, scaling=True),
    )
    kwargs = {name: _from_phys(cls, name, sig, phys[sig]) for name, sig in SIGNALS[cls]}
    return cast(Frame, cls(**kwargs))
