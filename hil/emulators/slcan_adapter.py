"""Emulated slcan (Lawicel ASCII protocol) USB-CAN adapter on a pseudo-terminal.

The emulator opens a pty pair. The slave end (``/dev/pts/N``, see :attr:`SlcanAdapterEmulator.port`) is what
a host opens as ``slcan:/dev/pts/N``; python-can then talks to it through pyserial exactly as it would to a
CANable or a Lawicel CANUSB. The master end is served by a thread that parses the commands and bridges frames
to and from a python-can bus (an in-process ``virtual`` channel by default) on which the car emulator sits.

Command set (every command ends with CR; success answers end with CR, failures are a single BEL)::

    Sn      set bitrate n = 0..8 (10k 20k 50k 100k 125k 250k 500k 750k 1M), closed only
    sxxyy   set SJA1000 BTR0/BTR1 (custom timing; treated as an unknown bitrate), closed only
    O / L   open the channel normally / listen-only          C   close the channel
    tiiildd..  Tiiiiiiiildd..  riiil  Riiiiiiiil   transmit (answer 'z' for 11-bit, 'Z' for 29-bit ids)
    F       status flags as two hex digits (open only)        V / v   hardware+software / software version
    N       serial number (4 characters)                      Zn  timestamps off (0) / on (1), closed only
    Mxxxxxxxx / mxxxxxxxx  acceptance code / mask (accepted and stored, not applied)
    (empty) no-op, answered with CR (python-can sends one after ``Sn`` when no CAN FD data bitrate is used)

Frames from the bus reach the host as ``tiiildd..[tttt]`` (``tttt`` = ms timestamp 0..0xEA5F when Z1 is
active) while the channel is open. If ``bus_bitrate`` is set and the adapter was configured differently, no
frames pass in either direction and the bus-error flag (0x80) shows in ``F`` - like a real node at the wrong
speed.
"""

from __future__ import annotations

import collections
import contextlib
import os
import select
import threading
import time
import tty
from dataclasses import dataclass
from typing import Final

import can

__all__ = ["SLCAN_BITRATE_CODES", "SlcanAdapterEmulator", "SlcanStats"]

SLCAN_BITRATE_CODES: Final[dict[str, int]] = {
    "0": 10_000,
    "1": 20_000,
    "2": 50_000,
    "3": 100_000,
    "4": 125_000,
    "5": 250_000,
    "6": 500_000,
    "7": 750_000,
    "8": 1_000_000,
}
_OK: Final = b"\r"
_ERR: Final = b"\a"
_MAX_LINE: Final = 64
_FLAG_BUS_ERROR: Final = 0x80
_FLAG_DATA_OVERRUN: Final = 0x08
_HEX: Final = frozenset("0123456789abcdefABCDEF")


@dataclass(slots=True)
class SlcanStats:
    commands: int = 0
    errors: int = 0  # commands answered with BEL
    frames_to_bus: int = 0
    frames_to_host: int = 0
    frames_dropped: int = 0  # closed channel, bitrate mismatch, FD/error frames, host not reading


class _BadCommand(Exception):
    pass


def _parse_hex(text: str, what: str) -> int:
    if not text or not set(text) <= _HEX:
        raise _BadCommand(f"bad {what} {text!r}")
    return int(text, 16)


def _parse_frame(cmd: str) -> can.Message:
    """Parse a t/T/r/R transmit command into a message (raises _BadCommand)."""
    kind = cmd[0]
    id_len = 3 if kind in "tr" else 8
    if len(cmd) < 1 + id_len + 1:
        raise _BadCommand("frame command too short")
    arb = _parse_hex(cmd[1 : 1 + id_len], "identifier")
    if arb > (0x7FF if id_len == 3 else 0x1FFFFFFF):
        raise _BadCommand("identifier out of range")
    dlc_char = cmd[1 + id_len]
    if dlc_char not in "012345678":
        raise _BadCommand("bad DLC")
    dlc = int(dlc_char)
    body = cmd[2 + id_len :]
    if kind in "rR":
        if body:
            raise _BadCommand("remote frame carries data")
        return can.Message(arbitration_id=arb, is_extended_id=id_len == 8, is_remote_frame=True, dlc=dlc)
    if len(body) != 2 * dlc or (body and not set(body) <= _HEX):
        raise _BadCommand("data length does not match DLC")
    return can.Message(arbitration_id=arb, is_extended_id=id_len == 8, data=bytes.fromhex(body))


class SlcanAdapterEmulator:
    """An slcan adapter on a pty, bridged to a python-can bus.

    Args:
        channel: python-can ``virtual`` channel to bridge to (ignored when ``bus`` is given).
        bus: an existing bus to bridge to instead; it is not shut down by :meth:`stop`.
        bus_bitrate: the bitrate the emulated physical bus runs at (None = accept any adapter setting).
        default_bitrate: bitrate in effect before any ``S`` command (None = ``O`` fails until one is sent).
        hw_version, sw_version: reported by ``V`` as two decimal digits each.
        serial_number: reported by ``N`` (4 characters).
    """

    def __init__(
        self,
        channel: str = "chademo",
        *,
        bus: can.BusABC | None = None,
        bus_bitrate: int | None = 500_000,
        default_bitrate: int | None = 500_000,
        hw_version: int = 10,
        sw_version: int = 13,
        serial_number: str = "HIL1",
    ) -> None:
        if len(serial_number) != 4:
            raise ValueError("serial_number must be 4 characters")
        if not (0 <= hw_version <= 99 and 0 <= sw_version <= 99):
            raise ValueError("versions must be 0..99")
        self._channel = channel
        self._bus: can.BusABC | None = bus
        self._owns_bus = bus is None
        self.bus_bitrate = bus_bitrate
        self._hw = hw_version
        self._sw = sw_version
        self._serial = serial_number
        self.stats = SlcanStats()
        #: Last commands received (most recent last), for tests and diagnostics.
        self.command_log: collections.deque[str] = collections.deque(maxlen=256)

        self._lock = threading.Lock()  # guards the channel state and master writes
        self._bitrate: int | None = default_bitrate
        self._timing_set = default_bitrate is not None
        self._open = False
        self._listen_only = False
        self._timestamps = False
        self._flags = 0
        self.acceptance_code = 0
        self.acceptance_mask = 0xFFFFFFFF

        self._master = -1
        self._slave = -1
        self._port = ""
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ---- state ------
    @property
    def port(self) -> str:
        """Path of the pty slave, e.g. ``/dev/pts/3`` (valid after :meth:`start`)."""
        if not self._port:
            raise RuntimeError("emulator not started")
        return self._port

    @property
    def spec(self) -> str:
        """Bus spec for :func:`chargepoint.hardware.can.open_bus` (without a bitrate)."""
        return f"slcan:{self.port}"

    @property
    def is_open(self) -> bool:
        return self._open

    @property
    def bitrate(self) -> int | None:
        """Configured bitrate, None for a custom BTR setting (or none set yet)."""
        return self._bitrate

    @property
    def timestamps(self) -> bool:
        return self._timestamps

    def _bitrate_ok(self) -> bool:
        return self.bus_bitrate is None or self._bitrate == self.bus_bitrate

    # ---- lifecycle ------
    def start(self) -> str:
        """Open the pty pair and the bus, start the worker threads; return the slave path."""
        if self._threads:
            raise RuntimeError("emulator already started")
        self._master, self._slave = os.openpty()
        # Raw mode: no echo, no CR->NL mapping. pyserial sets this again on open; doing it here keeps bytes
        # intact even before the host has configured the port.
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        # We keep our own slave fd open so the master never sees a hang-up (EIO) when the host closes and
        # reopens the port.
        self._port = os.ttyname(self._slave)
        if self._bus is None:
            self._bus = can.Bus(interface="virtual", channel=self._channel)
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._serial_loop, name=f"slcan-emu-serial {self._port}", daemon=True),
            threading.Thread(target=self._bus_loop, name=f"slcan-emu-bus {self._port}", daemon=True),
        ]
        for t in self._threads:
            t.start()
        return self._port

    def stop(self) -> None:
        """Stop the threads and close the pty (shut the host's bus down first to avoid EIO there)."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2.0)
        self._threads = []
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1
        if self._owns_bus and self._bus is not None:
            self._bus.shutdown()
            self._bus = None

    def __enter__(self) -> SlcanAdapterEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- I/O helpers ------
    def _write(self, data: bytes) -> bool:
        """Write everything to the master or give up after 0.2 s (host not reading). Caller holds _lock."""
        view = memoryview(data)
        deadline = time.monotonic() + 0.2
        while view:
            try:
                n = os.write(self._master, view)
                view = view[n:]
            except BlockingIOError:
                if time.monotonic() > deadline or self._stop.is_set():
                    return False
                select.select([], [self._master], [], 0.01)
            except OSError:
                return False
        return True

    def _serial_loop(self) -> None:
        buf = bytearray()
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._master], [], [], 0.05)
                if not ready:
                    continue
                chunk = os.read(self._master, 4096)
            except BlockingIOError:
                continue
            except OSError:
                return  # pty closed under us
            for byte in chunk:
                if byte == 0x0D:  # CR ends a command
                    line = buf.decode("ascii", errors="replace")
                    buf.clear()
                    self._handle(line)
                elif byte == 0x0A:  # tolerate CR LF from terminal programs
                    continue
                elif len(buf) >= _MAX_LINE:
                    buf.clear()
                    with self._lock:
                        self.stats.errors += 1
                        self._write(_ERR)
                else:
                    buf.append(byte)

    def _handle(self, line: str) -> None:
        with self._lock:
            self.stats.commands += 1
            self.command_log.append(line)
            try:
                reply, frame = self._execute(line)
            except _BadCommand:
                self.stats.errors += 1
                self._write(_ERR)
                return
            self._write(reply)
        if frame is not None and self._bus is not None:
            try:
                self._bus.send(frame)
                self.stats.frames_to_bus += 1
            except can.CanError:
                self.stats.frames_dropped += 1

    def _execute(self, line: str) -> tuple[bytes, can.Message | None]:
        """Apply one command (caller holds _lock). Returns the reply and a frame to put on the bus."""
        if not line:
            return _OK, None
        cmd, arg = line[0], line[1:]
        if cmd in "tTrR":
            if not self._open or self._listen_only:
                raise _BadCommand("channel not open for transmit")
            msg = _parse_frame(line)
            ack = b"z\r" if cmd in "tr" else b"Z\r"
            if not self._bitrate_ok():
                self._flags |= _FLAG_BUS_ERROR
                self.stats.frames_dropped += 1
                return ack, None
            return ack, msg
        if cmd == "S":
            if self._open or arg not in SLCAN_BITRATE_CODES:
                raise _BadCommand("S needs a closed channel and a code 0..8")
            self._bitrate = SLCAN_BITRATE_CODES[arg]
            self._timing_set = True
            return _OK, None
        if cmd == "s":
            if self._open or len(arg) != 4:
                raise _BadCommand("s needs a closed channel and 4 hex digits")
            _parse_hex(arg, "BTR")
            self._bitrate = None
            self._timing_set = True
            return _OK, None
        if cmd in "OL":
            if self._open or arg or not self._timing_set:
                raise _BadCommand("already open, or no bitrate set yet")
            self._open = True
            self._listen_only = cmd == "L"
            self._flags = 0
            return _OK, None
        if cmd == "C":
            if not self._open or arg:
                raise _BadCommand("not open")
            self._open = False
            return _OK, None
        if cmd == "F" and not arg:
            if not self._open:
                raise _BadCommand("not open")
            flags, self._flags = self._flags, 0
            return f"F{flags:02X}\r".encode(), None
        if cmd == "V" and not arg:
            return f"V{self._hw:02d}{self._sw:02d}\r".encode(), None
        if cmd == "v" and not arg:
            return f"v{self._sw:02d}00\r".encode(), None
        if cmd == "N" and not arg:
            return f"N{self._serial}\r".encode(), None
        if cmd == "Z":
            if self._open or arg not in ("0", "1"):
                raise _BadCommand("Z needs a closed channel and 0/1")
            self._timestamps = arg == "1"
            return _OK, None
        if cmd in "Mm":
            if self._open or len(arg) != 8:
                raise _BadCommand("M/m need a closed channel and 8 hex digits")
            value = _parse_hex(arg, "acceptance value")
            if cmd == "M":
                self.acceptance_code = value
            else:
                self.acceptance_mask = value
            return _OK, None
        raise _BadCommand(f"unknown command {line!r}")

    def _format(self, msg: can.Message) -> bytes:
        if msg.is_extended_id:
            head = f"{'R' if msg.is_remote_frame else 'T'}{msg.arbitration_id:08X}{msg.dlc:d}"
        else:
            head = f"{'r' if msg.is_remote_frame else 't'}{msg.arbitration_id:03X}{msg.dlc:d}"
        body = "" if msg.is_remote_frame else bytes(msg.data).hex().upper()
        stamp = f"{int(time.monotonic() * 1000) % 60_000:04X}" if self._timestamps else ""
        return f"{head}{body}{stamp}\r".encode()

    def _bus_loop(self) -> None:
        bus = self._bus
        assert bus is not None
        while not self._stop.is_set():
            try:
                msg = bus.recv(0.05)
            except can.CanError:
                return
            if msg is None:
                continue
            with self._lock:
                if msg.is_fd or msg.is_error_frame or msg.dlc > 8 or not self._open:
                    self.stats.frames_dropped += 1
                    continue
                if not self._bitrate_ok():
                    self._flags |= _FLAG_BUS_ERROR
                    self.stats.frames_dropped += 1
                    continue
                if self._write(self._format(msg)):
                    self.stats.frames_to_host += 1
                else:
                    self._flags |= _FLAG_DATA_OVERRUN
                    self.stats.frames_dropped += 1
