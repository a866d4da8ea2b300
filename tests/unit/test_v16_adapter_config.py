"""The OCPP 1.6J adapter against a CSMS built on the ``ocpp`` library, over an in-memory connection: configuration
keys (GetConfiguration, ChangeConfiguration).

Tests are named after the OCPP 1.6 CTT charge-point test cases (docs/reference/ocpp16_cs_testcases.tsv) whose
behaviour they check. The rig (in-memory connection, scriptable CSMS, virtual time) is in v16_rig.py.
"""

from __future__ import annotations

import pytest
from ocpp.v16 import call
from v16_rig import Rig, config_of
from v16_rig import make_rig as make_rig  # a pytest fixture
from v16_rig import rig as rig  # a pytest fixture

from chargepoint.station.types import Measurand


# ---------------------------------------------------------------------------------------------------- 08 config
async def test_TC_019_CS_retrieve_configuration(rig: Rig) -> None:
    res = await rig.call(call.GetConfiguration(key=["SupportedFeatureProfiles"]))
    assert config_of(res) == {"SupportedFeatureProfiles": (True, "Core,LocalAuthListManagement,RemoteTrigger")}
    assert res.unknown_key is None
    everything = config_of(await rig.call(call.GetConfiguration()))
    assert config_of(await rig.call(call.GetConfiguration(key=[]))) == everything
    required_core = {
        "AuthorizeRemoteTxRequests": "bool", "ClockAlignedDataInterval": "int", "ConnectionTimeOut": "int",
        "ConnectorPhaseRotation": "csl", "GetConfigurationMaxKeys": "int", "HeartbeatInterval": "int",
        "LocalAuthorizeOffline": "bool", "LocalPreAuthorize": "bool", "MeterValuesAlignedData": "csl",
        "MeterValuesSampledData": "csl", "MeterValueSampleInterval": "int", "NumberOfConnectors": "int",
        "ResetRetries": "int", "StopTransactionOnEVSideDisconnect": "bool", "StopTransactionOnInvalidId": "bool",
        "StopTxnAlignedData": "csl", "StopTxnSampledData": "csl", "SupportedFeatureProfiles": "csl",
        "TransactionMessageAttempts": "int", "TransactionMessageRetryInterval": "int",
        "UnlockConnectorOnEVSideDisconnect": "bool",
        "LocalAuthListEnabled": "bool", "LocalAuthListMaxLength": "int", "SendLocalListMaxLength": "int",
    }
    for key, kind in required_core.items():
        assert key in everything, key
        value = everything[key][1]
        assert value is not None
        if kind == "bool":
            assert value in ("true", "false"), key
        elif kind == "int":
            assert value.isdigit(), key
    max_keys = int(everything["GetConfigurationMaxKeys"][1] or 0)
    assert max_keys >= len(everything)
    assert everything["NumberOfConnectors"] == (True, "1")
    # all keys at once, by name
    res = await rig.call(call.GetConfiguration(key=list(everything)))
    assert config_of(res) == everything


async def test_TC_021_CS_change_set_configuration(rig: Rig) -> None:
    original = int(config_of(await rig.call(call.GetConfiguration(key=["MeterValueSampleInterval"])))[
        "MeterValueSampleInterval"][1] or 0)
    res = await rig.call(call.ChangeConfiguration(key="MeterValueSampleInterval", value=str(original + 10)))
    assert res.status == "Accepted"
    got = config_of(await rig.call(call.GetConfiguration(key=["MeterValueSampleInterval"])))
    assert got == {"MeterValueSampleInterval": (False, str(original + 10))}
    assert rig.station.settings.sample_interval_s == original + 10
    res = await rig.call(call.ChangeConfiguration(key="MeterValueSampleInterval", value=str(original)))
    assert res.status == "Accepted" and rig.station.settings.sample_interval_s == original


async def test_TC_040_1_CS_configuration_key_not_supported(rig: Rig) -> None:
    before = config_of(await rig.call(call.GetConfiguration()))
    res = await rig.call(call.ChangeConfiguration(key="UnknownConfigKey", value="1"))
    assert res.status == "NotSupported"
    res = await rig.call(call.GetConfiguration(key=["UnknownConfigKey", "HeartbeatInterval", "BlinkRepeat"]))
    assert res.unknown_key == ["UnknownConfigKey", "BlinkRepeat"]
    assert list(config_of(res)) == ["HeartbeatInterval"]
    assert config_of(await rig.call(call.GetConfiguration())) == before


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", ""])
async def test_TC_040_2_CS_configuration_key_invalid_value(rig: Rig, value: str) -> None:
    before = rig.station.settings.sample_interval_s
    res = await rig.call(call.ChangeConfiguration(key="MeterValueSampleInterval", value=value))
    assert res.status == "Rejected"
    assert rig.station.settings.sample_interval_s == before


async def test_change_configuration_read_only_key_rejected(rig: Rig) -> None:
    for key, value in (("NumberOfConnectors", "4"), ("SupportedFeatureProfiles", "Core"),
                       ("ChargeProfileMaxStackLevel", "3"), ("MinimumStatusDuration", "10")):
        assert (await rig.call(call.ChangeConfiguration(key=key, value=value))).status == "Rejected", key
    assert config_of(await rig.call(call.GetConfiguration(key=["NumberOfConnectors"]))) == {
        "NumberOfConnectors": (True, "1")}


async def test_change_configuration_reboot_required_key(rig: Rig) -> None:
    res = await rig.call(call.ChangeConfiguration(key="WebSocketPingInterval", value="60"))
    assert res.status == "RebootRequired"
    assert rig.station.settings.web_socket_ping_interval_s == 60


async def test_change_configuration_heartbeat_interval_goes_to_the_session(rig: Rig) -> None:
    assert (await rig.call(call.ChangeConfiguration(key="HeartbeatInterval", value="120"))).status == "Accepted"
    assert rig.hooks.intervals == [120]
    assert rig.station.settings.heartbeat_interval_s == 120
    assert (await rig.call(call.ChangeConfiguration(key="HeartbeatInterval", value="0"))).status == "Rejected"
    assert rig.hooks.intervals == [120]


async def test_change_configuration_keys_are_case_insensitive(rig: Rig) -> None:
    res = await rig.call(call.ChangeConfiguration(key="localpreauthorize", value="TRUE"))
    assert res.status == "Accepted" and rig.station.auth.policy.local_pre_authorize is True
    res = await rig.call(call.GetConfiguration(key=["LOCALPREAUTHORIZE"]))
    assert config_of(res) == {"LocalPreAuthorize": (False, "true")}


async def test_measurand_lists_validated_with_unsupported_measurand_rejected(rig: Rig) -> None:
    before = rig.station.settings.sampled_measurands
    res = await rig.call(call.ChangeConfiguration(key="MeterValuesSampledData",
                                                  value="Energy.Active.Import.Register,Temperature"))
    assert res.status == "Rejected"
    assert rig.station.settings.sampled_measurands == before
    res = await rig.call(call.ChangeConfiguration(key="MeterValuesSampledData",
                                                  value="Energy.Active.Import.Register, Power.Active.Export,SoC"))
    assert res.status == "Accepted"
    assert rig.station.settings.sampled_measurands == (
        Measurand.ENERGY_IMPORT_REGISTER, Measurand.POWER_EXPORT, Measurand.SOC)
    assert config_of(await rig.call(call.GetConfiguration(key=["MeterValuesSampledData"]))) == {
        "MeterValuesSampledData": (False, "Energy.Active.Import.Register,Power.Active.Export,SoC")}
