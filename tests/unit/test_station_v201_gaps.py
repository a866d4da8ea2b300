"""Station-model behaviour the 2.0.1 adapter relies on (gaps found while writing it)."""

from __future__ import annotations

from datetime import UTC, datetime

from chargepoint.clock import VirtualClock
from chargepoint.station.actions import TransactionStarted, TransactionUpdated
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
