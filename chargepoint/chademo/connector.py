"""A CHAdeMO connector as the station sees it: :class:`ChademoPort` on a python-can bus, plus (when emulated) the
physical world behind it, stepped in the same cycle.

``CanFrameBus`` adapts any python-can bus (``virtual``, ``socketcan:IFACE``, ``slcan:PORT``; see
:func:`chargepoint.hardware.can.open_bus`) to the port's non-blocking ``FrameBus``. Frames with a DLC other than
8 are counted and dropped (CHAdeMO frames are always 8 bytes).
"""

from __future__ import annotations

from typing import Protocol

import can

from chargepoint.chademo.charger_types import ChargerActions
from chargepoint.chademo.port import ChademoPort
from chargepoint.hardware.interfaces import PortState


class CanFrameBus:
    """``FrameBus`` over python-can: ``send`` transmits a standard 11-bit frame, ``recv`` never blocks."""

    def __init__(self, bus: can.BusABC, threaded: bool = False) -> None:
        """``threaded``: receive on python-can's notifier thread into a buffer. Needed for serial adapters, whose
        ``recv(timeout=0)`` also returns None for every command acknowledgement in the byte stream (so "None" does
        not mean "nothing pending"); the in-process virtual bus is read directly, which keeps virtual time exact."""
        self.bus = bus
        self.tx_frames = 0
        self.rx_frames = 0
        self.rx_dropped = 0
        self.tx_errors = 0
        self._reader: can.BufferedReader | None = None
        self._notifier: can.Notifier | None = None
        if threaded:
            self._reader = can.BufferedReader()
            self._notifier = can.Notifier(bus, [self._reader], timeout=0.05)

    def send(self, arbitration_id: int, data: bytes) -> None:
        try:
            self.bus.send(can.Message(arbitration_id=arbitration_id, data=data, is_extended_id=False))
            self.tx_frames += 1
        except can.CanError:
            self.tx_errors += 1  # a full TX queue / bus-off: the CAN-silence supervision on both sides handles it

    def recv(self) -> tuple[int, bytes] | None:
        while True:
            msg = self._reader.get_message(timeout=0) if self._reader is not None else self.bus.recv(timeout=0)
            if msg is None:
                return None
            if msg.is_extended_id or msg.is_error_frame or msg.is_remote_frame or msg.dlc != 8:
                self.rx_dropped += 1
                continue
            self.rx_frames += 1
            return msg.arbitration_id, bytes(msg.data)

    def close(self) -> None:
        if self._notifier is not None:
            self._notifier.stop()
        self.bus.shutdown()


class World(Protocol):
    """The emulated physics behind a connector (power stage, cable, car); absent on real hardware."""

    def step(self, now: float, actions: ChargerActions) -> None: ...


class ChademoConnector:
    """``ConnectorPort``: steps the emulated world (if any) with the charger's last commands, then the port."""

    def __init__(self, port: ChademoPort, world: World | None = None, bus: CanFrameBus | None = None) -> None:
        self.port = port
        self.world = world
        self.bus = bus
        self._last_step: float | None = None

    def step(self, now: float) -> PortState:
        self._last_step = now
        if self.world is not None:
            self.world.step(now, self.port.last_actions)
        return self.port.step(now)

    def set_session_enabled(self, enabled: bool) -> None:
        self.port.set_session_enabled(enabled)

    def set_setpoint_w(self, watts: float) -> None:
        self.port.set_setpoint_w(watts)

    def apply_now(self, now: float) -> None:
        """Run one control step at once (out of the station's tick) so a new setpoint reaches the power stage
        without waiting for the next cycle. Frames still leave only on the charger's own 100 ms schedule."""
        if self._last_step is not None and now > self._last_step:
            if self.world is not None:
                self.world.step(now, self.port.last_actions)
            self.port.step(now, transmit=False)

    def unlock(self) -> bool:
        return self.port.unlock()

    # EmulatedPlug, when the world is emulated
    def plug_in(self) -> None:
        getattr(self.world, "plug_in", _nothing)()

    def unplug(self) -> None:
        getattr(self.world, "unplug", _nothing)()

    def restore_registers(self, import_wh: float, export_wh: float) -> None:
        self.port._import_wh = max(self.port._import_wh, import_wh)
        self.port._export_wh = max(self.port._export_wh, export_wh)

    def close(self) -> None:
        if self.bus is not None:
            self.bus.close()
        for part in (self.port.lines, self.world):  # the serial bench's reader thread and port; the car's bus
            close = getattr(part, "close", None)
            if close is not None:
                close()


def _nothing() -> None:
    return None


class SerialLineIO:
    """``LineIO`` over :class:`chargepoint.hardware.lines.SerialLines` (a bench in another process or MCU, protocol in
    ``docs/hardware.md``): maps the port's line names to the bench protocol's (``lock_feedback`` -> ``lock_fb``,
    ``insulation_fault`` = not ``imd_ok``); inputs the bench does not carry (``proximity``, ``estop``,
    ``internal_fault``, ``imd_ok`` when not fitted) raise KeyError, which the port reads as their safe default.

    ``mirror``: another ``LineIO`` that gets every output written too, after the bench confirmed it. The station
    passes the emulated world's lines, so the emulated power stage (which has no wire of its own) sees the
    output-contactor command the bench got. Inputs never come from the mirror."""

    _NAMES = {"lock_feedback": "lock_fb", "j": "j", "d1": "d1", "d2": "d2", "lock": "lock", "contactor": "contactor"}
    _OUTPUTS = frozenset({"d1", "d2", "lock", "contactor"})

    def __init__(self, lines: object, mirror: object | None = None) -> None:
        self.lines = lines
        self.mirror = mirror

    def get(self, name: str) -> bool:
        if name == "insulation_fault":
            try:
                return not bool(self.lines.get("imd_ok"))  # type: ignore[attr-defined]
            except LookupError:
                raise KeyError(name) from None
        if name not in self._NAMES:
            raise KeyError(name)
        return bool(self.lines.get(self._NAMES[name]))  # type: ignore[attr-defined]

    def set(self, name: str, value: bool) -> None:
        if name not in self._OUTPUTS:
            raise KeyError(name)
        self.lines.set(self._NAMES[name], value)  # type: ignore[attr-defined]
        if self.mirror is not None:
            self.mirror.set(name, value)  # type: ignore[attr-defined]

    def close(self) -> None:
        close = getattr(self.lines, "close", None)
        if close is not None:
            close()
