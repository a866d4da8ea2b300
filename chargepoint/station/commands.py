"""Identification and CSMS commands of the station (a mixin of :class:`~chargepoint.station.core.Station`)."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from chargepoint.clock import Clock
from chargepoint.station.actions import AuthorizeRequest, RebootRequested
from chargepoint.station.auth import Authorizer
from chargepoint.station.model import Evse, PendingAuth, SetpointSource, Transaction, _AuthWait
from chargepoint.station.settings import StationSettings
from chargepoint.station.types import (
    AuthInfo,
    AuthStatus,
    CommandStatus,
    IdToken,
    ResetKind,
    StopReason,
    TriggerReason,
    UnlockResult,
)

if TYPE_CHECKING:
    from chargepoint.station.actions import Action
    from chargepoint.station.model import Connector


class StationCommands:
    clock: Clock
    settings: StationSettings
    auth: Authorizer
    evses: dict[int, Evse]
    operative: bool
    online: bool
    authorize_remote_start: bool
    energy: SetpointSource | None
    _refs: itertools.count[int]
    _auth_waits: dict[int, _AuthWait]
    _pending_station_operative: bool | None
    _pending_reset: ResetKind | None

    if TYPE_CHECKING:
        def evse(self, evse_id: int) -> Evse: ...
        def connector(self, evse_id: int, connector_id: int = 1) -> Connector: ...
        def transactions(self) -> list[Transaction]: ...
        def find_tx(self, tx_id: str) -> Transaction | None: ...
        def _emit(self, action: Action) -> None: ...
        def _end_tx(self, evse: Evse, reason: StopReason, trigger: TriggerReason,
                    stop_token: IdToken | None = None) -> None: ...
        def _is_operative(self, evse: Evse) -> bool: ...
        def _report_status(self, evse: Evse, force: bool = False) -> None: ...

    # ------------------------------------------------------------------ authorization
    def present_token(self, evse_id: int, id_token: IdToken) -> None:
        """A user presents an RFID card (or app token) at an EVSE."""
        evse = self.evse(evse_id)
        tx = evse.tx
        if tx is not None and tx.authorized:
            if tx.id_token is not None and tx.id_token.id == id_token.id:
                self._local_stop(evse)
                return
            # A different token may stop the session when it shares the parent id: ask before deciding.
            self._request_auth(evse.id, id_token, "stop")
            return
        if not self._is_operative(evse):
            return
        self._request_auth(evse.id, id_token, "start")

    def _request_auth(self, evse_id: int | None, id_token: IdToken, purpose: str,
                      remote_start_id: int | None = None) -> None:
        info = self.auth.local_decision(id_token.id, self.clock.now(), self.online)
        ref = next(self._refs)
        wait = _AuthWait(ref, evse_id, id_token, purpose, remote_start_id)
        if info is not None:
            self._apply_auth(wait, info)
            return
        self._auth_waits[ref] = wait
        if evse_id is not None and purpose != "stop":
            evse = self.evse(evse_id)
            evse.pending = PendingAuth(id_token, None, self.clock.monotonic() + self.settings.connection_timeout_s,
                                       remote_start_id, purpose == "remote_start")
        self._emit(AuthorizeRequest(ref, id_token))

    def authorize_result(self, ref: int, info: AuthInfo | None) -> None:
        """The CSMS answered an AuthorizeRequest (``None``: no answer, e.g. offline or time-out)."""
        wait = self._auth_waits.pop(ref, None)
        if wait is None:
            return
        if info is None:
            info = self.auth.local_decision(wait.id_token.id, self.clock.now(), online=False)
            if info is None:
                info = AuthInfo(AuthStatus.INVALID)
        else:
            self.auth.remember(wait.id_token.id, info)
        self._apply_auth(wait, info)

    def _apply_auth(self, wait: _AuthWait, info: AuthInfo) -> None:
        if wait.evse_id is None:
            return
        evse = self.evse(wait.evse_id)
        if wait.purpose == "stop":
            tx = evse.tx
            if tx is not None and info.accepted and tx.parent_id and info.parent_id == tx.parent_id:
                self._local_stop(evse, wait.id_token)
            return
        if not info.accepted:
            if evse.pending is not None and evse.pending.id_token == wait.id_token:
                evse.pending = None
            if evse.tx is not None and not evse.tx.authorized and self.settings.stop_transaction_on_invalid_id:
                self._end_tx(evse, StopReason.DE_AUTHORIZED, TriggerReason.DEAUTHORIZED)
            return
        evse.pending = PendingAuth(wait.id_token, info, self.clock.monotonic() + self.settings.connection_timeout_s,
                                   wait.remote_start_id, wait.purpose == "remote_start")

    def deauthorize(self, tx_id: str) -> None:
        """The CSMS answered a transaction's id token as not accepted (1.6 StartTransaction idTagInfo, 2.x)."""
        tx = self.find_tx(tx_id)
        if tx is None:
            return
        evse = self.evse(tx.evse_id)
        if self.settings.stop_transaction_on_invalid_id:
            self._end_tx(evse, StopReason.DE_AUTHORIZED, TriggerReason.DEAUTHORIZED)
        else:  # 1.6: "only stop energy delivery to the vehicle" (SuspendedEVSE)
            tx.authorized, tx.deauthorized = False, True
            evse.connector.port.set_session_enabled(False)

    def _local_stop(self, evse: Evse, stop_token: IdToken | None = None) -> None:
        self._end_tx(evse, StopReason.LOCAL, TriggerReason.STOP_AUTHORIZED, stop_token)

    # ------------------------------------------------------------------ remote commands
    def remote_start(self, id_token: IdToken, evse_id: int | None, remote_start_id: int | None = None) -> CommandStatus:
        """RemoteStartTransaction / RequestStartTransaction."""
        if evse_id is None:
            candidates = [e for e in self.evses.values() if (e.tx is None or not e.tx.authorized)
                          and self._is_operative(e) and e.connector.fault is None]
            if not candidates:
                return CommandStatus.REJECTED
            # a car already waiting in a not yet authorized transaction (EVConnected start point) goes first
            evse = min(candidates, key=lambda e: e.tx is None)
        else:
            if evse_id not in self.evses:
                return CommandStatus.REJECTED
            evse = self.evses[evse_id]
        if evse.tx is not None and evse.tx.authorized:
            return CommandStatus.REJECTED
        if not self._is_operative(evse) or evse.connector.fault is not None:
            return CommandStatus.REJECTED
        if self.authorize_remote_start:
            self._request_auth(evse.id, id_token, "remote_start", remote_start_id)
        else:
            self._apply_auth(_AuthWait(0, evse.id, id_token, "remote_start", remote_start_id),
                             AuthInfo(AuthStatus.ACCEPTED))
        return CommandStatus.ACCEPTED

    def remote_stop(self, tx_id: str) -> CommandStatus:
        tx = self.find_tx(tx_id)
        if tx is None:
            return CommandStatus.REJECTED
        self._end_tx(self.evse(tx.evse_id), StopReason.REMOTE, TriggerReason.REMOTE_STOP)
        return CommandStatus.ACCEPTED

    def stop_all(self, reason: StopReason, trigger: TriggerReason = TriggerReason.ABNORMAL_CONDITION) -> None:
        for evse in self.evses.values():
            if evse.tx is not None:
                self._end_tx(evse, reason, trigger)

    def unlock(self, evse_id: int, connector_id: int = 1) -> UnlockResult:
        try:
            conn = self.connector(evse_id, connector_id)
        except KeyError:
            return UnlockResult.UNKNOWN_CONNECTOR
        evse = self.evse(evse_id)
        if evse.tx is not None:
            self._end_tx(evse, StopReason.UNLOCK_COMMAND, TriggerReason.UNLOCK_COMMAND)
        return UnlockResult.UNLOCKED if conn.port.unlock() else UnlockResult.UNLOCK_FAILED

    def change_availability(self, operative: bool, evse_id: int | None = None,
                            connector_id: int | None = None) -> CommandStatus:
        """ChangeAvailability: evse_id None/0 = the whole station. Scheduled while a transaction runs."""
        if evse_id in (None, 0):
            targets = list(self.evses.values())
            self.operative = True if operative else self.operative
        else:
            if evse_id not in self.evses:
                return CommandStatus.REJECTED
            if connector_id not in (None, 0) and connector_id is not None:
                try:
                    self.connector(evse_id, connector_id)
                except KeyError:
                    return CommandStatus.REJECTED
            targets = [self.evses[evse_id]]
        scheduled = False
        for evse in targets:
            if evse.tx is not None and not operative:
                evse.pending_operative = operative
                scheduled = True
            else:
                evse.operative = operative
                evse.pending_operative = None
                if operative:
                    evse.connector.operative = True
        if evse_id in (None, 0):
            self._pending_station_operative = operative if scheduled else None
        if evse_id in (None, 0) and not scheduled:
            self.operative = operative
            if operative:
                for evse in targets:
                    evse.operative = True
        for evse in targets:
            self._report_status(evse)
        return CommandStatus.SCHEDULED if scheduled else CommandStatus.ACCEPTED

    def _apply_pending_availability(self, evse: Evse) -> None:
        if evse.pending_operative is not None and evse.tx is None:
            evse.operative = evse.pending_operative
            evse.pending_operative = None

    def availability(self) -> dict[str, Any]:
        """The operative state (ChangeAvailability) to keep across a restart, JSON-ready: the station, every EVSE
        and connector, and the changes still scheduled behind a running transaction."""
        return {
            "station": self.operative,
            "station_pending": self._pending_station_operative,
            "evses": {str(e.id): [e.operative, e.pending_operative] for e in self.evses.values()},
            "connectors": {f"{c.evse_id}/{c.connector_id}": c.operative
                           for e in self.evses.values() for c in e.connectors},
        }

    def restore_availability(self, record: dict[str, Any]) -> None:
        """Put back what :meth:`availability` returned before a restart (EVSEs and connectors no longer configured
        are skipped). The first tick reports the resulting status."""
        self.operative = bool(record.get("station", True))
        pending = record.get("station_pending")
        self._pending_station_operative = None if pending is None else bool(pending)
        for key, (operative, scheduled) in (record.get("evses") or {}).items():
            evse = self.evses.get(int(key))
            if evse is not None:
                evse.operative = bool(operative)
                evse.pending_operative = None if scheduled is None else bool(scheduled)
        for key, operative in (record.get("connectors") or {}).items():
            evse_id, _, connector_id = key.partition("/")
            try:
                self.connector(int(evse_id), int(connector_id)).operative = bool(operative)
            except (KeyError, ValueError):
                continue

    def reset(self, kind: ResetKind) -> CommandStatus:
        """Hard/Soft (1.6) and Immediate (2.x) stop running transactions now; OnIdle waits for them."""
        busy = bool(self.transactions())
        if kind == ResetKind.ON_IDLE and busy:
            self._pending_reset = kind
            return CommandStatus.SCHEDULED
        reason = {
            ResetKind.HARD: StopReason.HARD_RESET,
            ResetKind.SOFT: StopReason.SOFT_RESET,
            ResetKind.IMMEDIATE: StopReason.IMMEDIATE_RESET,
        }.get(kind, StopReason.REBOOT)
        self.stop_all(reason, TriggerReason.RESET_COMMAND)
        self._pending_reset = None  # this reboot also carries out an OnIdle reset scheduled earlier
        self._emit(RebootRequested(kind))
        return CommandStatus.ACCEPTED

    def set_setpoint(self, evse_id: int, watts: float) -> None:
        """The signed setpoint from energy arbitration (+ charge, - discharge)."""
        self.evse(evse_id).setpoint_w = watts
