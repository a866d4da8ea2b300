"""Bench side of the serial control-line protocol (see ``docs/hardware.md``), served on a pseudo-terminal.

:class:`LineBench` owns an :class:`~chargepoint.hardware.lines.EmulatedLines` (the car drives it through
``bench.lines.car``) and serves it on a pty: the charger opens ``bench.port`` with
:class:`~chargepoint.hardware.lines.SerialLines`. Every level change - caused by the charger, the car, the
lock actuator or the insulation monitor - is sent as an ``EV`` line.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
import tty
from dataclasses import dataclass

from chargepoint.hardware.lines import (
    PROTOCOL_VERSION,
    EmulatedLines,
    Line,
    LineUnavailable,
    as_line,
)

__all__ = ["LineBench", "LineBenchStats"]

_MAX_LINE = 128


@dataclass(slots=True)
class LineBenchStats:
    commands: int = 0
    errors: int = 0
    events_sent: int = 0
    bytes_dropped: int = 0


class LineBench:
    """Serve ``lines`` on a pty. ``poll_interval_s`` bounds how late a timed change (lock feedback) is
    reported."""

    def __init__(self, lines: EmulatedLines | None = None, *, poll_interval_s: float = 0.01) -> None:
        self.lines = lines if lines is not None else EmulatedLines()
        self.poll_interval_s = poll_interval_s
        self.stats = LineBenchStats()
        self._master = -1
        self._slave = -1
        self._port = ""
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> str:
        if not self._port:
            raise RuntimeError("bench not started")
        return self._port

    def start(self) -> str:
        if self._thread is not None:
            raise RuntimeError("bench already started")
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self._port = os.ttyname(self._slave)  # our slave fd stays open: no EIO when the host reconnects
        self._stop.clear()
        self.lines.add_listener(self._on_change)
        self._thread = threading.Thread(target=self._loop, name=f"line-bench {self._port}", daemon=True)
        self._thread.start()
        return self._port

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
            self.lines.remove_listener(self._on_change)
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1

    def __enter__(self) -> LineBench:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- I/O ------
    def _send(self, text: str) -> None:
        data = memoryview(f"{text}\n".encode("ascii"))
        deadline = time.monotonic() + 0.2
        with self._write_lock:
            while data:
                try:
                    n = os.write(self._master, data)
                    data = data[n:]
                except BlockingIOError:
                    if time.monotonic() > deadline or self._stop.is_set():
                        self.stats.bytes_dropped += len(data)
                        return
                    select.select([], [self._master], [], 0.01)
                except OSError:
                    return

    def _on_change(self, line: Line, value: bool) -> None:
        if self._master >= 0:
            self.stats.events_sent += 1
            self._send(f"EV {line.value} {int(value)}")

    def _loop(self) -> None:
        buf = bytearray()
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._master], [], [], self.poll_interval_s)
                chunk = os.read(self._master, 4096) if ready else b""
            except BlockingIOError:
                chunk = b""
            except OSError:
                return
            buf.extend(chunk)
            while (nl := buf.find(b"\n")) >= 0:
                text = buf[:nl].decode("ascii", errors="replace").strip()
                del buf[: nl + 1]
                if text:
                    self._send(self._handle(text))
            if len(buf) > _MAX_LINE:
                buf.clear()
                self.stats.errors += 1
                self._send("ERR line too long")
            self.lines.poll()

    def _handle(self, text: str) -> str:
        """Execute one command and return the reply line (events are sent by the listener meanwhile)."""
        self.stats.commands += 1
        parts = text.split()
        try:
            match parts:
                case ["HELLO"]:
                    names = ",".join(sorted(ln.value for ln in self.lines.snapshot()))
                    return f"HELLO {PROTOCOL_VERSION} {names}"
                case ["PING"]:
                    return "PONG"
                case ["GET", name]:
                    line = as_line(name)
                    return f"{line.value} {int(self.lines.get(line))}"
                case ["SET", name, ("0" | "1") as level]:
                    self.lines.set(as_line(name), level == "1")
                    return "OK"
                case ["SET", _, level]:
                    raise ValueError(f"bad level {level!r} (0 or 1)")
                case _:
                    raise ValueError(f"unknown command {text!r}")
        except (ValueError, LineUnavailable) as exc:
            self.stats.errors += 1
            return f"ERR {exc}"
