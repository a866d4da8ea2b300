"""OCPP JSON <-> neutral profile model, for 1.6, 2.0.1 and 2.1 (exact key spellings), and the negative-limit switch."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from test_schedule_support import schema_validate

from chargepoint.energy.model import (
    Kind,
    OperationMode,
    Purpose,
    RateUnit,
    Recurrency,
    profile_from_dict,
    profile_to_dict,
)
from chargepoint.energy.ocpp_codec import ProfileFormatError, from_ocpp, to_ocpp
from chargepoint.energy.validation import validate_profile

V16_PROFILE: dict[str, Any] = {
    "chargingProfileId": 7,
    "transactionId": 42,
    "stackLevel": 1,
    "chargingProfilePurpose": "TxProfile",
    "chargingProfileKind": "Recurring",
    "recurrencyKind": "Daily",
    "validFrom": "2026-03-01T00:00:00.000Z",
    "validTo": "2026-04-01T00:00:00.000Z",
    "chargingSchedule": {
        "duration": 86400,
        "startSchedule": "2026-03-01T18:00:00.000Z",
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 6.0, "numberPhases": 1},
            {"startPeriod": 3600, "limit": 16.5},
        ],
        "minChargingRate": 6.0,
    },
}

V201_PROFILE: dict[str, Any] = {
    "id": 12,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": [
        {
            "id": 1,
            "startSchedule": "2026-03-02T12:00:00.000Z",
            "duration": 3600,
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 11000.0, "numberPhases": 3},
                {"startPeriod": 900, "limit": 3680.0, "numberPhases": 1, "phaseToUse": 2},
            ],
            "minChargingRate": 1400.0,
        }
    ],
}

V21_PROFILE: dict[str, Any] = {
    "id": 31,
    "stackLevel": 2,
    "chargingProfilePurpose": "TxProfile",
    "chargingProfileKind": "Dynamic",
    "transactionId": "c0ffee-1",
    "maxOfflineDuration": 600,
    "invalidAfterOfflineDuration": True,
    "dynUpdateInterval": 60,
    "dynUpdateTime": "2026-03-02T11:59:00.000Z",
    "chargingSchedule": [
        {
            "id": 3,
            "startSchedule": "2026-03-02T12:00:00.000Z",
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [
                {
                    "startPeriod": 0,
                    "limit": 3680.0,
                    "limit_L2": 3000.0,
                    "limit_L3": 2000.0,
                    "dischargeLimit": -3000.0,
                    "dischargeLimit_L2": -2000.0,
                    "dischargeLimit_L3": -1000.0,
                    "setpoint": -1500.0,
                    "setpoint_L2": -1000.0,
                    "setpoint_L3": -500.0,
                    "setpointReactive": 200.0,
                    "setpointReactive_L2": 100.0,
                    "setpointReactive_L3": 50.0,
                    "operationMode": "CentralSetpoint",
                    "evseSleep": False,
                    "preconditioningRequest": True,
                },
                {
                    "startPeriod": 300,
                    "operationMode": "LocalFrequency",
                    "v2xBaseline": 0.0,
                    "v2xFreqWattCurve": [{"frequency": 49.8, "power": 7000.0}, {"frequency": 50.2, "power": -7000.0}],
                    "v2xSignalWattCurve": [{"signal": -100, "power": -5000.0}, {"signal": 100, "power": 5000.0}],
                },
            ],
            "randomizedDelay": 0,
        }
    ],
}


@pytest.mark.parametrize(
    ("version", "profile", "action", "wrap"),
    [
        ("1.6", V16_PROFILE, "SetChargingProfile", lambda p: {"connectorId": 1, "csChargingProfiles": p}),
        ("2.0.1", V201_PROFILE, "SetChargingProfileRequest", lambda p: {"evseId": 1, "chargingProfile": p}),
        ("2.1", V21_PROFILE, "SetChargingProfileRequest", lambda p: {"evseId": 1, "chargingProfile": p}),
    ],
)
def test_round_trip_is_exact_and_schema_valid(version: str, profile: dict[str, Any], action: str, wrap: Any) -> None:
    schema_validate(version, action, wrap(profile))
    model = from_ocpp(wrap(profile), version)
    assert model.evse_id == 1
    out = to_ocpp(model, version)
    assert out == profile
    schema_validate(version, action, wrap(out))
    assert profile_from_dict(profile_to_dict(model)) == model


def test_v16_fields_map_to_the_neutral_model() -> None:
    p = from_ocpp(V16_PROFILE, "1.6", evse_id=2)
    assert (p.id, p.stack_level, p.purpose, p.kind, p.recurrency_kind) == (
        7, 1, Purpose.TX, Kind.RECURRING, Recurrency.DAILY)
    assert p.transaction_id == "42" and p.evse_id == 2
    s = p.schedule
    assert (s.id, s.rate_unit, s.duration, s.min_charging_rate) == (None, RateUnit.A, 86400, 6.0)
    assert [(x.start_s, x.limit, x.number_phases) for x in s.periods] == [(0, 6.0, 1), (3600, 16.5, None)]
    assert all(x.operation_mode is None for x in s.periods)  # 1.6 says nothing about discharge


def test_v16_charge_point_max_profile_is_the_station_max_purpose() -> None:
    raw = copy.deepcopy(V16_PROFILE)
    raw["chargingProfilePurpose"] = "ChargePointMaxProfile"
    del raw["transactionId"]
    p = from_ocpp(raw, "1.6")
    assert p.purpose is Purpose.STATION_MAX
    assert to_ocpp(p, "1.6")["chargingProfilePurpose"] == "ChargePointMaxProfile"


def test_v21_keys_keep_their_underscores() -> None:
    p = from_ocpp(V21_PROFILE, "2.1")
    first = p.schedule.periods[0]
    assert (first.limit_l2, first.limit_l3, first.discharge_limit_l3, first.setpoint_l2) == (
        3000.0, 2000.0, -1000.0, -1000.0)
    out = to_ocpp(p, "2.1")["chargingSchedule"][0]["chargingSchedulePeriod"][0]
    assert {"limit_L2", "dischargeLimit_L3", "setpoint_L2", "setpointReactive_L3"} <= set(out)
    assert not {"limitL2", "dischargeLimitL3", "setpointL2"} & set(out)


def test_the_ocpp_librarys_lossy_camel_case_is_refused() -> None:
    raw = copy.deepcopy(V21_PROFILE)
    raw["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limitL2"] = 1.0
    with pytest.raises(ProfileFormatError, match="limitL2"):
        from_ocpp(raw, "2.1")


def test_v201_refuses_v21_fields_and_purposes() -> None:
    raw = copy.deepcopy(V201_PROFILE)
    raw["chargingSchedule"][0]["chargingSchedulePeriod"][0]["dischargeLimit"] = -1.0
    with pytest.raises(ProfileFormatError, match="dischargeLimit"):
        from_ocpp(raw, "2.0.1")
    raw = copy.deepcopy(V201_PROFILE)
    raw["chargingProfilePurpose"] = "PriorityCharging"
    with pytest.raises(ProfileFormatError):
        from_ocpp(raw, "2.0.1")
    raw = copy.deepcopy(V201_PROFILE)
    raw["chargingProfileKind"] = "Dynamic"
    with pytest.raises(ProfileFormatError, match="Dynamic"):
        from_ocpp(raw, "2.0.1")


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda p: p.pop("stackLevel"), "stackLevel"),
        (lambda p: p["chargingSchedule"][0]["chargingSchedulePeriod"][0].pop("limit"), "limit"),
        (lambda p: p["chargingSchedule"][0].update(chargingRateUnit="kW"), "chargingRateUnit"),
        (lambda p: p.update(validFrom="yesterday"), "validFrom"),
        (lambda p: p.update(stackLevel=True), "stackLevel"),
        (lambda p: p["chargingSchedule"][0].update(chargingSchedulePeriod=[]), "chargingSchedulePeriod"),
    ],
)
def test_malformed_profiles_name_the_field(mutate: Any, match: str) -> None:
    raw = copy.deepcopy(V201_PROFILE)
    mutate(raw)
    with pytest.raises(ProfileFormatError, match=match):
        from_ocpp(raw, "2.0.1")


def test_v21_absent_operation_mode_means_charging_only() -> None:
    raw = copy.deepcopy(V201_PROFILE)
    del raw["chargingSchedule"][0]["chargingSchedulePeriod"][1]["phaseToUse"]
    p = from_ocpp(raw, "2.1")
    assert {x.operation_mode for x in p.schedule.periods} == {OperationMode.CHARGING_ONLY}


def test_v16_transaction_ids_are_integers_on_the_wire() -> None:
    p = from_ocpp(V16_PROFILE, "1.6").with_transaction("abc")
    with pytest.raises(ValueError, match="integer"):
        to_ocpp(p, "1.6")


def test_profiles_that_a_version_cannot_express_are_refused() -> None:
    p = from_ocpp(V21_PROFILE, "2.1")
    with pytest.raises(ValueError, match="Dynamic"):
        to_ocpp(p, "2.0.1")
    ext = from_ocpp({**V201_PROFILE, "chargingProfilePurpose": "ChargingStationExternalConstraints"}, "2.0.1")
    with pytest.raises(ValueError, match=r"OCPP 1\.6"):
        to_ocpp(ext, "1.6")


# -- the legacy negative-limit convention -----------------------------------------------------------------------


def _legacy(purpose: str = "TxDefaultProfile", limit: float = -7000.0) -> dict[str, Any]:
    return {
        "chargingProfileId": 3, "stackLevel": 0, "chargingProfilePurpose": purpose, "chargingProfileKind": "Absolute",
        "chargingSchedule": {"startSchedule": "2026-03-02T12:00:00.000Z", "chargingRateUnit": "W",
                             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]},
    }


def test_negative_limit_policy_reject_refuses_the_profile() -> None:
    p = from_ocpp(_legacy(), "1.6", evse_id=1)
    assert p.schedule.periods[0].limit == -7000.0
    rejection = validate_profile(p, "1.6")
    assert rejection is not None and rejection.code == "InvalidSchedule"
    assert "negative_limit_policy" in rejection.reason


def test_negative_limit_policy_discharge_reads_a_discharge_setpoint() -> None:
    p = from_ocpp(_legacy(), "1.6", evse_id=1, negative_limit_policy="discharge")
    per = p.schedule.periods[0]
    assert (per.limit, per.discharge_limit, per.setpoint, per.operation_mode) == (
        0.0, -7000.0, -7000.0, OperationMode.CENTRAL_SETPOINT)
    assert validate_profile(p, "1.6") is None
    assert to_ocpp(p, "1.6", negative_limit_policy="discharge") == _legacy()
    # with the switch off a discharge profile cannot be reported in 1.6 terms: only its charge limit goes out
    assert to_ocpp(p, "1.6")["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 0.0


def test_negative_limit_in_a_max_profile_is_a_bound_not_a_command() -> None:
    p = from_ocpp(_legacy("ChargePointMaxProfile"), "1.6", evse_id=0, negative_limit_policy="discharge")
    per = p.schedule.periods[0]
    assert (per.limit, per.discharge_limit, per.setpoint, per.operation_mode) == (0.0, -7000.0, None, None)
    assert to_ocpp(p, "1.6", negative_limit_policy="discharge") == _legacy("ChargePointMaxProfile")


def test_negative_limit_policy_applies_to_201() -> None:
    raw = copy.deepcopy(V201_PROFILE)
    raw["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] = -5000.0
    p = from_ocpp(raw, "2.0.1", negative_limit_policy="discharge")
    assert p.schedule.periods[0].setpoint == -5000.0
    assert to_ocpp(p, "2.0.1", negative_limit_policy="discharge") == raw
    with pytest.raises(ValueError):
        from_ocpp(raw, "2.0.1", negative_limit_policy="maybe")  # type: ignore[arg-type]


def test_request_wrappers_are_unwrapped() -> None:
    remote = {"connectorId": 2, "idTag": "x", "chargingProfile": {**_legacy("TxProfile", 16.0)}}
    assert from_ocpp(remote, "1.6").evse_id == 2
    p = from_ocpp({"evseId": 1, "chargingProfile": V201_PROFILE}, "2.0.1", evse_id=3)
    assert p.evse_id == 3  # an explicit evse_id wins
    assert from_ocpp(V201_PROFILE, "2.0.1").evse_id == 0
    assert from_ocpp(V201_PROFILE, "2.0.1", limit_source="EMS").external
