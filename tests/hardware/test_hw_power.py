"""Emulated power stage physics and energy metering (deterministic, explicit time steps)."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chargepoint.clock import VirtualClock
from chargepoint.hardware.interfaces import MeterReading, PowerRatings
from chargepoint.hardware.lines import EmulatedLines, Line
from chargepoint.hardware.power import EmulatedMeter, EmulatedPowerStage, PowerFault, PowerStage
from hil.emulators.battery import Battery

DT = 0.1


class LinearBattery:
    """OCV rising linearly with charge, series resistance; contactors switchable."""

    def __init__(self, ocv: float = 380.0, r: float = 0.1, v_per_ah: float = 0.0) -> None:
        self.ocv, self.r, self.v_per_ah = ocv, r, v_per_ah
        self.closed = True
        self.steps: list[tuple[float, float]] = []

    def __call__(self, current_a: float, dt: float) -> float | None:
        if not self.closed:
            return None
        v = self.ocv + current_a * self.r
        if dt > 0:
            self.steps.append((current_a, dt))
            self.ocv += self.v_per_ah * current_a * dt / 3600.0
        return v


def make(load: LinearBattery | None = None, **ratings: float) -> tuple[EmulatedPowerStage, LinearBattery]:
    stage = EmulatedPowerStage(PowerRatings(**ratings))
    load = load or LinearBattery()
    stage.attach_load(load)
    stage.set_contactor(True)
    return stage, load


def run(stage: EmulatedPowerStage, t0: float, seconds: float) -> float:
    n = round(seconds / DT)
    for k in range(1, n + 1):
        stage.step(t0 + k * DT)
    return t0 + n * DT


def test_is_a_power_stage() -> None:
    stage: PowerStage = EmulatedPowerStage()
    assert stage.ratings == PowerRatings()


def test_current_ramps_at_the_rated_rate() -> None:
    stage, _ = make(ramp_a_per_s=20.0)
    stage.set_target(100.0, 450.0)
    stage.enable(True)
    stage.step(0.0)
    assert stage.measured_current_a() == 0.0
    t = run(stage, 0.0, 1.0)
    assert stage.measured_current_a() == pytest.approx(20.0)
    run(stage, t, 5.0)
    assert stage.measured_current_a() == pytest.approx(100.0)
    assert stage.measured_voltage_v() == pytest.approx(380.0 + 100 * 0.1)
    stage.set_target(40.0, 450.0)  # ramps down at the same rate
    stage.step(6.1)
    assert stage.measured_current_a() == pytest.approx(98.0)


def test_target_clamped_to_current_and_power_ratings() -> None:
    stage, _ = make(ramp_a_per_s=1000.0, max_charge_current_a=125.0, max_charge_power_w=50_000.0)
    stage.set_target(500.0, 500.0)
    assert stage.target_current_a == 125.0
    stage.enable(True)
    stage.step(0.0)
    run(stage, 0.0, 1.0)
    i, v = stage.measured_current_a(), stage.measured_voltage_v()
    assert i <= 125.0 and v * i <= 50_000.0 + 1e-6
    assert v * i == pytest.approx(min(125.0 * (380 + 12.5), 50_000.0), rel=1e-6)
    stage.set_target(-500.0, 500.0)
    assert stage.target_current_a == -stage.ratings.max_discharge_current_a


def test_voltage_limit_is_never_exceeded_while_tapering() -> None:
    # Tiny battery: OCV climbs 20 V per Ah, so the stage runs into the limit and must taper.
    stage, _ = make(LinearBattery(ocv=390.0, r=0.1, v_per_ah=20.0), ramp_a_per_s=50.0)
    stage.set_target(125.0, 400.0)
    stage.enable(True)
    stage.step(0.0)
    currents, volts = [], []
    for k in range(1, 600):
        stage.step(k * DT)
        currents.append(stage.measured_current_a())
        volts.append(stage.measured_voltage_v())
    assert max(volts) <= 400.0
    assert 85.0 < max(currents) < 100.0  # (400 - OCV) / 0.1, the OCV having risen a little meanwhile
    assert currents[-1] < 20.0 and all(b <= a + 1e-9 for a, b in itertools.pairwise(currents[30:]))
    assert volts[-1] == pytest.approx(400.0, abs=1e-6)


def test_no_charging_above_the_limit_and_discharge_floor() -> None:
    stage, _ = make(LinearBattery(ocv=410.0), ramp_a_per_s=100.0, min_voltage_v=50.0)
    stage.set_target(50.0, 400.0)
    stage.enable(True)
    stage.step(0.0)
    run(stage, 0.0, 1.0)
    assert stage.measured_current_a() == 0.0 and stage.measured_voltage_v() == 410.0
    low, _ = make(LinearBattery(ocv=60.0, r=1.0), ramp_a_per_s=100.0, min_voltage_v=50.0)
    low.set_target(-30.0, 400.0)
    low.enable(True)
    low.step(0.0)
    run(low, 0.0, 1.0)
    assert low.measured_current_a() == pytest.approx(-10.0, abs=1e-6)  # 60 V - 10 A * 1 ohm = 50 V floor
    assert low.measured_voltage_v() >= 50.0


def test_efficiency_and_discharge() -> None:
    stage, _ = make(ramp_a_per_s=1000.0, efficiency=0.95)
    stage.set_target(50.0, 450.0)
    stage.enable(True)
    stage.step(0.0)
    stage.step(0.1)
    p_dc = stage.dc_power_w()
    assert p_dc == pytest.approx(50.0 * 385.0)
    assert stage.ac_power_w() == pytest.approx(p_dc / 0.95)
    stage.set_target(-20.0, 450.0)
    stage.step(0.2)
    assert stage.measured_current_a() == pytest.approx(-20.0)
    assert stage.dc_power_w() == pytest.approx(-20.0 * 378.0)
    assert stage.ac_power_w() == pytest.approx(stage.dc_power_w() * 0.95)


def test_disable_and_open_contactor_stop_the_current() -> None:
    stage, battery = make(ramp_a_per_s=1000.0)
    stage.set_target(100.0, 450.0)
    stage.enable(True)
    stage.step(0.0)
    stage.step(0.1)
    assert stage.measured_current_a() == 100.0
    stage.enable(False)
    stage.step(0.2)
    assert stage.measured_current_a() == 0.0
    assert stage.measured_voltage_v() == 380.0 + 100 * 0.0  # car contactors closed: battery voltage stays
    stage.enable(True)
    stage.set_contactor(False)
    stage.step(0.3)
    assert stage.measured_current_a() == 0.0 and not stage.contactor_closed
    assert battery.steps[-1] == (0.0, pytest.approx(0.1))


def test_capacitor_decays_to_10_volts_only_after_the_car_opens() -> None:
    tau = 0.4
    stage = EmulatedPowerStage(discharge_tau_s=tau)
    battery = LinearBattery(ocv=400.0)
    stage.attach_load(battery)
    stage.step(0.0)
    assert stage.measured_voltage_v() == 400.0
    run(stage, 0.0, 5.0)
    assert stage.measured_voltage_v() == 400.0  # welded or closed car contactors hold the voltage
    battery.closed = False
    t_10v = tau * math.log(400.0 / 10.0)  # ~1.48 s
    t = 5.0
    while stage.measured_voltage_v() > 10.0:
        t += DT
        stage.step(t)
        assert t - 5.0 < t_10v + DT + 1e-9
    assert t - 5.0 >= t_10v - 1e-9
    assert stage.measured_voltage_v() > 0.0


def test_insulation_test_ramp() -> None:
    lines = EmulatedLines(VirtualClock())
    stage = EmulatedPowerStage(lines=lines, insulation_ramp_v_per_s=250.0, discharge_tau_s=0.2)
    stage.attach_load(lambda i, dt: None)  # car contactors open
    stage.step(0.0)
    stage.start_insulation_test(500.0)
    run(stage, 0.0, 1.0)
    assert stage.measured_voltage_v() == 0.0  # output contactor still open
    lines.set(Line.CONTACTOR, True)
    t = run(stage, 1.0, 1.0)
    assert stage.contactor_closed and stage.measured_voltage_v() == pytest.approx(250.0)
    t = run(stage, t, 2.0)
    assert stage.measured_voltage_v() == pytest.approx(500.0) and stage.insulation_test_active
    stage.stop_insulation_test()
    t = run(stage, t, 1.0)
    assert stage.measured_voltage_v() < 20.0


def test_faults() -> None:
    stage, _ = make(ramp_a_per_s=1000.0)
    stage.set_target(40.0, 450.0)
    stage.enable(True)
    stage.step(0.0)
    stage.inject_fault(PowerFault.OVERCURRENT)
    stage.step(0.1)
    assert stage.measured_current_a() == pytest.approx(60.0)
    stage.clear_fault(PowerFault.OVERCURRENT)
    stage.step(0.2)
    assert stage.measured_current_a() == pytest.approx(40.0)
    stage.inject_fault(PowerFault.CONTACTOR_WELDED)
    stage.set_contactor(False)
    stage.step(0.3)
    assert stage.contactor_closed and stage.faults == {PowerFault.CONTACTOR_WELDED}
    stage.clear_fault()
    stage.step(0.4)
    assert not stage.contactor_closed
    stage.inject_fault(PowerFault.CONTACTOR_STUCK_OPEN)
    stage.set_contactor(True)
    stage.step(0.5)
    assert not stage.contactor_closed and stage.measured_current_a() == 0.0


def test_argument_checks() -> None:
    stage = EmulatedPowerStage()
    with pytest.raises(ValueError):
        stage.set_target(math.nan, 400.0)
    with pytest.raises(ValueError):
        stage.set_target(10.0, -1.0)
    stage.step(1.0)
    with pytest.raises(ValueError, match="backwards"):
        stage.step(0.5)
    with pytest.raises(ValueError):
        EmulatedPowerStage(discharge_tau_s=0)


def test_meter_integrates_signed_power_into_registers() -> None:
    meter = EmulatedMeter()
    assert meter.update(0.0, 400.0, 100.0) == MeterReading(400.0, 100.0, 0.0, 0.0)
    for k in range(1, 361):
        r = meter.update(k * DT, 400.0, 100.0)
    assert r.import_wh == pytest.approx(400.0) and r.export_wh == 0.0  # 40 kW for 36 s
    for k in range(361, 541):
        r = meter.update(k * DT, 380.0, -20.0)
    # Sample and hold: the interval 36.0 -> 36.1 s still runs at the previous sample's +40 kW.
    assert r.import_wh == pytest.approx(400.0 + 40_000 * 0.1 / 3600.0)  # then frozen while exporting
    assert r.export_wh == pytest.approx(7600.0 * 17.9 / 3600.0)
    assert r.power_w == -7600.0
    with pytest.raises(ValueError):
        meter.update(0.0, 1.0, 1.0)


def test_stage_with_the_battery_model_and_meter_agree() -> None:
    def session() -> tuple[MeterReading, Battery]:
        battery = Battery(capacity_wh=24_000, soc=50.0)
        stage = EmulatedPowerStage(PowerRatings(ramp_a_per_s=20.0))
        stage.attach_load(battery.step)
        stage.set_contactor(True)
        meter = EmulatedMeter()
        stage.set_target(60.0, 395.0)
        stage.enable(True)
        for k in range(600):
            stage.step(k * DT)
            reading = meter.update_from(stage, k * DT)
        stage.set_target(-30.0, 395.0)
        for k in range(600, 900):
            stage.step(k * DT)
            reading = meter.update_from(stage, k * DT)
        return reading, battery

    reading, battery = session()
    # The meter's sample-and-hold sees exactly what the battery absorbed and delivered.
    assert reading.import_wh == pytest.approx(battery.energy_in_wh, rel=1e-9)
    assert reading.export_wh == pytest.approx(battery.energy_out_wh, rel=1e-9)
    assert reading.import_wh > 300 and reading.export_wh > 50
    assert session()[0] == reading  # deterministic


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.floats(-200, 200), st.floats(0, 600), st.booleans(), st.floats(0.01, 1.0)),
        min_size=1,
        max_size=30,
    ),
    ocv=st.floats(250, 420),
)
def test_limits_hold_for_any_command_sequence(steps: list[tuple[float, float, bool, float]], ocv: float) -> None:
    ratings = PowerRatings()
    stage, _ = make(LinearBattery(ocv=ocv, r=0.15, v_per_ah=1.0))
    t = 0.0
    stage.step(t)
    for current, vlimit, enabled, dt in steps:
        stage.set_target(current, vlimit)
        stage.enable(enabled)
        t += dt
        stage.step(t)
        i, v = stage.measured_current_a(), stage.measured_voltage_v()
        assert -ratings.max_discharge_current_a <= i <= ratings.max_charge_current_a
        if i > 0:
            assert v <= min(vlimit, ratings.max_voltage_v)
            assert v * i <= ratings.max_charge_power_w + 1e-6
        if i < 0:
            assert v >= ratings.min_voltage_v and -v * i <= ratings.max_discharge_power_w + 1e-6
        if not enabled:
            assert i == 0.0
