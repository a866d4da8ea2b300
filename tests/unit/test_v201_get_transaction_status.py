"""GetTransactionStatus (OCPP 2.0.1 E14): the adapter's answer from the station model (is the transaction ongoing)
and the session's queue (are its messages still unacknowledged), each side on its own.

Test names carry the certification case (docs/reference/ocpp21_cs_testcases.tsv) whose behaviour they assert; the
same cases run end to end in tests/integration/test_v201_transaction_status.py.
"""

from __future__ import annotations

from pathlib import Path

from ocpp.v201 import call
from v201_rig import CS_TO_CSMS, Rig

from chargepoint.clock import VirtualClock
from chargepoint.ocpp.session import StationSession
from chargepoint.ocpp.transport import TransportConfig
from chargepoint.persistence.store import StationStore
from chargepoint.station.actions import StatusChanged, TransactionStarted, TransactionUpdated
from chargepoint.station.core import Station
from chargepoint.station.types import ConnectorStatus, IdToken, TriggerReason
from hil.emulators.direct_dc import DirectDcPort


def _answer(r: Rig) -> dict[str, object]:
    """The last CALLRESULT the station sent, as on the wire (camelCase)."""
    frame = next(f for f in reversed(r.wire.frames) if f.direction == CS_TO_CSMS and f.msg and f.msg[0] == 3)
    payload: dict[str, object] = frame.payload
    return payload


class _Queue:
    """The session's side of the query: the transactions whose messages are still queued."""

    def __init__(self, *tx_ids: str) -> None:
        self.tx_ids = set(tx_ids)

    def __call__(self, tx_id: str | None = None) -> bool:
        return bool(self.tx_ids) if tx_id is None else tx_id in self.tx_ids


async def test_TC_E_28_CS_TC_E_29_CS_TC_E_30_CS_adapter_answers_ongoing_from_the_station_and_queue_from_session(
) -> None:
    async with Rig() as r:
        await r.start_charging()
        (tx,) = r.station.transactions()
        queue = _Queue()
        r.hooks.transaction_messages_queued = queue  # type: ignore[attr-defined]
        res = await r.request(call.GetTransactionStatus(transaction_id=tx.tx_id))  # TC_E_30
        assert (res.ongoing_indicator, res.messages_in_queue) == (True, False)
        queue.tx_ids.add(tx.tx_id)
        res = await r.request(call.GetTransactionStatus(transaction_id=tx.tx_id))  # TC_E_29
        assert (res.ongoing_indicator, res.messages_in_queue) == (True, True)
        res = await r.request(call.GetTransactionStatus(transaction_id="no-such-transaction"))  # TC_E_28
        assert (res.ongoing_indicator, res.messages_in_queue) == (False, False)
        assert _answer(r) == {"ongoingIndicator": False, "messagesInQueue": False}


async def test_TC_E_32_CS_ended_transaction_is_not_ongoing() -> None:
    async with Rig() as r:
        await r.start_charging()
        (tx,) = r.station.transactions()
        r.ports[1].unplug()
        await r.pump(1.0)
        assert r.station.transactions() == []
        res = await r.request(call.GetTransactionStatus(transaction_id=tx.tx_id))
        assert (res.ongoing_indicator, res.messages_in_queue) == (False, False)


async def test_TC_E_33_CS_TC_E_34_CS_without_transaction_id_no_ongoing_indicator() -> None:
    async with Rig() as r:
        await r.start_charging()
        await r.request(call.GetTransactionStatus())  # TC_E_34 (a session driver without a queue: nothing queued)
        assert _answer(r) == {"messagesInQueue": False}
        r.hooks.transaction_messages_queued = _Queue("some-tx")  # type: ignore[attr-defined]
        await r.request(call.GetTransactionStatus())  # TC_E_33
        assert _answer(r) == {"messagesInQueue": True}


def test_session_reports_unacknowledged_transaction_messages_per_transaction(tmp_path: Path) -> None:
    """The session's queue as recovered from the store: transaction messages count, other messages do not."""
    store = StationStore(tmp_path / "s.sqlite")
    store.enqueue(StatusChanged(1, 1, ConnectorStatus.AVAILABLE))
    session = StationSession(Station({1: [DirectDcPort()]}, VirtualClock()),
                             TransportConfig(url="ws://127.0.0.1:1", station_id="CS"), store=store)
    session.recover()
    assert not session.transaction_messages_queued() and not session.transaction_messages_queued("tx-a")
    store.enqueue(TransactionStarted("tx-a", 1, 1, IdToken("T"), 0.0, TriggerReason.AUTHORIZED, None))
    seq = store.enqueue(TransactionUpdated("tx-a", 1, 1, TriggerReason.METER_VALUE_PERIODIC))
    session.recover()
    assert session.transaction_messages_queued() and session.transaction_messages_queued("tx-a")
    assert not session.transaction_messages_queued("tx-b")
    for m in store.queued():
        if m.seq != seq:
            store.ack(m.seq)
    session.recover()
    assert session.transaction_messages_queued("tx-a")  # the last one still waits for its acknowledgement
    store.ack(seq)
    session.recover()
    assert not session.transaction_messages_queued() and not session.transaction_messages_queued("tx-a")
    store.close()
