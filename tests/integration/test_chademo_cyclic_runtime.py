"""The CHAdeMO cyclic transmit on the station's runtime path, in real time.

At runtime no ``CyclicTask`` sends the charger's frames: the OCPP session's tick loop (``StationSession._tick_loop``,
deadline-based, 100 ms) calls ``Station.tick()``, which steps the ``ChademoPort`` built by ``build_chademo``; the
charger's own schedule (``ChademoCharger._transmit``, ``next += cycle`` with a small early tolerance) decides in
which tick a cycle's frames go out. This test runs exactly that assembly (``build_station`` + ``build_session``
against the embedded CSMS emulator, an emulated LEAF on its own endpoint of a python-can ``virtual`` bus) and
listens on a third endpoint of the bus, with python-can's send time stamps:

* every cycle is 0x108, 0x109, 0x118, 0x208, 0x209, in that order, sent as one burst;
* over 10 s the period is 100 ms: every gap within generous jitter bounds (50..150 ms), no cycle missing or extra,
  each cycle within 30 ms of its slot on the ideal 100 ms grid (no cumulative drift) and a mean period within 1 %.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time

import can
import pytest

from chargepoint.app import build_session, build_station
from chargepoint.chademo.connector import ChademoConnector
from chargepoint.clock import RealClock
from chargepoint.config import CsmsConfig, EvConfig, EvseConfig, MeteringConfig, StationConfig
from chargepoint.station.types import IdToken
from hil.emulators.csms import CsmsEmulator

pytestmark = pytest.mark.timeout(90)

CYCLE_S = 0.1
CHARGER_IDS = (0x108, 0x109, 0x118, 0x208, 0x209)  # ChargerConfig defaults: dynamic control and V2H offered
RUN_S = 10.0
_ids = itertools.count(1)


async def _record_charger_frames(listener: can.BusABC, seconds: float, timeout_s: float) -> list[tuple[float, int]]:
    """(python-can time stamp, id) of the charger's frames, from its first one until ``seconds`` later."""
    frames: list[tuple[float, int]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        while (msg := listener.recv(timeout=0)) is not None:
            if msg.arbitration_id in CHARGER_IDS:
                frames.append((msg.timestamp, msg.arbitration_id))
        if frames and frames[-1][0] - frames[0][0] >= seconds + 2 * CYCLE_S:
            return frames
        await asyncio.sleep(0.05)
    raise AssertionError(f"only {len(frames)} charger frames within {timeout_s} s")


async def test_charger_frames_leave_on_the_station_tick_loop_in_order_every_100_ms_without_drift() -> None:
    station_id = f"CYCLIC{next(_ids)}"
    async with CsmsEmulator(protocols=("ocpp2.0.1",), max_frames=5000) as csms:
        cfg = StationConfig(id=station_id, data_dir=None, csms=CsmsConfig(ocpp=("2.0.1",)),
                            evses=[EvseConfig(1, protocol="chademo", ev=EvConfig("leaf40", 60.0))],
                            metering=MeteringConfig(sample_interval_s=1, aligned_interval_s=0))
        assembly = build_station(cfg, RealClock())
        connector = assembly.ports[1]
        assert isinstance(connector, ChademoConnector)
        session = build_session(cfg, assembly.station, csms.url)
        assert session.tick_s == CYCLE_S  # the app's station tick
        listener = can.Bus(interface="virtual", channel=f"{station_id}-evse1")  # the bus build_chademo opened
        task = asyncio.create_task(session.run())
        try:
            await session.wait_accepted(10)
            connector.plug_in()
            assembly.station.present_token(1, IdToken("CYCLIC-TAG"))
            frames = await _record_charger_frames(listener, RUN_S, 30.0)
        finally:
            session.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)
            listener.shutdown()
            connector.close()

    # Cycles: each starts with 0x108; the last one may be cut off by the end of the recording.
    cycles: list[list[tuple[float, int]]] = []
    for ts, arb in frames:
        if arb == 0x108:
            cycles.append([])
        assert cycles, "the first charger frame was not 0x108"
        cycles[-1].append((ts, arb))
    if len(cycles[-1]) < len(CHARGER_IDS):
        cycles.pop()
    for c in cycles:
        assert tuple(arb for _, arb in c) == CHARGER_IDS, [hex(arb) for _, arb in c]
        assert c[-1][0] - c[0][0] <= 0.01  # one burst, 0x108 first
    starts = [c[0][0] for c in cycles]
    starts = starts[: 1 + next(k for k, t in enumerate(starts) if t - starts[0] >= RUN_S)]
    n = len(starts) - 1
    assert n >= RUN_S / CYCLE_S
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.05 and max(gaps) <= 0.15, (min(gaps), max(gaps))
    assert round((starts[-1] - starts[0]) / CYCLE_S) == n  # no cycle missing, none extra
    mean = (starts[-1] - starts[0]) / n
    assert mean == pytest.approx(CYCLE_S, rel=0.01)
    offsets = [t - (starts[0] + k * CYCLE_S) for k, t in enumerate(starts)]  # against the ideal 100 ms grid
    assert max(abs(o) for o in offsets) <= 0.03, max(offsets, key=abs)
