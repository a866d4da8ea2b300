"""ChangeAvailability survives a restart: the station model's availability record, and the session keeping it in the
SQLite store (saved when it changes, put back by ``recover()`` before the first tick).

The restart is a new Station and a new StationSession over the same store file, as after a power cycle. The end to
end cases (1.6 and 2.0.1 over WebSockets) are in tests/integration/test_availability_reboot.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from chargepoint.clock import VirtualClock
from chargepoint.ocpp.session import StationSession
from chargepoint.ocpp.transport import TransportConfig
from chargepoint.persistence.store import StationStore
from chargepoint.station.actions import StatusChanged
from chargepoint.station.core import Station
from chargepoint.station.types import AuthInfo, AuthStatus, CommandStatus, ConnectorStatus, IdToken
from hil.emulators.direct_dc import DirectDcPort


def _station(evses: int = 2) -> Station:
    st = Station({i: [DirectDcPort()] for i in range(1, evses + 1)}, VirtualClock())
    st.set_online(True)
    return st


def _statuses(actions: list[object]) -> dict[int, ConnectorStatus]:
    return {a.evse_id: a.status for a in actions if isinstance(a, StatusChanged)}


def _reboot(record: dict[str, object], evses: int = 2) -> tuple[Station, dict[int, ConnectorStatus]]:
    """A fresh station given ``record`` (through JSON, as stored); its first tick's statuses."""
    st = _station(evses)
    st.restore_availability(json.loads(json.dumps(record)))
    return st, _statuses(st.tick())


def test_evse_connector_and_station_inoperative_come_back_after_a_restart() -> None:
    st = _station()
    st.tick()
    assert st.change_availability(False, 1) == CommandStatus.ACCEPTED  # EVSE
    _, first = _reboot(st.availability())
    assert first == {1: ConnectorStatus.UNAVAILABLE, 2: ConnectorStatus.AVAILABLE}

    st = _station()
    assert st.change_availability(False, 2, 1) == CommandStatus.ACCEPTED  # connector
    _, first = _reboot(st.availability())
    assert first == {1: ConnectorStatus.AVAILABLE, 2: ConnectorStatus.UNAVAILABLE}

    st = _station()
    assert st.change_availability(False) == CommandStatus.ACCEPTED  # the whole station
    again, first = _reboot(st.availability())
    assert first == {1: ConnectorStatus.UNAVAILABLE, 2: ConnectorStatus.UNAVAILABLE} and not again.operative
    # ... and Operative after the restart is a normal change again
    assert again.change_availability(True) == CommandStatus.ACCEPTED
    _, first = _reboot(again.availability())
    assert first == {1: ConnectorStatus.AVAILABLE, 2: ConnectorStatus.AVAILABLE}


def test_a_change_scheduled_behind_a_transaction_is_kept_until_it_takes_effect() -> None:
    st = _station(1)
    port = st.evses[1].connector.port
    assert isinstance(port, DirectDcPort)
    port.plug_in()
    st.present_token(1, IdToken("TAG"))
    st.authorize_result(st.drain()[0].ref, AuthInfo(AuthStatus.ACCEPTED))  # type: ignore[attr-defined]
    for _ in range(50):
        st.clock.advance(0.1)  # type: ignore[attr-defined]
        st.tick()
    assert st.transactions()
    assert st.change_availability(False, 1) == CommandStatus.SCHEDULED
    record = st.availability()
    assert st.evses[1].operative  # not yet in effect ...
    _, first = _reboot(record, 1)  # ... but a restart (without the transaction) carries it out at once
    assert first == {1: ConnectorStatus.UNAVAILABLE}


def _session(store: StationStore, evses: int = 2) -> StationSession:
    session = StationSession(_station(evses), TransportConfig(url="ws://127.0.0.1:1", station_id="CS"), store=store)
    session.recover()  # what run() does first
    return session


def test_session_saves_availability_changes_and_recovers_them(tmp_path: Path) -> None:
    db = tmp_path / "station.sqlite"
    store = StationStore(db)
    session = _session(store)
    session.save_availability()
    assert store.get("availability") is None  # nothing changed, nothing written
    session.station.change_availability(False, 2)
    session.save_availability()  # the tick loop does this after every tick
    store.close()

    store = StationStore(db)  # restart
    session = _session(store)
    assert _statuses(session.station.tick()) == {1: ConnectorStatus.AVAILABLE, 2: ConnectorStatus.UNAVAILABLE}
    session.station.change_availability(True, 2)
    session.save_availability()
    store.close()

    store = StationStore(db)  # restart: Operative was kept as well
    session = _session(store)
    assert _statuses(session.station.tick()) == {1: ConnectorStatus.AVAILABLE, 2: ConnectorStatus.AVAILABLE}
    store.close()


def test_a_record_naming_evses_no_longer_configured_is_applied_to_the_rest(tmp_path: Path) -> None:
    store = StationStore(tmp_path / "station.sqlite")
    session = _session(store, evses=2)
    session.station.change_availability(False, 1)
    session.station.change_availability(False, 2)
    session.save_availability()
    session = _session(store, evses=1)  # reconfigured with one EVSE
    assert _statuses(session.station.tick()) == {1: ConnectorStatus.UNAVAILABLE}
    store.close()
