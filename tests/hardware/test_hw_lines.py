"""Control lines: the in-process emulation (lock delay, faults, car side) and the serial protocol over a pty."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import pytest
import serial

from chargepoint.clock import VirtualClock
from chargepoint.hardware.lines import (
    INPUTS,
    OUTPUTS,
    ControlLines,
    EmulatedLines,
    Line,
    LinesError,
    LineUnavailable,
    LockFault,
    SerialLines,
    as_line,
)
from hil.emulators.line_bench import LineBench

Poll = Callable[..., None]


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def lines(clock: VirtualClock) -> EmulatedLines:
    return EmulatedLines(clock, lock_delay_s=0.3, unlock_delay_s=0.1)


def test_line_names() -> None:
    assert OUTPUTS | INPUTS == set(Line) and not OUTPUTS & INPUTS
    assert as_line("d1") is Line.D1 and as_line(Line.J) is Line.J
    with pytest.raises(ValueError, match="unknown control line 'd3'"):
        as_line("d3")


def test_outputs_inputs_and_car_side(lines: EmulatedLines) -> None:
    cl: ControlLines = lines  # satisfies the Protocol
    assert all(cl.get(ln) is False for ln in (Line.D1, Line.D2, Line.J, Line.LOCK, Line.LOCK_FB))
    cl.set("d1", True)
    assert lines.car.d1 and not lines.car.d2
    cl.set(Line.D2, True)
    cl.set(Line.CONTACTOR, True)
    assert lines.car.d2 and lines.car.contactor
    lines.car.set_k(True)
    assert cl.get("j") and lines.car.k
    lines.car.set_k(False)
    assert not cl.get(Line.J)
    for inp in ("j", Line.LOCK_FB, "imd_ok"):
        with pytest.raises(ValueError, match="input"):
            cl.set(inp, True)
    with pytest.raises(ValueError, match="unknown"):
        cl.get("k")


def test_lock_engages_and_releases_after_delay(lines: EmulatedLines, clock: VirtualClock) -> None:
    lines.set(Line.LOCK, True)
    clock.advance(0.29)
    assert not lines.get(Line.LOCK_FB) and not lines.car.locked
    clock.advance(0.01)
    assert lines.get(Line.LOCK_FB) and lines.car.locked
    lines.set(Line.LOCK, False)
    clock.advance(0.09)
    assert lines.get(Line.LOCK_FB)
    clock.advance(0.01)
    assert not lines.get(Line.LOCK_FB)


def test_lock_command_withdrawn_before_delay(lines: EmulatedLines, clock: VirtualClock) -> None:
    lines.set(Line.LOCK, True)
    clock.advance(0.2)
    lines.set(Line.LOCK, False)
    clock.advance(1.0)
    assert not lines.get(Line.LOCK_FB)


def test_lock_fails_to_engage(lines: EmulatedLines, clock: VirtualClock) -> None:
    lines.inject_lock_fault(LockFault.FAIL_TO_ENGAGE)
    lines.set(Line.LOCK, True)
    clock.advance(5.0)
    assert not lines.get(Line.LOCK_FB) and not lines.car.locked
    lines.inject_lock_fault(LockFault.NONE)  # repaired: the pending command now completes
    assert lines.get(Line.LOCK_FB)


def test_lock_fails_to_release(lines: EmulatedLines, clock: VirtualClock) -> None:
    lines.set(Line.LOCK, True)
    clock.advance(0.3)
    lines.inject_lock_fault(LockFault.FAIL_TO_RELEASE)
    lines.set(Line.LOCK, False)
    clock.advance(5.0)
    assert lines.get(Line.LOCK_FB) and lines.car.locked
    assert lines.lock_fault is LockFault.FAIL_TO_RELEASE


def test_lock_feedback_stuck(lines: EmulatedLines, clock: VirtualClock) -> None:
    lines.inject_lock_fault(LockFault.FEEDBACK_STUCK_LOCKED)
    assert lines.get(Line.LOCK_FB) and not lines.lock_engaged  # says locked, is not
    lines.inject_lock_fault(LockFault.FEEDBACK_STUCK_UNLOCKED)
    lines.set(Line.LOCK, True)
    clock.advance(1.0)
    assert not lines.get(Line.LOCK_FB) and lines.lock_engaged  # is locked, says not


def test_listeners_see_every_change(lines: EmulatedLines, clock: VirtualClock) -> None:
    events: list[tuple[Line, bool]] = []
    lines.add_listener(lambda ln, v: events.append((ln, v)))
    lines.set(Line.D1, True)
    lines.set(Line.D1, True)  # no change, no event
    lines.car.set_k(True)
    lines.set(Line.LOCK, True)
    clock.advance(0.3)
    lines.poll()
    lines.set_imd_ok(False)
    assert events == [
        (Line.D1, True),
        (Line.J, True),
        (Line.LOCK, True),
        (Line.LOCK_FB, True),
        (Line.IMD_OK, False),
    ]


def test_imd_optional(clock: VirtualClock) -> None:
    with_imd = EmulatedLines(clock)
    assert with_imd.get(Line.IMD_OK)
    with_imd.set_imd_ok(False)
    assert not with_imd.get("imd_ok")
    without = EmulatedLines(clock, imd_fitted=False)
    with pytest.raises(LineUnavailable):
        without.get(Line.IMD_OK)
    assert Line.IMD_OK not in without.snapshot()


def test_negative_delay_rejected() -> None:
    with pytest.raises(ValueError):
        EmulatedLines(lock_delay_s=-1)


# ---- serial protocol over a pty ------


@pytest.fixture
def serial_lines(line_bench: LineBench) -> Iterator[SerialLines]:
    with SerialLines(line_bench.port, timeout_s=2.0) as sl:
        yield sl


def test_serial_handshake_and_initial_state(serial_lines: SerialLines) -> None:
    assert serial_lines.protocol_version == 1
    assert serial_lines.fitted == set(Line)
    assert not any(serial_lines.get(ln) for ln in Line if ln is not Line.IMD_OK)
    assert serial_lines.get(Line.IMD_OK)


def test_serial_set_outputs_reaches_the_car(serial_lines: SerialLines, line_bench: LineBench) -> None:
    cl: ControlLines = serial_lines
    cl.set("d1", True)
    assert line_bench.lines.car.d1  # SET returns only after the bench confirmed
    assert cl.get(Line.D1)
    cl.set(Line.D2, True)
    cl.set(Line.CONTACTOR, True)
    assert line_bench.lines.car.d2 and line_bench.lines.car.contactor
    cl.set(Line.D1, False)
    assert not line_bench.lines.car.d1
    with pytest.raises(ValueError, match="input"):
        cl.set(Line.J, True)


def test_serial_inputs_follow_bench_events(serial_lines: SerialLines, line_bench: LineBench, poll: Poll) -> None:
    seen: list[tuple[Line, bool]] = []
    serial_lines.add_listener(lambda ln, v: seen.append((ln, v)))
    line_bench.lines.car.set_k(True)
    poll(lambda: serial_lines.get(Line.J))
    line_bench.lines.set_imd_ok(False)
    poll(lambda: not serial_lines.get(Line.IMD_OK))
    line_bench.lines.car.set_k(False)
    poll(lambda: not serial_lines.get("j"))
    assert seen == [(Line.J, True), (Line.IMD_OK, False), (Line.J, False)]
    assert serial_lines.protocol_errors == 0


def test_serial_lock_feedback_arrives_after_delay(line_bench: LineBench, poll: Poll) -> None:
    line_bench.lines.lock_delay_s = 0.05
    with SerialLines(line_bench.port) as sl:
        t0 = time.monotonic()
        sl.set(Line.LOCK, True)
        assert not sl.get(Line.LOCK_FB)
        poll(lambda: sl.get(Line.LOCK_FB))
        assert time.monotonic() - t0 >= 0.05
        line_bench.lines.inject_lock_fault(LockFault.FEEDBACK_STUCK_UNLOCKED)
        poll(lambda: not sl.get(Line.LOCK_FB))
        sl.refresh()
        assert not sl.get(Line.LOCK_FB)


def test_bench_without_imd(poll: Poll) -> None:
    with LineBench(EmulatedLines(imd_fitted=False)) as bench, SerialLines(bench.port) as sl:
        assert Line.IMD_OK not in sl.fitted
        with pytest.raises(LineUnavailable):
            sl.get(Line.IMD_OK)


def test_bench_raw_protocol(line_bench: LineBench) -> None:
    with serial.Serial(line_bench.port, timeout=2.0) as ser:

        def ask(cmd: str) -> str:
            ser.write(f"{cmd}\r\n".encode())
            while True:
                reply = ser.readline().decode().strip()
                if not reply.startswith("EV "):
                    return reply

        assert ask("PING") == "PONG"
        assert ask("HELLO") == "HELLO 1 contactor,d1,d2,imd_ok,j,lock,lock_fb"
        assert ask("GET j") == "j 0"
        assert ask("SET j 1").startswith("ERR j is an input")
        assert ask("SET d1 2").startswith("ERR bad level")
        assert ask("GET k").startswith("ERR unknown control line")
        assert ask("FOO").startswith("ERR unknown command")
        ser.write(b"SET d2 1\n")
        assert ser.readline() == b"EV d2 1\n"  # the event precedes the acknowledgement
        assert ser.readline() == b"OK\n"
        assert line_bench.stats.errors == 4


def test_serial_lines_errors() -> None:
    master, slave = os.openpty()  # nobody answers on the other end
    try:
        sl = SerialLines(os.ttyname(slave), timeout_s=0.1)
        with pytest.raises(LinesError, match="no answer"):
            sl.open()
        with pytest.raises(LinesError, match="not open"):
            sl.get(Line.D1)
    finally:
        os.close(master)
        os.close(slave)
    with pytest.raises(LinesError, match="cannot open"):
        SerialLines("/nonexistent/tty").open()
