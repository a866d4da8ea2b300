"""OCPP 1.6 Smart Charging on the charge-point side (chargepoint/ocpp/v16_smart.py), in virtual time.

The station (with its ProfileStore + EnergyManager, as chargepoint.app builds it) runs an emulated direct-DC car; the
CSMS is the ``ocpp`` library's ChargePoint over the in-memory link of v16_rig (every CALL and answer is
schema-validated by the library on the other side, including GetCompositeSchedule's ``multipleOf 0.1``). Tests assert
what the car actually gets (the port's measured current / power, the MeterValues the CSMS receives), not only the
answers. Named after the OCPP 1.6 CTT charge-point cases (docs/reference/ocpp16_cs_testcases.tsv).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
from ocpp.v16 import call
from v16_rig import T0, Rig, config_of

from chargepoint.clock import VirtualClock, parse_iso
from chargepoint.energy.manager import EnergyManager
from chargepoint.energy.model import Purpose
from chargepoint.energy.profiles import ProfileStore
from chargepoint.energy.validation import StoreLimits
from chargepoint.hardware.interfaces import PowerRatings
from chargepoint.ocpp.v16_smart import v16_smart_state
from chargepoint.station.core import Station
from hil.emulators.direct_dc import DirectDcPort, EvProfile

RATINGS = PowerRatings(ramp_a_per_s=200)  # 125 A / 50 kW charge, 30 A / 10 kW discharge
CAR = EvProfile(max_discharge_current_a=15)  # discharges at most 15 A


# ---------------------------------------------------------------------------------------------------- rig
class SmartRig(Rig):
    def __init__(self, evses: int = 1, socs: dict[int, float] | None = None, car: EvProfile = CAR,
                 energy: bool = True) -> None:
        clock = VirtualClock(start=T0)
        ports = {i: DirectDcPort(ratings=RATINGS, profile=car, soc=(socs or {}).get(i, 50.0), handshake_s=0.5,
                                 stop_s=0.5)
                 for i in range(1, evses + 1)}
        station = Station({i: [p] for i, p in ports.items()}, clock)
        self.energy: EnergyManager | None = None
        if energy:
            store = ProfileStore("1.6", limits=StoreLimits(evse_ids=frozenset(ports)))
            self.energy = EnergyManager(station, store, {i: RATINGS for i in ports})
        station.set_online(True)
        station.tick()
        station.drain()
        super().__init__(station=station, clock=clock)

    @property
    def store(self) -> ProfileStore:
        assert self.energy is not None
        return self.energy.store

    def current(self, connector_id: int = 1) -> float:
        return self.station.reading(connector_id).current_a

    def power(self, connector_id: int = 1) -> float:
        return self.station.reading(connector_id).power_w

    async def set_profile(self, connector_id: int, profile: dict[str, Any]) -> str:
        res = await self.call(call.SetChargingProfile(connector_id=connector_id, cs_charging_profiles=profile))
        status: str = res.status
        return status

    async def composite(self, connector_id: int, duration: int, unit: str | None = None) -> Any:
        return await self.call(call.GetCompositeSchedule(connector_id=connector_id, duration=duration,
                                                         charging_rate_unit=unit))

    async def configure(self, key: str, value: str) -> None:
        assert (await self.call(call.ChangeConfiguration(key=key, value=value))).status == "Accepted"

    def sampled(self, measurand: str, since: int = 0) -> list[float]:
        """Every value of ``measurand`` in the MeterValues the CSMS received."""
        return [float(v["value"]) for mv in self.calls("MeterValues", since) for entry in mv["meterValue"]
                for v in entry["sampledValue"] if v.get("measurand") == measurand]


@pytest.fixture
async def make_smart() -> AsyncIterator[Callable[..., SmartRig]]:
    rigs: list[SmartRig] = []

    def make(**kwargs: Any) -> SmartRig:
        r = SmartRig(**kwargs)
        rigs.append(r)
        return r

    yield make
    for r in rigs:
        await r.close()


@pytest.fixture
async def rig(make_smart: Callable[..., SmartRig]) -> SmartRig:
    return make_smart()


def profile(pid: int, purpose: str, periods: Sequence[tuple[int, float]], unit: str = "A", *, stack: int = 0,
            kind: str = "Relative", tx: int | None = None, duration: int | None = None,
            start: str | None = None) -> dict[str, Any]:
    schedule: dict[str, Any] = {"chargingRateUnit": unit,
                                "chargingSchedulePeriod": [{"startPeriod": s, "limit": lim} for s, lim in periods]}
    if duration is not None:
        schedule["duration"] = duration
    if start is not None:
        schedule["startSchedule"] = start
    out: dict[str, Any] = {"chargingProfileId": pid, "stackLevel": stack, "chargingProfilePurpose": purpose,
                           "chargingProfileKind": kind, "chargingSchedule": schedule}
    if tx is not None:
        out["transactionId"] = tx
    return out


def periods_of(res: Any) -> list[tuple[int, float]]:
    return [(p["start_period"], float(p["limit"])) for p in res.charging_schedule["charging_schedule_period"]]


# ---------------------------------------------------------------------------------------------------- feature profile
async def test_smart_charging_is_advertised_and_its_keys_report_the_stores_limits(rig: SmartRig) -> None:
    got = config_of(await rig.call(call.GetConfiguration(key=[
        "SupportedFeatureProfiles", "ChargeProfileMaxStackLevel", "ChargingScheduleAllowedChargingRateUnit",
        "ChargingScheduleMaxPeriods", "MaxChargingProfilesInstalled", "NegativeLimitPolicy"])))
    limits = rig.store.limits
    assert got == {
        "SupportedFeatureProfiles": (True, "Core,LocalAuthListManagement,SmartCharging,RemoteTrigger"),
        "ChargeProfileMaxStackLevel": (True, str(limits.max_stack_level)),
        "ChargingScheduleAllowedChargingRateUnit": (True, "Current,Power"),
        "ChargingScheduleMaxPeriods": (True, str(limits.max_periods)),
        "MaxChargingProfilesInstalled": (True, str(limits.max_profiles)),
        "NegativeLimitPolicy": (False, "Reject"),
    }
    for key in ("ChargeProfileMaxStackLevel", "ChargingScheduleAllowedChargingRateUnit", "ChargingScheduleMaxPeriods",
                "MaxChargingProfilesInstalled"):  # read-only in 1.6 (§9.4)
        assert (await rig.call(call.ChangeConfiguration(key=key, value="1"))).status == "Rejected"


async def test_negative_limit_policy_is_a_read_write_switch(rig: SmartRig) -> None:
    await rig.configure("negativelimitpolicy", "discharge")  # case-insensitive, stored in its canonical spelling
    assert config_of(await rig.call(call.GetConfiguration(key=["NegativeLimitPolicy"]))) == {
        "NegativeLimitPolicy": (False, "Discharge")}
    for bad in ("Charge", "", "true"):
        assert (await rig.call(call.ChangeConfiguration(key="NegativeLimitPolicy", value=bad))).status == "Rejected"
    await rig.configure("NegativeLimitPolicy", "Reject")
    assert rig.station.settings.extra["NegativeLimitPolicy"] == "Reject"


async def test_the_limits_in_the_configuration_keys_are_enforced(rig: SmartRig) -> None:
    assert await rig.set_profile(1, profile(1, "TxDefaultProfile", [(0, 10)], stack=9)) == "Rejected"
    many = [(i * 60, 10) for i in range(rig.store.limits.max_periods + 1)]
    assert await rig.set_profile(1, profile(1, "TxDefaultProfile", many)) == "Rejected"
    assert len(rig.store) == 0


async def test_without_an_energy_manager_smart_charging_is_not_supported(make_smart: Callable[..., SmartRig]) -> None:
    rig = make_smart(energy=False)
    got = config_of(await rig.call(call.GetConfiguration(key=["SupportedFeatureProfiles"])))
    assert got == {"SupportedFeatureProfiles": (True, "Core,LocalAuthListManagement,RemoteTrigger")}
    assert await rig.set_profile(1, profile(1, "TxDefaultProfile", [(0, 10)])) == "NotSupported"
    assert (await rig.composite(1, 60)).status == "Rejected"
    assert (await rig.call(call.ClearChargingProfile())).status == "Unknown"


# ---------------------------------------------------------------------------------------------------- 23 smart charging
async def test_TC_056_CS_central_smart_charging_tx_default_profile(rig: SmartRig) -> None:
    await rig.configure("MeterValueSampleInterval", "5")
    assert await rig.set_profile(1, profile(1, "TxDefaultProfile", [(0, 10)])) == "Accepted"
    await rig.remote_session()
    await rig.run(10)
    assert rig.current() == pytest.approx(10, abs=0.05)  # amps at the car's voltage, not at a nominal one
    assert rig.current() <= 10.0 + 1e-6
    assert rig.sampled("Current.Import")[-1] == pytest.approx(10, abs=0.05)
    # a TxDefaultProfile on connector 0 applies to every connector; the connector's own one wins on the same level
    assert await rig.set_profile(0, profile(2, "TxDefaultProfile", [(0, 6)], stack=1)) == "Accepted"
    await rig.run(2)
    assert rig.current() == pytest.approx(6, abs=0.05)


async def test_TC_057_CS_central_smart_charging_tx_profile(rig: SmartRig) -> None:
    await rig.configure("MeterValueSampleInterval", "5")
    tx = await rig.remote_session()
    await rig.run(2)
    assert rig.power() > 40_000  # nothing limits it yet
    mark = rig.mark()
    assert await rig.set_profile(1, profile(1, "TxProfile", [(0, 4000)], "W", tx=tx)) == "Accepted"
    installed = rig.store.get(1)
    assert installed is not None and installed.transaction_id == rig.station.transactions()[0].tx_id  # station's id
    await rig.run(10)
    assert rig.power() == pytest.approx(4000, rel=0.005)
    assert rig.sampled("Power.Active.Import", mark)[-1] == pytest.approx(4000, rel=0.005)
    assert rig.energy is not None and rig.energy.explain(1)["bound_by"] == "schedule.limit"


async def test_TC_058_1_CS_tx_profile_without_an_ongoing_transaction(rig: SmartRig) -> None:
    rig.ports[1].plug_in()
    await rig.run(1)
    assert await rig.set_profile(1, profile(1, "TxProfile", [(0, 10)])) == "Rejected"
    assert await rig.set_profile(1, profile(1, "TxProfile", [(0, 10)], tx=1001)) == "Rejected"
    assert await rig.set_profile(0, profile(1, "TxProfile", [(0, 10)])) == "Rejected"  # never on connector 0
    assert len(rig.store) == 0


async def test_TC_058_2_CS_tx_profile_with_a_wrong_transaction_id(rig: SmartRig) -> None:
    tx = await rig.remote_session()
    assert await rig.set_profile(1, profile(1, "TxProfile", [(0, 10)], tx=tx + 1)) == "Rejected"
    assert len(rig.store) == 0
    await rig.run(2)
    assert rig.current() > 100  # still unconstrained


async def test_TC_059_CS_remote_start_transaction_with_charging_profile(rig: SmartRig) -> None:
    await rig.configure("MeterValueSampleInterval", "5")
    rig.ports[1].plug_in()
    await rig.run(1)
    res = await rig.call(call.RemoteStartTransaction(id_tag="TAG1", connector_id=1,
                                                     charging_profile=profile(5, "TxProfile", [(0, 6)])))
    assert res.status == "Accepted"
    await rig.pump()
    peak = 0.0
    for _ in range(20):  # from the first ampere on, never above the profile
        await rig.run(0.5)
        peak = max(peak, rig.current())
    assert peak <= 6.0 + 1e-6 and rig.current() == pytest.approx(6, abs=0.05)
    tx_id = rig.station.transactions()[0].tx_id
    installed = rig.store.get(5)
    assert installed is not None and installed.purpose is Purpose.TX and installed.transaction_id == tx_id
    assert periods_of(await rig.composite(1, 300, "A")) == [(0, 6.0)]
    # the profile belongs to that transaction only: it goes when the transaction ends
    rig.ports[1].unplug()
    await rig.run(1)
    assert rig.calls("StopTransaction") and len(rig.store) == 0
    await rig.remote_session()
    await rig.run(2)
    assert rig.current() > 100


async def test_TC_059_CS_remote_start_profile_follows_the_transaction_not_the_request(rig: SmartRig) -> None:
    """A remote start that times out leaves nothing behind for a later, unrelated transaction."""
    await rig.configure("ConnectionTimeOut", "2")
    res = await rig.call(call.RemoteStartTransaction(id_tag="TAG1", connector_id=1,
                                                     charging_profile=profile(5, "TxProfile", [(0, 6)])))
    assert res.status == "Accepted"
    await rig.pump()
    await rig.run(4)  # nobody plugs in: the remote start expires
    await rig.remote_session("TAG1")
    await rig.run(2)
    assert rig.current() > 100 and len(rig.store) == 0
    assert v16_smart_state(rig.station).pending == {}
    assert len(rig.calls("StartTransaction")) == 1


async def test_TC_060_CS_remote_start_transaction_with_charging_profile_rejected(rig: SmartRig) -> None:
    rig.ports[1].plug_in()
    await rig.run(1)
    mark = rig.mark()
    for bad in (profile(5, "TxDefaultProfile", [(0, 6)]), profile(5, "ChargePointMaxProfile", [(0, 6)]),
                profile(5, "TxProfile", [(0, 6)], tx=1001),
                profile(5, "TxProfile", [(0, 6)], stack=99)):  # a profile the station would not install
        res = await rig.call(call.RemoteStartTransaction(id_tag="TAG1", connector_id=1, charging_profile=bad))
        assert res.status == "Rejected", bad
    await rig.run(3)
    assert rig.station.evses[1].pending is None and rig.station.transactions() == []
    assert "StartTransaction" not in rig.actions(mark) and "Authorize" not in rig.actions(mark)
    assert len(rig.store) == 0


async def test_TC_066_CS_get_composite_schedule(make_smart: Callable[..., SmartRig]) -> None:
    rig = make_smart(evses=2, socs={2: 100.0})
    start = rig.clock.now()
    absolute = profile(1, "TxDefaultProfile", [(0, 16), (300, 10)], kind="Absolute", start="2026-03-01T10:00:00Z")
    assert await rig.set_profile(1, absolute) == "Accepted"
    res = await rig.composite(1, 600, "A")
    assert res.status == "Accepted" and res.connector_id == 1
    assert parse_iso(res.schedule_start) == start
    sched = res.charging_schedule
    assert (sched["duration"], sched["charging_rate_unit"]) == (600, "A")
    assert periods_of(res) == [(0, 16.0), (300, 10.0)]
    # without a unit: the unit of the profiles it is made of
    assert periods_of(await rig.composite(1, 600)) == [(0, 16.0), (300, 10.0)]
    # in W: at the nominal DC voltage while no car is connected, rounded toward zero to 0.1 W
    nominal = rig.energy.nominal_voltage_v if rig.energy else 0.0
    assert periods_of(await rig.composite(1, 600, "W")) == [(0, 16 * nominal), (300, 10 * nominal)]
    # connector 0: the grid connection, the sum of the connectors (connector 2 has no profile: the charger's
    # 50 kW rating) within the station max (from 10:05 on)
    cap = profile(2, "ChargePointMaxProfile", [(0, 30_000)], "W", kind="Absolute", start="2026-03-01T10:05:00Z")
    assert await rig.set_profile(0, cap) == "Accepted"
    total = await rig.composite(0, 600, "W")
    assert total.status == "Accepted" and total.connector_id == 0
    assert periods_of(total) == [(0, 16 * nominal + RATINGS.max_charge_power_w), (300, 30_000.0)]
    assert (await rig.composite(3, 600)).status == "Rejected"  # unknown connector
    # what the car allows is part of it: connector 2's car is full, so the station will not charge it
    rig.ports[2].plug_in()
    await rig.run(1)
    assert periods_of(await rig.composite(2, 60, "A")) == [(0, 0.0)]


async def test_TC_066_CS_composite_limits_are_rounded_to_one_decimal(rig: SmartRig) -> None:
    await rig.remote_session()
    assert await rig.set_profile(1, profile(1, "TxDefaultProfile", [(0, 12.3)])) == "Accepted"
    await rig.run(3)
    v = rig.station.reading(1).voltage_v
    res = await rig.composite(1, 60, "W")  # the library validated multipleOf 0.1
    ((_, limit),) = periods_of(res)
    assert limit == pytest.approx(12.3 * v, abs=0.1) and limit <= 12.3 * v and round(limit * 10) == limit * 10


async def test_TC_067_CS_clear_charging_profile(rig: SmartRig) -> None:
    tx = await rig.remote_session()
    assert await rig.set_profile(1, profile(1, "TxProfile", [(0, 4000)], "W", tx=tx)) == "Accepted"
    assert await rig.set_profile(0, profile(2, "TxDefaultProfile", [(0, 20)], stack=1)) == "Accepted"
    await rig.run(3)
    assert rig.power() == pytest.approx(4000, rel=0.005)
    assert (await rig.call(call.ClearChargingProfile(id=1))).status == "Accepted"
    await rig.run(2)
    assert rig.current() == pytest.approx(20, abs=0.05)  # the default shows through
    assert (await rig.call(call.ClearChargingProfile(id=1))).status == "Unknown"
    # connector 1 holds no profile (the default is on connector 0): nothing matches
    assert (await rig.call(call.ClearChargingProfile(connector_id=1, charging_profile_purpose="TxDefaultProfile"))
            ).status == "Unknown"
    assert (await rig.call(call.ClearChargingProfile(connector_id=0, charging_profile_purpose="TxDefaultProfile",
                                                     stack_level=1))).status == "Accepted"
    await rig.run(2)
    assert rig.current() > 100  # clearing restores full power
    assert (await rig.call(call.ClearChargingProfile())).status == "Unknown"


async def test_TC_072_CS_stacking_charging_profiles(rig: SmartRig) -> None:
    await rig.remote_session()
    assert await rig.set_profile(1, profile(1, "TxDefaultProfile", [(0, 10)], stack=0)) == "Accepted"
    t0 = rig.clock.now()
    on_top = profile(2, "TxDefaultProfile", [(0, 5)], stack=1, kind="Absolute", duration=60,
                     start=t0.isoformat().replace("+00:00", "Z"))
    assert await rig.set_profile(1, on_top) == "Accepted"
    assert periods_of(await rig.composite(1, 120, "A")) == [(0, 5.0), (60, 10.0)]
    await rig.run(30)
    assert rig.current() == pytest.approx(5, abs=0.05)
    await rig.run(35)
    assert rig.current() == pytest.approx(10, abs=0.05)  # the higher level's duration is over
    # the same stackLevel and purpose on the same connector replaces (§3.13.2)
    assert await rig.set_profile(1, profile(3, "TxDefaultProfile", [(0, 8)], stack=0)) == "Accepted"
    assert rig.store.get(1) is None
    await rig.run(2)
    assert rig.current() == pytest.approx(8, abs=0.05)


async def test_TC_082_CS_tx_default_profile_with_ongoing_transaction(rig: SmartRig) -> None:
    await rig.remote_session()
    await rig.run(2)
    assert rig.current() > 100
    assert await rig.set_profile(1, profile(1, "TxDefaultProfile", [(0, 7000)], "W")) == "Accepted"
    await rig.run(1)  # applied at once, not only to the next transaction
    assert rig.power() == pytest.approx(7000, rel=0.005)
    # a TxDefaultProfile stays after the transaction
    rig.ports[1].unplug()
    await rig.run(1)
    assert rig.store.get(1) is not None


async def test_charge_point_max_profile_only_on_connector_0_and_caps_the_connector(rig: SmartRig) -> None:
    await rig.remote_session()
    cap = profile(1, "ChargePointMaxProfile", [(0, 9000)], "W", kind="Absolute", start="2026-03-01T09:00:00Z")
    assert await rig.set_profile(1, cap) == "Rejected"
    assert await rig.set_profile(0, cap) == "Accepted"
    assert await rig.set_profile(1, profile(2, "TxDefaultProfile", [(0, 20_000)], "W")) == "Accepted"
    await rig.run(2)
    assert rig.power() == pytest.approx(9000, rel=0.005)  # the minimum of the two
    assert await rig.set_profile(2, cap) == "Rejected"  # unknown connector


# ---------------------------------------------------------------------------------------------------- V2G
async def test_negative_limit_is_rejected_with_the_default_policy(rig: SmartRig) -> None:
    tx = await rig.remote_session()
    assert await rig.set_profile(1, profile(1, "TxProfile", [(0, -4000)], "W", tx=tx)) == "Rejected"
    await rig.run(2)
    assert rig.current() > 100 and len(rig.store) == 0


async def test_v2g_negative_limit_discharges_with_the_discharge_policy(rig: SmartRig) -> None:
    await rig.configure("NegativeLimitPolicy", "Discharge")
    await rig.configure("MeterValueSampleInterval", "5")
    tx = await rig.remote_session()
    mark = rig.mark()
    assert await rig.set_profile(1, profile(1, "TxProfile", [(0, -4000)], "W", tx=tx)) == "Accepted"
    await rig.run(3)
    assert rig.power() == pytest.approx(-4000, rel=0.005)
    export_before = rig.station.reading(1).export_wh
    await rig.run(30)
    assert rig.station.reading(1).export_wh - export_before == pytest.approx(4000 * 30 / 3600, rel=0.02)
    assert rig.sampled("Power.Active.Export", mark)[-1] == pytest.approx(4000, rel=0.005)
    assert rig.sampled("Power.Active.Import", mark)[-1] == 0
    registers = rig.sampled("Energy.Active.Export.Register", mark)
    assert len(registers) >= 3 and registers == sorted(registers) and registers[-1] > registers[0]
    assert periods_of(await rig.composite(1, 60, "W")) == [(0, -4000.0)]  # reported the way it came
    # clearing returns to charging
    assert (await rig.call(call.ClearChargingProfile(id=1))).status == "Accepted"
    await rig.run(2)
    assert rig.current() > 100


async def test_v2g_request_beyond_the_cars_discharge_limit_is_honoured_only_up_to_it(rig: SmartRig) -> None:
    await rig.configure("NegativeLimitPolicy", "Discharge")
    tx = await rig.remote_session()
    assert await rig.set_profile(1, profile(1, "TxProfile", [(0, -9000)], "W", tx=tx)) == "Accepted"
    await rig.run(3)
    assert rig.current() == pytest.approx(-CAR.max_discharge_current_a, abs=0.05)
    assert rig.energy is not None and rig.energy.explain(1)["bound_by"] == "ev.max_discharge_current"
    v = rig.station.reading(1).voltage_v
    ((_, limit),) = periods_of(await rig.composite(1, 60, "W"))
    assert limit == pytest.approx(-CAR.max_discharge_current_a * v, abs=0.2)  # what it will do, not what was asked
