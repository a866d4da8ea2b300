"""The physical side of an emulated CHAdeMO connector, for a station running with emulated hardware.

:class:`EmulatedChademoWorld` holds the charger's power stage, output contactor, cable and lock (the bench's
:class:`~hil.emulators.chademo_pair.DcLink` model) and, when a car is emulated, the car itself
(:class:`~hil.emulators.ev.EvEmulator`) on its OWN python-can bus endpoint: the charger and the car exchange real
CAN frames through python-can (``virtual`` in-process, or any other interface). To the charger it offers the
``LineIO`` and ``PowerStage`` objects :class:`~chargepoint.chademo.port.ChademoPort` drives. With control lines on a
serial bench (``io = "serial:PORT"``) the port's lines are the bench's; its outputs are mirrored into
:attr:`EmulatedChademoWorld.lines` (so the DC link follows the output-contactor command) and the world then has no
car: the car's side of the lines is at the bench (``chargepoint.app.build_chademo``).

Fault injection into a station running in another process (chaos tests): with ``fault_file`` set, the car goes
silent on CAN (:attr:`~hil.emulators.ev_profiles.EvFault.CAN_SILENCE`) for as long as that file exists. The
station's CLI sets it to ``$CHARGEPOINT_FAULT_DIR/<station id>-evse<N>.can-silence`` when that variable is set
(chargepoint/app.py); nothing else reads it.
"""

from __future__ import annotations

from pathlib import Path

import can

from chargepoint.chademo.charger_types import ChargerActions
from chargepoint.chademo.codec import CodecError, decode, encode
from hil.emulators.chademo_pair import DcLink
from hil.emulators.ev import EvActions, EvEmulator, EvFault

EV_MODELS = {"leaf24": "leaf24-aze0", "leaf40": "leaf40-ze1", "leaf62": "leaf62-ze1"}
SUBSTEP_S = 0.02  # physics resolution inside one 100 ms station cycle


class CarOnBus:
    """An emulated car with its own CAN endpoint."""

    def __init__(self, ev: EvEmulator, bus: can.BusABC) -> None:
        self.ev = ev
        self.bus = bus
        self.rx_frames = 0
        self.tx_frames = 0
        self.last = EvActions()

    def receive(self, now: float) -> None:
        while (msg := self.bus.recv(timeout=0)) is not None:
            if msg.dlc != 8 or msg.is_extended_id:
                continue
            try:
                frame = decode(msg.arbitration_id, bytes(msg.data))
            except CodecError:
                continue
            if frame is not None:
                self.rx_frames += 1
                self.ev.on_frame(frame, now)

    def step(self, now: float, d1: bool, d2: bool, voltage_v: float, current_a: float) -> EvActions:
        self.last = self.ev.step(now, d1, d2, voltage_v, current_a)
        for f in self.last.frames:
            raw = encode(f)
            try:
                self.bus.send(can.Message(arbitration_id=raw.arbitration_id, data=raw.data, is_extended_id=False))
                self.tx_frames += 1
            except can.CanError:
                pass
        return self.last


class _Lines:
    """The charger's view of the control lines (``LineIO``); :meth:`EmulatedChademoWorld.step` applies the levels
    last written to ``out`` (by the port, or mirrored by ``SerialLineIO``)."""

    def __init__(self, world: EmulatedChademoWorld) -> None:
        self.w = world
        self.out = {"d1": False, "d2": False, "lock": False, "contactor": False}

    def get(self, name: str) -> bool:
        w = self.w
        if name in self.out:
            return self.out[name]
        if name == "j":
            return w.plugged and w.car is not None and w.car.last.k
        if name == "lock_feedback":
            return w.link.lock_engaged
        if name == "proximity":
            return w.plugged
        if name == "insulation_fault":
            return w.link.insulation_fault
        if name == "estop":
            return w.link.estop
        if name == "internal_fault":
            return w.link.internal_fault
        raise KeyError(name)

    def set(self, name: str, value: bool) -> None:
        if name not in self.out:
            raise KeyError(name)
        self.out[name] = bool(value)


class _Power:
    """The charger's view of its power stage (``PowerStage`` with the optional ``cut``). The port commands it every
    step; :meth:`EmulatedChademoWorld.step` runs the DC link with these commands (ramped at the link's ramp rate,
    ``ratings.ramp_a_per_s`` in the station, and converted at its efficiency)."""

    def __init__(self, world: EmulatedChademoWorld) -> None:
        self.w = world
        self.target_current_a = 0.0
        self.voltage_limit_v = 0.0
        self.fast_cut = False  # gate disable: the current drops at once instead of slewing

    def set_target(self, current_a: float, voltage_limit_v: float) -> None:
        self.target_current_a = current_a
        self.voltage_limit_v = voltage_limit_v
        if current_a != 0.0:
            self.fast_cut = False

    def cut(self) -> None:
        self.fast_cut = True
        self.target_current_a = 0.0

    def measured_voltage_v(self) -> float:
        return self.w.link.voltage_v + self.w.link.voltage_offset_v

    def measured_current_a(self) -> float:
        return self.w.link.current_a

    def grid_power_w(self) -> float:
        """Signed power at the grid side (+ drawn from the grid): DC power / efficiency charging, x efficiency
        discharging."""
        return self.w.link.grid_power_w


class EmulatedChademoWorld:
    def __init__(self, car: CarOnBus | None, link: DcLink | None = None, plugged: bool = False,
                 fault_file: Path | None = None) -> None:
        self.car = car
        self.fault_file = fault_file
        self.link = link or DcLink()
        self.plugged = plugged
        self.lines = _Lines(self)
        self.power = _Power(self)
        self._t: float | None = None

    def plug_in(self) -> None:
        self.plugged = True

    def unplug(self) -> None:
        self.plugged = False

    def step(self, now: float, actions: ChargerActions | None = None) -> None:
        """Advance the physics to ``now`` under the charger's last commands: the line levels it set (:attr:`lines`)
        and the target it gave the power stage (:attr:`power`). ``actions`` (the port's last actions, carrying the
        same commands) is not needed: the world sees only what reached its lines and its power stage."""
        if self._t is None:
            self._t = now
            return
        t = self._t
        pw = self.power
        a = ChargerActions(
            frames=(), d1=self.lines.out["d1"], d2=self.lines.out["d2"], lock=self.lines.out["lock"],
            output_contactor=self.lines.out["contactor"], current_a=pw.target_current_a,
            voltage_limit_v=pw.voltage_limit_v, fast_cut=pw.fast_cut,
        )
        car = self.car if self.plugged else None
        if self.fault_file is not None and self.car is not None:
            if self.fault_file.exists():
                self.car.ev.inject(EvFault.CAN_SILENCE)
            else:
                self.car.ev.clear(EvFault.CAN_SILENCE)
        if car is not None:
            car.receive(now)
        while t < now - 1e-9:
            dt = min(SUBSTEP_S, now - t)
            t += dt
            link = self.link
            if car is not None:
                e = car.step(t, a.d1, a.d2, link.voltage_v, link.current_a)
                link.step(dt, t, a, car.ev, e.contactor_closed)
            else:
                link.step(dt, t, a, _NO_CAR, False)  # type: ignore[arg-type]
        self._t = now

    def close(self) -> None:
        if self.car is not None:
            self.car.bus.shutdown()


class _NoCar:
    """Stands in for the car when none is attached: its contactors are open, so the link never touches this."""

    battery = None


_NO_CAR = _NoCar()
