"""The SQLite store and transaction recovery, including a real SIGKILL of a writer process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chargepoint.clock import VirtualClock
from chargepoint.persistence.codec import decode_action, encode_action
from chargepoint.persistence.store import StationStore, StoreError
from chargepoint.station.actions import StatusChanged, TransactionEnded, TransactionStarted
from chargepoint.station.core import Station
from chargepoint.station.recovery import restore, snapshot
from chargepoint.station.types import (
    AuthInfo,
    AuthStatus,
    ConnectorStatus,
    FaultInfo,
    IdToken,
    Measurand,
    MeterSample,
    ReadingContext,
    SampledValue,
    StopReason,
    TriggerReason,
)
from hil.emulators.direct_dc import DirectDcPort


def _ended() -> TransactionEnded:
    sample = MeterSample(datetime(2026, 1, 1, tzinfo=UTC),
                         (SampledValue(Measurand.ENERGY_IMPORT_REGISTER, 1234.5, ReadingContext.TRANSACTION_END),))
    return TransactionEnded("tx-1", 1, 1, IdToken("TAG"), 1234.5, StopReason.LOCAL, TriggerReason.STOP_AUTHORIZED,
                            (sample,))


def test_codec_round_trips_every_field() -> None:
    for action in (_ended(), StatusChanged(2, 1, ConnectorStatus.FAULTED, FaultInfo("GroundFailure", "x"))):
        assert decode_action(json.loads(json.dumps(encode_action(action)))) == action


def test_queue_keeps_order_across_reopen(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    store = StationStore(db)
    seqs = [store.enqueue(_ended(), offline=i % 2 == 0) for i in range(5)]
    store.ack(seqs[0])
    store.count_attempt(seqs[1])
    store.close()
    store = StationStore(db)
    queued = store.queued()
    assert [m.seq for m in queued] == seqs[1:]
    assert queued[0].attempts == 1 and queued[0].offline is False and queued[1].offline is True
    assert all(m.action == _ended() for m in queued)


def test_atomic_rolls_back_on_error(tmp_path: Path) -> None:
    store = StationStore(tmp_path / "s.sqlite")
    with pytest.raises(RuntimeError), store.atomic():
        store.enqueue(_ended())
        store.save_transaction("tx-1", {"a": 1})
        raise RuntimeError("crash in the middle")
    assert store.queue_length() == 0 and store.transactions() == []


def test_corrupt_database_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open the station database"):
        StationStore(db)


def _station(port: DirectDcPort) -> tuple[Station, VirtualClock]:
    clock = VirtualClock()
    st = Station({1: [port]}, clock)
    st.set_online(True)
    return st, clock


def _run(st: Station, clock: VirtualClock, seconds: float) -> list[object]:
    out: list[object] = []
    for _ in range(round(seconds * 10)):
        clock.advance(0.1)
        out += st.tick()
    return out


def _start_session(st: Station, clock: VirtualClock, port: DirectDcPort) -> str:
    port.plug_in()
    st.present_token(1, IdToken("TAG"))
    st.authorize_result(st.drain()[0].ref, AuthInfo(AuthStatus.ACCEPTED))  # type: ignore[attr-defined]
    out = _run(st, clock, 5)
    return next(a.tx_id for a in out if isinstance(a, TransactionStarted))


def test_recovered_transaction_continues_when_the_car_is_still_there() -> None:
    port = DirectDcPort()
    st, clock = _station(port)
    tx_id = _start_session(st, clock, port)
    record = snapshot(st.find_tx(tx_id))  # type: ignore[arg-type]
    # "restart": a new station over the same (still plugged) connector
    st2, clock2 = _station(port)
    restore(st2, [json.loads(json.dumps(record))])
    out = _run(st2, clock2, 3)
    assert not [a for a in out if isinstance(a, TransactionEnded)]
    assert st2.find_tx(tx_id) is not None and st2.reading(1).current_a > 0


def test_recovered_transaction_ends_with_power_loss_when_the_car_left() -> None:
    port = DirectDcPort()
    st, clock = _station(port)
    tx_id = _start_session(st, clock, port)
    record = snapshot(st.find_tx(tx_id))  # type: ignore[arg-type]
    meter_before = st.reading(1).import_wh
    fresh = DirectDcPort()  # after a real power loss the emulated car is gone
    fresh.restore_registers(meter_before, 0.0)
    st2, clock2 = _station(fresh)
    restore(st2, [record])
    out = _run(st2, clock2, 1)
    ended = [a for a in out if isinstance(a, TransactionEnded)]
    assert len(ended) == 1 and ended[0].tx_id == tx_id and ended[0].reason == StopReason.POWER_LOSS
    assert ended[0].meter_stop_wh >= meter_before  # registers stay monotonic across the restart


WRITER = textwrap.dedent(
    """
    import sys
    from chargepoint.persistence.store import StationStore
    from chargepoint.station.actions import StatusChanged
    from chargepoint.station.types import ConnectorStatus
    store = StationStore(sys.argv[1])
    i = 0
    while True:
        with store.atomic():
            store.enqueue(StatusChanged(1, 1, ConnectorStatus.CHARGING))
            store.save_transaction("tx", {"n": i})
        i += 1
        if i == 50:
            print("ready", flush=True)
    """
)


def test_sigkill_mid_write_leaves_a_consistent_store(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    store = StationStore(db)
    n = store.queue_length()
    (tx,) = store.transactions()
    # each iteration wrote one queue row and the matching snapshot atomically: counts agree exactly
    assert n >= 50 and tx["n"] == n - 1
