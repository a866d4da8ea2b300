"""The charging-profile rules follow the OCPP version the CSMS negotiated, not the first one the station offers.

The station is assembled by ``chargepoint.app`` (build_station / build_session) from a StationConfig offering
2.1, 2.0.1 and 1.6 (the default order) and connects over real websockets to a CSMS emulator that only speaks 1.6.
SetChargingProfile must then be judged by the 1.6 rules: an Absolute profile without startSchedule is valid
(§7.13: relative to the start of charging) and a profile with the stackLevel + purpose of an installed one
replaces it (§3.13.2), where 2.x would refuse both (K01.FR.40, K01.FR.06).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chargepoint.app import Assembly, build_session, build_station
from chargepoint.clock import RealClock
from chargepoint.config import CsmsConfig, EvConfig, EvseConfig, StationConfig
from chargepoint.energy.model import OcppVersion, Purpose
from chargepoint.ocpp.session import StationSession
from hil.emulators.csms import CsmsEmulator

pytestmark = pytest.mark.timeout(30)

CP = "CP-NEGOTIATED"


@contextlib.asynccontextmanager
async def station_on_16_csms() -> AsyncIterator[tuple[CsmsEmulator, Assembly, StationSession]]:
    async with CsmsEmulator(protocols=("ocpp1.6",)) as csms:
        cfg = StationConfig(
            id=CP,
            data_dir=None,
            csms=CsmsConfig(backoff_initial_s=0.05, backoff_max_s=0.2, backoff_jitter=0.0, response_timeout_s=5.0),
            evses=[EvseConfig(1, protocol="direct", ev=EvConfig())],
        )
        assert cfg.csms.ocpp == ("2.1", "2.0.1", "1.6")  # the default offer, 2.1 first
        assembly = build_station(cfg, RealClock())
        session = build_session(cfg, assembly.station, csms.url)
        task = asyncio.create_task(session.run())
        try:
            await session.wait_accepted(10)
            assert session.subprotocol == "ocpp1.6"
            yield csms, assembly, session
        finally:
            session.stop()
            await asyncio.wait_for(task, 5)


def tx_default(pid: int, limit: float, stack_level: int = 0) -> dict[str, Any]:
    """A 1.6 Absolute TxDefaultProfile without startSchedule."""
    return {"chargingProfileId": pid, "stackLevel": stack_level, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {"chargingRateUnit": "A",
                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}}


async def set_profile(csms: CsmsEmulator, profile: dict[str, Any]) -> str:
    res = await csms.call(CP, "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile}, timeout=5)
    status: str = res["status"]
    return status


async def test_a_16_csms_gets_16_profile_rules_from_a_station_offering_21_first() -> None:
    async with station_on_16_csms() as (csms, assembly, _session):
        store = assembly.energy.store
        # Valid in 1.6 (absent startSchedule = relative to the start of charging); 2.x refuses it (K01.FR.40).
        assert await set_profile(csms, tx_default(1, 32.0)) == "Accepted"
        assert [p.id for p in store.profiles()] == [1]
        # Same connector, stackLevel and purpose: 1.6 replaces the installed profile (2.x: DuplicateProfile).
        assert await set_profile(csms, tx_default(2, 16.0)) == "Accepted"
        installed = store.profiles()
        assert [p.id for p in installed] == [2]
        assert installed[0].purpose is Purpose.TX_DEFAULT
        assert installed[0].schedule.periods[0].limit == 16.0
        # Another stack level is another profile.
        assert await set_profile(csms, tx_default(3, 10.0, stack_level=1)) == "Accepted"
        assert [p.id for p in store.profiles()] == [2, 3]
        assert [f for f in csms.frames if f.direction == "tx" and f.message_type == 4] == []
        assert store.version is OcppVersion.V16  # the rules in force: those of the connection
