"""Station model gaps found while writing the OCPP 1.6 adapter (each test failed before its fix)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from chargepoint.clock import VirtualClock
from chargepoint.station.actions import Action, AuthorizeRequest, MeterValuesReport, TransactionEnded
from chargepoint.station.core import Station
from chargepoint.station.settings import StationSettings
from chargepoint.station.types import AuthInfo, AuthStatus, CommandStatus, ConnectorStatus, IdToken
from hil.emulators.direct_dc import DirectDcPort

T0 = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)


def make(settings: StationSettings | None = None) -> tuple[Station, VirtualClock, DirectDcPort]:
    clock = VirtualClock(start=T0)
    port = DirectDcPort()
    station = Station({1: [port]}, clock, settings)
    station.set_online(True)
    station.tick()
    return station, clock, port


def run(station: Station, clock: VirtualClock, seconds: float, dt: float = 0.5) -> list[Action]:
    out: list[Action] = []
    for _ in range(round(seconds / dt)):
        clock.advance(dt)
        out += station.tick()
    return out


def start_charging(station: Station, clock: VirtualClock, port: DirectDcPort) -> None:
    port.plug_in()
    assert station.remote_start(IdToken("TAG1"), 1) == CommandStatus.ACCEPTED
    for a in station.drain():
        if isinstance(a, AuthorizeRequest):
            station.authorize_result(a.ref, AuthInfo(AuthStatus.ACCEPTED))
    run(station, clock, 10)
    assert station.status_of(station.evses[1]) == ConnectorStatus.CHARGING


def test_transaction_ended_carries_the_time_it_ended() -> None:
    # Without it a StopTransaction queued while offline would be stamped with the time it is finally sent.
    station, clock, port = make(StationSettings(stop_txn_sampled_measurands=()))
    start_charging(station, clock, port)
    port.unplug()
    ended = [a for a in run(station, clock, 1) if isinstance(a, TransactionEnded)]
    assert len(ended) == 1
    assert ended[0].samples == ()
    assert ended[0].timestamp is not None
    assert T0 < ended[0].timestamp <= clock.now()


def test_changing_the_clock_aligned_interval_reschedules_the_next_aligned_reading() -> None:
    # The next boundary was computed once from the old interval (900 s): after a change to 15 s nothing came for
    # up to 15 minutes.
    station, clock, _ = make(StationSettings(aligned_interval_s=900, aligned_data_send_during_idle=True))
    run(station, clock, 2)
    station.settings.aligned_interval_s = 15
    reports = [a for a in run(station, clock, 61) if isinstance(a, MeterValuesReport)]
    stamps = [r.samples[0].timestamp for r in reports]
    assert len(stamps) == 4
    assert all(t.second % 15 == 0 for t in stamps)
    assert all(b - a == timedelta(seconds=15) for a, b in itertools.pairwise(stamps))


def test_station_wide_inoperative_scheduled_behind_a_transaction_applies_to_the_station_when_it_ends() -> None:
    station, clock, port = make()
    start_charging(station, clock, port)
    assert station.change_availability(False) == CommandStatus.SCHEDULED
    assert station.operative  # still charging
    tx = station.transactions()[0]
    assert station.remote_stop(tx.tx_id) == CommandStatus.ACCEPTED
    run(station, clock, 1)
    assert station.status_of(station.evses[1]) == ConnectorStatus.UNAVAILABLE
    assert station.operative is False  # was left True: connectorId 0 kept reporting Available


def test_station_wide_operative_cancels_a_scheduled_inoperative() -> None:
    station, clock, port = make()
    start_charging(station, clock, port)
    assert station.change_availability(False) == CommandStatus.SCHEDULED
    assert station.change_availability(True) == CommandStatus.ACCEPTED
    tx = station.transactions()[0]
    station.remote_stop(tx.tx_id)
    run(station, clock, 1)
    assert station.operative is True
    assert station.status_of(station.evses[1]) != ConnectorStatus.UNAVAILABLE


def test_clock_aligned_values_are_stamped_with_their_boundary_not_the_tick_time() -> None:
    # Ticks every 0.3 s never land on a 15 s boundary; the values were stamped e.g. 10:00:15.300.
    station, clock, _ = make(StationSettings(aligned_interval_s=15, aligned_data_send_during_idle=True))
    reports = [a for a in run(station, clock, 46.2, dt=0.3) if isinstance(a, MeterValuesReport)]
    stamps = [r.samples[0].timestamp for r in reports]
    assert stamps == [T0 + timedelta(seconds=s) for s in (15, 30, 45)]
