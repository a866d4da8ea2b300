"""Shared helpers for the CHAdeMO tests: benches in virtual time, never real sleeps."""

from __future__ import annotations

from dataclasses import replace

from chargepoint.chademo.charger import ChademoCharger
from chargepoint.chademo.charger_types import ChargerPhase
from chargepoint.chademo.frames import EvseCapability, EvseStatus
from chargepoint.chademo.timeouts import ChargerConfig
from hil.emulators.chademo_pair import ChademoPair
from hil.emulators.ev import EvEmulator
from hil.emulators.ev_profiles import PROFILES, EvProfile

P = ChargerPhase


def make_pair(
    profile: str | EvProfile = "leaf40-ze1",
    soc: float = 50.0,
    seed: int = 0,
    config: ChargerConfig | None = None,
    record: bool = False,
    log_frames: bool = False,
    **profile_overrides: object,
) -> ChademoPair:
    prof = PROFILES[profile] if isinstance(profile, str) else profile
    if profile_overrides:
        prof = replace(prof, **profile_overrides)  # type: ignore[arg-type]
    pair = ChademoPair(
        charger=ChademoCharger(config),
        ev=EvEmulator(prof, soc=soc, seed=seed),
        record=record,
        log_frames=log_frames,
    )
    return pair


def start_to(pair: ChademoPair, phase: ChargerPhase = P.ENERGY_TRANSFER, timeout_s: float = 30.0) -> float:
    """Start a session and run until the charger reaches ``phase``; return the time it did."""
    pair.start()
    assert pair.run_until_phase(phase, timeout_s), f"never reached {phase}, stuck in {pair.charger.phase}"
    return pair.now


def run_to_current(pair: ChademoPair, amps: float = 20.0, timeout_s: float = 30.0) -> float:
    """Start and run until at least ``amps`` flow into the car."""
    start_to(pair)
    assert pair.run_until(lambda: pair.link.current_a >= amps, timeout_s), "current never reached"
    return pair.now


def finish(pair: ChademoPair, timeout_s: float = 30.0) -> bool:
    return pair.run_until_phase(P.FINISHED, timeout_s)


def evse_statuses(pair: ChademoPair) -> list[tuple[float, EvseStatus]]:
    return [(t, f) for t, who, f in pair.frame_log if who == "evse" and isinstance(f, EvseStatus)]


def status_byte(f: EvseStatus) -> int:
    return (
        f.charging
        | f.malfunction << 1
        | f.energizing << 2
        | f.battery_incompatible << 3
        | f.system_malfunction << 4
        | f.stop_control << 5
    )


def time_to_low_current(pair: ChademoPair, t0: float, limit_a: float = 5.0) -> float:
    """Seconds from ``t0`` until the recorded current is at or below ``limit_a`` (needs ``record=True``)."""
    for s in pair.samples:
        if s.t >= t0 and abs(s.current_a) <= limit_a:
            return s.t - t0
    raise AssertionError("current never fell")


def assert_unlocked_only_when_safe(pair: ChademoPair) -> None:
    """The lock command never dropped while the output was above 10 V (needs ``record=True``)."""
    was_locked = False
    for s in pair.samples:
        if s.lock:
            was_locked = True
        elif was_locked:
            assert s.voltage_v <= 10.0, s
            was_locked = False
        if s.phase is P.FINISHED:
            assert s.voltage_v <= 10.0


class ScriptedCharger:
    """A hand-driven charger for car-side tests: sends 108/109 every 100 ms with fields set by the test."""

    def __init__(self, ev: EvEmulator, dt: float = 0.01) -> None:
        self.ev = ev
        self.dt = dt
        self.t = 0.0
        self.d1 = False
        self.d2 = False
        self.voltage_v = 0.0
        self.current_a = 0.0
        self.cap = EvseCapability(True, 500.0, 125.0, 435.0)
        self.status = EvseStatus(2, 0.0, 0.0, remaining_time_min=60)
        self._next = 0.0
        self.k = False

    def run(self, seconds: float) -> None:
        end = self.t + seconds
        while self.t < end - 1e-9:
            if self.t >= self._next - 1e-6 and self.d1:
                self._next = self.t + 0.1
                self.ev.on_frame(self.cap, self.t)
                self.ev.on_frame(self.status, self.t)
            a = self.ev.step(self.t, self.d1, self.d2, self.voltage_v, self.current_a)
            self.k = a.k
            if a.contactor_closed:
                self.voltage_v = self.ev.battery.terminal_voltage(self.current_a)
            self.t += self.dt
