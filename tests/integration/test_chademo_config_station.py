"""What the station TOML sets for a CHAdeMO EVSE reaches the running connector (``build_chademo``), virtual time:

* ``[evse.chademo.timeouts]`` / ``[evse.chademo]``: the charger state machine runs with them;
* ``[evse.ratings]`` ``ramp_a_per_s`` and ``efficiency``: the emulated power stage ramps its current at the rated
  A/s and converts at the rated efficiency (grid side = DC / efficiency charging, DC x efficiency discharging).
"""

from __future__ import annotations

import itertools
import tomllib
from datetime import UTC, datetime

import pytest

from chargepoint.app import build_chademo
from chargepoint.chademo.charger_types import ChargerPhase, StopReason
from chargepoint.chademo.connector import ChademoConnector
from chargepoint.clock import VirtualClock
from chargepoint.config import parse_config
from chargepoint.hardware.interfaces import PortPhase
from chargepoint.station.core import Station
from chargepoint.station.types import AuthInfo, AuthStatus, IdToken
from hil.emulators.chademo_world import EmulatedChademoWorld

_ids = itertools.count(1)


def _connector(toml: str) -> ChademoConnector:
    cfg = parse_config(tomllib.loads(toml))
    return build_chademo(cfg.evses[0], f"CFG{next(_ids)}")


def _world(connector: ChademoConnector) -> EmulatedChademoWorld:
    assert isinstance(connector.world, EmulatedChademoWorld)
    return connector.world


@pytest.mark.parametrize(("toml_line", "gives_up_after_s"), [("ev_can_timeout_s = 2.5", 2.5), ("", 8.0)])
def test_a_timeout_from_the_toml_changes_how_long_the_charger_waits(toml_line: str, gives_up_after_s: float) -> None:
    """No car answers d1: the charger gives up after ``ev_can_timeout_s`` (NO_EV_CAN), 2.5 s from the file instead
    of the reference's 8 s."""
    connector = _connector(f"[[evse]]\nid = 1\n[evse.chademo.timeouts]\n{toml_line}\n")
    try:
        _world(connector).plug_in()
        connector.set_session_enabled(True)
        t, started = 0.0, None
        while connector.port.charger.stop_reason is None and t < 20.0:
            connector.step(t)
            if started is None and connector.port.charger.phase is ChargerPhase.WAIT_EV_CAN:
                started = t
            t = round(t + 0.1, 6)
        assert started is not None and connector.port.charger.stop_reason is StopReason.NO_EV_CAN
        assert t - 0.1 - started == pytest.approx(gives_up_after_s, abs=0.11)
    finally:
        connector.close()


RAMP_A_PER_S = 5.0
EFFICIENCY = 0.9
RATED = f"""
[[evse]]
id = 1
[evse.ratings]
ramp_a_per_s = {RAMP_A_PER_S}
efficiency = {EFFICIENCY}
max_discharge_current_a = 30
max_discharge_power_w = 10000
[evse.ev]
profile = "leaf40"
soc = 60
"""


def _crossing(samples: list[tuple[float, float]], level: float) -> float:
    """The time the sampled current crosses ``level`` (linear between samples), in the direction of ``level``."""
    for (t0, i0), (t1, i1) in itertools.pairwise(samples):
        if (i0 - level) * (i1 - level) <= 0 and i0 != i1 and abs(i1) > abs(i0):
            return t0 + (level - i0) * (t1 - t0) / (i1 - i0)
    raise AssertionError(f"never crossed {level} A")


def test_the_emulated_power_stage_ramps_at_the_rated_rate_and_converts_at_the_rated_efficiency() -> None:
    clock = VirtualClock(start=datetime(2026, 6, 1, 18, 0, tzinfo=UTC))
    connector = _connector(RATED)
    link = _world(connector).link
    station = Station({1: [connector]}, clock)
    station.set_online(True)
    samples: list[tuple[float, float]] = []

    def run_until(check: object, seconds: float) -> bool:
        for _ in range(round(seconds * 10)):
            if check():  # type: ignore[operator]
                return True
            clock.advance(0.1)
            station.tick()
            samples.append((clock.monotonic(), station.evses[1].connector.state.meter.current_a))  # type: ignore[union-attr]
        return bool(check())  # type: ignore[operator]

    def state():  # type: ignore[no-untyped-def]
        return station.evses[1].connector.state

    try:
        connector.plug_in()
        station.present_token(1, IdToken("RAMP"))
        station.authorize_result(station.drain()[0].ref, AuthInfo(AuthStatus.ACCEPTED))  # type: ignore[attr-defined]
        # Charging: the LEAF raises its request by 20 A/s; the stage follows at its rated 5 A/s.
        assert run_until(lambda: state() is not None and state().meter.current_a >= 45.0, 60)
        slope = (40.0 - 10.0) / (_crossing(samples, 40.0) - _crossing(samples, 10.0))
        assert slope == pytest.approx(RAMP_A_PER_S, rel=0.03)
        # Grid side while charging: DC power / efficiency, the energies likewise.
        assert link.grid_power_w == pytest.approx(link.dc_power_w / EFFICIENCY)
        assert link.grid_import_wh == pytest.approx(link.dc_import_wh / EFFICIENCY)
        assert link.dc_import_wh == pytest.approx(state().meter.import_wh, rel=0.03)  # what the station meters
        # Discharge (the station's setpoint beyond the car's 15 A 0x200 limit): down to 0 at once, then out of the
        # car at the rated 5 A/s.
        station.evses[1].setpoint_w = -9000.0
        mark = len(samples)
        assert run_until(lambda: state().meter.current_a <= -14.5, 30)
        ramp = samples[mark:]
        t_zero = next(t for t, i in ramp if i <= 0.0)
        assert t_zero - ramp[0][0] <= 0.2 + 1e-6  # the new target reaches the stage at the next tick
        slope = (12.0 - 2.0) / (_crossing(ramp, -12.0) - _crossing(ramp, -2.0))
        assert slope == pytest.approx(RAMP_A_PER_S, rel=0.03)
        run_until(lambda: False, 5)
        assert state().phase == PortPhase.ENERGY and state().meter.current_a == pytest.approx(-15.0, abs=0.5)
        # Grid side while discharging: DC power x efficiency fed into the grid.
        assert link.dc_power_w < 0 and link.grid_power_w == pytest.approx(link.dc_power_w * EFFICIENCY)
        assert link.dc_export_wh > 5 and link.grid_export_wh == pytest.approx(link.dc_export_wh * EFFICIENCY)
        assert link.dc_export_wh == pytest.approx(state().meter.export_wh, rel=0.03)
        assert link.loss_wh == pytest.approx(link.dc_import_wh * (1 / EFFICIENCY - 1)
                                             + link.dc_export_wh * (1 - EFFICIENCY))
        assert connector.port.power.grid_power_w() == link.grid_power_w  # type: ignore[attr-defined]
    finally:
        connector.close()
