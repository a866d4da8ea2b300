"""The energy manager in the station loop: profiles -> arbitration -> the port's current, in virtual time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chargepoint.clock import VirtualClock
from chargepoint.energy.manager import EnergyManager, LoadBalancingSettings
from chargepoint.energy.ocpp_codec import from_ocpp
from chargepoint.energy.profiles import ProfileStore
from chargepoint.hardware.interfaces import PowerRatings
from chargepoint.hardware.site import EmulatedSiteMeter
from chargepoint.station.core import Station
from chargepoint.station.types import AuthInfo, AuthStatus, CommandStatus, IdToken
from hil.emulators.direct_dc import DirectDcPort, EvProfile

RATINGS = PowerRatings(max_discharge_current_a=30, max_discharge_power_w=10_000, ramp_a_per_s=200)


def rig(soc: float = 70.0, discharge_a: float = 15.0) -> tuple[Station, DirectDcPort, EnergyManager, VirtualClock]:
    clock = VirtualClock(start=datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
    port = DirectDcPort(ratings=RATINGS, profile=EvProfile(max_discharge_current_a=discharge_a), soc=soc,
                        handshake_s=0.5)
    station = Station({1: [port]}, clock)
    station.set_online(True)
    mgr = EnergyManager(station, ProfileStore("2.1"), {1: RATINGS})
    port.plug_in()
    station.present_token(1, IdToken("T"))
    station.authorize_result(station.drain()[0].ref, AuthInfo(AuthStatus.ACCEPTED))  # type: ignore[attr-defined]
    run(station, clock, 3)
    return station, port, mgr, clock


def run(station: Station, clock: VirtualClock, seconds: float) -> None:
    for _ in range(round(seconds * 10)):
        clock.advance(0.1)
        station.tick()


def profile(setpoint: float, *, pid: int = 1, discharge_limit: float = -20000, mode: str = "CentralSetpoint") -> dict:
    period = {"startPeriod": 0, "setpoint": setpoint, "dischargeLimit": discharge_limit, "limit": 50000,
              "operationMode": mode}
    return {"id": pid, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": [{"id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": [period]}]}


def test_without_profiles_the_car_charges_at_the_maximum() -> None:
    station, _port, mgr, _ = rig(soc=40)
    assert station.reading(1).current_a > 100
    assert mgr.explain(1)["bound_by"].startswith(("ev.", "charger."))


def test_central_setpoint_discharges_and_clearing_returns_to_charging() -> None:
    station, _port, mgr, clock = rig()
    res = mgr.store.add(from_ocpp(profile(-4000), "2.1", evse_id=1))
    assert res.accepted
    mgr.reevaluate(1)
    run(station, clock, 3)
    r = station.reading(1)
    assert r.power_w == pytest.approx(-4000, rel=0.03)
    export_before = r.export_wh
    run(station, clock, 10)
    assert station.reading(1).export_wh > export_before
    assert mgr.explain(1)["bound_by"] == "schedule.setpoint"
    assert mgr.store.clear(1).matched
    mgr.reevaluate(1)
    run(station, clock, 3)
    assert station.reading(1).current_a > 0


def test_request_beyond_the_cars_discharge_limit_is_honoured_only_up_to_it() -> None:
    station, _port, mgr, clock = rig(discharge_a=10)
    mgr.store.add(from_ocpp(profile(-9000), "2.1", evse_id=1))
    mgr.reevaluate(1)
    run(station, clock, 3)
    r = station.reading(1)
    assert r.current_a == pytest.approx(-10, abs=0.5)
    assert mgr.explain(1)["bound_by"] == "ev.max_discharge_current"


def test_no_discharge_at_the_soc_floor() -> None:
    station, _port, mgr, clock = rig(soc=15.0)  # the profile's floor is 20 %: the car refuses discharge
    mgr.store.add(from_ocpp(profile(-4000), "2.1", evse_id=1))
    mgr.reevaluate(1)
    run(station, clock, 3)
    assert station.reading(1).current_a >= 0


def test_charging_only_mode_never_discharges() -> None:
    station, _port, mgr, clock = rig()
    mgr.store.add(from_ocpp(profile(-4000, mode="ChargingOnly"), "2.1", evse_id=1))
    mgr.reevaluate(1)
    run(station, clock, 3)
    assert station.reading(1).current_a >= 0


def test_composite_schedule_reports_what_the_station_will_do() -> None:
    station, _port, mgr, clock = rig(discharge_a=10)
    mgr.store.add(from_ocpp(profile(-9000), "2.1", evse_id=1))
    mgr.reevaluate(1)
    run(station, clock, 2)
    sched = mgr.composite_schedule(1, clock.now(), 600)
    (p,) = sched.periods
    v = station.reading(1).voltage_v
    # the CSMS asked for -9 kW; the car allows 10 A at ~v volts: the schedule says so
    assert p.setpoint == pytest.approx(-10 * v, rel=0.02)
    assert p.discharge_limit == pytest.approx(-10 * v, rel=0.02)


# ---------------------------------------------------------------------------------------------------- fixes
def v16_profile(limit: float, unit: str = "W", *, pid: int = 1, purpose: str = "TxDefaultProfile",
                stack: int = 0) -> dict:
    return {"chargingProfileId": pid, "stackLevel": stack, "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Relative",
            "chargingSchedule": {"chargingRateUnit": unit, "chargingSchedulePeriod": [{"startPeriod": 0,
                                                                                        "limit": limit}]}}


def test_a_transactions_tx_profiles_go_when_it_ends() -> None:
    station, _port, mgr, clock = rig(soc=40)
    tx = station.transactions()[0]
    tx_profile = profile(-4000, pid=7)
    tx_profile |= {"chargingProfilePurpose": "TxProfile", "transactionId": tx.tx_id}
    assert mgr.store.add(from_ocpp(tx_profile, "2.1", evse_id=1), active_tx_ids={1: tx.tx_id}).accepted
    assert mgr.store.add(from_ocpp(profile(3000, pid=2), "2.1", evse_id=1)).accepted  # not bound to it: stays
    assert station.remote_stop(tx.tx_id) == CommandStatus.ACCEPTED
    assert [p.id for p in mgr.store.profiles()] == [2]
    run(station, clock, 1)


def test_a_current_limit_on_dc_means_amps_at_the_metered_voltage() -> None:
    station, _port, mgr, clock = rig(soc=40)
    v16 = EnergyManager(station, ProfileStore("1.6"), {1: RATINGS})  # 1.6 profiles in A
    assert v16.store.add(from_ocpp(v16_profile(10, "A"), "1.6", evse_id=1)).accepted
    v16.reevaluate(1)
    run(station, clock, 3)
    r = station.reading(1)
    assert r.voltage_v < 395  # far from the 400 V nominal: the old conversion gave ~10.5 A
    assert 9.9 <= r.current_a <= 10.01
    assert v16.explain(1)["bound_by"] == "schedule.limit" and mgr.explain(1)["watts"] is not None


def test_composite_in_amps_converts_the_physical_window_at_the_metered_voltage() -> None:
    station, _port, mgr, _clock = rig(soc=40)
    v = station.reading(1).voltage_v
    sched = mgr.composite_schedule(1, station.clock.now(), 60, "A")
    (p,) = sched.periods
    assert p.limit == pytest.approx(min(125.0, RATINGS.max_charge_power_w / v), rel=1e-3)


def test_composite_of_the_grid_connection_is_the_sum_of_what_each_evse_will_do() -> None:
    clock = VirtualClock(start=datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
    ports = {1: DirectDcPort(ratings=RATINGS, soc=40, handshake_s=0.5), 2: DirectDcPort(ratings=RATINGS)}
    station = Station({i: [p] for i, p in ports.items()}, clock)
    mgr = EnergyManager(station, ProfileStore("1.6"), {1: RATINGS, 2: RATINGS})
    now = clock.now()
    # no profile at all: before the fix every period had no limit (unsendable in 1.6 / 2.0.1)
    (p,) = mgr.composite_schedule(0, now, 600).periods
    assert p.limit == 2 * RATINGS.max_charge_power_w
    assert mgr.store.add(from_ocpp(v16_profile(4000), "1.6", evse_id=1)).accepted
    (p,) = mgr.composite_schedule(0, now, 600).periods
    assert p.limit == 4000 + RATINGS.max_charge_power_w
    cap = v16_profile(30000, pid=2, purpose="ChargePointMaxProfile")
    cap["chargingProfileKind"] = "Absolute"
    cap["chargingSchedule"]["startSchedule"] = "2026-06-01T12:05:00Z"
    assert mgr.store.add(from_ocpp(cap, "1.6", evse_id=0)).accepted
    sched = mgr.composite_schedule(0, now, 600)
    assert [(p.start_s, p.limit) for p in sched.periods] == [(0, 54000), (300, 30000)]


def test_switching_charge_to_discharge_does_not_flicker_the_status() -> None:
    from chargepoint.station.actions import StatusChanged, TransactionUpdated

    station, _port, mgr, clock = rig()
    station.drain()
    mgr.store.add(from_ocpp(profile(-4000), "2.1", evse_id=1))
    mgr.reevaluate(1)
    out: list[object] = []
    for _ in range(50):
        clock.advance(0.1)
        out += station.tick()
    assert station.reading(1).current_a < 0
    states = [a.charging_state for a in out if isinstance(a, TransactionUpdated) and a.charging_state]
    assert states == []  # the flow reversed through 0 A without leaving "Charging"
    assert [a for a in out if isinstance(a, StatusChanged)] == []


def test_Q09_evses_under_load_balancing_share_the_site_equally() -> None:
    clock = VirtualClock(start=datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
    ports = {i: DirectDcPort(ratings=RATINGS, profile=EvProfile(max_discharge_current_a=15.0), soc=60,
                             handshake_s=0.5) for i in (1, 2)}
    station = Station({i: [p] for i, p in ports.items()}, clock)
    station.set_online(True)
    meter = EmulatedSiteMeter(base_load_w=26_000.0)
    mgr = EnergyManager(station, ProfileStore("2.1"), dict.fromkeys(ports, RATINGS), site_meter=meter)
    for e in mgr.evses.values():
        e.load_balancing = LoadBalancingSettings(20_000.0, 0.0, upper_offset_w=-1_000.0)
    llb = profile(0, mode="LocalLoadBalancing")
    del llb["chargingSchedule"][0]["chargingSchedulePeriod"][0]["setpoint"]
    assert mgr.store.add(from_ocpp(llb, "2.1", evse_id=0)).accepted
    for i, port in ports.items():
        port.plug_in()
        station.present_token(i, IdToken(f"T{i}"))
        station.authorize_result(station.drain()[-1].ref, AuthInfo(AuthStatus.ACCEPTED))  # type: ignore[attr-defined]
    run(station, clock, 4)
    # 26 kW of building load: both cars discharge 3.5 kW, the site draws UpperThreshold + UpperOffset = 19 kW
    assert [station.reading(i).power_w for i in ports] == [pytest.approx(-3_500, rel=0.03)] * 2
    assert mgr.site is not None and mgr.site.import_w == pytest.approx(19_000, rel=0.01)
    assert mgr.explain(1)["load_balance"]["share"] == 2
    meter.base_load_w = 10_000.0  # inside the band: neither car is used
    run(station, clock, 2)
    assert [station.reading(i).power_w for i in ports] == [pytest.approx(0, abs=50)] * 2
    mgr.evses[2].load_balancing.lower_threshold_w = 30_000.0  # not valid any more on EVSE 2: it stops balancing
    meter.base_load_w = -5_000.0
    run(station, clock, 2)
    assert station.reading(2).power_w == pytest.approx(0, abs=50)
    assert mgr.explain(2)["bound_by"] == "site.unavailable"
    assert station.reading(1).power_w == pytest.approx(5_000, rel=0.03)  # alone now: absorbs the whole surplus


def test_Q08_the_site_meter_feeds_the_frequency_and_each_evse_keeps_its_threshold() -> None:
    station, _port, mgr, clock = rig()
    meter = EmulatedSiteMeter(frequency_hz=49.9)
    mgr.use_site_meter(meter)
    run(station, clock, 0.2)
    assert mgr.frequency_hz == 49.9 and mgr.site is not None and mgr.site.frequency_hz == 49.9
    meter.available = False
    run(station, clock, 0.2)
    assert mgr.site is None and mgr.frequency_hz == 49.9  # a lost meter keeps the last frequency
