"""Drift-free periodic scheduling for asyncio (CHAdeMO frames go out every 100 ms ± 10 ms).

:class:`CyclicTask` runs a callback on a fixed grid of deadlines ``t0 + k * period``. It never sleeps
"one period" (that accumulates the callback's run time and the wake-up latency as drift); it sleeps until the
next grid point. When it wakes a whole period or more late (loop blocked, callback overran), the missed grid
points are counted as skipped and the callback runs once for the latest one - no catch-up burst.

Time comes from a ``clock`` function and waiting from a ``sleep_until`` coroutine function. By default these
are the running loop's ``time()`` and a ``call_at`` timer. Tests and the harness can pass a
:class:`VirtualTimer`, which moves a :class:`~chargepoint.clock.VirtualClock` only when told to.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from chargepoint.clock import VirtualClock

__all__ = ["CyclicStats", "CyclicTask", "VirtualTimer"]

TickCallback = Callable[[], Awaitable[None] | None]


@dataclass(slots=True)
class CyclicStats:
    ticks: int = 0  # callback invocations
    skipped: int = 0  # grid points dropped because we woke a period or more late
    overruns: int = 0  # callbacks that finished after the next deadline had passed
    max_lateness_s: float = 0.0  # worst wake-up lateness relative to the tick's deadline
    total_lateness_s: float = 0.0

    @property
    def mean_lateness_s(self) -> float:
        return self.total_lateness_s / self.ticks if self.ticks else 0.0


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def _loop_sleep_until(deadline: float) -> None:
    loop = asyncio.get_running_loop()
    if deadline <= loop.time():
        await asyncio.sleep(0)
        return
    fut: asyncio.Future[None] = loop.create_future()
    handle = loop.call_at(deadline, _resolve, fut)
    try:
        await fut
    finally:
        handle.cancel()


class CyclicTask:
    """Call ``callback`` (sync or async) every ``period_s`` on deadline time.

    Args:
        callback: the work of one cycle. An exception ends :meth:`run` (and the task) with that exception.
        period_s: cycle period, 0.1 s by default.
        clock: time source in seconds (default: the running loop's ``time``).
        sleep_until: coroutine function waiting until a clock value (default: a loop ``call_at`` timer).
        start_at: first deadline (default: now, i.e. the first tick runs immediately).
    """

    def __init__(
        self,
        callback: TickCallback,
        period_s: float = 0.1,
        *,
        clock: Callable[[], float] | None = None,
        sleep_until: Callable[[float], Awaitable[None]] | None = None,
        start_at: float | None = None,
        name: str = "cyclic",
    ) -> None:
        if not (math.isfinite(period_s) and period_s > 0):
            raise ValueError(f"period must be a positive number of seconds, got {period_s}")
        self.callback = callback
        self.period_s = period_s
        self.name = name
        self._clock = clock
        self._sleep_until = sleep_until or _loop_sleep_until
        self._start_at = start_at
        self._running = False
        self._task: asyncio.Task[None] | None = None
        self.stats = CyclicStats()
        #: Deadline of the tick being run / about to run.
        self.deadline: float | None = None

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    async def run(self) -> None:
        """Tick until :meth:`stop` is called or the task is cancelled."""
        if self._running:
            raise RuntimeError(f"{self.name} is already running")
        self._running = True
        period = self.period_s
        st = self.stats
        t0 = self._now() if self._start_at is None else self._start_at
        n = 0  # grid index: deadline = t0 + n * period, computed (not accumulated) so floats cannot drift
        try:
            while self._running:
                deadline = t0 + n * period
                await self._sleep_until(deadline)
                if not self._running:
                    break
                now = self._now()
                late = now - deadline
                if late >= period:  # skip the grid points we slept through, run for the latest one
                    missed = math.floor(late / period + 1e-9)
                    st.skipped += missed
                    n += missed
                    deadline = t0 + n * period
                    late = now - deadline
                late = max(late, 0.0)
                st.max_lateness_s = max(st.max_lateness_s, late)
                st.total_lateness_s += late
                st.ticks += 1
                self.deadline = deadline
                result = self.callback()
                if inspect.isawaitable(result):
                    await result
                n += 1
                if self._now() > t0 + n * period:
                    st.overruns += 1
        finally:
            self._running = False

    def start(self) -> asyncio.Task[None]:
        """Run in a new task (on the running loop) and return it."""
        if self._task is not None and not self._task.done():
            raise RuntimeError(f"{self.name} is already started")
        self._task = asyncio.get_running_loop().create_task(self.run(), name=self.name)
        return self._task

    def stop(self) -> None:
        """Ask the loop to finish; a task started with :meth:`start` is cancelled (no more ticks)."""
        self._running = False
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def aclose(self) -> None:
        """Stop and wait for the task started with :meth:`start` to finish."""
        self.stop()
        task, self._task = self._task, None
        if task is not None:
            try:
                await task
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise  # we were cancelled ourselves


class VirtualTimer:
    """Virtual-time ``clock`` / ``sleep_until`` pair for :class:`CyclicTask` (and anything else waiting on
    deadlines). Time moves only in :meth:`advance`, which wakes the sleepers in deadline order and lets
    each woken task run until it waits again, so several periodic tasks interleave exactly as on a real clock.
    """

    def __init__(self, clock: VirtualClock | None = None, *, settle_iterations: int = 20) -> None:
        self.clock = clock or VirtualClock()
        self.settle_iterations = settle_iterations
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        return self.clock.monotonic()

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= self.clock.monotonic():
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (deadline, next(self._seq), fut))
        await fut

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self.clock.monotonic() + seconds)

    async def _settle(self) -> None:
        # Each woken task needs a few loop iterations to run its callback and register its next deadline.
        for _ in range(self.settle_iterations):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking every sleeper whose deadline is reached, in order."""
        if seconds < 0:
            raise ValueError("virtual time cannot go backwards")
        end = self.clock.monotonic() + seconds
        await self._settle()
        while self._sleepers and self._sleepers[0][0] <= end:
            deadline, _, fut = heapq.heappop(self._sleepers)
            if deadline > self.clock.monotonic():
                self.clock.set(deadline)
            if not fut.done():
                fut.set_result(None)
            await self._settle()
        if end > self.clock.monotonic():
            self.clock.set(end)
        await self._settle()
