"""Drift-free periodic scheduler: exact behaviour on virtual time, generous bounds on real time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from chargepoint.hardware.cyclic import CyclicTask, VirtualTimer

APoll = Callable[..., Awaitable[None]]


def on_grid(times: list[float], period: float, t0: float = 0.0) -> bool:
    return all(abs((t - t0) / period - round((t - t0) / period)) < 1e-9 for t in times)


async def test_virtual_time_ticks_exactly_on_the_grid() -> None:
    vt = VirtualTimer()
    seen: list[float] = []
    task = CyclicTask(lambda: seen.append(vt.time()), 0.1, clock=vt.time, sleep_until=vt.sleep_until)
    task.start()
    await vt.advance(100.0)  # 1000 periods
    await task.aclose()
    assert task.stats.ticks == 1001  # t = 0.0, 0.1, ..., 100.0
    assert seen[-1] == pytest.approx(100.0, abs=1e-9)
    assert all(abs(t - k * 0.1) < 1e-9 for k, t in enumerate(seen))  # no accumulated drift
    assert on_grid(seen, 0.1)
    assert task.stats.skipped == task.stats.overruns == 0 and task.stats.max_lateness_s == 0.0


async def test_overrun_skips_missed_cycles_instead_of_bursting() -> None:
    vt = VirtualTimer()
    seen: list[float] = []

    def tick() -> None:
        seen.append(task.deadline or 0.0)
        if len(seen) == 4:  # the tick for t = 0.3 takes 0.25 s
            vt.clock.advance(0.25)

    task = CyclicTask(tick, 0.1, clock=vt.time, sleep_until=vt.sleep_until)
    task.start()
    await vt.advance(1.0)
    await task.aclose()
    # 0.4 is skipped; 0.5 runs late (at 0.55) once, then the grid continues.
    assert [round(t, 9) for t in seen] == [0.0, 0.1, 0.2, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert on_grid(seen, 0.1)
    assert task.stats.overruns == 1 and task.stats.skipped == 1
    assert task.stats.max_lateness_s == pytest.approx(0.05)


async def test_async_callbacks_and_two_tasks_interleave() -> None:
    vt = VirtualTimer()
    log: list[tuple[str, float]] = []

    async def fast() -> None:
        await asyncio.sleep(0)
        log.append(("fast", round(vt.time(), 9)))

    a = CyclicTask(fast, 0.1, clock=vt.time, sleep_until=vt.sleep_until)
    b = CyclicTask(lambda: log.append(("slow", round(vt.time(), 9))), 0.25, clock=vt.time, sleep_until=vt.sleep_until)
    a.start()
    b.start()
    await vt.advance(1.0)
    await a.aclose()
    await b.aclose()
    assert a.stats.ticks == 11 and b.stats.ticks == 5
    times = [t for _, t in log]
    assert times == sorted(times)  # every tick happens at its own time, in order


async def test_start_at_and_stop_inside_callback() -> None:
    vt = VirtualTimer()
    seen: list[float] = []

    def tick() -> None:
        seen.append(vt.time())
        if len(seen) == 3:
            task.stop()

    task = CyclicTask(tick, 0.5, clock=vt.time, sleep_until=vt.sleep_until, start_at=2.0)
    runner = asyncio.create_task(task.run())
    await vt.advance(10.0)
    await asyncio.wait_for(runner, 1.0)
    assert seen == [2.0, 2.5, 3.0]


async def test_callback_exception_ends_the_task() -> None:
    vt = VirtualTimer()

    def boom() -> None:
        raise RuntimeError("cycle failed")

    task = CyclicTask(boom, clock=vt.time, sleep_until=vt.sleep_until)
    t = task.start()
    await vt.advance(0.1)
    with pytest.raises(RuntimeError, match="cycle failed"):
        await t


def test_invalid_period() -> None:
    for bad in (0.0, -0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            CyclicTask(lambda: None, bad)


async def test_real_loop_time_no_drift(apoll: APoll) -> None:
    """Real time on the event loop: ticks stay on the deadline grid (generous bounds only)."""
    loop = asyncio.get_running_loop()
    period = 0.02
    log: list[tuple[float, float]] = []  # (deadline, actual time)

    def tick() -> None:
        log.append((task.deadline or 0.0, loop.time()))
        # Burn part of the period: sleep(period) scheduling would accumulate this as drift (25 x 4 ms here).
        end = loop.time() + period * 0.2
        while loop.time() < end:
            pass

    task = CyclicTask(tick, period)
    task.start()
    await apoll(lambda: len(log) >= 26, timeout=10.0)
    await task.aclose()
    t0 = log[0][0]
    index = [round((d - t0) / period) for d, _ in log]
    assert all(abs(d - t0 - n * period) < 1e-9 for n, (d, _) in zip(index, log, strict=True))  # on the grid
    assert index == sorted(set(index))
    assert 25 <= index[25] <= 45  # 26 ticks span 25 periods; skipped cycles are tolerated on a loaded machine
    lateness = sorted(actual - d for d, actual in log)
    assert lateness[0] >= 0.0 and lateness[len(lateness) // 2] < period / 2
    # The 26th tick happens 25 periods (plus skips) after the first, not 25 * (period + callback time).
    elapsed = log[25][1] - log[0][1]
    assert abs(elapsed - index[25] * period) < period
