"""The product's CAN receive path under hostile frames: :class:`~chargepoint.chademo.port.ChademoPort` (decode,
CodecError handling, the charger state machine, encoding its own frames) wired to the emulated LEAF and DC link,
in virtual time.

:meth:`CanRig.tick` is one 10 ms step: hostile frames are put on the bus next to (or instead of) the car's, the
port steps, the car and the link follow. It returns a :class:`Step` with everything the safety checks need.
"""

from __future__ import annotations

import copy
import functools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from chargepoint.chademo.charger import ChademoCharger
from chargepoint.chademo.charger_types import ChargerActions, ChargerPhase
from chargepoint.chademo.codec import decode, encode
from chargepoint.chademo.port import ChademoPort
from chargepoint.chademo.timeouts import ChargerConfig
from hil.emulators.chademo_pair import DcLink
from hil.emulators.ev import EvEmulator

P = ChargerPhase
DT = 0.01
RawFrame = tuple[int, bytes]


class HostileBus:
    """FrameBus: what the port receives (car frames and injected ones, in order) and what it sends."""

    def __init__(self) -> None:
        self.rx: deque[RawFrame] = deque()
        self.sent: list[RawFrame] = []

    def send(self, arbitration_id: int, data: bytes) -> None:
        self.sent.append((arbitration_id, data))

    def recv(self) -> RawFrame | None:
        return self.rx.popleft() if self.rx else None


class Lines:
    def __init__(self) -> None:
        self.values: dict[str, bool] = {"j": False, "lock_feedback": False, "proximity": True}

    def get(self, name: str) -> bool:
        return self.values[name]  # estop / insulation_fault / internal_fault absent: the port's safe defaults

    def set(self, name: str, value: bool) -> None:
        self.values[name] = value


class Power:
    def __init__(self, link: DcLink) -> None:
        self.link = link
        self.target = (0.0, 0.0)

    def set_target(self, current_a: float, voltage_limit_v: float) -> None:
        self.target = (current_a, voltage_limit_v)

    def measured_voltage_v(self) -> float:
        return self.link.voltage_v

    def measured_current_a(self) -> float:
        return self.link.current_a


@dataclass(frozen=True)
class Step:
    t: float
    phase_before: ChargerPhase
    phase: ChargerPhase
    command_a: float
    measured_a: float  # after the link followed this step's command
    voltage_v: float
    request_a: float | None  # 102.3 as the charger holds it after this step
    advertised_before_a: float  # 108.3 the command of this step was bounded by
    discharge_limit_a: float  # 200.0 as the charger uses it (masked outside energy transfer)
    stopped: bool
    fast_cut: bool
    fault: bool
    lock: bool
    status_age_s: float | None  # time since the last 0x102 the charger took


class CanRig:
    def __init__(self, profile: str = "leaf40-ze1", soc: float = 50.0, seed: int = 0,
                 setpoint_w: float | None = None, config: ChargerConfig | None = None) -> None:
        self.t = 0.0
        self.bus = HostileBus()
        self.lines = Lines()
        self.link = DcLink()
        self.power = Power(self.link)
        self.port = ChademoPort(self.bus, self.lines, self.power, config)
        self.ev = EvEmulator(profile, soc=soc, seed=seed)
        self.last_sent: list[RawFrame] = []  # the charger's frames of the last step
        self.port.set_session_enabled(True)
        if setpoint_w is not None:
            self.port.set_setpoint_w(setpoint_w)

    @property
    def charger(self) -> ChademoCharger:
        return self.port.charger

    def tick(self, inject: Sequence[RawFrame] = (), drop_car: bool = False) -> Step:
        """One step; ``inject`` goes on the bus after whatever is queued (the car's frames of the last step)."""
        ch = self.port.charger
        self.bus.rx.extend(inject)
        phase_before = ch.phase
        advertised = ch.advertised_current_a
        self.port.step(self.t)
        a: ChargerActions = self.port.last_actions
        for fid, data in self.bus.sent:
            frame = decode(fid, data)
            if frame is not None:
                self.ev.on_frame(frame, self.t)
        self.last_sent, self.bus.sent = self.bus.sent, []
        v = self.lines.values
        e = self.ev.step(self.t, v.get("d1", False), v.get("d2", False), self.link.voltage_v, self.link.current_a)
        if not drop_car:
            for f in e.frames:
                raw = encode(f)
                self.bus.rx.append((raw.arbitration_id, bytes(raw.data)))
        v["j"] = e.k
        self.link.step(DT, self.t, a, self.ev, e.contactor_closed)
        v["lock_feedback"] = self.link.lock_engaged
        st = ch.ev_status
        t_status = ch._t_last_status
        step = Step(
            t=self.t, phase_before=phase_before, phase=ch.phase, command_a=a.current_a,
            measured_a=self.link.current_a, voltage_v=self.link.voltage_v,
            request_a=st.charge_current_request_a if st is not None else None, advertised_before_a=advertised,
            discharge_limit_a=ch.ev_discharge_limit_a, stopped=ch.stop_reason is not None, fast_cut=a.fast_cut,
            fault=ch.is_fault, lock=a.lock, status_age_s=None if t_status is None else self.t - t_status,
        )
        self.t += DT
        return step

    def run_until(self, phase: ChargerPhase, timeout_s: float = 40.0) -> None:
        end = self.t + timeout_s
        while self.t < end and self.port.charger.phase is not phase:
            self.tick()
        assert self.port.charger.phase is phase, f"stuck in {self.port.charger.phase}"


@functools.cache
def _warm(profile: str, soc: float, setpoint_w: float | None, phase: ChargerPhase, settle_s: float) -> CanRig:
    rig = CanRig(profile, soc, seed=1, setpoint_w=setpoint_w)
    rig.run_until(phase)
    for _ in range(round(settle_s / DT)):
        rig.tick()
    return rig


def warm_rig(profile: str, soc: float, setpoint_w: float | None, phase: ChargerPhase = P.ENERGY_TRANSFER,
             settle_s: float = 3.0) -> CanRig:
    """A fresh copy of a rig that reached ``phase`` (and ran ``settle_s`` more); built once per key."""
    return copy.deepcopy(_warm(profile, soc, setpoint_w, phase, settle_s))
