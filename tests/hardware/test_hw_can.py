"""Bus spec parsing and AsyncCanPort over the in-process python-can virtual bus."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import can
import pytest

from chargepoint.hardware.can import (
    AsyncCanPort,
    BusSpec,
    CanFrame,
    CanPortClosed,
    open_bus,
    parse_bus_spec,
)

APoll = Callable[..., Awaitable[None]]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("virtual", BusSpec("virtual", "chademo")),
        ("  virtual  ", BusSpec("virtual", "chademo")),
        ("VIRTUAL:ev-1", BusSpec("virtual", "ev-1")),
        ("virtual:bench_2.a", BusSpec("virtual", "bench_2.a")),
        ("socketcan:can0", BusSpec("socketcan", "can0")),
        ("socketcan:vcan-chademo", BusSpec("socketcan", "vcan-chademo")),
        ("slcan:/dev/ttyACM0", BusSpec("slcan", "/dev/ttyACM0", 500_000)),
        ("slcan:/dev/pts/7@250000", BusSpec("slcan", "/dev/pts/7", 250_000)),
        ("slcan:COM3@1000000", BusSpec("slcan", "COM3", 1_000_000)),
        ("slcan:socket://bench:7000@500000", BusSpec("slcan", "socket://bench:7000", 500_000)),
        ("slcan:/dev/ttyUSB0@83300", BusSpec("slcan", "/dev/ttyUSB0", 83_300)),
    ],
)
def test_parse_good_specs(spec: str, expected: BusSpec) -> None:
    assert parse_bus_spec(spec) == expected


def test_parse_channel_default() -> None:
    assert parse_bus_spec("virtual", channel_default="car") == BusSpec("virtual", "car")
    assert str(parse_bus_spec("slcan:/dev/x")) == "slcan:/dev/x@500000"


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("", "empty spec"),
        ("   ", "empty spec"),
        ("pcan:PCAN_USBBUS1", "unknown interface 'pcan'"),
        ("can0", "unknown interface 'can0'"),
        ("virtual:", "empty virtual channel"),
        ("virtual:a b", "may only contain"),
        ("socketcan", "needs an interface name"),
        ("socketcan:", "needs an interface name"),
        ("socketcan:can0@500000", "ip link"),
        ("socketcan:a-very-long-ifname0", "not a valid network interface name"),
        ("socketcan:can/0", "not a valid network interface name"),
        ("slcan", "needs a serial port"),
        ("slcan:", "needs a serial port"),
        ("slcan:/dev/ttyACM0@", "empty bitrate"),
        ("slcan:@500000", "empty serial port"),
        ("slcan:/dev/ttyACM0@fast", "not a positive integer"),
        ("slcan:/dev/ttyACM0@-5", "not a positive integer"),
        ("slcan:/dev/ttyACM0@123456", "support only the bitrates"),
        ("slcan:/dev/ttyACM0@115200@500000", "more than one '@'"),
        ("slcan:/dev/my port", "whitespace"),
    ],
)
def test_parse_bad_specs(spec: str, problem: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_bus_spec(spec)
    assert repr(spec) in str(err.value)
    assert problem in str(err.value)


def test_parse_rejects_non_str() -> None:
    with pytest.raises(TypeError):
        parse_bus_spec(None)  # type: ignore[arg-type]


def test_open_bus_bad_spec_raises_before_io() -> None:
    with pytest.raises(ValueError, match="unknown interface"):
        open_bus("nope:x")


def _msg(arb: int, data: bytes, **kw: object) -> can.Message:
    return can.Message(arbitration_id=arb, data=data, is_extended_id=False, **kw)  # type: ignore[arg-type]


async def test_virtual_frames_both_directions(channel: str) -> None:
    car = open_bus(f"virtual:{channel}")
    async with AsyncCanPort(open_bus(f"virtual:{channel}")) as port:
        port.send(0x108, bytes([1, 0xF4, 1, 0x76, 0xF4, 1, 0, 0]))
        port.send(0x109, b"\x02\x00\x00\x00\x00\x20\x00\x00")
        got = [await asyncio.to_thread(car.recv, 2.0) for _ in range(2)]
        assert [(m.arbitration_id, bytes(m.data), m.dlc, m.is_extended_id) for m in got if m] == [
            (0x108, bytes([1, 0xF4, 1, 0x76, 0xF4, 1, 0, 0]), 8, False),
            (0x109, b"\x02\x00\x00\x00\x00\x20\x00\x00", 8, False),
        ]
        car.send(_msg(0x102, b"\x02\x9a\x01\x00\x00\xc8\x03\x00"))
        frame = await port.recv(timeout=2.0)
        assert frame == CanFrame(0x102, b"\x02\x9a\x01\x00\x00\xc8\x03\x00")
        arb, data = frame  # unpacks as the (arbitration_id, data) pair the CHAdeMO layer expects
        assert arb == 0x102 and len(data) == 8
        assert port.stats.tx_frames == 2 and port.stats.rx_frames == 1
        assert port.last_rx_monotonic is not None
    car.shutdown()


async def test_wrong_frames_are_counted_and_dropped(channel: str, apoll: APoll) -> None:
    car = open_bus(f"virtual:{channel}")
    async with AsyncCanPort(open_bus(f"virtual:{channel}")) as port:
        car.send(_msg(0x100, b"\x01\x02\x03"))  # DLC 3
        car.send(can.Message(arbitration_id=0x100, data=bytes(8), is_extended_id=True))
        car.send(_msg(0x100, b"", is_remote_frame=True, dlc=8))
        car.send(_msg(0x101, bytes(range(8))))
        frame = await port.recv(timeout=2.0)
        assert frame == (0x101, bytes(range(8)))
        assert port.stats.rx_dropped_dlc == 1
        assert port.stats.rx_dropped_other == 2
        assert port.recv_nowait() is None
    car.shutdown()


async def test_lenient_mode_passes_short_frames(channel: str) -> None:
    car = open_bus(f"virtual:{channel}")
    async with AsyncCanPort(open_bus(f"virtual:{channel}"), strict_dlc=False) as port:
        car.send(_msg(0x700, b"\x01\x02"))
        assert await port.recv(timeout=2.0) == (0x700, b"\x01\x02")
        port.send(0x7FF, b"")
        m = await asyncio.to_thread(car.recv, 2.0)
        assert m is not None and m.dlc == 0
    car.shutdown()


async def test_send_validation(channel: str) -> None:
    async with AsyncCanPort(open_bus(f"virtual:{channel}")) as port:
        with pytest.raises(ValueError, match="11-bit"):
            port.send(0x800, bytes(8))
        with pytest.raises(ValueError, match="11-bit"):
            port.send(-1, bytes(8))
        with pytest.raises(ValueError, match="exactly 8"):
            port.send(0x108, bytes(7))
        with pytest.raises(ValueError, match="exactly 8"):
            port.send(0x108, bytes(9))
        port.send(0x108, [0, 1, 2, 3, 4, 5, 6, 7])  # any byte sequence
        assert port.stats.tx_frames == 1


async def test_recv_timeout_and_overflow(channel: str, apoll: APoll) -> None:
    car = open_bus(f"virtual:{channel}")
    async with AsyncCanPort(open_bus(f"virtual:{channel}"), max_queue=3) as port:
        assert await port.recv(timeout=0.01) is None
        for i in range(5):
            car.send(_msg(0x100 + i, bytes([i] * 8)))
        await apoll(lambda: port.stats.rx_frames == 5)
        assert port.stats.rx_overflow == 2
        assert [port.recv_nowait() for _ in range(3)] == [(0x100 + i, bytes([i] * 8)) for i in (2, 3, 4)]
    car.shutdown()


async def test_async_iteration_and_clean_close(channel: str) -> None:
    car = open_bus(f"virtual:{channel}")
    port = AsyncCanPort(open_bus(f"virtual:{channel}"))
    received: list[CanFrame] = []

    async def consume() -> None:
        async for frame in port:
            received.append(frame)
            if len(received) == 3:
                await port.aclose()

    consumer = asyncio.create_task(consume())
    for i in range(3):
        car.send(_msg(0x200 + i, bytes(8)))
    await asyncio.wait_for(consumer, 3.0)  # the iterator ends when the port closes
    assert [f.arbitration_id for f in received] == [0x200, 0x201, 0x202]
    assert port.closed
    with pytest.raises(CanPortClosed):
        port.send(0x100, bytes(8))
    with pytest.raises(CanPortClosed):
        await port.recv(timeout=0.1)
    with pytest.raises(CanPortClosed):
        port.recv_nowait()
    await port.aclose()  # idempotent
    port.close()
    car.shutdown()


async def test_waiters_wake_on_close(channel: str) -> None:
    port = AsyncCanPort(open_bus(f"virtual:{channel}"))
    waiters = [asyncio.create_task(port.recv()) for _ in range(2)]
    await asyncio.sleep(0)
    port.close()  # synchronous close from the loop thread
    for w in waiters:
        with pytest.raises(CanPortClosed):
            await asyncio.wait_for(w, 2.0)


async def test_port_not_owning_bus_leaves_it_open(channel: str) -> None:
    bus = open_bus(f"virtual:{channel}")
    port = AsyncCanPort(bus, owns_bus=False)
    await port.aclose()
    bus.send(_msg(0x100, bytes(8)))  # still usable
    bus.shutdown()


def test_port_needs_running_loop(channel: str) -> None:
    bus = open_bus(f"virtual:{channel}")
    with pytest.raises(RuntimeError):
        AsyncCanPort(bus)
    bus.shutdown()
