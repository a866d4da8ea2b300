"""The profile store: add / replace / clear / query and the transaction lifecycle (1.6 and 2.x rules)."""

from __future__ import annotations

from dataclasses import replace

from test_schedule_support import T0, at, limits_of, prof, v2x

from chargepoint.energy.model import Kind, OperationMode, Purpose
from chargepoint.energy.profiles import ProfileStore
from chargepoint.energy.schedule import composite, limit_at
from chargepoint.energy.validation import StoreLimits

TX1 = {1: "tx-1"}


def store(version: str = "2.0.1", **limits: object) -> ProfileStore:
    return ProfileStore(version, limits=StoreLimits(evse_ids=frozenset({1, 2}), **limits))  # type: ignore[arg-type]


# -- adding -----------------------------------------------------------------------------------------------------


def test_TC_K_01_CS_tx_default_profile_on_a_specific_evse() -> None:
    s = store()
    r = s.add(prof(1, evse=1))
    assert r.accepted and r.profile == prof(1, evse=1) and r.replaced_ids == ()
    assert s.profiles() == (prof(1, evse=1),)


def test_TC_K_10_CS_tx_default_profile_on_evse_0_applies_to_every_evse() -> None:
    s = store()
    assert s.add(prof(1, periods=[(0, 7_000.0)], evse=0)).accepted
    assert limit_at(s, 1, T0).charge_limit_w == 7_000.0
    assert limit_at(s, 2, T0).charge_limit_w == 7_000.0


def test_TC_056_CS_tx_default_profile_shows_in_the_composite_without_a_transaction() -> None:
    s = store("1.6")
    assert s.add(prof(1, periods=[(0, 10.0)], unit="A", evse=0)).accepted
    assert limits_of(composite(s, 1, T0, 300, "A")) == [(0, 10.0)]


def test_TC_K_02_CS_and_TC_058_1_CS_tx_profile_without_a_transaction_is_rejected() -> None:
    for version in ("1.6", "2.0.1"):
        r = store(version).add(prof(1, Purpose.TX, tx="tx-1"))
        assert not r.accepted and r.rejection is not None and r.rejection.code == "TxNotFound"
        assert "K01.FR.09" in (r.reason or "")


def test_TC_K_16_CS_and_TC_058_2_CS_wrong_transaction_id_is_rejected() -> None:
    for version in ("1.6", "2.0.1"):
        r = store(version).add(prof(1, Purpose.TX, tx="other"), active_tx_ids=TX1)
        assert not r.accepted and r.rejection is not None and r.rejection.code == "TxNotFound"


def test_TC_K_60_CS_and_TC_057_CS_tx_profile_with_the_running_transaction() -> None:
    s = store()
    assert s.add(prof(1, periods=[(0, 11_000.0)], evse=0)).accepted
    assert s.add(prof(2, Purpose.TX, [(0, 4_000.0)], tx="tx-1"), active_tx_ids=TX1).accepted
    assert limit_at(s, 1, T0, ("tx-1", T0)).charge_limit_w == 4_000.0
    assert limit_at(s, 2, T0, ("tx-9", T0)).charge_limit_w == 11_000.0


def test_v201_tx_profile_needs_a_transaction_id_but_v16_binds_the_running_one() -> None:
    r = store().add(prof(1, Purpose.TX), active_tx_ids=TX1)
    assert not r.accepted and "K01.FR.03" in (r.reason or "")
    r = store("1.6").add(prof(1, Purpose.TX), active_tx_ids=TX1)
    assert r.accepted and r.profile is not None and r.profile.transaction_id == "tx-1"


def test_TC_K_11_CS_tx_profile_on_evse_0_is_rejected() -> None:
    r = store().add(prof(1, Purpose.TX, evse=0, tx="tx-1"), active_tx_ids=TX1)
    assert not r.accepted and "K01.FR.16" in (r.reason or "")


def test_TC_K_03_CS_station_max_profile_only_on_evse_0() -> None:
    s = store()
    assert s.add(prof(1, Purpose.STATION_MAX, evse=0)).accepted
    r = s.add(prof(2, Purpose.STATION_MAX, evse=1))
    assert not r.accepted and r.rejection is not None and r.rejection.code == "InvalidProfile"


def test_TC_K_12_CS_unsupported_rate_unit_is_rejected() -> None:
    s = store(rate_units=frozenset({"A"}))
    r = s.add(prof(1, unit="W"))
    assert not r.accepted and r.rejection is not None and r.rejection.code == "UnsupportedRateUnit"


def test_TC_K_14_CS_unknown_evse_is_rejected() -> None:
    r = store().add(prof(1, evse=7))
    assert not r.accepted and r.rejection is not None and r.rejection.code == "UnknownEvse"


def test_TC_K_28_CS_and_TC_082_CS_tx_default_profile_set_during_a_transaction_applies_to_it() -> None:
    s = store("1.6")
    tx = ("tx-1", T0 - (at(600) - T0))
    assert limit_at(s, 1, T0, tx).charge_limit_w is None
    assert s.add(prof(1, periods=[(0, 6_000.0)], evse=1, start=at(-600)), active_tx_ids=TX1).accepted
    assert limit_at(s, 1, T0, tx).charge_limit_w == 6_000.0


def test_TC_059_CS_remote_start_profile_is_bound_once_the_transaction_exists() -> None:
    s = store("1.6")
    remote = prof(5, Purpose.TX, [(0, 8.0)], unit="A", kind=Kind.RELATIVE)
    r = s.add(remote.with_transaction("17"), active_tx_ids={1: "17"})
    assert r.accepted
    assert limits_of(composite(s, 1, T0, 60, "A", tx=("17", T0))) == [(0, 8.0)]
    assert s.transaction_ended("17") == (5,)
    assert s.profiles() == ()


# -- replacement ------------------------------------------------------------------------------------------------


def test_TC_K_04_CS_replace_with_the_same_id() -> None:
    s = store()
    s.add(prof(1, periods=[(0, 6_000.0)]))
    r = s.add(prof(1, periods=[(0, 9_000.0)], stack=3))
    assert r.accepted and r.replaced_ids == (1,)
    assert s.profiles() == (prof(1, periods=[(0, 9_000.0)], stack=3),)


def test_v16_same_stack_level_and_purpose_on_the_same_connector_replaces() -> None:
    s = store("1.6")
    s.add(prof(1, stack=2, evse=1))
    s.add(prof(2, stack=2, evse=2))
    r = s.add(prof(3, stack=2, evse=1))
    assert r.accepted and r.replaced_ids == (1,)
    assert sorted(p.id for p in s.profiles()) == [2, 3]


def test_v201_same_stack_level_and_purpose_with_overlapping_validity_is_refused() -> None:
    s = store()
    s.add(prof(1, stack=2, valid_to=at(3600)))
    r = s.add(prof(2, stack=2, valid_from=at(1800)))
    assert not r.accepted and r.rejection is not None and r.rejection.code == "DuplicateProfile"
    assert "K01.FR.06" in (r.reason or "")
    assert s.add(prof(3, stack=2, valid_from=at(3600))).accepted  # back to back: no overlap
    assert s.add(prof(4, stack=2, evse=2)).accepted  # another EVSE


def test_v201_tx_profiles_with_the_same_stack_level_and_transaction_are_refused() -> None:
    s = store()
    assert s.add(prof(1, Purpose.TX, tx="tx-1", stack=1, valid_to=at(60)), active_tx_ids=TX1).accepted
    r = s.add(prof(2, Purpose.TX, tx="tx-1", stack=1, valid_from=at(3600)), active_tx_ids=TX1)
    assert not r.accepted and "K01.FR.39" in (r.reason or "")
    assert s.add(prof(2, Purpose.TX, tx="tx-1", stack=2), active_tx_ids=TX1).accepted


def test_v201_tx_default_on_evse_0_and_on_an_evse_with_the_same_stack_level_are_refused() -> None:
    s = store()
    s.add(prof(1, stack=1, evse=0))
    r = s.add(prof(2, stack=1, evse=1))
    assert not r.accepted and "K01.FR.52/53" in (r.reason or "")
    s2 = store()
    s2.add(prof(1, stack=1, evse=1))
    assert not s2.add(prof(2, stack=1, evse=0)).accepted


def test_max_profiles_installed() -> None:
    s = store(max_profiles=2)
    assert s.add(prof(1, stack=0)).accepted and s.add(prof(2, stack=1)).accepted
    r = s.add(prof(3, stack=2))
    assert not r.accepted and r.rejection is not None and r.rejection.code == "MaxProfilesReached"
    assert s.add(prof(2, stack=4)).accepted  # a replacement does not need room


# -- external constraints ---------------------------------------------------------------------------------------


def test_csms_may_not_set_external_constraints_but_an_external_system_may() -> None:
    s = store()
    ext = prof(-5, Purpose.EXTERNAL_CONSTRAINTS, [(0, 5_000.0)], evse=0)
    r = s.add(ext)
    assert not r.accepted and "K01.FR.22" in (r.reason or "")
    assert not s.add(ext, from_external=True).accepted  # its limit_source must name the external system
    assert s.add(replace(ext, limit_source="EMS"), from_external=True).accepted
    assert limit_at(s, 1, T0).charge_limit_w == 5_000.0


def test_csms_and_external_system_cannot_replace_each_others_profiles() -> None:
    s = store()
    s.add(prof(5, Purpose.EXTERNAL_CONSTRAINTS, evse=0, source="EMS"), from_external=True)
    r = s.add(prof(5))
    assert not r.accepted and r.rejection is not None and r.rejection.code == "InvalidProfileId"


def test_TC_K_109_CS_and_TC_K_110_CS_max_external_constraints_id() -> None:
    s = store(max_external_constraints_id=100)
    assert s.add(prof(50, Purpose.EXTERNAL_CONSTRAINTS, evse=0, source="SO"), from_external=True).accepted
    assert not s.add(prof(150, Purpose.EXTERNAL_CONSTRAINTS, evse=0, source="SO"), from_external=True).accepted
    r = s.add(prof(60))
    assert not r.accepted and r.rejection is not None and r.rejection.code == "InvalidProfileId"
    assert s.add(prof(101)).accepted


def test_external_profiles_survive_a_csms_clear_and_go_with_clear_external() -> None:
    s = store()
    s.add(prof(-1, Purpose.EXTERNAL_CONSTRAINTS, evse=0, source="EMS"), from_external=True)
    s.add(prof(1))
    assert s.clear().removed_ids == (1,)
    assert s.clear_external("SO").removed_ids == ()
    assert s.clear_external("EMS").removed_ids == (-1,)


# -- clearing ---------------------------------------------------------------------------------------------------


def _three() -> ProfileStore:
    s = store()
    s.add(prof(1, stack=0, evse=0))
    s.add(prof(2, stack=1, evse=1))
    s.add(prof(3, Purpose.STATION_MAX, stack=1, evse=0))
    return s


def test_TC_K_05_CS_and_TC_067_CS_clear_by_id() -> None:
    s = _three()
    r = s.clear(2)
    assert r.matched and r.removed_ids == (2,)
    assert sorted(p.id for p in s.profiles()) == [1, 3]


def test_TC_K_06_CS_clear_by_stack_level_and_purpose() -> None:
    s = _three()
    assert s.clear(purpose=Purpose.TX_DEFAULT, stack_level=1).removed_ids == (2,)


def test_TC_K_07_CS_clear_with_unknown_stack_level_and_purpose_matches_nothing() -> None:
    s = _three()
    r = s.clear(purpose=Purpose.TX_DEFAULT, stack_level=5)
    assert not r.matched and len(s) == 3


def test_TC_K_08_CS_clear_without_any_profile() -> None:
    assert not store().clear(1).matched
    assert not store().clear().matched


def test_TC_K_24_CS_clear_several_profiles_with_one_criterion() -> None:
    s = _three()
    assert s.clear(stack_level=1).removed_ids == (2, 3)


def test_clear_by_id_ignores_the_other_criteria_and_by_evse() -> None:
    s = _three()
    assert s.clear(3, evse_id=1).removed_ids == (3,)
    assert s.clear(evse_id=0).removed_ids == (1,)


def test_TC_K_09_CS_clearing_the_tx_default_profile_during_a_transaction() -> None:
    s = store()
    s.add(prof(1, periods=[(0, 6_000.0)], evse=0))
    tx = ("tx-1", T0)
    assert limit_at(s, 1, T0, tx).charge_limit_w == 6_000.0
    assert s.clear(purpose=Purpose.TX_DEFAULT).matched
    assert limit_at(s, 1, T0, tx).charge_limit_w is None


# -- querying (GetChargingProfiles) -----------------------------------------------------------------------------


def _query_store() -> ProfileStore:
    s = store()
    s.add(prof(1, stack=0, evse=0))
    s.add(prof(2, stack=1, evse=1))
    s.add(prof(3, Purpose.STATION_MAX, stack=1, evse=0))
    s.add(prof(4, Purpose.TX, stack=2, evse=1, tx="tx-1"), active_tx_ids=TX1)
    s.add(prof(-1, Purpose.EXTERNAL_CONSTRAINTS, stack=0, evse=1, source="EMS"), from_external=True)
    return s


def ids(profiles: tuple) -> list[int]:
    return [p.id for p in profiles]


def test_TC_K_29_CS_get_profiles_evse_0() -> None:
    assert ids(_query_store().query(evse_id=0)) == [3, 1]


def test_TC_K_30_CS_get_profiles_evse_1() -> None:
    assert ids(_query_store().query(evse_id=1)) == [2, 4, -1]


def test_TC_K_31_CS_get_profiles_without_evse() -> None:
    assert ids(_query_store().query()) == [3, 1, 2, 4, -1]


def test_TC_K_32_CS_get_profiles_by_id() -> None:
    assert ids(_query_store().query(profile_ids=[2, 4, 99])) == [2, 4]


def test_TC_K_33_CS_get_profiles_evse_and_stack_level() -> None:
    assert ids(_query_store().query(evse_id=1, stack_level=2)) == [4]


def test_TC_K_34_CS_get_profiles_evse_and_charging_limit_source() -> None:
    s = _query_store()
    assert ids(s.query(evse_id=1, limit_sources=["EMS"])) == [-1]
    assert ids(s.query(evse_id=1, limit_sources=["CSO"])) == [2, 4]


def test_TC_K_35_CS_get_profiles_evse_and_purpose() -> None:
    assert ids(_query_store().query(evse_id=1, purpose=Purpose.TX)) == [4]


def test_TC_K_36_CS_get_profiles_evse_purpose_and_stack_level() -> None:
    s = _query_store()
    assert ids(s.query(evse_id=1, purpose=Purpose.TX_DEFAULT, stack_level=1)) == [2]
    assert s.query(evse_id=1, purpose=Purpose.TX_DEFAULT, stack_level=0) == ()


# -- transactions, dynamic profiles, offline --------------------------------------------------------------------


def test_tx_profiles_go_when_their_transaction_ends() -> None:
    s = _query_store()
    assert s.transaction_ended("tx-2") == ()
    assert s.transaction_ended("tx-1", evse_id=1) == (4,)
    assert 4 not in ids(s.profiles())


def test_TC_K_122_CS_and_TC_Q_109_CS_dynamic_profile_push_update() -> None:
    s = ProfileStore("2.1")
    dyn = prof(9, Purpose.TX, [v2x(0, OperationMode.CENTRAL_SETPOINT, setpoint=2_000.0, limit=11_000.0,
                                   discharge_limit=-11_000.0)], kind=Kind.DYNAMIC, tx="tx-1")
    assert s.add(dyn, active_tx_ids=TX1).accepted
    assert s.update_dynamic(9, {"setpoint": -6_000.0, "dischargeLimit": -7_000.0, "limit": None}, at(30)) is None
    updated = s.get(9)
    assert updated is not None and updated.dyn_update_time == at(30)
    per0 = updated.schedule.periods[0]
    assert (per0.setpoint, per0.discharge_limit, per0.limit) == (-6_000.0, -7_000.0, 11_000.0)
    eff = limit_at(s, 1, at(31), ("tx-1", T0))
    assert (eff.setpoint_w, eff.discharge_limit_w) == (-6_000.0, -7_000.0)


def test_TC_K_123_CS_dynamic_update_validations() -> None:
    s = ProfileStore("2.1")
    s.add(prof(1, periods=[v2x(0, OperationMode.CHARGING_ONLY, limit=1.0)]))
    r = s.update_dynamic(1, {"limit": 5.0}, T0)
    assert r is not None and r.code == "InvalidProfile"
    r = s.update_dynamic(2, {"limit": 5.0}, T0)
    assert r is not None and r.code == "NoProfile"
    s.add(prof(3, periods=[v2x(0, OperationMode.CHARGING_ONLY, limit=1.0)], kind=Kind.DYNAMIC, stack=1))
    r = s.update_dynamic(3, {"dischargeLimit": 5.0}, T0)
    assert r is not None and r.code == "InvalidValue"
    r = s.update_dynamic(3, {"operationMode": 5.0}, T0)
    assert r is not None and r.code == "InvalidValue"


def test_TC_Q_128_CS_invalid_after_offline_duration_removes_the_profile_for_good() -> None:
    s = ProfileStore("2.1")
    s.add(prof(1, periods=[v2x(0, OperationMode.CHARGING_ONLY, limit=3_000.0)], stack=0))
    s.add(prof(2, periods=[v2x(0, OperationMode.CENTRAL_SETPOINT, setpoint=-5_000.0)], stack=1,
               max_offline_duration=120, invalid_after_offline_duration=True))
    s.add(prof(3, periods=[v2x(0, OperationMode.CHARGING_ONLY, limit=3_000.0)], stack=2, evse=2,
               max_offline_duration=120))
    assert s.expire_offline(T0, at(119)) == ()
    assert limit_at(s, 1, at(119), offline_since=T0).setpoint_w == -5_000.0
    assert limit_at(s, 1, at(120), offline_since=T0).operation_mode is OperationMode.CHARGING_ONLY
    assert s.expire_offline(T0, at(120)) == (2,)
    assert limit_at(s, 1, at(200)).operation_mode is OperationMode.CHARGING_ONLY  # back online: still gone
    assert s.get(3) is not None  # without invalidAfterOfflineDuration it only pauses
