"""OCPP 2.1 V2X end to end: station model + energy manager + StationSession + V21Adapter against the CSMS emulator
over real WebSockets, with an emulated DC car (its SoC window and discharge limit) in real time.

The CSMS asks for a discharge setpoint; the car discharges at once (the port has the setpoint before the answer goes
out, the current ramps within the next ticks), TransactionEvents show Power.Active.Export and a rising
Energy.Active.Export.Register, GetCompositeSchedule reports what the station does, a request beyond the car's limit
is honoured up to that limit, clearing the profile returns to charging. Waits are frame waits with time-outs.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from test_v201_smart_session import CS, RATINGS, SmartBench, signed_power, smart_bench, tx_profile, values

from chargepoint.app import build_chademo
from chargepoint.config import EvConfig, EvseConfig
from chargepoint.energy.model import ChargingProfile, ChargingSchedule, Kind, OperationMode, Purpose, RateUnit
from chargepoint.energy.model import SchedulePeriod as P
from chargepoint.ocpp.smart_state import clear_external_limit, set_external_limit
from hil.emulators.csms import CsmsBehaviour
from hil.emulators.ev_profiles import PROFILES

pytestmark = pytest.mark.timeout(60)

P21 = "ocpp2.1"


def setpoint(value: float, mode: str = "CentralSetpoint") -> list[dict[str, Any]]:
    return [{"startPeriod": 0, "setpoint": value, "operationMode": mode}]


async def set_profile(b: SmartBench, body: dict[str, Any]) -> dict[str, Any]:
    return await b.call("SetChargingProfile", {"evseId": 1, "chargingProfile": body})


async def test_TC_K_101_CS_Q04_central_setpoint_discharge_end_to_end() -> None:
    async with smart_bench(P21) as b:
        tx_id = await b.charge()
        needs = (await b.wait("NotifyEVChargingNeeds")).payload["chargingNeeds"]
        assert needs["requestedEnergyTransfer"] == "DC_BPT"
        assert needs["v2xChargingParameters"]["maxDischargePower"] > 4000
        mark = b.mark()
        sent = time.monotonic()
        assert (await set_profile(b, tx_profile(1, tx_id, setpoint(-4000.0))))["status"] == "Accepted"
        assert b.port._setpoint_w == pytest.approx(-4000)  # the port had it before the CSMS read Accepted
        first = await b.wait_power(lambda w: abs(w + 4000) < 200, mark)
        assert first.t - sent < 2.5  # the next 1 s sample at the latest (ramp 400 A/s)
        assert first.payload["transactionInfo"]["operationMode"] == "CentralSetpoint"
        assert values(first.payload, "Power.Active.Export")[0] == pytest.approx(4000, rel=0.05)
        second = await b.wait_power(lambda w: abs(w + 4000) < 200, first.index)
        exported = [values(f.payload, "Energy.Active.Export.Register")[0] for f in (first, second)]
        assert exported[1] > exported[0]
        # what the station will do
        res = await b.call("GetCompositeSchedule", {"evseId": 1, "duration": 300, "chargingRateUnit": "W"})
        assert res["status"] == "Accepted"
        p0 = res["schedule"]["chargingSchedulePeriod"][0]
        assert (p0["setpoint"], p0["operationMode"]) == (-4000.0, "CentralSetpoint")
        # beyond the car: honoured up to the car's discharge current (15 A) at its voltage
        mark = b.mark()
        assert (await set_profile(b, tx_profile(1, tx_id, setpoint(-9000.0))))["status"] == "Accepted"
        why = b.energy.explain(1)
        assert why["bound_by"] == "ev.max_discharge_current"
        limit_w = -why["watts"]
        assert 5000 < limit_w < 6600  # 15 A x ~380 V, far below the 9 kW asked
        frame = await b.wait_power(lambda w: abs(w + limit_w) < 300, mark)
        res = await b.call("GetCompositeSchedule", {"evseId": 1, "duration": 60})
        assert res["schedule"]["chargingSchedulePeriod"][0]["setpoint"] == pytest.approx(-limit_w, rel=0.03)
        assert signed_power(frame.payload) == pytest.approx(-limit_w, rel=0.05)
        # clearing the profile: back to charging
        mark = b.mark()
        assert (await b.call("ClearChargingProfile", {"chargingProfileId": 1}))["status"] == "Accepted"
        back = await b.wait_power(lambda w: w > 20_000, mark)
        assert back.payload["transactionInfo"]["operationMode"] == "ChargingOnly"
        assert b.station_errors() == []


async def test_TC_Q_109_CS_push_and_TC_Q_110_CS_pull_dynamic_setpoint() -> None:
    behaviour = CsmsBehaviour(dynamic_schedule_updates={2: {"setpoint": -2500.0}})
    async with smart_bench(P21, behaviour) as b:
        tx_id = await b.charge()
        body = tx_profile(2, tx_id, setpoint(-1000.0)) | {"chargingProfileKind": "Dynamic", "dynUpdateInterval": 2}
        mark = b.mark()
        assert (await set_profile(b, body))["status"] == "Accepted"
        await b.wait_power(lambda w: abs(w + 1000) < 150, mark)
        # push
        res = await b.call("UpdateDynamicSchedule", {"chargingProfileId": 2, "scheduleUpdate": {"setpoint": -3000.0}})
        assert res["status"] == "Accepted" and b.port._setpoint_w == pytest.approx(-3000)
        # pull: dynUpdateInterval after the last update the station asks, and applies the answer
        pull = await b.wait("PullDynamicScheduleUpdate", after=mark)
        assert pull.payload == {"chargingProfileId": 2}
        await b.wait_power(lambda w: abs(w + 2500) < 150, pull.index)
        assert b.station_errors() == []


async def test_Q02_allowed_energy_transfer_DC_only_and_Q06_external_limit_notified() -> None:
    async with smart_bench(P21) as b:
        tx_id = await b.charge()
        res = await b.call("NotifyAllowedEnergyTransfer", {"transactionId": tx_id, "allowedEnergyTransfer": ["DC"]})
        assert res["status"] == "Accepted"
        mark = b.mark()
        assert (await set_profile(b, tx_profile(3, tx_id, setpoint(-4000.0))))["status"] == "Accepted"
        await b.wait_power(lambda w: abs(w) < 50, mark)  # discharge refused: the car idles at 0
        assert b.energy.explain(1)["bound_by"] == "policy.discharge_limit"
        assert (await b.call("ClearChargingProfile", {}))["status"] == "Accepted"
        # an EMS limits the EVSE: applied, and the CSMS is told with the schedule
        per = P(0, limit=7000.0, operation_mode=OperationMode.EXTERNAL_LIMITS)
        ems = ChargingProfile(-1, 0, Purpose.EXTERNAL_CONSTRAINTS, Kind.RELATIVE,
                              (ChargingSchedule(RateUnit.W, (per,), id=1),), evse_id=1, limit_source="SO")
        mark = b.mark()
        assert set_external_limit(b.station, ems, is_grid_critical=True).accepted
        note = await b.wait("NotifyChargingLimit", after=mark)
        assert note.payload["chargingLimit"] == {"chargingLimitSource": "SO", "isGridCritical": True}
        assert note.payload["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] == 7000.0
        await b.wait_power(lambda w: abs(w - 7000) < 200, mark)
        mark = b.mark()
        assert clear_external_limit(b.station, "SO").matched
        cleared = await b.wait("ClearedChargingLimit", after=mark)
        assert cleared.payload == {"chargingLimitSource": "SO", "evseId": 1}
        assert b.station_errors() == []


async def test_Q01_charging_needs_of_the_chademo_leaf_carry_its_own_limits() -> None:
    """NotifyEVChargingNeeds for the LEAF over CAN frames goes out once the car has told everything: its 0x100
    voltage, the end of its 102.3 ramp (CHAdeMO carries no maximum current: the ramp's plateau is the car's
    maximum, here below the charger's 108.3) and its 0x200 discharge limit. Not the first 2 A of the ramp, and
    not a DC_BPT request without discharge figures."""
    car = PROFILES["leaf24-aze0"]  # takes 120 A at most; the charger gives up to 125 A / 50 kW
    assert car.max_charge_current_a < RATINGS.max_charge_current_a
    port = build_chademo(EvseConfig(1, protocol="chademo", ratings=RATINGS, ev=EvConfig("leaf24", 60.0)), "V2X-NEEDS")
    try:
        async with smart_bench(P21, port=port) as b:
            await b.charge(timeout=40)
            frame = await b.wait("NotifyEVChargingNeeds", timeout=30)
            needs = frame.payload["chargingNeeds"]
            dc, v2x = needs["dcChargingParameters"], needs["v2xChargingParameters"]
            assert needs["requestedEnergyTransfer"] == "DC_BPT"  # the LEAF announced V2H (102.5.7)
            assert dc["evMaxCurrent"] == car.max_charge_current_a == v2x["maxChargeCurrent"]
            assert dc["evMaxVoltage"] == car.max_battery_voltage_v == v2x["maxVoltage"]  # 100.4-5
            assert v2x["minVoltage"] == car.min_discharge_voltage_v  # 200.4-5
            assert v2x["maxDischargeCurrent"] == car.max_discharge_current_a  # 200.0 at the end of its ramp
            st = b.station.evses[1].connector.state
            assert st is not None and car.min_discharge_voltage_v < st.meter.voltage_v < car.max_battery_voltage_v
            assert v2x["maxChargePower"] > 0.9 * car.max_charge_current_a * car.min_discharge_voltage_v
            assert v2x["maxDischargePower"] > 0.9 * car.max_discharge_current_a * car.min_discharge_voltage_v
            assert len(b.csms.calls(CS, "NotifyEVChargingNeeds")) == 1
            assert b.station_errors() == []
    finally:
        port.close()


async def test_TC_K_101_CS_Q04_discharge_through_the_chademo_connector_over_can_frames() -> None:
    """The same path down to the CHAdeMO connector: ChademoPort and an emulated LEAF exchanging real frames on a
    python-can virtual bus; the car's limits arrive in its frames (0x100-0x102, 0x200)."""
    port = build_chademo(EvseConfig(1, protocol="chademo", ratings=RATINGS, ev=EvConfig("leaf40", 60.0)), "V2X-CAN")
    try:
        async with smart_bench(P21, port=port) as b:
            tx_id = await b.charge(timeout=40)
            needs = (await b.wait("NotifyEVChargingNeeds", timeout=20)).payload["chargingNeeds"]
            assert needs["requestedEnergyTransfer"] == "DC_BPT"  # the LEAF announced V2H (102.5.7)
            assert needs["dcChargingParameters"]["evMaxVoltage"] > 350
            mark = b.mark()
            assert (await set_profile(b, tx_profile(1, tx_id, setpoint(-3000.0))))["status"] == "Accepted"
            first = await b.wait_power(lambda w: abs(w + 3000) < 450, mark, timeout=20)
            assert first.payload["transactionInfo"]["operationMode"] == "CentralSetpoint"
            second = await b.wait_power(lambda w: abs(w + 3000) < 450, first.index)
            exported = [values(f.payload, "Energy.Active.Export.Register")[0] for f in (first, second)]
            assert exported[1] > exported[0]
            assert b.energy.explain(1)["bound_by"] == "schedule.setpoint"
            mark = b.mark()
            assert (await b.call("ClearChargingProfile", {"chargingProfileId": 1}))["status"] == "Accepted"
            back = await b.wait_power(lambda w: w > 2000, mark, timeout=20)
            assert back.payload["transactionInfo"]["operationMode"] == "ChargingOnly"
            assert b.station_errors() == []
    finally:
        port.close()
