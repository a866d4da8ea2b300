"""The embedded default's script: the CSMS emulator plays a grid operator asking for a discharge.

After the car has charged for a while, the emulator sends SetChargingProfile with a discharge request lasting
``discharge_s``; when the profile runs out the car charges again. OCPP 2.1 uses a CentralSetpoint profile with a
negative ``setpoint``; 1.6 and 2.0.1 use the legacy negative-``limit`` convention after switching the station's
vendor setting ``NegativeLimitPolicy`` to ``Discharge``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from chargepoint.clock import iso
from hil.emulators.csms import CsmsEmulator

log = logging.getLogger("chargepoint.demo")


def discharge_profile(version: str, watts: float, start: str, duration_s: int) -> tuple[str, dict[str, Any]]:
    """(action, payload) of a SetChargingProfile asking EVSE/connector 1 to discharge ``watts`` (< 0)."""
    if version == "1.6":
        period16 = {"startPeriod": 0, "limit": round(watts, 1)}
        return "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": {
            "chargingProfileId": 901, "stackLevel": 5, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute", "chargingSchedule": {
                "startSchedule": start, "duration": duration_s, "chargingRateUnit": "W",
                "chargingSchedulePeriod": [period16]}}}
    period: dict[str, Any] = {"startPeriod": 0}
    if version == "2.1":
        period |= {"setpoint": watts, "dischargeLimit": min(watts, 0.0), "limit": 0.0,
                   "operationMode": "CentralSetpoint"}
    else:
        period |= {"limit": watts}
    return "SetChargingProfile", {"evseId": 1, "chargingProfile": {
        "id": 901, "stackLevel": 5, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute", "chargingSchedule": [{
            "id": 1, "startSchedule": start, "duration": duration_s, "chargingRateUnit": "W",
            "chargingSchedulePeriod": [period]}]}}


async def enable_negative_limits(csms: CsmsEmulator, station_id: str, version: str) -> None:
    if version == "1.6":
        res = await csms.call(station_id, "ChangeConfiguration", {"key": "NegativeLimitPolicy", "value": "Discharge"})
        log.info("CSMS: ChangeConfiguration NegativeLimitPolicy=Discharge -> %s", res.get("status"))
    elif version == "2.0.1":
        res = await csms.call(station_id, "SetVariables", {"setVariableData": [{
            "component": {"name": "SmartChargingCtrlr"}, "variable": {"name": "NegativeLimitPolicy"},
            "attributeValue": "Discharge"}]})
        log.info("CSMS: SetVariables NegativeLimitPolicy=Discharge -> %s",
                 res["setVariableResult"][0]["attributeStatus"])


async def grid_operator(csms: CsmsEmulator, station_id: str, charge_s: float = 20.0,
                        discharge_w: float = -3000.0, discharge_s: int = 40) -> None:
    """Wait until the car charges, let it charge ``charge_s``, then ask for ``discharge_w`` for ``discharge_s``."""
    await csms.wait_connected(station_id, timeout=10**6)
    version = (csms.protocol_of(station_id) or "ocpp2.1").removeprefix("ocpp")
    if version == "1.6":
        await csms.wait_for(station_id, "StatusNotification", lambda p: p.get("status") == "Charging", timeout=10**6)
    else:
        await csms.wait_for(station_id, "TransactionEvent",
                            lambda p: p.get("transactionInfo", {}).get("chargingState") == "Charging", timeout=10**6)
    log.info("CSMS: the car is charging; a discharge request follows in %.0f s", charge_s)
    await asyncio.sleep(charge_s)
    start = iso(csms_now(csms) - timedelta(seconds=1))
    action, payload = discharge_profile(version, discharge_w, start, discharge_s)
    try:
        await enable_negative_limits(csms, station_id, version)
        res = await csms.call(station_id, action, payload)
    except Exception as e:  # the demo must say why it could not ask, not die silently
        log.error("CSMS: the discharge request failed: %s", e)
        return
    log.info("CSMS (grid operator): discharge %.1f kW for %d s -> %s", -discharge_w / 1000, discharge_s,
             res.get("status"), extra={"fields": {"event": "discharge_request", "watts": discharge_w}})


def csms_now(csms: CsmsEmulator) -> Any:
    from chargepoint.clock import parse_iso

    return parse_iso(csms.now_iso())
