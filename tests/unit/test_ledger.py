"""The station ledger in the SQLite store: appended with the queue row, append-only, readable from another process."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chargepoint.persistence.store import StationStore, read_ledger
from chargepoint.station.actions import (
    SecurityEvent,
    StatusChanged,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from chargepoint.station.types import (
    ConnectorStatus,
    IdToken,
    Measurand,
    MeterSample,
    ReadingContext,
    SampledValue,
    StopReason,
    TriggerReason,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _sample(wh: float, context: ReadingContext = ReadingContext.SAMPLE_PERIODIC) -> MeterSample:
    return MeterSample(T0, (SampledValue(Measurand.ENERGY_IMPORT_REGISTER, wh, context),
                            SampledValue(Measurand.ENERGY_EXPORT_REGISTER, 1.5, context),
                            SampledValue(Measurand.SOC, 50.0, context, "EV")))


def _started(tx: str = "tx-1") -> TransactionStarted:
    return TransactionStarted(tx, 1, 1, IdToken("TAG"), 100.0, TriggerReason.AUTHORIZED,
                              _sample(100.0, ReadingContext.TRANSACTION_BEGIN), charging_state="EVConnected")


def _updated(wh: float, tx: str = "tx-1") -> TransactionUpdated:
    return TransactionUpdated(tx, 1, 1, TriggerReason.METER_VALUE_PERIODIC, (_sample(wh),), timestamp=T0)


def _ended(tx: str = "tx-1") -> TransactionEnded:
    return TransactionEnded(tx, 1, 1, IdToken("TAG"), 250.0, StopReason.POWER_LOSS, TriggerReason.ABNORMAL_CONDITION,
                            (_sample(250.0, ReadingContext.TRANSACTION_END),), timestamp=T0)


def test_transaction_messages_are_appended_with_a_sequence_per_transaction() -> None:
    store = StationStore()
    store.enqueue(_started("a"))
    store.enqueue(StatusChanged(1, 1, ConnectorStatus.CHARGING))  # not a transaction message
    store.enqueue(SecurityEvent("StartupOfTheDevice", None, T0))
    store.enqueue(_started("b"))
    store.enqueue(_updated(150.0, "a"))
    store.enqueue(_ended("a"))
    entries = store.ledger()
    assert [(e.tx_id, e.kind, e.seq) for e in entries] == [
        ("a", "Started", 0), ("b", "Started", 0), ("a", "Updated", 1), ("a", "Ended", 2)]
    assert [e.id for e in entries] == sorted(e.id for e in entries)
    a = store.ledger("a")
    assert [e.registers() for e in a] == [[(100.0, 1.5)], [(150.0, 1.5)], [(250.0, 1.5)]]
    assert a[0].summary["meter_wh"] == 100.0 and a[0].summary["id_token"] == "TAG"
    assert a[2].summary["reason"] == "PowerLoss" and a[2].summary["meter_wh"] == 250.0
    assert a[1].timestamp == T0.isoformat() and a[1].summary["samples"][0]["context"] == "Sample.Periodic"


def test_acknowledging_a_message_keeps_its_ledger_entry() -> None:
    store = StationStore()
    seq = store.enqueue(_started())
    store.ack(seq)
    assert store.queue_length() == 0 and len(store.ledger()) == 1


def test_ledger_row_and_queue_row_roll_back_together() -> None:
    store = StationStore()
    with pytest.raises(RuntimeError), store.atomic():
        store.enqueue(_started())
        raise RuntimeError("crash between the writes")
    assert store.queue_length() == 0 and store.ledger() == []


def test_ledger_is_append_only(tmp_path: Path) -> None:
    store = StationStore(tmp_path / "s.sqlite")
    store.enqueue(_started())
    db = sqlite3.connect(tmp_path / "s.sqlite")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE ledger SET kind = 'Ended'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM ledger")
    db.close()


def test_read_ledger_from_another_connection_while_the_writer_is_open(tmp_path: Path) -> None:
    store = StationStore(tmp_path / "s.sqlite")
    store.enqueue(_started())
    store.enqueue(_updated(120.0))
    assert [e.kind for e in read_ledger(tmp_path / "s.sqlite")] == ["Started", "Updated"]
    store.enqueue(_ended())
    assert len(read_ledger(tmp_path / "s.sqlite")) == 3


WRITER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from chargepoint.persistence.store import StationStore
    from chargepoint.station.actions import TransactionUpdated
    from chargepoint.station.types import Measurand, MeterSample, ReadingContext, SampledValue, TriggerReason
    store = StationStore(sys.argv[1])
    i = 0
    while True:
        s = MeterSample(datetime.now(UTC), (SampledValue(Measurand.ENERGY_IMPORT_REGISTER, float(i),
                                                         ReadingContext.SAMPLE_PERIODIC),))
        with store.atomic():
            seq = store.enqueue(TransactionUpdated("tx", 1, 1, TriggerReason.METER_VALUE_PERIODIC, (s,)))
        if i % 2 == 0:
            store.ack(seq)
        i += 1
        if i == 50:
            print("ready", flush=True)
    """
)


def test_sigkill_mid_write_keeps_ledger_and_queue_consistent(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    store = StationStore(db)
    entries = store.ledger()
    n = len(entries)
    assert n >= 50 and [e.seq for e in entries] == list(range(n))
    assert [e.registers()[0][0] for e in entries] == [float(i) for i in range(n)]
    # every odd message is still queued; the last even one may have been killed between enqueue and ack
    queued = [m.action.samples[0].values[0].value for m in store.queued()]  # type: ignore[union-attr]
    odd = [float(i) for i in range(1, n, 2)]
    assert queued in (odd, sorted([*odd, float(n - 1)]))
