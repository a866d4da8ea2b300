"""In-process CHAdeMO test bench: the charger state machine and the car emulator wired together in virtual time.

No I/O: frames go through the real codec (encode on the sender, decode on the receiver, one tick of latency),
the lines d1/d2/k are plain booleans, and :class:`DcLink` models what sits between them: the charger's power stage
(current slew, voltage limit, insulation-test ramp, active discharge, conversion efficiency), its output contactor,
the lock actuator, the insulation monitor, and the cable capacitance that lets the inlet voltage collapse when both
sides are open.
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
from chargepoint.hardware.interfaces import PowerRatings
from hil.emulators.ev import EvActions, EvEmulator, EvPhase

__all__ = ["ChademoPair", "DcLink", "Sample"]


@dataclass
class DcLink:
    """Power stage + output contactor + cable + lock + insulation monitor (emulated charger hardware).

    Current slew: the magnitude of the converter current rises at most ``slew_up_a_per_s`` (the power stage's ramp
    limit, ``PowerRatings.ramp_a_per_s`` in :meth:`for_ratings`) and falls at up to ``slew_down_a_per_s`` (fast: a
    lowered request or a stop must be followed within a cycle, <= 5 A within 0.5 s of k off); a fast cut drops it at
    once. A reversal falls to 0 at the fast rate, then rises in the other direction at the ramp rate.

    Grid side: the converter draws ``P_dc / efficiency`` from the grid while charging and feeds
    ``|P_dc| * efficiency`` into it while discharging (:attr:`grid_power_w`, + drawn from the grid). The DC and
    grid energies are integrated in :attr:`dc_import_wh` / :attr:`dc_export_wh` and :attr:`grid_import_wh` /
    :attr:`grid_export_wh` (the difference is the conversion loss, :attr:`loss_wh`).
    """

    slew_up_a_per_s: float = 100.0
    slew_down_a_per_s: float = 1000.0
    efficiency: float = 1.0
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
    dc_import_wh: float = 0.0  # DC energy into the car
    dc_export_wh: float = 0.0  # DC energy out of the car
    grid_import_wh: float = 0.0  # drawn from the grid (charging: DC / efficiency)
    grid_export_wh: float = 0.0  # fed into the grid (discharging: DC * efficiency)
    _lock_since: float | None = None
    _i_conv: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 < self.efficiency <= 1.0:
            raise ValueError(f"DcLink.efficiency must be in (0, 1], got {self.efficiency!r}")
        if not (self.slew_up_a_per_s > 0 and self.slew_down_a_per_s > 0):
            raise ValueError("DcLink slew rates must be > 0")

    @classmethod
    def for_ratings(cls, ratings: PowerRatings, **kwargs: object) -> DcLink:
        """A link whose power stage ramps at ``ratings.ramp_a_per_s`` and converts at ``ratings.efficiency``."""
        return cls(slew_up_a_per_s=ratings.ramp_a_per_s, efficiency=ratings.efficiency, **kwargs)  # type: ignore[arg-type]

    @property
    def dc_power_w(self) -> float:
        """Signed DC power at the output (+ into the car)."""
        return self.voltage_v * self.current_a

    @property
    def grid_power_w(self) -> float:
        """Signed power at the grid side of the converter (+ drawn from the grid, - fed into it)."""
        p = self.dc_power_w
        return p / self.efficiency if p > 0 else p * self.efficiency

    @property
    def loss_wh(self) -> float:
        """Energy lost in the conversion so far."""
        return (self.grid_import_wh - self.dc_import_wh) + (self.dc_export_wh - self.grid_export_wh)

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
        # The ramp starts from the current that really flowed (a voltage limit may have held it below the target).
        i = 0.0 if a.fast_cut and target == 0.0 else self._slew(self._i_conv, target, dt)
        self._i_conv = 0.0
        if ev_closed and a.output_contactor:
            # The converter honours its voltage limit: CV ceiling when charging, floor when discharging.
            r = max(b.r_internal, 1e-3)
            if i > 0:
                i = min(i, max(0.0, (a.voltage_limit_v - b.ocv()) / r))
            elif i < 0:
                i = -min(-i, max(0.0, (b.ocv() - a.voltage_limit_v) / r))
            self._i_conv = i
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
        self._account(dt)

    def _account(self, dt: float) -> None:
        """Integrate the DC and grid energy of the interval just stepped (the current that flowed in it)."""
        p = self.dc_power_w
        if dt <= 0 or p == 0:
            return
        wh = p * dt / 3600.0
        if wh > 0:
            self.dc_import_wh += wh
            self.grid_import_wh += wh / self.efficiency
        else:
            self.dc_export_wh -= wh
            self.grid_export_wh -= wh * self.efficiency

    def _slew(self, i: float, target: float, dt: float) -> float:
        """Move the converter current from ``i`` toward ``target`` for ``dt`` s: toward zero at the fast rate (never
        past zero), away from zero at the ramp rate (for the rest of ``dt`` after a zero crossing)."""
        if target == i or dt <= 0:
            return i
        if i != 0.0 and (target - i) * i < 0:  # the magnitude falls
            t_zero = abs(i) / self.slew_down_a_per_s
            if target * i > 0 or t_zero >= dt:  # stays on this side of zero
                step = self.slew_down_a_per_s * dt
                return max(target, i - step) if i > 0 else min(target, i + step)
            i, dt = 0.0, dt - t_zero  # crossed zero: ramp up on the other side for the rest of the interval
        step = self.slew_up_a_per_s * dt
        return min(target, i + step) if target > i else max(target, i - step)

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
    evse_discharge_available_a: float  # 208.3 as sent (the rating, floored to whole amps)
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
                    evse_discharge_available_a=float(math.floor(min(ch.config.ratings.max_discharge_current_a, 255))),
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
