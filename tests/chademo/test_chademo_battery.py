"""Battery model: OCV table, internal resistance, CC/CV taper, coulombic SoC integration, determinism."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.emulators.battery import LEAF_OCV_TABLE, Battery, BatteryError, OcvTable


def test_ocv_table_interpolates_and_inverts() -> None:
    t = OcvTable.of([(0, 300), (50, 350), (100, 400)])
    assert t.voltage(25) == pytest.approx(325)
    assert t.voltage(-5) == 300 and t.voltage(120) == 400
    assert t.soc_at(375) == pytest.approx(75)
    assert t.mean_voltage() == pytest.approx(350)


@pytest.mark.parametrize(
    "points",
    [[(0, 300)], [(0, 300), (90, 400)], [(0, 300), (50, 290), (100, 400)], [(0, 300), (0, 310), (100, 400)]],
)
def test_ocv_table_rejects_bad_tables(points: list[tuple[float, float]]) -> None:
    with pytest.raises(BatteryError):
        OcvTable.of(points)


def test_leaf_pack_voltage_range() -> None:
    assert 250 <= LEAF_OCV_TABLE.voltage(0) < LEAF_OCV_TABLE.voltage(100) <= 435


def test_terminal_voltage_rises_when_charging_and_sags_when_discharging() -> None:
    b = Battery(40_000, 50, r_internal=0.1)
    assert b.terminal_voltage(100) == pytest.approx(b.ocv() + 10)
    assert b.terminal_voltage(-20) == pytest.approx(b.ocv() - 2)


def test_full_charge_stores_the_nominal_energy() -> None:
    b = Battery(10_000, 0.0, r_internal=0.0, coulombic_efficiency=1.0)
    while b.soc < 100.0:
        b.step(10.0, 10.0)
    assert b.soc == 100.0
    assert b.stored_wh == pytest.approx(10_000, rel=1e-6)
    assert b.energy_in_wh == pytest.approx(10_000, rel=2e-3)


def test_coulombic_efficiency_and_energy_counters() -> None:
    b = Battery(40_000, 50, coulombic_efficiency=0.9)
    soc0 = b.soc
    b.step(100.0, 36.0)  # 1 Ah in
    assert b.soc - soc0 == pytest.approx(0.9 / b.capacity_ah * 100)
    b.step(-100.0, 36.0)  # 1 Ah out
    assert b.soc - soc0 == pytest.approx(-0.1 / b.capacity_ah * 100)
    assert b.energy_in_wh > 0 and b.energy_out_wh > 0


def test_soc_clamps_at_empty_and_full() -> None:
    b = Battery(1000, 1.0)
    b.step(-1000, 3600)
    assert b.soc == 0.0 and b.max_discharge_current() == 0.0
    b.step(1000, 3600)
    assert b.soc == 100.0


def test_cc_cv_taper_falls_towards_zero_near_the_limit() -> None:
    currents = []
    b = Battery(1000, 80.0, r_internal=0.1, v_max=403.0)
    for _ in range(400):
        i = b.cc_cv_current(125.0, v_cv=398.0)
        currents.append(i)
        assert b.terminal_voltage(i) <= 398.0 + 1e-9
        b.step(i, 5.0)
    assert currents[0] == 125.0 or currents[0] < 125.0
    assert currents[-1] < 5.0
    assert all(b2 <= a + 1e-9 for a, b2 in itertools.pairwise(currents[1:]))  # monotone taper


def test_max_discharge_current_respects_floor() -> None:
    b = Battery(40_000, 50, r_internal=0.1)
    i = b.max_discharge_current(360.0)
    assert b.terminal_voltage(-i) == pytest.approx(360.0)


def test_sensor_noise_is_deterministic_for_a_seed() -> None:
    a = Battery(40_000, 50, sensor_noise_v=1.0, seed=7)
    b = Battery(40_000, 50, sensor_noise_v=1.0, seed=7)
    c = Battery(40_000, 50, sensor_noise_v=1.0, seed=8)
    va = [a.measured_voltage() for _ in range(5)]
    assert va == [b.measured_voltage() for _ in range(5)]
    assert va != [c.measured_voltage() for _ in range(5)]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"capacity_wh": 0, "soc": 50},
        {"capacity_wh": 1000, "soc": 101},
        {"capacity_wh": 1000, "soc": 50, "r_internal": -1},
        {"capacity_wh": 1000, "soc": 50, "coulombic_efficiency": 0},
        {"capacity_wh": 1000, "soc": 50, "v_min": 500},
    ],
)
def test_invalid_parameters_raise(kwargs: dict[str, float]) -> None:
    with pytest.raises(BatteryError):
        Battery(**kwargs)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.floats(-300, 300), st.floats(0, 60)), max_size=30), st.floats(0, 100))
def test_soc_stays_in_range_and_energy_counters_are_monotonic(steps: list[tuple[float, float]], soc: float) -> None:
    b = Battery(5000, soc)
    e_in = e_out = 0.0
    for i, dt in steps:
        b.step(i, dt)
        assert 0.0 <= b.soc <= 100.0
        assert b.energy_in_wh >= e_in and b.energy_out_wh >= e_out
        e_in, e_out = b.energy_in_wh, b.energy_out_wh
