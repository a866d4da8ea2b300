"""CSMS emulator against minimal charge points written with the ``ocpp`` library, over real loopback WebSockets:
exact OCPP 2.1 keys on the wire, the transaction ledger and schema-valid default answers.

The test stations are in csms_emulator_rig.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from csms_emulator_rig import STAMP, VERSION, station
from ocpp.messages import CallResult, validate_payload
from ocpp.v16 import call as call16
from ocpp.v21 import call as call21

from chargepoint.ocpp.keyfix import _library_snake_to_camel as snake_to_camel_case  # the library's original
from hil.emulators.csms import CsmsBehaviour, CsmsEmulator, default_actions
from hil.emulators.csms_connection import RecordingConnection
from hil.emulators.csms_endpoints import ENDPOINTS


async def test_21_set_charging_profile_keeps_exact_camelcase_keys() -> None:
    period = {
        "startPeriod": 0,
        "limit": 11000.0,
        "limit_L2": 3700.0,
        "limit_L3": 3600.0,
        "setpoint": -5000.0,
        "setpoint_L2": -1600.0,
        "dischargeLimit": -7000.0,
        "dischargeLimit_L3": -2300.0,
        "operationMode": "CentralSetpoint",
    }
    profile = {
        "id": 7,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "W",
                "startSchedule": STAMP,
                "chargingSchedulePeriod": [period],
                "limitAtSoC": {"soc": 80, "limit": 5000.0},
            }
        ],
    }
    # The library's own serialisation would send these keys wrongly (why call() bypasses it):
    assert snake_to_camel_case({"limit_l2": 1, "soc": 2}) == {"limitL2": 1, "SoC": 2}
    async with CsmsEmulator() as csms, station(csms.url, "CP21", "ocpp2.1") as st:
        await csms.wait_connected("CP21")
        result = await csms.call("CP21", "SetChargingProfile", {"evseId": 1, "chargingProfile": profile})
        assert result == {"status": "Accepted"}
        received = json.loads(st.tap.rx[-1])
        assert received[2] == "SetChargingProfile"
        assert received[3]["chargingProfile"] == profile  # exact keys and values on the wire
        got = st.cp.profiles[0]["charging_schedule"][0]["charging_schedule_period"][0]
        assert (got["limit_l2"], got["setpoint"], got["discharge_limit"]) == (3700.0, -5000.0, -7000.0)


async def test_21_pull_dynamic_schedule_update_answer_keeps_l2_keys() -> None:
    update = {"limit": 7000.0, "limit_L2": 2300.0, "setpoint_L3": -1000.0, "dischargeLimit_L2": -2000.0}
    behaviour = CsmsBehaviour(dynamic_schedule_updates={7: update})
    async with CsmsEmulator(behaviour=behaviour) as csms, station(csms.url, "CP21", "ocpp2.1") as st:
        answer = await st.cp.call(call21.PullDynamicScheduleUpdate(charging_profile_id=7), suppress=False)
        assert answer.status == "Accepted"
        assert json.loads(st.tap.rx[-1])[2]["scheduleUpdate"] == update


async def test_transaction_ledger_16() -> None:
    behaviour = CsmsBehaviour(id_tags={"BLOCKED": "Blocked"})
    async with CsmsEmulator(behaviour=behaviour) as csms, station(csms.url, "CP1", "ocpp1.6") as st:
        auth = await st.cp.call(call16.Authorize(id_tag="BLOCKED"), suppress=False)
        assert auth.id_tag_info == {"status": "Blocked"}
        start = await st.cp.call(
            call16.StartTransaction(connector_id=1, id_tag="TAG1", meter_start=100, timestamp=STAMP), suppress=False
        )
        assert (start.transaction_id, start.id_tag_info) == (1, {"status": "Accepted"})
        sample = {"timestamp": STAMP, "sampled_value": [{"value": "150", "measurand": "Energy.Active.Import.Register"}]}
        await st.cp.call(call16.MeterValues(connector_id=1, transaction_id=1, meter_value=[sample]), suppress=False)
        await st.cp.call(
            call16.StopTransaction(meter_stop=200, timestamp=STAMP, transaction_id=1, reason="EVDisconnected"),
            suppress=False,
        )
        tx = csms.transactions["CP1"][1]
        assert (tx.id_tag, tx.connector_id, tx.meter_start, tx.meter_stop, tx.stop_reason, tx.active) == (
            "TAG1",
            1,
            100,
            200,
            "EVDisconnected",
            False,
        )
        assert tx.meter_values[0]["sampledValue"][0]["value"] == "150"
        second = await st.cp.call(
            call16.StartTransaction(connector_id=2, id_tag="TAG2", meter_start=0, timestamp=STAMP), suppress=False
        )
        assert second.transaction_id == 2 and csms.transactions["CP1"][2].active


async def test_transaction_ledger_21_and_id_token_status() -> None:
    behaviour = CsmsBehaviour(default_id_status="Invalid", id_tags={"GOOD": "Accepted"})
    async with CsmsEmulator(behaviour=behaviour) as csms, station(csms.url, "CP21", "ocpp2.1") as st:
        bad = await st.cp.call(call21.Authorize(id_token={"id_token": "BAD", "type": "ISO14443"}), suppress=False)
        assert bad.id_token_info == {"status": "Invalid"}
        for seq, (event, trigger) in enumerate(
            [("Started", "Authorized"), ("Updated", "MeterValuePeriodic"), ("Ended", "EVDeparted")]
        ):
            request = call21.TransactionEvent(
                event_type=event,
                timestamp=STAMP,
                trigger_reason=trigger,
                seq_no=seq,
                transaction_info={"transaction_id": "tx-1", "charging_state": "Charging"}
                | ({"stopped_reason": "EVDisconnected"} if event == "Ended" else {}),
                evse={"id": 1, "connector_id": 1} if event == "Started" else None,
                id_token={"id_token": "GOOD", "type": "ISO14443"} if event == "Started" else None,
                meter_value=[
                    {"timestamp": STAMP, "sampled_value": [{"value": -1500.0, "measurand": "Power.Active.Export"}]}
                ],
            )
            answer = await st.cp.call(request, suppress=False)
            assert answer.id_token_info == ({"status": "Accepted"} if event == "Started" else None)
        tx = csms.transactions["CP21"]["tx-1"]
        assert (tx.seq_nos, tx.event_types) == ([0, 1, 2], ["Started", "Updated", "Ended"])
        assert (tx.id_tag, tx.evse_id, tx.connector_id, tx.stop_reason, tx.ended) == (
            "GOOD",
            1,
            1,
            "EVDisconnected",
            True,
        )
        assert len(tx.meter_values) == 3 and tx.meter_values[0]["sampledValue"][0]["value"] == -1500.0


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_every_default_answer_is_schema_valid(protocol: str) -> None:
    required = {
        "ocpp1.6": {
            "BootNotification",
            "Heartbeat",
            "StatusNotification",
            "Authorize",
            "StartTransaction",
            "StopTransaction",
            "MeterValues",
            "DataTransfer",
            "DiagnosticsStatusNotification",
            "FirmwareStatusNotification",
            "SecurityEventNotification",
            "SignCertificate",
            "LogStatusNotification",
            "SignedFirmwareStatusNotification",
        },
        "ocpp2.0.1": {
            "BootNotification",
            "Heartbeat",
            "StatusNotification",
            "Authorize",
            "TransactionEvent",
            "MeterValues",
            "NotifyReport",
            "NotifyEvent",
            "NotifyChargingLimit",
            "ClearedChargingLimit",
            "NotifyEVChargingNeeds",
            "NotifyEVChargingSchedule",
            "ReportChargingProfiles",
            "SecurityEventNotification",
            "SignCertificate",
            "DataTransfer",
            "FirmwareStatusNotification",
            "LogStatusNotification",
            "NotifyMonitoringReport",
            "NotifyCustomerInformation",
        },
    }
    required["ocpp2.1"] = required["ocpp2.0.1"] | {
        "PullDynamicScheduleUpdate",
        "NotifyPriorityCharging",
        "NotifyDERAlarm",
        "NotifyDERStartStop",
        "ReportDERControl",
        "BatterySwap",
        "NotifySettlement",
        "NotifyWebPaymentStarted",
        "VatNumberValidation",
    }
    actions = default_actions(protocol)
    assert required[protocol] <= actions
    payloads: dict[str, dict[str, Any]] = {
        "StatusNotification": {"connectorId": 1, "status": "Available", "evseId": 1, "connectorStatus": "Available"},
        "Authorize": {"idTag": "T", "idToken": {"idToken": "T", "type": "ISO14443"}},
        "StartTransaction": {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": STAMP},
        "StopTransaction": {"transactionId": 1, "idTag": "T", "meterStop": 1, "timestamp": STAMP},
        "MeterValues": {"meterValue": []},
        "TransactionEvent": {
            "eventType": "Started",
            "timestamp": STAMP,
            "seqNo": 0,
            "idToken": {"idToken": "T"},
            "transactionInfo": {"transactionId": "t"},
        },
        "PullDynamicScheduleUpdate": {"chargingProfileId": 1},
        "VatNumberValidation": {"vatNumber": "DE1", "evseId": 1},
        "GetCertificateChainStatus": {
            "certificateStatusRequests": [
                {
                    "source": "OCSP",
                    "urls": ["http://ocsp"],
                    "certificateHashData": {
                        "hashAlgorithm": "SHA256",
                        "issuerNameHash": "a",
                        "issuerKeyHash": "b",
                        "serialNumber": "c",
                    },
                }
            ]
        },
    }
    async with CsmsEmulator() as csms:
        endpoint = ENDPOINTS[protocol](
            "X",
            RecordingConnection(None, "X", csms.frames.append),  # type: ignore[arg-type]
            csms,
            csms.station("X"),
        )
        for action in sorted(actions):
            answer = endpoint.route_map[action]["_on_action"](payloads.get(action, {}))
            await validate_payload(CallResult("1", answer, action), VERSION[protocol])
