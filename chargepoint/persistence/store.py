"""Durable station state in SQLite (WAL, synchronous=FULL): the outgoing message queue, open transactions,
meter registers and small key/value records (adapter state, local list, settings).

Every write is its own committed transaction, so a SIGKILL or power loss at any instant leaves either the state
before or after the write, never a torn one.

The ``ledger`` table is the station's own record of every transaction message it created (Started / Updated /
Ended, with the meter registers they carry). :meth:`StationStore.enqueue` appends to it in the same SQLite
transaction as the queue row, so a message is in both or in neither. Rows are never changed or deleted; read them
with :meth:`StationStore.ledger` or, from another process, :func:`read_ledger`. It is what a CSMS's record of the
station's transactions is compared against (docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chargepoint.persistence.codec import decode_action, encode_action
from chargepoint.station.actions import Action, TransactionEnded, TransactionStarted, TransactionUpdated
from chargepoint.station.types import MeterSample

SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL,
    offline INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS transactions (
    tx_id TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tx_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    seq INTEGER NOT NULL,
    timestamp TEXT NOT NULL,
    evse_id INTEGER NOT NULL,
    summary TEXT NOT NULL,
    UNIQUE (tx_id, seq)
);
CREATE TRIGGER IF NOT EXISTS ledger_append_only_update BEFORE UPDATE ON ledger
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS ledger_append_only_delete BEFORE DELETE ON ledger
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
"""

_LEDGER_KINDS: dict[type, str] = {
    TransactionStarted: "Started",
    TransactionUpdated: "Updated",
    TransactionEnded: "Ended",
}


@dataclass(frozen=True)
class QueuedMessage:
    seq: int
    action: Action
    offline: bool
    attempts: int


@dataclass(frozen=True)
class LedgerEntry:
    """One transaction message as the station created it.

    ``seq`` counts the transaction's messages from 0 in creation order (the 2.x seqNo they get when none is
    dropped); ``id`` orders all entries of the station. ``summary``: ``trigger``, ``id_token``, ``reason`` (Ended),
    ``meter_wh`` (meterStart of Started / meterStop of Ended) and ``samples``, each
    ``{"timestamp", "context", "values": {measurand: value}}``.
    """

    id: int
    tx_id: str
    kind: str  # Started | Updated | Ended
    seq: int
    timestamp: str  # ISO 8601, when it happened (not when it was sent)
    evse_id: int
    summary: dict[str, Any]

    def registers(self) -> list[tuple[float | None, float | None]]:
        """(Energy.Active.Import.Register, Energy.Active.Export.Register) of every sample, in order."""
        return [(s["values"].get("Energy.Active.Import.Register"), s["values"].get("Energy.Active.Export.Register"))
                for s in self.summary.get("samples", [])]


class StoreError(RuntimeError):
    pass


def _sample_summary(s: MeterSample) -> dict[str, Any]:
    return {"timestamp": s.timestamp.isoformat(), "context": s.values[0].context.value if s.values else None,
            "values": {v.measurand.value: v.value for v in s.values}}


def _ledger_record(action: TransactionStarted | TransactionUpdated | TransactionEnded) -> tuple[str, dict[str, Any]]:
    """(timestamp, summary) of a transaction message."""
    token = None if action.id_token is None else action.id_token.id
    summary: dict[str, Any] = {"trigger": action.trigger.value, "id_token": token}
    if isinstance(action, TransactionStarted):
        samples: tuple[MeterSample, ...] = (action.sample,) if action.sample is not None else ()
        when = action.sample.timestamp.isoformat() if action.sample is not None else None
        summary["meter_wh"] = action.meter_start_wh
        summary["charging_state"] = action.charging_state
    else:
        samples = action.samples
        when = action.timestamp.isoformat() if action.timestamp is not None else None
        if isinstance(action, TransactionEnded):
            summary["meter_wh"] = action.meter_stop_wh
            summary["reason"] = action.reason.value
        else:
            summary["charging_state"] = action.charging_state
    summary["samples"] = [_sample_summary(s) for s in samples if s.values]
    if when is None:
        when = datetime.now(UTC).isoformat()
    return when, summary


def _ledger_rows(db: sqlite3.Connection, tx_id: str | None) -> list[LedgerEntry]:
    query = "SELECT id, tx_id, kind, seq, timestamp, evse_id, summary FROM ledger"
    rows = (db.execute(query + " ORDER BY id") if tx_id is None
            else db.execute(query + " WHERE tx_id = ? ORDER BY id", (tx_id,))).fetchall()
    return [LedgerEntry(i, t, k, seq, ts, evse, json.loads(body)) for i, t, k, seq, ts, evse, body in rows]


def read_ledger(path: str | Path) -> list[LedgerEntry]:
    """The ledger of a station database, read-only (safe while the station runs: WAL readers do not block it)."""
    db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        return _ledger_rows(db, None)
    finally:
        db.close()


class StationStore:
    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path}: cannot open the station database: {e}") from e

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """Group writes into one durable transaction (all or nothing across a crash)."""
        if self._db.in_transaction:
            yield
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ------------------------------------------------------------------ queue
    def enqueue(self, action: Action, offline: bool = False) -> int:
        """Queue a message; a transaction message is also appended to the ledger, in the same transaction."""
        with self.atomic():
            cur = self._db.execute(
                "INSERT INTO queue (body, offline, created) VALUES (?, ?, ?)",
                (json.dumps(encode_action(action)), int(offline), time.time()),
            )
            if isinstance(action, TransactionStarted | TransactionUpdated | TransactionEnded):
                self._append_ledger(action)
        assert cur.lastrowid is not None
        return cur.lastrowid

    def queued(self) -> list[QueuedMessage]:
        rows = self._db.execute("SELECT seq, body, offline, attempts FROM queue ORDER BY seq").fetchall()
        return [QueuedMessage(seq, decode_action(json.loads(body)), bool(off), att) for seq, body, off, att in rows]

    def ack(self, seq: int) -> None:
        self._db.execute("DELETE FROM queue WHERE seq = ?", (seq,))

    def count_attempt(self, seq: int) -> None:
        self._db.execute("UPDATE queue SET attempts = attempts + 1 WHERE seq = ?", (seq,))

    def queue_length(self) -> int:
        (n,) = self._db.execute("SELECT COUNT(*) FROM queue").fetchone()
        return int(n)

    # ------------------------------------------------------------------ ledger
    def _append_ledger(self, action: TransactionStarted | TransactionUpdated | TransactionEnded) -> None:
        (seq,) = self._db.execute("SELECT COUNT(*) FROM ledger WHERE tx_id = ?", (action.tx_id,)).fetchone()
        when, summary = _ledger_record(action)
        self._db.execute(
            "INSERT INTO ledger (tx_id, kind, seq, timestamp, evse_id, summary) VALUES (?, ?, ?, ?, ?, ?)",
            (action.tx_id, _LEDGER_KINDS[type(action)], seq, when, action.evse_id, json.dumps(summary)),
        )

    def ledger(self, tx_id: str | None = None) -> list[LedgerEntry]:
        """Ledger entries in creation order (all, or one transaction's)."""
        return _ledger_rows(self._db, tx_id)

    # ------------------------------------------------------------------ transactions
    def save_transaction(self, tx_id: str, record: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT INTO transactions (tx_id, body) VALUES (?, ?) "
            "ON CONFLICT(tx_id) DO UPDATE SET body = excluded.body",
            (tx_id, json.dumps(record)),
        )

    def delete_transaction(self, tx_id: str) -> None:
        self._db.execute("DELETE FROM transactions WHERE tx_id = ?", (tx_id,))

    def transactions(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT body FROM transactions ORDER BY rowid").fetchall()
        return [json.loads(body) for (body,) in rows]

    # ------------------------------------------------------------------ key/value
    def put(self, key: str, value: Any) -> None:
        self._db.execute(
            "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def get(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def delete(self, key: str) -> None:
        self._db.execute("DELETE FROM kv WHERE key = ?", (key,))
