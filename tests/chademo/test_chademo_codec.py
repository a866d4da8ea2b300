"""Codec: round trips, the 0xFF - A encodings, range and DLC errors, struct/cantools parity for every frame."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chargepoint.chademo import codec
from chargepoint.chademo.codec import (
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
    RawFrame,
    decode,
    decode_with_dbc,
    encode,
    encode_with_dbc,
)

# Frames from the public logs quoted in the reference (§5, §6).
LOGGED = [
    (0x100, "06 00 00 00 B3 01 F0 00", EvBatteryLimits(6, 0, 435, 0xF0)),
    (0x100, "00 00 00 00 B3 01 64 00", EvBatteryLimits(0, 0, 435, 100)),
    (0x101, "00 FF 3C 00 00 DE 00 00", EvChargeTime(None, 60, 0, 22_200)),
    (0x102, "02 9A 01 00 00 C8 03 00", EvStatus(2, 410, 0, contactor_open=True, status_bit6=True,
                                                 discharge_compatible=True, soc_percent=3)),
    (0x102, "02 9A 01 02 00 C1 56 00", EvStatus(2, 410, 2, charging_enabled=True, contactor_open=False,
                                                 status_bit6=True, discharge_compatible=True, soc_percent=86)),
    (0x108, "01 F4 01 76 F4 01 00 00", EvseCapability(True, 500, 118, 500)),
    (0x108, "01 F4 01 1F B3 01 00 00", EvseCapability(True, 500, 31, 435)),
    (0x109, "02 00 00 00 00 20 00 00", EvseStatus(2, 0, 0, remaining_time_10s_s=0, remaining_time_min=0)),
    (0x109, "02 7C 01 00 00 05 FF 50", EvseStatus(2, 380, 0, charging=True, energizing=True, stop_control=False,
                                                   remaining_time_min=80)),
    (0x109, "02 00 00 00 01 20 FF FF", EvseStatus(2, 0, 0, discharge_compatible=True, remaining_time_min=255)),
    (0x110, "01 00 00 00 00 00 00 00", EvExtendedFunctions(True)),
    (0x118, "01 00 00 00 00 00 00 00", EvseExtendedFunctions(True)),
    (0x200, "FF 00 00 00 FA 00 43 B3", EvDischargeLimits(0, 250, 67, 179)),
    (0x200, "F0 00 00 00 FA 00 0A 64", EvDischargeLimits(15, 250, 10, 100)),
    (0x201, "02 00 00 00 00 00 00 00", EvDischargeEstimate(2, 0, 0)),
    (0x208, "FF F4 01 F0 00 00 FA 00", EvseDischargeCapability(0, 500, 15, 250)),
    (0x209, "02 05 00 00 00 00 00 00", EvseDischargeEstimate(2, 5)),
    (0x700, "01 02 00 00 06 00 00 00", EvManufacturerId(1, bytes((2, 0, 0, 6, 0, 0, 0)))),
]


@pytest.mark.parametrize(("frame_id", "hexdata", "frame"), LOGGED, ids=[f"{i:03X}-{h[:8]}" for i, h, _ in LOGGED])
def test_logged_frames_decode_and_encode_both_paths(frame_id: int, hexdata: str, frame: object) -> None:
    data = bytes.fromhex(hexdata)
    assert decode(frame_id, data) == frame
    assert decode_with_dbc(frame_id, data) == frame
    assert encode(frame).data == data  # type: ignore[arg-type]
    assert encode_with_dbc(frame).data == data  # type: ignore[arg-type]
    assert encode(frame).arbitration_id == frame_id  # type: ignore[arg-type]


def test_inverted_discharge_currents_stay_inside_the_codec() -> None:
    raw = encode(EvDischargeLimits(max_discharge_current_a=15, min_discharge_voltage_v=250))
    assert raw.data[0] == 0xFF - 15
    assert encode(EvDischargeLimits()).data[0] == 0xFF  # 0 A
    cap = encode(EvseDischargeCapability(discharge_current_a=7, available_input_current_a=30))
    assert cap.data[0] == 0xFF - 7 and cap.data[3] == 0xFF - 30
    back = decode(0x208, cap.data)
    assert isinstance(back, EvseDischargeCapability)
    assert back.discharge_current_a == 7 and back.available_input_current_a == 30


def test_sixteen_bit_fields_are_little_endian() -> None:
    data = encode(EvStatus(target_voltage_v=435)).data
    assert data[1:3] == bytes((0xB3, 0x01))


@pytest.mark.parametrize(
    "frame",
    [
        EvStatus(target_voltage_v=1501),
        EvStatus(charge_current_request_a=256),
        EvStatus(charge_current_request_a=-1),
        EvStatus(charge_current_request_a=float("nan")),
        EvStatus(protocol_number=256),
        EvStatus(soc_percent=-1),
        EvseCapability(available_current_a=300),
        EvseStatus(remaining_time_10s_s=2550),  # 0xFF is the "use minutes" marker, not a value
        EvseStatus(remaining_time_10s_s=15),  # not a multiple of 10 s
        EvDischargeLimits(max_discharge_current_a=256),
        EvDischargeLimits(max_discharge_current_a=-5),
        EvseDischargeCapability(available_input_current_a=-1),
        EvChargeTime(rated_capacity_wh=7_000_000),
        EvManufacturerId(1, b"\x00"),
    ],
)
def test_out_of_range_values_raise_codec_error(frame: codec.Frame) -> None:
    with pytest.raises(CodecError):
        encode(frame)


@pytest.mark.parametrize("dlc", [0, 1, 7, 9])
def test_wrong_dlc_raises_on_decode(dlc: int) -> None:
    with pytest.raises(CodecError, match="DLC"):
        decode(0x102, bytes(dlc))
    with pytest.raises(CodecError):
        decode_with_dbc(0x102, bytes(dlc))


def test_unknown_ids_decode_to_none_and_raw_frames_pass_through() -> None:
    assert decode(0x202, bytes(8)) is None
    assert decode(0x123, bytes(3)) is None  # unknown ids are not length-checked
    raw = encode(RawFrame(0x202, b"\x01\x01\x01\x00\x00\x00\x00\x00"))
    assert raw == CanFrame(0x202, b"\x01\x01\x01\x00\x00\x00\x00\x00")


def test_can_frame_is_message_compatible() -> None:
    raw = encode(EvseStatus())
    assert raw.dlc == 8 and raw.is_extended_id is False
    msg = raw.to_message()
    assert msg.arbitration_id == 0x109 and bytes(msg.data) == raw.data and msg.dlc == 8


def test_every_dbc_message_is_covered_by_the_codec() -> None:
    ids = {m.frame_id for m in codec.database().messages}
    assert ids == set(codec.KNOWN_IDS) == {0x100, 0x101, 0x102, 0x108, 0x109, 0x110, 0x118,
                                            0x200, 0x201, 0x208, 0x209, 0x700}


# ---- hypothesis: struct fast path == cantools reference path, for every frame type -----------------------------

amps = st.integers(0, 255).map(float)
volts = st.integers(0, 1500).map(float)
byte = st.integers(0, 255)
flag = st.booleans()
time10 = st.one_of(st.none(), st.integers(0, 254).map(lambda x: x * 10))
wh = st.integers(0, 65535).map(lambda x: x * 100.0)

FRAMES = st.one_of(
    st.builds(EvBatteryLimits, amps, volts, volts, byte),
    st.builds(EvChargeTime, time10, byte, st.integers(0, 254), wh),
    st.builds(EvStatus, byte, volts, amps, flag, flag, flag, flag, flag, flag, flag, flag, flag, flag, flag, flag,
              flag, byte),
    st.builds(EvseCapability, flag, volts, amps, volts),
    st.builds(EvseStatus, byte, volts, amps, flag, flag, flag, flag, flag, flag, flag, time10, byte),
    st.builds(EvExtendedFunctions, flag, flag, flag),
    st.builds(EvseExtendedFunctions, flag, flag, flag, flag),
    st.builds(EvDischargeLimits, amps, volts, byte, byte),
    st.builds(EvDischargeEstimate, byte, st.integers(0, 65535), wh),
    st.builds(EvseDischargeCapability, amps, volts, amps, volts),
    st.builds(EvseDischargeEstimate, byte, st.integers(0, 65535)),
    st.builds(EvManufacturerId, byte, st.binary(min_size=7, max_size=7)),
)


@settings(max_examples=600, deadline=None)
@given(FRAMES)
def test_struct_codec_matches_cantools_for_every_frame(frame: codec.Frame) -> None:
    fast = encode(frame)
    ref = encode_with_dbc(frame)
    assert fast == ref
    assert len(fast.data) == 8
    assert decode(fast.arbitration_id, fast.data) == frame
    assert decode_with_dbc(ref.arbitration_id, ref.data) == frame


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(codec.KNOWN_IDS)), st.binary(min_size=8, max_size=8))
def test_decoding_arbitrary_bytes_agrees_with_cantools(frame_id: int, data: bytes) -> None:
    fast = decode(frame_id, data)
    assert fast == decode_with_dbc(frame_id, data)
    assert fast is not None
    # Re-encoding keeps every defined bit (reserved bits are zeroed by both paths); values beyond the DBC range
    # (e.g. 0xFFFF V) decode but are refused by both encoders.
    try:
        fast_raw = encode(fast)
    except CodecError:
        with pytest.raises(CodecError):
            encode_with_dbc(fast)
    else:
        assert fast_raw == encode_with_dbc(fast)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=0, max_value=255, allow_nan=False))
def test_fractional_amps_quantise_like_cantools(a: float) -> None:
    frame = EvStatus(charge_current_request_a=a)
    fast = encode(frame)
    assert fast.data[3] == int(a + 0.5) or abs(fast.data[3] - a) <= 0.5
    # The value stays within half a step of the request, and never wraps.
    assert abs(fast.data[3] - a) <= 0.5


def test_frames_are_frozen() -> None:
    f = EvStatus()
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.charge_current_request_a = 3  # type: ignore[misc]


def test_dbc_ten_second_fields_follow_the_reference_range() -> None:
    # Reference §2.2: 10 s/bit, 0-2540 s, 0xFF = "use the minute field" (a value-table entry, not a time).
    for frame_id, name in ((0x101, "MaxChargeTime10s"), (0x109, "RemainingTime10s")):
        sig = codec.database().get_message_by_frame_id(frame_id).get_signal_by_name(name)
        assert sig.maximum == 2540
        assert 255 in sig.choices  # type: ignore[operator]
    assert encode(EvseStatus(remaining_time_10s_s=2540)).data[6] == 254
    assert encode(EvseStatus(remaining_time_10s_s=None)).data[6] == 0xFF


def test_messages_yaml_agrees_with_the_dbc() -> None:
    """docs/reference/messages.yaml (the same table in YAML) carries the DBC's layout, scaling and ranges, including
    the corrected 0-2540 s of the 10 s time fields. Read line by line (no YAML parser among the dependencies)."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "reference" / "messages.yaml").read_text()
    table: dict[tuple[int, str], dict[str, float]] = {}
    frame_id = -1
    current: dict[str, float] = {}
    for line in text.splitlines():
        if m := re.match(r"^  id_dec: (\d+)$", line):
            frame_id = int(m.group(1))
        elif m := re.match(r"^  - name: (\w+)$", line):
            current = table.setdefault((frame_id, m.group(1)), {})
        elif m := re.match(r"^    (start_bit|length|scale|offset|minimum|maximum): (-?[\d.]+)$", line):
            current[m.group(1)] = float(m.group(2))
    checked = 0
    for msg in codec.database().messages:
        for sig in msg.signals:
            row = table[(msg.frame_id, sig.name)]
            dbc = {"start_bit": sig.start, "length": sig.length, "scale": sig.scale, "offset": sig.offset,
                   "minimum": sig.minimum, "maximum": sig.maximum}
            expected = {k: float(v or 0) for k, v in dbc.items() if k in row}
            assert {k: row[k] for k in expected} == expected, sig.name
            checked += 1
    assert checked == len(table) and table[(0x101, "MaxChargeTime10s")]["maximum"] == 2540
