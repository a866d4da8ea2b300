"""OCPP 2.0.1 end to end: station model + StationSession + V201Adapter against the CSMS emulator over real WebSockets.

The station runs in real time (ticked every 50 ms by the session) with emulated direct-DC cars whose handshake is
shortened to 0.2 s. Tests wait on recorded frames (``csms.wait_for``) with time-outs, never on fixed sleeps. Test
names carry the certification case (docs/reference/ocpp21_cs_testcases.tsv) whose behaviour they assert.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from chargepoint.clock import RealClock
from chargepoint.ocpp.session import StationSession
from chargepoint.ocpp.transport import TransportConfig
from chargepoint.ocpp.v201 import V201Adapter
from chargepoint.station.actions import TransactionUpdated
from chargepoint.station.auth import Authorizer, AuthPolicy
from chargepoint.station.core import Station
from chargepoint.station.settings import StationSettings
from chargepoint.station.types import IdToken, ResetKind
from hil.emulators.csms import CallError, CsmsBehaviour, CsmsEmulator, Frame
from hil.emulators.direct_dc import DirectDcPort

pytestmark = pytest.mark.timeout(30)

CS = "CS201"


@dataclass
class Bench:
    csms: CsmsEmulator
    station: Station
    ports: dict[int, DirectDcPort]
    session: StationSession
    reboots: list[ResetKind] = field(default_factory=list)

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.csms.call(CS, action, payload, timeout=5)

    async def wait(self, action: str, pred: Callable[[dict[str, Any]], bool] | None = None, after: int = -1,
                   timeout: float = 5.0) -> Frame:
        return await self.csms.wait_for(CS, action, pred, timeout=timeout, after=after)

    async def wait_status(self, status: str, evse: int = 1, after: int = -1) -> Frame:
        return await self.wait("StatusNotification",
                               lambda p: (p["evseId"], p["connectorStatus"]) == (evse, status), after)

    async def wait_event(self, event_type: str, after: int = -1, trigger: str | None = None) -> Frame:
        return await self.wait("TransactionEvent", lambda p: p["eventType"] == event_type and (
            trigger is None or p["triggerReason"] == trigger), after)

    def mark(self) -> int:
        return self.csms.mark()

    def sent(self, action: str, after: int = -1) -> list[dict[str, Any]]:
        return [f.payload for f in self.csms.calls(CS, action) if f.index > after]

    async def get(self, component: str, variable: str, instance: str | None = None) -> dict[str, Any]:
        var = {"name": variable} | ({"instance": instance} if instance else {})
        res = await self.call("GetVariables", {"getVariableData": [{"component": {"name": component},
                                                                    "variable": var}]})
        result: dict[str, Any] = res["getVariableResult"][0]
        return result

    async def set(self, component: str, variable: str, value: str) -> str:
        res = await self.call("SetVariables", {"setVariableData": [
            {"component": {"name": component}, "variable": {"name": variable}, "attributeValue": value}]})
        status: str = res["setVariableResult"][0]["attributeStatus"]
        return status

    async def answered(self, frame: Frame) -> dict[str, Any]:
        """The CSMS's CALLRESULT for a station CALL (its ledger is updated by then)."""
        answer = await self.csms.wait_frame(
            lambda f: f.direction == "tx" and f.unique_id == frame.unique_id and f.message_type == 3,
            timeout=5, after=frame.index)
        payload: dict[str, Any] = answer.payload
        return payload

    async def barrier(self) -> None:
        """Return once everything the station had produced before has been sent (two triggered round trips)."""
        for _ in range(2):
            mark = self.mark()
            res = await self.call("TriggerMessage", {"requestedMessage": "StatusNotification",
                                                     "evse": {"id": 1, "connectorId": 1}})
            assert res["status"] == "Accepted"
            await self.wait("StatusNotification", after=mark)

    async def charge(self, token: str = "TAG1", evse: int = 1) -> str:
        """Plug in, present a token, wait for Charging; return the transactionId."""
        mark = self.mark()
        self.ports[evse].plug_in()
        await self.wait_status("Occupied", evse, mark)
        self.station.present_token(evse, IdToken(token))
        started = await self.wait_event("Started", mark)
        await self.wait("TransactionEvent", lambda p: p["transactionInfo"].get("chargingState") == "Charging",
                        started.index)
        tx_id: str = started.payload["transactionInfo"]["transactionId"]
        return tx_id


@contextlib.asynccontextmanager
async def bench(behaviour: CsmsBehaviour | None = None, settings: StationSettings | None = None,
                policy: AuthPolicy | None = None, evses: int = 1, accepted: bool = True) -> AsyncIterator[Bench]:
    async with CsmsEmulator(protocols=("ocpp2.0.1",), behaviour=behaviour) as csms:
        ports = {i: DirectDcPort(handshake_s=0.2, stop_s=0.2) for i in range(1, evses + 1)}
        station = Station({i: [p] for i, p in ports.items()}, RealClock(),
                          settings or StationSettings(aligned_interval_s=0, sample_interval_s=0), Authorizer(policy))
        reboots: list[ResetKind] = []
        transport = TransportConfig(url=csms.url, station_id=CS, protocols=("ocpp2.0.1",), backoff_initial_s=0.05,
                                    backoff_max_s=0.2, backoff_jitter=0.0)
        session = StationSession(station, transport, tick_s=0.05, response_timeout_s=5, default_retry_s=1,
                                 reboot_hook=reboots.append)
        task = asyncio.create_task(session.run())
        b = Bench(csms, station, ports, session, reboots)
        try:
            if accepted:
                await session.wait_accepted(5)
                await b.wait_status("Available")
            yield b
        finally:
            session.stop()
            await asyncio.wait_for(task, 5)


# ---------------------------------------------------------------------- B: boot, heartbeat, reset
async def test_TC_B_01_CS_cold_boot_accepted_then_status_and_heartbeats() -> None:
    async with bench(CsmsBehaviour(boot_interval=1)) as b:
        assert isinstance(b.session.adapter, V201Adapter) and b.csms.protocol_of(CS) == "ocpp2.0.1"
        boot = b.sent("BootNotification")
        assert len(boot) == 1 and boot[0]["reason"] == "PowerUp"
        assert set(boot[0]["chargingStation"]) == {"model", "vendorName", "serialNumber", "firmwareVersion"}
        assert b.sent("StatusNotification")[0] | {"timestamp": None} == {
            "timestamp": None, "connectorStatus": "Available", "evseId": 1, "connectorId": 1}
        one = await b.wait("Heartbeat")
        two = await b.wait("Heartbeat", after=one.index)
        assert 0.8 <= two.t - one.t <= 1.5
        assert (await b.get("OCPPCommCtrlr", "HeartbeatInterval"))["attributeValue"] == "1"


async def test_TC_B_02_CS_cold_boot_pending() -> None:
    behaviour = CsmsBehaviour(boot_statuses=["Pending", "Accepted"], pending_interval=60)
    async with bench(behaviour, accepted=False) as b:
        await b.wait("BootNotification")
        assert (await b.get("TxCtrlr", "TxStartPoint"))["attributeValue"] == "PowerPathClosed"
        assert await b.set("SampledDataCtrlr", "TxUpdatedInterval", "15") == "Accepted"
        with pytest.raises(CallError) as err:  # not while Pending (TC_B_30)
            await b.call("RequestStartTransaction", {"idToken": {"idToken": "R", "type": "Central"},
                                                     "remoteStartId": 1, "evseId": 1})
        assert err.value.code == "SecurityError"
        assert (await b.call("TriggerMessage", {"requestedMessage": "BootNotification"}))["status"] == "Accepted"
        await b.session.wait_accepted(5)
        await b.wait_status("Available")
        assert [f.action for f in b.csms.calls(CS)][:2] == ["BootNotification", "BootNotification"]
        assert b.station.settings.sample_interval_s == 15


async def test_TC_B_03_CS_cold_boot_rejected_retries_after_interval() -> None:
    behaviour = CsmsBehaviour(boot_statuses=["Rejected", "Accepted"], pending_interval=1)
    async with bench(behaviour, accepted=False) as b:
        first = await b.wait("BootNotification")
        second = await b.wait("BootNotification", after=first.index)
        assert 0.8 <= second.t - first.t <= 2.0
        assert [f.action for f in b.csms.calls(CS)][:2] == ["BootNotification", "BootNotification"]
        await b.session.wait_accepted(5)


async def test_TC_B_22_CS_reset_immediate_with_transaction() -> None:
    async with bench() as b:
        tx_id = await b.charge()
        mark = b.mark()
        assert (await b.call("Reset", {"type": "Immediate"}))["status"] == "Accepted"
        ended = await b.wait_event("Ended", mark)
        assert ended.payload["transactionInfo"] == {"transactionId": tx_id, "stoppedReason": "ImmediateReset"}
        assert ended.payload["triggerReason"] == "ResetCommand"
        boot = await b.wait("BootNotification", after=ended.index)
        assert boot.payload["reason"] == "RemoteReset" and b.reboots == [ResetKind.IMMEDIATE]


# ---------------------------------------------------------------------- C/E/J: authorization, transactions
async def test_TC_E_03_CS_local_start_and_stop_with_continuous_seqno() -> None:
    async with bench(settings=StationSettings(aligned_interval_s=0, sample_interval_s=1)) as b:
        mark = b.mark()
        tx_id = await b.charge("TAG1")
        auth = await b.wait("Authorize", after=mark)
        assert auth.payload == {"idToken": {"idToken": "TAG1", "type": "ISO14443"}}
        periodic = await b.wait_event("Updated", mark, trigger="MeterValuePeriodic")
        assert periodic.payload["meterValue"][0]["sampledValue"][0]["context"] == "Sample.Periodic"
        b.ports[1].unplug()
        ended = await b.wait_event("Ended", mark)
        await b.answered(ended)
        assert ended.payload["transactionInfo"]["stoppedReason"] == "EVDisconnected"
        await b.wait_status("Available", after=ended.index)
        ledger = b.csms.transactions[CS][tx_id]
        assert ledger.seq_nos == list(range(len(ledger.seq_nos))) and ledger.event_types[0] == "Started"
        assert ledger.event_types[-1] == "Ended" and (ledger.evse_id, ledger.connector_id) == (1, 1)
        assert ledger.id_tag == "TAG1"


async def test_TC_C_02_CS_local_start_authorization_invalid() -> None:
    async with bench(CsmsBehaviour(id_tags={"BAD": "Invalid"})) as b:
        mark = b.mark()
        b.ports[1].plug_in()
        b.station.present_token(1, IdToken("BAD"))
        await b.wait("Authorize", after=mark)
        await b.barrier()
        assert b.sent("TransactionEvent") == []


async def test_TC_E_40_CS_connection_loss_during_transaction_keeps_seqno_and_flags_offline() -> None:
    async with bench(settings=StationSettings(aligned_interval_s=0, sample_interval_s=1)) as b:
        tx_id = await b.charge()
        produced_offline = asyncio.Event()
        count = 0

        def watch(action: object) -> None:
            nonlocal count
            if isinstance(action, TransactionUpdated) and not b.session.online:
                count += 1
                if count >= 2:
                    produced_offline.set()

        b.session.listeners.append(watch)
        await b.csms.stop()  # the CSMS goes away: the station keeps charging and queues its messages
        await asyncio.wait_for(produced_offline.wait(), 10)
        mark = b.mark()
        await b.csms.start()
        await b.session.wait_accepted(10)
        await b.wait_event("Updated", mark, trigger="MeterValuePeriodic")
        b.ports[1].unplug()
        await b.answered(await b.wait_event("Ended", mark))
        events = b.csms.transactions[CS][tx_id].events
        # A message whose answer was lost with the connection is sent again, unchanged (same seqNo and time);
        # apart from such repeats the numbers run on without a gap across the reconnection.
        first: dict[int, dict[str, Any]] = {}
        for e in events:
            assert first.setdefault(e["seqNo"], e) == e
        assert sorted(first) == list(range(len(first)))
        offline = [e for e in first.values() if e.get("offline")]
        assert len(offline) >= 2 and all(e["triggerReason"] == "MeterValuePeriodic" for e in offline)
        stamps = [e["timestamp"] for e in sorted(first.values(), key=lambda e: e["seqNo"])]
        assert stamps == sorted(stamps)  # queued messages keep the time they happened
        assert events[-1]["eventType"] == "Ended" and not events[-1].get("offline")


# ---------------------------------------------------------------------- F: remote control, trigger
async def test_TC_F_02_CS_remote_start_first_and_TC_F_08_CS_remote_stop() -> None:
    async with bench() as b:
        mark = b.mark()
        res = await b.call("RequestStartTransaction", {"idToken": {"idToken": "APP", "type": "Central"},
                                                       "remoteStartId": 42, "evseId": 1})
        assert res["status"] == "Accepted"
        await b.wait("Authorize", lambda p: p["idToken"]["idToken"] == "APP", mark)
        b.ports[1].plug_in()
        started = await b.wait_event("Started", mark)
        assert started.payload["triggerReason"] == "RemoteStart"
        assert started.payload["transactionInfo"]["remoteStartId"] == 42
        tx_id = started.payload["transactionInfo"]["transactionId"]
        assert (await b.call("RequestStopTransaction", {"transactionId": tx_id}))["status"] == "Accepted"
        ended = await b.wait_event("Ended", started.index)
        assert (ended.payload["triggerReason"], ended.payload["transactionInfo"]["stoppedReason"]) == (
            "RemoteStop", "Remote")
        assert (await b.call("RequestStopTransaction", {"transactionId": tx_id}))["status"] == "Rejected"


async def test_TC_F_05_CS_and_TC_F_06_CS_unlock_connector() -> None:
    async with bench() as b:
        await b.charge()
        res = await b.call("UnlockConnector", {"evseId": 1, "connectorId": 1})
        assert res["status"] == "OngoingAuthorizedTransaction"
        b.ports[1].unplug()
        await b.wait_event("Ended")
        assert (await b.call("UnlockConnector", {"evseId": 1, "connectorId": 1}))["status"] == "Unlocked"
        assert (await b.call("UnlockConnector", {"evseId": 2, "connectorId": 1}))["status"] == "UnknownConnector"


async def test_TC_F_11_CS_TC_F_20_CS_TC_F_23_CS_trigger_messages() -> None:
    async with bench() as b:
        mark = b.mark()
        res = await b.call("TriggerMessage", {"requestedMessage": "MeterValues", "evse": {"id": 1}})
        assert res["status"] == "Accepted"
        mv = await b.wait("MeterValues", after=mark)
        assert mv.payload["evseId"] == 1 and mv.payload["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"
        assert (await b.call("TriggerMessage", {"requestedMessage": "Heartbeat"}))["status"] == "Accepted"
        await b.wait("Heartbeat", after=mark)
        res = await b.call("TriggerMessage", {"requestedMessage": "StatusNotification",
                                              "evse": {"id": 1, "connectorId": 1}})
        assert res["status"] == "Accepted"
        await b.wait_status("Available", after=mark)
        assert (await b.call("TriggerMessage", {"requestedMessage": "BootNotification"}))["status"] == "Rejected"
        res = await b.call("TriggerMessage", {"requestedMessage": "LogStatusNotification"})
        assert res["status"] == "NotImplemented"


async def test_TC_F_13_CS_trigger_transaction_event() -> None:
    async with bench() as b:
        tx_id = await b.charge()
        mark = b.mark()
        res = await b.call("TriggerMessage", {"requestedMessage": "TransactionEvent", "evse": {"id": 1}})
        assert res["status"] == "Accepted"
        ev = await b.wait_event("Updated", mark, trigger="Trigger")
        await b.answered(ev)
        assert ev.payload["transactionInfo"] == {"transactionId": tx_id, "chargingState": "Charging"}
        ledger = b.csms.transactions[CS][tx_id]
        assert ledger.seq_nos == list(range(len(ledger.seq_nos)))


# ---------------------------------------------------------------------- G: availability
async def test_TC_G_03_CS_and_TC_G_04_CS_change_availability_evse() -> None:
    async with bench() as b:
        mark = b.mark()
        res = await b.call("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 1}})
        assert res["status"] == "Accepted"
        await b.wait_status("Unavailable", after=mark)
        mark = b.mark()
        res = await b.call("ChangeAvailability", {"operationalStatus": "Operative", "evse": {"id": 1}})
        assert res["status"] == "Accepted"
        await b.wait_status("Available", after=mark)


# ---------------------------------------------------------------------- B: device model
async def test_TC_B_06_CS_TC_B_09_CS_get_and_set_variables() -> None:
    async with bench() as b:
        assert await b.set("TxCtrlr", "EVConnectionTimeOut", "45") == "Accepted"
        assert b.station.settings.connection_timeout_s == 45
        got = await b.get("TxCtrlr", "EVConnectionTimeOut")
        assert (got["attributeStatus"], got["attributeValue"]) == ("Accepted", "45")
        assert await b.set("SecurityCtrlr", "SecurityProfile", "3") == "Rejected"
        assert (await b.get("NoSuchCtrlr", "X"))["attributeStatus"] == "UnknownComponent"


async def test_TC_B_12_CS_get_base_report_configuration_inventory() -> None:
    async with bench() as b:
        mark = b.mark()
        assert (await b.call("GetBaseReport", {"requestId": 9, "reportBase": "ConfigurationInventory"}))[
            "status"] == "Accepted"
        last = await b.wait("NotifyReport", lambda p: p["requestId"] == 9 and not p.get("tbc", False), after=mark)
        reports = [p for p in b.sent("NotifyReport", mark) if p["requestId"] == 9]
        assert reports[-1] is last.payload or reports[-1] == last.payload
        assert [p["seqNo"] for p in reports] == list(range(len(reports)))
        names = {(d["component"]["name"], d["variable"]["name"]) for p in reports for d in p["reportData"]}
        assert ("TxCtrlr", "TxStartPoint") in names and ("ChargingStation", "Model") not in names


async def test_items_per_message_exceeded_is_a_callerror() -> None:
    async with bench() as b:
        items = [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}] * 51
        with pytest.raises(CallError) as err:
            await b.call("GetVariables", {"getVariableData": items})
        assert err.value.code == "OccurrenceConstraintViolation"


# ---------------------------------------------------------------------- C/D/P: auth data, data transfer
async def test_TC_C_37_CS_clear_cache_and_TC_P_01_CS_data_transfer() -> None:
    async with bench() as b:
        b.station.present_token(1, IdToken("TAG1"))
        await b.wait("Authorize")
        await b.barrier()
        assert len(b.station.auth.cache) == 1
        assert (await b.call("ClearCache", {}))["status"] == "Accepted"
        assert len(b.station.auth.cache) == 0
        res = await b.call("DataTransfer", {"vendorId": "com.example", "messageId": "x"})
        assert res["status"] == "UnknownVendorId"


async def test_TC_D_01_CS_send_local_list_and_TC_D_08_CS_get_version() -> None:
    async with bench() as b:
        res = await b.call("SendLocalList", {"versionNumber": 4, "updateType": "Full", "localAuthorizationList": [
            {"idToken": {"idToken": "LOCAL", "type": "ISO14443"}, "idTokenInfo": {"status": "Accepted"}}]})
        assert res["status"] == "Accepted"
        assert (await b.call("GetLocalListVersion", {}))["versionNumber"] == 4
        res = await b.call("SendLocalList", {"versionNumber": 4, "updateType": "Differential"})
        assert res["status"] == "VersionMismatch"


# ---------------------------------------------------------------------- strictness over the wire
async def test_malformed_and_unknown_frames_get_callerrors_and_the_connection_stays() -> None:
    async with bench() as b:
        mark = b.mark()
        await b.csms.send_raw(CS, "[2, not json")
        err = await b.csms.wait_frame(lambda f: f.direction == "rx" and f.message_type == 4, after=mark)
        assert err.payload["errorCode"] == "FormatViolation" and err.unique_id == "-1"
        await b.csms.send_raw(CS, json.dumps([2, "u-1", "MakeCoffee", {}]))
        err = await b.csms.wait_frame(lambda f: f.direction == "rx" and f.unique_id == "u-1", after=mark)
        assert err.payload["errorCode"] == "NotImplemented"
        await b.csms.send_raw(CS, json.dumps([2, "u-2", "Reset", {"type": "Hard"}]))
        err = await b.csms.wait_frame(lambda f: f.direction == "rx" and f.unique_id == "u-2", after=mark)
        assert err.payload["errorCode"] == "PropertyConstraintViolation"
        assert b.reboots == [] and b.csms.is_connected(CS)
        assert (await b.call("GetLocalListVersion", {}))["versionNumber"] == 0
