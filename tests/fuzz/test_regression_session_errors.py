"""Regression (fuzz findings): CSMS behaviour that ended the whole station session.

``StationSession`` only expected ConnectionClosed from a connection. With OCPP 2.0.1 / 2.1 any of these escaped
from the adapter and ended ``run()`` for good (the station went silent until restarted):

* a CALLRESULT that fails the response schema (the library raises its validation error from ``call()``) - for
  BootNotification, Heartbeat, StatusNotification ...;
* no answer to a Heartbeat within the response time-out (TimeoutError from ``heartbeat()``);
* anything else a hostile frame provokes (e.g. the RecursionError of tests/fuzz/test_regression_strict_parse.py).

Now such a connection is logged and abandoned like a lost one; the session reconnects with back-off and is back in
business as soon as the CSMS behaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from chargepoint.clock import RealClock, VirtualClock
from chargepoint.ocpp.session import StationSession
from chargepoint.ocpp.transport import TransportConfig
from chargepoint.station.core import Station
from hil.emulators.csms import CsmsBehaviour, CsmsEmulator
from hil.emulators.direct_dc import DirectDcPort

from .ocpp_rig import wait_until

pytestmark = pytest.mark.timeout(30)

CP = "CP-HOSTILE"


def _invalid_boot(station_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"status": "Accepted", "interval": "soon", "currentTime": 5}


def _invalid_status(station_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"unexpected": True}


CASES: dict[str, Callable[[], CsmsBehaviour]] = {
    "invalid BootNotification answer": lambda: CsmsBehaviour(validate_responses=False,
                                                            handlers={"BootNotification": _invalid_boot}),
    "invalid StatusNotification answer": lambda: CsmsBehaviour(validate_responses=False,
                                                              handlers={"StatusNotification": _invalid_status}),
    "Heartbeat never answered": lambda: CsmsBehaviour(boot_interval=1, silent_actions={"Heartbeat"}),
}


@pytest.mark.parametrize(("protocol", "case"), [("ocpp2.0.1", case) for case in sorted(CASES)] + [
    ("ocpp2.1", "invalid BootNotification answer")])
async def test_hostile_answers_cost_a_connection_never_the_session(protocol: str, case: str) -> None:
    behaviour = CASES[case]()
    async with CsmsEmulator(protocols=(protocol,), behaviour=behaviour) as csms:
        station = Station({1: [DirectDcPort()]}, RealClock())
        transport = TransportConfig(url=csms.url, station_id=CP, protocols=(protocol,), backoff_initial_s=0.05,
                                    backoff_max_s=0.1, backoff_jitter=0.0)
        session = StationSession(station, transport, tick_s=0.05, response_timeout_s=0.5, default_retry_s=1)
        task = asyncio.create_task(session.run())
        try:
            async with asyncio.timeout(10):
                while session.connect_attempts < 2:  # the hostile answer cost the first connection ...
                    assert not task.done(), f"the session ended: {task.exception()!r}"
                    await asyncio.sleep(0.05)
            assert not task.done()
            assert session.last_error is not None
            # ... and once the CSMS answers properly, the station registers, stays connected and works.
            behaviour.handlers.clear()
            behaviour.silent_actions.clear()
            behaviour.validate_responses = True
            await settled(session)
            res = await csms.call(CP, "GetVariables", {"getVariableData": [
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}, timeout=5)
            assert res["getVariableResult"][0]["attributeStatus"] == "Accepted"
        finally:
            session.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 5)


async def settled(session: StationSession, quiet_s: float = 1.5, timeout: float = 10.0) -> None:
    """Wait until the session is registered and has not reconnected for ``quiet_s`` (heartbeats included)."""
    async with asyncio.timeout(timeout):
        while True:
            await session.wait_accepted(timeout)
            attempts = session.connect_attempts
            await asyncio.sleep(quiet_s)
            if session.connect_attempts == attempts and session.online:
                return


def test_a_hang_up_leaves_no_unretrieved_task_exception(caplog: pytest.LogCaptureFixture) -> None:
    """Both tasks of a connection may fail at once (the receive loop and the CALL in flight): the session retrieves
    both exceptions, so asyncio never logs "Task exception was never retrieved" when the tasks are collected (and no
    finaliser runs at some random later moment - in CPython 3.11 one that runs during a compile() breaks it)."""
    caplog.set_level(logging.ERROR, logger="asyncio")
    # Warning records of the lost connections would hold the exceptions (and through their tracebacks the tasks)
    # until the test's report is written: drop them so that the tasks can be collected right here.
    logging.disable(logging.WARNING)
    try:
        asyncio.run(_hang_up_eight_times())  # its own loop: every task is finished and collectable afterwards
        gc.collect()
    finally:
        logging.disable(logging.NOTSET)
    assert [r.getMessage() for r in caplog.records if "never retrieved" in r.getMessage()] == []


async def _hang_up_eight_times() -> None:
    async def hang_up(ws: ServerConnection) -> None:
        await ws.close()

    async with serve(hang_up, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
        port = server.sockets[0].getsockname()[1]
        transport = TransportConfig(url=f"ws://127.0.0.1:{port}/", station_id=CP, protocols=("ocpp1.6",),
                                    backoff_initial_s=0.02, backoff_max_s=0.05, backoff_jitter=0.0)
        session = StationSession(Station({1: [DirectDcPort()]}, VirtualClock()), transport, tick_s=0.05)
        task = asyncio.create_task(session.run())
        await wait_until(lambda: session.connect_attempts >= 8, 10)
        session.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
