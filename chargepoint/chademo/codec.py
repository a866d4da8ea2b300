"""CHAdeMO CAN frame codec (fast path).

Frames are the frozen dataclasses of :mod:`chargepoint.chademo.frames` (SI units, plain bools, positive current
magnitudes). The ``0xFF - A`` encodings of 0x200/0x208, the little-endian 16-bit fields and the "0xFF = use the
minute field" time encoding stay inside this module.

The DBC (``chademo.dbc``) is the source of truth. This module packs with :mod:`struct` for speed, but when it is
imported it checks its layout against the DBC (start bit, length, byte order and scaling of every signal) and
takes the range limits from the DBC. The test-suite proves byte-for-byte parity with the cantools reference path
(:func:`encode_with_dbc` / :func:`decode_with_dbc`, re-exported from :mod:`chargepoint.chademo.dbc`) for every
frame type.

``encode`` returns a :class:`CanFrame` (``arbitration_id``, ``data`` of 8 bytes, ``dlc``, ``is_extended_id``),
duck-compatible with ``can.Message`` for sending; :meth:`CanFrame.to_message` builds a real one.
Out-of-range values raise :class:`CodecError` on encode; a DLC other than 8 raises it on decode; unknown
identifiers decode to None.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any

from chargepoint.chademo.dbc import DBC_PATH, database, decode_with_dbc, encode_with_dbc
from chargepoint.chademo.frames import (
    CanFrame,
    CodecError,
    EvBatteryLimits,
    EvChargeTime,
    EvDischargeEstimate,
    EvDischargeLimits,
    EvExtendedFunctions,
    EvFrame,
    EvManufacturerId,
    EvseCapability,
    EvseDischargeCapability,
    EvseDischargeEstimate,
    EvseExtendedFunctions,
    EvseFrame,
    EvseStatus,
    EvStatus,
    Frame,
    RawFrame,
)

__all__ = [
    "DBC_PATH",
    "KNOWN_IDS",
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
    "database",
    "decode",
    "decode_with_dbc",
    "encode",
    "encode_with_dbc",
    "signal_range",
]

# (frame id, DBC signal) -> (start bit, length) that the struct packers below assume.
_LAYOUT: dict[int, dict[str, tuple[int, int]]] = {
    0x100: {
        "MinChargeCurrent": (0, 8),
        "MinBatteryVoltage": (16, 16),
        "MaxBatteryVoltage": (32, 16),
        "ChargedRateRefConst": (48, 8),
    },
    0x101: {
        "MaxChargeTime10s": (8, 8),
        "MaxChargeTimeMin": (16, 8),
        "EstChargeTimeMin": (24, 8),
        "RatedBatteryCapacity": (40, 16),
    },
    0x102: {
        "EvProtocolNumber": (0, 8),
        "TargetBatteryVoltage": (8, 16),
        "ChargeCurrentRequest": (24, 8),
        "FaultBatteryOverVoltage": (32, 1),
        "FaultBatteryUnderVoltage": (33, 1),
        "FaultBatteryCurrentDeviation": (34, 1),
        "FaultHighBatteryTemperature": (35, 1),
        "FaultBatteryVoltageDeviation": (36, 1),
        "VehicleChargingEnabled": (40, 1),
        "ShiftNotInPark": (41, 1),
        "ChargingSystemFault": (42, 1),
        "ContactorOpen": (43, 1),
        "NormalStopRequestBeforeCharging": (44, 1),
        "StatusBit5": (45, 1),
        "StatusBit6": (46, 1),
        "DischargeCompatible": (47, 1),
        "ChargedRate": (48, 8),
    },
    0x108: {
        "WeldingDetectionSupport": (0, 8),
        "AvailableOutputVoltage": (8, 16),
        "AvailableOutputCurrent": (24, 8),
        "ThresholdVoltage": (32, 16),
    },
    0x109: {
        "EvseProtocolNumber": (0, 8),
        "PresentOutputVoltage": (8, 16),
        "PresentChargingCurrent": (24, 8),
        "EvseDischargeCompatible": (32, 1),
        "EvseCharging": (40, 1),
        "EvseMalfunction": (41, 1),
        "EnergizingOrConnectorLocked": (42, 1),
        "BatteryIncompatible": (43, 1),
        "ChargingSystemMalfunction": (44, 1),
        "ChargerStopControl": (45, 1),
        "RemainingTime10s": (48, 8),
        "RemainingTimeMin": (56, 8),
    },
    0x110: {"EvDynamicControl": (0, 1), "EvHighCurrentControl": (1, 1), "EvHighVoltageControl": (2, 1)},
    0x118: {
        "EvseDynamicControl": (0, 1),
        "EvseHighCurrentControl": (1, 1),
        "EvseHighVoltageControl": (2, 1),
        "EvseByte6Bit0": (48, 1),
    },
    0x200: {
        "MaxDischargeCurrent": (0, 8),
        "MinDischargeVoltage": (32, 16),
        "MinDischargeLevel": (48, 8),
        "MaxChargeLevel": (56, 8),
    },
    0x201: {
        "EvSequenceControlNumber": (0, 8),
        "ApproxDischargeCompletionTime": (8, 16),
        "AvailableVehicleEnergy": (24, 16),
    },
    0x208: {
        "PresentDischargeCurrent": (0, 8),
        "AvailableInputVoltage": (8, 16),
        "AvailableInputCurrent": (24, 8),
        "LowerThresholdVoltage": (48, 16),
    },
    0x209: {"EvseSequenceControlNumber": (0, 8), "RemainingDischargeTime": (8, 16)},
    0x700: {"AutomakerCode": (0, 8), "OptionalContent": (8, 56)},
}

# Inverted (0xFF - A) signals: struct packs raw = 255 - A.
_INVERTED = {"MaxDischargeCurrent", "PresentDischargeCurrent", "AvailableInputCurrent"}


def _check_layout() -> dict[str, tuple[float, float]]:
    """Verify the struct layout against the DBC; return the physical (min, max) of every signal."""
    ranges: dict[str, tuple[float, float]] = {}
    db = database()
    for frame_id, layout in _LAYOUT.items():
        msg = db.get_message_by_frame_id(frame_id)
        if msg.length != 8:
            raise RuntimeError(f"DBC: 0x{frame_id:03X} must have DLC 8")
        sigs = {s.name: s for s in msg.signals}
        if set(sigs) != set(layout):
            raise RuntimeError(f"DBC: 0x{frame_id:03X} signals differ from the codec layout")
        for name, (start, length) in layout.items():
            s = sigs[name]
            if (s.start, s.length, s.byte_order, s.is_signed) != (start, length, "little_endian", False):
                raise RuntimeError(f"DBC: 0x{frame_id:03X} {name} layout differs from the codec")
            inverted = (s.scale, s.offset) == (-1, 255)
            if inverted != (name in _INVERTED):
                raise RuntimeError(f"DBC: 0x{frame_id:03X} {name} scaling differs from the codec")
            lo = s.minimum if s.minimum is not None else 0.0
            hi = s.maximum if s.maximum is not None else float(2**length - 1)
            ranges[name] = (float(lo), float(hi))
    return ranges


_RANGES = _check_layout()


# ---------------------------------------------------------------------------------------------------------------
# Fast path
# ---------------------------------------------------------------------------------------------------------------

_S_100 = struct.Struct("<BxHHBx")
_S_101 = struct.Struct("<xBBBxHx")
_S_102 = struct.Struct("<BHBBBBx")
_S_108 = struct.Struct("<BHBHxx")
_S_109 = struct.Struct("<BHBBBBB")
_S_200 = struct.Struct("<BxxxHBB")
_S_201 = struct.Struct("<BHHxxx")
_S_208 = struct.Struct("<BHBxxH")
_S_209 = struct.Struct("<BHxxxxx")
_ZERO7 = bytes(7)


def signal_range(signal: str) -> tuple[float, float]:
    """Physical (min, max) of a DBC signal: what :func:`encode` accepts for it."""
    return _RANGES[signal]


def _q(value: float, signal: str, scale: float = 1.0) -> int:
    """Quantise a physical value to its raw integer, checking the DBC range."""
    lo, hi = _RANGES[signal]
    if not lo <= value <= hi:  # also false for NaN
        raise CodecError(f"{signal}={value!r} out of range [{lo:g}, {hi:g}]")
    return math.floor(value / scale + 0.5)


def _int(value: int, signal: str) -> int:
    lo, hi = _RANGES[signal]
    if not isinstance(value, int) or not lo <= value <= hi:
        raise CodecError(f"{signal}={value!r} must be an integer in [{lo:g}, {hi:g}]")
    return value


def _time10(value: int | None, signal: str) -> int:
    if value is None:
        return 0xFF
    hi = _RANGES[signal][1]  # 2540 s: 0xFF is the "use the minute field" marker, not a time
    if not isinstance(value, int) or value % 10 or not 0 <= value <= hi:
        raise CodecError(f"{signal}={value!r} must be None or a multiple of 10 s in [0, {hi:g}]")
    return value // 10


def _enc_100(f: EvBatteryLimits) -> bytes:
    return _S_100.pack(
        _q(f.min_charge_current_a, "MinChargeCurrent"),
        _q(f.min_battery_voltage_v, "MinBatteryVoltage"),
        _q(f.max_battery_voltage_v, "MaxBatteryVoltage"),
        _int(f.charged_rate_ref_const, "ChargedRateRefConst"),
    )


def _enc_101(f: EvChargeTime) -> bytes:
    return _S_101.pack(
        _time10(f.max_charge_time_10s_s, "MaxChargeTime10s"),
        _int(f.max_charge_time_min, "MaxChargeTimeMin"),
        _int(f.est_charge_time_min, "EstChargeTimeMin"),
        _q(f.rated_capacity_wh / 1000.0, "RatedBatteryCapacity", 0.1),
    )


def _enc_102(f: EvStatus) -> bytes:
    faults = (
        f.fault_overvoltage
        | f.fault_undervoltage << 1
        | f.fault_current_deviation << 2
        | f.fault_high_temperature << 3
        | f.fault_voltage_deviation << 4
    )
    status = (
        f.charging_enabled
        | f.shift_not_park << 1
        | f.system_fault << 2
        | f.contactor_open << 3
        | f.stop_before_charging << 4
        | f.status_bit5 << 5
        | f.status_bit6 << 6
        | f.discharge_compatible << 7
    )
    return _S_102.pack(
        _int(f.protocol_number, "EvProtocolNumber"),
        _q(f.target_voltage_v, "TargetBatteryVoltage"),
        _q(f.charge_current_request_a, "ChargeCurrentRequest"),
        faults,
        status,
        _int(f.soc_percent, "ChargedRate"),
    )


def _enc_108(f: EvseCapability) -> bytes:
    return _S_108.pack(
        1 if f.welding_detection else 0,
        _q(f.available_voltage_v, "AvailableOutputVoltage"),
        _q(f.available_current_a, "AvailableOutputCurrent"),
        _q(f.threshold_voltage_v, "ThresholdVoltage"),
    )


def _enc_109(f: EvseStatus) -> bytes:
    status = (
        f.charging
        | f.malfunction << 1
        | f.energizing << 2
        | f.battery_incompatible << 3
        | f.system_malfunction << 4
        | f.stop_control << 5
    )
    return _S_109.pack(
        _int(f.protocol_number, "EvseProtocolNumber"),
        _q(f.output_voltage_v, "PresentOutputVoltage"),
        _q(f.output_current_a, "PresentChargingCurrent"),
        1 if f.discharge_compatible else 0,
        status,
        _time10(f.remaining_time_10s_s, "RemainingTime10s"),
        _int(f.remaining_time_min, "RemainingTimeMin"),
    )


def _enc_110(f: EvExtendedFunctions) -> bytes:
    b0 = f.dynamic_control | f.high_current_control << 1 | f.high_voltage_control << 2
    return bytes((b0,)) + _ZERO7


def _enc_118(f: EvseExtendedFunctions) -> bytes:
    b0 = f.dynamic_control | f.high_current_control << 1 | f.high_voltage_control << 2
    return bytes((b0, 0, 0, 0, 0, 0, 1 if f.byte6_bit0 else 0, 0))


def _enc_200(f: EvDischargeLimits) -> bytes:
    return _S_200.pack(
        255 - _q(f.max_discharge_current_a, "MaxDischargeCurrent"),
        _q(f.min_discharge_voltage_v, "MinDischargeVoltage"),
        _int(f.min_discharge_level, "MinDischargeLevel"),
        _int(f.max_charge_level, "MaxChargeLevel"),
    )


def _enc_201(f: EvDischargeEstimate) -> bytes:
    return _S_201.pack(
        _int(f.sequence_number, "EvSequenceControlNumber"),
        _int(f.discharge_time_min, "ApproxDischargeCompletionTime"),
        _q(f.available_energy_wh / 1000.0, "AvailableVehicleEnergy", 0.1),
    )


def _enc_208(f: EvseDischargeCapability) -> bytes:
    return _S_208.pack(
        255 - _q(f.discharge_current_a, "PresentDischargeCurrent"),
        _q(f.available_input_voltage_v, "AvailableInputVoltage"),
        255 - _q(f.available_input_current_a, "AvailableInputCurrent"),
        _q(f.lower_threshold_voltage_v, "LowerThresholdVoltage"),
    )


def _enc_209(f: EvseDischargeEstimate) -> bytes:
    return _S_209.pack(
        _int(f.sequence_number, "EvseSequenceControlNumber"),
        _int(f.remaining_discharge_time_min, "RemainingDischargeTime"),
    )


def _enc_700(f: EvManufacturerId) -> bytes:
    if not isinstance(f.optional_content, bytes | bytearray) or len(f.optional_content) != 7:
        raise CodecError("EvManufacturerId.optional_content must be exactly 7 bytes")
    return bytes((_int(f.automaker_code, "AutomakerCode"),)) + bytes(f.optional_content)


_ENCODERS: dict[type, tuple[int, Callable[[Any], bytes]]] = {
    EvBatteryLimits: (0x100, _enc_100),
    EvChargeTime: (0x101, _enc_101),
    EvStatus: (0x102, _enc_102),
    EvseCapability: (0x108, _enc_108),
    EvseStatus: (0x109, _enc_109),
    EvExtendedFunctions: (0x110, _enc_110),
    EvseExtendedFunctions: (0x118, _enc_118),
    EvDischargeLimits: (0x200, _enc_200),
    EvDischargeEstimate: (0x201, _enc_201),
    EvseDischargeCapability: (0x208, _enc_208),
    EvseDischargeEstimate: (0x209, _enc_209),
    EvManufacturerId: (0x700, _enc_700),
}


def encode(frame: Frame | RawFrame) -> CanFrame:
    """Encode a frame dataclass into an 8-byte CAN frame. Raises :class:`CodecError` on out-of-range values."""
    entry = _ENCODERS.get(type(frame))
    if entry is None:
        if isinstance(frame, RawFrame):
            return CanFrame(frame.arbitration_id, bytes(frame.data))
        raise CodecError(f"cannot encode {type(frame).__name__}")
    frame_id, enc = entry
    try:
        return CanFrame(frame_id, enc(frame))
    except struct.error as exc:  # pragma: no cover - ranges are checked before packing
        raise CodecError(str(exc)) from exc


def _dec_100(d: bytes) -> EvBatteryLimits:
    a, vmin, vmax, const = _S_100.unpack(d)
    return EvBatteryLimits(float(a), float(vmin), float(vmax), const)


def _dec_101(d: bytes) -> EvChargeTime:
    t10, tmin, est, cap = _S_101.unpack(d)
    return EvChargeTime(None if t10 == 0xFF else t10 * 10, tmin, est, cap * 100.0)


def _dec_102(d: bytes) -> EvStatus:
    proto, v, a, fl, st, soc = _S_102.unpack(d)
    return EvStatus(
        proto,
        float(v),
        float(a),
        bool(fl & 1),
        bool(fl & 2),
        bool(fl & 4),
        bool(fl & 8),
        bool(fl & 16),
        bool(st & 1),
        bool(st & 2),
        bool(st & 4),
        bool(st & 8),
        bool(st & 16),
        bool(st & 32),
        bool(st & 64),
        bool(st & 128),
        soc,
    )


def _dec_108(d: bytes) -> EvseCapability:
    wd, v, a, thr = _S_108.unpack(d)
    return EvseCapability(wd != 0, float(v), float(a), float(thr))


def _dec_109(d: bytes) -> EvseStatus:
    proto, v, a, b4, st, t10, tmin = _S_109.unpack(d)
    return EvseStatus(
        proto,
        float(v),
        float(a),
        bool(b4 & 1),
        bool(st & 1),
        bool(st & 2),
        bool(st & 4),
        bool(st & 8),
        bool(st & 16),
        bool(st & 32),
        None if t10 == 0xFF else t10 * 10,
        tmin,
    )


def _dec_110(d: bytes) -> EvExtendedFunctions:
    b0 = d[0]
    return EvExtendedFunctions(bool(b0 & 1), bool(b0 & 2), bool(b0 & 4))


def _dec_118(d: bytes) -> EvseExtendedFunctions:
    b0 = d[0]
    return EvseExtendedFunctions(bool(b0 & 1), bool(b0 & 2), bool(b0 & 4), bool(d[6] & 1))


def _dec_200(d: bytes) -> EvDischargeLimits:
    a, v, lo, hi = _S_200.unpack(d)
    return EvDischargeLimits(float(255 - a), float(v), lo, hi)


def _dec_201(d: bytes) -> EvDischargeEstimate:
    seq, t, e = _S_201.unpack(d)
    return EvDischargeEstimate(seq, t, e * 100.0)


def _dec_208(d: bytes) -> EvseDischargeCapability:
    a, v, a_in, thr = _S_208.unpack(d)
    return EvseDischargeCapability(float(255 - a), float(v), float(255 - a_in), float(thr))


def _dec_209(d: bytes) -> EvseDischargeEstimate:
    seq, t = _S_209.unpack(d)
    return EvseDischargeEstimate(seq, t)


def _dec_700(d: bytes) -> EvManufacturerId:
    return EvManufacturerId(d[0], bytes(d[1:8]))


_DECODERS: dict[int, Callable[[bytes], Frame]] = {
    0x100: _dec_100,
    0x101: _dec_101,
    0x102: _dec_102,
    0x108: _dec_108,
    0x109: _dec_109,
    0x110: _dec_110,
    0x118: _dec_118,
    0x200: _dec_200,
    0x201: _dec_201,
    0x208: _dec_208,
    0x209: _dec_209,
    0x700: _dec_700,
}

KNOWN_IDS = frozenset(_DECODERS)


def decode(arbitration_id: int, data: bytes | bytearray) -> Frame | None:
    """Decode a received frame. Unknown identifiers give None; a DLC other than 8 raises :class:`CodecError`."""
    dec = _DECODERS.get(arbitration_id)
    if dec is None:
        return None
    if len(data) != 8:
        raise CodecError(f"0x{arbitration_id:03X}: DLC {len(data)}, expected 8")
    return dec(bytes(data))
