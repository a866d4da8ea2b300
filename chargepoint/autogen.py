"""Automatic transaction generator: emulated cars that arrive, charge and leave, again and again.

For every EVSE whose port has an emulated car (a port with ``plug_in`` / ``unplug``) it repeats::

    unplugged, wait --> plug in --> present the EVSE's token --> transaction runs for a random time -->
    stop: unplug (EVDisconnected), or present the same token (Local) and unplug a little later --> wait ...

Every time and every choice comes from one ``random.Random`` seeded with ``seed`` and the station's boot count, so a
run is reproducible for a seed (up to the timing of the CSMS's answers). With ``limit`` it starts no more than that
many transactions (counted across restarts when a store is given), lets the running ones finish and then idles.

Sans-I/O: :meth:`AutoSessions.step` takes the monotonic time and acts on the station model and the ports; the
caller runs it every 100 ms or so. It never sleeps or touches a socket.

Restarts: before the session starts, :meth:`AutoSessions.resume` gets the open transactions the station will recover
from its store. For each, either the car is still there (plugged in again at once, probability ``resume_share``):
the station continues the transaction on its first tick and the generator stops it later like any other; or the
car is gone and the station ends the transaction with PowerLoss. Either way the generator carries on from there.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from chargepoint.station.core import Station
from chargepoint.station.types import IdToken

log = logging.getLogger("chargepoint.autogen")

STORE_KEY = "autogen"


class Plug(Protocol):
    def plug_in(self) -> None: ...

    def unplug(self) -> None: ...


class KeyValueStore(Protocol):
    """The part of :class:`chargepoint.persistence.store.StationStore` the generator uses."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def put(self, key: str, value: Any) -> None: ...


@dataclass(frozen=True)
class AutoTiming:
    """Random ranges (seconds, uniform) and shares of the generator."""

    idle_s: tuple[float, float] = (5.0, 30.0)  # unplugged between two sessions
    token_s: tuple[float, float] = (0.5, 3.0)  # plugged in -> token presented
    charge_s: tuple[float, float] = (20.0, 120.0)  # transaction started -> stop
    unplug_s: tuple[float, float] = (0.5, 3.0)  # stopped by token (or by the station) -> unplugged
    start_timeout_s: float = 30.0  # token presented and no transaction yet: give up, unplug, try again later
    token_stop_share: float = 0.5  # stops by the same token; the rest by unplugging
    resume_share: float = 0.7  # after a restart, the car of a recovered transaction is still there

    def __post_init__(self) -> None:
        for name in ("idle_s", "token_s", "charge_s", "unplug_s"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise ValueError(f"{name}: need 0 <= min <= max, got {lo}..{hi}")
        for name in ("token_stop_share", "resume_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name}: must be within 0..1")


class Phase(StrEnum):
    IDLE = "idle"  # unplugged until ``due``
    PLUGGED = "plugged"  # token at ``due``
    AUTHORIZING = "authorizing"  # token presented; give up at ``due``
    CHARGING = "charging"  # our transaction runs; stop at ``due``
    LEAVING = "leaving"  # transaction over (or stopping), car still plugged; unplug at ``due``
    DONE = "done"  # the limit is reached: unplugged for good


@dataclass
class _Car:
    evse_id: int
    plug: Plug
    token: IdToken
    phase: Phase = Phase.IDLE
    due: float = 0.0
    tx_id: str | None = None
    seen: bool = False  # the station showed ``tx_id`` on this EVSE (a resumed one appears once it is restored)


class AutoSessions:
    """See the module docstring. ``plugs``: EVSE id -> its emulated car's plug; ``tokens``: EVSE id -> id token."""

    def __init__(
        self,
        station: Station,
        plugs: Mapping[int, Plug],
        tokens: Mapping[int, str],
        *,
        seed: int = 0,
        limit: int | None = None,
        timing: AutoTiming | None = None,
        store: KeyValueStore | None = None,
    ) -> None:
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0")
        self.station = station
        self.timing = timing or AutoTiming()
        self.limit = limit
        self.store = store
        saved = (store.get(STORE_KEY) if store is not None else None) or {}
        self.boots = int(saved.get("boots", 0)) + 1
        #: transactions this generator started (all runs together when there is a store)
        self.started = int(saved.get("started", 0))
        self.stops = {"unplug": 0, "token": 0, "station": 0}
        self.rng = random.Random(seed * 1_000_003 + self.boots)
        self.cars = {
            evse_id: _Car(evse_id, plug, IdToken(tokens[evse_id]))
            for evse_id, plug in sorted(plugs.items())
            if evse_id in station.evses
        }
        self._started_at: float | None = None
        self._done_logged = False
        self._save()

    # ------------------------------------------------------------------ helpers
    def _draw(self, span: tuple[float, float]) -> float:
        return self.rng.uniform(*span)

    def _save(self) -> None:
        if self.store is not None:
            self.store.put(STORE_KEY, {"boots": self.boots, "started": self.started})

    @property
    def done(self) -> bool:
        """The limit is reached and every car has left."""
        return all(c.phase == Phase.DONE for c in self.cars.values())

    def _claimed(self) -> int:
        return self.started + sum(c.phase in (Phase.PLUGGED, Phase.AUTHORIZING) for c in self.cars.values())

    # ------------------------------------------------------------------ driving
    def step(self, now: float) -> None:
        """Advance every car to monotonic time ``now``."""
        self._begin(now)
        for car in self.cars.values():
            self._step_car(car, now)
        if self.done and not self._done_logged:
            self._done_logged = True
            log.info("auto-sessions: %d transaction(s) started; idle from now on", self.started)

    def _begin(self, now: float) -> None:
        if self._started_at is None:
            self._started_at = now
            for car in self.cars.values():
                car.due = now + self._draw(self.timing.token_s)  # the first cars arrive soon after the start

    def resume(self, open_transactions: list[dict[str, Any]], now: float) -> None:
        """Before the session starts (and before the station's first tick): decide, for every open transaction the
        station is going to recover (``StationStore.transactions()`` records), whether its car is still there."""
        self._begin(now)
        for record in open_transactions:
            car = self.cars.get(int(record["evse_id"]))
            if car is None:
                continue
            if self.rng.random() >= self.timing.resume_share:
                log.info("auto-sessions: EVSE %d: the car of transaction %s left while the station was down",
                         car.evse_id, record["tx_id"])
                car.phase, car.due = Phase.IDLE, now + self._draw(self.timing.idle_s)
                continue
            car.plug.plug_in()
            car.tx_id, car.seen = str(record["tx_id"]), False
            car.phase, car.due = Phase.CHARGING, now + self._draw(self.timing.charge_s)
            log.info("auto-sessions: EVSE %d: the car of transaction %s is still there", car.evse_id, car.tx_id)

    def _step_car(self, car: _Car, now: float) -> None:
        t = self.timing
        tx = self.station.evses[car.evse_id].tx
        if car.phase == Phase.IDLE and now >= car.due:
            if self.limit is not None and self._claimed() >= self.limit:
                car.phase = Phase.DONE
                return
            car.plug.plug_in()
            car.phase, car.due = Phase.PLUGGED, now + self._draw(t.token_s)
        elif car.phase == Phase.PLUGGED and now >= car.due:
            self.station.present_token(car.evse_id, car.token)
            car.phase, car.due = Phase.AUTHORIZING, now + t.start_timeout_s
        elif car.phase == Phase.AUTHORIZING:
            if tx is not None and tx.authorized and not tx.ended:
                car.tx_id, car.seen = tx.tx_id, True
                self.started += 1
                self._save()
                car.phase, car.due = Phase.CHARGING, now + self._draw(t.charge_s)
            elif now >= car.due:
                log.info("auto-sessions: EVSE %d: no transaction %.0f s after the token; unplugging", car.evse_id,
                         t.start_timeout_s)
                self._leave(car, now)
        elif car.phase == Phase.CHARGING:
            ours = tx is not None and tx.tx_id == car.tx_id and not tx.ended
            car.seen = car.seen or ours
            if not ours and car.seen:
                self.stops["station"] += 1  # ended by the station: fault, the CSMS, the car ...
                car.phase, car.due = Phase.LEAVING, now + self._draw(t.unplug_s)
            elif now >= car.due:
                if ours and self.rng.random() < t.token_stop_share:
                    self.stops["token"] += 1
                    self.station.present_token(car.evse_id, car.token)
                    car.phase, car.due = Phase.LEAVING, now + self._draw(t.unplug_s)
                else:
                    self.stops["unplug"] += 1
                    self._leave(car, now)
        elif car.phase == Phase.LEAVING and now >= car.due:
            self._leave(car, now)

    def _leave(self, car: _Car, now: float) -> None:
        car.plug.unplug()
        car.tx_id = None
        car.phase, car.due = Phase.IDLE, now + self._draw(self.timing.idle_s)

    def describe(self) -> dict[str, Any]:
        return {
            "seed_boot": self.boots,
            "started": self.started,
            "limit": self.limit,
            "stops": dict(self.stops),
            "phases": {c.evse_id: c.phase.value for c in self.cars.values()},
        }
