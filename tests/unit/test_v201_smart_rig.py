"""Rig for the smart-charging / V2X unit tests (no tests here): the 2.0.1 or 2.1 adapter with an energy manager, an
emulated DC car on a virtual clock, and a CSMS built on the ``ocpp`` library over an in-memory connection.

Like :mod:`v201_rig` it plays the session driver (:meth:`SmartRig.pump` advances virtual time, ticks the station and
dispatches its actions). The adapter runs the library's receive loop only: the smart-charging duty pass is called
explicitly (:meth:`SmartRig.duties`), so nothing depends on real time. CSMS requests are sent as camelCase JSON,
exactly as on the wire (:meth:`SmartRig.call`).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

import ocpp.charge_point
import ocpp.v21
import ocpp.v201
from ocpp.messages import Call, MessageType
from ocpp.routing import on
from v201_rig import CS_TO_CSMS, CSMS_TO_CS, Hooks, Pipe, Wire

from chargepoint.clock import VirtualClock, iso
from chargepoint.energy.manager import EnergyManager
from chargepoint.energy.profiles import ProfileStore
from chargepoint.energy.validation import StoreLimits
from chargepoint.hardware.interfaces import PowerRatings
from chargepoint.ocpp.base import StationIdentity
from chargepoint.ocpp.v21 import V21Adapter
from chargepoint.ocpp.v201 import V201Adapter
from chargepoint.station.core import Station
from chargepoint.station.settings import StationSettings
from chargepoint.station.types import IdToken
from hil.emulators.direct_dc import DirectDcPort, EvProfile

RATINGS = PowerRatings(max_discharge_current_a=30, max_discharge_power_w=10_000, ramp_a_per_s=500)
START = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)


class _Answers:
    """Default answers of the test CSMS to every station-initiated call the smart-charging code makes."""

    _call_result: Any
    pull_update: dict[str, Any] | None = None  # PullDynamicScheduleUpdate scheduleUpdate (snake_case)
    needs_status = "Accepted"

    @on("BootNotification")
    def on_boot(self, **_: Any) -> Any:
        return self._call_result.BootNotification(current_time=iso(START), interval=300, status="Accepted")

    @on("StatusNotification")
    def on_status(self, **_: Any) -> Any:
        return self._call_result.StatusNotification()

    @on("Authorize")
    def on_authorize(self, **_: Any) -> Any:
        return self._call_result.Authorize(id_token_info={"status": "Accepted"})

    @on("TransactionEvent")
    def on_tx(self, id_token: dict[str, Any] | None = None, **_: Any) -> Any:
        return self._call_result.TransactionEvent(id_token_info={"status": "Accepted"} if id_token else None)

    @on("MeterValues")
    def on_meter_values(self, **_: Any) -> Any:
        return self._call_result.MeterValues()

    @on("NotifyEVChargingNeeds")
    def on_needs(self, **_: Any) -> Any:
        return self._call_result.NotifyEVChargingNeeds(status=self.needs_status)

    @on("ReportChargingProfiles")
    def on_report(self, **_: Any) -> Any:
        return self._call_result.ReportChargingProfiles()

    @on("NotifyChargingLimit")
    def on_limit(self, **_: Any) -> Any:
        return self._call_result.NotifyChargingLimit()

    @on("ClearedChargingLimit")
    def on_cleared(self, **_: Any) -> Any:
        return self._call_result.ClearedChargingLimit()


class Csms201(_Answers, ocpp.v201.ChargePoint):
    _call_result: Any = ocpp.v201.call_result


class Csms21(_Answers, ocpp.v21.ChargePoint):
    _call_result: Any = ocpp.v21.call_result

    @on("PullDynamicScheduleUpdate")
    def on_pull(self, **_: Any) -> Any:
        return ocpp.v21.call_result.PullDynamicScheduleUpdate(status="Accepted", schedule_update=self.pull_update)

    @on("NotifyPriorityCharging")
    def on_priority(self, **_: Any) -> Any:
        return ocpp.v21.call_result.NotifyPriorityCharging()


class SmartRig:
    def __init__(self, version: str = "2.0.1", evses: int = 1, soc: float = 60.0,
                 ev: EvProfile | None = None, settings: StationSettings | None = None) -> None:
        self.version = version
        self.clock = VirtualClock(start=START)
        self.ports = {i: DirectDcPort(ratings=RATINGS, profile=ev or EvProfile(), soc=soc, handshake_s=0.5)
                      for i in range(1, evses + 1)}
        self.settings = settings or StationSettings(aligned_interval_s=0, sample_interval_s=0)
        self.station = Station({i: [p] for i, p in self.ports.items()}, self.clock, self.settings)
        self.station.set_online(True)
        limits = StoreLimits(evse_ids=frozenset(self.ports))
        self.energy = EnergyManager(self.station, ProfileStore(version, limits=limits),
                                    dict.fromkeys(self.ports, RATINGS))
        self.wire = Wire()
        to_cs: asyncio.Queue[str] = asyncio.Queue()
        to_csms: asyncio.Queue[str] = asyncio.Queue()
        self.hooks = Hooks()
        adapter_cls = V21Adapter if version == "2.1" else V201Adapter
        self.adapter = adapter_cls("CS001", Pipe(CS_TO_CSMS, to_cs, to_csms, self.wire), self.station, self.hooks,
                                   StationIdentity(), response_timeout=5)
        self.hooks.adapter = self.adapter
        csms_cls = Csms21 if version == "2.1" else Csms201
        self.csms = csms_cls("CS001", Pipe(CSMS_TO_CS, to_csms, to_cs, self.wire), response_timeout=5)
        self._tasks: list[asyncio.Task[Any]] = []

    async def __aenter__(self) -> SmartRig:
        lib_start = ocpp.charge_point.ChargePoint.start
        self._tasks = [asyncio.create_task(lib_start(self.adapter)), asyncio.create_task(self.csms.start())]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    # ------------------------------------------------------------------ the station side
    async def flush(self) -> None:
        while actions := self.station.drain():
            for a in actions:
                await self.adapter.dispatch(a)

    async def pump(self, seconds: float = 0.0, dt: float = 0.1) -> None:
        await self.flush()
        for _ in range(max(1, round(seconds / dt))):
            self.clock.advance(dt)
            for a in self.station.tick():
                await self.adapter.dispatch(a)
            await self.flush()

    async def duties(self) -> None:
        await self.adapter.smart_duties()

    async def start_charging(self, evse: int = 1, token: str = "TAG1", seconds: float = 3.0) -> str:
        """Plug in, authorize, run until energy flows; returns the transaction id."""
        self.ports[evse].plug_in()
        await self.pump(0.2)
        self.station.present_token(evse, IdToken(token))
        await self.pump(seconds)
        tx = self.station.evses[evse].tx
        assert tx is not None
        return tx.tx_id

    def power_w(self, evse: int = 1) -> float:
        return self.station.reading(evse).power_w

    # ------------------------------------------------------------------ the CSMS side
    async def call(self, action: str, payload: dict[str, Any]) -> Any:
        """A CSMS CALL with a camelCase payload sent as is; the CALLRESULT payload, or the CALLERROR frame."""
        cp = self.csms
        msg = Call(unique_id=str(cp._unique_id_generator()), action=action, payload=payload)
        async with cp._call_lock:
            await cp._send(msg.to_json())
            response = await cp._get_specific_response(msg.unique_id, 5)
        if response.message_type_id == MessageType.CallError:
            return {"CALLERROR": response.error_code}
        return response.payload

    def sent(self, action: str) -> list[dict[str, Any]]:
        """Payloads of the station's CALLs of ``action`` (camelCase, as on the wire)."""
        return [f.payload for f in self.wire.frames if f.direction == CS_TO_CSMS and f.is_call and f.action == action]

    async def wait_sent(self, action: str, count: int = 1) -> list[dict[str, Any]]:
        await self.wire.wait(lambda: len(self.sent(action)) >= count)
        return self.sent(action)


def period(**kw: Any) -> dict[str, Any]:
    return {"startPeriod": 0, **kw}


def profile(pid: int, purpose: str = "TxDefaultProfile", periods: list[dict[str, Any]] | None = None, *,
            unit: str = "W", kind: str = "Relative", stack: int = 0, tx_id: str | None = None,
            **extra: Any) -> dict[str, Any]:
    """A ChargingProfileType (camelCase)."""
    schedule: dict[str, Any] = {"id": 1, "chargingRateUnit": unit,
                                "chargingSchedulePeriod": periods or [period(limit=11000.0)]}
    if kind == "Absolute":
        schedule["startSchedule"] = iso(START)
    out: dict[str, Any] = {"id": pid, "stackLevel": stack, "chargingProfilePurpose": purpose,
                           "chargingProfileKind": kind, "chargingSchedule": [schedule], **extra}
    if tx_id is not None:
        out["transactionId"] = tx_id
    return out


# ---------------------------------------------------------------------------------------------------- answers
def ok(res: dict[str, Any]) -> bool:
    return res.get("status") == "Accepted"


def reason(res: dict[str, Any]) -> str:
    return str((res.get("statusInfo") or {}).get("reasonCode"))


async def set_profile(r: SmartRig, evse_id: int, body: dict[str, Any]) -> dict[str, Any]:
    res: dict[str, Any] = await r.call("SetChargingProfile", {"evseId": evse_id, "chargingProfile": body})
    return res
