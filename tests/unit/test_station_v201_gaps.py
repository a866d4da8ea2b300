"""Station-model behaviour the 2.0.1 adapter relies on (gaps found while writing it)."""

from __future__ import annotations

from datetime import UTC, datetime

from chargepoint.clock import VirtualClock
from chargepoint.station.actions import MeterValuesReport, TransactionStarted, TransactionUpdated
from chargepoint.station.core import Station
from chargepoint.station.settings import StationSettings, TxPoint
from chargepoint.station.types import CommandStatus, IdToken, Measurand, ReadingContext, TriggerReason
from hil.emulators.direct_dc import DirectDcPort


def _station(settings: StationSettings) -> tuple[Station, DirectDcPort, VirtualClock]:
    clock = VirtualClock(start=datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC))
    port = DirectDcPort()
    station = Station({1: [port]}, clock, settings)
    station.set_online(True)
    return station, port, clock


def _run(station: Station, clock: VirtualClock, seconds: float) -> list[object]:
    out: list[object] = []
    for _ in range(round(seconds / 0.1)):
        clock.advance(0.1)
        out += station.tick()
    return out + station.drain()


def test_remote_start_after_cable_plug_in_reports_remote_start_trigger() -> None:
    """EVConnected start point, then RequestStartTransaction: the authorizing update says RemoteStart (2.0.1 F01)."""
    station, port, clock = _station(StationSettings(tx_start_points=(TxPoint.EV_CONNECTED,), aligned_interval_s=0))
    station.authorize_remote_start = False
    port.plug_in()
    started = [a for a in _run(station, clock, 0.5) if isinstance(a, TransactionStarted)]
    assert len(started) == 1 and started[0].trigger == TriggerReason.CABLE_PLUGGED_IN
    assert station.remote_start(IdToken("R1"), 1, remote_start_id=42) == CommandStatus.ACCEPTED
    updates = [a for a in _run(station, clock, 0.5) if isinstance(a, TransactionUpdated) and a.id_token]
    assert [(u.trigger, u.id_token) for u in updates] == [(TriggerReason.REMOTE_START, IdToken("R1"))]
    tx = station.find_tx(started[0].tx_id)
    assert tx is not None and tx.remote_start_id == 42


def test_local_authorization_after_cable_plug_in_still_reports_authorized() -> None:
    station, port, clock = _station(StationSettings(tx_start_points=(TxPoint.EV_CONNECTED,), aligned_interval_s=0))
    station.auth.policy.free_vend = True
    port.plug_in()
    _run(station, clock, 0.5)
    station.present_token(1, IdToken("LOCAL"))
    updates = [a for a in _run(station, clock, 0.5) if isinstance(a, TransactionUpdated) and a.id_token]
    assert [u.trigger for u in updates] == [TriggerReason.AUTHORIZED]


def test_tx_started_measurands_select_the_transaction_begin_sample() -> None:
    """2.0.1 SampledDataCtrlr.TxStartedMeasurands is independent of TxUpdatedMeasurands."""
    settings = StationSettings(tx_start_points=(TxPoint.EV_CONNECTED,), aligned_interval_s=0,
                               tx_started_measurands=(Measurand.ENERGY_IMPORT_REGISTER,))
    station, port, clock = _station(settings)
    port.plug_in()
    started = [a for a in _run(station, clock, 0.5) if isinstance(a, TransactionStarted)]
    assert started[0].sample is not None
    assert [(v.measurand, v.context) for v in started[0].sample.values] == [
        (Measurand.ENERGY_IMPORT_REGISTER, ReadingContext.TRANSACTION_BEGIN)
    ]


def test_tx_started_measurands_default_to_the_sampled_measurands() -> None:
    settings = StationSettings(tx_start_points=(TxPoint.EV_CONNECTED,), aligned_interval_s=0,
                               sampled_measurands=(Measurand.VOLTAGE, Measurand.ENERGY_EXPORT_REGISTER))
    station, port, clock = _station(settings)
    port.plug_in()
    started = [a for a in _run(station, clock, 0.5) if isinstance(a, TransactionStarted)]
    assert started[0].sample is not None
    assert [v.measurand for v in started[0].sample.values] == [Measurand.VOLTAGE, Measurand.ENERGY_EXPORT_REGISTER]


def _clock_updates(actions: list[object]) -> list[object]:
    return [a for a in actions if isinstance(a, TransactionUpdated) and a.trigger == TriggerReason.METER_VALUE_CLOCK]


def test_aligned_values_suppressed_while_any_transaction_runs_when_configured() -> None:
    """2.0.1 AlignedDataCtrlr.SendDuringIdle=true (J01.FR.20): clock-aligned values only while no transaction runs."""
    clock = VirtualClock(start=datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC))
    ports = {1: DirectDcPort(), 2: DirectDcPort()}
    settings = StationSettings(tx_start_points=(TxPoint.EV_CONNECTED,), aligned_interval_s=60, sample_interval_s=0,
                               aligned_data_send_during_idle=True, aligned_data_during_tx=False)
    station = Station({i: [p] for i, p in ports.items()}, clock, settings)
    idle = _run(station, clock, 130)
    assert len([a for a in idle if isinstance(a, MeterValuesReport)]) == 4  # two boundaries x two idle EVSEs
    ports[1].plug_in()
    busy = _run(station, clock, 130)
    assert _clock_updates(busy) == [] and [a for a in busy if isinstance(a, MeterValuesReport)] == []
    settings.aligned_data_during_tx = True
    again = _run(station, clock, 60)
    assert len(_clock_updates(again)) == 1
    assert len([a for a in again if isinstance(a, MeterValuesReport) and a.evse_id == 2]) == 1


def test_transaction_updates_carry_the_time_they_happened() -> None:
    """An update queued while offline must be stamped when it happened, not when it is finally sent."""
    station, port, clock = _station(StationSettings(tx_start_points=(TxPoint.EV_CONNECTED,), aligned_interval_s=0,
                                                    sample_interval_s=0))
    station.auth.policy.free_vend = True
    port.plug_in()
    _run(station, clock, 0.5)
    station.present_token(1, IdToken("LOCAL"))
    clock.advance(0.1)
    expected = clock.now()
    updates = [a for a in station.tick() if isinstance(a, TransactionUpdated)]
    clock.advance(3600)
    assert updates and all(u.timestamp == expected for u in updates)


def test_remote_start_without_evse_authorizes_the_waiting_car() -> None:
    """EVConnected start point: the plugged car's transaction is not authorized yet; a remote start without an EVSE
    id must pick that EVSE (it used to be skipped because it has a transaction, and the request was rejected)."""
    clock = VirtualClock(start=datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC))
    ports = {1: DirectDcPort(), 2: DirectDcPort()}
    station = Station({i: [p] for i, p in ports.items()}, clock,
                      StationSettings(tx_start_points=(TxPoint.EV_CONNECTED,), aligned_interval_s=0))
    station.authorize_remote_start = False
    ports[2].plug_in()
    started = [a for a in _run(station, clock, 0.5) if isinstance(a, TransactionStarted)]
    assert [s.evse_id for s in started] == [2]
    assert station.remote_start(IdToken("R"), None, remote_start_id=5) == CommandStatus.ACCEPTED
    updates = [a for a in _run(station, clock, 0.5) if isinstance(a, TransactionUpdated) and a.id_token]
    assert [(u.evse_id, u.trigger) for u in updates] == [(2, TriggerReason.REMOTE_START)]


def test_remote_start_without_evse_is_rejected_when_every_evse_is_authorized_busy() -> None:
    station, port, clock = _station(StationSettings(tx_start_points=(TxPoint.EV_CONNECTED,), aligned_interval_s=0))
    station.authorize_remote_start = False
    port.plug_in()
    _run(station, clock, 0.5)
    assert station.remote_start(IdToken("R"), None) == CommandStatus.ACCEPTED
    _run(station, clock, 0.5)
    assert station.remote_start(IdToken("R2"), None) == CommandStatus.REJECTED
