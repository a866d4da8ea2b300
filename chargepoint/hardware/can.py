"""CAN bus access for the CHAdeMO link.

Two layers:

* :func:`open_bus` turns a short spec string into a python-can bus::

      virtual                 in-process python-can virtual bus, channel ``channel_default``
      virtual:CHANNEL         in-process virtual bus on CHANNEL
      socketcan:IFACE         Linux SocketCAN interface (bitrate is set with ``ip link``, not here)
      slcan:PORT[@BITRATE]    Lawicel/slcan USB-CAN adapter on serial PORT (pyserial URL), default 500000

  :func:`parse_bus_spec` does the parsing and validation alone (no I/O) and raises :class:`ValueError`
  naming the spec and the problem.

* :class:`AsyncCanPort` wraps a bus for asyncio: ``send(arbitration_id, data)`` (synchronous, non-blocking
  for practical purposes) and ``await recv(timeout)`` / ``async for frame in port``. Reception runs on a
  python-can :class:`can.Notifier` thread; frames are handed to the event loop with
  ``call_soon_threadsafe``. CHAdeMO uses classic CAN, 11-bit identifiers and DLC 8 only: other frames are
  counted in :class:`CanPortStats` and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple

import can

__all__ = [
    "CHADEMO_DLC",
    "DEFAULT_SLCAN_BITRATE",
    "SLCAN_BITRATES",
    "AsyncCanPort",
    "BusSpec",
    "CanFrame",
    "CanPortClosed",
    "CanPortStats",
    "open_bus",
    "parse_bus_spec",
]

CHADEMO_DLC: Final = 8
DEFAULT_SLCAN_BITRATE: Final = 500_000
#: Bitrates an slcan adapter can be set to with the ``S<n>`` command (python-can's table).
SLCAN_BITRATES: Final = frozenset(
    {10_000, 20_000, 50_000, 83_300, 100_000, 125_000, 250_000, 500_000, 750_000, 1_000_000}
)
MAX_STANDARD_ID: Final = 0x7FF

_VIRTUAL_CHANNEL_RE: Final = re.compile(r"[A-Za-z0-9_.\-]+")
# Linux IFNAMSIZ is 16 including the NUL; '/', ':' and whitespace are not allowed in interface names.
_SOCKETCAN_IFACE_RE: Final = re.compile(r"[A-Za-z0-9_.\-]{1,15}")

Interface = Literal["virtual", "socketcan", "slcan"]


@dataclass(frozen=True, slots=True)
class BusSpec:
    """A parsed bus spec. ``bitrate`` is only set for slcan."""

    interface: Interface
    channel: str
    bitrate: int | None = None

    def __str__(self) -> str:
        if self.interface == "slcan":
            return f"slcan:{self.channel}@{self.bitrate}"
        return f"{self.interface}:{self.channel}"


def parse_bus_spec(spec: str, *, channel_default: str = "chademo") -> BusSpec:
    """Parse and validate a bus spec string (see the module docstring). Raises :class:`ValueError`."""

    def fail(problem: str) -> ValueError:
        return ValueError(f"invalid CAN bus spec {spec!r}: {problem}")

    if not isinstance(spec, str):
        raise TypeError(f"CAN bus spec must be a str, not {type(spec).__name__}")
    text = spec.strip()
    if not text:
        raise fail("empty spec (expected virtual[:CHANNEL], socketcan:IFACE or slcan:PORT[@BITRATE])")
    kind, sep, rest = text.partition(":")
    kind = kind.lower()
    if kind == "virtual":
        channel = rest if sep else channel_default
        if not channel:
            raise fail("empty virtual channel after ':'")
        if not _VIRTUAL_CHANNEL_RE.fullmatch(channel):
            raise fail(f"virtual channel {channel!r} may only contain letters, digits, '_', '.', '-'")
        return BusSpec("virtual", channel)
    if kind == "socketcan":
        if not sep or not rest:
            raise fail("socketcan needs an interface name, e.g. socketcan:can0")
        if "@" in rest:
            raise fail("a socketcan bitrate cannot be set here; configure it with 'ip link set IFACE type can'")
        if not _SOCKETCAN_IFACE_RE.fullmatch(rest):
            raise fail(f"{rest!r} is not a valid network interface name (1-15 of [A-Za-z0-9_.-])")
        return BusSpec("socketcan", rest)
    if kind == "slcan":
        if not sep or not rest:
            raise fail("slcan needs a serial port, e.g. slcan:/dev/ttyACM0@500000")
        port, at, rate = rest.rpartition("@")
        if not at:
            port, rate = rest, ""
        if at and not rate:
            raise fail("empty bitrate after '@'")
        if not port:
            raise fail("empty serial port before '@'")
        if "@" in port:
            raise fail("more than one '@' (the serial line speed cannot be given in the spec)")
        if any(c.isspace() for c in port):
            raise fail(f"serial port {port!r} contains whitespace")
        bitrate = DEFAULT_SLCAN_BITRATE
        if rate:
            if not rate.isdigit():
                raise fail(f"bitrate {rate!r} is not a positive integer in bit/s")
            bitrate = int(rate)
            if bitrate not in SLCAN_BITRATES:
                allowed = ", ".join(str(b) for b in sorted(SLCAN_BITRATES))
                raise fail(f"slcan adapters support only the bitrates {allowed}, not {bitrate}")
        return BusSpec("slcan", port, bitrate)
    raise fail(f"unknown interface {kind!r} (expected virtual, socketcan or slcan)")


def open_bus(spec: str, *, channel_default: str = "chademo", **bus_kwargs: Any) -> can.BusABC:
    """Open the bus described by ``spec``. Extra keyword arguments go to :class:`can.Bus` unchanged.

    For slcan, python-can sleeps ``sleep_after_open`` seconds (default 2) after opening the serial port to
    let USB adapters boot; pass ``sleep_after_open=0`` for emulated adapters. python-can sends ``C``,
    ``S<n>``, an empty line and ``O`` and does not check any of the answers, so a wrong port shows up only
    as silence.
    """
    parsed = parse_bus_spec(spec, channel_default=channel_default)
    if parsed.interface == "slcan":
        return can.Bus(interface="slcan", channel=parsed.channel, bitrate=parsed.bitrate, **bus_kwargs)
    return can.Bus(interface=parsed.interface, channel=parsed.channel, **bus_kwargs)


class CanFrame(NamedTuple):
    """A received CHAdeMO frame; unpacks as ``(arbitration_id, data)``."""

    arbitration_id: int
    data: bytes


class CanPortClosed(Exception):
    """Raised by :meth:`AsyncCanPort.recv` once the port is closed and drained."""


@dataclass(slots=True)
class CanPortStats:
    rx_frames: int = 0  # delivered to the queue
    rx_dropped_dlc: int = 0  # classic standard data frames with DLC != 8 (strict mode)
    rx_dropped_other: int = 0  # error, remote, extended-id and CAN FD frames
    rx_overflow: int = 0  # oldest frames discarded because nobody read the queue
    rx_errors: int = 0  # exceptions raised by the bus while receiving
    tx_frames: int = 0
    tx_errors: int = 0


class _LoopListener(can.Listener):
    """Runs in the notifier thread; forwards everything to the event loop."""

    def __init__(self, port: AsyncCanPort, loop: asyncio.AbstractEventLoop, error_backoff_s: float) -> None:
        self._port = port
        self._loop = loop
        self._backoff = error_backoff_s
        self._stopped = threading.Event()

    def _post(self, fn: Any, arg: Any) -> None:
        with contextlib.suppress(RuntimeError):  # loop already closed
            self._loop.call_soon_threadsafe(fn, arg)

    def on_message_received(self, msg: can.Message) -> None:
        if not self._stopped.is_set():
            self._post(self._port._deliver, msg)

    def on_error(self, exc: Exception) -> None:
        # Returning (instead of raising) keeps the notifier thread alive for transient errors; the backoff
        # stops a persistent one (e.g. an unplugged adapter) from spinning a CPU core.
        if self._stopped.is_set():
            return
        self._post(self._port._record_error, exc)
        self._stopped.wait(self._backoff)

    def stop(self) -> None:
        self._stopped.set()


class AsyncCanPort:
    """asyncio view of a python-can bus for CHAdeMO (11-bit ids, DLC 8).

    Must be created inside a running event loop, and all methods must be called from that loop's thread.
    ``strict_dlc=False`` delivers (and lets :meth:`send` accept) frames of 0..8 bytes. ``owns_bus=True``
    shuts the bus down on close.
    """

    def __init__(
        self,
        bus: can.BusABC,
        *,
        strict_dlc: bool = True,
        max_queue: int = 1024,
        owns_bus: bool = True,
        poll_interval_s: float = 0.05,
        send_timeout_s: float | None = 0.1,
        error_backoff_s: float = 0.1,
    ) -> None:
        if max_queue < 1:
            raise ValueError("max_queue must be >= 1")
        self._bus = bus
        self._strict = strict_dlc
        self._max_queue = max_queue
        self._owns_bus = owns_bus
        self._send_timeout = send_timeout_s
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[CanFrame | None] = asyncio.Queue()
        self._closed = False
        self.stats = CanPortStats()
        self.last_error: Exception | None = None
        self.last_rx_monotonic: float | None = None
        self._listener = _LoopListener(self, self._loop, error_backoff_s)
        # No loop is passed to the Notifier on purpose: with a loop it would use loop.add_reader() for
        # fd-backed buses (slcan, socketcan) and call bus.recv() inside the event loop, where a dead serial
        # port raises on every loop iteration. A reader thread per bus is uniform and contained.
        self._notifier = can.Notifier(bus, [self._listener], timeout=poll_interval_s)

    # ---- properties ------
    @property
    def bus(self) -> can.BusABC:
        return self._bus

    @property
    def closed(self) -> bool:
        return self._closed

    # ---- loop-side callbacks (called via call_soon_threadsafe) ------
    def _deliver(self, msg: can.Message) -> None:
        if self._closed:
            return
        st = self.stats
        if msg.is_error_frame or msg.is_remote_frame or msg.is_extended_id or msg.is_fd:
            st.rx_dropped_other += 1
            return
        data = bytes(msg.data)
        if self._strict and (msg.dlc != CHADEMO_DLC or len(data) != CHADEMO_DLC):
            st.rx_dropped_dlc += 1
            return
        if self._queue.qsize() >= self._max_queue:
            self._queue.get_nowait()
            st.rx_overflow += 1
        self._queue.put_nowait(CanFrame(msg.arbitration_id, data))
        st.rx_frames += 1
        self.last_rx_monotonic = time.monotonic()

    def _record_error(self, exc: Exception) -> None:
        self.stats.rx_errors += 1
        self.last_error = exc

    # ---- API ------
    def send(self, arbitration_id: int, data: bytes | bytearray | Sequence[int]) -> None:
        """Transmit one classic frame with an 11-bit id. Raises ValueError for a bad id/length,
        :class:`CanPortClosed` after close, and python-can's :class:`can.CanError` on bus trouble."""
        if self._closed:
            raise CanPortClosed("CAN port is closed")
        if not 0 <= arbitration_id <= MAX_STANDARD_ID:
            raise ValueError(f"arbitration id {arbitration_id:#x} is not an 11-bit identifier")
        payload = bytes(data)
        if self._strict and len(payload) != CHADEMO_DLC:
            raise ValueError(f"CHAdeMO frames carry exactly 8 data bytes, got {len(payload)}")
        if len(payload) > 8:
            raise ValueError(f"classic CAN frames carry at most 8 data bytes, got {len(payload)}")
        msg = can.Message(arbitration_id=arbitration_id, data=payload, is_extended_id=False)
        try:
            self._bus.send(msg, timeout=self._send_timeout)
        except can.CanError:
            self.stats.tx_errors += 1
            raise
        self.stats.tx_frames += 1

    def recv_nowait(self) -> CanFrame | None:
        """The next queued frame, or None. Raises :class:`CanPortClosed` when closed and drained."""
        try:
            item = self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None
        if item is None:
            self._queue.put_nowait(None)
            raise CanPortClosed("CAN port is closed")
        return item

    async def recv(self, timeout: float | None = None) -> CanFrame | None:
        """Wait for the next frame; None on timeout. Raises :class:`CanPortClosed` when closed and drained."""
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None
        if item is None:
            self._queue.put_nowait(None)  # wake every other waiter too
            raise CanPortClosed("CAN port is closed")
        return item

    def __aiter__(self) -> AsyncCanPort:
        return self

    async def __anext__(self) -> CanFrame:
        try:
            frame = await self.recv()
        except CanPortClosed:
            raise StopAsyncIteration from None
        assert frame is not None  # no timeout given
        return frame

    def _finish(self) -> None:
        try:
            if self._owns_bus:
                # python-can's slcan shutdown is not idempotent (it writes 'C' again): call it once only.
                self._bus.shutdown()
        except (can.CanError, OSError) as exc:
            self.last_error = exc  # e.g. the serial adapter is already gone; nothing more to release
        finally:
            self._queue.put_nowait(None)

    def close(self) -> None:
        """Stop reception (joins the reader thread, up to one poll interval) and shut the bus down."""
        if self._closed:
            return
        self._closed = True
        self._listener.stop()
        self._notifier.stop()
        self._finish()

    async def aclose(self) -> None:
        """Like :meth:`close` but joins the reader thread without blocking the event loop."""
        if self._closed:
            return
        self._closed = True
        self._listener.stop()
        await asyncio.to_thread(self._notifier.stop)
        self._finish()

    async def __aenter__(self) -> AsyncCanPort:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
