"""OCPP 1.6J Smart Charging end to end: station + EnergyManager + StationSession + V16Adapter against the CSMS
emulator over real WebSockets.

The station is assembled like chargepoint.app does it (ProfileStore + EnergyManager) with emulated direct-DC cars
(handshake 0.2 s, current ramp 200 A/s) and runs in real time. What the car gets is read from the MeterValues the
CSMS receives (MeterValueSampleInterval = 1): tests wait for the sample that shows the expected current or power,
with time-outs, never with fixed sleeps. Named after the OCPP 1.6 CTT charge-point cases.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
from test_v16_session import CP, Bench

from chargepoint.clock import RealClock, iso, parse_iso
from chargepoint.energy.manager import EnergyManager
from chargepoint.energy.profiles import ProfileStore
from chargepoint.energy.validation import StoreLimits
from chargepoint.hardware.interfaces import PowerRatings
from chargepoint.ocpp.session import StationSession
from chargepoint.ocpp.transport import TransportConfig
from chargepoint.station.auth import Authorizer
from chargepoint.station.core import Station
from hil.emulators.csms import CsmsEmulator, Frame
from hil.emulators.direct_dc import DirectDcPort, EvProfile

pytestmark = pytest.mark.timeout(30)

RATINGS = PowerRatings(ramp_a_per_s=200)
CAR = EvProfile(max_discharge_current_a=15)


class SmartBench(Bench):
    energy: EnergyManager

    async def set_profile(self, connector_id: int, profile: dict[str, Any]) -> str:
        res = await self.call("SetChargingProfile", {"connectorId": connector_id, "csChargingProfiles": profile})
        status: str = res["status"]
        return status

    async def wait_sample(self, measurand: str, pred: Callable[[float], bool], after: int = -1,
                          timeout: float = 8.0) -> Frame:
        """The first MeterValues after ``after`` whose ``measurand`` value satisfies ``pred``."""
        def match(payload: dict[str, Any]) -> bool:
            v = sample(payload, measurand)
            return v is not None and pred(v)

        return await self.wait("MeterValues", match, after, timeout)


def sample(payload: dict[str, Any], measurand: str) -> float | None:
    for entry in payload.get("meterValue", []):
        for v in entry["sampledValue"]:
            if v.get("measurand") == measurand:
                return float(v["value"])
    return None


def near(target: float, tolerance: float) -> Callable[[float], bool]:
    return lambda v: abs(v - target) <= tolerance


@contextlib.asynccontextmanager
async def bench(evses: int = 1) -> AsyncIterator[SmartBench]:
    async with CsmsEmulator(protocols=("ocpp1.6",)) as csms:
        ports = {i: DirectDcPort(ratings=RATINGS, profile=CAR, handshake_s=0.2, stop_s=0.2)
                 for i in range(1, evses + 1)}
        station = Station({i: [p] for i, p in ports.items()}, RealClock(), None, Authorizer())
        energy = EnergyManager(station, ProfileStore("1.6", limits=StoreLimits(evse_ids=frozenset(ports))),
                               {i: RATINGS for i in ports})
        transport = TransportConfig(url=csms.url, station_id=CP, protocols=("ocpp1.6",), backoff_initial_s=0.05,
                                    backoff_max_s=0.2, backoff_jitter=0.0)
        session = StationSession(station, transport, tick_s=0.05, response_timeout_s=5, default_retry_s=1)
        task = asyncio.create_task(session.run())
        b = SmartBench(csms, station, ports, session)
        b.energy = energy
        try:
            await session.wait_accepted(5)
            await b.wait_status(1, "Available")
            await b.configure("MeterValueSampleInterval", "1")
            yield b
        finally:
            session.stop()
            await asyncio.wait_for(task, 5)


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


def periods(res: dict[str, Any]) -> list[tuple[int, float]]:
    return [(p["startPeriod"], p["limit"]) for p in res["chargingSchedule"]["chargingSchedulePeriod"]]


# ---------------------------------------------------------------------------------------------------- 23 smart charging
async def test_TC_056_CS_central_smart_charging_tx_default_profile() -> None:
    async with bench() as b:
        config = await b.get_config("SupportedFeatureProfiles", "ChargeProfileMaxStackLevel", "NegativeLimitPolicy")
        assert "SmartCharging" in (config["SupportedFeatureProfiles"][1] or "").split(",")
        assert config["ChargeProfileMaxStackLevel"] == (True, "8")
        assert config["NegativeLimitPolicy"] == (False, "Reject")
        assert await b.set_profile(1, profile(1, "TxDefaultProfile", [(0, 10)])) == "Accepted"
        tx = await b.remote_session()
        mv = await b.wait_sample("Current.Import", near(10, 0.05))
        assert mv.payload["transactionId"] == tx
        later = await b.wait("MeterValues", None, mv.index)
        assert (sample(later.payload, "Current.Import") or 0) <= 10.001  # and stays there (3 decimals)


async def test_TC_057_CS_central_smart_charging_tx_profile() -> None:
    async with bench() as b:
        tx = await b.remote_session()
        await b.wait_sample("Current.Import", lambda a: a > 100)
        mark = b.mark()
        assert await b.set_profile(1, profile(1, "TxProfile", [(0, 4000)], "W", tx=tx)) == "Accepted"
        await b.wait_sample("Power.Active.Import", near(4000, 20), mark)


async def test_TC_058_1_CS_central_smart_charging_no_ongoing_transaction() -> None:
    async with bench() as b:
        assert await b.set_profile(1, profile(1, "TxProfile", [(0, 10)])) == "Rejected"
        assert await b.set_profile(1, profile(1, "TxProfile", [(0, 10)], tx=1)) == "Rejected"
        assert len(b.energy.store) == 0


async def test_TC_058_2_CS_central_smart_charging_wrong_transaction_id() -> None:
    async with bench() as b:
        tx = await b.remote_session()
        assert await b.set_profile(1, profile(1, "TxProfile", [(0, 10)], tx=tx + 1)) == "Rejected"
        mark = b.mark()
        await b.wait_sample("Current.Import", lambda a: a > 100, mark)  # nothing changed


async def test_TC_059_CS_remote_start_transaction_with_charging_profile() -> None:
    async with bench() as b:
        mark = b.mark()
        b.ports[1].plug_in()
        await b.wait_status(1, "Preparing", mark)
        res = await b.call("RemoteStartTransaction", {"idTag": "TAG1", "connectorId": 1,
                                                      "chargingProfile": profile(5, "TxProfile", [(0, 6)])})
        assert res["status"] == "Accepted"
        start = await b.wait("StartTransaction", None, mark)
        tx = (await b.answer_to(start))["transactionId"]
        settled = await b.wait_sample("Current.Import", near(6, 0.05), start.index)
        values = [sample(f.payload, "Current.Import") for f in b.csms.calls(CP, "MeterValues")
                  if start.index < f.index <= settled.index]
        assert all(v is not None and v <= 6.0 for v in values)  # from the first ampere on
        comp = await b.call("GetCompositeSchedule", {"connectorId": 1, "duration": 60, "chargingRateUnit": "A"})
        assert periods(comp) == [(0, 6.0)]
        # a SetChargingProfile for the same transaction and stack level replaces it (§5.16.2)
        assert await b.set_profile(1, profile(6, "TxProfile", [(0, 8)], tx=tx)) == "Accepted"
        assert [p.id for p in b.energy.store.profiles()] == [6]
        b.ports[1].unplug()
        await b.wait("StopTransaction", None, settled.index)
        assert len(b.energy.store) == 0  # gone with its transaction


async def test_TC_060_CS_remote_start_transaction_with_charging_profile_rejected() -> None:
    async with bench() as b:
        mark = b.mark()
        b.ports[1].plug_in()
        await b.wait_status(1, "Preparing", mark)
        for bad in (profile(5, "TxDefaultProfile", [(0, 6)]), profile(5, "TxProfile", [(0, 6)], tx=1)):
            res = await b.call("RemoteStartTransaction", {"idTag": "TAG1", "connectorId": 1, "chargingProfile": bad})
            assert res["status"] == "Rejected"
        await b.barrier()
        assert b.sent("Authorize", mark) == [] and b.sent("StartTransaction", mark) == []


async def test_TC_066_CS_get_composite_schedule() -> None:
    async with bench(evses=2) as b:
        now = b.station.clock.now().replace(microsecond=0)
        absolute = profile(1, "TxDefaultProfile", [(0, 16), (300, 10)], kind="Absolute", start=iso(now))
        assert await b.set_profile(1, absolute) == "Accepted"
        res = await b.call("GetCompositeSchedule", {"connectorId": 1, "duration": 600, "chargingRateUnit": "A"})
        assert res["status"] == "Accepted" and res["connectorId"] == 1
        start = parse_iso(res["scheduleStart"])
        assert 0 <= (start - now).total_seconds() < 2
        first_change = math.floor(300 - (start - now).total_seconds())  # from the whole second it falls in
        assert periods(res) == [(0, 16), (first_change, 10)]
        assert res["chargingSchedule"]["chargingRateUnit"] == "A" and res["chargingSchedule"]["duration"] == 600
        total = await b.call("GetCompositeSchedule", {"connectorId": 0, "duration": 60, "chargingRateUnit": "W"})
        assert total["connectorId"] == 0
        assert periods(total) == [(0, 16 * b.energy.nominal_voltage_v + RATINGS.max_charge_power_w)]
        assert (await b.call("GetCompositeSchedule", {"connectorId": 3, "duration": 60}))["status"] == "Rejected"


async def test_TC_067_CS_clear_charging_profile() -> None:
    async with bench() as b:
        tx = await b.remote_session()
        assert await b.set_profile(1, profile(1, "TxProfile", [(0, 4000)], "W", tx=tx)) == "Accepted"
        limited = await b.wait_sample("Power.Active.Import", near(4000, 20))
        assert (await b.call("ClearChargingProfile", {"id": 1}))["status"] == "Accepted"
        await b.wait_sample("Current.Import", lambda a: a > 100, limited.index)  # full power again
        assert (await b.call("ClearChargingProfile", {"id": 1}))["status"] == "Unknown"
        assert (await b.call("ClearChargingProfile", {}))["status"] == "Unknown"


async def test_TC_072_CS_stacking_charging_profiles() -> None:
    async with bench() as b:
        await b.remote_session()
        assert await b.set_profile(1, profile(1, "TxDefaultProfile", [(0, 10)], stack=0)) == "Accepted"
        start = iso(b.station.clock.now())
        on_top = profile(2, "TxDefaultProfile", [(0, 5)], stack=1, kind="Absolute", duration=3, start=start)
        assert await b.set_profile(1, on_top) == "Accepted"
        low = await b.wait_sample("Current.Import", near(5, 0.05))
        await b.wait_sample("Current.Import", near(10, 0.05), low.index)  # stack 1's 3 s are over


async def test_TC_082_CS_central_smart_charging_tx_default_profile_with_ongoing_transaction() -> None:
    async with bench() as b:
        await b.remote_session()
        full = await b.wait_sample("Current.Import", lambda a: a > 100)
        assert await b.set_profile(1, profile(1, "TxDefaultProfile", [(0, 7000)], "W")) == "Accepted"
        await b.wait_sample("Power.Active.Import", near(7000, 35), full.index)


# ---------------------------------------------------------------------------------------------------- V2G with 1.6
async def test_v2g_negative_limit_is_rejected_by_default() -> None:
    async with bench() as b:
        tx = await b.remote_session()
        assert await b.set_profile(1, profile(1, "TxProfile", [(0, -4000)], "W", tx=tx)) == "Rejected"
        assert len(b.energy.store) == 0


async def test_v2g_end_to_end_with_negative_limit_policy_discharge() -> None:
    async with bench() as b:
        await b.configure("NegativeLimitPolicy", "Discharge")
        tx = await b.remote_session()
        mark = b.mark()
        assert await b.set_profile(1, profile(1, "TxProfile", [(0, -4000)], "W", tx=tx)) == "Accepted"
        first = await b.wait_sample("Power.Active.Export", near(4000, 20), mark)
        assert sample(first.payload, "Power.Active.Import") == 0
        assert sample(first.payload, "Current.Export") == pytest.approx(4000 / (sample(first.payload, "Voltage") or 1),
                                                                        abs=0.05)
        second = await b.wait("MeterValues", None, first.index)
        third = await b.wait("MeterValues", None, second.index)
        registers = [sample(f.payload, "Energy.Active.Export.Register") or 0 for f in (first, second, third)]
        assert registers[0] < registers[1] < registers[2]
        await b.barrier()  # 1.6 has no discharging status: energy transfer either way is Charging
        assert [s["status"] for s in b.sent("StatusNotification", mark) if s["connectorId"] == 1][-1] == "Charging"
        comp = await b.call("GetCompositeSchedule", {"connectorId": 1, "duration": 60, "chargingRateUnit": "W"})
        assert periods(comp) == [(0, -4000)]
        # clearing returns to charging
        assert (await b.call("ClearChargingProfile", {"id": 1}))["status"] == "Accepted"
        charging = await b.wait_sample("Current.Import", lambda a: a > 100, third.index)
        # a request beyond the car's discharge limit is honoured only up to it
        assert await b.set_profile(1, profile(2, "TxProfile", [(0, -9000)], "W", tx=tx)) == "Accepted"
        capped = await b.wait_sample("Current.Export", near(CAR.max_discharge_current_a, 0.05), charging.index)
        volts = sample(capped.payload, "Voltage") or 0
        assert sample(capped.payload, "Power.Active.Export") == pytest.approx(CAR.max_discharge_current_a * volts,
                                                                              rel=0.01)
        assert b.energy.explain(1)["bound_by"] == "ev.max_discharge_current"
