"""In-process CHAdeMO test bench: the charger state machine and the car emulator wired together in virtual time.

No I/O: frames go through the real codec (encode on the sender, decode on the receiver, one tick of latency),
the lines d1/d2/k are plain booleans, and :class:`DcLink` models what sits between them: the charger's power stage
(current slew, voltage limit, insulation-test ramp, active discharge), its output contactor, the lock actuator,
the insulation monitor, and the cable capacitance that lets the inlet voltage collapse when both sides are open.
Used by the tests in ``tests/chademo`` and by ``benchmarks/chademo_frames.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from chargepoint.chademo.charger import ChademoCharger
from chargepoint.chademo.charger_types import ChargerActions, ChargerInputs, ChargerPhase
from chargepoint.chademo.codec import CanFrame, decode, encode
from chargepoint.chademo.timeouts import ChargerConfig
from chargepoint.clock import VirtualClock
from hil.emulators.ev import EvActions, EvEmulator, EvPhase

__all__ = ["ChademoPair", "DcLink", "Sample"]


@dataclass
class DcLink:
    """Power stage + output contactor + cable + lock + insulation monitor (emulated charger hardware)."""

    slew_up_a_per_s: float = 100.0
    slew_down_a_per_s: float = 1000.0
    insulation_ramp_v_per_s: float = 300.0
    active_discharge_v_per_s: float = 600.0
    passive_tau_s: float = 0.25  # bleeder / cable when both sides are open (welding detection support)
    lock_delay_s: float = 0.1
    # Injectable hardware faults.
    lock_fails: bool = False
    insulation_fault: bool = False
    estop: bool = False
    internal_fault: bool = False
    extra_current_a: float = 0.0  # a misbehaving power stage: this much more than commanded flows
    voltage_offset_v: float = 0.0  # error of the charger's voltage measurement
    # State.
    voltage_v: float = 0.0
    current_a: float = 0.0
    lock_engaged: bool = False
    _lock_since: float | None = None
    _i_conv: float = 0.0

    def step(self, dt: float, now: float, a: ChargerActions, ev: EvEmulator, ev_closed: bool) -> None:
        # Lock actuator.
        if a.lock and not self.lock_fails:
            if self._lock_since is None:
                self._lock_since = now
            self.lock_engaged = now - self._lock_since >= self.lock_delay_s
        else:
            self._lock_since = None
            self.lock_engaged = False
        b = ev.battery
        target = a.current_a if a.output_contactor else 0.0
        # Slew the converter current (fast cut = immediate); the injected extra current is added on top.
        i = self._i_conv
        if a.fast_cut and target == 0.0:
            i = 0.0
        elif target > i:
            i = min(target, i + (self.slew_up_a_per_s if i >= 0 else self.slew_down_a_per_s) * dt)
        else:
            i = max(target, i - (self.slew_down_a_per_s if i > 0 else self.slew_up_a_per_s) * dt)
        self._i_conv = i
        if ev_closed and a.output_contactor:
            # The converter honours its voltage limit: CV ceiling when charging, floor when discharging.
            r = max(b.r_internal, 1e-3)
            if i > 0:
                i = min(i, max(0.0, (a.voltage_limit_v - b.ocv()) / r))
            elif i < 0:
                i = -min(-i, max(0.0, (b.ocv() - a.voltage_limit_v) / r))
            if i != 0.0:
                i += self.extra_current_a
            self.current_a = i
            self.voltage_v = b.terminal_voltage(i)
        elif ev_closed:
            self.current_a = 0.0
            self.voltage_v = b.ocv()
        elif a.output_contactor:
            self.current_a = 0.0
            v = self.voltage_v
            if a.current_a > 0 and a.voltage_limit_v > v:
                v = min(a.voltage_limit_v, v + self.insulation_ramp_v_per_s * dt)
            elif a.voltage_limit_v < v:
                v = max(a.voltage_limit_v, v - self.active_discharge_v_per_s * dt)
            self.voltage_v = v
        else:
            self.current_a = 0.0
            self.voltage_v *= math.exp(-dt / self.passive_tau_s)
            if self.voltage_v < 0.05:
                self.voltage_v = 0.0

    def inputs(self, j: bool) -> ChargerInputs:
        return ChargerInputs(
            j=j,
            lock_engaged=self.lock_engaged,
            output_voltage_v=self.voltage_v + self.voltage_offset_v,
            output_current_a=self.current_a,
            insulation_fault=self.insulation_fault,
            estop=self.estop,
            internal_fault=self.internal_fault,
        )


@dataclass(frozen=True, slots=True)
class Sample:
    """One tick of the bench, for property checks."""

    t: float
    phase: ChargerPhase
    ev_phase: EvPhase
    current_a: float
    voltage_v: float
    command_a: float
    ev_request_a: float  # as last received by the charger
    available_a: float  # 108.3 as last sent
    ev_discharge_limit_a: float  # 200.0 as last received
    evse_discharge_available_a: float  # 208.3
    soc: float
    ev_contactor: bool
    d1: bool
    d2: bool
    lock: bool


@dataclass
class ChademoPair:
    """Charger + car + DC link on one virtual clock. ``tick()`` advances everything by ``tick_s``."""

    charger: ChademoCharger = field(default_factory=ChademoCharger)
    ev: EvEmulator = field(default_factory=EvEmulator)
    link: DcLink = field(default_factory=DcLink)
    tick_s: float = 0.01
    clock: VirtualClock = field(default_factory=VirtualClock)
    record: bool = False
    j_override: bool | None = None  # force the j input (wiring faults)
    drop_to_ev: bool = False  # the charger's frames are lost (charger CAN silent as seen by the car)
    drop_to_charger: bool = False  # the car's frames are lost
    log_frames: bool = False
    frame_log: list[tuple[float, str, object]] = field(default_factory=list)  # (t, "evse"|"ev", frame)
    samples: list[Sample] = field(default_factory=list)
    frames_to_ev: int = 0
    frames_to_charger: int = 0
    last_actions: ChargerActions = field(default_factory=ChargerActions)
    last_ev: EvActions = field(default_factory=EvActions)
    _to_ev: list[CanFrame] = field(default_factory=list)
    _to_charger: list[CanFrame] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        profile: str = "leaf40-ze1",
        soc: float = 50.0,
        seed: int = 0,
        config: ChargerConfig | None = None,
        **kwargs: object,
    ) -> ChademoPair:
        return cls(charger=ChademoCharger(config), ev=EvEmulator(profile, soc=soc, seed=seed), **kwargs)  # type: ignore[arg-type]

    @property
    def now(self) -> float:
        return self.clock.monotonic()

    def start(self) -> None:
        """The station authorises a session: the charger closes d1."""
        self.charger.start(self.now)

    def tick(self) -> None:
        now = self.clock.monotonic()
        ch, ev, link = self.charger, self.ev, self.link
        for raw in self._to_charger:
            frame = decode(raw.arbitration_id, raw.data)
            if frame is not None:
                ch.on_frame(frame, now)
        self._to_charger.clear()
        for raw in self._to_ev:
            frame = decode(raw.arbitration_id, raw.data)
            if frame is not None:
                ev.on_frame(frame, now)
        self._to_ev.clear()

        j = self.last_ev.k if self.j_override is None else self.j_override
        a = ch.step(now, link.inputs(j))
        if not self.drop_to_ev:
            for f in a.frames:
                self._to_ev.append(encode(f))
        self.frames_to_ev += len(a.frames)
        e = ev.step(now, a.d1, a.d2, link.voltage_v, link.current_a)
        if not self.drop_to_charger:
            for g in e.frames:
                self._to_charger.append(encode(g))
        self.frames_to_charger += len(e.frames)
        if self.log_frames:
            self.frame_log.extend((now, "evse", f) for f in a.frames)
            self.frame_log.extend((now, "ev", g) for g in e.frames)
        self.last_actions, self.last_ev = a, e
        link.step(self.tick_s, now, a, ev, e.contactor_closed)
        if self.record:
            st = ch.ev_status
            dis = ch.ev_discharge
            self.samples.append(
                Sample(
                    t=now,
                    phase=ch.phase,
                    ev_phase=ev.phase,
                    current_a=link.current_a,
                    voltage_v=link.voltage_v,
                    command_a=a.current_a,
                    ev_request_a=st.charge_current_request_a if st else 0.0,
                    available_a=ch.advertised_current_a,
                    ev_discharge_limit_a=dis.max_discharge_current_a if dis else 0.0,
                    evse_discharge_available_a=ch.config.ratings.max_discharge_current_a,
                    soc=ev.battery.soc,
                    ev_contactor=e.contactor_closed,
                    d1=a.d1,
                    d2=a.d2,
                    lock=a.lock,
                )
            )
        self.clock.advance(self.tick_s)

    def run(self, seconds: float) -> None:
        end = self.now + seconds - 1e-9
        while self.now < end:
            self.tick()

    def run_until(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        """Tick until ``predicate()`` holds (checked before every tick); False on time-out."""
        end = self.now + timeout_s
        while self.now < end:
            if predicate():
                return True
            self.tick()
        return predicate()

    def run_until_phase(self, phase: ChargerPhase, timeout_s: float = 60.0) -> bool:
        return self.run_until(lambda: self.charger.phase is phase, timeout_s)

    @property
    def frames_total(self) -> int:
        return self.frames_to_ev + self.frames_to_charger
