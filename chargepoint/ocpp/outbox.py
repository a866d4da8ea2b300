"""The session's outgoing message queue: what the station model produces becomes queue items, transaction messages
and security events are written to disk before they can be sent, and the head of the queue is sent with the
retry rules (one CALL in flight). A mixin of :class:`chargepoint.ocpp.session.StationSession`, which owns the loops.

Rules (docs/reliability.md): transaction messages (and security events) are persisted and retried up to the
configured attempts at ``attempt x RetryInterval``; other messages are sent once. While offline, status and
non-transaction meter values wait only under QueueAllMessages (minus MessageTypesDiscardForQueueing), and an
Authorize is decided locally. Above the size threshold the oldest non-transaction messages go first, then
intermediate meter values; transaction starts and ends and security events are never dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from websockets.exceptions import ConnectionClosed

from chargepoint.persistence.store import StationStore
from chargepoint.station.actions import (
    Action,
    AuthorizeRequest,
    MeterValuesReport,
    RebootRequested,
    SecurityEvent,
    StatusChanged,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from chargepoint.station.core import Station
from chargepoint.station.recovery import snapshot

log = logging.getLogger("chargepoint.session")

TX_ACTIONS = (TransactionStarted, TransactionUpdated, TransactionEnded)
# Messages that wait on disk while the CSMS is unreachable and are retried like transaction messages.
PERSISTED_ACTIONS = (*TX_ACTIONS, SecurityEvent)


@dataclass
class QueueItem:
    action: Action
    seq: int | None = None  # row in the persistent queue (transaction messages only)
    offline: bool = False  # produced while the CSMS was unreachable (2.x TransactionEvent.offline)


class OutboxMixin:
    station: Station
    store: StationStore | None
    adapter: Any
    subprotocol: str | None
    listeners: list[Callable[[Action], None]]
    dropped_messages: int
    _outbox: deque[QueueItem]
    _status_latest: dict[tuple[int, int], StatusChanged]
    _wake: asyncio.Event
    _stopping: asyncio.Event

    if TYPE_CHECKING:
        @property
        def online(self) -> bool: ...

        def save_availability(self) -> None: ...

        async def _sleep(self, seconds: float) -> None: ...

    def pending_actions(self) -> int:
        return len(self._outbox)

    def transaction_messages_queued(self, tx_id: str | None = None) -> bool:
        """Whether transaction messages (of ``tx_id``; of any transaction without one) wait in the queue, the one in
        flight included: not acknowledged by the CSMS yet (2.x GetTransactionStatus messagesInQueue)."""
        return any(isinstance(i.action, TX_ACTIONS) and tx_id in (None, i.action.tx_id) for i in self._outbox)

    def _enqueue(self, actions: list[Action]) -> None:
        self.save_availability()  # stored before any status that reports it can be queued
        for a in actions:
            for fn in self.listeners:
                fn(a)
            if isinstance(a, PERSISTED_ACTIONS):
                self._outbox.append(self._persist(a))
            elif isinstance(a, RebootRequested):
                self._outbox.append(QueueItem(a))
            elif isinstance(a, AuthorizeRequest) and not self.online:
                self.station.authorize_result(a.ref, None)  # offline: local policy decides
                self._enqueue(self.station.drain())
            elif isinstance(a, StatusChanged):
                key = (a.evse_id, a.connector_id)
                self._status_latest[key] = a
                if self.online or self._queue_offline(a):
                    self._outbox.append(QueueItem(a, offline=not self.online))
            elif isinstance(a, MeterValuesReport) and not self.online and not self._queue_offline(a):
                continue  # non-transaction meter values are not queued while offline (unless QueueAllMessages)
            else:
                self._outbox.append(QueueItem(a, offline=not self.online))
        self._enforce_queue_limit()
        if actions:
            self._wake.set()

    def _queue_offline(self, a: Action) -> bool:
        """2.x QueueAllMessages / MessageTypesDiscardForQueueing for messages that are not transaction-related."""
        s = self.station.settings
        if not s.queue_all_messages:
            return False
        name = {StatusChanged: "StatusNotification", MeterValuesReport: "MeterValues"}.get(type(a), type(a).__name__)
        return name not in s.message_types_discard_for_queueing

    def _enforce_queue_limit(self) -> None:
        """Keep the queue under its size threshold: drop the oldest non-transaction messages first, then the oldest
        intermediate meter values. Transaction starts and ends and security events are never dropped."""
        limit = max(10, self.station.settings.queue_max_messages)
        if len(self._outbox) <= limit:
            return
        for kinds in ((StatusChanged, MeterValuesReport), (TransactionUpdated,)):
            for item in list(self._outbox)[1:]:  # the head may be in flight
                if len(self._outbox) <= limit:
                    return
                if isinstance(item.action, kinds) and not (
                    isinstance(item.action, TransactionUpdated) and not item.action.samples
                ):
                    self._outbox.remove(item)
                    self.dropped_messages += 1
                    if item.seq is not None and self.store is not None:
                        self.store.ack(item.seq)
        if len(self._outbox) > limit:
            log.error("message queue holds %d messages, above its threshold %d, none of them droppable",
                      len(self._outbox), limit)

    def _persist(self, a: Action) -> QueueItem:
        """Write a transaction message (and the transaction's snapshot) or a security event to disk before it can be
        sent."""
        item = QueueItem(a, offline=not self.online)
        if self.store is None:
            return item
        if isinstance(a, SecurityEvent):
            with self.store.atomic():
                item.seq = self.store.enqueue(a, offline=item.offline)
            return item
        assert isinstance(a, TX_ACTIONS)
        with self.store.atomic():
            item.seq = self.store.enqueue(a, offline=item.offline)
            if isinstance(a, TransactionEnded):
                self.store.delete_transaction(a.tx_id)
            else:
                tx = self.station.find_tx(a.tx_id)
                if tx is not None:
                    self.store.save_transaction(tx.tx_id, snapshot(tx))
            r = self.station.reading(a.evse_id)
            self.store.put(f"registers:{a.evse_id}", [r.import_wh, r.export_wh])
        return item

    async def _send(self, item: QueueItem) -> None:
        action = item.action
        settings = self.station.settings
        attempts = max(1, settings.transaction_message_attempts)
        for attempt in range(1, attempts + 1):
            try:
                if item.offline and hasattr(self.adapter, "dispatch_offline"):
                    await self.adapter.dispatch_offline(action)
                else:
                    await self.adapter.dispatch(action)
                break
            except (ConnectionClosed, asyncio.CancelledError):  # the connection is going down
                if isinstance(action, AuthorizeRequest):
                    # The driver is waiting at the connector: decide now, as offline (local list, cache, policy),
                    # and do not ask again after the reconnect - that answer would reach nobody. A no-op when the
                    # adapter already decided.
                    self._outbox.popleft()
                    self.station.authorize_result(action.ref, None)
                    self._enqueue(self.station.drain())
                raise
            except TimeoutError:
                # (1.6 §4.10 / 2.x E08 style) unanswered or answered with CALLERROR: wait attempt x RetryInterval,
                # then send again, up to the configured attempts; then the message is discarded.
                log.warning("%s: no valid response (attempt %d/%d)", type(action).__name__, attempt, attempts)
                if not isinstance(action, PERSISTED_ACTIONS):
                    break
                if item.seq is not None and self.store is not None:
                    self.store.count_attempt(item.seq)
                if attempt < attempts:
                    await self._sleep(settings.transaction_message_retry_interval_s * attempt)
                    if self._stopping.is_set():
                        return
        else:
            self.dropped_messages += 1
            log.error("giving up on %s after %d attempts", type(action).__name__, attempts)
            abandoned = getattr(self.adapter, "message_abandoned", None)
            if abandoned is not None:
                abandoned(action)
        self._outbox.popleft()
        if item.seq is not None and self.store is not None:
            with self.store.atomic():
                self.store.ack(item.seq)
                if hasattr(self.adapter, "persistent_state"):
                    self.store.put(f"adapter:{self.subprotocol}", self.adapter.persistent_state())
        self._enqueue(self.station.drain())
