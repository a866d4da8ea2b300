"""CHAdeMO control lines (reference §1.2): d1, d2, j (= the car's k switch), connector lock, output contactor.

Charger view: outputs are ``d1``, ``d2``, ``lock`` (solenoid command) and ``contactor`` (output contactor);
inputs are ``j`` (photocoupler sensing the car's k switch), ``lock_fb`` (lock engaged feedback) and the
optional ``imd_ok`` (insulation monitor: True = insulation resistance OK).

* :class:`ControlLines` is the Protocol of the drivers below: ``get(name) -> bool`` and ``set(name, bool)``;
  names are :class:`Line` members or their string values. (The CHAdeMO port reads its own ``LineIO`` names, see
  ``chargepoint/chademo/port.py``; :class:`~chargepoint.chademo.connector.SerialLineIO` adapts :class:`SerialLines`
  to it for ``io = "serial:PORT"``.)
* :class:`EmulatedLines` is the in-process implementation with a car-side view (:attr:`EmulatedLines.car`),
  a lock actuator with a delay and fault injection.
* :class:`SerialLines` drives a bench over a serial port with the ASCII protocol in ``docs/hardware.md``
  (served for tests by ``hil.emulators.line_bench``).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Final, Protocol

import serial

from chargepoint.clock import Clock, RealClock

__all__ = [
    "INPUTS",
    "OUTPUTS",
    "PROTOCOL_VERSION",
    "CarSide",
    "ControlLines",
    "EmulatedLines",
    "Line",
    "LineListener",
    "LineName",
    "LineUnavailable",
    "LinesError",
    "LockFault",
    "SerialLines",
    "as_line",
]


class Line(StrEnum):
    D1 = "d1"
    D2 = "d2"
    LOCK = "lock"
    CONTACTOR = "contactor"
    J = "j"
    LOCK_FB = "lock_fb"
    IMD_OK = "imd_ok"


OUTPUTS: Final = frozenset({Line.D1, Line.D2, Line.LOCK, Line.CONTACTOR})
INPUTS: Final = frozenset({Line.J, Line.LOCK_FB, Line.IMD_OK})
PROTOCOL_VERSION: Final = 1

LineName = Line | str
LineListener = Callable[[Line, bool], None]


class LineUnavailable(LookupError):
    """The line is not fitted on this hardware (e.g. no insulation monitor)."""


class LinesError(RuntimeError):
    """Communication with the line hardware failed or the bench refused a command."""


def as_line(name: LineName) -> Line:
    """Convert a name to a :class:`Line`, with a ValueError listing the known names."""
    if isinstance(name, Line):
        return name
    try:
        return Line(name)
    except ValueError:
        known = ", ".join(m.value for m in Line)
        raise ValueError(f"unknown control line {name!r} (known: {known})") from None


def _output(name: LineName) -> Line:
    line = as_line(name)
    if line not in OUTPUTS:
        raise ValueError(f"{line.value} is an input of the charger and cannot be set")
    return line


class ControlLines(Protocol):
    def get(self, line: LineName) -> bool:
        """Present level: the commanded state for outputs, the sensed state for inputs."""
        ...

    def set(self, line: LineName, value: bool) -> None:
        """Drive an output. ValueError for inputs and unknown names."""
        ...


class LockFault(StrEnum):
    NONE = "none"
    FAIL_TO_ENGAGE = "fail_to_engage"  # the mechanism never reaches the locked position
    FAIL_TO_RELEASE = "fail_to_release"  # once locked, it stays locked
    FEEDBACK_STUCK_LOCKED = "feedback_stuck_locked"  # lock_fb reads 1 whatever the mechanism does
    FEEDBACK_STUCK_UNLOCKED = "feedback_stuck_unlocked"  # lock_fb reads 0 whatever the mechanism does


class EmulatedLines:
    """In-process control lines.

    The lock mechanism follows the ``lock`` output after ``lock_delay_s`` (engage) or ``unlock_delay_s``
    (release), measured on ``clock.monotonic()``. Time-dependent changes are evaluated lazily on every
    access; call :meth:`poll` periodically if listeners must see ``lock_fb`` change without anyone reading
    it. Thread-safe; listeners run in the thread that caused the change, outside the internal lock.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        lock_delay_s: float = 0.2,
        unlock_delay_s: float | None = None,
        imd_fitted: bool = True,
    ) -> None:
        if lock_delay_s < 0 or (unlock_delay_s is not None and unlock_delay_s < 0):
            raise ValueError("lock delays must not be negative")
        self._clock: Clock = clock or RealClock()
        self.lock_delay_s = lock_delay_s
        self.unlock_delay_s = lock_delay_s if unlock_delay_s is None else unlock_delay_s
        self.imd_fitted = imd_fitted
        self._mutex = threading.RLock()
        self._out: dict[Line, bool] = dict.fromkeys(OUTPUTS, False)
        self._k = False
        self._imd_ok = True
        self._lock_engaged = False
        self._lock_cmd_time = self._clock.monotonic()
        self._lock_fault = LockFault.NONE
        self._listeners: list[LineListener] = []
        self._reported = self._levels()
        self.car = CarSide(self)

    # ---- internal ------
    def _advance_lock(self) -> None:
        cmd = self._out[Line.LOCK]
        if cmd == self._lock_engaged:
            return
        delay = self.lock_delay_s if cmd else self.unlock_delay_s
        if self._clock.monotonic() - self._lock_cmd_time < delay:
            return
        if cmd and self._lock_fault is LockFault.FAIL_TO_ENGAGE:
            return
        if not cmd and self._lock_fault is LockFault.FAIL_TO_RELEASE:
            return
        self._lock_engaged = cmd

    def _feedback(self) -> bool:
        if self._lock_fault is LockFault.FEEDBACK_STUCK_LOCKED:
            return True
        if self._lock_fault is LockFault.FEEDBACK_STUCK_UNLOCKED:
            return False
        return self._lock_engaged

    def _levels(self) -> dict[Line, bool]:
        levels = dict(self._out)
        levels[Line.J] = self._k
        levels[Line.LOCK_FB] = self._feedback()
        if self.imd_fitted:
            levels[Line.IMD_OK] = self._imd_ok
        return levels

    def _changes(self) -> list[tuple[Line, bool]]:
        """Advance the lock, diff against what listeners last saw (caller holds the mutex)."""
        self._advance_lock()
        levels = self._levels()
        changed = [(ln, v) for ln, v in levels.items() if self._reported.get(ln) != v]
        self._reported = levels
        return changed

    def _notify(self, changed: list[tuple[Line, bool]]) -> None:
        for line, value in changed:
            for fn in list(self._listeners):
                fn(line, value)

    def _mutate(self, fn: Callable[[], Any]) -> None:
        with self._mutex:
            self._advance_lock()
            fn()
            changed = self._changes()
        self._notify(changed)

    # ---- charger view (ControlLines) ------
    def get(self, line: LineName) -> bool:
        ln = as_line(line)
        with self._mutex:
            changed = self._changes()
            levels = self._reported
        self._notify(changed)
        if ln not in levels:
            raise LineUnavailable(f"{ln.value} is not fitted")
        return levels[ln]

    def set(self, line: LineName, value: bool) -> None:
        ln = _output(line)
        value = bool(value)

        def apply() -> None:
            if ln is Line.LOCK and self._out[ln] != value:
                self._lock_cmd_time = self._clock.monotonic()
            self._out[ln] = value

        self._mutate(apply)

    def snapshot(self) -> dict[Line, bool]:
        """All fitted lines at once."""
        with self._mutex:
            changed = self._changes()
            levels = dict(self._reported)
        self._notify(changed)
        return levels

    def poll(self) -> None:
        """Evaluate time-dependent state (the lock) and fire listeners for any change."""
        with self._mutex:
            changed = self._changes()
        self._notify(changed)

    def add_listener(self, fn: LineListener) -> None:
        """Call ``fn(line, value)`` on every level change of any line (outputs included)."""
        self._listeners.append(fn)

    def remove_listener(self, fn: LineListener) -> None:
        self._listeners.remove(fn)

    # ---- test / bench controls ------
    @property
    def lock_engaged(self) -> bool:
        """Mechanical lock position (what feedback would say without a feedback fault)."""
        with self._mutex:
            self._advance_lock()
            return self._lock_engaged

    @property
    def lock_fault(self) -> LockFault:
        return self._lock_fault

    def inject_lock_fault(self, fault: LockFault) -> None:
        """Set (or clear with ``LockFault.NONE``) a lock fault; effective from now on."""

        def apply() -> None:
            self._lock_fault = LockFault(fault)

        self._mutate(apply)

    def set_imd_ok(self, ok: bool) -> None:
        """Insulation monitor result (only meaningful with ``imd_fitted``)."""

        def apply() -> None:
            self._imd_ok = bool(ok)

        self._mutate(apply)

    def _set_k(self, closed: bool) -> None:
        def apply() -> None:
            self._k = bool(closed)

        self._mutate(apply)


class CarSide:
    """What the car sees and drives: it reads d1/d2 (photocouplers f/g) and closes k (read by j)."""

    def __init__(self, lines: EmulatedLines) -> None:
        self._lines = lines

    def set_k(self, closed: bool) -> None:
        self._lines._set_k(closed)

    @property
    def k(self) -> bool:
        return self._lines.get(Line.J)

    @property
    def d1(self) -> bool:
        return self._lines.get(Line.D1)

    @property
    def d2(self) -> bool:
        return self._lines.get(Line.D2)

    @property
    def contactor(self) -> bool:
        """The charger's output contactor command."""
        return self._lines.get(Line.CONTACTOR)

    @property
    def locked(self) -> bool:
        """Whether the connector is mechanically held by the lock."""
        return self._lines.lock_engaged


def _parse_level(token: str) -> bool:
    if token == "1":
        return True
    if token == "0":
        return False
    raise LinesError(f"bad level {token!r}")


class SerialLines:
    """Control lines on a bench reached over a serial port (pyserial URL: device path, ``socket://``,
    ``loop://``...), speaking the line protocol of ``docs/hardware.md``.

    :meth:`get` answers from a cache that the bench keeps current with ``EV`` events (no round trip);
    :meth:`set` blocks until the bench confirms with ``OK`` (at most ``timeout_s``). Listeners run in the
    reader thread.
    """

    def __init__(self, port: str, *, baudrate: int = 115_200, timeout_s: float = 1.0) -> None:
        self.port = port
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self._serial: Any = None
        self._reader: threading.Thread | None = None
        self._stop = threading.Event()
        self._replies: queue.Queue[str] = queue.Queue()
        self._cmd_lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._cache: dict[Line, bool] = {}
        self._listeners: list[LineListener] = []
        self.fitted: frozenset[Line] = frozenset()
        self.protocol_version: int | None = None
        self.events_received = 0
        self.protocol_errors = 0

    # ---- lifecycle ------
    def open(self) -> SerialLines:
        """Open the port, start the reader, check the bench (HELLO) and read every line."""
        if self._serial is not None:
            raise LinesError("already open")
        try:
            self._serial = serial.serial_for_url(self.port, baudrate=self.baudrate, timeout=0.05)
        except (serial.SerialException, OSError) as exc:
            raise LinesError(f"cannot open {self.port}: {exc}") from exc
        self._stop.clear()
        self._reader = threading.Thread(target=self._read_loop, name=f"serial-lines {self.port}", daemon=True)
        self._reader.start()
        try:
            hello = self._command("HELLO").split()
            if len(hello) != 3 or hello[0] != "HELLO" or not hello[1].isdigit():
                raise LinesError(f"unexpected HELLO answer {' '.join(hello)!r}")
            self.protocol_version = int(hello[1])
            if self.protocol_version != PROTOCOL_VERSION:
                raise LinesError(f"bench speaks protocol {self.protocol_version}, expected {PROTOCOL_VERSION}")
            self.fitted = frozenset(as_line(n) for n in hello[2].split(","))
            self.refresh()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        self._stop.set()
        if self._reader is not None:
            self._reader.join(timeout=2.0)
            self._reader = None
        if self._serial is not None:
            with contextlib.suppress(Exception):
                self._serial.close()
            self._serial = None

    def __enter__(self) -> SerialLines:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- I/O ------
    def _read_loop(self) -> None:
        buf = bytearray()
        ser = self._serial
        while not self._stop.is_set():
            try:
                chunk = ser.read(max(1, ser.in_waiting))
            except (serial.SerialException, OSError, TypeError):
                return
            buf.extend(chunk)
            while (nl := buf.find(b"\n")) >= 0:
                text = buf[:nl].decode("ascii", errors="replace").strip()
                del buf[: nl + 1]
                if text:
                    self._dispatch(text)

    def _dispatch(self, text: str) -> None:
        if not text.startswith("EV "):
            self._replies.put(text)
            return
        parts = text.split()
        try:
            if len(parts) != 3:
                raise LinesError("bad event")
            line, value = as_line(parts[1]), _parse_level(parts[2])
        except (ValueError, LinesError):
            self.protocol_errors += 1
            return
        self.events_received += 1
        with self._cache_lock:
            changed = self._cache.get(line) != value
            self._cache[line] = value
        if changed:
            for fn in list(self._listeners):
                fn(line, value)

    def _command(self, text: str) -> str:
        if self._serial is None:
            raise LinesError("serial lines are not open")
        with self._cmd_lock:
            while not self._replies.empty():  # stale answers of a timed-out command
                self._replies.get_nowait()
            try:
                self._serial.write(f"{text}\n".encode("ascii"))
                self._serial.flush()
            except (serial.SerialException, OSError) as exc:
                raise LinesError(f"write to {self.port} failed: {exc}") from exc
            try:
                reply = self._replies.get(timeout=self.timeout_s)
            except queue.Empty:
                raise LinesError(f"no answer to {text!r} within {self.timeout_s} s") from None
        if reply.startswith("ERR"):
            raise LinesError(f"bench refused {text!r}: {reply[3:].strip()}")
        return reply

    # ---- ControlLines ------
    def refresh(self) -> None:
        """Read every fitted line from the bench (normally the events keep the cache current)."""
        for line in sorted(self.fitted):
            parts = self._command(f"GET {line.value}").split()
            if len(parts) != 2 or parts[0] != line.value:
                raise LinesError(f"unexpected answer {' '.join(parts)!r} to GET {line.value}")
            with self._cache_lock:
                self._cache[line] = _parse_level(parts[1])

    def get(self, line: LineName) -> bool:
        ln = as_line(line)
        if self._serial is None:
            raise LinesError("serial lines are not open")
        if ln not in self.fitted:
            raise LineUnavailable(f"{ln.value} is not fitted on the bench")
        with self._cache_lock:
            return self._cache[ln]

    def set(self, line: LineName, value: bool) -> None:
        ln = _output(line)
        reply = self._command(f"SET {ln.value} {int(bool(value))}")
        if reply != "OK":
            raise LinesError(f"unexpected answer {reply!r} to SET {ln.value}")
        with self._cache_lock:
            self._cache[ln] = bool(value)

    def add_listener(self, fn: LineListener) -> None:
        """Call ``fn(line, value)`` (in the reader thread) when an event changes a line."""
        self._listeners.append(fn)

    def remove_listener(self, fn: LineListener) -> None:
        self._listeners.remove(fn)
