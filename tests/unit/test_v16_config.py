"""OCPP 1.6 configuration keys: every key's type, access, target in the model and change semantics."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chargepoint.clock import VirtualClock
from chargepoint.ocpp.v16_config import KEYS, ConfigStatus, Configuration, lookup
from chargepoint.station.core import Station
from chargepoint.station.types import Measurand, ResetKind
from hil.emulators.direct_dc import DirectDcPort


class Hooks:
    registration_status = "Accepted"

    def __init__(self) -> None:
        self.intervals: list[int] = []

    def request_reboot(self, kind: ResetKind) -> None: ...

    def trigger_boot(self) -> None: ...

    def trigger_heartbeat(self) -> None: ...

    def set_heartbeat_interval(self, seconds: int) -> None:
        self.intervals.append(seconds)

    def note_time(self, current_time: datetime) -> None: ...


PROFILES = ("Core", "LocalAuthListManagement", "RemoteTrigger")


def make(evses: int = 2) -> tuple[Configuration, Station, Hooks]:
    station = Station({i: [DirectDcPort()] for i in range(1, evses + 1)},
                      VirtualClock(start=datetime(2026, 3, 1, tzinfo=UTC)))
    hooks = Hooks()
    return Configuration(station, hooks, PROFILES), station, hooks


ROTATION = "0.NotApplicable,1.RST,2.Unknown"

# key -> (a valid new value, how to read it back from the model)
WRITABLE = {
    "AllowOfflineTxForUnknownId": ("true", lambda s: s.auth.policy.allow_offline_tx_for_unknown_id is True),
    "AuthorizationCacheEnabled": ("false", lambda s: s.auth.policy.cache_enabled is False),
    "AuthorizeRemoteTxRequests": ("false", lambda s: s.authorize_remote_start is False),
    "ClockAlignedDataInterval": ("0", lambda s: s.settings.aligned_interval_s == 0),
    "ConnectionTimeOut": ("45", lambda s: s.settings.connection_timeout_s == 45),
    "ConnectorPhaseRotation": (ROTATION, lambda s: s.settings.extra["ConnectorPhaseRotation"] == ROTATION),
    "HeartbeatInterval": ("90", lambda s: s.settings.heartbeat_interval_s == 90),
    "LocalAuthorizeOffline": ("false", lambda s: s.auth.policy.local_authorize_offline is False),
    "LocalPreAuthorize": ("true", lambda s: s.auth.policy.local_pre_authorize is True),
    "MeterValuesAlignedData": ("Voltage", lambda s: s.settings.aligned_measurands == (Measurand.VOLTAGE,)),
    "MeterValuesSampledData": ("SoC,Current.Export",
                               lambda s: s.settings.sampled_measurands == (Measurand.SOC, Measurand.CURRENT_EXPORT)),
    "MeterValueSampleInterval": ("15", lambda s: s.settings.sample_interval_s == 15),
    "ResetRetries": ("3", lambda s: s.settings.reset_retries == 3),
    "StopTransactionOnEVSideDisconnect": ("false",
                                          lambda s: s.settings.stop_transaction_on_ev_side_disconnect is False),
    "StopTransactionOnInvalidId": ("false", lambda s: s.settings.stop_transaction_on_invalid_id is False),
    "StopTxnAlignedData": ("Energy.Active.Export.Register",
                           lambda s: s.settings.stop_txn_aligned_measurands == (Measurand.ENERGY_EXPORT_REGISTER,)),
    "StopTxnSampledData": ("", lambda s: s.settings.stop_txn_sampled_measurands == ()),
    "TransactionMessageAttempts": ("5", lambda s: s.settings.transaction_message_attempts == 5),
    "TransactionMessageRetryInterval": ("20", lambda s: s.settings.transaction_message_retry_interval_s == 20),
    "UnlockConnectorOnEVSideDisconnect": ("false",
                                          lambda s: s.settings.unlock_connector_on_ev_side_disconnect is False),
    "WebSocketPingInterval": ("0", lambda s: s.settings.web_socket_ping_interval_s == 0),
    "LocalAuthListEnabled": ("false", lambda s: s.auth.policy.local_auth_list_enabled is False),
    "NegativeLimitPolicy": ("Discharge", lambda s: s.settings.extra["NegativeLimitPolicy"] == "Discharge"),
}

READ_ONLY = {
    "ConnectorPhaseRotationMaxLength": "3",
    "GetConfigurationMaxKeys": str(len(KEYS)),
    "MeterValuesAlignedDataMaxLength": str(len(Measurand)),
    "MeterValuesSampledDataMaxLength": str(len(Measurand)),
    "MinimumStatusDuration": "0",
    "NumberOfConnectors": "2",
    "StopTxnAlignedDataMaxLength": str(len(Measurand)),
    "StopTxnSampledDataMaxLength": str(len(Measurand)),
    "SupportedFeatureProfiles": "Core,LocalAuthListManagement,RemoteTrigger",
    "LocalAuthListMaxLength": "1000",
    "SendLocalListMaxLength": "1000",
    "ChargeProfileMaxStackLevel": "8",
    "ChargingScheduleAllowedChargingRateUnit": "Current,Power",
    "ChargingScheduleMaxPeriods": "48",  # the profile store's limits (StoreLimits)
    "MaxChargingProfilesInstalled": "64",
}


# Security whitepaper keys act on the session's SecurityManager (hooks.security), which these unit tests do not have;
# tests/integration/test_security_v16.py covers them with one.
SECURITY = {"AdditionalRootCertificateCheck", "AuthorizationKey", "CertificateSignedMaxChainSize",
            "CertificateStoreMaxLength", "CpoName", "SecurityProfile"}


def test_every_key_is_classified() -> None:
    assert {s.name for s in KEYS.values()} == set(WRITABLE) | set(READ_ONLY) | SECURITY
    assert all(len(s.name) <= 50 for s in KEYS.values())


def test_security_keys_without_a_security_manager() -> None:
    config, _, _ = make()
    assert config.change("SecurityProfile", "2") == ConfigStatus.REJECTED
    assert config.change("AuthorizationKey", "0123456789abcdef") == ConfigStatus.REJECTED
    assert config.get(["AuthorizationKey", "SecurityProfile"]) == ([
        {"key": "AuthorizationKey", "readonly": False},  # write-only: never a value
        {"key": "SecurityProfile", "readonly": False, "value": "1"}], [])


@pytest.mark.parametrize("key", sorted(WRITABLE))
def test_writable_key_changes_the_model(key: str) -> None:
    config, station, _ = make()
    value, check = WRITABLE[key]
    expected = ConfigStatus.REBOOT_REQUIRED if key == "WebSocketPingInterval" else ConfigStatus.ACCEPTED
    assert config.change(key, value) == expected
    assert check(station)
    entries, unknown = config.get([key])
    assert unknown == [] and entries == [{"key": key, "readonly": False, "value": value.replace(" ", "")}]


@pytest.mark.parametrize("key", sorted(READ_ONLY))
def test_read_only_key_reports_its_value_and_refuses_changes(key: str) -> None:
    config, _, _ = make()
    assert config.get([key]) == ([{"key": key, "readonly": True, "value": READ_ONLY[key]}], [])
    assert config.change(key, READ_ONLY[key]) == ConfigStatus.REJECTED


@pytest.mark.parametrize(("key", "value"), [
    ("AuthorizeRemoteTxRequests", "yes"), ("AuthorizeRemoteTxRequests", "1"), ("LocalPreAuthorize", ""),
    ("HeartbeatInterval", "0"), ("HeartbeatInterval", "-5"), ("ConnectionTimeOut", "0"),
    ("MeterValueSampleInterval", "10s"), ("ClockAlignedDataInterval", "0x10"), ("ResetRetries", "1e3"),
    ("MeterValuesSampledData", "Energy.Active.Import.Register,RPM"), ("MeterValuesAlignedData", "Temperature"),
    ("StopTxnSampledData", "energy.active.import.register"),
    ("ConnectorPhaseRotation", "1.ABC"), ("ConnectorPhaseRotation", "3.RST"), ("ConnectorPhaseRotation", "RST"),
    ("ConnectorPhaseRotation", "0.RST,1.RST,2.RST,1.RST"),
])
def test_invalid_values_are_rejected_and_change_nothing(key: str, value: str) -> None:
    config, _, hooks = make()
    before = config.get(None)
    assert config.change(key, value) == ConfigStatus.REJECTED
    assert config.get(None) == before
    assert hooks.intervals == []


def test_unknown_keys() -> None:
    config, _, _ = make()
    before = config.get(None)
    for key in ("BlinkRepeat", "LightIntensity", "MaxEnergyOnInvalidId", "ReserveConnectorZeroSupported", "Foo"):
        assert config.change(key, "1") == ConfigStatus.NOT_SUPPORTED
    entries, unknown = config.get(["Foo", "NumberOfConnectors", "numberofconnectors", "Bar"])
    assert [e["key"] for e in entries] == ["NumberOfConnectors"]
    assert unknown == ["Foo", "Bar"]
    assert config.get(None) == before


def test_heartbeat_interval_is_handed_to_the_session() -> None:
    config, _, hooks = make()
    assert config.change("HeartbeatInterval", " 120 ") == ConfigStatus.ACCEPTED
    assert hooks.intervals == [120]


def test_default_phase_rotation_lists_every_connector_as_not_applicable() -> None:
    config, _, _ = make(evses=2)
    assert config.value("ConnectorPhaseRotation") == "0.NotApplicable,1.NotApplicable,2.NotApplicable"


def test_lookup_is_case_insensitive() -> None:
    spec = lookup("  metervaluesampleinterval ")
    assert spec is not None and spec.name == "MeterValueSampleInterval"


@given(st.integers(min_value=-(10**6), max_value=10**9))
def test_integer_keys_accept_exactly_the_non_negative_integers(n: int) -> None:
    config, station, _ = make(evses=1)
    before = station.settings.sample_interval_s
    status = config.change("MeterValueSampleInterval", str(n))
    if n >= 0:
        assert status == ConfigStatus.ACCEPTED and station.settings.sample_interval_s == n
    else:
        assert status == ConfigStatus.REJECTED and station.settings.sample_interval_s == before


@given(st.lists(st.sampled_from([m.value for m in Measurand]), max_size=8))
def test_measurand_lists_round_trip(names: list[str]) -> None:
    config, station, _ = make(evses=1)
    assert config.change("MeterValuesSampledData", ",".join(names)) == ConfigStatus.ACCEPTED
    assert station.settings.sampled_measurands == tuple(Measurand(n) for n in names)
    assert config.value("MeterValuesSampledData") == ",".join(names)
