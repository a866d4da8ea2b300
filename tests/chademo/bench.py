"""Shared helpers for the CHAdeMO tests: benches in virtual time, never real sleeps."""

from __future__ import annotations

from dataclasses import replace

from chargepoint.chademo.charger import ChademoCharger
from chargepoint.chademo.charger_types import ChargerPhase
from chargepoint.chademo.frames import EvseStatus
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
