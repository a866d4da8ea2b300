"""ChangeAvailability survives a reboot, end to end (OCPP 1.6 and 2.0.1 over real WebSockets).

A "power cycle" stops the station's session and builds a new Station and StationSession over the same SQLite store
file, as the process does when it starts again. Nothing is saved at shutdown: what comes back was stored when the
availability changed. Test names carry the certification cases (docs/reference/ocpp21_cs_testcases.tsv,
docs/reference/ocpp16_cs_testcases.tsv) whose behaviour they assert.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chargepoint.clock import RealClock
from chargepoint.ocpp.session import StationSession
from chargepoint.ocpp.transport import TransportConfig
from chargepoint.persistence.store import StationStore
from chargepoint.station.core import Station
from chargepoint.station.settings import StationSettings
from chargepoint.station.types import IdToken
from hil.emulators.csms import CsmsEmulator, Frame
from hil.emulators.direct_dc import DirectDcPort

pytestmark = pytest.mark.timeout(30)

CS = "CSAVAIL"


@dataclass
class Power:
    """The station's power: each :meth:`on` is a boot of a new process over the same data (the store file)."""

    csms: CsmsEmulator
    db: Path
    protocol: str
    evses: int = 1

    @property
    def v16(self) -> bool:
        return self.protocol == "ocpp1.6"

    @contextlib.asynccontextmanager
    async def on(self) -> AsyncIterator[Running]:
        ports = {i: DirectDcPort(handshake_s=0.2, stop_s=0.2) for i in range(1, self.evses + 1)}
        station = Station({i: [p] for i, p in ports.items()}, RealClock(),
                          StationSettings(aligned_interval_s=0, sample_interval_s=0))
        store = StationStore(self.db)
        transport = TransportConfig(url=self.csms.url, station_id=CS, protocols=(self.protocol,),
                                    backoff_initial_s=0.05, backoff_max_s=0.2, backoff_jitter=0.0)
        session = StationSession(station, transport, tick_s=0.05, response_timeout_s=5, default_retry_s=1,
                                 store=store)
        mark = self.csms.mark()
        task = asyncio.create_task(session.run())
        try:
            await session.wait_accepted(5)
            boot = await self.csms.wait_for(CS, "BootNotification", after=mark, timeout=5)
            yield Running(self, station, ports, session, boot.index)
        finally:
            session.stop()
            await asyncio.wait_for(task, 5)
            store.close()


@dataclass
class Running:
    power: Power
    station: Station
    ports: dict[int, DirectDcPort]
    session: StationSession
    boot: int  # frame index of this boot's BootNotification

    @property
    def csms(self) -> CsmsEmulator:
        return self.power.csms

    async def change(self, operative: bool, evse: int | None = None, connector: int | None = None) -> str:
        """ChangeAvailability in the connection's version (1.6: connectorId = EVSE, 0 = the station)."""
        kind = "Operative" if operative else "Inoperative"
        if self.power.v16:
            payload: dict[str, Any] = {"connectorId": evse or 0, "type": kind}
        else:
            payload = {"operationalStatus": kind}
            if evse is not None:
                payload["evse"] = {"id": evse} if connector is None else {"id": evse, "connectorId": connector}
        res = await self.csms.call(CS, "ChangeAvailability", payload, timeout=5)
        status: str = res["status"]
        return status

    async def status(self, evse: int, status: str, after: int | None = None) -> Frame:
        """The next StatusNotification of ``evse`` (1.6 connectorId; 0 = the station) after ``after`` (default:
        this boot), which must say ``status``."""
        key = "connectorId" if self.power.v16 else "evseId"
        frame = await self.csms.wait_for(CS, "StatusNotification", lambda p: p[key] == evse,
                                         after=self.boot if after is None else after, timeout=5)
        said = frame.payload["status" if self.power.v16 else "connectorStatus"]
        assert said == status, f"EVSE {evse}: {said}, expected {status}"
        return frame


@contextlib.asynccontextmanager
async def power(tmp_path: Path, protocol: str, evses: int = 1) -> AsyncIterator[Power]:
    async with CsmsEmulator(protocols=(protocol,)) as csms:
        yield Power(csms, tmp_path / "station.sqlite", protocol, evses)


# ---------------------------------------------------------------------------------------------------- 2.0.1
async def test_TC_G_18_CS_change_availability_evse_state_persists_across_reboot(tmp_path: Path) -> None:
    async with power(tmp_path, "ocpp2.0.1", evses=2) as p:
        async with p.on() as cs:
            await cs.status(1, "Available")
            mark = cs.csms.mark()
            assert await cs.change(False, evse=1) == "Accepted"
            await cs.status(1, "Unavailable", after=mark)
        async with p.on() as cs:  # reboot: comes up and reports Unavailable
            await cs.status(1, "Unavailable")
            await cs.status(2, "Available")
            mark = cs.csms.mark()
            assert await cs.change(True, evse=1) == "Accepted"
            await cs.status(1, "Available", after=mark)
        async with p.on() as cs:  # the Operative persisted too
            await cs.status(1, "Available")


async def test_TC_G_19_CS_change_availability_connector_state_persists_across_reboot(tmp_path: Path) -> None:
    async with power(tmp_path, "ocpp2.0.1", evses=2) as p:
        async with p.on() as cs:
            await cs.status(2, "Available")
            mark = cs.csms.mark()
            assert await cs.change(False, evse=2, connector=1) == "Accepted"
            await cs.status(2, "Unavailable", after=mark)
        async with p.on() as cs:
            await cs.status(1, "Available")
            await cs.status(2, "Unavailable")
            assert (await cs.csms.call(CS, "RequestStartTransaction", {
                "idToken": {"idToken": "APP", "type": "Central"}, "remoteStartId": 1, "evseId": 2}))[
                "status"] == "Rejected"  # still inoperative, not just reported so
            mark = cs.csms.mark()
            assert await cs.change(True, evse=2, connector=1) == "Accepted"
            await cs.status(2, "Available", after=mark)
        async with p.on() as cs:
            await cs.status(2, "Available")


async def test_TC_G_21_CS_change_availability_charging_station_state_persists_across_reboot(tmp_path: Path) -> None:
    async with power(tmp_path, "ocpp2.0.1", evses=2) as p:
        async with p.on() as cs:
            await cs.status(2, "Available")
            mark = cs.csms.mark()
            assert await cs.change(False) == "Accepted"
            await cs.status(1, "Unavailable", after=mark)
            await cs.status(2, "Unavailable", after=mark)
        async with p.on() as cs:
            await cs.status(1, "Unavailable")
            await cs.status(2, "Unavailable")
            got = await cs.csms.call(CS, "GetVariables", {"getVariableData": [
                {"component": {"name": "ChargingStation"}, "variable": {"name": "AvailabilityState"}}]})
            assert got["getVariableResult"][0]["attributeValue"] == "Unavailable"
            mark = cs.csms.mark()
            assert await cs.change(True) == "Accepted"
            await cs.status(1, "Available", after=mark)
        async with p.on() as cs:
            await cs.status(1, "Available")
            await cs.status(2, "Available")


async def test_TC_G_11_CS_scheduled_inoperative_evse_takes_effect_after_the_transaction_and_persists(
        tmp_path: Path) -> None:
    async with power(tmp_path, "ocpp2.0.1") as p:
        async with p.on() as cs:
            mark = cs.csms.mark()
            cs.ports[1].plug_in()
            cs.station.present_token(1, IdToken("TAG1"))
            await cs.csms.wait_for(CS, "TransactionEvent", lambda q: q["eventType"] == "Started", after=mark)
            assert await cs.change(False, evse=1) == "Scheduled"
            cs.ports[1].unplug()
            ended = await cs.csms.wait_for(CS, "TransactionEvent", lambda q: q["eventType"] == "Ended", after=mark)
            await cs.status(1, "Unavailable", after=ended.index)
        async with p.on() as cs:
            await cs.status(1, "Unavailable")


# ---------------------------------------------------------------------------------------------------- 1.6
async def test_TC_034_CS_power_failure_with_unavailable_status(tmp_path: Path) -> None:
    async with power(tmp_path, "ocpp1.6", evses=2) as p:
        async with p.on() as cs:
            await cs.status(1, "Available")
            mark = cs.csms.mark()
            assert await cs.change(False, evse=1) == "Accepted"
            await cs.status(1, "Unavailable", after=mark)
        async with p.on() as cs:  # power failure: the connector stays Unavailable (1.6 §4.9, §5.2)
            await cs.status(0, "Available")
            await cs.status(1, "Unavailable")
            await cs.status(2, "Available")
            mark = cs.csms.mark()
            assert await cs.change(False) == "Accepted"  # the whole charge point
            await cs.status(0, "Unavailable", after=mark)
        async with p.on() as cs:
            await cs.status(0, "Unavailable")
            await cs.status(1, "Unavailable")
            await cs.status(2, "Unavailable")
            mark = cs.csms.mark()
            assert await cs.change(True) == "Accepted"
            await cs.status(0, "Available", after=mark)
        async with p.on() as cs:
            await cs.status(0, "Available")
            await cs.status(1, "Available")
            await cs.status(2, "Available")
