"""Pure arbitration helpers and the configuration dataclasses."""

from __future__ import annotations

import math

import pytest

from chargepoint.chademo.limits import CurrentWindow, clamp_current, setpoint_to_current, soc_level_percent
from chargepoint.chademo.timeouts import ChademoTimeouts, ChargerConfig
from chargepoint.hardware.interfaces import PowerRatings


def _window(**kw: float | bool) -> CurrentWindow:
    base: dict[str, float | bool] = dict(
        ev_request_a=100.0,
        evse_available_a=125.0,
        charge_rating_a=125.0,
        charge_power_w=50_000.0,
        ev_discharge_limit_a=15.0,
        evse_discharge_available_a=30.0,
        discharge_rating_a=30.0,
        discharge_power_w=10_000.0,
        voltage_v=400.0,
        charge_allowed=True,
        discharge_allowed=True,
        charge_voltage_limit_v=410.0,
        discharge_voltage_floor_v=255.0,
    )
    base.update(kw)
    return CurrentWindow.build(**base)  # type: ignore[arg-type]


def test_window_takes_the_minimum_of_every_limit() -> None:
    assert _window().max_charge_a == 100.0
    assert _window(evse_available_a=40.0).max_charge_a == 40.0
    assert _window(charge_power_w=20_000.0).max_charge_a == 50.0
    assert _window().max_discharge_a == 15.0
    assert _window(evse_discharge_available_a=10.0).max_discharge_a == 10.0
    assert _window(discharge_power_w=2_000.0).max_discharge_a == 5.0
    assert _window(charge_allowed=False).max_charge_a == 0.0
    assert _window(discharge_allowed=False).max_discharge_a == 0.0
    assert _window(ev_request_a=-3.0).max_charge_a == 0.0


def test_clamp_current_direction_and_magnitude() -> None:
    w = _window()
    assert clamp_current(math.inf, w) == 100.0
    assert clamp_current(20.0, w) == 20.0
    assert clamp_current(-100.0, w) == -15.0
    assert clamp_current(-5.0, w) == -5.0
    assert clamp_current(0.0, w) == 0.0
    assert clamp_current(math.nan, w) == 0.0


def test_setpoint_conversion() -> None:
    assert setpoint_to_current(None, None, 400.0) == math.inf
    assert setpoint_to_current(4000.0, None, 400.0) == 10.0
    assert setpoint_to_current(-4000.0, None, 400.0) == -10.0
    assert setpoint_to_current(4000.0, 7.0, 400.0) == 7.0  # amps win
    assert setpoint_to_current(4000.0, None, 0.0) == 0.0  # no voltage yet: nothing
    assert setpoint_to_current(math.inf, None, 0.0) == math.inf
    assert setpoint_to_current(0.0, None, 400.0) == 0.0


def test_soc_levels_in_percent_and_kwh() -> None:
    assert soc_level_percent(0, "percent", 0) is None
    assert soc_level_percent(10, "percent", 0) == 10.0
    assert soc_level_percent(67, "kwh", 22_200.0) == 30.0  # 6.7 kWh of 22.2 kWh, truncated
    assert soc_level_percent(179, "kwh", 22_200.0) == 80.0
    assert soc_level_percent(67, "kwh", 0.0) is None


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        ChargerConfig(protocol_number=4)
    with pytest.raises(ValueError):
        ChargerConfig(energizing_at="never")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ChargerConfig(ratings=PowerRatings(max_charge_current_a=300.0))
    with pytest.raises(ValueError):
        ChademoTimeouts(can_timeout_s=-1.0)
    with pytest.raises(ValueError):
        ChademoTimeouts(cycle_s=0.0)
    t = ChademoTimeouts()
    assert (t.can_timeout_s, t.contactor_close_timeout_s, t.welding_timeout_s, t.d2_to_d1_s) == (1.0, 4.0, 10.0, 0.5)


def test_timeouts_are_honoured_when_configured() -> None:
    from hil.emulators.ev_profiles import EvFault

    from .bench import make_pair, start_to

    cfg = ChargerConfig(timeouts=ChademoTimeouts(contactor_close_timeout_s=2.0))
    pair = make_pair(config=cfg)
    pair.ev.inject(EvFault.NO_CONTACTOR_CLOSE)
    t0 = start_to(pair, pair.charger.phase.WAIT_EV_CONTACTORS)
    assert pair.run_until(lambda: pair.charger.stop_reason is not None, 5.0)
    assert 2.0 <= pair.now - t0 <= 2.1
