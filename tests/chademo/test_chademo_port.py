"""ChademoPort: the ConnectorPort facade over the state machine, with a fake bus, lines and power stage."""

from __future__ import annotations

from collections import deque

import pytest

from chargepoint.chademo.charger_types import ChargerActions, ChargerPhase
from chargepoint.chademo.codec import decode, encode
from chargepoint.chademo.port import ChademoPort
from chargepoint.clock import VirtualClock
from chargepoint.hardware.interfaces import ConnectorPort, PortPhase, PortState
from hil.emulators.chademo_pair import DcLink
from hil.emulators.ev import EvEmulator


class FakeBus:
    def __init__(self) -> None:
        self.rx: deque[tuple[int, bytes]] = deque()
        self.sent: list[tuple[int, bytes]] = []

    def send(self, arbitration_id: int, data: bytes) -> None:
        self.sent.append((arbitration_id, data))

    def recv(self) -> tuple[int, bytes] | None:
        return self.rx.popleft() if self.rx else None


class FakeLines:
    def __init__(self) -> None:
        self.values: dict[str, bool] = {"j": False, "lock_feedback": False, "proximity": True}

    def get(self, name: str) -> bool:
        return self.values[name]  # estop / insulation_fault / internal_fault missing: KeyError -> defaults

    def set(self, name: str, value: bool) -> None:
        self.values[name] = value


class FakePower:
    def __init__(self, link: DcLink) -> None:
        self.link = link
        self.target = (0.0, 0.0)
        self.cuts = 0

    def set_target(self, current_a: float, voltage_limit_v: float) -> None:
        self.target = (current_a, voltage_limit_v)

    def measured_voltage_v(self) -> float:
        return self.link.voltage_v

    def measured_current_a(self) -> float:
        return self.link.current_a

    def cut(self) -> None:
        self.cuts += 1


class Rig:
    def __init__(self, soc: float = 50.0) -> None:
        self.clock = VirtualClock()
        self.bus = FakeBus()
        self.lines = FakeLines()
        self.link = DcLink()
        self.power = FakePower(self.link)
        self.port = ChademoPort(self.bus, self.lines, self.power)
        self.ev = EvEmulator("leaf40-ze1", soc=soc)
        self.dt = 0.01
        self.state: PortState = self.port.step(0.0)

    def tick(self) -> None:
        now = self.clock.monotonic()
        self.state = self.port.step(now)
        for fid, data in self.bus.sent:
            frame = decode(fid, data)
            if frame is not None:
                self.ev.on_frame(frame, now)
        self.bus.sent.clear()
        v = self.lines.values
        e = self.ev.step(now, v.get("d1", False), v.get("d2", False), self.link.voltage_v, self.link.current_a)
        for f in e.frames:
            raw = encode(f)
            self.bus.rx.append((raw.arbitration_id, raw.data))
        v["j"] = e.k
        cmd = ChargerActions(
            d1=v.get("d1", False),
            d2=v.get("d2", False),
            lock=v.get("lock", False),
            output_contactor=v.get("contactor", False),
            current_a=self.power.target[0],
            voltage_limit_v=self.power.target[1],
            fast_cut=self.port.last_actions.fast_cut,
        )
        self.link.step(self.dt, now, cmd, self.ev, e.contactor_closed)
        v["lock_feedback"] = self.link.lock_engaged
        self.clock.advance(self.dt)

    def run_until(self, phase: PortPhase, timeout_s: float = 30.0) -> None:
        end = self.clock.monotonic() + timeout_s
        while self.clock.monotonic() < end:
            self.tick()
            if self.state.phase is phase:
                return
        raise AssertionError(f"never reached {phase}: {self.state.phase} / {self.port.charger.phase}")

    def run(self, seconds: float) -> None:
        for _ in range(round(seconds / self.dt)):
            self.tick()


def test_port_satisfies_the_connector_port_protocol() -> None:
    rig = Rig()
    port: ConnectorPort = rig.port
    assert port.step(0.0).phase is PortPhase.CONNECTED


def test_port_phases_through_a_charge_and_discharge_session() -> None:
    rig = Rig(soc=60.0)
    rig.lines.values["proximity"] = False
    rig.tick()
    assert rig.state.phase is PortPhase.UNPLUGGED
    rig.lines.values["proximity"] = True
    rig.tick()
    assert rig.state.phase is PortPhase.CONNECTED
    rig.port.set_session_enabled(True)
    rig.run_until(PortPhase.PREPARING, 1.0)
    rig.run_until(PortPhase.ENERGY, 20.0)
    assert rig.port.unlock() is False  # never during a session
    rig.run(10.0)
    s = rig.state
    assert s.meter.current_a > 10 and s.meter.import_wh > 0 and s.meter.export_wh == 0
    assert s.soc_percent == pytest.approx(60.0, abs=1.0)
    assert s.ev_max_voltage_v == 435.0 and s.ev_capacity_wh == 35_400.0
    assert s.ev_soc_min_percent == 10.0 and s.ev_soc_max_percent == 100.0
    assert s.details["protocol"] == 2 and s.details["bidirectional"] is True
    assert s.details["automaker_code"] == 1
    rig.port.set_setpoint_w(-3000.0)
    rig.run(4.0)
    s = rig.state
    assert s.meter.current_a == pytest.approx(-3000.0 / s.meter.voltage_v, abs=0.6)
    assert s.meter.export_wh > 0
    assert s.ev_max_discharge_current_a == 15.0
    rig.port.set_session_enabled(False)
    rig.run_until(PortPhase.STOPPING, 1.0)
    rig.run_until(PortPhase.FINISHED, 10.0)
    assert rig.lines.values["lock"] is False and rig.lines.values["d1"] is False
    assert rig.port.unlock() is True
    assert rig.state.fault is None


def test_port_reports_faulted_on_estop_line_and_cuts_fast() -> None:
    rig = Rig()
    rig.port.set_session_enabled(True)
    rig.run_until(PortPhase.ENERGY, 20.0)
    rig.run(3.0)
    rig.lines.values["estop"] = True
    rig.run(0.1)
    assert rig.state.phase is PortPhase.FAULTED
    assert rig.state.fault == "emergency_stop"
    assert rig.power.cuts > 0 and rig.power.target[0] == 0.0
    assert abs(rig.link.current_a) <= 5.0
    rig.run(10.0)
    assert rig.port.charger.phase is ChargerPhase.FINISHED
    assert rig.lines.values["lock"] is False


def test_port_suspended_ev_when_car_requests_nothing() -> None:
    rig = Rig(soc=100.0)
    rig.port.set_setpoint_w(1000.0)  # wants to charge a full car: it offers only discharge
    rig.port.set_session_enabled(True)
    rig.run_until(PortPhase.PREPARING, 1.0)
    rig.run(16.0)
    assert rig.port.charger.phase is ChargerPhase.ENERGY_TRANSFER
    assert rig.state.phase is PortPhase.SUSPENDED_EV
    assert rig.state.meter.current_a == 0.0
    rig.port.set_setpoint_w(-2000.0)  # the full car does offer discharge
    rig.run(2.0)
    assert rig.state.phase is PortPhase.ENERGY and rig.state.meter.current_a < -3.0


def test_port_ignores_malformed_frames() -> None:
    rig = Rig()
    rig.bus.rx.append((0x102, b"\x00\x01"))
    rig.tick()
    assert rig.port.decode_errors == 1


def test_port_restarts_on_a_new_enable_and_not_by_itself() -> None:
    rig = Rig()
    rig.port.set_session_enabled(True)
    rig.run_until(PortPhase.ENERGY, 20.0)
    rig.ev.user_stop()  # the car ends the session; the station keeps the transaction enabled
    rig.run_until(PortPhase.FINISHED, 10.0)
    rig.run(3.0)
    assert rig.state.phase is PortPhase.FINISHED  # no automatic restart
    rig.port.set_session_enabled(False)
    rig.port.set_session_enabled(True)
    rig.run_until(PortPhase.ENERGY, 20.0)


def test_port_connector_removed_mid_session_is_an_emergency_stop() -> None:
    rig = Rig()
    rig.port.set_session_enabled(True)
    rig.run_until(PortPhase.ENERGY, 20.0)
    rig.run(2.0)
    rig.lines.values["proximity"] = False
    rig.run(0.05)
    assert rig.state.phase is PortPhase.FAULTED and rig.state.fault == "connector_removed"
    assert rig.power.target[0] == 0.0 and rig.port.last_actions.fast_cut


def _amps(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def test_port_tells_the_cars_maximum_current_once_its_ramps_have_ended() -> None:
    """CHAdeMO carries no maximum charge current: the port keeps the highest 102.3 request of the session (the car
    ramps it 2 A per cycle up to what it takes) and says when the car's figures are complete: 0x100 voltage known,
    neither 102.3 nor 200.0 rising for a second. A later, lower request does not lower the maximum."""
    rig = Rig(soc=60.0)
    rig.port.set_session_enabled(True)
    seen: list[tuple[float, float, object, object]] = []  # (time, request, max request, complete)
    end = rig.clock.monotonic() + 40.0
    while rig.clock.monotonic() < end and rig.state.details["ev_limits_complete"] is not True:
        rig.tick()
        d = rig.state.details
        seen.append((rig.clock.monotonic(), _amps(d["ev_request_a"]), d["ev_max_request_a"], d["ev_limits_complete"]))
    assert rig.state.details["ev_limits_complete"] is True
    ramp = [s for s in seen if s[1] > 0]
    assert ramp[0][1] == 2.0 and ramp[0][2] == 2.0 and ramp[0][3] is False  # the first step of the ramp
    peak = max(s[1] for s in seen)
    assert peak >= 120.0 and rig.state.details["ev_max_request_a"] == peak
    t_peak = next(s[0] for s in seen if s[1] == peak)
    assert seen[-1][0] - t_peak >= 1.0  # complete only after the ramp has stopped rising for a second
    assert all(s[3] is False for s in seen[:-1])
    assert rig.state.ev_max_voltage_v == 435.0 and rig.state.ev_max_discharge_current_a == 15.0  # 0x100, 0x200
    rig.port.set_setpoint_w(10_000.0)  # dynamic control: 108.3 drops, the car asks for less
    rig.run(3.0)
    assert _amps(rig.state.details["ev_request_a"]) < 40.0
    assert rig.state.details["ev_max_request_a"] == peak and rig.state.details["ev_limits_complete"] is True
    rig.port.set_session_enabled(False)
    rig.run_until(PortPhase.FINISHED, 10.0)
    rig.port.set_session_enabled(True)  # a new session starts over
    rig.run(0.5)
    assert rig.state.details["ev_max_request_a"] in (None, 0.0) and rig.state.details["ev_limits_complete"] is False
