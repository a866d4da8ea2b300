"""Fixtures that start the independent strict CSMS peer (npm ocpp-rpc, see peer.py).

Each fixture starts a fresh node process per test (start-up is about 0.25 s) on 127.0.0.1 and an
ephemeral port, and stops it afterwards. Without node or tests/interop/peer/node_modules the test
is skipped, except when CI is set: then it fails (install with scripts/install-peer.sh).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest

from .peer import StrictPeer

StrictPeerFactory = Callable[..., Awaitable[StrictPeer]]


@pytest.fixture
async def strict_peer_16() -> AsyncIterator[StrictPeer]:
    async with StrictPeer(["ocpp1.6"]) as peer:
        yield peer


@pytest.fixture
async def strict_peer_201() -> AsyncIterator[StrictPeer]:
    async with StrictPeer(["ocpp2.0.1"]) as peer:
        yield peer


@pytest.fixture
async def strict_peer_21() -> AsyncIterator[StrictPeer]:
    async with StrictPeer(["ocpp2.1"]) as peer:
        yield peer


@pytest.fixture
async def strict_peer_factory() -> AsyncIterator[StrictPeerFactory]:
    """``peer = await strict_peer_factory(["ocpp2.0.1"], boot_statuses=["Pending", "Accepted"], ...)``.

    Takes StrictPeer's arguments; every peer made is stopped after the test.
    """
    started: list[StrictPeer] = []

    async def make(protocols: Sequence[str] = ("ocpp1.6", "ocpp2.0.1", "ocpp2.1"), **kwargs: Any) -> StrictPeer:
        peer = StrictPeer(protocols, **kwargs)
        await peer.start()
        started.append(peer)
        return peer

    yield make
    for peer in reversed(started):
        await peer.stop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The interop tally in the run's closing lines (CI runs pytest -q, which hides the per-module prints): frames
    the strict peer validated per OCPP version. Every interop test asserts zero violations, so a red test is the
    only way a violation shows; these lines say how much was checked."""
    from .station_rig import TALLY, summary

    if TALLY:
        terminalreporter.section("interop (independent strict CSMS: npm ocpp-rpc)")
        for version in sorted(TALLY):
            terminalreporter.write_line(summary(version))
