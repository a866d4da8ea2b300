"""Shared rig of the security integration tests: a station (StationSession + SecurityManager + certificate store)
against CSMS emulators over real sockets, with the test PKI of tests/pki.py. Waits are on recorded frames or on
session state, with time-outs; never fixed sleeps."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pki import Pki

from chargepoint.clock import RealClock
from chargepoint.ocpp.certstore import CertificateStore
from chargepoint.ocpp.security_manager import SecurityManager
from chargepoint.ocpp.session import StationSession
from chargepoint.ocpp.transport import TransportConfig
from chargepoint.persistence.store import StationStore
from chargepoint.station.auth import Authorizer
from chargepoint.station.core import Station
from chargepoint.station.settings import StationSettings
from hil.emulators.csms import CsmsEmulator, Frame
from hil.emulators.direct_dc import DirectDcPort

CS = "CS1"
PASSWORD = "0123456789abcdef"
NEW_PASSWORD = "fedcba9876543210-new"


async def wait_until(check: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll session state (there is no event for it) until ``check()`` holds."""
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110 - session state has no event to wait on; bounded by the time-out
            await asyncio.sleep(0.01)


async def restart_with(csms: CsmsEmulator, ssl_context: ssl.SSLContext | None) -> None:
    """Serve the same URL with another TLS context (the station's next attempt meets it)."""
    await csms.stop()
    csms.ssl_context = ssl_context
    await csms.start()


@dataclass
class Rig:
    csms: CsmsEmulator
    station: Station
    session: StationSession
    manager: SecurityManager
    store: StationStore

    async def call(self, action: str, payload: dict[str, Any], csms: CsmsEmulator | None = None) -> dict[str, Any]:
        return await (csms or self.csms).call(CS, action, payload, timeout=5)

    async def wait(self, action: str, pred: Callable[[dict[str, Any]], bool] | None = None, after: int = -1,
                   csms: CsmsEmulator | None = None, timeout: float = 5.0) -> Frame:
        return await (csms or self.csms).wait_for(CS, action, pred, timeout=timeout, after=after)

    async def security_event(self, kind: str, csms: CsmsEmulator | None = None, after: int = -1) -> Frame:
        return await self.wait("SecurityEventNotification", lambda p: p["type"] == kind, after, csms)

    def events(self, csms: CsmsEmulator | None = None) -> list[str]:
        return [f.payload["type"] for f in (csms or self.csms).calls(CS, "SecurityEventNotification")]

    async def set_variable(self, component: str, variable: str, value: str) -> dict[str, Any]:
        res = await self.call("SetVariables", {"setVariableData": [
            {"component": {"name": component}, "variable": {"name": variable}, "attributeValue": value}]})
        result: dict[str, Any] = res["setVariableResult"][0]
        return result


@contextlib.asynccontextmanager
async def rig(folder: Path, pki: Pki | None = None, *, protocol: str = "ocpp2.0.1", profile: int = 1,
              csms_ssl: ssl.SSLContext | None = None, basic_auth: dict[str, str] | None = None,
              password: str | None = PASSWORD, ca_bundle: Path | None = None, client: tuple[Path, Path] | None = None,
              accepted: bool = True, store: StationStore | None = None, port: int = 0,
              start_csms: bool = True) -> AsyncIterator[Rig]:
    """``start_csms=False`` (with a ``port``): the emulator is started by the test (something else listens first)."""
    csms = CsmsEmulator(port=port, protocols=(protocol,), basic_auth=basic_auth, ssl_context=csms_ssl)
    if start_csms:
        await csms.start()
    try:
        station = Station({1: [DirectDcPort(handshake_s=0.2, stop_s=0.2)]}, RealClock(),
                          StationSettings(aligned_interval_s=0, sample_interval_s=0), Authorizer())
        base = TransportConfig(url=csms.url, station_id=CS, protocols=(protocol,), password=password,
                               security_profile=profile, backoff_initial_s=0.05, backoff_max_s=0.2, backoff_jitter=0)
        store = store or StationStore(folder / "station.sqlite")
        manager = SecurityManager(base, CertificateStore(folder / "certs"), ca_bundle=str(ca_bundle or "") or None,
                                  client_cert=str(client[0]) if client else None,
                                  client_key=str(client[1]) if client else None, store=store, organization="OpenV2X")
        session = StationSession(station, manager.transport(), tick_s=0.05, response_timeout_s=5, default_retry_s=1,
                                 store=store)
        manager.attach(session)
        task = asyncio.create_task(session.run())
        r = Rig(csms, station, session, manager, store)
        try:
            if accepted:
                await session.wait_accepted(5)
            yield r
        finally:
            session.stop()
            await asyncio.wait_for(task, 5)
    finally:
        await csms.stop()
