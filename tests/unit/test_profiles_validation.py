"""Profile validation: each rule, with the reason it reports."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from test_schedule_support import T0, at, per, prof, v2x

from chargepoint.energy.model import ChargingProfile, Kind, OperationMode, Purpose, RateUnit, Recurrency
from chargepoint.energy.profiles import ProfileStore
from chargepoint.energy.schedule import limit_at
from chargepoint.energy.validation import StoreLimits, validate_profile

M = OperationMode
CURVE = ((49.8, 5_000.0), (50.2, -5_000.0))


def check(p: ChargingProfile, version: str = "2.1", **kw: Any) -> tuple[str, str] | None:
    limits = kw.pop("limits", StoreLimits())
    r = validate_profile(p, version, limits=limits, **kw)
    return None if r is None else (r.code, r.reason)


def code(p: ChargingProfile, version: str = "2.1", **kw: Any) -> str | None:
    r = check(p, version, **kw)
    return None if r is None else r[0]


def reason(p: ChargingProfile, version: str = "2.1", **kw: Any) -> str:
    r = check(p, version, **kw)
    assert r is not None
    return r[1]


def test_a_plain_profile_is_valid_in_every_version() -> None:
    for version in ("1.6", "2.0.1", "2.1"):
        assert check(prof(1), version) is None


def test_first_start_period_must_be_0() -> None:
    assert "K01.FR.31" in reason(prof(1, periods=[(10, 1.0)]))


def test_periods_must_strictly_increase() -> None:
    assert "K01.FR.35" in reason(prof(1, periods=[(0, 1.0), (60, 2.0), (60, 3.0)]))


def test_stack_level_within_the_maximum() -> None:
    assert code(prof(1, stack=9)) == "InvalidStackLevel"
    assert code(prof(1, stack=-1), "1.6") == "InvalidStackLevel"
    assert code(prof(1, stack=3), limits=StoreLimits(max_stack_level=3)) is None


def test_number_of_periods_within_the_maximum() -> None:
    many = prof(1, periods=[(i * 60, 1.0) for i in range(5)])
    assert "at most 4" in reason(many, limits=StoreLimits(max_periods=4))


def test_absolute_and_recurring_need_a_start_schedule_relative_must_not_have_one() -> None:
    assert "K01.FR.40" in reason(prof(1, start=None))
    assert "K01.FR.40" in reason(prof(1, kind=Kind.RECURRING, rec=Recurrency.DAILY, start=None))
    relative_with_start = replace(prof(1, kind=Kind.RELATIVE), schedules=(prof(1).schedule,))
    assert "K01.FR.41" in reason(relative_with_start)
    # 1.6 (§7.13): no startSchedule = relative to the start of charging; tolerated there
    assert check(prof(1, start=None), "1.6") is None
    assert check(relative_with_start, "1.6") is None


def test_recurring_needs_a_recurrency_kind() -> None:
    assert "recurrencyKind" in reason(prof(1, kind=Kind.RECURRING))


def test_station_max_profile_cannot_be_relative() -> None:
    assert "K01.FR.38" in reason(prof(1, Purpose.STATION_MAX, evse=0, kind=Kind.RELATIVE))


def test_transaction_id_only_in_a_tx_profile() -> None:
    assert "only allowed in a TxProfile" in reason(prof(1, tx="tx-1"))


def test_validity_must_be_an_interval() -> None:
    assert "validTo" in reason(prof(1, valid_from=at(60), valid_to=at(60)))


def test_discharge_limit_must_not_be_positive() -> None:
    bad = prof(1, Purpose.TX, [v2x(0, M.CENTRAL_SETPOINT, setpoint=1.0, discharge_limit=5.0)], tx="t")
    assert "must be <= 0" in reason(bad, active_tx_ids={1: "t"})


def test_phase_to_use_needs_one_phase_and_phase_switching() -> None:
    p = prof(1, periods=[per(0, 16.0, number_phases=1, phase_to_use=2)], unit="A")
    assert "K01.FR.20" in reason(p, "2.0.1")
    assert check(p, "2.0.1", limits=StoreLimits(ac_phase_switching=True)) is None
    three = prof(1, periods=[per(0, 16.0, number_phases=3, phase_to_use=2)], unit="A")
    assert "K01.FR.19" in reason(three, "2.0.1", limits=StoreLimits(ac_phase_switching=True))


def test_purposes_per_version() -> None:
    assert code(prof(1, Purpose.PRIORITY_CHARGING), "2.0.1") == "UnsupportedPurpose"
    assert code(prof(1, Purpose.EXTERNAL_CONSTRAINTS, source="EMS"), "1.6", from_external=True) is None


def test_TC_K_131_CS_local_generation_unsupported() -> None:
    lg = prof(1, Purpose.LOCAL_GENERATION, evse=0)
    assert "K01.FR.120" in reason(lg, limits=StoreLimits(additional_purposes=frozenset()))


def test_TC_K_104_CS_priority_charging_is_charging_only_without_duration() -> None:
    ok = prof(1, Purpose.PRIORITY_CHARGING, [v2x(0, M.CHARGING_ONLY, limit=22_000.0)])
    assert check(ok) is None
    assert "K01.FR.70" in reason(replace(ok, schedules=(replace(ok.schedule, duration=600),)))
    discharge = prof(1, Purpose.PRIORITY_CHARGING, [v2x(0, M.CENTRAL_SETPOINT, setpoint=-1.0)])
    assert "not allowed in a PriorityCharging" in reason(discharge)


def test_TC_K_101_CS_operation_modes_allowed_per_purpose() -> None:
    for mode in M:
        kw: dict[str, Any] = {"limit": 1.0, "setpoint": 1.0, "v2x_baseline": 0.0, "v2x_freq_watt_curve": CURVE}
        p = prof(1, Purpose.TX_DEFAULT, [v2x(0, mode, **kw)])
        assert check(p) is None, mode
    assert "not allowed" in reason(prof(1, Purpose.STATION_MAX, [v2x(0, M.EXTERNAL_LIMITS, limit=1.0)], evse=0))
    ext = prof(-1, Purpose.EXTERNAL_CONSTRAINTS, [v2x(0, M.EXTERNAL_SETPOINT, setpoint=1.0)], source="EMS")
    assert check(ext, from_external=True) is None
    assert "not allowed" in reason(replace(ext, purpose=Purpose.LOCAL_GENERATION), from_external=True)
    # replacing a profile (same id) switches the mode in force
    store = ProfileStore("2.1")
    assert store.add(prof(1, Purpose.TX_DEFAULT, [v2x(0, M.CHARGING_ONLY, limit=7_000.0)])).accepted
    assert limit_at(store, 1, T0).operation_mode is M.CHARGING_ONLY
    r = store.add(prof(1, Purpose.TX_DEFAULT, [v2x(0, M.CENTRAL_SETPOINT, setpoint=-4_000.0)]))
    assert r.accepted and r.replaced_ids == (1,)
    eff = limit_at(store, 1, T0)
    assert (eff.operation_mode, eff.setpoint_w) == (M.CENTRAL_SETPOINT, -4_000.0)


@pytest.mark.parametrize(
    ("period", "words"),
    [
        (v2x(0, M.CHARGING_ONLY), "ChargingOnly needs a limit"),
        (v2x(0, M.CENTRAL_SETPOINT, limit=1.0), "CentralSetpoint needs a setpoint"),
        (v2x(0, M.CENTRAL_FREQUENCY), "CentralFrequency needs a setpoint"),
        (v2x(0, M.LOCAL_FREQUENCY, v2x_freq_watt_curve=CURVE), "Q08.FR.02"),
        (v2x(0, M.LOCAL_FREQUENCY, v2x_baseline=0.0, v2x_freq_watt_curve=CURVE[:1]), "Q08.FR.02"),
        (v2x(0, M.LOCAL_FREQUENCY, v2x_baseline=0.0, v2x_freq_watt_curve=CURVE[::-1]), "increasing"),
        (v2x(0, M.CENTRAL_FREQUENCY, setpoint=0.0, v2x_signal_watt_curve=((5, 1.0), (-5, 2.0))), "increasing"),
        (v2x(0, M.CENTRAL_SETPOINT, setpoint=-1.0, setpoint_l2=1.0), "different signs"),
    ],
)
def test_required_values_per_operation_mode(period: Any, words: str) -> None:
    assert words in reason(prof(1, Purpose.TX_DEFAULT, [period]))


def test_TC_Q_119_CS_local_frequency_needs_watts() -> None:
    lf = prof(1, periods=[v2x(0, M.LOCAL_FREQUENCY, v2x_baseline=0.0, v2x_freq_watt_curve=CURVE)], unit="A")
    assert "Q08.FR.05" in reason(lf)
    assert check(replace(lf, schedules=(replace(lf.schedule, rate_unit=RateUnit.W),))) is None


def test_TC_Q_123_CS_local_load_balancing_not_supported() -> None:
    p = prof(1, periods=[v2x(0, M.LOCAL_LOAD_BALANCING)])
    modes = frozenset(M) - {M.LOCAL_LOAD_BALANCING}
    assert code(p, limits=StoreLimits(operation_modes=modes)) == "UnsupportedParam"


def test_TC_K_135_CS_and_TC_Q_126_CS_evse_sleep_unsupported() -> None:
    idle = prof(1, periods=[v2x(0, M.IDLE, evse_sleep=True)])
    assert check(idle) is None  # TC_Q_125: Idle with evseSleep where supported
    assert "K01.FR.126" in reason(idle, limits=StoreLimits(evse_sleep=False))


def test_TC_K_132_CS_use_local_time_unsupported() -> None:
    assert "K01.FR.123" in reason(prof(1, extras={"useLocalTime": True}))
    assert check(prof(1, extras={"useLocalTime": False})) is None


def test_TC_K_133_CS_randomized_delay_unsupported() -> None:
    assert "K01.FR.124" in reason(prof(1, extras={"randomizedDelay": 30}))
    assert "K01.FR.95" in reason(prof(1, Purpose.STATION_MAX, evse=0, extras={"randomizedDelay": 30}))
    assert check(prof(1, extras={"randomizedDelay": 30}), limits=StoreLimits(randomized_delay=True)) is None


def test_TC_K_134_CS_limit_at_soc_unsupported() -> None:
    assert "K01.FR.125" in reason(prof(1, extras={"limitAtSoC": {"soc": 80, "limit": 3000}}))


def test_dynamic_kind_and_its_fields() -> None:
    dyn = prof(1, periods=[v2x(0, M.CHARGING_ONLY, limit=1.0)], kind=Kind.DYNAMIC, dyn_update_interval=60)
    assert check(dyn) is None
    assert "K01.FR.121" in reason(dyn, limits=StoreLimits(dynamic_profiles=False))
    assert "K01.FR.122" in reason(replace(dyn, kind=Kind.ABSOLUTE))
    assert "K01.FR.122" in reason(replace(dyn, kind=Kind.ABSOLUTE, dyn_update_interval=None, dyn_update_time=T0))


def test_schedule_counts_per_version() -> None:
    two = replace(prof(1), schedules=(prof(1).schedule, prof(1).schedule))
    assert check(two, "2.0.1") is None
    assert "1 in 1.6" in reason(two, "1.6")
    assert "1..3" in reason(replace(prof(1), schedules=()), "2.0.1")


def test_negative_durations_rates_and_phases() -> None:
    s = prof(1).schedule
    assert "negative duration" in reason(replace(prof(1), schedules=(replace(s, duration=-1),)))
    assert "minChargingRate" in reason(replace(prof(1), schedules=(replace(s, min_charging_rate=-1.0),)))
    assert "numberPhases" in reason(prof(1, periods=[per(0, 1.0, number_phases=4)]))
    assert "maxOfflineDuration" in reason(prof(1, max_offline_duration=-5))
