"""GetTransactionStatus (OCPP 2.0.1 / 2.1 E14) end to end: station model + StationSession with its persistent
queue + adapter against the CSMS emulator over real WebSockets.

Transaction messages are made to wait in the queue the way they do in the field: the CSMS drops the connection, the
station keeps producing transaction messages, and the CSMS answers the reconnection's BootNotification with Pending
(nothing but a BootNotification may be sent then), so the CSMS can ask while they wait; a TriggerMessage
(BootNotification) then gets the station accepted and the queue delivered. Test names carry the certification cases
(docs/reference/ocpp21_cs_testcases.tsv) whose behaviour they assert.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chargepoint.clock import RealClock
from chargepoint.ocpp.session import StationSession
from chargepoint.ocpp.transport import TransportConfig
from chargepoint.persistence.store import StationStore
from chargepoint.station.core import Station
from chargepoint.station.settings import StationSettings
from chargepoint.station.types import IdToken
from hil.emulators.csms import CsmsBehaviour, CsmsEmulator, Frame
from hil.emulators.direct_dc import DirectDcPort

pytestmark = pytest.mark.timeout(30)

CS = "CSTXS"
# Accepted on the first connection, Pending on the reconnection (until a triggered BootNotification).
PENDING_ON_RECONNECT = ["Accepted", "Pending", "Accepted"]


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.02)


@dataclass
class Bench:
    csms: CsmsEmulator
    station: Station
    port: DirectDcPort
    session: StationSession
    store: StationStore

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.csms.call(CS, action, payload, timeout=5)

    async def status(self, tx_id: str | None = None) -> dict[str, Any]:
        """The station's GetTransactionStatusResponse (camelCase, as on the wire)."""
        return await self.call("GetTransactionStatus", {} if tx_id is None else {"transactionId": tx_id})

    async def wait(self, action: str, pred: Callable[[dict[str, Any]], bool] | None = None,
                   after: int = -1) -> Frame:
        return await self.csms.wait_for(CS, action, pred, timeout=5, after=after)

    def mark(self) -> int:
        return self.csms.mark()

    async def answered(self, frame: Frame) -> None:
        await self.csms.wait_frame(
            lambda f: f.direction == "tx" and f.unique_id == frame.unique_id and f.message_type == 3,
            timeout=5, after=frame.index)

    async def charge(self) -> str:
        mark = self.mark()
        self.port.plug_in()
        self.station.present_token(1, IdToken("TAG1"))
        started = await self.wait("TransactionEvent", lambda p: p["eventType"] == "Started", mark)
        await self.wait("TransactionEvent", lambda p: p["transactionInfo"].get("chargingState") == "Charging",
                        started.index)
        tx_id: str = started.payload["transactionInfo"]["transactionId"]
        return tx_id

    async def drained(self) -> None:
        """Everything queued has been sent and acknowledged (the in-memory outbox and the store alike)."""
        await until(lambda: self.session.pending_actions() == 0 and self.store.queue_length() == 0)

    async def reconnect_pending(self) -> int:
        """Drop the connection; return once the station reconnected and the CSMS answered its boot with Pending."""
        mark = self.mark()
        await self.csms.disconnect(CS)
        await until(lambda: not self.session.online)
        boot = await self.wait("BootNotification", after=mark)
        await self.answered(boot)
        return boot.index

    async def accept(self) -> int:
        mark = self.mark()
        assert (await self.call("TriggerMessage", {"requestedMessage": "BootNotification"}))["status"] == "Accepted"
        await self.session.wait_accepted(5)
        return mark


@contextlib.asynccontextmanager
async def bench(tmp_path: Path, protocol: str = "ocpp2.0.1",
                behaviour: CsmsBehaviour | None = None) -> AsyncIterator[Bench]:
    async with CsmsEmulator(protocols=(protocol,), behaviour=behaviour) as csms:
        port = DirectDcPort(handshake_s=0.2, stop_s=0.2)
        station = Station({1: [port]}, RealClock(), StationSettings(aligned_interval_s=0, sample_interval_s=0))
        store = StationStore(tmp_path / "station.sqlite")
        transport = TransportConfig(url=csms.url, station_id=CS, protocols=(protocol,), backoff_initial_s=0.05,
                                    backoff_max_s=0.2, backoff_jitter=0.0)
        session = StationSession(station, transport, tick_s=0.05, response_timeout_s=5, default_retry_s=1,
                                 store=store)
        task = asyncio.create_task(session.run())
        try:
            await session.wait_accepted(5)
            yield Bench(csms, station, port, session, store)
        finally:
            session.stop()
            await asyncio.wait_for(task, 5)
            store.close()


async def test_TC_E_28_CS_transaction_id_unknown(tmp_path: Path) -> None:
    async with bench(tmp_path) as b:
        assert await b.status("no-such-transaction") == {"ongoingIndicator": False, "messagesInQueue": False}
        await b.charge()
        await b.drained()
        assert await b.status("no-such-transaction") == {"ongoingIndicator": False, "messagesInQueue": False}


@pytest.mark.parametrize("protocol", ["ocpp2.0.1", "ocpp2.1"])
async def test_TC_E_29_CS_TC_E_33_CS_then_TC_E_30_CS_TC_E_34_CS_ongoing_with_messages_queued_then_delivered(
        tmp_path: Path, protocol: str) -> None:
    async with bench(tmp_path, protocol, CsmsBehaviour(boot_statuses=PENDING_ON_RECONNECT, pending_interval=60)) as b:
        tx_id = await b.charge()
        await b.drained()
        assert await b.status(tx_id) == {"ongoingIndicator": True, "messagesInQueue": False}  # TC_E_30
        assert await b.status() == {"messagesInQueue": False}  # TC_E_34
        await b.reconnect_pending()
        b.station.trigger_meter_values(1)  # a transaction message while the CSMS has not accepted the station
        await until(lambda: b.store.queue_length() > 0)
        assert await b.status(tx_id) == {"ongoingIndicator": True, "messagesInQueue": True}  # TC_E_29
        assert await b.status() == {"messagesInQueue": True}  # TC_E_33
        # TC_E_28 with another transaction's messages waiting: nothing is queued for an unknown id
        assert await b.status("no-such-transaction") == {"ongoingIndicator": False, "messagesInQueue": False}
        mark = await b.accept()
        queued = await b.wait("TransactionEvent", lambda p: p["transactionInfo"]["transactionId"] == tx_id, mark)
        assert queued.payload["offline"] is True and queued.payload["triggerReason"] == "Trigger"
        await b.answered(queued)
        await b.drained()
        assert await b.status(tx_id) == {"ongoingIndicator": True, "messagesInQueue": False}  # TC_E_30
        assert await b.status() == {"messagesInQueue": False}  # TC_E_34


async def test_TC_E_31_CS_then_TC_E_32_CS_ended_transaction_with_then_without_messages_in_queue(
        tmp_path: Path) -> None:
    async with bench(tmp_path, behaviour=CsmsBehaviour(boot_statuses=PENDING_ON_RECONNECT,
                                                       pending_interval=60)) as b:
        tx_id = await b.charge()
        await b.reconnect_pending()
        b.port.unplug()  # the transaction ends while its end cannot be sent
        await until(lambda: b.station.find_tx(tx_id) is None)
        assert await b.status(tx_id) == {"ongoingIndicator": False, "messagesInQueue": True}  # TC_E_31
        assert await b.status() == {"messagesInQueue": True}  # TC_E_33
        mark = await b.accept()
        ended = await b.wait("TransactionEvent", lambda p: p["eventType"] == "Ended", mark)
        assert ended.payload["transactionInfo"]["transactionId"] == tx_id and ended.payload["offline"] is True
        await b.answered(ended)
        await b.drained()
        assert await b.status(tx_id) == {"ongoingIndicator": False, "messagesInQueue": False}  # TC_E_32
        assert await b.status() == {"messagesInQueue": False}  # TC_E_34


async def test_TC_E_32_CS_ended_transaction_without_messages_in_queue(tmp_path: Path) -> None:
    async with bench(tmp_path) as b:
        tx_id = await b.charge()
        mark = b.mark()
        b.port.unplug()
        await b.answered(await b.wait("TransactionEvent", lambda p: p["eventType"] == "Ended", mark))
        await b.drained()
        assert await b.status(tx_id) == {"ongoingIndicator": False, "messagesInQueue": False}
