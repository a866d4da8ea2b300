"""The serial path end to end: python-can slcan -> pyserial -> pty -> emulated adapter -> virtual bus."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator

import can
import pytest
import serial
from can.interfaces.slcan import slcanBus

from chargepoint.hardware.can import AsyncCanPort, CanFrame, open_bus
from hil.emulators.slcan_adapter import SlcanAdapterEmulator

Poll = Callable[..., None]
APoll = Callable[..., Awaitable[None]]


@pytest.fixture
def car(channel: str) -> Iterator[can.BusABC]:
    bus = open_bus(f"virtual:{channel}")
    yield bus
    bus.shutdown()


@pytest.fixture
def raw(slcan_emu: SlcanAdapterEmulator) -> Iterator[serial.Serial]:
    """A plain pyserial connection to the emulated adapter."""
    ser = serial.Serial(slcan_emu.port, timeout=2.0)
    yield ser
    ser.close()


def ask(ser: serial.Serial, command: str) -> bytes:
    """Send one command and read its answer (up to CR, or a lone BEL)."""
    ser.write(command.encode() + b"\r")
    answer = bytearray()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        b = ser.read(1)
        answer += b
        if b in (b"\r", b"\a"):
            return bytes(answer)
    pytest.fail(f"no answer to {command!r}")


async def test_frames_both_directions_through_slcan(
    slcan_emu: SlcanAdapterEmulator, car: can.BusABC, apoll: APoll
) -> None:
    async with AsyncCanPort(open_bus(f"{slcan_emu.spec}@500000", sleep_after_open=0)) as port:
        # python-can's init sequence: close, bitrate, (empty) FD data bitrate, open - and then open again.
        await apoll(lambda: len(slcan_emu.command_log) >= 5)
        assert list(slcan_emu.command_log)[:5] == ["C", "S6", "", "O", "O"]
        assert slcan_emu.is_open and slcan_emu.bitrate == 500_000
        out = [(0x108, bytes([1, 0xF4, 1, 0x76, 0xF4, 1, 0, 0])), (0x109, bytes([2, 0, 0, 0, 0, 0x20, 0xFF, 0xFF]))]
        for arb, data in out:
            port.send(arb, data)
        got = [await asyncio.to_thread(car.recv, 2.0) for _ in out]
        assert [(m.arbitration_id, bytes(m.data), m.is_extended_id) for m in got if m] == [
            (arb, data, False) for arb, data in out
        ]

        inbound = [(0x100 + i, bytes([i, 0xAB, 0, 0xFF, 0x10, 0x20, 0x30, i])) for i in range(3)]
        for arb, data in inbound:
            car.send(can.Message(arbitration_id=arb, data=data, is_extended_id=False))
        received = [await port.recv(timeout=2.0) for _ in inbound]
        assert received == [CanFrame(arb, data) for arb, data in inbound]

        car.send(can.Message(arbitration_id=0x102, data=b"\x01\x02", is_extended_id=False))
        await apoll(lambda: port.stats.rx_dropped_dlc == 1)  # DLC 2 crossed the adapter, then got dropped
        assert slcan_emu.stats.frames_to_bus == 2
        assert slcan_emu.stats.frames_to_host == 4
    # python-can's shutdown closes the adapter channel ('C') before closing the port.
    await apoll(lambda: not slcan_emu.is_open)


def test_python_can_version_and_serial_queries(slcan_emu: SlcanAdapterEmulator) -> None:
    bus = open_bus(slcan_emu.spec, sleep_after_open=0)
    try:
        assert isinstance(bus, slcanBus)
        assert bus.get_version(2.0) == (10, 13)
        assert bus.get_serial_number(2.0) == "HIL1"
    finally:
        bus.shutdown()


async def test_bitrate_mismatch_passes_no_frames(
    slcan_emu: SlcanAdapterEmulator, car: can.BusABC, apoll: APoll
) -> None:
    async with AsyncCanPort(open_bus(f"{slcan_emu.spec}@250000", sleep_after_open=0)) as port:
        await apoll(lambda: slcan_emu.is_open)
        assert slcan_emu.bitrate == 250_000
        port.send(0x108, bytes(8))
        car.send(can.Message(arbitration_id=0x100, data=bytes(8), is_extended_id=False))
        await apoll(lambda: slcan_emu.stats.frames_dropped == 2)
        assert car.recv(0) is None
        assert port.recv_nowait() is None


def test_raw_protocol_commands(slcan_emu: SlcanAdapterEmulator, raw: serial.Serial, car: can.BusABC) -> None:
    assert ask(raw, "V") == b"V1013\r"
    assert ask(raw, "v") == b"v1300\r"
    assert ask(raw, "N") == b"NHIL1\r"
    assert ask(raw, "F") == b"\a"  # status needs an open channel
    assert ask(raw, "t1080") == b"\a"  # so does transmitting
    assert ask(raw, "S9") == b"\a"
    assert ask(raw, "S6") == b"\r"
    assert ask(raw, "M00000000") == b"\r"
    assert ask(raw, "mFFFFFFFF") == b"\r"
    assert ask(raw, "Z1") == b"\r"
    assert ask(raw, "O") == b"\r"
    assert ask(raw, "O") == b"\a"  # already open
    assert ask(raw, "Z0") == b"\a"  # only while closed
    assert ask(raw, "S4") == b"\a"
    assert ask(raw, "F") == b"F00\r"

    assert ask(raw, "t1088DEADBEEF00112233") == b"z\r"
    m = car.recv(2.0)
    assert m is not None and (m.arbitration_id, bytes(m.data)) == (0x108, bytes.fromhex("DEADBEEF00112233"))
    assert ask(raw, "T1ABCDEF02CAFE") == b"Z\r"
    m = car.recv(2.0)
    assert m is not None and m.is_extended_id and (m.arbitration_id, bytes(m.data)) == (0x1ABCDEF0, b"\xca\xfe")
    assert ask(raw, "r1238") == b"z\r"
    m = car.recv(2.0)
    assert m is not None and m.is_remote_frame and m.dlc == 8 and m.arbitration_id == 0x123

    for bad in ("t12", "tXYZ0", "t1239", "t12380011", "t80000", "T2000000000", "r12380", "Q", "X1"):
        assert ask(raw, bad) == b"\a", bad

    car.send(can.Message(arbitration_id=0x102, data=bytes([2, 0x9A, 1, 0, 0, 0xC8, 3, 0]), is_extended_id=False))
    line = raw.read_until(b"\r")
    assert line.startswith(b"t1028029A010000C80300") and len(line) == len(b"t1028029A010000C80300") + 4 + 1
    int(line[-5:-1], 16)  # 4 hex digit timestamp (Z1)
    assert ask(raw, "C") == b"\r"
    assert ask(raw, "C") == b"\a"
    assert slcan_emu.stats.errors >= 9


def test_frames_from_bus_are_not_forwarded_while_closed(
    slcan_emu: SlcanAdapterEmulator, raw: serial.Serial, car: can.BusABC, poll: Poll
) -> None:
    car.send(can.Message(arbitration_id=0x100, data=bytes(8), is_extended_id=False))
    poll(lambda: slcan_emu.stats.frames_dropped == 1)
    assert ask(raw, "O") == b"\r"
    car.send(can.Message(arbitration_id=0x7FF, data=b"", is_extended_id=False))
    assert raw.read_until(b"\r") == b"t7FF0\r"
    car.send(can.Message(arbitration_id=0x1FFFFFFF, is_extended_id=True, is_remote_frame=True, dlc=2))
    assert raw.read_until(b"\r") == b"R1FFFFFFF2\r"


def test_listen_only_refuses_transmit(slcan_emu: SlcanAdapterEmulator, raw: serial.Serial) -> None:
    assert ask(raw, "L") == b"\r"
    assert ask(raw, "t1000") == b"\a"
    assert ask(raw, "C") == b"\r"


def test_no_bitrate_until_set() -> None:
    with SlcanAdapterEmulator("unused-nobitrate", default_bitrate=None) as emu:
        ser = serial.Serial(emu.port, timeout=2.0)
        try:
            assert ask(ser, "O") == b"\a"
            assert ask(ser, "s031C") == b"\r"  # custom BTR: accepted, bitrate unknown
            assert ask(ser, "O") == b"\r"
            assert emu.bitrate is None
        finally:
            ser.close()


def test_reconnect_after_host_closes(slcan_emu: SlcanAdapterEmulator, car: can.BusABC) -> None:
    for _ in range(2):
        bus = open_bus(slcan_emu.spec, sleep_after_open=0)
        try:
            bus.send(can.Message(arbitration_id=0x108, data=bytes(8), is_extended_id=False))
            assert car.recv(2.0) is not None
        finally:
            bus.shutdown()


def test_emulator_argument_checks() -> None:
    with pytest.raises(ValueError):
        SlcanAdapterEmulator(serial_number="TOO-LONG")
    with pytest.raises(RuntimeError):
        _ = SlcanAdapterEmulator().port


async def test_unplugged_adapter_is_reported_not_fatal(channel: str, apoll: APoll) -> None:
    emu = SlcanAdapterEmulator(channel)
    emu.start()
    port = AsyncCanPort(open_bus(emu.spec, sleep_after_open=0), error_backoff_s=0.05)
    try:
        emu.stop()  # the pty disappears under python-can: reads fail with EIO
        await apoll(lambda: port.stats.rx_errors >= 1)
        assert isinstance(port.last_error, can.CanError)
        errors = port.stats.rx_errors
        await asyncio.sleep(0.2)  # measuring the retry rate, not waiting for an event
        assert port.stats.rx_errors - errors <= 6  # backed off, not spinning
    finally:
        await port.aclose()  # shutdown's 'C' write fails too; close still completes
    assert port.closed
