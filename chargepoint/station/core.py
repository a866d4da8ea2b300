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
from dataclasses import replace
from datetime import datetime, timedelta

from chargepoint.clock import Clock
from chargepoint.hardware.interfaces import ConnectorPort, MeterReading, PortPhase, PortState
from chargepoint.station.actions import (
    Action,
    MeterValuesReport,
    RebootRequested,
    StatusChanged,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from chargepoint.station.auth import Authorizer
from chargepoint.station.commands import StationCommands
from chargepoint.station.metering import Measurands, SamplingPlan, build_sample, next_aligned
from chargepoint.station.model import (
    Connector,
    Evse,
    SetpointSource,
    StationCounters,
    Transaction,
    _AuthWait,
)
from chargepoint.station.settings import StationSettings, TxPoint
from chargepoint.station.types import (
    ChargingState,
    ConnectorStatus,
    FaultInfo,
    IdToken,
    MeterSample,
    ReadingContext,
    ResetKind,
    StopReason,
    TriggerReason,
)

CHARGING_CURRENT_THRESHOLD_A = 0.5
SUSPEND_DEBOUNCE_S = 3.0  # a flow that pauses this briefly (e.g. charge -> discharge through 0 A) stays "Charging"


class Station(StationCommands):
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
        # clock-aligned timers: name -> (the interval it was set for, monotonic time of its next boundary)
        self._aligned_timers: dict[str, tuple[int, float]] = {}
        self._pending_station_operative: bool | None = None  # station-wide change scheduled behind transactions
        self._pending_reset: ResetKind | None = None
        self.authorize_remote_start = True  # 1.6 AuthorizeRemoteTxRequests / 2.0.1 AuthorizeRemoteStart
        # Smart charging / arbitration (chargepoint.energy.manager.EnergyManager); None = charge at the maximum.
        self.energy: SetpointSource | None = None
        # Measurands / interval per EVSE on top of the settings (2.1 V2XChargingCtrlr); None = the settings only.
        self.sampling: SamplingPlan | None = None

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

    def _measurands(self, evse_id: int, context: ReadingContext, base: Measurands) -> Measurands:
        return base if self.sampling is None else self.sampling.measurands(evse_id, context, base)

    def _sample_interval(self, evse_id: int) -> int:
        base = self.settings.sample_interval_s
        return base if self.sampling is None else self.sampling.interval_s(evse_id, base)

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
        if self._sample_interval(evse.id) > 0:
            tx.next_sample_mono = mono + self._sample_interval(evse.id)
        evse.tx = tx
        self.counters.transactions_started += 1
        started = self.settings.tx_started_measurands
        measurands = self._measurands(evse.id, ReadingContext.TRANSACTION_BEGIN,
                                      self.settings.sampled_measurands if started is None else started)
        sample = build_sample(tx.started_at, measurands, reading, st.soc_percent, ReadingContext.TRANSACTION_BEGIN)
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
        if tx.deauthorized:
            return ChargingState.SUSPENDED_EVSE  # the token was refused after the start: no energy offered
        return ChargingState.EV_CONNECTED

    def _run_tx(self, evse: Evse, tx: Transaction, st: PortState, mono: float) -> None:
        plugged = st.phase != PortPhase.UNPLUGGED
        # A transaction started before authorization (EVConnected start point) picks the token up here.
        if not tx.authorized and evse.pending is not None and evse.pending.info is not None:
            if evse.pending.info.accepted:
                tx.authorized, tx.deauthorized = True, False
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
            and not tx.deauthorized
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
        if self.sampling is not None:
            self.sampling.observe(evse.id, tx.tx_id, st, self.clock.now(), mono)
            if tx.next_sample_mono is None and self._sample_interval(evse.id) > 0:  # an interval came in force
                tx.next_sample_mono = mono + self._sample_interval(evse.id)
        if tx.next_sample_mono is not None and mono >= tx.next_sample_mono:
            interval = self._sample_interval(evse.id)
            measurands = self._measurands(evse.id, ReadingContext.SAMPLE_PERIODIC, self.settings.sampled_measurands)
            sample = build_sample(self.clock.now(), measurands, st.meter, st.soc_percent,
                                  ReadingContext.SAMPLE_PERIODIC)
            self._emit(TransactionUpdated(tx.tx_id, evse.id, tx.connector_id, TriggerReason.METER_VALUE_PERIODIC,
                                          samples=(sample,)))
            if interval > 0:
                # catch up without bursting: next boundary strictly after now
                missed = int((mono - tx.next_sample_mono) // interval) + 1
                tx.next_sample_mono += missed * interval
            else:
                tx.next_sample_mono = None

    def _end_tx(self, evse: Evse, reason: StopReason, trigger: TriggerReason,
                stop_token: IdToken | None = None) -> None:
        """End the EVSE's transaction. ``stop_token``: the token that stopped it, when not the one that started it
        (same parent id); the end message carries it."""
        tx = evse.tx
        if tx is None or tx.ended:
            return
        st = evse.connector.state
        reading = st.meter if st else MeterReading(0.0, 0.0, tx.meter_start_wh, tx.export_start_wh)
        tx.ended = True
        samples: tuple[MeterSample, ...] = tuple(tx.end_aligned)
        if self.settings.stop_txn_sampled_measurands:
            samples += (
                build_sample(self.clock.now(), self.settings.stop_txn_sampled_measurands, reading,
                             st.soc_percent if st else None, ReadingContext.TRANSACTION_END),
            )
        if self.sampling is not None:
            samples = self._plan_end_samples(evse.id, tx.tx_id, samples, reading, st)
        evse.connector.port.set_session_enabled(False)
        evse.tx = None
        evse.session_done = st is not None and st.phase != PortPhase.UNPLUGGED
        self.counters.transactions_ended += 1
        self._emit(TransactionEnded(tx.tx_id, evse.id, tx.connector_id, stop_token or tx.id_token, reading.import_wh,
                                    reason, trigger, samples, timestamp=self.clock.now()))
        if self.energy is not None:
            self.energy.transaction_ended(tx.tx_id)
        if (
            reason == StopReason.EV_DISCONNECTED
            and self.settings.unlock_connector_on_ev_side_disconnect
        ):
            evse.connector.port.unlock()

    def _plan_end_samples(self, evse_id: int, tx_id: str, samples: tuple[MeterSample, ...], reading: MeterReading,
                          st: PortState | None) -> tuple[MeterSample, ...]:
        """The end message's samples with the sampling plan's: its interim ones (in time order) and its extra
        measurands in the Transaction.End sample."""
        assert self.sampling is not None
        base = self.settings.stop_txn_sampled_measurands
        end = [s for s in samples if s.values and s.values[0].context == ReadingContext.TRANSACTION_END]
        others = sorted([s for s in samples if s not in end] + list(self.sampling.ended_samples(tx_id)),
                        key=lambda s: s.timestamp)
        measurands = self._measurands(evse_id, ReadingContext.TRANSACTION_END, base)
        if measurands == base:
            return (*others, *end)
        final = build_sample(self.clock.now(), measurands, reading, st.soc_percent if st else None,
                             ReadingContext.TRANSACTION_END)
        return (*others, final)

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
        if tx.deauthorized and plugged:
            return ConnectorStatus.SUSPENDED_EVSE  # energy delivery stopped, the transaction goes on
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
    def _aligned_boundary(self, name: str, interval: int, mono: float) -> datetime | None:
        """The clock-aligned boundary (wall time) that timer ``name`` has just reached, else None. A new or changed
        interval only schedules the next boundary."""
        if interval <= 0:
            self._aligned_timers.pop(name, None)
            return None
        timer = self._aligned_timers.get(name)
        if timer is None or timer[0] != interval:
            self._aligned_timers[name] = (interval, mono + next_aligned(self.clock.now(), interval))
            return None
        if mono < timer[1]:
            return None
        now = self.clock.now()
        self._aligned_timers[name] = (interval, mono + next_aligned(now, interval))
        # Stamp the values with the boundary they belong to, not with the tick that noticed it.
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight + timedelta(seconds=math.floor((now - midnight).total_seconds() / interval + 1e-9) * interval)

    def _aligned_meter_values(self, mono: float) -> None:
        s = self.settings
        end_interval = s.aligned_interval_s if s.stop_txn_aligned_interval_s is None else s.stop_txn_aligned_interval_s
        at = self._aligned_boundary("tx_end", end_interval if s.stop_txn_aligned_measurands else 0, mono)
        if at is not None:  # StopTxnAlignedData / TxEndedMeasurands: kept for the transaction's end message
            for evse in self.evses.values():
                st = evse.connector.state
                if evse.tx is not None and st is not None:
                    sample = build_sample(at, s.stop_txn_aligned_measurands, st.meter, st.soc_percent,
                                          ReadingContext.SAMPLE_CLOCK)
                    if sample.values:
                        evse.tx.end_aligned.append(sample)
        now = self._aligned_boundary("meter", s.aligned_interval_s, mono)
        if now is None:
            return
        if not s.aligned_data_during_tx and self.transactions():
            return  # 2.0.1 AlignedDataCtrlr.SendDuringIdle: no clock-aligned values at all while a transaction runs
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
