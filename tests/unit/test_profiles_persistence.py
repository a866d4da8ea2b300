"""Profiles survive a restart; an unreadable file is kept aside and the store starts empty."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from test_schedule_support import T0, at, prof, v2x

from chargepoint.energy.model import Kind, OperationMode, Purpose, Recurrency
from chargepoint.energy.profiles import ProfileStore
from chargepoint.energy.schedule import limit_at


def _full_store(path: Path) -> ProfileStore:
    s = ProfileStore("2.1", path=path)
    assert s.load_error is None
    assert s.add(prof(1, Purpose.STATION_MAX, [v2x(0, OperationMode.CHARGING_ONLY, limit=20_000.0)], evse=0,
                      valid_from=at(-60), valid_to=at(86400))).accepted
    assert s.add(prof(2, Purpose.PRIORITY_CHARGING, [v2x(0, OperationMode.CHARGING_ONLY, limit=22_000.0)])).accepted
    assert s.add(prof(3, Purpose.TX, [
        v2x(0, OperationMode.CENTRAL_SETPOINT, setpoint=-4_000.0, discharge_limit=-6_000.0, limit_l2=1.5,
            setpoint_reactive=10.0),
        v2x(60, OperationMode.LOCAL_FREQUENCY, v2x_baseline=100.0, v2x_freq_watt_curve=((49.9, 1.0), (50.1, -1.0)),
            v2x_signal_watt_curve=((-1, 2.0), (1, 3.0))),
    ], tx="tx-1", kind=Kind.DYNAMIC, dyn_update_interval=30, dyn_update_time=T0, max_offline_duration=90,
        invalid_after_offline_duration=True, extras={"customData": {"vendorId": "x"}}), active_tx_ids={1: "tx-1"},
    ).accepted
    assert s.add(prof(4, periods=[v2x(0, OperationMode.CHARGING_ONLY, limit=16.0)], unit="A",
                      kind=Kind.RECURRING, rec=Recurrency.WEEKLY, min_rate=6.0,
                      extras={"randomizedDelay": 0})).accepted
    assert s.add(prof(-7, Purpose.EXTERNAL_CONSTRAINTS, [v2x(0, OperationMode.EXTERNAL_LIMITS, limit=9_000.0)],
                      evse=0, source="SO"), from_external=True).accepted
    return s


def test_TC_K_13_CS_TC_K_105_CS_TC_K_129_CS_profiles_persist_over_a_reboot(tmp_path: Path) -> None:
    path = tmp_path / "profiles.db"
    before = _full_store(path)
    profiles = before.profiles()
    before.close()
    after = ProfileStore("2.1", path=path)
    assert after.load_error is None
    assert after.profiles() == profiles
    assert {p.purpose for p in after.profiles()} >= {Purpose.STATION_MAX, Purpose.PRIORITY_CHARGING}
    assert limit_at(after, 1, T0, ("tx-1", T0)) == limit_at(before.profiles(), 1, T0, ("tx-1", T0))


def test_replacements_clears_and_updates_are_persisted(tmp_path: Path) -> None:
    path = tmp_path / "profiles.db"
    s = _full_store(path)
    s.add(prof(4, periods=[v2x(0, OperationMode.CHARGING_ONLY, limit=10.0)], unit="A", stack=3))
    s.clear(1)
    s.update_dynamic(3, {"setpoint": -1_000.0}, at(5))
    s.transaction_ended("tx-1")
    expected = s.profiles()
    s.close()
    again = ProfileStore("2.1", path=path)
    assert again.profiles() == expected
    assert sorted(p.id for p in expected) == [-7, 2, 4]


def test_a_file_that_is_not_a_database_is_kept_aside_and_the_store_starts_empty(tmp_path: Path) -> None:
    path = tmp_path / "profiles.db"
    path.write_bytes(b"this is not an sqlite file at all" * 100)
    s = ProfileStore("1.6", path=path)
    assert s.profiles() == ()
    assert s.load_error is not None and "profiles.db.corrupt" in s.load_error
    assert (tmp_path / "profiles.db.corrupt").read_bytes().startswith(b"this is not")
    assert s.add(prof(1)).accepted  # the new file works
    s.close()
    assert [p.id for p in ProfileStore("1.6", path=path).profiles()] == [1]


def test_an_undecodable_row_counts_as_corruption(tmp_path: Path) -> None:
    path = tmp_path / "profiles.db"
    _full_store(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE charging_profiles SET body = ? WHERE id = 2", (json.dumps({"id": 2, "oops": True}),))
    s = ProfileStore("2.1", path=path)
    assert s.profiles() == () and s.load_error is not None and "KeyError" in s.load_error
    assert (tmp_path / "profiles.db.corrupt").exists()


def test_repeated_corruption_keeps_every_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    for _ in range(2):
        path.write_bytes(b"garbage" * 200)
        ProfileStore("2.0.1", path=path).close()
    assert (tmp_path / "p.db.corrupt").exists() and (tmp_path / "p.db.corrupt.1").exists()


def test_a_newer_schema_is_not_loaded(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=9")
    s = ProfileStore("2.0.1", path=path)
    assert s.load_error is not None and "schema version 9" in s.load_error


def test_in_memory_store_has_no_file() -> None:
    s = ProfileStore("2.0.1")
    assert s.add(prof(1)).accepted and s.load_error is None
    s.close()


def test_profiles_persisted_under_21_stay_when_a_16_csms_connects_and_new_ones_follow_16_rules(
    tmp_path: Path,
) -> None:
    """The station offered 2.1 first (the store opens with its rules), the CSMS negotiated 1.6: what is installed
    stays (version-neutral model, still limiting), what comes now is judged and replaced by the 1.6 rules."""
    path = tmp_path / "profiles.db"
    _full_store(path).close()
    s = ProfileStore("2.1", path=path)
    installed, limits = s.profiles(), limit_at(s, 1, T0)
    assert limits.charge_limit_w == 9_000.0  # the external SO limit, stored under 2.1
    s.use_rules_of("1.6")
    assert s.version == "1.6" and s.profiles() == installed
    assert limit_at(s, 1, T0) == limits  # ... still limits
    # No startSchedule on an Absolute profile: 1.6 tolerates it (§7.13), 2.x refuses it (K01.FR.40).
    no_start = prof(10, periods=[(0, 16.0)], unit="A", start=None, stack=3)
    assert not ProfileStore("2.1").add(no_start).accepted
    assert s.add(no_start).accepted
    # Same purpose + stackLevel + connector: 1.6 replaces the installed profile (profile 4, stored under 2.1).
    r = s.add(prof(11, periods=[(0, 10.0)], unit="A", start=None))
    assert r.accepted and r.replaced_ids == (4,)
    s.close()
    assert {p.id for p in ProfileStore("2.1", path=path).profiles()} == {p.id for p in installed} - {4} | {10, 11}
