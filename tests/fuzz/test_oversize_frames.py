"""Frames over TransportConfig.max_frame_bytes, over real loopback websockets (StationSession + CsmsEmulator).

What happens: the ``websockets`` client refuses a message larger than ``max_size`` while reading it and closes the
connection with 1009 (message too big); the frame never reaches the adapter. The session treats that like any lost
connection: it reconnects, registers again and sends what was queued. Nothing is lost or duplicated and the station's
state is untouched by the frame. A frame just under the limit is an ordinary frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from chargepoint.clock import RealClock
from chargepoint.ocpp.session import StationSession
from chargepoint.ocpp.transport import TransportConfig
from chargepoint.station.core import Station
from chargepoint.station.settings import StationSettings
from hil.emulators.csms import CsmsEmulator
from hil.emulators.direct_dc import DirectDcPort

from .ocpp_rig import wait_until

pytestmark = pytest.mark.timeout(60)

CP = "CP-BIG"
LIMIT = 64 * 1024  # a small max_frame_bytes keeps the test fast; the mechanism is the same at the 1 MiB default


@dataclass
class Bench:
    csms: CsmsEmulator
    station: Station
    port: DirectDcPort
    session: StationSession

    def padded_call(self, uid: str, action: str, payload: dict[str, Any], size: int) -> str:
        """A valid CALL padded with JSON whitespace to exactly ``size`` bytes."""
        head = f'[2, "{uid}", "{action}", {json.dumps(payload)}'
        text = head + " " * (size - len(head) - 1) + "]"
        assert len(text.encode()) == size
        return text

    def disconnects(self) -> list[str]:
        return [e.detail for e in self.csms.events if e.kind == "disconnected" and e.station_id == CP]


@contextlib.asynccontextmanager
async def bench(protocol: str) -> AsyncIterator[Bench]:
    async with CsmsEmulator(protocols=(protocol,)) as csms:
        port = DirectDcPort(handshake_s=0.2, stop_s=0.2)
        station = Station({1: [port]}, RealClock(), StationSettings(sample_interval_s=0, aligned_interval_s=0))
        transport = TransportConfig(url=csms.url, station_id=CP, protocols=(protocol,), max_frame_bytes=LIMIT,
                                    backoff_initial_s=0.05, backoff_max_s=0.2, backoff_jitter=0.0)
        session = StationSession(station, transport, tick_s=0.05, response_timeout_s=5, default_retry_s=1)
        task = asyncio.create_task(session.run())
        try:
            await session.wait_accepted(5)
            yield Bench(csms, station, port, session)
        finally:
            session.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 5)
            assert not task.cancelled() and task.exception() is None


def _answers(b: Bench, uid: str) -> list[Any]:
    return [f for f in b.csms.frames if f.direction == "rx" and f.unique_id == uid and f.message_type in (3, 4)]


async def test_ocpp16_frame_over_the_limit_closes_1009_reconnects_and_loses_no_transaction_message() -> None:
    async with bench("ocpp1.6") as b:
        # A transaction is running.
        b.port.plug_in()
        res = await b.csms.call(CP, "RemoteStartTransaction", {"idTag": "TAG1", "connectorId": 1}, timeout=5)
        assert res["status"] == "Accepted"
        start = await b.csms.wait_for(CP, "StartTransaction", timeout=5)
        await b.csms.wait_for(CP, "StatusNotification", lambda p: p["status"] == "Charging", timeout=5)
        tx_id = next(f for f in b.csms.frames if f.direction == "tx" and f.unique_id == start.unique_id).payload[
            "transactionId"]

        # Just under the limit: an ordinary frame, answered.
        small = b.padded_call("small", "GetConfiguration", {"key": ["HeartbeatInterval"]}, LIMIT - 16)
        await b.csms.send_raw(CP, small)
        await b.csms.wait_frame(lambda f: f.unique_id == "small" and f.direction == "rx", timeout=5)

        # Over the limit: a CALL that would make the station Inoperative if it were ever handled.
        mark = b.csms.mark()
        big = b.padded_call("big", "ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}, LIMIT + 1)
        await b.csms.send_raw(CP, big)
        b.port.unplug()  # the car leaves meanwhile: StopTransaction is produced around the reconnect
        await b.csms.wait_for(CP, "BootNotification", after=mark, timeout=10)
        await b.session.wait_accepted(5)
        stop = await b.csms.wait_for(CP, "StopTransaction", after=mark, timeout=10)

        assert any("code=1009" in d for d in b.disconnects()), b.disconnects()  # "message too big"
        assert _answers(b, "big") == []  # never handled ...
        assert b.station.operative  # ... so nothing changed
        assert stop.payload["transactionId"] == tx_id and stop.payload["meterStop"] >= start.payload["meterStart"]
        await b.csms.wait_for(CP, "StatusNotification", lambda p: p["connectorId"] == 1 and p["status"] ==
                              "Available", after=stop.index, timeout=5)
        assert len(b.csms.calls(CP, "StartTransaction")) == 1  # no duplicate, no loss
        assert len(b.csms.calls(CP, "StopTransaction")) == 1
        await drained(b.session)


async def drained(session: StationSession, timeout: float = 5.0) -> None:
    """Everything the station queued has been sent (and answered)."""
    await wait_until(lambda: session.pending_actions() == 0, timeout)


async def test_ocpp201_frame_over_the_limit_closes_1009_and_the_station_registers_again_unchanged() -> None:
    async with bench("ocpp2.0.1") as b:
        b.port.plug_in()
        res = await b.csms.call(CP, "RequestStartTransaction", {"idToken": {"idToken": "TAG1", "type": "Central"},
                                                                 "remoteStartId": 1, "evseId": 1}, timeout=5)
        assert res["status"] == "Accepted"
        started_call = await b.csms.wait_for(CP, "TransactionEvent", lambda p: p["eventType"] == "Started", timeout=5)
        # Let the answer reach the station first (frames are handled in order: once the station answered a later
        # CALL, it has the answer). An unanswered event would rightly be sent again, with the same seqNo.
        await b.csms.wait_frame(lambda f: f.direction == "tx" and f.unique_id == started_call.unique_id, timeout=5)
        await b.csms.call(CP, "GetLocalListVersion", {}, timeout=5)
        mark = b.csms.mark()
        big = b.padded_call("big", "ChangeAvailability", {"operationalStatus": "Inoperative"}, LIMIT + 1)
        await b.csms.send_raw(CP, big)
        boot = await b.csms.wait_for(CP, "BootNotification", after=mark, timeout=10)
        await b.session.wait_accepted(5)
        assert any("code=1009" in d for d in b.disconnects()), b.disconnects()
        assert _answers(b, "big") == [] and b.station.operative
        b.port.unplug()
        ended = await b.csms.wait_for(CP, "TransactionEvent", lambda p: p["eventType"] == "Ended", after=boot.index,
                                      timeout=10)
        started = b.csms.calls(CP, "TransactionEvent")[0].payload
        assert ended.payload["transactionInfo"]["transactionId"] == started["transactionInfo"]["transactionId"]
        seq = [f.payload["seqNo"] for f in b.csms.calls(CP, "TransactionEvent")]
        assert seq == list(range(len(seq))), seq  # every event once, in order, none lost
        await drained(b.session)
