"""The station with a CHAdeMO connector: charger state machine <-> emulated LEAF over real python-can frames.

Virtual bus (in-process, virtual time) for the whole session incl. a V2H discharge through the energy manager;
the serial CAN path: the charger on ``slcan`` through a pseudo-terminal, an slcan adapter emulator bridging to the
car's virtual bus; and the serial control-line path (``io = "serial:PORT"``): the charger's d1/d2/j/lock/contactor
over a pseudo-terminal to a line bench that plays the car's side of them, the car's frames on python-can.
"""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime

import pytest

from chargepoint.app import build_chademo
from chargepoint.chademo.charger_types import ChargerActions
from chargepoint.chademo.connector import SerialLineIO
from chargepoint.clock import VirtualClock
from chargepoint.config import ConfigError, EvConfig, EvseConfig
from chargepoint.energy.manager import EnergyManager
from chargepoint.energy.ocpp_codec import from_ocpp
from chargepoint.energy.profiles import ProfileStore
from chargepoint.hardware.can import open_bus
from chargepoint.hardware.interfaces import PortPhase, PowerRatings
from chargepoint.hardware.lines import INPUTS, EmulatedLines, Line, SerialLines
from chargepoint.station.actions import TransactionEnded, TransactionStarted
from chargepoint.station.core import Station
from chargepoint.station.types import AuthInfo, AuthStatus, IdToken, StopReason
from hil.emulators.chademo_world import CarOnBus, EmulatedChademoWorld
from hil.emulators.ev import EvEmulator
from hil.emulators.line_bench import LineBench
from hil.emulators.slcan_adapter import SlcanAdapterEmulator

RATINGS = PowerRatings(max_charge_current_a=125, max_discharge_current_a=30, max_discharge_power_w=10_000)
_ids = itertools.count(1)


def discharge_profile(watts: float) -> dict[str, object]:
    period = {"startPeriod": 0, "setpoint": watts, "dischargeLimit": -20000, "limit": 50000,
              "operationMode": "CentralSetpoint"}
    return {"id": 7, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": [{"id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": [period]}]}


class Rig:
    def __init__(self, soc: float = 60.0, can: str = "virtual", clock: VirtualClock | None = None) -> None:
        self.clock = clock or VirtualClock(start=datetime(2026, 6, 1, 18, 0, tzinfo=UTC))
        cfg = EvseConfig(1, protocol="chademo", can=can, ratings=RATINGS, ev=EvConfig("leaf40", soc))
        self.port = build_chademo(cfg, f"T{next(_ids)}")
        self.station = Station({1: [self.port]}, self.clock)
        self.station.set_online(True)
        self.energy = EnergyManager(self.station, ProfileStore("2.1"), {1: RATINGS})
        self.actions: list[object] = []

    def run(self, seconds: float) -> None:
        for _ in range(round(seconds * 10)):
            self.clock.advance(0.1)
            self.actions += self.station.tick()

    def run_until(self, check: object, timeout_s: float) -> bool:
        for _ in range(round(timeout_s * 10)):
            if check():  # type: ignore[operator]
                return True
            self.run(0.1)
        return bool(check())  # type: ignore[operator]

    def start_session(self) -> None:
        self.port.plug_in()
        self.station.present_token(1, IdToken("LEAF"))
        req = self.station.drain()[0]
        self.station.authorize_result(req.ref, AuthInfo(AuthStatus.ACCEPTED))  # type: ignore[attr-defined]
        self.run(0.1)

    def state(self):  # type: ignore[no-untyped-def]
        return self.station.evses[1].connector.state

    def close(self) -> None:
        self.port.close()


def test_emulated_leaf_charges_then_discharges_over_can_frames() -> None:
    rig = Rig(soc=60)
    try:
        rig.start_session()
        assert rig.run_until(lambda: rig.state().phase == PortPhase.ENERGY and rig.state().meter.current_a > 20, 60)
        assert any(isinstance(a, TransactionStarted) for a in rig.actions)
        rig.run(5)
        st = rig.state()
        assert st.meter.current_a > 20 and st.meter.power_w > 5000
        assert st.soc_percent == pytest.approx(60, abs=2)  # SoC comes from 0x102
        assert st.details["protocol"] == 2
        bus = rig.port.bus
        assert bus is not None and bus.tx_frames > 100 and bus.rx_frames > 100 and bus.rx_dropped == 0
        import_before = st.meter.import_wh
        # V2H: the station's signed setpoint turns the flow around within CHAdeMO's limits
        rig.energy.store.add(from_ocpp(discharge_profile(-3000), "2.1", evse_id=1))
        rig.energy.reevaluate(1)
        assert rig.run_until(lambda: rig.state().meter.current_a < -2, 30)
        rig.run(10)
        st = rig.state()
        assert st.meter.power_w == pytest.approx(-3000, rel=0.15)
        assert st.meter.export_wh > 0 and st.meter.import_wh >= import_before
        assert rig.energy.explain(1)["bound_by"] == "schedule.setpoint"
        # back to charging when the profile goes
        rig.energy.store.clear(7)
        rig.energy.reevaluate(1)
        assert rig.run_until(lambda: rig.state().meter.current_a > 5, 30)
        # the session ends on a remote stop and the connector unlocks only at <= 10 V
        tx = rig.station.transactions()[0]
        rig.station.remote_stop(tx.tx_id)
        assert any(isinstance(a, TransactionEnded) and a.reason == StopReason.REMOTE
                   for a in rig.actions + rig.station.drain())
        assert rig.run_until(lambda: rig.state().phase == PortPhase.FINISHED, 30)
        assert rig.state().meter.voltage_v <= 10.0
        assert rig.port.unlock()
    finally:
        rig.close()


def test_discharge_request_beyond_the_cars_limit_is_capped_by_0x200() -> None:
    rig = Rig(soc=70)
    try:
        rig.start_session()
        assert rig.run_until(lambda: rig.state().phase == PortPhase.ENERGY, 60)
        rig.energy.store.add(from_ocpp(discharge_profile(-9000), "2.1", evse_id=1))
        rig.energy.reevaluate(1)
        assert rig.run_until(lambda: rig.state().meter.current_a < -2, 30)
        rig.run(10)
        st = rig.state()
        limit = st.ev_max_discharge_current_a
        assert limit is not None and limit > 0
        assert -st.meter.current_a <= limit + 0.5
        assert rig.energy.explain(1)["bound_by"].startswith("ev.")
    finally:
        rig.close()


def test_serial_path_slcan_through_a_pseudo_terminal() -> None:
    """Charger on slcan:/dev/pts/N (pyserial), adapter emulator bridging to the car's virtual bus. Real time: the
    whole session over the serial path - charging, a V2H discharge (the car sees it in 0x208 through the adapter),
    and a station stop that ends unlocked at <= 10 V."""
    from chargepoint.clock import RealClock

    channel = f"slcan-bridge-{next(_ids)}"
    with SlcanAdapterEmulator(channel=channel) as adapter:
        port = adapter.port
        cfg = EvseConfig(1, protocol="chademo", can=f"slcan:{port}", ratings=RATINGS, ev=None)
        connector = build_chademo(cfg, "SLCAN", bus_kwargs={"sleep_after_open": 0})
        assert connector.world is not None
        # the car sits on the virtual side of the adapter
        car = CarOnBus(EvEmulator("leaf40-ze1", soc=55), open_bus(f"virtual:{channel}"))
        connector.world.car = car  # type: ignore[attr-defined]
        clock = RealClock()
        station = Station({1: [connector]}, clock)
        station.set_online(True)

        def state():  # type: ignore[no-untyped-def]
            return station.evses[1].connector.state

        def run_until(check: object, timeout_s: float) -> bool:
            """The station's 100 ms tick in real time (deadline-based) until ``check()``."""
            deadline = time.monotonic() + timeout_s
            next_tick = time.monotonic()
            while time.monotonic() < deadline:
                station.tick()
                if state() is not None and check():  # type: ignore[operator]
                    return True
                next_tick += 0.1
                time.sleep(max(0.0, next_tick - time.monotonic()))
            return False

        try:
            connector.plug_in()
            station.present_token(1, IdToken("SERIAL"))
            station.authorize_result(station.drain()[0].ref, AuthInfo(AuthStatus.ACCEPTED))  # type: ignore[attr-defined]
            assert run_until(lambda: state().phase == PortPhase.ENERGY and state().meter.current_a > 10, 60), state()
            assert connector.bus is not None and connector.bus.rx_frames > 50 and connector.bus.tx_frames > 50
            assert adapter.stats.frames_to_host > 50 and adapter.stats.frames_to_bus > 50
            # V2H: the station's signed setpoint turns the flow around; the car's 0x200 allows 15 A.
            station.evses[1].setpoint_w = -3000.0
            assert run_until(lambda: state().meter.current_a < -5, 15), state()
            assert run_until(lambda: car.ev.evse_discharge is not None
                             and car.ev.evse_discharge.discharge_current_a >= 5, 2)  # 208.0, over slcan
            assert car.ev.evse_status is not None and car.ev.evse_status.output_current_a == 0  # 109.3 while out
            run_until(lambda: False, 1.0)
            st = state()
            assert st.phase == PortPhase.ENERGY and st.meter.power_w == pytest.approx(-3000, rel=0.15)
            assert st.meter.export_wh > 0 and car.ev.battery.energy_out_wh > 0
            # a station stop: current to 0, welding detection, d2/d1 off, unlocked only at <= 10 V
            tx = station.transactions()[0]
            station.remote_stop(tx.tx_id)
            assert run_until(lambda: state().phase == PortPhase.FINISHED, 30), state()
            ch = connector.port.charger
            assert ch.stop_reason is not None and ch.stop_reason.value == "station" and not ch.is_fault
            assert state().meter.voltage_v <= 10.0 and not car.ev.contactor_closed and not car.ev.system_fault
            assert not connector.port.last_actions.lock and connector.unlock()
            assert adapter.stats.frames_to_bus > 200 and connector.bus.rx_dropped == 0
        finally:
            connector.close()


# ---- control lines over a serial port (io = "serial:PORT") ------


def wait_until(check: object, timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout_s} s real time")
        time.sleep(0.0005)


class CarBehindLineBench:
    """The far side of the control lines, as the connector's ``world``: an emulated LEAF on its own python-can
    endpoint that reads d1/d2 where the bench applied them and closes its switch k on the bench (the charger reads
    it as j over the pty). Between the two sits the emulated DC link (power stage, output contactor, cable): the
    only part with no wire of its own, so the charger's port reads it in-process (``power``), with the contactor
    as the bench applied it.

    Stepped in the station's tick before the port (like the emulated world), in virtual time; each step ends when
    the bench's events about the car's lines have reached the charger's side of the pty, as if the wire had a
    bounded latency, so the run is deterministic."""

    def __init__(self, bench: LineBench, car: CarOnBus, serial_lines: SerialLines) -> None:
        self.bench = bench
        self.world = EmulatedChademoWorld(car, plugged=True)
        self.power = self.world.power
        self.serial_lines = serial_lines

    def step(self, now: float, actions: ChargerActions) -> None:
        lines = self.bench.lines
        for name in ("d1", "d2", "lock", "contactor"):
            self.world.lines.out[name] = lines.get(name)  # what the bench drives, not what the charger meant
        self.world.step(now, actions)  # the current target: the power stage's set_target, in-process
        car = self.world.car
        assert car is not None
        lines.car.set_k(car.last.k)
        wait_until(lambda: all(self.serial_lines.get(ln) == lines.get(ln) for ln in INPUTS))

    def plug_in(self) -> None:
        self.world.plug_in()

    def unplug(self) -> None:
        self.world.unplug()

    def close(self) -> None:
        self.world.close()


def test_serial_control_lines_to_a_bench_playing_the_car_reach_current_delivery() -> None:
    """``io = "serial:<pty>"``: the station's own wiring (``build_chademo``: SerialLines + SerialLineIO) drives
    d1/d2/lock/contactor on a LineBench over a pseudo-terminal with the documented line protocol; the bench's side of
    the lines is played by an emulated LEAF (d1/d2 wake it and let it close its contactors, its k switch comes back
    as j, the lock feedback comes from the bench's lock actuator); the car's frames travel on python-can
    ``virtual``. The session reaches current delivery and ends with the lock released by the bench."""
    clock = VirtualClock(start=datetime(2026, 6, 1, 18, 0, tzinfo=UTC))
    channel = f"serial-lines-{next(_ids)}"
    with LineBench(EmulatedLines(clock, lock_delay_s=0.2)) as bench:
        cfg = EvseConfig(1, protocol="chademo", can=f"virtual:{channel}", io=f"serial:{bench.port}",
                         ratings=RATINGS, ev=None)
        connector = build_chademo(cfg, "SERIAL-IO")
        lines_io = connector.port.lines
        assert isinstance(lines_io, SerialLineIO) and isinstance(lines_io.lines, SerialLines)
        serial_lines = lines_io.lines
        car = CarOnBus(EvEmulator("leaf40-ze1", soc=55, seed=3), open_bus(f"virtual:{channel}"))
        far_side = CarBehindLineBench(bench, car, serial_lines)
        # the power stage has no wire: the port measures the DC link between the bench's contactor and the car
        connector.world = far_side
        connector.port.power = far_side.power
        station = Station({1: [connector]}, clock)
        station.set_online(True)

        def state():  # type: ignore[no-untyped-def]
            return station.evses[1].connector.state

        def run_until(check: object, seconds: float) -> bool:
            for _ in range(round(seconds * 10)):
                if check():  # type: ignore[operator]
                    return True
                clock.advance(0.1)
                station.tick()
            return bool(check())  # type: ignore[operator]

        try:
            connector.plug_in()
            station.present_token(1, IdToken("BENCH"))
            station.authorize_result(station.drain()[0].ref, AuthInfo(AuthStatus.ACCEPTED))  # type: ignore[attr-defined]
            assert run_until(lambda: bench.lines.car.d1, 2)  # d1 went over the pty to the bench
            assert run_until(lambda: state().phase == PortPhase.ENERGY and state().meter.current_a > 20, 60), state()
            st = state()
            assert bench.lines.car.d2 and bench.lines.car.contactor and bench.lines.car.locked
            assert serial_lines.get(Line.J) and serial_lines.get(Line.LOCK_FB)  # the car's k and the lock, as events
            assert st.meter.power_w > 5000 and st.soc_percent == pytest.approx(55, abs=2)
            assert car.ev.battery.energy_in_wh > 0
            assert bench.stats.errors == 0 and serial_lines.protocol_errors == 0
            assert serial_lines.events_received > 5
            assert connector.bus is not None and connector.bus.rx_frames > 50 and car.rx_frames > 50
            # a station stop: the charger opens the contactor and d2/d1 on the bench, the car opens k, then unlock
            tx = station.transactions()[0]
            station.remote_stop(tx.tx_id)
            assert run_until(lambda: state().phase == PortPhase.FINISHED, 30), state()
            assert not (bench.lines.car.d1 or bench.lines.car.d2 or bench.lines.car.contactor)
            assert not serial_lines.get(Line.J)
            # the charger released the lock at <= 10 V: the bench's actuator opened, its feedback came back as an event
            assert state().meter.voltage_v <= 10.0
            assert run_until(lambda: not bench.lines.car.locked and not serial_lines.get(Line.LOCK_FB), 2)
            assert connector.unlock()
        finally:
            connector.close()
        assert serial_lines._serial is None  # closed with the connector: the pty is free again


def test_serial_io_drives_the_bench_and_the_emulated_power_stage_follows_its_contactor() -> None:
    """Without a car on the other side the lines still go to the bench; the emulated DC link (the station's power
    stage) follows the contactor command the bench got, so the insulation test can charge the output."""
    with LineBench() as bench:
        cfg = EvseConfig(1, protocol="chademo", io=f"serial:{bench.port}", ratings=RATINGS, ev=None)
        connector = build_chademo(cfg, f"T{next(_ids)}")
        try:
            world = connector.world
            assert isinstance(world, EmulatedChademoWorld) and world.car is None
            lines_io = connector.port.lines
            assert isinstance(lines_io, SerialLineIO) and lines_io.mirror is world.lines
            bench.lines.car.set_k(True)
            wait_until(lambda: lines_io.get("j"))
            assert lines_io.get("lock_feedback") is False and lines_io.get("insulation_fault") is False
            with pytest.raises(KeyError):
                lines_io.get("proximity")  # not on the bench: the port reads it as plugged
            lines_io.set("contactor", True)
            assert bench.lines.car.contactor and world.lines.out["contactor"]
            world.step(0.0, ChargerActions())
            world.power.set_target(2.0, 500.0)  # the insulation test's ramp, as the port commands the power stage
            world.step(1.0, ChargerActions())
            assert world.power.measured_voltage_v() > 250
            lines_io.set("d1", True)
            assert bench.lines.car.d1 and world.lines.out["d1"]
            bench.lines.set_imd_ok(False)
            wait_until(lambda: lines_io.get("insulation_fault"))
        finally:
            connector.close()


def test_an_emulated_car_is_refused_with_serial_control_lines() -> None:
    """The emulated car is in this process, its side of the lines on the bench: it could never see d1 or close k.
    Refused before anything is opened (the bench never hears a HELLO)."""
    with LineBench() as bench:
        cfg = EvseConfig(1, protocol="chademo", io=f"serial:{bench.port}", ratings=RATINGS, ev=EvConfig("leaf40"))
        with pytest.raises(ConfigError, match=r"^evse\[0\]\.ev: an emulated car needs the emulated control lines.*"
                                              r"--ev none"):
            build_chademo(cfg, f"T{next(_ids)}")
        assert bench.stats.commands == 0


def test_serial_io_that_cannot_be_opened_is_a_config_error() -> None:
    cfg = EvseConfig(1, protocol="chademo", io="serial:/nonexistent/tty-x", ratings=RATINGS, ev=None)
    with pytest.raises(ConfigError, match=r"^evse\[0\]\.io: cannot open '/nonexistent/tty-x'"):
        build_chademo(cfg, f"T{next(_ids)}")
