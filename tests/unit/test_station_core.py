"""The version-neutral station model in virtual time, with the emulated direct-DC port as the car."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chargepoint.clock import VirtualClock
from chargepoint.station.actions import (
    AuthorizeRequest,
    MeterValuesReport,
    RebootRequested,
    StatusChanged,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from chargepoint.station.auth import Authorizer, AuthPolicy
from chargepoint.station.core import Station
from chargepoint.station.settings import StationSettings, TxPoint
from chargepoint.station.types import (
    AuthInfo,
    AuthStatus,
    CommandStatus,
    ConnectorStatus,
    IdToken,
    Measurand,
    ReadingContext,
    ResetKind,
    StopReason,
    TriggerReason,
    UnlockResult,
)
from hil.emulators.direct_dc import DirectDcPort

ACCEPT = AuthInfo(AuthStatus.ACCEPTED)


class Rig:
    def __init__(self, n: int = 1, settings: StationSettings | None = None, policy: AuthPolicy | None = None,
                 soc: float = 50.0) -> None:
        self.clock = VirtualClock(start=datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC))
        self.ports = {i: DirectDcPort(soc=soc) for i in range(1, n + 1)}
        self.station = Station({i: [p] for i, p in self.ports.items()}, self.clock, settings,
                               Authorizer(policy or AuthPolicy()))
        self.station.set_online(True)
        self.log: list[object] = []

    def run(self, seconds: float, dt: float = 0.1) -> list[object]:
        out: list[object] = []
        for _ in range(round(seconds / dt)):
            self.clock.advance(dt)
            out += self.station.tick()
        out += self.station.drain()
        self.log += out
        return out

    def authorize(self, evse: int = 1, token: str = "TAG1", info: AuthInfo = ACCEPT) -> list[object]:
        self.station.present_token(evse, IdToken(token))
        req = [a for a in self.station.drain() if isinstance(a, AuthorizeRequest)]
        assert len(req) == 1 and req[0].id_token.id == token
        self.station.authorize_result(req[0].ref, info)
        return self.station.drain()


def statuses(actions: list[object]) -> list[ConnectorStatus]:
    return [a.status for a in actions if isinstance(a, StatusChanged)]


def of(actions: list[object], kind: type) -> list:
    return [a for a in actions if isinstance(a, kind)]


def test_plug_in_first_session_charges_and_ends_on_unplug() -> None:
    r = Rig()
    assert statuses(r.run(0.2)) == [ConnectorStatus.AVAILABLE]
    r.ports[1].plug_in()
    assert statuses(r.run(0.5)) == [ConnectorStatus.PREPARING]
    r.authorize()
    out = r.run(10)
    started = of(out, TransactionStarted)
    assert len(started) == 1 and started[0].id_token == IdToken("TAG1")
    assert started[0].meter_start_wh == 0.0
    assert ConnectorStatus.CHARGING in statuses(out)
    reading = r.station.reading(1)
    assert reading.current_a > 0 and reading.import_wh > 0
    # P = V * I and the register integrates it
    assert reading.power_w == pytest.approx(reading.voltage_v * reading.current_a)
    r.ports[1].unplug()
    out = r.run(0.5)
    ended = of(out, TransactionEnded)
    assert len(ended) == 1 and ended[0].reason == StopReason.EV_DISCONNECTED
    assert ended[0].meter_stop_wh == pytest.approx(reading.import_wh, rel=0.05)
    assert statuses(out)[-1] == ConnectorStatus.AVAILABLE
    assert r.station.transactions() == []


def test_identification_first_then_plug_starts_transaction() -> None:
    r = Rig()
    r.run(0.2)
    r.authorize()
    assert statuses(r.run(0.2)) == [ConnectorStatus.PREPARING]
    r.ports[1].plug_in()
    out = r.run(0.5)
    assert len(of(out, TransactionStarted)) == 1


def test_identification_expires_after_connection_timeout() -> None:
    r = Rig(settings=StationSettings(connection_timeout_s=30))
    r.run(0.2)
    r.authorize()
    out = r.run(29)
    assert statuses(out) == [ConnectorStatus.PREPARING]
    out = r.run(2)
    assert statuses(out) == [ConnectorStatus.AVAILABLE]
    r.ports[1].plug_in()
    out = r.run(1)
    assert of(out, TransactionStarted) == []


def test_rejected_token_starts_nothing() -> None:
    r = Rig()
    r.ports[1].plug_in()
    r.run(0.5)
    r.authorize(info=AuthInfo(AuthStatus.INVALID))
    out = r.run(5)
    assert of(out, TransactionStarted) == []
    assert r.station.reading(1).current_a == 0


def test_same_token_stops_the_session_locally() -> None:
    r = Rig()
    r.ports[1].plug_in()
    r.authorize()
    r.run(5)
    r.station.present_token(1, IdToken("TAG1"))
    out = r.station.drain() + r.run(3)
    ended = of(out, TransactionEnded)
    assert [e.reason for e in ended] == [StopReason.LOCAL]
    assert ConnectorStatus.FINISHING in statuses(out)
    assert abs(r.station.reading(1).current_a) < 1e-9


def test_other_token_with_same_parent_stops_the_session() -> None:
    r = Rig()
    r.ports[1].plug_in()
    r.authorize(info=AuthInfo(AuthStatus.ACCEPTED, parent_id="FLEET"))
    r.run(3)
    r.station.present_token(1, IdToken("TAG2"))
    req = of(r.station.drain(), AuthorizeRequest)
    r.station.authorize_result(req[0].ref, AuthInfo(AuthStatus.ACCEPTED, parent_id="FLEET"))
    assert [e.reason for e in of(r.station.drain(), TransactionEnded)] == [StopReason.LOCAL]


def test_offline_local_list_and_cache_decide() -> None:
    r = Rig()
    r.station.set_online(False)
    r.station.auth.local_list.update(1, True, [("LISTED", ACCEPT)])
    r.station.auth.cache.put("CACHED", ACCEPT)
    r.ports[1].plug_in()
    r.station.present_token(1, IdToken("UNKNOWN"))
    assert of(r.station.drain(), AuthorizeRequest) == []
    assert of(r.run(1), TransactionStarted) == []
    r.station.present_token(1, IdToken("LISTED"))
    assert len(of(r.run(1), TransactionStarted)) == 1


def test_offline_unknown_id_allowed_when_configured() -> None:
    r = Rig(policy=AuthPolicy(allow_offline_tx_for_unknown_id=True))
    r.station.set_online(False)
    r.ports[1].plug_in()
    r.station.present_token(1, IdToken("WHOEVER"))
    assert len(of(r.run(1), TransactionStarted)) == 1


def test_csms_answers_are_cached_and_used_offline() -> None:
    r = Rig()
    r.authorize(token="CARD")  # online: the CSMS answer lands in the cache
    r.run(0.2)
    assert r.station.auth.cache.get("CARD", r.clock.now()) == ACCEPT
    r.station.evses[1].pending = None  # the user walked away
    r.station.set_online(False)
    r.ports[1].plug_in()
    r.station.present_token(1, IdToken("CARD"))
    assert of(r.station.drain(), AuthorizeRequest) == []
    assert len(of(r.run(1), TransactionStarted)) == 1


def test_free_vend_needs_no_csms() -> None:
    r = Rig(policy=AuthPolicy(free_vend=True))
    r.ports[1].plug_in()
    r.station.present_token(1, IdToken("ANY"))
    assert of(r.station.drain(), AuthorizeRequest) == []
    assert len(of(r.run(1), TransactionStarted)) == 1


def test_remote_start_and_stop() -> None:
    r = Rig()
    r.station.authorize_remote_start = False
    r.ports[1].plug_in()
    assert r.station.remote_start(IdToken("REMOTE"), 1, remote_start_id=7) == CommandStatus.ACCEPTED
    out = r.run(1)
    started = of(out, TransactionStarted)
    assert started[0].remote_start_id == 7 and started[0].trigger == TriggerReason.REMOTE_START
    assert r.station.remote_start(IdToken("REMOTE"), 1) == CommandStatus.REJECTED  # busy
    assert r.station.remote_stop("no-such-tx") == CommandStatus.REJECTED
    assert r.station.remote_stop(started[0].tx_id) == CommandStatus.ACCEPTED
    ended = of(r.station.drain(), TransactionEnded)
    assert ended[0].reason == StopReason.REMOTE


def test_remote_start_unknown_evse_rejected() -> None:
    r = Rig()
    assert r.station.remote_start(IdToken("X"), 9) == CommandStatus.REJECTED


def test_remote_start_authorizes_first_when_configured() -> None:
    r = Rig()
    r.ports[1].plug_in()
    r.station.remote_start(IdToken("REMOTE"), 1)
    req = of(r.station.drain(), AuthorizeRequest)
    assert len(req) == 1
    assert of(r.run(1), TransactionStarted) == []
    r.station.authorize_result(req[0].ref, ACCEPT)
    assert len(of(r.run(1), TransactionStarted)) == 1


def test_change_availability_is_scheduled_during_a_transaction() -> None:
    r = Rig()
    r.ports[1].plug_in()
    r.authorize()
    r.run(3)
    assert r.station.change_availability(False, 1) == CommandStatus.SCHEDULED
    assert r.station.transactions()
    r.ports[1].unplug()
    out = r.run(1)
    assert statuses(out)[-1] == ConnectorStatus.UNAVAILABLE
    assert r.station.remote_start(IdToken("X"), 1) == CommandStatus.REJECTED
    assert r.station.change_availability(True, 1) == CommandStatus.ACCEPTED
    assert statuses(r.station.drain()) == [ConnectorStatus.AVAILABLE]


def test_station_wide_unavailable_when_idle() -> None:
    r = Rig(n=2)
    r.run(0.2)
    assert r.station.change_availability(False, 0) == CommandStatus.ACCEPTED
    out = r.station.drain() + r.run(0.2)
    assert statuses(out) == [ConnectorStatus.UNAVAILABLE, ConnectorStatus.UNAVAILABLE]


def test_unlock_stops_transaction_and_reports_result() -> None:
    r = Rig()
    r.ports[1].plug_in()
    r.authorize()
    r.run(3)
    assert r.station.unlock(1) == UnlockResult.UNLOCKED
    assert [e.reason for e in of(r.station.drain(), TransactionEnded)] == [StopReason.UNLOCK_COMMAND]
    assert r.station.unlock(5) == UnlockResult.UNKNOWN_CONNECTOR
    r.ports[1].unlock_fails = True
    assert r.station.unlock(1) == UnlockResult.UNLOCK_FAILED


def test_hard_reset_ends_transactions_then_reboots() -> None:
    r = Rig()
    r.ports[1].plug_in()
    r.authorize()
    r.run(3)
    assert r.station.reset(ResetKind.HARD) == CommandStatus.ACCEPTED
    out = r.station.drain()
    assert isinstance(out[0], TransactionEnded) and out[0].reason == StopReason.HARD_RESET
    assert isinstance(out[-1], RebootRequested)


def test_on_idle_reset_waits_for_the_transaction() -> None:
    r = Rig()
    r.ports[1].plug_in()
    r.authorize()
    r.run(3)
    assert r.station.reset(ResetKind.ON_IDLE) == CommandStatus.SCHEDULED
    assert of(r.run(2), RebootRequested) == []
    r.ports[1].unplug()
    assert len(of(r.run(1), RebootRequested)) == 1


def test_periodic_meter_values_inside_a_transaction() -> None:
    r = Rig(settings=StationSettings(sample_interval_s=10, aligned_interval_s=0))
    r.ports[1].plug_in()
    r.authorize()
    out = r.run(35)
    periodic = [u for u in of(out, TransactionUpdated) if u.trigger == TriggerReason.METER_VALUE_PERIODIC]
    assert len(periodic) == 3
    registers = [
        next(v.value for v in u.samples[0].values if v.measurand == Measurand.ENERGY_IMPORT_REGISTER)
        for u in periodic
    ]
    assert registers == sorted(registers) and registers[-1] > registers[0]
    soc = [next(v for v in u.samples[0].values if v.measurand == Measurand.SOC) for u in periodic]
    assert all(v.location == "EV" and 0 < v.value <= 100 for v in soc)
    assert all(v.context == ReadingContext.SAMPLE_PERIODIC for u in periodic for v in u.samples[0].values)


def test_clock_aligned_meter_values_fall_on_boundaries() -> None:
    settings = StationSettings(sample_interval_s=0, aligned_interval_s=60, aligned_data_send_during_idle=True)
    r = Rig(settings=settings)
    r.clock = r.station.clock  # type: ignore[assignment]
    times: list[datetime] = []
    out = r.run(185)
    for a in of(out, MeterValuesReport):
        assert a.context == ReadingContext.SAMPLE_CLOCK
        times.append(a.samples[0].timestamp)
    assert len(times) == 3
    for t in times:
        assert t.second == 0 or (t - t.replace(second=0, microsecond=0)) < timedelta(seconds=0.2)


def test_discharge_fills_the_export_register() -> None:
    r = Rig(soc=80)
    r.ports[1].plug_in()
    r.authorize()
    r.run(3)
    r.station.set_setpoint(1, -4000)
    r.run(20)
    reading = r.station.reading(1)
    assert reading.current_a < 0
    assert reading.power_w == pytest.approx(-4000, rel=0.05)
    assert reading.export_wh > 0
    soc_before = r.station.soc(1)
    r.run(10)
    assert r.station.soc(1) < soc_before  # type: ignore[operator]


def test_fault_marks_connector_faulted_and_ends_transaction() -> None:
    r = Rig()
    r.ports[1].plug_in()
    r.authorize()
    r.run(3)
    r.ports[1].inject_fault("insulation fault")
    out = r.run(0.5)
    assert ConnectorStatus.FAULTED in statuses(out)
    assert [e.trigger for e in of(out, TransactionEnded)] == [TriggerReason.ABNORMAL_CONDITION]
    assert r.station.reading(1).current_a == 0


def test_ev_connected_start_point_starts_before_authorization() -> None:
    settings = StationSettings(tx_start_points=(TxPoint.EV_CONNECTED,))
    r = Rig(settings=settings)
    r.ports[1].plug_in()
    out = r.run(0.5)
    started = of(out, TransactionStarted)
    assert started and started[0].trigger == TriggerReason.CABLE_PLUGGED_IN and started[0].id_token is None
    assert r.station.reading(1).current_a == 0  # no energy before authorization
    r.authorize()
    out = r.station.drain() + r.run(5)
    assert next(u.trigger for u in of(out, TransactionUpdated)) == TriggerReason.AUTHORIZED
    assert r.station.reading(1).current_a > 0


def test_stop_on_ev_side_disconnect_false_keeps_the_transaction() -> None:
    r = Rig(settings=StationSettings(stop_transaction_on_ev_side_disconnect=False))
    r.ports[1].plug_in()
    r.authorize()
    r.run(3)
    r.ports[1].unplug()
    out = r.run(1)
    assert of(out, TransactionEnded) == []
    assert r.station.transactions()
