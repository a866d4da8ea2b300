"""Shared fixtures for the hardware-layer tests: unique virtual CAN channels, emulators on ptys, polling."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator

import pytest

from hil.emulators.line_bench import LineBench
from hil.emulators.slcan_adapter import SlcanAdapterEmulator

Predicate = Callable[[], bool]


@pytest.fixture
def channel() -> str:
    """A virtual CAN channel no other test uses."""
    return f"hwtest-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def slcan_emu(channel: str) -> Iterator[SlcanAdapterEmulator]:
    emu = SlcanAdapterEmulator(channel)
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def line_bench() -> Iterator[LineBench]:
    bench = LineBench()
    bench.start()
    try:
        yield bench
    finally:
        bench.stop()


def wait_until(pred: Predicate, timeout: float = 3.0, interval: float = 0.002) -> None:
    """Poll ``pred`` in a blocking context; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(interval)


async def await_until(pred: Predicate, timeout: float = 3.0, interval: float = 0.002) -> None:
    """Poll ``pred`` from a coroutine; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


@pytest.fixture
def poll() -> Callable[..., None]:
    return wait_until


@pytest.fixture
def apoll() -> Callable[..., Awaitable[None]]:
    return await_until
