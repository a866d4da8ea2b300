"""The version-neutral station model (sans-I/O).

Feed it time (:meth:`Station.tick`), identification and CSMS commands; collect the resulting actions with
:meth:`Station.drain`. It never blocks, sleeps or opens a socket, so it runs the same in real and in virtual time.

Lifecycle of a session on one EVSE (the transaction starts at the configured ``tx_start_points``)::

    Available --plug--> Preparing --authorized--> (tx started) Preparing/Charging/Suspended* --stop--> Finishing
        ^                                                                                              |
        +--------------------------------------------- unplug ---------------------------------------+
"""

from __future__ import annotations

import itertools
import math
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from chargepoint.clock import Clock
from chargepoint.hardware.interfaces import ConnectorPort, MeterReading, PortPhase, PortState
from chargepoint.station.actions import (
    Action,
    AuthorizeRequest,
    MeterValuesReport,
    RebootRequested,
    StatusChanged,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from chargepoint.station.auth import Authorizer
from chargepoint.station.metering import build_sample, next_aligned
from chargepoint.station.settings import StationSettings, TxPoint
from chargepoint.station.types import (
    AuthInfo,
    AuthStatus,
    ChargingState,
    CommandStatus,
    ConnectorStatus,
    FaultInfo,
    IdToken,
    MeterSample,
    ReadingContext,
    ResetKind,
    StopReason,
    TriggerReason,
    UnlockResult,
)

CHARGING_CURRENT_THRESHOLD_A = 0.5
SUSPEND_DEBOUNCE_S = 3.0  # a flow that pauses this briefly (e.g. charge -> discharge through 0 A) stays "Charging"


class SetpointSource(Protocol):
    """Whatever decides each EVSE's signed setpoint every tick (the energy manager)."""

    def setpoint_for(self, evse: Evse, now: datetime) -> float: ...

    def transaction_ended(self, tx_id: str) -> None:
        """A transaction ended (its transaction-bound charging profiles go)."""


@dataclass
class Transaction:
    tx_id: str
    evse_id: int
    connector_id: int
    id_token: IdToken | None
    started_mono: float
    started_at: datetime
    meter_start_wh: float
    export_start_wh: float
    authorized: bool
    remote_start_id: int | None = None
    charging_state: ChargingState = ChargingState.EV_CONNECTED
    next_sample_mono: float | None = None
    parent_id: str | None = None
    ended: bool = False
    recovered: bool = False  # restored from storage after a restart; decided on the first tick
    suspend_since: float | None = None  # when the flow stopped while Charging (debounce of direction changes)

    def energy_wh(self, reading: MeterReading) -> tuple[float, float]:
        return reading.import_wh - self.meter_start_wh, reading.export_wh - self.export_start_wh


@dataclass
class PendingAuth:
    """An identification (local token or remote start) waiting for the car to be plugged in."""

    id_token: IdToken
    info: AuthInfo | None  # None while the CSMS has not answered yet
    expires_mono: float
    remote_start_id: int | None = None
    remote: bool = False


@dataclass
class Connector:
    evse_id: int
    connector_id: int
    port: ConnectorPort
    operative: bool = True
    pending_operative: bool | None = None
    reported: ConnectorStatus | None = None
    state: PortState | None = None
    fault: FaultInfo | None = None


@dataclass
class Evse:
    id: int
    connectors: list[Connector]
    operative: bool = True
    pending_operative: bool | None = None
    tx: Transaction | None = None
    pending: PendingAuth | None = None
    setpoint_w: float = float("inf")  # signed; +inf = as much as the car and the charger allow
    session_done: bool = False  # a transaction ended (or was refused) and the car is still plugged

    @property
    def connector(self) -> Connector:
        return self.connectors[0]


@dataclass
class _AuthWait:
    ref: int
    evse_id: int | None
    id_token: IdToken
    purpose: str  # "start" | "stop" | "remote_start"
    remote_start_id: int | None = None


@dataclass
class StationCounters:
    transactions_started: int = 0
    transactions_ended: int = 0
    status_changes: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class Station:
    def __init__(
        self,
        ports: dict[int, list[ConnectorPort]],
        clock: Clock,
        settings: StationSettings | None = None,
        authorizer: Authorizer | None = None,
    ) -> None:
        if not ports:
            raise ValueError("a station needs at least one EVSE")
        self.clock = clock
        self.settings = settings or StationSettings()
        self.auth = authorizer or Authorizer()
        self.evses: dict[int, Evse] = {
            evse_id: Evse(evse_id, [Connector(evse_id, i + 1, p) for i, p in enumerate(plist)])
            for evse_id, plist in sorted(ports.items())
        }
        self.operative = True
        self.online = False
        self.counters = StationCounters()
        self._outbox: list[Action] = []
        self._refs = itertools.count(1)
        self._auth_waits: dict[int, _AuthWait] = {}
        self._next_aligned_mono: float | None = None
        self._aligned_interval_s = self.settings.aligned_interval_s  # the interval _next_aligned_mono was set for
        self._pending_station_operative: bool | None = None  # station-wide change scheduled behind transactions
        self._pending_reset: ResetKind | None = None
        self.authorize_remote_start = True  # 1.6 AuthorizeRemoteTxRequests / 2.0.1 AuthorizeRemoteStart
        # Smart charging / arbitration (chargepoint.energy.manager.EnergyManager); None = charge at the maximum.
        self.energy: SetpointSource | None = None

    # ------------------------------------------------------------------ plumbing
    def drain(self) -> list[Action]:
        out, self._outbox = self._outbox, []
        return out

    def _emit(self, action: Action) -> None:
        if isinstance(action, TransactionUpdated) and action.timestamp is None:
            action = replace(action, timestamp=self.clock.now())
        self._outbox.append(action)

    def evse(self, evse_id: int) -> Evse:
        try:
            return self.evses[evse_id]
        except KeyError:
            raise KeyError(f"unknown EVSE {evse_id}") from None

    def connector(self, evse_id: int, connector_id: int = 1) -> Connector:
        evse = self.evse(evse_id)
        if not 1 <= connector_id <= len(evse.connectors):
            raise KeyError(f"unknown connector {connector_id} on EVSE {evse_id}")
        return evse.connectors[connector_id - 1]

    def transactions(self) -> list[Transaction]:
        return [e.tx for e in self.evses.values() if e.tx is not None]

    def find_tx(self, tx_id: str) -> Transaction | None:
        return next((t for t in self.transactions() if t.tx_id == tx_id), None)

    def set_online(self, online: bool) -> None:
        self.online = online

    def reading(self, evse_id: int) -> MeterReading:
        st = self.evse(evse_id).connector.state
        return st.meter if st else MeterReading(0.0, 0.0, 0.0, 0.0)

    def soc(self, evse_id: int) -> float | None:
        st = self.evse(evse_id).connector.state
        return st.soc_percent if st else None

    # ------------------------------------------------------------------ time
    def tick(self) -> list[Action]:
        """Step every port, advance timers, and return the actions that result."""
        mono = self.clock.monotonic()
        now = self.clock.now() if self.energy is not None else None
        for evse in self.evses.values():
            for conn in evse.connectors:
                conn.state = conn.port.step(mono)
            if self.energy is not None and now is not None:
                evse.setpoint_w = self.energy.setpoint_for(evse, now)
            self._update_evse(evse, mono)
        if self._pending_station_operative is not None and not self.transactions():
            self.operative, self._pending_station_operative = self._pending_station_operative, None
        self._aligned_meter_values(mono)
        if self._pending_reset is not None and not self.transactions():
            kind, self._pending_reset = self._pending_reset, None
            self._emit(RebootRequested(kind))
        return self.drain()

    def _update_evse(self, evse: Evse, mono: float) -> None:
        conn = evse.connector
        st = conn.state
        assert st is not None
        plugged = st.phase != PortPhase.UNPLUGGED
        faulted = st.phase == PortPhase.FAULTED
        if faulted and conn.fault is None:
            conn.fault = FaultInfo("OtherError", st.fault or "connector fault")
        elif not faulted:
            conn.fault = None

        if not plugged:
            evse.session_done = False
        if evse.pending is not None and mono >= evse.pending.expires_mono and evse.tx is None:
            evse.pending = None  # identification timed out before the car arrived (ConnectionTimeOut)

        tx = evse.tx
        if tx is None:
            self._maybe_start(evse, mono, plugged)
            tx = evse.tx
        if tx is not None and tx.recovered:
            tx.recovered = False
            if not plugged:  # the car left (or the session died) while the station was down
                self._end_tx(evse, StopReason.POWER_LOSS, TriggerReason.ABNORMAL_CONDITION)
                tx = None
        if tx is not None:
            stop_points = set(self.settings.tx_stop_points)
            if not self.settings.stop_transaction_on_ev_side_disconnect:
                stop_points.discard(TxPoint.EV_CONNECTED)
            if faulted:
                self._end_tx(evse, StopReason.EMERGENCY_STOP if "emergency" in (st.fault or "").lower()
                             else StopReason.OTHER, TriggerReason.ABNORMAL_CONDITION)
            elif not plugged and (stop_points & {TxPoint.EV_CONNECTED, TxPoint.POWER_PATH_CLOSED}):
                self._end_tx(evse, StopReason.EV_DISCONNECTED, TriggerReason.EV_COMMUNICATION_LOST)
            elif st.phase == PortPhase.FINISHED and st.ev_stop_requested and tx.authorized:
                self._end_tx(evse, StopReason.STOPPED_BY_EV, TriggerReason.CHARGING_STATE_CHANGED)
            elif (
                TxPoint.ENERGY_TRANSFER in stop_points
                and tx.charging_state == ChargingState.CHARGING
                and st.phase in (PortPhase.STOPPING, PortPhase.FINISHED)
            ):
                self._end_tx(evse, StopReason.STOPPED_BY_EV, TriggerReason.CHARGING_STATE_CHANGED)
            else:
                self._run_tx(evse, tx, st, mono)
        if evse.tx is None:
            conn.port.set_session_enabled(False)
            self._apply_pending_availability(evse)
        self._report_status(evse)

    def _maybe_start(self, evse: Evse, mono: float, plugged: bool) -> None:
        pend = evse.pending
        authorized = pend is not None and pend.info is not None and pend.info.accepted
        st = evse.connector.state
        assert st is not None
        if not self._is_operative(evse) or st.phase == PortPhase.FAULTED:
            return
        points = set(self.settings.tx_start_points)
        start = False
        trigger = TriggerReason.AUTHORIZED
        if TxPoint.POWER_PATH_CLOSED in points and authorized and plugged:
            start, trigger = True, (TriggerReason.REMOTE_START if pend and pend.remote else TriggerReason.AUTHORIZED)
        if TxPoint.EV_CONNECTED in points and plugged and not evse.session_done:
            start, trigger = True, TriggerReason.CABLE_PLUGGED_IN
        if TxPoint.AUTHORIZED in points and authorized:
            start, trigger = True, (TriggerReason.REMOTE_START if pend and pend.remote else TriggerReason.AUTHORIZED)
        if TxPoint.ENERGY_TRANSFER in points and authorized and st.phase == PortPhase.ENERGY:
            start, trigger = True, TriggerReason.CHARGING_STATE_CHANGED
        if not start:
            return
        reading = st.meter
        tx = Transaction(
            tx_id=str(uuid.uuid4()),
            evse_id=evse.id,
            connector_id=evse.connector.connector_id,
            id_token=pend.id_token if authorized and pend else None,
            started_mono=mono,
            started_at=self.clock.now(),
            meter_start_wh=reading.import_wh,
            export_start_wh=reading.export_wh,
            authorized=authorized,
            remote_start_id=pend.remote_start_id if pend else None,
            parent_id=pend.info.parent_id if authorized and pend and pend.info else None,
        )
        if authorized:
            evse.pending = None
        tx.charging_state = self._charging_state(evse, tx)
        if self.settings.sample_interval_s > 0:
            tx.next_sample_mono = mono + self.settings.sample_interval_s
        evse.tx = tx
        self.counters.transactions_started += 1
        started = self.settings.tx_started_measurands
        sample = build_sample(
            tx.started_at, self.settings.sampled_measurands if started is None else started, reading, st.soc_percent,
            ReadingContext.TRANSACTION_BEGIN,
        )
        self._emit(
            TransactionStarted(
                tx.tx_id, evse.id, tx.connector_id, tx.id_token, reading.import_wh, trigger, sample,
                tx.remote_start_id, tx.charging_state.value,
            )
        )

    def _charging_state(self, evse: Evse, tx: Transaction) -> ChargingState:
        st = evse.connector.state
        assert st is not None
        if st.phase == PortPhase.UNPLUGGED:
            return ChargingState.IDLE
        if st.phase == PortPhase.ENERGY:
            if abs(st.meter.current_a) >= CHARGING_CURRENT_THRESHOLD_A:
                return ChargingState.CHARGING
            return ChargingState.SUSPENDED_EVSE if evse.setpoint_w == 0 else ChargingState.SUSPENDED_EV
        if st.phase == PortPhase.SUSPENDED_EV:
            return ChargingState.SUSPENDED_EV
        if not tx.authorized:
            return ChargingState.EV_CONNECTED
        return ChargingState.EV_CONNECTED

    def _run_tx(self, evse: Evse, tx: Transaction, st: PortState, mono: float) -> None:
        plugged = st.phase != PortPhase.UNPLUGGED
        # A transaction started before authorization (EVConnected start point) picks the token up here.
        if not tx.authorized and evse.pending is not None and evse.pending.info is not None:
            if evse.pending.info.accepted:
                tx.authorized = True
                tx.id_token = evse.pending.id_token
                tx.remote_start_id = evse.pending.remote_start_id
                trigger = TriggerReason.REMOTE_START if evse.pending.remote else TriggerReason.AUTHORIZED
                evse.pending = None
                self._emit(TransactionUpdated(tx.tx_id, evse.id, tx.connector_id, trigger, id_token=tx.id_token))
        enable = tx.authorized and plugged and self._is_operative(evse)
        evse.connector.port.set_session_enabled(enable)
        if enable:
            evse.connector.port.set_setpoint_w(evse.setpoint_w)
        if not plugged and evse.tx is tx and not tx.authorized:
            self._end_tx(evse, StopReason.EV_DISCONNECTED, TriggerReason.EV_COMMUNICATION_LOST)
            return
        new_state = self._charging_state(evse, tx)
        if (
            tx.charging_state == ChargingState.CHARGING
            and new_state in (ChargingState.SUSPENDED_EV, ChargingState.SUSPENDED_EVSE)
            and evse.setpoint_w != 0
        ):
            if tx.suspend_since is None:
                tx.suspend_since = mono
            if mono - tx.suspend_since < SUSPEND_DEBOUNCE_S:
                new_state = ChargingState.CHARGING
        else:
            tx.suspend_since = None
        if new_state != tx.charging_state:
            tx.charging_state = new_state
            self._emit(TransactionUpdated(tx.tx_id, evse.id, tx.connector_id, TriggerReason.CHARGING_STATE_CHANGED,
                                          charging_state=new_state.value))
        if tx.next_sample_mono is not None and mono >= tx.next_sample_mono:
            interval = self.settings.sample_interval_s
            sample = build_sample(self.clock.now(), self.settings.sampled_measurands, st.meter, st.soc_percent,
                                  ReadingContext.SAMPLE_PERIODIC)
            self._emit(TransactionUpdated(tx.tx_id, evse.id, tx.connector_id, TriggerReason.METER_VALUE_PERIODIC,
                                          samples=(sample,)))
            if interval > 0:
                # catch up without bursting: next boundary strictly after now
                missed = int((mono - tx.next_sample_mono) // interval) + 1
                tx.next_sample_mono += missed * interval
            else:
                tx.next_sample_mono = None

    def _end_tx(self, evse: Evse, reason: StopReason, trigger: TriggerReason) -> None:
        tx = evse.tx
        if tx is None or tx.ended:
            return
        st = evse.connector.state
        reading = st.meter if st else MeterReading(0.0, 0.0, tx.meter_start_wh, tx.export_start_wh)
        tx.ended = True
        samples: tuple[MeterSample, ...] = ()
        if self.settings.stop_txn_sampled_measurands:
            samples = (
                build_sample(self.clock.now(), self.settings.stop_txn_sampled_measurands, reading,
                             st.soc_percent if st else None, ReadingContext.TRANSACTION_END),
            )
        evse.connector.port.set_session_enabled(False)
        evse.tx = None
        evse.session_done = st is not None and st.phase != PortPhase.UNPLUGGED
        self.counters.transactions_ended += 1
        self._emit(TransactionEnded(tx.tx_id, evse.id, tx.connector_id, tx.id_token, reading.import_wh, reason,
                                    trigger, samples, timestamp=self.clock.now()))
        if self.energy is not None:
            self.energy.transaction_ended(tx.tx_id)
        if (
            reason == StopReason.EV_DISCONNECTED
            and self.settings.unlock_connector_on_ev_side_disconnect
        ):
            evse.connector.port.unlock()

    # ------------------------------------------------------------------ status
    def _is_operative(self, evse: Evse) -> bool:
        return self.operative and evse.operative and evse.connector.operative

    def status_of(self, evse: Evse) -> ConnectorStatus:
        conn = evse.connector
        st = conn.state
        if conn.fault is not None:
            return ConnectorStatus.FAULTED
        plugged = st is not None and st.phase != PortPhase.UNPLUGGED
        tx = evse.tx
        if tx is None and not self._is_operative(evse):
            return ConnectorStatus.UNAVAILABLE
        if tx is None:
            if plugged:
                return ConnectorStatus.FINISHING if evse.session_done else ConnectorStatus.PREPARING
            if evse.pending is not None:
                return ConnectorStatus.PREPARING
            return ConnectorStatus.AVAILABLE
        assert st is not None
        if not tx.authorized or st.phase in (PortPhase.CONNECTED, PortPhase.PREPARING):
            return ConnectorStatus.PREPARING
        if st.phase in (PortPhase.STOPPING, PortPhase.FINISHED):
            return ConnectorStatus.FINISHING
        if st.phase == PortPhase.UNPLUGGED:
            return ConnectorStatus.SUSPENDED_EV
        cs = tx.charging_state
        if cs == ChargingState.CHARGING:
            return ConnectorStatus.CHARGING
        if cs == ChargingState.SUSPENDED_EVSE:
            return ConnectorStatus.SUSPENDED_EVSE
        return ConnectorStatus.SUSPENDED_EV

    def _report_status(self, evse: Evse, force: bool = False) -> None:
        status = self.status_of(evse)
        conn = evse.connector
        if force or status != conn.reported:
            conn.reported = status
            self.counters.status_changes += 1
            self._emit(StatusChanged(evse.id, conn.connector_id, status, conn.fault))

    def trigger_status(self, evse_id: int | None = None) -> None:
        for evse in self.evses.values():
            if evse_id in (None, evse.id):
                self._report_status(evse, force=True)

    # ------------------------------------------------------------------ meter values
    def _aligned_meter_values(self, mono: float) -> None:
        interval = self.settings.aligned_interval_s
        if interval <= 0:
            self._next_aligned_mono = None
            return
        if self._next_aligned_mono is None or interval != self._aligned_interval_s:
            self._aligned_interval_s = interval
            self._next_aligned_mono = mono + next_aligned(self.clock.now(), interval)
            return
        if mono < self._next_aligned_mono:
            return
        self._next_aligned_mono = mono + next_aligned(self.clock.now(), interval)
        if not self.settings.aligned_data_during_tx and self.transactions():
            return  # 2.0.1 AlignedDataCtrlr.SendDuringIdle: no clock-aligned values at all while a transaction runs
        now = self.clock.now()
        # Stamp the values with the boundary they belong to, not with the tick that noticed it.
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        now = midnight + timedelta(seconds=math.floor((now - midnight).total_seconds() / interval + 1e-9) * interval)
        for evse in self.evses.values():
            st = evse.connector.state
            if st is None:
                continue
            sample = build_sample(now, self.settings.aligned_measurands, st.meter, st.soc_percent,
                                  ReadingContext.SAMPLE_CLOCK)
            if not sample.values:
                continue
            if evse.tx is not None:
                self._emit(TransactionUpdated(evse.tx.tx_id, evse.id, evse.tx.connector_id,
                                              TriggerReason.METER_VALUE_CLOCK, samples=(sample,)))
            elif self.settings.aligned_data_send_during_idle:
                self._emit(MeterValuesReport(evse.id, evse.connector.connector_id, None, (sample,),
                                             ReadingContext.SAMPLE_CLOCK))

    def trigger_meter_values(self, evse_id: int | None = None) -> None:
        now = self.clock.now()
        for evse in self.evses.values():
            if evse_id not in (None, 0, evse.id):
                continue
            st = evse.connector.state
            reading = st.meter if st else MeterReading(0.0, 0.0, 0.0, 0.0)
            sample = build_sample(now, self.settings.sampled_measurands, reading, st.soc_percent if st else None,
                                  ReadingContext.TRIGGER)
            if evse.tx is not None:
                self._emit(TransactionUpdated(evse.tx.tx_id, evse.id, evse.tx.connector_id, TriggerReason.TRIGGER,
                                              samples=(sample,)))
            else:
                self._emit(MeterValuesReport(evse.id, evse.connector.connector_id, None, (sample,),
                                             ReadingContext.TRIGGER))

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
                self._local_stop(evse)
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
        else:
            tx.authorized = False
            evse.connector.port.set_session_enabled(False)

    def _local_stop(self, evse: Evse) -> None:
        self._end_tx(evse, StopReason.LOCAL, TriggerReason.STOP_AUTHORIZED)

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
