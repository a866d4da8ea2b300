"""Snapshots of open transactions for crash recovery, and their restoration after a restart.

A restored transaction is marked ``recovered``: on the first tick the station continues it when the car is still
connected, and otherwise ends it with ``PowerLoss``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chargepoint.station.core import Station, Transaction
from chargepoint.station.types import ChargingState, IdToken


def snapshot(tx: Transaction) -> dict[str, Any]:
    return {
        "tx_id": tx.tx_id,
        "evse_id": tx.evse_id,
        "connector_id": tx.connector_id,
        "id_token": None if tx.id_token is None else {"id": tx.id_token.id, "type": tx.id_token.type},
        "started_at": tx.started_at.isoformat(),
        "meter_start_wh": tx.meter_start_wh,
        "export_start_wh": tx.export_start_wh,
        "authorized": tx.authorized,
        "remote_start_id": tx.remote_start_id,
        "charging_state": tx.charging_state.value,
        "parent_id": tx.parent_id,
    }


def restore(station: Station, records: list[dict[str, Any]]) -> list[Transaction]:
    """Put open transactions back on their EVSEs. Unknown EVSEs are skipped (and returned nowhere)."""
    restored: list[Transaction] = []
    mono = station.clock.monotonic()
    for r in records:
        evse = station.evses.get(int(r["evse_id"]))
        if evse is None or evse.tx is not None:
            continue
        token = r.get("id_token")
        tx = Transaction(
            tx_id=r["tx_id"],
            evse_id=evse.id,
            connector_id=int(r["connector_id"]),
            id_token=IdToken(token["id"], token.get("type", "ISO14443")) if token else None,
            started_mono=mono,
            started_at=datetime.fromisoformat(r["started_at"]),
            meter_start_wh=float(r["meter_start_wh"]),
            export_start_wh=float(r["export_start_wh"]),
            authorized=bool(r["authorized"]),
            remote_start_id=r.get("remote_start_id"),
            charging_state=ChargingState(r.get("charging_state", "EVConnected")),
            parent_id=r.get("parent_id"),
            recovered=True,
        )
        if station.settings.sample_interval_s > 0:
            tx.next_sample_mono = mono + station.settings.sample_interval_s
        evse.tx = tx
        restored.append(tx)
    return restored
