"""OCPP JSON <-> neutral smart-charging model, for 1.6, 2.0.1 and 2.1.

Dicts use the exact key spellings of the OCPP JSON schemas (camelCase, and in 2.1 ``limit_L2``,
``dischargeLimit_L3``, ``setpoint_L2``, ``setpointReactive_L3`` ... with the underscore), not the lossy
snake->camel conversion of the ``ocpp`` library. Unknown keys are refused, which catches ``limitL2``-style mistakes.

Legacy discharge: 1.6 and 2.0.1 have no discharge fields; some systems send a negative ``limit`` instead (the 2.1
schema calls this "backwards compatibility"). ``negative_limit_policy`` decides:

* ``"reject"`` (default): the negative limit is kept as is and profile validation refuses it;
* ``"discharge"``: a negative limit L means discharge of magnitude |L|. In a TxProfile / TxDefaultProfile it
  becomes ``limit=0, discharge_limit=L, setpoint=L, operation_mode=CentralSetpoint`` (discharge at |L|, within
  every other limit); in the other purposes ``limit=0, discharge_limit=L`` (a bound, not a command).
  :func:`to_ocpp` reverses it for 1.6 / 2.0.1 (a negative setpoint, else a negative discharge limit with a zero
  charge limit, is sent as a negative ``limit``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Literal

from chargepoint.clock import iso
from chargepoint.energy._json import (
    ProfileFormatError,
    check_keys,
    get_bool,
    get_date,
    get_enum,
    get_int,
    get_list,
    get_num,
    get_obj,
)
from chargepoint.energy.model import (
    ChargingProfile,
    ChargingSchedule,
    CompositeSchedule,
    Kind,
    OcppVersion,
    OperationMode,
    Purpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
)

__all__ = ["NegativeLimitPolicy", "ProfileFormatError", "composite_to_ocpp", "from_ocpp", "to_ocpp"]

NegativeLimitPolicy = Literal["reject", "discharge"]


_V16_PURPOSE = {
    "ChargePointMaxProfile": Purpose.STATION_MAX,
    "TxDefaultProfile": Purpose.TX_DEFAULT,
    "TxProfile": Purpose.TX,
}
_V16_PURPOSE_OUT = {v: k for k, v in _V16_PURPOSE.items()}
_V201_PURPOSES = {Purpose.STATION_MAX, Purpose.TX_DEFAULT, Purpose.TX, Purpose.EXTERNAL_CONSTRAINTS}

_V16_PROFILE_KEYS = {
    "chargingProfileId", "transactionId", "stackLevel", "chargingProfilePurpose", "chargingProfileKind",
    "recurrencyKind", "validFrom", "validTo", "chargingSchedule",
}
_V16_SCHEDULE_KEYS = {"duration", "startSchedule", "chargingRateUnit", "chargingSchedulePeriod", "minChargingRate"}
_V16_PERIOD_KEYS = {"startPeriod", "limit", "numberPhases"}
_V201_PROFILE_KEYS = {
    "id", "stackLevel", "chargingProfilePurpose", "chargingProfileKind", "recurrencyKind", "validFrom", "validTo",
    "transactionId", "chargingSchedule", "customData",
}
_V21_PROFILE_KEYS = _V201_PROFILE_KEYS | {
    "maxOfflineDuration", "invalidAfterOfflineDuration", "dynUpdateInterval", "dynUpdateTime",
    "priceScheduleSignature",
}
_V201_SCHEDULE_CORE = {"id", "startSchedule", "duration", "chargingRateUnit", "chargingSchedulePeriod",
                       "minChargingRate"}
_V201_SCHEDULE_EXTRAS = {"salesTariff", "customData"}
_V21_SCHEDULE_EXTRAS = _V201_SCHEDULE_EXTRAS | {
    "limitAtSoC", "powerTolerance", "signatureId", "digestValue", "useLocalTime", "randomizedDelay",
    "absolutePriceSchedule", "priceLevelSchedule",
}
_V201_PERIOD_KEYS = {"startPeriod", "limit", "numberPhases", "phaseToUse", "customData"}

# 2.1 period: JSON key <-> model field (the exact schema spellings).
_V21_PERIOD_NUMBERS = {
    "limit": "limit",
    "limit_L2": "limit_l2",
    "limit_L3": "limit_l3",
    "dischargeLimit": "discharge_limit",
    "dischargeLimit_L2": "discharge_limit_l2",
    "dischargeLimit_L3": "discharge_limit_l3",
    "setpoint": "setpoint",
    "setpoint_L2": "setpoint_l2",
    "setpoint_L3": "setpoint_l3",
    "setpointReactive": "setpoint_reactive",
    "setpointReactive_L2": "setpoint_reactive_l2",
    "setpointReactive_L3": "setpoint_reactive_l3",
    "v2xBaseline": "v2x_baseline",
}
_V21_PERIOD_INTS = {"numberPhases": "number_phases", "phaseToUse": "phase_to_use"}
_V21_PERIOD_BOOLS = {"evseSleep": "evse_sleep", "preconditioningRequest": "preconditioning_request"}
_V21_PERIOD_KEYS = (
    {"startPeriod", "operationMode", "v2xFreqWattCurve", "v2xSignalWattCurve", "customData"}
    | set(_V21_PERIOD_NUMBERS) | set(_V21_PERIOD_INTS) | set(_V21_PERIOD_BOOLS)
)


# ---------------------------------------------------------------------------------------------------------------
# OCPP -> model


def _legacy_negative(p: SchedulePeriod, purpose: Purpose) -> SchedulePeriod:
    """Apply the "discharge" reading of a negative ``limit`` (see the module docstring)."""
    if p.limit is None or p.limit >= 0 or p.discharge_limit is not None or p.setpoint is not None:
        return p
    neg = p.limit
    if purpose in (Purpose.TX, Purpose.TX_DEFAULT):
        mode = p.operation_mode
        if mode in (None, OperationMode.CHARGING_ONLY):
            mode = OperationMode.CENTRAL_SETPOINT
        return replace(p, limit=0.0, discharge_limit=neg, setpoint=neg, operation_mode=mode)
    return replace(p, limit=0.0, discharge_limit=neg)


def _period_v16(d: Mapping[str, Any], where: str, v201: bool) -> SchedulePeriod:
    check_keys(d, _V201_PERIOD_KEYS if v201 else _V16_PERIOD_KEYS, where)
    start = get_int(d, "startPeriod", where, required=True)
    assert start is not None
    if d.get("limit") is None:
        raise ProfileFormatError(f"{where}.limit: required")
    return SchedulePeriod(
        start_s=start,
        limit=get_num(d, "limit", where),
        number_phases=get_int(d, "numberPhases", where),
        phase_to_use=get_int(d, "phaseToUse", where) if v201 else None,
    )


def _curve(d: Mapping[str, Any], key: str, xkey: str, where: str, integer: bool) -> tuple[tuple[Any, float], ...]:
    raw = d.get(key)
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ProfileFormatError(f"{where}.{key}: expected an array")
    out: list[tuple[Any, float]] = []
    for i, pt in enumerate(raw):
        w = f"{where}.{key}[{i}]"
        if not isinstance(pt, Mapping):
            raise ProfileFormatError(f"{w}: expected an object")
        check_keys(pt, {xkey, "power", "customData"}, w)
        x = get_int(pt, xkey, w, required=True) if integer else get_num(pt, xkey, w)
        power = get_num(pt, "power", w)
        if x is None or power is None:
            raise ProfileFormatError(f"{w}: {xkey} and power are required")
        out.append((x, power))
    return tuple(out)


def _period_v21(d: Mapping[str, Any], where: str) -> SchedulePeriod:
    check_keys(d, _V21_PERIOD_KEYS, where)
    kw: dict[str, Any] = {"start_s": get_int(d, "startPeriod", where, required=True)}
    for key, name in _V21_PERIOD_NUMBERS.items():
        kw[name] = get_num(d, key, where)
    for key, name in _V21_PERIOD_INTS.items():
        kw[name] = get_int(d, key, where)
    for key, name in _V21_PERIOD_BOOLS.items():
        kw[name] = get_bool(d, key, where)
    kw["operation_mode"] = get_enum(d, "operationMode", where, OperationMode)
    kw["v2x_freq_watt_curve"] = _curve(d, "v2xFreqWattCurve", "frequency", where, integer=False)
    kw["v2x_signal_watt_curve"] = _curve(d, "v2xSignalWattCurve", "signal", where, integer=True)
    return SchedulePeriod(**kw)


def _schedule(d: Mapping[str, Any], where: str, version: OcppVersion) -> ChargingSchedule:
    if version is OcppVersion.V16:
        check_keys(d, _V16_SCHEDULE_KEYS, where)
        extras_keys: set[str] = set()
    else:
        extras_keys = _V21_SCHEDULE_EXTRAS if version is OcppVersion.V21 else _V201_SCHEDULE_EXTRAS
        check_keys(d, _V201_SCHEDULE_CORE | extras_keys, where)
    raw_periods = get_list(d, "chargingSchedulePeriod", where)
    periods = []
    for i, rp in enumerate(raw_periods):
        w = f"{where}.chargingSchedulePeriod[{i}]"
        if not isinstance(rp, Mapping):
            raise ProfileFormatError(f"{w}: expected an object")
        if version is OcppVersion.V21:
            periods.append(_period_v21(rp, w))
        else:
            periods.append(_period_v16(rp, w, v201=version is OcppVersion.V201))
    unit = get_enum(d, "chargingRateUnit", where, RateUnit, required=True)
    assert unit is not None
    sid = None
    if version is not OcppVersion.V16:
        sid = get_int(d, "id", where, required=True)
    return ChargingSchedule(
        id=sid,
        rate_unit=unit,
        periods=tuple(periods),
        start_schedule=get_date(d, "startSchedule", where),
        duration=get_int(d, "duration", where),
        min_charging_rate=get_num(d, "minChargingRate", where),
        extras={k: d[k] for k in sorted(extras_keys) if k in d},
    )


def from_ocpp(
    data: Mapping[str, Any],
    version: OcppVersion | str,
    *,
    evse_id: int | None = None,
    negative_limit_policy: NegativeLimitPolicy = "reject",
    limit_source: str = "CSO",
) -> ChargingProfile:
    """Parse an OCPP charging profile.

    ``data`` is the profile object (1.6 ``csChargingProfiles`` / ``chargingProfile``, 2.x ``ChargingProfileType``)
    or a whole request carrying one (``SetChargingProfile``, ``RemoteStartTransaction``,
    ``RequestStartTransaction``): then ``connectorId`` / ``evseId`` is taken from it unless ``evse_id`` is given.
    Raises :class:`ProfileFormatError`; semantic checks are :func:`chargepoint.energy.validation.validate_profile`'s.
    In 2.1 an absent operationMode is stored as ChargingOnly (its meaning there); 1.6 / 2.0.1 periods have none.
    """
    ver = OcppVersion(version)
    if negative_limit_policy not in ("reject", "discharge"):
        raise ValueError(f"negative_limit_policy must be 'reject' or 'discharge', got {negative_limit_policy!r}")
    body = data
    for wrapper in ("csChargingProfiles", "chargingProfile"):
        if isinstance(data.get(wrapper), Mapping):
            body = data[wrapper]
            if evse_id is None:
                evse_id = get_int(data, "connectorId" if ver is OcppVersion.V16 else "evseId", "request")
            break
    where = "chargingProfile"
    if ver is OcppVersion.V16:
        check_keys(body, _V16_PROFILE_KEYS, where)
        pid = get_int(body, "chargingProfileId", where, required=True)
        purpose = _V16_PURPOSE.get(str(body.get("chargingProfilePurpose")))
        if purpose is None:
            raise ProfileFormatError(f"{where}.chargingProfilePurpose: {body.get('chargingProfilePurpose')!r}")
        tx = get_int(body, "transactionId", where)
        tx_id = None if tx is None else str(tx)
        raw_schedule = get_obj(body, "chargingSchedule", where)
        schedules: tuple[ChargingSchedule, ...] = (_schedule(raw_schedule, f"{where}.chargingSchedule", ver),)
    else:
        check_keys(body, _V21_PROFILE_KEYS if ver is OcppVersion.V21 else _V201_PROFILE_KEYS, where)
        pid = get_int(body, "id", where, required=True)
        purpose = get_enum(body, "chargingProfilePurpose", where, Purpose, required=True)
        if ver is OcppVersion.V201 and purpose not in _V201_PURPOSES:
            raise ProfileFormatError(f"{where}.chargingProfilePurpose: {purpose} is not a 2.0.1 purpose")
        raw_tx = body.get("transactionId")
        if raw_tx is not None and not isinstance(raw_tx, str):
            raise ProfileFormatError(f"{where}.transactionId: expected a string")
        tx_id = raw_tx
        raw = get_list(body, "chargingSchedule", where)
        schedules = tuple(
            _schedule(s if isinstance(s, Mapping) else {}, f"{where}.chargingSchedule[{i}]", ver)
            for i, s in enumerate(raw)
        )
    assert pid is not None and purpose is not None
    kind = get_enum(body, "chargingProfileKind", where, Kind, required=True)
    assert kind is not None
    if kind is Kind.DYNAMIC and ver is not OcppVersion.V21:
        raise ProfileFormatError(f"{where}.chargingProfileKind: Dynamic is 2.1 only")
    stack = get_int(body, "stackLevel", where, required=True)
    assert stack is not None
    fixed = []
    for s in schedules:
        periods = s.periods
        if negative_limit_policy == "discharge":
            periods = tuple(_legacy_negative(p, purpose) for p in periods)
        if ver is OcppVersion.V21:
            periods = tuple(
                p if p.operation_mode is not None else replace(p, operation_mode=OperationMode.CHARGING_ONLY)
                for p in periods
            )
        fixed.append(replace(s, periods=periods))
    extras = {k: body[k] for k in ("customData", "priceScheduleSignature") if k in body}
    v21 = ver is OcppVersion.V21
    return ChargingProfile(
        id=pid,
        stack_level=stack,
        purpose=purpose,
        kind=kind,
        schedules=tuple(fixed),
        evse_id=0 if evse_id is None else evse_id,
        recurrency_kind=get_enum(body, "recurrencyKind", where, Recurrency),
        valid_from=get_date(body, "validFrom", where),
        valid_to=get_date(body, "validTo", where),
        transaction_id=tx_id,
        max_offline_duration=get_int(body, "maxOfflineDuration", where) if v21 else None,
        invalid_after_offline_duration=get_bool(body, "invalidAfterOfflineDuration", where) if v21 else None,
        dyn_update_interval=get_int(body, "dynUpdateInterval", where) if v21 else None,
        dyn_update_time=get_date(body, "dynUpdateTime", where) if v21 else None,
        limit_source=limit_source,
        extras=extras,
    )


# ---------------------------------------------------------------------------------------------------------------
# model -> OCPP


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


def _legacy_limit(p: Any, policy: NegativeLimitPolicy, where: str) -> float:
    """The single 1.6 / 2.0.1 ``limit`` for a period (see the module docstring)."""
    if policy == "discharge":
        if p.setpoint is not None and p.setpoint < 0:
            return float(p.setpoint)
        if p.discharge_limit is not None and p.discharge_limit < 0 and not p.limit:
            return float(p.discharge_limit)
    if p.limit is None:
        raise ValueError(f"{where}: no limit to send (1.6 / 2.0.1 require one)")
    return float(p.limit)


def _period_out_v21(p: SchedulePeriod) -> dict[str, Any]:
    out: dict[str, Any] = {"startPeriod": p.start_s}
    for key, name in _V21_PERIOD_NUMBERS.items():
        _put(out, key, getattr(p, name))
    for key, name in _V21_PERIOD_INTS.items():
        _put(out, key, getattr(p, name))
    for key, name in _V21_PERIOD_BOOLS.items():
        _put(out, key, getattr(p, name))
    if p.operation_mode is not None:
        out["operationMode"] = str(p.operation_mode)
    if p.v2x_freq_watt_curve:
        out["v2xFreqWattCurve"] = [{"frequency": f, "power": w} for f, w in p.v2x_freq_watt_curve]
    if p.v2x_signal_watt_curve:
        out["v2xSignalWattCurve"] = [{"signal": s, "power": w} for s, w in p.v2x_signal_watt_curve]
    return out


def _schedule_out(s: ChargingSchedule, index: int, ver: OcppVersion, policy: NegativeLimitPolicy) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if ver is not OcppVersion.V16:
        out["id"] = s.id if s.id is not None else index
    if s.start_schedule is not None:
        out["startSchedule"] = iso(s.start_schedule)
    _put(out, "duration", s.duration)
    out["chargingRateUnit"] = str(s.rate_unit)
    periods: list[dict[str, Any]] = []
    for i, p in enumerate(s.periods):
        if ver is OcppVersion.V21:
            periods.append(_period_out_v21(p))
            continue
        po: dict[str, Any] = {"startPeriod": p.start_s, "limit": _legacy_limit(p, policy, f"period[{i}]")}
        _put(po, "numberPhases", p.number_phases)
        if ver is OcppVersion.V201:
            _put(po, "phaseToUse", p.phase_to_use)
        periods.append(po)
    out["chargingSchedulePeriod"] = periods
    _put(out, "minChargingRate", s.min_charging_rate)
    if ver is not OcppVersion.V16:
        allowed = _V21_SCHEDULE_EXTRAS if ver is OcppVersion.V21 else _V201_SCHEDULE_EXTRAS
        out.update({k: v for k, v in s.extras.items() if k in allowed})
    return out


def to_ocpp(
    profile: ChargingProfile, version: OcppVersion | str, *, negative_limit_policy: NegativeLimitPolicy = "reject"
) -> dict[str, Any]:
    """The OCPP JSON profile object (1.6 ``csChargingProfiles`` / 2.x ``ChargingProfileType``). The EVSE / connector
    is the request's (``profile.evse_id``). Raises ValueError when the profile cannot be expressed in ``version``."""
    ver = OcppVersion(version)
    out: dict[str, Any] = {}
    if ver is OcppVersion.V16:
        if profile.purpose not in _V16_PURPOSE_OUT:
            raise ValueError(f"{profile.purpose} cannot be expressed in OCPP 1.6")
        out["chargingProfileId"] = profile.id
        if profile.transaction_id is not None:
            if not profile.transaction_id.lstrip("-").isdigit():
                raise ValueError(f"1.6 transactionId must be an integer, got {profile.transaction_id!r}")
            out["transactionId"] = int(profile.transaction_id)
        out["stackLevel"] = profile.stack_level
        out["chargingProfilePurpose"] = _V16_PURPOSE_OUT[profile.purpose]
    else:
        if ver is OcppVersion.V201 and profile.purpose not in _V201_PURPOSES:
            raise ValueError(f"{profile.purpose} cannot be expressed in OCPP 2.0.1")
        out["id"] = profile.id
        out["stackLevel"] = profile.stack_level
        out["chargingProfilePurpose"] = str(profile.purpose)
    if profile.kind is Kind.DYNAMIC and ver is not OcppVersion.V21:
        raise ValueError("Dynamic profiles exist in OCPP 2.1 only")
    out["chargingProfileKind"] = str(profile.kind)
    if profile.recurrency_kind is not None:
        out["recurrencyKind"] = str(profile.recurrency_kind)
    if profile.valid_from is not None:
        out["validFrom"] = iso(profile.valid_from)
    if profile.valid_to is not None:
        out["validTo"] = iso(profile.valid_to)
    if ver is OcppVersion.V16:
        out["chargingSchedule"] = _schedule_out(profile.schedule, 0, ver, negative_limit_policy)
        return out
    _put(out, "transactionId", profile.transaction_id)
    out["chargingSchedule"] = [
        _schedule_out(s, i, ver, negative_limit_policy) for i, s in enumerate(profile.schedules)
    ]
    if ver is OcppVersion.V21:
        _put(out, "maxOfflineDuration", profile.max_offline_duration)
        _put(out, "invalidAfterOfflineDuration", profile.invalid_after_offline_duration)
        _put(out, "dynUpdateInterval", profile.dyn_update_interval)
        if profile.dyn_update_time is not None:
            out["dynUpdateTime"] = iso(profile.dyn_update_time)
        _put(out, "priceScheduleSignature", profile.extras.get("priceScheduleSignature"))
    _put(out, "customData", profile.extras.get("customData"))
    return out


def _dec1(x: float) -> float:
    """1.6 ``multipleOf 0.1``: rounded toward zero to one decimal (never above a limit)."""
    return math.trunc(round(x * 10.0, 6)) / 10.0


def composite_to_ocpp(
    schedule: CompositeSchedule, version: OcppVersion | str, *, negative_limit_policy: NegativeLimitPolicy = "reject"
) -> dict[str, Any]:
    """The schedule part of a GetCompositeSchedule response (the adapter adds ``status``).

    1.6: ``{connectorId, scheduleStart, chargingSchedule{duration, startSchedule, chargingRateUnit,
    chargingSchedulePeriod[{startPeriod, limit, numberPhases}], minChargingRate}}``; 2.x: ``CompositeScheduleType``
    ``{evseId, duration, scheduleStart, chargingRateUnit, chargingSchedulePeriod[...]}`` (2.1 periods carry
    dischargeLimit, setpoint, operationMode and the V2X curves). Periods without a limit cannot be sent in 1.6 /
    2.0.1 (compute the composite with a ``default_limit``)."""
    ver = OcppVersion(version)
    periods: list[dict[str, Any]] = []
    for i, p in enumerate(schedule.periods):
        if ver is OcppVersion.V21:
            po: dict[str, Any] = {"startPeriod": p.start_s}
            _put(po, "limit", p.limit)
            _put(po, "numberPhases", p.number_phases)
            _put(po, "dischargeLimit", p.discharge_limit)
            _put(po, "setpoint", p.setpoint)
            _put(po, "setpointReactive", p.setpoint_reactive)
            _put(po, "evseSleep", p.evse_sleep)
            _put(po, "preconditioningRequest", p.preconditioning_request)
            _put(po, "v2xBaseline", p.v2x_baseline)
            if p.operation_mode is not None:
                po["operationMode"] = str(p.operation_mode)
            if p.v2x_freq_watt_curve:
                po["v2xFreqWattCurve"] = [{"frequency": f, "power": w} for f, w in p.v2x_freq_watt_curve]
            if p.v2x_signal_watt_curve:
                po["v2xSignalWattCurve"] = [{"signal": s, "power": w} for s, w in p.v2x_signal_watt_curve]
        else:
            limit = _legacy_limit(p, negative_limit_policy, f"composite period[{i}]")
            po = {"startPeriod": p.start_s, "limit": _dec1(limit) if ver is OcppVersion.V16 else limit}
            _put(po, "numberPhases", p.number_phases)
        periods.append(po)
    if ver is OcppVersion.V16:
        sched: dict[str, Any] = {
            "duration": schedule.duration_s,
            "startSchedule": iso(schedule.start),
            "chargingRateUnit": str(schedule.unit),
            "chargingSchedulePeriod": periods,
        }
        if schedule.min_charging_rate is not None:
            sched["minChargingRate"] = _dec1(schedule.min_charging_rate)
        return {"connectorId": schedule.evse_id, "scheduleStart": iso(schedule.start), "chargingSchedule": sched}
    return {
        "evseId": schedule.evse_id,
        "duration": schedule.duration_s,
        "scheduleStart": iso(schedule.start),
        "chargingRateUnit": str(schedule.unit),
        "chargingSchedulePeriod": periods,
    }
