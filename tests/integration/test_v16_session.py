"""OCPP 1.6J end to end: station model + StationSession + V16Adapter against the CSMS emulator over real WebSockets.

The station runs in real time (the session ticks it every 50 ms) with emulated direct-DC cars whose handshake is
shortened to 0.2 s; the CSMS emulator records every frame. Tests wait on frames (``csms.wait_for``) with time-outs,
never on fixed sleeps. "Nothing else happened" is checked behind a barrier: two TriggerMessage(StatusNotification)
round trips, which the session can only send after everything the station produced before them.

Tests are named after the OCPP 1.6 CTT charge-point test cases they cover (docs/reference/ocpp16_cs_testcases.tsv).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from chargepoint.clock import RealClock, parse_iso
from chargepoint.ocpp.session import StationSession
from chargepoint.ocpp.transport import TransportConfig
from chargepoint.ocpp.v16 import V16Adapter
from chargepoint.station.auth import Authorizer, AuthPolicy
from chargepoint.station.core import Station
from chargepoint.station.settings import StationSettings
from chargepoint.station.types import IdToken, ResetKind
from hil.emulators.csms import CallError, CsmsBehaviour, CsmsEmulator, Frame
from hil.emulators.direct_dc import DirectDcPort

pytestmark = pytest.mark.timeout(30)

CP = "CP16"


@dataclass
class Bench:
    csms: CsmsEmulator
    station: Station
    ports: dict[int, DirectDcPort]
    session: StationSession
    reboots: list[ResetKind] = field(default_factory=list)

    # -------------------------------------------------------------- CSMS side
    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.csms.call(CP, action, payload, timeout=5)

    async def configure(self, key: str, value: str) -> None:
        assert (await self.call("ChangeConfiguration", {"key": key, "value": value}))["status"] == "Accepted"

    async def get_config(self, *keys: str) -> dict[str, tuple[bool, str | None]]:
        res = await self.call("GetConfiguration", {"key": list(keys)} if keys else {})
        return {e["key"]: (e["readonly"], e.get("value")) for e in res.get("configurationKey", [])}

    async def wait(self, action: str, pred: Callable[[dict[str, Any]], bool] | None = None, after: int = -1,
                   timeout: float = 5.0) -> Frame:
        return await self.csms.wait_for(CP, action, pred, timeout=timeout, after=after)

    async def wait_status(self, connector_id: int, status: str, after: int = -1, timeout: float = 5.0) -> Frame:
        return await self.wait("StatusNotification",
                               lambda p: p["connectorId"] == connector_id and p["status"] == status, after, timeout)

    def mark(self) -> int:
        return self.csms.mark()

    def sent(self, action: str, after: int = -1) -> list[dict[str, Any]]:
        return [f.payload for f in self.csms.calls(CP, action) if f.index > after]

    async def answer_to(self, frame: Frame) -> dict[str, Any]:
        """The CSMS's CALLRESULT payload for a station CALL."""
        answer = await self.csms.wait_frame(
            lambda f: f.direction == "tx" and f.unique_id == frame.unique_id and f.message_type == 3,
            timeout=5, after=frame.index)
        payload: dict[str, Any] = answer.payload
        return payload

    async def barrier(self, connector_id: int = 1) -> None:
        """Return once everything the station had produced before has been sent."""
        for _ in range(2):
            mark = self.mark()
            res = await self.call("TriggerMessage", {"requestedMessage": "StatusNotification",
                                                     "connectorId": connector_id})
            assert res["status"] == "Accepted"
            await self.wait("StatusNotification", lambda p: p["connectorId"] == connector_id, after=mark)

    # -------------------------------------------------------------- scenarios
    async def remote_session(self, tag: str = "TAG1", connector_id: int = 1) -> int:
        """Plug in, RemoteStartTransaction, wait for Charging; return the CSMS's transactionId."""
        mark = self.mark()
        self.ports[connector_id].plug_in()
        await self.wait_status(connector_id, "Preparing", mark)
        res = await self.call("RemoteStartTransaction", {"idTag": tag, "connectorId": connector_id})
        assert res["status"] == "Accepted"
        start = await self.wait("StartTransaction", lambda p: p["connectorId"] == connector_id, mark)
        assert start.payload["idTag"] == tag
        await self.wait_status(connector_id, "Charging", mark)
        tx_id: int = (await self.answer_to(start))["transactionId"]
        return tx_id


@contextlib.asynccontextmanager
async def bench(behaviour: CsmsBehaviour | None = None, settings: StationSettings | None = None,
                policy: AuthPolicy | None = None, evses: int = 1, accepted: bool = True) -> AsyncIterator[Bench]:
    async with CsmsEmulator(protocols=("ocpp1.6",), behaviour=behaviour) as csms:
        ports = {i: DirectDcPort(handshake_s=0.2, stop_s=0.2) for i in range(1, evses + 1)}
        station = Station({i: [p] for i, p in ports.items()}, RealClock(), settings, Authorizer(policy))
        reboots: list[ResetKind] = []
        transport = TransportConfig(url=csms.url, station_id=CP, protocols=("ocpp1.6",), backoff_initial_s=0.05,
                                    backoff_max_s=0.2, backoff_jitter=0.0)
        session = StationSession(station, transport, tick_s=0.05, response_timeout_s=5, default_retry_s=1,
                                 reboot_hook=reboots.append)
        task = asyncio.create_task(session.run())
        b = Bench(csms, station, ports, session, reboots)
        try:
            if accepted:
                await session.wait_accepted(5)
                await b.wait_status(1, "Available")
            yield b
        finally:
            session.stop()
            await asyncio.wait_for(task, 5)


# ---------------------------------------------------------------------------------------------------- 01 boot
async def test_TC_001_CS_cold_boot_charge_point() -> None:
    async with bench(CsmsBehaviour(boot_interval=1)) as b:
        assert isinstance(b.session.adapter, V16Adapter)
        boot = b.sent("BootNotification")
        assert len(boot) == 1
        assert {"chargePointVendor", "chargePointModel", "chargePointSerialNumber", "firmwareVersion"} <= set(boot[0])
        first = [(p["connectorId"], p["status"]) for p in b.sent("StatusNotification")][:2]
        assert first == [(0, "Available"), (1, "Available")]
        # heartbeats at the interval the CSMS gave
        one = await b.wait("Heartbeat")
        two = await b.wait("Heartbeat", after=one.index)
        assert 0.8 <= two.t - one.t <= 1.5


async def test_TC_002_CS_cold_boot_charge_point_pending() -> None:
    behaviour = CsmsBehaviour(boot_statuses=["Pending", "Accepted"], pending_interval=60)
    async with bench(behaviour, accepted=False) as b:
        await b.wait("BootNotification")
        config = await b.get_config()
        assert "MeterValueSampleInterval" in config
        await b.configure("MeterValueSampleInterval", "15")
        res = await b.call("RemoteStartTransaction", {"idTag": "TAG1", "connectorId": 1})
        assert res["status"] == "Rejected"
        assert (await b.call("TriggerMessage", {"requestedMessage": "Heartbeat"}))["status"] == "Rejected"
        # TriggerMessage(BootNotification) cuts the 60 s retry interval short
        assert (await b.call("TriggerMessage", {"requestedMessage": "BootNotification"}))["status"] == "Accepted"
        await b.session.wait_accepted(5)
        await b.wait_status(0, "Available")
        await b.wait_status(1, "Available")
        actions = [f.action for f in b.csms.calls(CP)]
        assert actions[:2] == ["BootNotification", "BootNotification"]  # nothing else while Pending
        assert b.station.settings.sample_interval_s == 15


# ---------------------------------------------------------------------------------------------------- 02 start
async def test_TC_003_CS_regular_charging_session_plugin_first() -> None:
    async with bench() as b:
        await b.configure("MeterValueSampleInterval", "1")
        mark = b.mark()
        b.ports[1].plug_in()
        await b.wait_status(1, "Preparing", mark)
        b.station.present_token(1, IdToken("TAG1"))
        auth = await b.wait("Authorize", lambda p: p["idTag"] == "TAG1", mark)
        start = await b.wait("StartTransaction", None, auth.index)
        assert start.payload["connectorId"] == 1 and start.payload["idTag"] == "TAG1"
        assert isinstance(start.payload["meterStart"], int)
        tx_id = (await b.answer_to(start))["transactionId"]
        await b.wait_status(1, "Charging", start.index)
        mv = await b.wait("MeterValues", lambda p: p.get("transactionId") == tx_id, start.index)
        assert {v["context"] for v in mv.payload["meterValue"][0]["sampledValue"]} == {"Sample.Periodic"}
        b.ports[1].unplug()
        stop = await b.wait("StopTransaction", None, mv.index)
        assert (stop.payload["transactionId"], stop.payload["reason"], stop.payload["idTag"]) == (
            tx_id, "EVDisconnected", "TAG1")
        assert stop.payload["meterStop"] >= start.payload["meterStart"]
        await b.wait_status(1, "Available", mv.index)
        ledger = b.csms.transactions[CP][tx_id]
        assert ledger.started and ledger.ended and ledger.meter_values


async def test_TC_004_1_CS_regular_charging_session_identification_first() -> None:
    async with bench() as b:
        mark = b.mark()
        b.station.present_token(1, IdToken("TAG1"))
        await b.wait("Authorize", lambda p: p["idTag"] == "TAG1", mark)
        await b.wait_status(1, "Preparing", mark)
        b.ports[1].plug_in()
        start = await b.wait("StartTransaction", None, mark)
        assert start.payload["idTag"] == "TAG1"
        await b.wait_status(1, "Charging", mark)


async def test_TC_004_2_CS_regular_charging_session_identification_first_connection_timeout() -> None:
    async with bench() as b:
        assert (await b.get_config("ConnectionTimeOut"))["ConnectionTimeOut"][0] is False
        await b.configure("ConnectionTimeOut", "1")
        mark = b.mark()
        b.station.present_token(1, IdToken("TAG1"))
        preparing = await b.wait_status(1, "Preparing", mark)
        available = await b.wait_status(1, "Available", preparing.index)
        elapsed = (parse_iso(available.payload["timestamp"]) - parse_iso(preparing.payload["timestamp"]))
        assert 0.9 <= elapsed.total_seconds() <= 2.0
        await b.barrier()
        assert b.sent("StartTransaction") == []


# ---------------------------------------------------------------------------------------------------- 03 stop
@pytest.mark.parametrize(("case", "unlock"), [("TC_005_1_CS", "true"), ("TC_005_2_CS", "false")])
async def test_TC_005_1_TC_005_2_CS_ev_side_disconnected_stops_the_transaction(case: str, unlock: str) -> None:
    async with bench() as b:
        await b.configure("StopTransactionOnEVSideDisconnect", "true")
        await b.configure("UnlockConnectorOnEVSideDisconnect", unlock)
        tx_id = await b.remote_session()
        assert b.ports[1]._locked
        mark = b.mark()
        b.ports[1].unplug()
        stop = await b.wait("StopTransaction", None, mark)
        assert (stop.payload["transactionId"], stop.payload["reason"]) == (tx_id, "EVDisconnected")
        await b.wait_status(1, "Available", mark)


async def test_TC_005_3_CS_ev_side_disconnected_without_stop() -> None:
    async with bench() as b:
        await b.configure("StopTransactionOnEVSideDisconnect", "false")
        await b.configure("UnlockConnectorOnEVSideDisconnect", "false")
        tx_id = await b.remote_session()
        mark = b.mark()
        b.ports[1].unplug()
        await b.wait("StatusNotification", lambda p: p["connectorId"] == 1 and p["status"] in (
            "SuspendedEV", "SuspendedEVSE"), mark)
        await b.barrier()
        assert b.sent("StopTransaction") == []
        assert (await b.call("RemoteStopTransaction", {"transactionId": tx_id}))["status"] == "Accepted"
        stop = await b.wait("StopTransaction", None, mark)
        assert (stop.payload["transactionId"], stop.payload["reason"]) == (tx_id, "Remote")


# ---------------------------------------------------------------------------------------------------- 04 cache
async def test_TC_007_1_CS_regular_start_charging_session_cached_id() -> None:
    async with bench(policy=AuthPolicy(local_pre_authorize=True)) as b:
        await b.configure("ConnectionTimeOut", "1")
        mark = b.mark()
        b.station.present_token(1, IdToken("TAG1"))  # answered by the CSMS, cached
        await b.wait("Authorize", None, mark)
        await b.wait_status(1, "Available", (await b.wait_status(1, "Preparing", mark)).index)
        mark = b.mark()
        b.ports[1].plug_in()
        b.station.present_token(1, IdToken("TAG1"))
        start = await b.wait("StartTransaction", None, mark)
        assert start.payload["idTag"] == "TAG1"
        assert b.sent("Authorize", mark) == []


async def test_TC_061_1_TC_061_2_CS_clear_authorization_cache() -> None:
    async with bench(policy=AuthPolicy(local_pre_authorize=True)) as b:
        await b.configure("ConnectionTimeOut", "1")
        mark = b.mark()
        b.station.present_token(1, IdToken("TAG1"))
        await b.wait("Authorize", None, mark)
        await b.wait_status(1, "Available", (await b.wait_status(1, "Preparing", mark)).index)
        assert len(b.station.auth.cache) == 1
        assert (await b.call("ClearCache", {}))["status"] == "Accepted"
        assert len(b.station.auth.cache) == 0
        mark = b.mark()
        b.ports[1].plug_in()
        b.station.present_token(1, IdToken("TAG1"))
        await b.wait("Authorize", lambda p: p["idTag"] == "TAG1", mark)  # asked again
        await b.wait("StartTransaction", None, mark)


# ---------------------------------------------------------------------------------------------------- 05 remote
async def test_TC_010_CS_remote_start_charging_session_cable_plugged_in_first() -> None:
    async with bench() as b:
        assert (await b.get_config("AuthorizeRemoteTxRequests"))["AuthorizeRemoteTxRequests"] == (False, "true")
        mark = b.mark()
        await b.remote_session("REMOTE1")
        assert [p["idTag"] for p in b.sent("Authorize", mark)] == ["REMOTE1"]


async def test_TC_011_1_CS_remote_start_charging_session_remote_start_first() -> None:
    async with bench() as b:
        mark = b.mark()
        assert (await b.call("RemoteStartTransaction", {"idTag": "TAG1"}))["status"] == "Accepted"
        await b.wait("Authorize", None, mark)
        await b.wait_status(1, "Preparing", mark)
        b.ports[1].plug_in()
        start = await b.wait("StartTransaction", None, mark)
        assert (start.payload["connectorId"], start.payload["idTag"]) == (1, "TAG1")
        await b.wait_status(1, "Charging", mark)


async def test_TC_011_2_CS_remote_start_charging_session_time_out() -> None:
    async with bench() as b:
        await b.configure("ConnectionTimeOut", "1")
        mark = b.mark()
        assert (await b.call("RemoteStartTransaction", {"idTag": "TAG1", "connectorId": 1}))["status"] == "Accepted"
        preparing = await b.wait_status(1, "Preparing", mark)
        await b.wait_status(1, "Available", preparing.index)
        await b.barrier()
        assert b.sent("StartTransaction") == []


async def test_TC_012_CS_remote_stop_charging_session() -> None:
    async with bench() as b:
        tx_id = await b.remote_session("TAG1")
        mark = b.mark()
        assert (await b.call("RemoteStopTransaction", {"transactionId": tx_id}))["status"] == "Accepted"
        stop = await b.wait("StopTransaction", None, mark)
        assert (stop.payload["transactionId"], stop.payload["reason"], stop.payload["idTag"]) == (
            tx_id, "Remote", "TAG1")
        await b.wait_status(1, "Finishing", mark)


# ---------------------------------------------------------------------------------------------------- 06 reset
async def test_TC_013_CS_hard_reset_without_transaction() -> None:
    async with bench() as b:
        mark = b.mark()
        assert (await b.call("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}))["status"] == "Accepted"
        await b.wait_status(1, "Unavailable", mark)
        assert (await b.call("Reset", {"type": "Hard"}))["status"] == "Accepted"
        boot = await b.wait("BootNotification", None, mark)
        await b.wait_status(0, "Available", boot.index)
        await b.wait_status(1, "Unavailable", boot.index)  # availability survives the reset
        assert b.reboots == [ResetKind.HARD]
        mark = b.mark()
        assert (await b.call("ChangeAvailability", {"connectorId": 1, "type": "Operative"}))["status"] == "Accepted"
        await b.wait_status(1, "Available", mark)


async def test_TC_014_CS_soft_reset_without_transaction() -> None:
    async with bench() as b:
        mark = b.mark()
        assert (await b.call("Reset", {"type": "Soft"}))["status"] == "Accepted"
        boot = await b.wait("BootNotification", None, mark)
        await b.wait_status(1, "Available", boot.index)
        assert b.reboots == [ResetKind.SOFT]
        assert b.sent("StopTransaction") == []


@pytest.mark.parametrize(("case", "kind", "reason"), [("TC_015_CS", "Hard", "HardReset"),
                                                      ("TC_016_CS", "Soft", "SoftReset")])
async def test_TC_015_TC_016_CS_reset_with_transaction(case: str, kind: str, reason: str) -> None:
    async with bench() as b:
        tx_id = await b.remote_session("TAG1")
        mark = b.mark()
        assert (await b.call("Reset", {"type": kind}))["status"] == "Accepted"
        stop = await b.wait("StopTransaction", None, mark)
        assert (stop.payload["transactionId"], stop.payload["reason"], stop.payload["idTag"]) == (
            tx_id, reason, "TAG1")
        boot = await b.wait("BootNotification", None, stop.index)
        await b.wait("StatusNotification", lambda p: p["connectorId"] == 1, boot.index)
        assert b.reboots == [ResetKind(kind)]


# ---------------------------------------------------------------------------------------------------- 07/13 unlock
async def test_TC_017_1_CS_unlock_connector_no_charging_session() -> None:
    async with bench() as b:
        mark = b.mark()
        b.ports[1].plug_in()
        await b.wait_status(1, "Preparing", mark)
        assert (await b.call("UnlockConnector", {"connectorId": 1}))["status"] == "Unlocked"


async def test_TC_030_CS_unlock_connector_unlock_failure() -> None:
    async with bench() as b:
        b.ports[1].unlock_fails = True
        assert (await b.call("UnlockConnector", {"connectorId": 1}))["status"] == "UnlockFailed"


async def test_TC_031_CS_unlock_connector_unknown_connector() -> None:
    async with bench() as b:
        assert (await b.call("UnlockConnector", {"connectorId": 2}))["status"] == "NotSupported"


# ---------------------------------------------------------------------------------------------------- 08/16 config
async def test_TC_019_CS_retrieve_configuration() -> None:
    async with bench() as b:
        profiles = await b.get_config("SupportedFeatureProfiles")
        assert profiles == {"SupportedFeatureProfiles": (True, "Core,LocalAuthListManagement,RemoteTrigger")}
        everything = await b.get_config()
        max_keys = int(everything["GetConfigurationMaxKeys"][1] or 0)
        assert 1 <= len(everything) <= max_keys
        assert await b.get_config(*everything) == everything


async def test_TC_021_CS_change_set_configuration() -> None:
    async with bench() as b:
        original = int((await b.get_config("MeterValueSampleInterval"))["MeterValueSampleInterval"][1] or 0)
        await b.configure("MeterValueSampleInterval", str(original + 10))
        assert await b.get_config("MeterValueSampleInterval") == {
            "MeterValueSampleInterval": (False, str(original + 10))}
        await b.configure("MeterValueSampleInterval", str(original))


async def test_TC_040_1_CS_configuration_key_not_supported() -> None:
    async with bench() as b:
        res = await b.call("ChangeConfiguration", {"key": "ThisKeyDoesNotExist", "value": "1"})
        assert res["status"] == "NotSupported"
        res = await b.call("GetConfiguration", {"key": ["ThisKeyDoesNotExist"]})
        assert res == {"unknownKey": ["ThisKeyDoesNotExist"]}


async def test_TC_040_2_CS_configuration_key_invalid_value() -> None:
    async with bench() as b:
        before = await b.get_config("MeterValueSampleInterval")
        res = await b.call("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "-1"})
        assert res["status"] == "Rejected"
        assert await b.get_config("MeterValueSampleInterval") == before


# ---------------------------------------------------------------------------------------------------- 09 meter values
async def test_TC_070_CS_sampled_meter_values() -> None:
    async with bench() as b:
        await b.configure("MeterValueSampleInterval", "1")
        await b.configure("ClockAlignedDataInterval", "0")
        await b.configure("MeterValuesSampledData", "Energy.Active.Import.Register,Power.Active.Import,SoC")
        tx_id = await b.remote_session()
        frames = []
        after = b.mark()
        for _ in range(3):
            f = await b.wait("MeterValues", lambda p: p.get("transactionId") == tx_id, after)
            frames.append(f)
            after = f.index
        stamps = [parse_iso(f.payload["meterValue"][0]["timestamp"]) for f in frames]
        assert all(0.8 <= (y - x).total_seconds() <= 1.3 for x, y in itertools.pairwise(stamps))
        for f in frames:
            sampled = f.payload["meterValue"][0]["sampledValue"]
            assert [v["measurand"] for v in sampled] == ["Energy.Active.Import.Register", "Power.Active.Import", "SoC"]
            assert {v["context"] for v in sampled} == {"Sample.Periodic"}


async def test_TC_071_CS_clock_aligned_meter_values() -> None:
    async with bench() as b:
        await b.configure("MeterValueSampleInterval", "0")
        await b.configure("ClockAlignedDataInterval", "1")
        await b.configure("MeterValuesAlignedData", "Energy.Active.Import.Register")
        tx_id = await b.remote_session()
        after = b.mark()
        for _ in range(3):
            f = await b.wait("MeterValues", lambda p: p.get("transactionId") == tx_id, after)
            after = f.index
            stamp = parse_iso(f.payload["meterValue"][0]["timestamp"])
            assert stamp.microsecond == 0  # on the boundary
            assert [(v["measurand"], v["context"]) for v in f.payload["meterValue"][0]["sampledValue"]] == [
                ("Energy.Active.Import.Register", "Sample.Clock")]


# ---------------------------------------------------------------------------------------------------- 10-12 non-happy
async def test_TC_023_4_CS_start_local_charging_session_authorize_invalid() -> None:
    async with bench(CsmsBehaviour(id_tags={"BAD": "Invalid"})) as b:
        mark = b.mark()
        b.ports[1].plug_in()
        await b.wait_status(1, "Preparing", mark)
        b.station.present_token(1, IdToken("BAD"))
        auth = await b.wait("Authorize", None, mark)
        assert (await b.answer_to(auth))["idTagInfo"]["status"] == "Invalid"
        await b.barrier()
        assert b.sent("StartTransaction") == []


async def test_TC_023_5_CS_start_remote_charging_session_authorize_invalid() -> None:
    async with bench(CsmsBehaviour(id_tags={"BAD": "Blocked"})) as b:
        mark = b.mark()
        b.ports[1].plug_in()
        await b.wait_status(1, "Preparing", mark)
        assert (await b.call("RemoteStartTransaction", {"idTag": "BAD", "connectorId": 1}))["status"] == "Accepted"
        await b.wait("Authorize", None, mark)
        await b.barrier()
        assert b.sent("StartTransaction") == []


async def test_TC_026_CS_remote_start_charging_session_rejected() -> None:
    async with bench() as b:
        await b.remote_session("TAG1")
        res = await b.call("RemoteStartTransaction", {"idTag": "TAG2", "connectorId": 1})
        assert res["status"] == "Rejected"


async def test_TC_027_CS_remote_start_transaction_connector_id_0() -> None:
    async with bench() as b:
        mark = b.mark()
        res = await b.call("RemoteStartTransaction", {"idTag": "TAG1", "connectorId": 0})
        assert res["status"] == "Rejected"
        await b.barrier()
        assert b.sent("Authorize", mark) == [] and b.sent("StartTransaction", mark) == []


async def test_TC_028_CS_remote_stop_transaction_rejected() -> None:
    async with bench() as b:
        tx_id = await b.remote_session("TAG1")
        mark = b.mark()
        assert (await b.call("RemoteStopTransaction", {"transactionId": tx_id + 100}))["status"] == "Rejected"
        await b.barrier()
        assert b.sent("StopTransaction", mark) == []


# ---------------------------------------------------------------------------------------------------- 18 local list
async def test_TC_008_1_CS_regular_start_charging_session_id_in_local_list() -> None:
    async with bench(policy=AuthPolicy(local_pre_authorize=True)) as b:
        res = await b.call("SendLocalList", {"listVersion": 1, "updateType": "Full", "localAuthorizationList": [
            {"idTag": "LOCAL1", "idTagInfo": {"status": "Accepted"}}]})
        assert res["status"] == "Accepted"
        mark = b.mark()
        b.ports[1].plug_in()
        b.station.present_token(1, IdToken("LOCAL1"))
        start = await b.wait("StartTransaction", None, mark)
        assert start.payload["idTag"] == "LOCAL1"
        assert b.sent("Authorize", mark) == []


async def test_TC_042_1_TC_043_1_CS_local_list_not_supported_when_disabled() -> None:
    async with bench() as b:
        await b.configure("LocalAuthListEnabled", "false")
        assert (await b.call("GetLocalListVersion", {}))["listVersion"] == -1
        res = await b.call("SendLocalList", {"listVersion": 1, "updateType": "Full", "localAuthorizationList": []})
        assert res["status"] == "NotSupported"


async def test_TC_042_2_TC_043_TC_043_2_TC_043_3_CS_send_local_list() -> None:
    async with bench() as b:
        assert (await b.call("SendLocalList", {"listVersion": 1, "updateType": "Full"}))["status"] == "Accepted"
        assert (await b.call("GetLocalListVersion", {}))["listVersion"] == 0  # TC_042_2: empty
        res = await b.call("SendLocalList", {"listVersion": 3, "updateType": "Full", "localAuthorizationList": [
            {"idTag": "T1", "idTagInfo": {"status": "Accepted"}}]})
        assert res["status"] == "Accepted"  # TC_043
        assert (await b.call("GetLocalListVersion", {}))["listVersion"] == 3
        res = await b.call("SendLocalList", {"listVersion": 2, "updateType": "Differential",
                                             "localAuthorizationList": [{"idTag": "T2"}]})
        assert res["status"] == "VersionMismatch"  # TC_043_2
        res = await b.call("SendLocalList", {"listVersion": 4, "updateType": "Full",
                                             "localAuthorizationList": [{"idTag": "T2"}]})
        assert res["status"] == "Failed"  # TC_043_3: a full list entry without idTagInfo
        assert (await b.call("GetLocalListVersion", {}))["listVersion"] == 3


# ---------------------------------------------------------------------------------------------------- 22 trigger
async def test_TC_054_CS_trigger_message() -> None:
    async with bench() as b:
        mark = b.mark()
        res = await b.call("TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 1})
        assert res["status"] == "Accepted"
        mv = await b.wait("MeterValues", None, mark)
        assert mv.payload["connectorId"] == 1
        assert {v["context"] for v in mv.payload["meterValue"][0]["sampledValue"]} == {"Trigger"}
        mark = b.mark()
        assert (await b.call("TriggerMessage", {"requestedMessage": "Heartbeat"}))["status"] == "Accepted"
        await b.wait("Heartbeat", None, mark)
        mark = b.mark()
        res = await b.call("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1})
        assert res["status"] == "Accepted"
        await b.wait_status(1, "Available", mark)
        mark = b.mark()
        assert (await b.call("TriggerMessage", {"requestedMessage": "StatusNotification"}))["status"] == "Accepted"
        await b.wait_status(0, "Available", mark)
        await b.wait_status(1, "Available", mark)
        mark = b.mark()
        assert (await b.call("TriggerMessage", {"requestedMessage": "BootNotification"}))["status"] == "Accepted"
        await b.wait("BootNotification", None, mark)
        for message in ("DiagnosticsStatusNotification", "FirmwareStatusNotification"):
            res = await b.call("TriggerMessage", {"requestedMessage": message})
            assert res["status"] == "NotImplemented"


async def test_TC_055_CS_trigger_message_rejected() -> None:
    async with bench() as b:
        mark = b.mark()
        res = await b.call("TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 4352})
        assert res["status"] == "Rejected"
        await b.barrier()
        assert b.sent("MeterValues", mark) == []


# ---------------------------------------------------------------------------------------------------- 24 data transfer
async def test_TC_062_CS_data_transfer_to_a_charge_point() -> None:
    async with bench() as b:
        res = await b.call("DataTransfer", {"vendorId": "com.example", "messageId": "Hello", "data": "x"})
        assert res["status"] == "UnknownVendorId"


# ---------------------------------------------------------------------------------------------------- strictness
async def test_malformed_frames_get_callerrors_and_the_session_goes_on() -> None:
    async with bench() as b:
        mark = b.mark()
        await b.csms.send_raw(CP, '[2, "bad-1", "Reset", {"type": ')
        err = await b.csms.wait_frame(lambda f: f.direction == "rx" and f.message_type == 4, after=mark)
        assert (err.unique_id, err.payload["errorCode"]) == ("-1", "FormationViolation")
        with pytest.raises(CallError) as info:
            await b.csms.call(CP, "Reset", {"type": "Medium"}, validate=False)
        assert info.value.code == "PropertyConstraintViolation"
        await b.csms.send_raw(CP, '[2, "bad-2", "NoSuchAction", {}]')
        err = await b.csms.wait_frame(lambda f: f.direction == "rx" and f.unique_id == "bad-2", after=mark)
        assert err.payload["errorCode"] == "NotImplemented"
        assert b.reboots == [] and b.csms.is_connected(CP)
        assert (await b.call("GetLocalListVersion", {}))["listVersion"] == 0
