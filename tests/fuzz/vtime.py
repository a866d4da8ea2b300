"""An asyncio event loop on virtual time that jumps ahead whenever it would otherwise wait.

Timers (``asyncio.sleep``, ``wait_for`` time-outs, ``loop.time()``) run on a virtual clock. When nothing is ready
and no file descriptor has data, the loop advances the clock straight to the next timer instead of sleeping, so ten
virtual minutes of reconnect back-off take milliseconds. Real I/O still works (it is polled first), but the tests
using this loop avoid sockets so that virtual time cannot outrun them. For the same reason ``run_in_executor`` work
(the ``ocpp`` library validates payloads in a thread) runs inline: a thread would be outrun by the clock.

:attr:`JumpSelector.polls` counts loop iterations that did not advance time: a busy loop shows up there (and as
CPU time) instead of as a hang.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class InlineExecutor(ThreadPoolExecutor):
    """Runs submitted work at once in the calling thread."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as e:
            future.set_exception(e)
        return future


class JumpSelector(selectors.BaseSelector):
    def __init__(self) -> None:
        self._real = selectors.DefaultSelector()
        self.now = 0.0
        self.polls = 0  # select() calls that returned at once without advancing time
        self.jumps = 0

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events = self._real.select(0)
        if events or timeout == 0:
            self.polls += 1
            return events
        if timeout is None:  # nothing scheduled at all: only real I/O can wake us
            return self._real.select(None)
        self.now += timeout
        self.jumps += 1
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.selector = JumpSelector()
        super().__init__(self.selector)
        self.set_default_executor(InlineExecutor(max_workers=1))

    def time(self) -> float:
        return self.selector.now


def run_virtual(coro: Any) -> Any:
    """Run ``coro`` to completion on a fresh :class:`VirtualTimeLoop`."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
