"""Regression (fuzz finding, can/session): a car's 0x200 could crash the charger's transmit path.

208.6-7 (lower threshold voltage) is derived from the car's 200.4-5 (minimum discharge voltage, 16 bits: up to
65535 V) times 1.02, but the DBC range of 208.6-7 ends at 1500 V. A 200.4-5 above ~1470 V made ``encode`` of the
charger's own 0x208 raise CodecError in every step: ``ChademoPort.step`` failed from then on. Now the sent value is
capped at what 208.6-7 can carry, while the discharge floor itself still applies in full (no discharge).
"""

from __future__ import annotations

import struct

import pytest

from chargepoint.chademo.codec import EvseDischargeCapability, decode

from .can_rig import warm_rig


@pytest.mark.parametrize("min_discharge_v", [1471, 1536, 33684, 65535])
def test_absurd_minimum_discharge_voltage_is_sent_capped_and_stops_discharge(min_discharge_v: int) -> None:
    rig = warm_rig("leaf40-ze1", 60.0, -5000.0)
    assert rig.link.current_a < -1.0  # discharging
    hostile = (0x200, struct.pack("<BxxxHBB", 255 - 30, min_discharge_v, 10, 90))  # 30 A, 10-90 %, absurd voltage
    thresholds: list[float] = []
    for _ in range(100):  # 1 s, the hostile 0x200 after the car's own every step
        rig.tick([hostile])
        for fid, data in rig.last_sent:
            frame = decode(fid, data)
            if isinstance(frame, EvseDischargeCapability):
                thresholds.append(frame.lower_threshold_voltage_v)
    assert thresholds and thresholds[-1] == min(1500.0, round(min_discharge_v * 1.02))
    assert rig.link.current_a >= -0.5  # the floor is above any battery voltage: discharging stopped
