"""The asyncio driver around the station model and one OCPP adapter.

It owns three loops: the station tick (time -> actions, runs online or offline), the connection (connect, boot,
heartbeat, reconnect with back-off) and the action pump (actions -> adapter CALLs, one at a time). Transaction
messages produced while offline wait in order until the CSMS has accepted the next BootNotification.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from websockets.exceptions import ConnectionClosed

from chargepoint.ocpp.base import AdapterBase, BootOutcome, StationIdentity
from chargepoint.ocpp.outbox import OutboxMixin, QueueItem
from chargepoint.ocpp.transport import Backoff, TransportConfig, TransportError, open_connection
from chargepoint.persistence.store import StationStore
from chargepoint.station.actions import (
    Action,
    RebootRequested,
    SecurityEvent,
    StatusChanged,
)
from chargepoint.station.core import Station
from chargepoint.station.recovery import restore
from chargepoint.station.types import ConnectorStatus, ResetKind

log = logging.getLogger("chargepoint.session")

ADAPTERS = {
    "ocpp1.6": "chargepoint.ocpp.v16:V16Adapter",
    "ocpp2.0.1": "chargepoint.ocpp.v201:V201Adapter",
    "ocpp2.1": "chargepoint.ocpp.v21:V21Adapter",
}

REGISTER_SAVE_S = 5.0
STABLE_CONNECTION_S = 30.0


@dataclass
class _Switch:
    """A requested change of connection parameters (see :meth:`StationSession.request_reconnect`)."""

    new: TransportConfig
    fallback: TransportConfig
    on_result: Callable[[bool], None] | None
    active: bool = False  # the session now connects with ``new`` and waits for the CSMS to accept it


def adapter_class(subprotocol: str) -> type[AdapterBase]:
    mod, _, name = ADAPTERS[subprotocol].partition(":")
    cls: type[AdapterBase] = getattr(importlib.import_module(mod), name)
    return cls


class StationSession(OutboxMixin):
    """Runs one station against one CSMS. ``await run()`` until ``stop()``."""

    def __init__(
        self,
        station: Station,
        transport: TransportConfig,
        identity: StationIdentity | None = None,
        tick_s: float = 0.1,
        response_timeout_s: float = 30.0,
        default_retry_s: int = 10,
        reboot_hook: Callable[[ResetKind], None] | None = None,
        store: StationStore | None = None,
    ) -> None:
        self.station = station
        self.transport = transport
        self.identity = identity or StationIdentity()
        self.tick_s = tick_s
        self.response_timeout_s = response_timeout_s
        self.default_retry_s = default_retry_s
        self.reboot_hook = reboot_hook
        self.adapter: Any = None
        self.subprotocol: str | None = None
        self._registration = "Pending"
        self._heartbeat_s = station.settings.heartbeat_interval_s
        self.store = store
        self._outbox: deque[QueueItem] = deque()
        self._status_latest: dict[tuple[int, int], StatusChanged] = {}
        # When the last accepted connection ended (loop time) and the statuses the CSMS had been told by then (B04)
        self._lost_at: float | None = None
        self._status_at_loss: dict[tuple[int, int], ConnectorStatus] = {}
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._connected = asyncio.Event()
        self._accepted = asyncio.Event()
        self._reboot: ResetKind | None = None
        self._boot_reason = "PowerUp"
        self._triggered_boot = False
        self._triggered_heartbeat = False
        self._last_sent = 0.0
        self._ws: Any = None
        self.backoff = Backoff(transport.backoff_initial_s, transport.backoff_max_s, transport.backoff_jitter)
        #: A connection must stay up this long after its BootNotification was accepted to start the back-off over.
        self.stable_connection_s = STABLE_CONNECTION_S
        self._accepted_at: float | None = None  # loop time the current connection was accepted
        self.connect_attempts = 0
        self.last_error: str | None = None
        self.time_offset_s: float | None = None
        self.listeners: list[Callable[[Action], None]] = []
        self.dropped_messages = 0
        #: The station's security state (chargepoint.ocpp.security_manager.SecurityManager), when there is one;
        #: adapters reach it through their hooks. With it the session also reports StartupOfTheDevice and
        #: ResetOrReboot security events.
        self.security: Any = None
        self._failure_events: set[str] = set()  # connection-failure events queued since the last registration
        self._switch: _Switch | None = None
        self._availability: dict[str, Any] | None = None  # the station's availability as last saved in the store

    # ------------------------------------------------------------- SessionHooks
    @property
    def registration_status(self) -> str:
        return self._registration

    def request_reboot(self, kind: ResetKind) -> None:
        self._reboot = kind
        self._wake.set()

    def trigger_boot(self) -> None:
        self._triggered_boot = True
        self._wake.set()

    def trigger_heartbeat(self) -> None:
        self._triggered_heartbeat = True
        self._wake.set()

    def set_heartbeat_interval(self, seconds: int) -> None:
        self._heartbeat_s = max(1, int(seconds))
        self.station.settings.heartbeat_interval_s = self._heartbeat_s

    def note_time(self, current_time: datetime) -> None:
        self.time_offset_s = (current_time - self.station.clock.now()).total_seconds()

    def request_reconnect(self, new_transport: TransportConfig, fallback: TransportConfig,
                          on_result: Callable[[bool], None] | None = None) -> None:
        """Close the connection and connect with ``new_transport`` (new password, security profile, certificate).

        If that connection is refused, or ends before the CSMS accepted a BootNotification on it, the session goes
        back to ``fallback`` at once and keeps using it. ``on_result(True)`` runs when the CSMS accepted the station
        on the new connection, ``on_result(False)`` after falling back. Call it after the answer to the CSMS request
        that caused it has been sent (an ``@after`` handler): the close does not wait for CALLs in flight.
        """
        if self._switch is not None and self._switch.active:
            self._finish_switch(False)
        self._switch = _Switch(new_transport, fallback, on_result)
        self._wake.set()

    def _activate_switch(self) -> None:
        if self._switch is not None and not self._switch.active:
            self._switch.active = True
            self.transport = self._switch.new
            log.info("connecting with new connection parameters (security profile %d)",
                     self.transport.security_profile)

    def _finish_switch(self, ok: bool) -> None:
        switch, self._switch = self._switch, None
        if switch is None:
            return
        if not ok:
            self.transport = switch.fallback
            log.warning("the new connection parameters did not work; back to the previous ones (security profile %d)",
                        self.transport.security_profile)
        if switch.on_result is not None:
            try:
                switch.on_result(ok)
            except Exception:
                log.exception("reconnect result handler failed")

    def security_event(self, kind: str, tech_info: str | None = None) -> None:
        """Queue a SecurityEventNotification (2.0.1 event name); persisted and sent once the CSMS accepted us."""
        self._enqueue([SecurityEvent(kind, tech_info[:255] if tech_info else None, self.station.clock.now())])

    # ------------------------------------------------------------- public
    @property
    def online(self) -> bool:
        return self._accepted.is_set()

    async def wait_accepted(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self._accepted.wait(), timeout)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def recover(self) -> None:
        """Reload queued messages, open transactions, meter registers and availability after a restart (idempotent)."""
        if self.store is None:
            return
        self._outbox = deque(QueueItem(m.action, m.seq, m.offline) for m in self.store.queued())
        for evse_id, evse in self.station.evses.items():
            regs = self.store.get(f"registers:{evse_id}")
            load = getattr(evse.connector.port, "restore_registers", None)
            if regs and load is not None:
                load(float(regs[0]), float(regs[1]))
        txs = restore(self.station, self.store.transactions())
        saved = self.store.get("availability")
        if saved:
            self.station.restore_availability(saved)
        self._availability = self.station.availability()
        if txs or self._outbox:
            log.info("recovered %d open transaction(s) and %d queued message(s)", len(txs), len(self._outbox))

    def save_registers(self) -> None:
        if self.store is None:
            return
        with self.store.atomic():
            for evse_id in self.station.evses:
                r = self.station.reading(evse_id)
                self.store.put(f"registers:{evse_id}", [r.import_wh, r.export_wh])

    def save_availability(self) -> None:
        """Store the station's availability when it changed (ChangeAvailability, a scheduled change taking effect;
        checked whenever the station's output is collected): a restart brings it back (:meth:`recover`)."""
        if self.store is None:
            return
        state = self.station.availability()
        if state != self._availability:
            self.store.put("availability", state)
            self._availability = state

    async def run(self) -> None:
        self.recover()
        if self.security is not None:
            self.security_event("StartupOfTheDevice")
        tick = asyncio.create_task(self._tick_loop(), name="station-tick")
        connection = asyncio.create_task(self._connection_loop(), name="connection")
        try:
            await asyncio.wait((tick, connection), return_when=asyncio.FIRST_COMPLETED)
            if tick.done() and not tick.cancelled() and (exc := tick.exception()) is not None:
                # The control loop is dead (e.g. the control-line bench vanished): a session that stays online
                # without it would look healthy while nothing drives the connectors. Fail loudly instead; the
                # process exits non-zero, a supervisor restarts it and recovery picks the transactions up.
                log.critical("station control loop failed: %s: %s; stopping the session", type(exc).__name__, exc)
                raise exc
            await connection
        finally:
            for t in (tick, connection):
                t.cancel()
            for t in (tick, connection):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            await self._close_ws()

    # ------------------------------------------------------------- tick
    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        next_save = deadline
        while not self._stopping.is_set():
            self._enqueue(self.station.tick())
            if loop.time() >= next_save:
                self.save_registers()
                next_save = loop.time() + REGISTER_SAVE_S
            deadline += self.tick_s
            now = loop.time()
            if deadline < now:  # overrun: skip missed ticks instead of bursting
                deadline = now + self.tick_s
            await asyncio.sleep(deadline - now)

    # ------------------------------------------------------------- connection
    async def _connection_loop(self) -> None:
        while not self._stopping.is_set():
            self.connect_attempts += 1
            self._activate_switch()
            try:
                self._ws = await open_connection(self.transport)
            except TransportError as e:
                self.last_error = str(e)
                if e.security_event is not None and e.security_event not in self._failure_events:
                    self._failure_events.add(e.security_event)  # once per kind until the next registration
                    self.security_event(e.security_event, str(e))
                if self._switch is not None and self._switch.active:
                    self._finish_switch(False)
                    continue  # straight back to the parameters that worked
                delay = self.backoff.next_delay()
                log.warning("connection failed: %s; retrying in %.1f s", e, delay)
                await self._sleep(delay)
                continue
            self.subprotocol = self._ws.subprotocol
            log.info("connected to %s with %s", self.transport.endpoint, self.subprotocol)
            self._connected.set()
            try:
                await self._serve_connection()
            except ConnectionClosed as e:
                self.last_error = f"connection closed: {e}"
                log.warning("connection to CSMS lost: %s", e)
            except Exception as e:  # a CSMS answer or frame the adapter could not cope with: drop the connection,
                self.last_error = f"connection failed: {type(e).__name__}: {e}"  # never the whole session
                log.exception("connection to CSMS abandoned after an unexpected error")
            finally:
                if self._accepted.is_set():
                    self._lost_at = asyncio.get_running_loop().time()
                    self._status_at_loss = {k: a.status for k, a in self._status_latest.items()}
                self._connected.clear()
                self._accepted.clear()
                self.station.set_online(False)
                await self._close_ws()
                self._connection_ended()
            if self._stopping.is_set():
                break
            if self._switch is not None:
                if self._switch.active:  # the new parameters never got us registered
                    self._finish_switch(False)
                continue  # reconnect at once, with the new parameters or back with the old ones
            if self._reboot is not None:
                kind, self._reboot = self._reboot, None
                self._after_reboot(kind)
                continue
            delay = self.backoff.next_delay()
            log.info("reconnecting in %.1f s", delay)
            await self._sleep(delay)

    def _connection_ended(self) -> None:
        """Start the back-off over only after a connection that the CSMS accepted and that then stayed up for
        :attr:`stable_connection_s`: a CSMS that accepts and hangs up at once gets the exponential schedule, not a
        reconnect per initial delay."""
        accepted_at, self._accepted_at = self._accepted_at, None
        if accepted_at is not None and asyncio.get_running_loop().time() - accepted_at >= self.stable_connection_s:
            self.backoff.reset()

    def _after_reboot(self, kind: ResetKind) -> None:
        self._boot_reason = "RemoteReset"
        self._lost_at = None  # a reboot reports every connector
        if self.reboot_hook is not None:
            self.reboot_hook(kind)
        if self.security is not None:
            self.security_event("ResetOrReboot", f"{kind.value} reset requested by the CSMS")
        log.info("reset (%s) done; booting again", kind.value)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _close_ws(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()

    async def _serve_connection(self) -> None:
        assert self.subprotocol is not None
        cls = adapter_class(self.subprotocol)
        self.adapter = cls(  # type: ignore[call-arg]
            self.transport.station_id, self._ws, self.station, self, self.identity,
            response_timeout=self.response_timeout_s,
        )
        if self.store is not None and hasattr(self.adapter, "load_persistent_state"):
            saved = self.store.get(f"adapter:{self.subprotocol}")
            if saved:
                self.adapter.load_persistent_state(saved)
        recv = asyncio.create_task(self.adapter.start(), name="ocpp-recv")
        work = asyncio.create_task(self._work(), name="ocpp-work")
        done, pending = await asyncio.wait({recv, work}, return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await t
        # Retrieve every finished task's exception before raising one: asyncio logs an unretrieved one ("Task
        # exception was never retrieved") whenever the garbage collector gets to it.
        errors = [t.exception() for t in done if not t.cancelled()]
        for exc in errors:
            if exc is not None:
                raise exc

    async def _boot(self) -> BootOutcome:
        reason = self._boot_reason
        while True:
            self._triggered_boot = False  # this BootNotification answers a TriggerMessage asking for one
            try:
                outcome: BootOutcome = await self.adapter.boot(reason)
            except TimeoutError:
                log.warning("BootNotification unanswered; retrying in %d s", self.default_retry_s)
                await self._sleep(self.default_retry_s)
                if self._stopping.is_set():
                    raise asyncio.CancelledError from None
                continue
            self._last_sent = asyncio.get_running_loop().time()
            self._registration = outcome.status
            if outcome.current_time is not None:
                self.note_time(outcome.current_time)
            log.info("BootNotification: %s (interval %s s)", outcome.status, outcome.interval)
            if outcome.status == "Accepted":
                return outcome
            retry = outcome.interval if outcome.interval > 0 else self.default_retry_s
            # While Pending the CSMS may configure us; a TriggerMessage(BootNotification) cuts the wait short.
            self._triggered_boot = False
            end = asyncio.get_running_loop().time() + retry
            while not self._triggered_boot and not self._stopping.is_set():
                left = end - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), left)
            if self._stopping.is_set():
                raise asyncio.CancelledError
            if self._reboot is not None:
                await self._ws.close()
                raise ConnectionClosed(None, None)
            if self._triggered_boot:
                reason = "Triggered"

    async def _work(self) -> None:
        outcome = await self._boot()
        if outcome.interval > 0:
            self.set_heartbeat_interval(outcome.interval)
        self._accepted_at = asyncio.get_running_loop().time()  # the back-off starts over once this lasts
        self._failure_events.clear()
        if self._switch is not None and self._switch.active:
            self._finish_switch(True)
        self.station.set_online(True)
        self._accepted.set()
        self._boot_reason = "PowerUp"
        # After (re)registration report the connectors, then whatever waited while offline.
        self._report_statuses()
        self._enqueue(self.station.drain())
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            # Clear before looking at the flags: a stop(), trigger or reboot request that arrives while a CALL below
            # is awaited sets _wake again and ends the wait at the bottom at once instead of being lost.
            self._wake.clear()
            if self._switch is not None and not self._switch.active:
                await self._ws.close()  # the connection loop reconnects with the new parameters
                return
            if self._triggered_boot:
                self._triggered_boot = False
                await self.adapter.boot("Triggered")
                self._last_sent = loop.time()
            if self._triggered_heartbeat or loop.time() - self._last_sent >= self._heartbeat_s:
                self._triggered_heartbeat = False
                t = await self.adapter.heartbeat()
                if t is not None:
                    self.note_time(t)
                self._last_sent = loop.time()
            if self._outbox:
                item = self._outbox[0]
                action = item.action
                if isinstance(action, RebootRequested):
                    self._outbox.popleft()
                    self.request_reboot(action.kind)
                    await self._answers_out()
                    if self.reboot_hook is None:
                        await self._ws.close()
                    return
                await self._send(item)
                self._last_sent = loop.time()
                continue
            if self._reboot is not None:
                await self._answers_out()
                await self._ws.close()
                return
            wait = max(0.05, self._heartbeat_s - (loop.time() - self._last_sent))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _answers_out(self, limit_s: float = 2.0) -> None:
        """Before a reboot closes the connection: let the answers to the CSMS CALLs being handled (the Reset that
        asked for it) reach the wire."""
        loop = asyncio.get_running_loop()
        end = loop.time() + limit_s
        while getattr(self.adapter, "answering", 0) and loop.time() < end:  # noqa: ASYNC110 - bounded, rare
            await asyncio.sleep(0.01)

    def _report_statuses(self) -> None:
        """Every connector's status after a boot or an outage; 2.x after an outage no longer than OfflineThreshold
        (B04) only those of the connectors whose status changed meanwhile and is not queued already."""
        lost_at, self._lost_at = self._lost_at, None
        if (lost_at is None or self.subprotocol == "ocpp1.6"
                or asyncio.get_running_loop().time() - lost_at > self.station.settings.offline_threshold_s):
            self._status_latest.clear()
            self.station.trigger_status()
            return
        queued = {(a.evse_id, a.connector_id) for a in (i.action for i in self._outbox) if isinstance(a, StatusChanged)}
        for key, latest in self._status_latest.items():
            if key not in queued and self._status_at_loss.get(key) != latest.status:
                self.station.trigger_status(key[0])
