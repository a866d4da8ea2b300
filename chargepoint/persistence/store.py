"""Durable station state in SQLite (WAL, synchronous=FULL): the outgoing message queue, open transactions,
meter registers and small key/value records (adapter state, local list, settings).

Every write is its own committed transaction, so a SIGKILL or power loss at any instant leaves either the state
before or after the write, never a torn one.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chargepoint.persistence.codec import decode_action, encode_action
from chargepoint.station.actions import Action

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
"""


@dataclass(frozen=True)
class QueuedMessage:
    seq: int
    action: Action
    offline: bool
    attempts: int


class StoreError(RuntimeError):
    pass


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
        cur = self._db.execute(
            "INSERT INTO queue (body, offline, created) VALUES (?, ?, ?)",
            (json.dumps(encode_action(action)), int(offline), time.time()),
        )
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
