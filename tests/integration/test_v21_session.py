"""OCPP 2.1 end to end, and proof that the `ocpp` library's two 2.1 defects are neutralised.

Defect 1: the library silently drops inbound 2.1 actions that have no handler (no CALLERROR, the CSMS times out).
Defect 2: its snake_case -> camelCase conversion corrupts ``*_L2``/``*_L3``/``soc`` keys (``limitL2``, ``SoC``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator

import ocpp.charge_point
import pytest
from ocpp.messages import MessageType, get_validator
from ocpp.v21 import call as call21
from ocpp.v21 import datatypes as dt21

from chargepoint.clock import RealClock
from chargepoint.energy.manager import EnergyManager
from chargepoint.energy.profiles import ProfileStore
from chargepoint.energy.validation import StoreLimits
from chargepoint.ocpp import keyfix
from chargepoint.ocpp.session import StationSession
from chargepoint.ocpp.transport import TransportConfig
from chargepoint.station.core import Station
from chargepoint.station.settings import StationSettings
from chargepoint.station.types import IdToken
from hil.emulators.csms import CallError, CsmsEmulator
from hil.emulators.direct_dc import DirectDcPort

pytestmark = pytest.mark.timeout(30)
CS = "CS21"


@contextlib.asynccontextmanager
async def bench(limits: StoreLimits | None = None) -> AsyncIterator[tuple[CsmsEmulator, Station, DirectDcPort,
                                                                          StationSession]]:
    """The station with one direct-DC EVSE against the emulator; with ``limits``, also its energy manager (profiles
    accepted within those limits), as ``chargepoint.app`` assembles it."""
    async with CsmsEmulator(protocols=("ocpp2.1",)) as csms:
        port = DirectDcPort(handshake_s=0.2)
        station = Station({1: [port]}, RealClock(), StationSettings(sample_interval_s=1, aligned_interval_s=0))
        if limits is not None:
            EnergyManager(station, ProfileStore("2.1", limits=limits))
        session = StationSession(station, TransportConfig(url=csms.url, station_id=CS, protocols=("ocpp2.1",)),
                                 tick_s=0.05)
        task = asyncio.create_task(session.run())
        try:
            await session.wait_accepted(10)
            yield csms, station, port, session
        finally:
            session.stop()
            await asyncio.wait_for(task, 5)


def _station_errors(csms: CsmsEmulator) -> list[str]:
    """CALLERRORs the CSMS sent back: each one means the station sent something invalid."""
    return [f.raw for f in csms.frames if f.direction == "tx" and f.message_type == MessageType.CallError]


async def test_TC_B_01_CS_v21_cold_boot_and_a_full_transaction() -> None:
    async with bench() as (csms, station, port, _session):
        assert csms.protocol_of(CS) == "ocpp2.1"
        boot = await csms.wait_for(CS, "BootNotification")
        assert boot.payload["reason"] == "PowerUp"
        await csms.wait_for(CS, "StatusNotification", lambda p: p["connectorStatus"] == "Available")
        port.plug_in()
        station.present_token(1, IdToken("V21-TAG"))
        started = await csms.wait_for(CS, "TransactionEvent", lambda p: p["eventType"] == "Started")
        tx_id = started.payload["transactionInfo"]["transactionId"]
        await csms.wait_for(CS, "TransactionEvent", lambda p: p["triggerReason"] == "MeterValuePeriodic")
        port.unplug()
        ended = await csms.wait_for(CS, "TransactionEvent", lambda p: p["eventType"] == "Ended")
        assert ended.payload["transactionInfo"]["transactionId"] == tx_id
        seq = [f.payload["seqNo"] for f in csms.calls(CS, "TransactionEvent")
               if f.payload["transactionInfo"]["transactionId"] == tx_id]
        assert seq == list(range(len(seq)))
        assert _station_errors(csms) == []


# 2.1 CSMS -> station actions the station has no handler for, each with a schema-valid request.
UNHANDLED_21 = {
    "RequestBatterySwap": {"requestId": 1, "idToken": {"idToken": "SWAP-1", "type": "Central"}},
    "SetDERControl": {"isDefault": False, "controlId": "der-1", "controlType": "FixedPFAbsorb",
                      "fixedPFAbsorb": {"priority": 0, "displacement": 0.9, "excitation": True}},
}


async def test_v21_defect_unhandled_action_is_answered_not_dropped() -> None:
    async with bench(StoreLimits(evse_ids=frozenset({1}))) as (csms, _station, _port, session):
        for action, payload in UNHANDLED_21.items():
            assert _valid(action, payload) == []  # a request the station must answer, not a malformed one
            assert "_on_action" not in session.adapter.route_map.get(action, {}), f"{action} has a handler now"
            # the bare library would drop it: for 2.1 its "no handler" path raises nothing, so nothing is sent
            assert ocpp.charge_point._raise_key_error(action, "2.1") is None
            marker = csms.mark()
            with pytest.raises(CallError) as e:
                await csms.call(CS, action, payload, timeout=3)
            # OCPP-J: an action the receiver knows but does not support -> NotSupported (strict.py)
            assert e.value.code == "NotSupported", action
            answers = [f for f in csms.frames if f.index > marker and f.direction == "rx" and f.message_type == 4]
            assert len(answers) == 1  # exactly one CALLERROR, to that CALL
        # An action that does not exist in 2.1 at all.
        marker = csms.mark()
        await csms.send_raw(CS, json.dumps([2, "raw-1", "NoSuchAction", {}]))
        answer = await csms.wait_frame(lambda f: f.direction == "rx" and f.unique_id == "raw-1", after=marker)
        assert answer.message_type == MessageType.CallError and json.loads(answer.raw)[2] == "NotImplemented"
        # The connection survives all of them.
        res = await csms.call(CS, "GetVariables", {"getVariableData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]})
        assert res["getVariableResult"][0]["attributeStatus"] == "Accepted"


async def test_v21_defect_L2_L3_and_soc_keys_on_the_wire_round_trip() -> None:
    """SetChargingProfile with every per-phase key and limitAtSoC.soc goes in; GetChargingProfiles makes the station
    send them back in ReportChargingProfiles, spelled as the 2.1 schema spells them (``limit_L2``, ``setpoint_L3``,
    ``dischargeLimit_L2``, ``soc``; the library's conversion would have sent ``limitL2`` ... ``SoC``), validated by
    the library's schema validation on the CSMS side. limitAtSoC is refused by default (K01.FR.125, not
    implemented), so the profile store here accepts it to let the ``soc`` key make the round trip."""
    period = {"startPeriod": 0, "limit": 11000.0, "limit_L2": 3700.0, "limit_L3": 3600.0, "numberPhases": 3,
              "setpoint": -5000.0, "setpoint_L2": -1700.0, "setpoint_L3": -1600.0, "dischargeLimit": -7000.0,
              "dischargeLimit_L2": -2300.0, "dischargeLimit_L3": -2200.0, "operationMode": "CentralSetpoint"}
    schedule = {"id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": [period],
                "limitAtSoC": {"soc": 80, "limit": 3000.0}}
    profile = {"id": 7, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
               "chargingProfileKind": "Relative", "chargingSchedule": [schedule]}
    assert _valid("SetChargingProfile", {"evseId": 1, "chargingProfile": profile}) == []
    async with bench(StoreLimits(evse_ids=frozenset({1}), limit_at_soc=True)) as (csms, _station, _port, _session):
        res = await csms.call(CS, "SetChargingProfile", {"evseId": 1, "chargingProfile": profile})
        assert res["status"] == "Accepted"
        marker = csms.mark()
        assert (await csms.call(CS, "GetChargingProfiles", {"requestId": 3, "chargingProfile": {}}))["status"] == \
            "Accepted"
        report = await csms.wait_for(CS, "ReportChargingProfiles", after=marker)
        wire = json.loads(report.raw)[3]  # the frame as it came over the websocket, not a converted copy
        assert _valid("ReportChargingProfiles", wire) == []
        sent_back = wire["chargingProfile"][0]["chargingSchedule"][0]
        assert sent_back["chargingSchedulePeriod"] == [period]  # the same keys and values
        assert sent_back["limitAtSoC"] == {"soc": 80, "limit": 3000.0}
        assert _station_errors(csms) == []


def _period() -> dt21.ChargingSchedulePeriodType:
    return dt21.ChargingSchedulePeriodType(start_period=0, limit=11000, limit_l2=3700, limit_l3=3700,
                                           setpoint=-5000, setpoint_l2=-1700, discharge_limit=-7000,
                                           discharge_limit_l2=-2300, operation_mode="CentralSetpoint")


def _set_profile_payload() -> dict[str, object]:
    schedule = dt21.ChargingScheduleType(id=1, charging_rate_unit="W", charging_schedule_period=[_period()],
                                         limit_at_soc=dt21.LimitAtSoCType(soc=80, limit=3000))
    profile = dt21.ChargingProfileType(id=1, stack_level=0, charging_profile_purpose="TxDefaultProfile",
                                       charging_profile_kind="Relative", charging_schedule=[schedule])
    req = call21.SetChargingProfile(evse_id=1, charging_profile=profile)
    return ocpp.charge_point.remove_nones(ocpp.charge_point.serialize_as_dict(req))  # type: ignore[no-any-return]


def _valid(action: str, payload: dict[str, object]) -> list[str]:
    validator = get_validator(MessageType.Call, action, "2.1")
    return [e.message for e in validator.iter_errors(payload)]


def _library_rule(data: object) -> object:
    """The library's conversion, applied recursively (keyfix.library_camel is proven equal to it below)."""
    if isinstance(data, dict):
        return {keyfix.library_camel(k): _library_rule(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_library_rule(v) for v in data]
    return data


def test_v21_defect_key_conversion_is_fixed_for_L2_L3_and_soc() -> None:
    snake = _set_profile_payload()
    broken = _library_rule(snake)
    assert isinstance(broken, dict)
    # The library's own conversion really is broken (so this test can fail if the fix regresses) ...
    assert _valid("SetChargingProfile", broken), "the library conversion unexpectedly produced valid 2.1 JSON"
    fixed = keyfix.snake_to_camel_case(snake)
    # ... and ours is schema-valid, with the exact spellings.
    assert _valid("SetChargingProfile", fixed) == []
    period = fixed["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0]  # type: ignore[index]
    assert {"limit_L2", "limit_L3", "setpoint_L2", "dischargeLimit_L2"} <= set(period)
    assert fixed["chargingProfile"]["chargingSchedule"][0]["limitAtSoC"] == {"soc": 80, "limit": 3000}  # type: ignore[index]
    # the fix is what the library uses once the 2.1 adapter is imported
    import chargepoint.ocpp.v21  # noqa: F401

    assert ocpp.charge_point.snake_to_camel_case is keyfix.snake_to_camel_case


def test_key_fix_changes_nothing_for_16_and_201_names() -> None:
    # Every 1.6 / 2.0.1 request class converts exactly as the library converts it.
    import ocpp.v16.call as c16
    import ocpp.v201.call as c201

    for module in (c16, c201):
        for name in dir(module):
            cls = getattr(module, name)
            if not dataclasses.is_dataclass(cls):
                continue
            fields = {f.name: None for f in dataclasses.fields(cls)}
            assert keyfix.snake_to_camel_case(fields) == keyfix._library_snake_to_camel(fields), name


def test_every_21_datatype_field_converts_to_a_schema_property() -> None:
    names: set[str] = set()
    from pathlib import Path

    root = Path(ocpp.__file__).parent / "v21" / "schemas"
    for f in root.glob("*.json"):
        keyfix._property_names(json.loads(f.read_text(encoding="utf-8-sig")), names)
    bad = []
    for name in dir(dt21):
        cls = getattr(dt21, name)
        if dataclasses.is_dataclass(cls):
            for fld in dataclasses.fields(cls):
                camel = next(iter(keyfix.snake_to_camel_case({fld.name: None})))
                if camel not in names:
                    bad.append(f"{name}.{fld.name} -> {camel}")
    # The library's BatteryDataType.soc/soh need the context rule; StreamDataElementType is missing upstream.
    assert bad == [], bad




def test_fallback_rule_matches_the_library_for_every_dataclass_field() -> None:
    import importlib

    for mod in ("ocpp.v16.call", "ocpp.v16.call_result", "ocpp.v201.call", "ocpp.v201.call_result",
                "ocpp.v201.datatypes", "ocpp.v21.call", "ocpp.v21.call_result", "ocpp.v21.datatypes"):
        m = importlib.import_module(mod)
        for n in dir(m):
            cls = getattr(m, n)
            if dataclasses.is_dataclass(cls):
                for f in dataclasses.fields(cls):
                    expected = next(iter(keyfix._library_snake_to_camel({f.name: 1})))
                    assert keyfix.library_camel(f.name) == expected, f"{mod}.{n}.{f.name}"
