"""OCPP 2.0.1 reconnection over real WebSockets: the statuses reported after an outage (B04, OfflineThreshold) and
the reconnect back-off of Part 4 (OCPPCommCtrlr.RetryBackOff*). Uses the rig of test_v201_session; names carry the
certification cases (docs/reference/ocpp21_cs_testcases.tsv)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import pytest
from test_v201_session import CS, Bench, bench

from chargepoint.station.actions import Action, StatusChanged
from chargepoint.station.types import ConnectorStatus

pytestmark = pytest.mark.timeout(30)


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll session state (it has no event for these) until ``check()`` holds."""
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110 - bounded by the time-out
            await asyncio.sleep(0.01)


async def offline_status_change(b: Bench, offline_s: float) -> int:
    """Take the CSMS away, plug a car into EVSE 1 while offline, stay offline ``offline_s`` in all, bring the CSMS
    back and wait for the station to be accepted again. Returns the frame mark from before the reconnection."""
    seen = asyncio.Event()

    def watch(action: Action) -> None:
        if isinstance(action, StatusChanged) and action.evse_id == 1 and not b.session.online:
            seen.set()

    b.session.listeners.append(watch)
    loop = asyncio.get_running_loop()
    await b.csms.stop()
    lost = loop.time()
    await until(lambda: not b.session.online)
    b.ports[1].plug_in()
    await asyncio.wait_for(seen.wait(), 5)
    assert b.station.status_of(b.station.evse(1)) == ConnectorStatus.PREPARING
    await asyncio.sleep(max(0.0, offline_s - (loop.time() - lost)))  # the length of the outage is the test input
    mark = b.mark()
    await b.csms.start()
    await b.session.wait_accepted(10)
    return mark


def statuses(b: Bench, after: int) -> list[tuple[int, str]]:
    return [(p["evseId"], p["connectorStatus"]) for p in b.sent("StatusNotification", after)]


async def test_TC_B_51_CS_offline_longer_than_offline_threshold_reports_every_connector() -> None:
    async with bench(evses=2) as b:
        await b.wait_status("Available", evse=2)
        assert await b.set("OCPPCommCtrlr", "OfflineThreshold", "1") == "Accepted"
        assert b.station.settings.offline_threshold_s == 1
        mark = await offline_status_change(b, offline_s=1.6)
        await b.wait_status("Occupied", 1, mark)
        await b.wait_status("Available", 2, mark)  # unchanged, but the outage was longer than the threshold
        await b.barrier()
        assert sorted(set(statuses(b, mark))) == [(1, "Occupied"), (2, "Available")]


async def test_TC_B_52_CS_offline_shorter_than_offline_threshold_reports_only_changed_connectors() -> None:
    async with bench(evses=2) as b:
        await b.wait_status("Available", evse=2)
        assert await b.set("OCPPCommCtrlr", "OfflineThreshold", "30") == "Accepted"
        assert (await b.get("OCPPCommCtrlr", "OfflineThreshold"))["attributeValue"] == "30"
        mark = await offline_status_change(b, offline_s=0.5)
        await b.wait_status("Occupied", 1, mark)
        await b.barrier()  # triggers EVSE 1 only, after everything queued before
        assert b.sent("BootNotification", mark) != []  # a reconnection, not a silent resume
        assert [s for s in statuses(b, mark) if s[0] == 2] == []  # EVSE 2 did not change: not reported again
        # a change back to the status the CSMS already knows is no change either
        mark = await offline_status_change_and_back(b)
        await b.barrier()
        assert [s for s in statuses(b, mark) if s[0] == 1] == [(1, "Occupied"), (1, "Occupied")]  # the barrier's
        assert [s for s in statuses(b, mark) if s[0] == 2] == []


async def offline_status_change_and_back(b: Bench) -> int:
    """EVSE 2 goes Occupied and back to Available while offline (a short outage)."""
    changes: list[ConnectorStatus] = []

    def watch(action: Action) -> None:
        if isinstance(action, StatusChanged) and action.evse_id == 2 and not b.session.online:
            changes.append(action.status)

    b.session.listeners.append(watch)
    await b.csms.stop()
    await until(lambda: not b.session.online)
    b.ports[2].plug_in()
    await until(lambda: ConnectorStatus.PREPARING in changes)
    b.ports[2].unplug()
    await until(lambda: changes[-1] == ConnectorStatus.AVAILABLE)
    mark = b.mark()
    await b.csms.start()
    await b.session.wait_accepted(10)
    return mark


async def test_TC_B_57_CS_reconnect_back_off_follows_retry_back_off_variables() -> None:
    """Part 4 "Reconnecting": first attempt after RetryBackOffWaitMinimum (+ up to RetryBackOffRandomRange), the
    wait doubled after every failed attempt RetryBackOffRepeatTimes times, then kept."""
    async with bench() as b:
        for name, value in (("RetryBackOffWaitMinimum", "1"), ("RetryBackOffRandomRange", "0"),
                            ("RetryBackOffRepeatTimes", "1")):
            assert await b.set("OCPPCommCtrlr", name, value) == "Accepted"
            assert (await b.get("OCPPCommCtrlr", name))["attributeValue"] == value
        b.csms.basic_auth = {}  # from now on every attempt is refused (HTTP 401) ...
        loop = asyncio.get_running_loop()
        events = len(b.csms.events)
        closed = loop.time()
        await b.csms.disconnect(CS)

        def refused() -> list[float]:
            return [e.t for e in b.csms.events[events:] if e.kind == "refused"]

        await until(lambda: len(refused()) >= 3, timeout=10)
        b.csms.basic_auth = None  # ... until the CSMS accepts again
        await b.session.wait_accepted(10)
        attempts = refused()
        first, gaps = attempts[0] - closed, [y - x for x, y in itertools.pairwise(attempts)]
        assert 1.0 <= first <= 1.4  # RetryBackOffWaitMinimum
        assert 2.0 <= gaps[0] <= 2.4  # doubled once ...
        assert 2.0 <= gaps[1] <= 2.4  # ... and not again (RetryBackOffRepeatTimes = 1)
        assert b.session.backoff.jitter == 0  # the configured proportional jitter gave way to the OCPP schedule
