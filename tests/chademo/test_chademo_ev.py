"""The LEAF car emulator on its own and against the charger: profiles, frames, timings, determinism."""

from __future__ import annotations

import itertools

import pytest

from chargepoint.chademo.charger_types import ChargerPhase
from chargepoint.chademo.codec import encode
from chargepoint.chademo.frames import (
    EvBatteryLimits,
    EvChargeTime,
    EvDischargeEstimate,
    EvDischargeLimits,
    EvExtendedFunctions,
    EvManufacturerId,
    EvStatus,
    RawFrame,
)
from chargepoint.chademo.timeouts import ChargerConfig
from hil.emulators.ev import EvEmulator, EvPhase
from hil.emulators.ev_profiles import PROFILES, LeafGeneration, leaf_profile

from .bench import ScriptedCharger, make_pair, run_to_current

P = ChargerPhase


def _status_byte(f: EvStatus) -> int:
    return (
        f.charging_enabled
        | f.shift_not_park << 1
        | f.system_fault << 2
        | f.contactor_open << 3
        | f.stop_before_charging << 4
        | f.status_bit6 << 6
        | f.discharge_compatible << 7
    )


def _ev_frames(pair, cls):  # type: ignore[no-untyped-def]
    return [(t, f) for t, who, f in pair.frame_log if who == "ev" and isinstance(f, cls)]


def test_leaf_profile_lookup() -> None:
    assert leaf_profile(24).generation is LeafGeneration.AZE0
    assert leaf_profile(24, "ZE0").name == "leaf24-ze0"
    assert leaf_profile(40).generation is LeafGeneration.ZE1
    assert leaf_profile(62, max_charge_current_a=150.0).max_charge_current_a == 150.0
    with pytest.raises(ValueError):
        leaf_profile(30)
    with pytest.raises(ValueError):
        leaf_profile(40, "ZE0")


@pytest.mark.parametrize(
    ("profile", "codes"),
    [
        ("leaf24-aze0", [0xC8, 0xC9, 0xC1]),  # ZE0/AZE0: bit 6 set
        ("leaf40-ze1", [0x88, 0x89, 0x81]),  # ZE1: no bit 6
    ],
)
def test_status_byte_sequence_matches_logs(profile: str, codes: list[int]) -> None:
    pair = make_pair(profile, log_frames=True)
    run_to_current(pair, 10.0)
    seen = [_status_byte(f) for _, f in _ev_frames(pair, EvStatus)]
    collapsed = [c for i, c in enumerate(seen) if i == 0 or c != seen[i - 1]]
    assert collapsed[-3:] == codes


def test_ze1_sends_extended_frames_and_ze0_does_not() -> None:
    ze1 = make_pair("leaf40-ze1", log_frames=True)
    ze1.start()
    ze1.run(1.0)
    ids = {type(f) for _, who, f in ze1.frame_log if who == "ev"}
    assert {EvExtendedFunctions, EvDischargeEstimate, EvManufacturerId, RawFrame} <= ids
    ze0 = make_pair("leaf24-ze0", log_frames=True)
    ze0.start()
    ze0.run(1.0)
    ids0 = {type(f) for _, who, f in ze0.frame_log if who == "ev"}
    assert ids0 == {EvBatteryLimits, EvChargeTime, EvStatus}  # no V2H on 2011-12 cars, no 0x110/0x201/0x700
    aze0 = make_pair("leaf24-aze0", log_frames=True)
    aze0.start()
    aze0.run(1.0)
    assert EvDischargeLimits in {type(f) for _, who, f in aze0.frame_log if who == "ev"}


def test_first_frames_match_the_logged_leaf_values() -> None:
    pair = make_pair("leaf40-ze1", log_frames=True)
    pair.start()
    pair.run(1.0)
    limits = [f for _, f in _ev_frames(pair, EvBatteryLimits)]
    assert limits[0] == EvBatteryLimits(6.0, 0.0, 435.0, 0xF0)  # 06 00 00 00 B3 01 F0 00
    assert limits[-1].charged_rate_ref_const == 100  # 0x64 once a protocol-2 charger is seen
    status = [f for _, f in _ev_frames(pair, EvStatus)]
    assert status[0].protocol_number == 2 and status[0].target_voltage_v == 410.0
    assert status[0].soc_percent == 3  # garbage SoC for the first ~2 s
    caps = [f.rated_capacity_wh for _, f in _ev_frames(pair, EvChargeTime)]
    assert caps[0] == 50_000.0 and caps[-1] == 35_400.0  # 0x01F4 -> 0x0162


def test_aze0_discharge_limits_frame_matches_the_logged_bytes() -> None:
    """Old LEAF (AZE0) 0x200 in the logs (reference §5 and trace B of §6): FF 00 00 00 FA 00 FF FF, then
    FF 00 00 00 FA 00 43 B3 - levels 67 / 179 in 0.1 kWh."""
    pair = make_pair("leaf24-aze0", log_frames=True)
    pair.start()
    pair.run(1.5)
    frames = [encode(f).data.hex(" ").upper() for _, f in _ev_frames(pair, EvDischargeLimits)]
    assert frames[0] == "FF 00 00 00 FA 00 FF FF"
    assert frames[-1] == "FF 00 00 00 FA 00 43 B3"


def test_protocol_one_charger_gives_ff_reference_constant() -> None:
    pair = make_pair("leaf40-ze1", config=ChargerConfig(protocol_number=1), log_frames=True, soc=60.0)
    run_to_current(pair, 10.0)
    last = _ev_frames(pair, EvBatteryLimits)[-1][1]
    assert last.charged_rate_ref_const == 0xFF
    assert pair.charger.soc_percent == pytest.approx(60.0, abs=0.5)  # 102.6 / 255 * 100


def test_timings_of_section_3() -> None:
    pair = make_pair("leaf40-ze1", seed=11, record=True)
    pair.start()
    assert pair.run_until(lambda: pair.last_actions.d2, 20.0)
    t_d2 = pair.now
    assert pair.run_until(lambda: pair.ev.contactor_closed, 5.0)
    t_closed = pair.now
    assert pair.run_until(lambda: pair.ev.request_a > 0, 5.0)
    t_req = pair.now
    assert 1.1 - 0.01 <= t_closed - t_d2 <= 1.3 + 0.02  # ~1.2 s
    assert 1.6 - 0.01 <= t_req - t_closed <= 1.8 + 0.11  # ~1.7 s (+ one TX cycle)
    pair.run(3.0)
    pair.charger.request_stop()
    assert pair.run_until(lambda: pair.ev.phase is EvPhase.WELDING_CHECK, 3.0)
    t_w = pair.now
    assert pair.run_until(lambda: pair.ev.phase is EvPhase.DONE, 5.0)
    assert 2.0 <= pair.now - t_w <= 3.0  # welding detection 2-3 s


def test_same_seed_same_run_different_seed_different_timing() -> None:
    def trace(seed: int) -> list[tuple[float, object]]:
        pair = make_pair("leaf62-ze1", seed=seed, log_frames=True)
        run_to_current(pair, 30.0)
        pair.ev.user_stop()
        pair.run(6.0)
        return [(round(t, 6), f) for t, who, f in pair.frame_log if who == "ev"]

    assert trace(5) == trace(5)
    assert trace(5) != trace(6)


def test_request_follows_cc_cv_taper_near_full() -> None:
    pair = make_pair("leaf40-ze1", soc=96.0, config=ChargerConfig(discharge_enabled=False))
    run_to_current(pair, 5.0)
    pair.run(20.0)
    assert pair.ev.request_a < pair.ev.profile.max_charge_current_a
    assert pair.link.voltage_v <= pair.ev.profile.cv_voltage_v + 1.0


def test_discharge_limit_ramps_two_amps_per_cycle_after_charging_flag() -> None:
    pair = make_pair("leaf40-ze1", log_frames=True)
    t_energy = run_to_current(pair, 5.0)
    pair.run(3.0)
    limits = [(t, f.max_discharge_current_a) for t, f in _ev_frames(pair, EvDischargeLimits) if t >= t_energy - 1]
    values = [v for _, v in limits]
    assert values[-1] == 15.0
    ups = [b - a for a, b in itertools.pairwise(values) if b > a]
    assert set(ups) == {2.0} or set(ups) == {1.0, 2.0}
    t_first = next(t for t, v in limits if v > 0)
    t_flag = pair.ev._t_charging_flag
    assert t_flag is not None and t_first - t_flag >= 0.4 - 1e-6


def test_scripted_charger_bench_reaches_charging() -> None:
    ev = EvEmulator(PROFILES["leaf40-ze1"], seed=1)
    bench = ScriptedCharger(ev)
    bench.d1 = True
    bench.run(4.0)
    assert bench.k and ev.phase is EvPhase.PERMITTED
    bench.d1 = False
    bench.run(0.1)
    assert ev.phase is EvPhase.ASLEEP and not bench.k
