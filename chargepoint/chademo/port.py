"""``ChademoPort``: a :class:`~chargepoint.hardware.interfaces.ConnectorPort` on top of the charger state machine.

The port owns no I/O of its own: it is given three small objects (Protocols below) and drives them from
:meth:`ChademoPort.step`. Drivers for real hardware and emulators implement them (``chargepoint/hardware``):

* :class:`FrameBus`: ``send(arbitration_id, data)`` and non-blocking ``recv() -> (arbitration_id, data) | None``;
* :class:`LineIO`: ``get(name) -> bool`` / ``set(name, value)`` for the digital lines. Outputs: ``d1``, ``d2``,
  ``lock``, ``contactor``. Inputs: ``j``, ``lock_feedback``, ``proximity`` (connector plugged; optional),
  ``estop``, ``insulation_fault``, ``internal_fault`` (optional). A missing optional input reads as its safe
  default (``proximity`` True, the fault inputs False) when ``get`` raises ``KeyError``;
* :class:`PowerStage`: ``set_target(current_a, voltage_limit_v)`` (signed current, + into the car; the limit is
  the ceiling when charging and the floor when discharging; 0 A with 0 V = discharge the output),
  ``measured_voltage_v()`` / ``measured_current_a()``; optional ``cut()`` for a fast gate-disable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from chargepoint.chademo.charger import NORMAL_STOPS, ChademoCharger
from chargepoint.chademo.charger_types import (
    PREPARING_PHASES,
    STOP_PHASES,
    ChargerActions,
    ChargerInputs,
    ChargerPhase,
    StopReason,
)
from chargepoint.chademo.codec import CodecError, decode, encode
from chargepoint.chademo.timeouts import ChargerConfig
from chargepoint.hardware.interfaces import MeterReading, PortPhase, PortState

__all__ = ["ChademoPort", "FrameBus", "LineIO", "PowerStage"]


class FrameBus(Protocol):
    def send(self, arbitration_id: int, data: bytes) -> None: ...

    def recv(self) -> tuple[int, bytes] | None: ...


class LineIO(Protocol):
    def get(self, name: str) -> bool: ...

    def set(self, name: str, value: bool) -> None: ...


class PowerStage(Protocol):
    def set_target(self, current_a: float, voltage_limit_v: float) -> None: ...

    def measured_voltage_v(self) -> float: ...

    def measured_current_a(self) -> float: ...


@runtime_checkable
class _FastCut(Protocol):
    def cut(self) -> None: ...


#: The car's limits count as told once neither its 102.3 request nor its 200.0 discharge limit rose for this long
#: (10 CHAdeMO cycles; a car ramps them up step by step, e.g. 2 A per 100 ms cycle).
EV_LIMITS_SETTLE_S = 1.0
#: A bidirectional car whose 200.0 stays 0 this long after its first current request offers no discharge for now.
EV_DISCHARGE_WAIT_S = 5.0


@dataclass
class EvLimitsTold:
    """What a car has told of its maximums during one session. CHAdeMO carries no maximum charge current: the car
    ramps its 102.3 request up to what it takes (bounded by the charger's 108.3), so the highest request of the
    session, once the ramp has ended, is the best figure there is; likewise 200.0 for discharging."""

    max_request_a: float = 0.0
    max_discharge_a: float = 0.0
    t_first_request: float | None = None
    t_last_rise: float | None = None

    def update(self, now: float, request_a: float, discharge_a: float) -> None:
        if request_a > self.max_request_a:
            self.max_request_a = request_a
            self.t_last_rise = now
            if self.t_first_request is None:
                self.t_first_request = now
        if discharge_a > self.max_discharge_a:
            self.max_discharge_a = discharge_a
            self.t_last_rise = now

    def complete(self, now: float, bidirectional: bool) -> bool:
        """Whether the car's figures are final: a request ramp that has ended and, in a V2H session, a discharge
        limit (or none offered for :data:`EV_DISCHARGE_WAIT_S`)."""
        if self.t_first_request is None or self.t_last_rise is None or now - self.t_last_rise < EV_LIMITS_SETTLE_S:
            return False
        return not bidirectional or self.max_discharge_a > 0 or now - self.t_first_request >= EV_DISCHARGE_WAIT_S


_OPTIONAL_DEFAULTS = {
    "proximity": True,
    "estop": False,
    "insulation_fault": False,
    "internal_fault": False,
}


class ChademoPort:
    """One CHAdeMO connector: state machine + bus + lines + power stage, stepped with monotonic time."""

    MAX_FRAMES_PER_STEP = 64

    def __init__(
        self,
        bus: FrameBus,
        lines: LineIO,
        power: PowerStage,
        config: ChargerConfig | None = None,
    ) -> None:
        self.charger = ChademoCharger(config)
        self.bus = bus
        self.lines = lines
        self.power = power
        self._enabled = False
        self._t: float | None = None
        self._import_wh = 0.0
        self._export_wh = 0.0
        self._voltage = 0.0
        self._current = 0.0
        self.decode_errors = 0
        self.last_actions = ChargerActions()
        self.ev_told = EvLimitsTold()

    # ------------------------------------------------------------------ ConnectorPort
    def set_session_enabled(self, enabled: bool) -> None:
        rising = enabled and not self._enabled
        self._enabled = enabled
        if not enabled and self.charger.phase is not ChargerPhase.IDLE:
            self.charger.request_stop(StopReason.STATION)
        elif rising and self.charger.phase is ChargerPhase.FINISHED:
            self.charger.reset()  # a new transaction on the same plug-in: start again at the next step

    def set_setpoint_w(self, watts: float) -> None:
        self.charger.set_setpoint_w(watts)

    def set_setpoint_a(self, amps: float | None) -> None:
        self.charger.set_setpoint_a(amps)

    def unlock(self) -> bool:
        phase = self.charger.phase
        if phase not in (ChargerPhase.IDLE, ChargerPhase.FINISHED):
            return False
        if self._voltage > self.charger.config.safe_voltage_v:
            return False
        self.lines.set("lock", False)
        return True

    def emergency_stop(self) -> None:
        self.charger.emergency_stop()

    def step(self, now: float, transmit: bool = True) -> PortState:
        """Receive, run the state machine and command the hardware. ``transmit=False`` runs a control-only step
        (a setpoint applied between cycles): the cyclic frames wait for their regular step."""
        ch = self.charger
        dt = 0.0 if self._t is None else max(0.0, now - self._t)
        self._t = now
        # Receive everything pending.
        for _ in range(self.MAX_FRAMES_PER_STEP):
            item = self.bus.recv()
            if item is None:
                break
            try:
                frame = decode(item[0], item[1])
            except CodecError:
                self.decode_errors += 1
                continue
            if frame is not None:
                ch.on_frame(frame, now)
        v = self.power.measured_voltage_v()
        i = self.power.measured_current_a()
        # Energy (trapezoid would need the previous sample; the step is short, rectangle is fine).
        if dt > 0:
            e = self._voltage * self._current * dt / 3600.0
            if e > 0:
                self._import_wh += e
            else:
                self._export_wh -= e
        self._voltage, self._current = v, i
        plugged = self._get("proximity")
        if self._enabled and plugged and ch.phase is ChargerPhase.IDLE:
            ch.start(now)
        if not plugged and ch.phase is ChargerPhase.FINISHED:
            ch.reset()
        elif not plugged and ch.phase is not ChargerPhase.IDLE and ch.stop_reason is None:
            ch.emergency_stop(StopReason.CONNECTOR_REMOVED)
        inputs = ChargerInputs(
            j=self._get("j"),
            lock_engaged=self._get("lock_feedback"),
            output_voltage_v=v,
            output_current_a=i,
            insulation_fault=self._get("insulation_fault"),
            estop=self._get("estop"),
            internal_fault=self._get("internal_fault"),
        )
        actions = ch.step(now, inputs, transmit=transmit)
        self._apply(actions)
        if ch.ev_status is None:  # no session, or a new one: nothing told yet
            self.ev_told = EvLimitsTold()
        else:
            self.ev_told.update(now, ch.ev_status.charge_current_request_a, ch.ev_discharge_limit_a)
        return self.state(plugged)

    # ------------------------------------------------------------------ helpers
    def _ev_limits_complete(self) -> bool:
        ch = self.charger
        if ch.ev_status is None or ch.ev_limits is None or ch.ev_limits.max_battery_voltage_v <= 0:
            return False
        return self._t is not None and self.ev_told.complete(self._t, ch.bidirectional)

    def _get(self, name: str) -> bool:
        try:
            return bool(self.lines.get(name))
        except KeyError:
            if name in _OPTIONAL_DEFAULTS:
                return _OPTIONAL_DEFAULTS[name]
            raise

    def _apply(self, a: ChargerActions) -> None:
        for frame in a.frames:
            raw = encode(frame)
            self.bus.send(raw.arbitration_id, raw.data)
        if a.fast_cut and isinstance(self.power, _FastCut) and a.current_a == 0.0:
            self.power.cut()
        self.power.set_target(a.current_a, a.voltage_limit_v)
        # Protection order on the way down: output contactor, then d2, then d1 (the state machine sequences them
        # in time; within one step they are written in this order too). Writes are idempotent.
        self.lines.set("contactor", a.output_contactor)
        self.lines.set("d2", a.d2)
        self.lines.set("d1", a.d1)
        self.lines.set("lock", a.lock)
        self.last_actions = a

    def state(self, plugged: bool = True) -> PortState:
        ch = self.charger
        phase = ch.phase
        st = ch.ev_status
        if phase is ChargerPhase.IDLE:
            port_phase = PortPhase.CONNECTED if plugged else PortPhase.UNPLUGGED
        elif ch.is_fault:
            port_phase = PortPhase.FAULTED
        elif phase in PREPARING_PHASES:
            port_phase = PortPhase.PREPARING
        elif phase is ChargerPhase.ENERGY_TRANSFER:
            # Suspended by the car: it offers nothing in the direction the station asks for.
            wanted = ch.wanted_current_a(self._voltage)
            charge_offer = st is not None and st.charge_current_request_a > 0
            discharge_offer = ch.ev_discharge_limit_a > 0
            idle = (wanted > 0 and not charge_offer) or (wanted < 0 and not discharge_offer)
            idle = idle or (wanted == 0 and not charge_offer and not discharge_offer)
            port_phase = PortPhase.SUSPENDED_EV if idle else PortPhase.ENERGY
        elif phase is ChargerPhase.FINISHED:
            port_phase = PortPhase.FINISHED
        elif phase in STOP_PHASES:
            port_phase = PortPhase.STOPPING
        else:  # pragma: no cover
            port_phase = PortPhase.PREPARING
        dis = ch.ev_discharge
        details: dict[str, object] = {
            "protocol": ch.protocol if st is not None else None,
            "charger_phase": phase.value,
            "stop_reason": ch.stop_reason.value if ch.stop_reason else None,
            "fault_flag": ch.fault_flag.value,
            "bidirectional": ch.bidirectional,
            "dynamic_control": ch.dynamic_control,
            "available_current_a": ch.advertised_current_a,
            "remaining_time_s": ch.remaining_time_s,
            "ev_request_a": st.charge_current_request_a if st else None,
            # The car's maximum charge current as far as it has told it (the highest 102.3 of the session), and
            # whether its figures are final (0x100 voltage, the end of the 102.3 / 200.0 ramps).
            "ev_max_request_a": self.ev_told.max_request_a if st else None,
            "ev_limits_complete": self._ev_limits_complete(),
        }
        if ch.ev_manufacturer is not None:
            details["automaker_code"] = ch.ev_manufacturer.automaker_code
        fault = None
        if ch.is_fault and ch.fault_reason is not None:
            fault = ch.fault_reason.value
        return PortState(
            phase=port_phase,
            meter=MeterReading(self._voltage, self._current, self._import_wh, self._export_wh),
            soc_percent=ch.soc_percent,
            # 102.3 is the car's present *request*, not its capability: it ramps up only while the charger offers
            # more (108.3). Reporting it as a limit would let arbitration pin the offer to the request and freeze
            # the ramp, so the charge side stays "unknown" here; the state machine itself never delivers more than
            # min(request, available) (the car's limit always wins there). The request, and the highest one of
            # the session (the car's maximum as far as it has told it, for reports), are in ``details``.
            ev_max_charge_current_a=None,
            ev_max_discharge_current_a=ch.ev_discharge_limit_a if dis is not None else None,
            ev_max_voltage_v=ch.ev_limits.max_battery_voltage_v if ch.ev_limits else None,
            ev_min_discharge_voltage_v=dis.min_discharge_voltage_v if dis else None,
            ev_soc_min_percent=ch.soc_min_percent,
            ev_soc_max_percent=ch.soc_max_percent,
            ev_capacity_wh=ch.rated_capacity_wh or None,
            ev_stop_requested=(
                ch.stop_reason is not None
                and ch.stop_reason in NORMAL_STOPS
                and ch.stop_reason is not StopReason.STATION
            ),
            fault=fault,
            details=details,
        )
