"""Fuzz targets of the CHAdeMO CAN path.

``can/decode``: any identifier (11- and 29-bit, the CHAdeMO range 0x100-0x209 weighted) with any payload length goes
to :func:`chargepoint.chademo.codec.decode`. It returns None for identifiers it does not know, raises only
CodecError (for a DLC other than 8), and otherwise yields a frame of the identifier's type whose numbers are finite,
non-negative and within the DBC ranges, agrees with the cantools reference decoder and survives a re-encode.

``can/session`` and ``can/handshake``: a session in energy transfer (charging or discharging) or just starting gets a
schedule of hostile frames - random identifiers and payloads, short and long DLCs, bit-flipped car frames, bursts
beyond the port's per-step budget, windows where the car's own frames are lost - through the product's receive path
(:class:`~chargepoint.chademo.port.ChademoPort`). Every 10 ms step must keep the safety invariants of
:func:`check_steps`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, fields

from hypothesis import strategies as st

from chargepoint.chademo.charger_types import PREPARING_PHASES, ChargerPhase
from chargepoint.chademo.codec import KNOWN_IDS, CodecError, decode, decode_with_dbc, encode
from chargepoint.chademo.frames import EvStatus
from chargepoint.hardware.interfaces import PowerRatings

from .budget import Target
from .can_rig import DT, CanRig, RawFrame, Step, warm_rig

P = ChargerPhase
RATINGS = PowerRatings()
TOL_A = 1.0  # measurement and slew tolerance
LAG_S = 0.25  # the power stage follows a lowered limit within this (as in tests/chademo property tests)
FAST_STOP_S = 0.5  # §3.2.2: current <= 5 A within 0.5 s of an error stop
STOP_CURRENT_A = 5.0
CHADEMO_IDS = [0x100, 0x101, 0x102, 0x108, 0x109, 0x110, 0x118, 0x200, 0x201, 0x208, 0x209, 0x700]
# Phases in which the charger supervises the car's 0x102 (before the first one, WAIT_EV_CAN has its own time-out).
TALKING = (PREPARING_PHASES - {P.WAIT_EV_CAN}) | {P.ENERGY_TRANSFER, P.STOP_CURRENT, P.WAIT_WELDING}
INSULATION = {P.INSULATION_RAMP, P.INSULATION_HOLD}

identifiers = st.one_of(
    st.sampled_from(CHADEMO_IDS), st.integers(0x100, 0x209), st.integers(0, 0x7FF), st.integers(0, 0x1FFFFFFF),
)
payloads = st.one_of(st.binary(min_size=8, max_size=8), st.binary(max_size=12), st.binary(min_size=64, max_size=64))
raw_frames = st.tuples(identifiers, payloads)


# ---------------------------------------------------------------------------------------------------- decode
def check_decode(frame: RawFrame) -> None:
    fid, data = frame
    try:
        decoded = decode(fid, data)
    except CodecError:
        assert fid in KNOWN_IDS and len(data) != 8, f"CodecError for 0x{fid:X} with {len(data)} bytes"
        return
    if fid not in KNOWN_IDS:
        assert decoded is None
        return
    assert decoded is not None and len(data) == 8
    for f in fields(decoded):
        value = getattr(decoded, f.name)
        if isinstance(value, float):
            assert math.isfinite(value) and value >= 0.0, f"0x{fid:X} {f.name}={value}"
        if isinstance(value, int) and not isinstance(value, bool):
            assert value >= 0, f"0x{fid:X} {f.name}={value}"
    reference = decode_with_dbc(fid, data)
    assert reference == decoded, f"0x{fid:X} {data.hex()}: fast {decoded} != DBC {reference}"
    try:
        again = encode(decoded)
    except CodecError:
        return  # raw values outside the DBC range decode (a receiver must read them) but do not re-encode
    assert decode(again.arbitration_id, again.data) == decoded


# ---------------------------------------------------------------------------------------------------- sessions
@dataclass(frozen=True)
class Plan:
    """Hostile traffic over ``ticks`` 10 ms steps, then ``tail`` steps of normal traffic."""

    events: tuple[tuple[int, tuple[RawFrame, ...], bool], ...]  # (tick, frames, put before the car's frames)
    drop: tuple[int, int] | None  # (first tick, ticks) during which the car's frames are lost
    ticks: int
    tail: int


def _flip(frame: RawFrame, bits: list[int]) -> RawFrame:
    fid, data = frame
    if not data:
        return frame
    b = bytearray(data)
    for bit in bits:
        b[(bit // 8) % len(b)] ^= 1 << (bit % 8)
    return fid, bytes(b)


@st.composite
def plans(draw: st.DrawFn, ticks: int) -> Plan:
    events = []
    for _ in range(draw(st.integers(1, 25))):
        tick = draw(st.integers(0, ticks - 1))
        kind = draw(st.sampled_from(["random", "random", "status", "flipped", "burst"]))
        if kind == "random":
            frames: tuple[RawFrame, ...] = (draw(raw_frames),)
        elif kind == "status":  # a 0x102 with arbitrary content (flags, request, target voltage)
            frames = ((0x102, draw(st.binary(min_size=8, max_size=8))),)
        elif kind == "flipped":  # a plausible car frame with a few bits flipped
            base = (draw(st.sampled_from([0x100, 0x101, 0x102, 0x200, 0x201])), _PLAUSIBLE)
            frames = (_flip(base, draw(st.lists(st.integers(0, 63), min_size=1, max_size=4))),)
        else:  # more frames in one step than the port reads per step
            frames = (draw(raw_frames),) * draw(st.integers(10, 200))
        events.append((tick, frames, draw(st.booleans())))
    drop = None
    if draw(st.booleans()):
        drop = (draw(st.integers(0, ticks - 1)), draw(st.integers(1, 250)))
    return Plan(tuple(sorted(events, key=lambda e: e[0])), drop, ticks, 200)


_PLAUSIBLE = bytes([2, 0x68, 0x01, 40, 0, 0x81, 50, 0])  # protocol 2, 360 V, 40 A, enabled + discharge-capable


def _fault_flags(st_: EvStatus) -> bool:
    return (st_.fault_overvoltage or st_.fault_undervoltage or st_.fault_current_deviation
            or st_.fault_high_temperature or st_.fault_voltage_deviation or st_.system_fault or st_.shift_not_park)


def check_steps(steps: list[Step], rig: CanRig) -> None:
    """The safety invariants, step by step."""
    cfg = rig.charger.config
    timeouts = cfg.timeouts
    ramp = max(cfg.stop_ramp_a_per_s, 1e-9)
    window: deque[tuple[float, float, float]] = deque()  # (t, charge limit, discharge limit)
    t0 = steps[0].t if steps else 0.0
    prev_cmd = 0.0
    stop_t: float | None = None
    i_stop = 0.0
    for s in steps:
        where = f"t={s.t:.2f} {s.phase_before.value}->{s.phase.value}"
        # Commands: bounded by what the car asked for / allows and by the ratings, in every phase.
        if s.phase is P.ENERGY_TRANSFER or s.phase is P.STOP_CURRENT:
            if s.command_a > 0:
                assert s.request_a is not None and s.command_a <= min(s.request_a, s.advertised_before_a) + 1e-9, \
                    f"{where}: command {s.command_a} A above request {s.request_a} / offer {s.advertised_before_a}"
                assert s.command_a <= RATINGS.max_charge_current_a + 1e-9
            else:
                assert -s.command_a <= min(s.discharge_limit_a, RATINGS.max_discharge_current_a) + 1e-9, \
                    f"{where}: discharge command {s.command_a} A beyond limit {s.discharge_limit_a}"
        elif s.phase in INSULATION:
            assert 0.0 <= s.command_a <= cfg.insulation_test_current_a, where
        else:
            assert s.command_a == 0.0, f"{where}: {s.command_a} A commanded outside energy transfer"
        # Measured current: within the limits of the last LAG_S (the stage needs time to follow a lower limit).
        charge_lim = discharge_lim = 0.0
        if s.phase in (P.ENERGY_TRANSFER, P.STOP_CURRENT) and s.request_a is not None:
            charge_lim = min(s.request_a, s.advertised_before_a)
            discharge_lim = min(s.discharge_limit_a, RATINGS.max_discharge_current_a)
        elif s.phase in INSULATION:
            charge_lim = cfg.insulation_test_current_a
        window.append((s.t, charge_lim, discharge_lim))
        while window and window[0][0] < s.t - LAG_S:
            window.popleft()
        if s.t >= t0 + LAG_S:  # the window needs LAG_S of history (a warm rig's is not recorded)
            assert s.measured_a <= max(w[1] for w in window) + TOL_A, f"{where}: {s.measured_a} A delivered"
            assert -s.measured_a <= max(w[2] for w in window) + TOL_A, f"{where}: {-s.measured_a} A discharged"
        assert abs(s.measured_a) <= RATINGS.max_charge_current_a + TOL_A
        # A stop, once begun, never gives more current: the command stays under the stop ramp (0 at once for an
        # error stop), and the current is below 5 A by the deadline.
        if s.stopped and stop_t is None:
            stop_t, i_stop = s.t, abs(prev_cmd)
        if stop_t is not None:
            envelope = 0.0 if s.fast_cut else max(0.0, i_stop - ramp * (s.t - stop_t))
            assert abs(s.command_a) <= envelope + 1e-6, \
                f"{where}: {s.command_a} A commanded {s.t - stop_t:.2f} s into a stop from {i_stop} A"
            deadline = FAST_STOP_S + i_stop / ramp
            if s.t >= stop_t + deadline + 2 * DT:
                assert abs(s.measured_a) <= STOP_CURRENT_A + TOL_A, \
                    f"{where}: {s.measured_a} A {s.t - stop_t:.2f} s after the stop"
        prev_cmd = s.command_a
        # CAN silence in a talking phase stops the session.
        if s.phase_before in TALKING and s.status_age_s is not None and s.status_age_s > timeouts.can_timeout_s + DT:
            assert s.stopped, f"{where}: no 0x102 for {s.status_age_s:.2f} s and no stop"
        if not s.lock and s.phase in (P.WAIT_UNLOCK, P.FINISHED):
            assert s.voltage_v <= cfg.safe_voltage_v + 1e-6, f"{where}: unlocked at {s.voltage_v} V"


@dataclass(frozen=True)
class SessionCase:
    profile: str
    soc: float
    setpoint_w: float | None
    plan: Plan


SESSION_TICKS = 300
session_cases = st.builds(
    SessionCase,
    profile=st.sampled_from(["leaf40-ze1", "leaf62-ze1", "leaf24-aze0"]),
    soc=st.sampled_from([30.0, 60.0]),
    setpoint_w=st.sampled_from([None, 20_000.0, -5_000.0]),
    plan=plans(SESSION_TICKS),
)


def check_session(case: SessionCase) -> None:
    rig = warm_rig(case.profile, case.soc, case.setpoint_w)
    steps = _run_checked(rig, case.plan)
    check_steps(steps, rig)


def _run_checked(rig: CanRig, plan: Plan) -> list[Step]:
    steps: list[Step] = []
    by_tick: dict[int, list[tuple[tuple[RawFrame, ...], bool]]] = {}
    for tick, frames, put_first in plan.events:
        by_tick.setdefault(tick, []).append((frames, put_first))
    for n in range(plan.ticks + plan.tail):
        drop = plan.drop is not None and plan.drop[0] <= n < plan.drop[0] + plan.drop[1]
        injected = by_tick.get(n, [])
        first = [f for frames, before in injected if before for f in frames]
        after = [f for frames, before in injected if not before for f in frames]
        if first:
            rig.bus.rx.extendleft(reversed(first))
        steps.append(rig.tick(after, drop_car=drop))
        st_ = rig.charger.ev_status
        if st_ is not None and _fault_flags(st_) and steps[-1].phase_before in TALKING:
            assert rig.charger.stop_reason is not None, f"t={steps[-1].t:.2f}: the car reports {st_} and no stop"
    return steps


HANDSHAKE_TICKS = 1500
handshake_cases = st.builds(SessionCase, profile=st.sampled_from(["leaf40-ze1", "leaf24-aze0"]), soc=st.just(50.0),
                            setpoint_w=st.just(None), plan=plans(HANDSHAKE_TICKS))


def check_handshake(case: SessionCase) -> None:
    rig = CanRig(case.profile, case.soc, seed=2)
    steps = _run_checked(rig, case.plan)
    check_steps(steps, rig)


def targets() -> list[Target]:
    return [
        Target("can/decode", raw_frames, check_decode, 3000),
        Target("can/session", session_cases, check_session, 100),
        Target("can/handshake", handshake_cases, check_handshake, 25),
    ]

