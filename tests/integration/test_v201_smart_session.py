"""OCPP 2.0.1 smart charging end to end: station model + energy manager + StationSession + V201Adapter against the
CSMS emulator over real WebSockets, with an emulated DC car (real-time clock, 50 ms ticks, fast current ramp).

Tests wait for recorded frames (``csms.wait_for``) with time-outs, never on fixed sleeps. Names carry the
certification case whose station behaviour they assert. :func:`smart_bench` is shared with the 2.1 tests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from chargepoint.app import build_chademo
from chargepoint.clock import RealClock
from chargepoint.config import EvConfig, EvseConfig
from chargepoint.energy.manager import EnergyManager
from chargepoint.energy.profiles import ProfileStore
from chargepoint.energy.validation import StoreLimits
from chargepoint.hardware.interfaces import ConnectorPort, PowerRatings
from chargepoint.ocpp.session import StationSession
from chargepoint.ocpp.transport import TransportConfig
from chargepoint.station.core import Station
from chargepoint.station.settings import StationSettings
from chargepoint.station.types import IdToken
from hil.emulators.csms import CsmsBehaviour, CsmsEmulator, Frame
from hil.emulators.direct_dc import DirectDcPort
from hil.emulators.ev_profiles import PROFILES

pytestmark = pytest.mark.timeout(60)

CS = "CS-SMART"
RATINGS = PowerRatings(max_discharge_current_a=30, max_discharge_power_w=10_000, ramp_a_per_s=400)


@dataclass
class SmartBench:
    csms: CsmsEmulator
    station: Station
    port: Any  # DirectDcPort, or a CHAdeMO connector (same ConnectorPort + plug_in / unplug)
    energy: EnergyManager
    session: StationSession

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.csms.call(CS, action, payload, timeout=5)

    async def wait(self, action: str, pred: Callable[[dict[str, Any]], bool] | None = None, after: int = -1,
                   timeout: float = 10.0) -> Frame:
        return await self.csms.wait_for(CS, action, pred, timeout=timeout, after=after)

    def mark(self) -> int:
        return self.csms.mark()

    async def charge(self, timeout: float = 10.0) -> str:
        """Plug in, present a token, wait until energy flows; the transactionId."""
        mark = self.mark()
        self.port.plug_in()
        self.station.present_token(1, IdToken("TAG1"))
        started = await self.wait("TransactionEvent", lambda p: p["eventType"] == "Started", mark)
        await self.wait("TransactionEvent", lambda p: p["transactionInfo"].get("chargingState") == "Charging", mark,
                        timeout=timeout)
        tx_id: str = started.payload["transactionInfo"]["transactionId"]
        return tx_id

    async def wait_power(self, check: Callable[[float], bool], after: int = -1, timeout: float = 10.0) -> Frame:
        """The first periodic TransactionEvent whose signed power (import - export) passes ``check``."""
        return await self.wait("TransactionEvent", lambda p: (w := signed_power(p)) is not None and check(w), after,
                               timeout)

    def station_errors(self) -> list[str]:
        """CALLERRORs the CSMS sent: each one would mean the station sent something invalid."""
        return [f.raw for f in self.csms.frames if f.direction == "tx" and f.message_type == 4]


def values(payload: dict[str, Any], measurand: str) -> list[float]:
    return [float(s["value"]) for mv in payload.get("meterValue", []) for s in mv["sampledValue"]
            if s.get("measurand") == measurand]


def signed_power(payload: dict[str, Any]) -> float | None:
    imp, exp = values(payload, "Power.Active.Import"), values(payload, "Power.Active.Export")
    if not imp or not exp:
        return None
    return imp[0] - exp[0]


@contextlib.asynccontextmanager
async def smart_bench(protocol: str = "ocpp2.0.1", behaviour: CsmsBehaviour | None = None,
                      soc: float = 60.0, port: ConnectorPort | None = None) -> AsyncIterator[SmartBench]:
    """The station with one EVSE: ``port`` (default: a direct-DC emulated car at ``soc``) against the emulator."""
    version = protocol.removeprefix("ocpp")
    async with CsmsEmulator(protocols=(protocol,), behaviour=behaviour) as csms:
        port = port or DirectDcPort(ratings=RATINGS, soc=soc, handshake_s=0.2, stop_s=0.2)
        station = Station({1: [port]}, RealClock(), StationSettings(aligned_interval_s=0, sample_interval_s=1))
        energy = EnergyManager(station, ProfileStore(version, limits=StoreLimits(evse_ids=frozenset({1}))),
                               {1: RATINGS})
        transport = TransportConfig(url=csms.url, station_id=CS, protocols=(protocol,), backoff_initial_s=0.05,
                                    backoff_max_s=0.2, backoff_jitter=0.0)
        session = StationSession(station, transport, tick_s=0.05, response_timeout_s=5)
        task = asyncio.create_task(session.run())
        try:
            await session.wait_accepted(10)
            yield SmartBench(csms, station, port, energy, session)
        finally:
            session.stop()
            await asyncio.wait_for(task, 5)


def tx_profile(pid: int, tx_id: str, periods: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": pid, "stackLevel": 0, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
            "transactionId": tx_id,
            "chargingSchedule": [{"id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": periods}]}


# ----------------------------------------------------------------------------------------------------------------
async def test_TC_K_60_CS_v2g_with_the_negative_limit_switch_discharge_clear_and_charge_again() -> None:
    async with smart_bench() as b:
        tx_id = await b.charge()
        res = await b.call("SetVariables", {"setVariableData": [{
            "component": {"name": "SmartChargingCtrlr"}, "variable": {"name": "NegativeLimitPolicy"},
            "attributeValue": "Discharge"}]})
        assert res["setVariableResult"][0]["attributeStatus"] == "Accepted"
        mark = b.mark()
        res = await b.call("SetChargingProfile", {"evseId": 1, "chargingProfile": tx_profile(
            1, tx_id, [{"startPeriod": 0, "limit": -4000.0}])})
        assert res["status"] == "Accepted"
        assert b.port._setpoint_w == pytest.approx(-4000)  # the port had it before the CSMS got Accepted
        first = await b.wait_power(lambda w: abs(w + 4000) < 200, mark)
        second = await b.wait_power(lambda w: abs(w + 4000) < 200, first.index)
        exported = [values(f.payload, "Energy.Active.Export.Register")[0] for f in (first, second)]
        assert exported[1] > exported[0]
        composite = await b.call("GetCompositeSchedule", {"evseId": 1, "duration": 60})
        assert composite["schedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": -4000.0}]
        mark = b.mark()
        assert (await b.call("ClearChargingProfile", {"chargingProfileId": 1}))["status"] == "Accepted"
        await b.wait_power(lambda w: w > 20_000, mark)
        assert b.station_errors() == []


async def test_TC_K_37_CS_remote_start_with_tx_profile_over_the_wire() -> None:
    async with smart_bench() as b:
        mark = b.mark()
        profile = {"id": 5, "stackLevel": 0, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
                   "chargingSchedule": [{"id": 1, "chargingRateUnit": "W",
                                         "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6000.0}]}]}
        res = await b.call("RequestStartTransaction", {"idToken": {"idToken": "APP", "type": "Central"},
                                                       "remoteStartId": 9, "evseId": 1, "chargingProfile": profile})
        assert res["status"] == "Accepted"
        b.port.plug_in()
        started = await b.wait("TransactionEvent", lambda p: p["eventType"] == "Started", mark)
        tx_id = started.payload["transactionInfo"]["transactionId"]
        await b.wait_power(lambda w: abs(w - 6000) < 200, mark)
        installed = b.energy.store.get(5)
        assert installed is not None and installed.transaction_id == tx_id
        # GetChargingProfiles shows it, bound to the transaction, in one report
        mark = b.mark()
        res = await b.call("GetChargingProfiles", {"requestId": 4, "chargingProfile": {
            "chargingProfilePurpose": "TxProfile"}, "evseId": 1})
        assert res["status"] == "Accepted"
        report = await b.wait("ReportChargingProfiles", after=mark)
        assert report.payload["chargingProfile"][0]["transactionId"] == tx_id and report.payload["tbc"] is False
        needs = await b.wait("NotifyEVChargingNeeds")
        assert needs.payload["chargingNeeds"]["requestedEnergyTransfer"] == "DC"
        b.port.unplug()
        await b.wait("TransactionEvent", lambda p: p["eventType"] == "Ended", mark)
        assert b.energy.store.get(5) is None
        assert b.station_errors() == []


async def test_K15_charging_needs_of_the_chademo_leaf_carry_its_own_maximum_current() -> None:
    """NotifyEVChargingNeeds for the LEAF over CAN frames (build_chademo): evMaxCurrent is where the car's 102.3
    ramp ends (its maximum; CHAdeMO carries no other), not the first 2 A of the ramp; evMaxVoltage is 100.4-5."""
    car = PROFILES["leaf24-aze0"]  # takes 120 A at most; the charger gives up to 125 A / 50 kW
    assert car.max_charge_current_a < RATINGS.max_charge_current_a
    port = build_chademo(EvseConfig(1, protocol="chademo", ratings=RATINGS, ev=EvConfig("leaf24", 60.0)), "V201-NEEDS")
    try:
        async with smart_bench(port=port) as b:
            await b.charge(timeout=40)
            needs = (await b.wait("NotifyEVChargingNeeds", timeout=30)).payload["chargingNeeds"]
            dc = needs["dcChargingParameters"]
            assert needs["requestedEnergyTransfer"] == "DC"
            assert dc["evMaxCurrent"] == car.max_charge_current_a
            assert dc["evMaxVoltage"] == car.max_battery_voltage_v
            assert dc["evEnergyCapacity"] == car.rated_capacity_wh  # 101.5-6 once the car corrected it
            assert dc["stateOfCharge"] == pytest.approx(60, abs=3)
            assert len(b.csms.calls(CS, "NotifyEVChargingNeeds")) == 1
            assert b.station_errors() == []
    finally:
        port.close()
