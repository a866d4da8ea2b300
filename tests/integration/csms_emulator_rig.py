"""Test stations for the CSMS emulator tests (test_csms_emulator*.py): minimal charge points written with the ``ocpp``
library (1.6, 2.0.1, 2.1) that connect over real loopback WebSockets and keep every frame they receive.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import ocpp.v16
import ocpp.v21
import ocpp.v201
from ocpp.exceptions import InternalError
from ocpp.routing import on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as result21
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from chargepoint.clock import parse_iso

VERSION = {"ocpp1.6": "1.6", "ocpp2.0.1": "2.0.1", "ocpp2.1": "2.1"}
STAMP = "2026-01-01T00:00:00.000Z"


class Tap:
    """Connection wrapper for the test stations: keeps every received raw frame."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.rx: list[str] = []

    async def recv(self) -> str:
        message = await self.ws.recv()
        assert isinstance(message, str)
        self.rx.append(message)
        return message

    async def send(self, message: str) -> None:
        await self.ws.send(message)


class Station16(ocpp.v16.ChargePoint):
    @on("GetConfiguration")
    def on_get_configuration(self, **kwargs: Any) -> Any:
        return result16.GetConfiguration(
            configuration_key=[{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
            unknown_key=[k for k in kwargs.get("key", []) if k != "HeartbeatInterval"],
        )


class Station201(ocpp.v201.ChargePoint):
    @on("GetVariables")
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **kwargs: Any) -> Any:
        return result201.GetVariables(
            get_variable_result=[
                {
                    "attribute_status": "Accepted",
                    "attribute_value": "42",
                    "component": d["component"],
                    "variable": d["variable"],
                }
                for d in get_variable_data
            ]
        )

    @on("Reset")
    def on_reset(self, **kwargs: Any) -> Any:
        raise InternalError(description="reset exploded")


class Station21(ocpp.v21.ChargePoint):
    profiles: list[dict[str, Any]]

    @on("SetChargingProfile")
    def on_set_charging_profile(self, evse_id: int, charging_profile: dict[str, Any], **kwargs: Any) -> Any:
        self.profiles.append(charging_profile)
        return result21.SetChargingProfile(status="Accepted")


STATIONS: dict[str, type[Any]] = {"ocpp1.6": Station16, "ocpp2.0.1": Station201, "ocpp2.1": Station21}


@dataclass
class Link:
    cp: Any
    tap: Tap
    ws: ClientConnection


@asynccontextmanager
async def station(
    url: str, station_id: str, protocol: str = "ocpp2.0.1", *, offer: list[str] | None = None, **kwargs: Any
) -> AsyncIterator[Link]:
    offered = [Subprotocol(p) for p in (offer or [protocol])]
    async with connect(url + station_id, subprotocols=offered, open_timeout=5, close_timeout=1, **kwargs) as ws:
        tap = Tap(ws)
        cp = STATIONS[protocol](station_id, tap, response_timeout=5)
        cp.profiles = []
        task = asyncio.create_task(cp.start())
        try:
            yield Link(cp, tap, ws)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def boot_request(protocol: str) -> Any:
    if protocol == "ocpp1.6":
        return call16.BootNotification(charge_point_model="M1", charge_point_vendor="Acme")
    module = call21 if protocol == "ocpp2.1" else call201
    return module.BootNotification(charging_station={"model": "M1", "vendor_name": "Acme"}, reason="PowerUp")


def heartbeat_request(protocol: str) -> Any:
    return {"ocpp1.6": call16, "ocpp2.0.1": call201, "ocpp2.1": call21}[protocol].Heartbeat()


def assert_utc_z(stamp: str) -> None:
    assert stamp.endswith("Z")
    assert parse_iso(stamp).utcoffset() is not None
