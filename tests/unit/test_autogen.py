"""The automatic transaction generator (chargepoint/autogen.py) on the station model in virtual time."""

from __future__ import annotations

from collections import Counter

import pytest

from chargepoint.autogen import AutoSessions, AutoTiming, Phase
from chargepoint.clock import VirtualClock
from chargepoint.persistence.store import StationStore
from chargepoint.station.actions import Action, AuthorizeRequest, TransactionEnded, TransactionStarted
from chargepoint.station.core import Station
from chargepoint.station.recovery import restore, snapshot
from chargepoint.station.types import AuthInfo, AuthStatus, StopReason
from hil.emulators.direct_dc import DirectDcPort

FAST = AutoTiming(idle_s=(0.5, 2.0), token_s=(0.2, 1.0), charge_s=(2.0, 6.0), unplug_s=(0.2, 1.0),
                  start_timeout_s=5.0)


class Bench:
    def __init__(self, evses: int = 2, accept: bool = True) -> None:
        self.clock = VirtualClock()
        self.ports = {i: DirectDcPort(handshake_s=0.2, stop_s=0.2) for i in range(1, evses + 1)}
        self.station = Station({i: [p] for i, p in self.ports.items()}, self.clock)
        self.station.set_online(True)
        self.accept = accept
        self.actions: list[tuple[float, Action]] = []

    def generator(self, **kw: object) -> AutoSessions:
        tokens = {i: f"TAG-{i}" for i in self.ports}
        return AutoSessions(self.station, self.ports, tokens, **kw)  # type: ignore[arg-type]

    def run(self, gen: AutoSessions, seconds: float) -> None:
        for _ in range(round(seconds * 10)):
            gen.step(self.clock.monotonic())
            self.clock.advance(0.1)
            for a in self.station.tick():
                self.actions.append((self.clock.monotonic(), a))
                if isinstance(a, AuthorizeRequest):
                    status = AuthStatus.ACCEPTED if self.accept else AuthStatus.INVALID
                    self.station.authorize_result(a.ref, AuthInfo(status))

    def of(self, kind: type) -> list[Action]:
        return [a for _, a in self.actions if isinstance(a, kind)]


def test_sessions_repeat_on_every_evse_and_stop_both_ways() -> None:
    b = Bench(evses=2)
    gen = b.generator(seed=1, timing=FAST)
    b.run(gen, 120)
    started = b.of(TransactionStarted)
    ended = b.of(TransactionEnded)
    assert len(started) >= 12 and {a.evse_id for a in started} == {1, 2}  # type: ignore[union-attr]
    assert gen.started == len(started)
    reasons = Counter(a.reason for a in ended)  # type: ignore[union-attr]
    assert reasons[StopReason.LOCAL] > 0 and reasons[StopReason.EV_DISCONNECTED] > 0
    assert set(reasons) <= {StopReason.LOCAL, StopReason.EV_DISCONNECTED}
    assert gen.stops["token"] == reasons[StopReason.LOCAL]
    # each transaction charged: its end register is above its start register
    starts = {a.tx_id: a.meter_start_wh for a in started}  # type: ignore[union-attr]
    assert all(e.meter_stop_wh > starts[e.tx_id] for e in ended)  # type: ignore[union-attr]


def test_same_seed_same_sessions_other_seed_other_sessions() -> None:
    def timeline(seed: int) -> list[tuple[float, int, str]]:
        b = Bench()
        b.run(b.generator(seed=seed, timing=FAST), 60)
        return [(round(t, 1), a.evse_id, type(a).__name__) for t, a in b.actions
                if isinstance(a, TransactionStarted | TransactionEnded)]

    assert timeline(7) == timeline(7)
    assert timeline(7) != timeline(8)


def test_limit_then_idle_with_every_car_gone() -> None:
    b = Bench(evses=3)
    gen = b.generator(seed=2, limit=5, timing=FAST)
    b.run(gen, 120)
    assert len(b.of(TransactionStarted)) == 5 == len(b.of(TransactionEnded)) == gen.started
    assert gen.done and all(c.phase == Phase.DONE for c in gen.cars.values())
    assert all(b.station.evses[i].connector.state.phase == "unplugged" for i in b.ports)  # type: ignore[union-attr]


def test_a_refused_token_gives_up_and_tries_again_later() -> None:
    b = Bench(evses=1, accept=False)
    gen = b.generator(seed=3, timing=FAST)
    b.run(gen, 30)
    assert b.of(TransactionStarted) == []
    assert len(b.of(AuthorizeRequest)) >= 2  # tried, unplugged after start_timeout_s, came back


def _restarted(b: Bench, store: StationStore, resume_share: float, limit: int | None = None,
               ) -> tuple[Bench, AutoSessions, str]:
    """Simulate a restart: a new station over new ports (the cars are gone until the generator plugs them in)
    that recovers the open transaction from the store."""
    (evse,) = [e for e in b.station.evses.values() if e.tx is not None][:1]
    assert evse.tx is not None
    tx_id = evse.tx.tx_id
    store.save_transaction(tx_id, snapshot(evse.tx))
    b2 = Bench(evses=len(b.ports))
    timing = AutoTiming(**{**FAST.__dict__, "resume_share": resume_share})
    gen = b2.generator(seed=4, timing=timing, store=store, limit=limit)
    gen.resume(store.transactions(), b2.clock.monotonic())  # before the session starts
    restore(b2.station, store.transactions())  # what StationSession.recover() does
    return b2, gen, tx_id


@pytest.mark.parametrize(("resume_share", "continues"), [(1.0, True), (0.0, False)])
def test_after_a_restart_the_recovered_transaction_continues_or_ends_with_power_loss(
        resume_share: float, continues: bool) -> None:
    store = StationStore()
    b = Bench(evses=1)
    gen = b.generator(seed=4, timing=FAST, store=store)
    for _ in range(200):  # until a transaction runs
        b.run(gen, 0.5)
        if b.station.evses[1].tx is not None and b.station.evses[1].tx.authorized:
            break
    b2, gen2, tx_id = _restarted(b, store, resume_share)
    assert gen2.boots == 2 and gen2.started == 1  # persisted across the restart
    b2.run(gen2, 60)
    ended = [a for a in b2.of(TransactionEnded) if a.tx_id == tx_id]  # type: ignore[union-attr]
    assert len(ended) == 1
    if continues:
        assert ended[0].reason in (StopReason.LOCAL, StopReason.EV_DISCONNECTED)  # type: ignore[union-attr]
    else:
        assert ended[0].reason == StopReason.POWER_LOSS  # type: ignore[union-attr]
    # and the generator carried on with new transactions
    assert [a for a in b2.of(TransactionStarted) if a.tx_id != tx_id]  # type: ignore[union-attr]


def test_limit_counts_transactions_of_earlier_runs() -> None:
    store = StationStore()
    b = Bench(evses=1)
    gen = b.generator(seed=5, timing=FAST, store=store, limit=3)
    for _ in range(200):
        b.run(gen, 0.5)
        if gen.started == 2 and b.station.evses[1].tx is not None:
            break
    b2, gen2, _ = _restarted(b, store, 1.0, limit=3)
    b2.run(gen2, 60)
    assert gen2.started == 3 and len(b2.of(TransactionStarted)) == 1 and gen2.done


def test_timing_is_validated() -> None:
    with pytest.raises(ValueError, match="charge_s"):
        AutoTiming(charge_s=(5.0, 1.0))
    with pytest.raises(ValueError, match="token_stop_share"):
        AutoTiming(token_stop_share=1.5)
