"""Charging-profile validation: one precise reason per refused profile.

The rules are those of OCPP 1.6 (§3.13, §5.16, §7.8-7.14) and 2.0.1 / 2.1 use case K01 (functional requirements
cited as K01.FR.nn) plus the 2.1 per-operation-mode table. What the station supports comes from
:class:`StoreLimits` (1.6 configuration keys / 2.x SmartChargingCtrlr variables). Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise

from chargepoint.energy.model import (
    ChargingProfile,
    ChargingSchedule,
    Kind,
    OcppVersion,
    OperationMode,
    Purpose,
    RateUnit,
    SchedulePeriod,
)

__all__ = ["MODES_BY_PURPOSE", "Rejection", "StoreLimits", "validate_profile"]


@dataclass(frozen=True)
class StoreLimits:
    """What the station accepts. Defaults suit a single bidirectional DC EVSE."""

    max_stack_level: int = 8  # 1.6 ChargeProfileMaxStackLevel / 2.x SmartChargingCtrlr.ProfileStackLevel
    max_periods: int = 48  # ChargingScheduleMaxPeriods / PeriodsPerSchedule
    max_profiles: int = 64  # MaxChargingProfilesInstalled / SmartChargingCtrlr.Entries(ChargingProfiles)
    rate_units: frozenset[RateUnit] = frozenset({RateUnit.A, RateUnit.W})  # ChargingScheduleAllowedChargingRateUnit
    evse_ids: frozenset[int] | None = None  # the EVSEs (connectors in 1.6) that exist; None = not checked
    ac_phase_switching: bool = False  # ACPhaseSwitchingSupported
    additional_purposes: frozenset[Purpose] = frozenset({Purpose.PRIORITY_CHARGING, Purpose.LOCAL_GENERATION})
    dynamic_profiles: bool = True
    operation_modes: frozenset[OperationMode] = frozenset(OperationMode)
    evse_sleep: bool = True
    use_local_time: bool = False  # not implemented by the composite: refused (K01.FR.123)
    randomized_delay: bool = False  # not implemented: a non-zero randomizedDelay is refused (K01.FR.124)
    limit_at_soc: bool = False  # not implemented: refused (K01.FR.125)
    external_constraints_allowed: bool = True  # not SmartChargingCtrlr.ExternalConstraintsProfileDisallowed
    max_external_constraints_id: int | None = None  # SmartChargingCtrlr.MaxExternalConstraintsId
    # EVSEs whose V2XChargingCtrlr.LocalLoadBalancing thresholds are configured (LocalLoadBalancing needs them,
    # TC_Q_122); None = not checked
    load_balancing_evses: frozenset[int] | None = None


@dataclass(frozen=True)
class Rejection:
    """Why a profile was refused. ``code`` is short (fits 2.x statusInfo.reasonCode, <= 20 chars); ``reason`` is
    for people and names the rule."""

    code: str
    reason: str

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"


# 2.1 "Limits and setpoints per operation mode": which modes each purpose may use.
MODES_BY_PURPOSE: dict[Purpose, frozenset[OperationMode]] = {
    Purpose.TX: frozenset(OperationMode),
    Purpose.TX_DEFAULT: frozenset(OperationMode),
    Purpose.PRIORITY_CHARGING: frozenset({OperationMode.CHARGING_ONLY}),  # K01.FR.71
    Purpose.STATION_MAX: frozenset({OperationMode.CHARGING_ONLY}),
    Purpose.EXTERNAL_CONSTRAINTS: frozenset(
        {OperationMode.CHARGING_ONLY, OperationMode.EXTERNAL_LIMITS, OperationMode.EXTERNAL_SETPOINT}
    ),
    Purpose.LOCAL_GENERATION: frozenset({OperationMode.CHARGING_ONLY, OperationMode.EXTERNAL_LIMITS}),
}

_PURPOSES = {
    OcppVersion.V16: frozenset({Purpose.STATION_MAX, Purpose.TX_DEFAULT, Purpose.TX}),
    OcppVersion.V201: frozenset({Purpose.STATION_MAX, Purpose.TX_DEFAULT, Purpose.TX, Purpose.EXTERNAL_CONSTRAINTS}),
    OcppVersion.V21: frozenset(Purpose),
}


def _r(code: str, reason: str) -> Rejection:
    return Rejection(code, reason)


def validate_profile(
    profile: ChargingProfile,
    version: OcppVersion | str,
    *,
    limits: StoreLimits | None = None,
    active_tx_ids: Mapping[int, str | None] | None = None,
    from_external: bool = False,
) -> Rejection | None:
    """None when ``profile`` may be installed, else the first rule it breaks.

    ``active_tx_ids``: the transaction running on each EVSE (absent / None = none). ``from_external``: the profile
    comes from a local external system (EMS), not from the CSMS. Conflicts with installed profiles are the store's
    business (:meth:`chargepoint.energy.profiles.ProfileStore.add`)."""
    ver = OcppVersion(version)
    lim = limits or StoreLimits()
    txs = active_tx_ids or {}
    return (
        _check_purpose(profile, ver, lim, from_external)
        or _check_placement(profile, ver, lim, txs)
        or _check_kind(profile, ver, lim)
        or next((r for i, s in enumerate(profile.schedules) if (r := _check_schedule(profile, s, i, ver, lim))), None)
    )


def _check_purpose(p: ChargingProfile, ver: OcppVersion, lim: StoreLimits, external: bool) -> Rejection | None:
    purpose = p.purpose
    if purpose is Purpose.EXTERNAL_CONSTRAINTS:
        if not external:
            return _r("InvalidProfile", "the CSMS may not set a ChargingStationExternalConstraints profile (K01.FR.22)")
        if not lim.external_constraints_allowed:
            return _r("UnsupportedPurpose", "external constraints profiles are disallowed on this station")
        if lim.max_external_constraints_id is not None and p.id > lim.max_external_constraints_id:
            return _r("InvalidProfileId", f"external constraints profile id {p.id} > MaxExternalConstraintsId "
                                          f"{lim.max_external_constraints_id}")
        return None
    if purpose not in _PURPOSES[ver]:
        return _r("UnsupportedPurpose", f"{purpose} does not exist in OCPP {ver}")
    if purpose in (Purpose.PRIORITY_CHARGING, Purpose.LOCAL_GENERATION) and purpose not in lim.additional_purposes:
        return _r("UnsupportedPurpose", f"{purpose} is not in SupportedAdditionalPurposes (K01.FR.120)")
    if not external and lim.max_external_constraints_id is not None and p.id <= lim.max_external_constraints_id:
        return _r("InvalidProfileId", f"profile ids up to MaxExternalConstraintsId {lim.max_external_constraints_id}"
                                      " are reserved for external constraints")
    return None


def _check_placement(
    p: ChargingProfile, ver: OcppVersion, lim: StoreLimits, txs: Mapping[int, str | None]
) -> Rejection | None:
    if not 0 <= p.stack_level <= lim.max_stack_level:
        return _r("InvalidStackLevel", f"stackLevel {p.stack_level} outside 0..{lim.max_stack_level}")
    if p.evse_id < 0 or (p.evse_id != 0 and lim.evse_ids is not None and p.evse_id not in lim.evse_ids):
        return _r("UnknownEvse", f"EVSE {p.evse_id} does not exist (K01.FR.28)")
    if p.purpose is Purpose.STATION_MAX and p.evse_id != 0:
        return _r("InvalidProfile", "ChargingStationMaxProfile / ChargePointMaxProfile only on EVSE 0 (K01.FR.03)")
    if p.purpose is not Purpose.TX:
        if p.transaction_id is not None:
            return _r("InvalidProfile", "transactionId is only allowed in a TxProfile")
        return None
    if p.evse_id == 0:
        return _r("InvalidProfile", "a TxProfile cannot be set on EVSE 0 (K01.FR.16)")
    active = txs.get(p.evse_id)
    if active is None:
        return _r("TxNotFound", f"no transaction is running on EVSE {p.evse_id} (K01.FR.09)")
    if p.transaction_id is None and ver is not OcppVersion.V16:
        return _r("TxNotFound", "a TxProfile needs a transactionId (K01.FR.03)")
    if p.transaction_id is not None and p.transaction_id != active:
        return _r("TxNotFound", f"transaction {p.transaction_id} is not the one on EVSE {p.evse_id} (K01.FR.33)")
    return None


def _check_kind(p: ChargingProfile, ver: OcppVersion, lim: StoreLimits) -> Rejection | None:
    if p.kind is Kind.DYNAMIC and not lim.dynamic_profiles:
        return _r("UnsupportedKind", "dynamic charging profiles are not supported (K01.FR.121)")
    if p.kind is not Kind.DYNAMIC and (p.dyn_update_interval is not None or p.dyn_update_time is not None):
        return _r("InvalidProfile", "dynUpdateInterval / dynUpdateTime only in a Dynamic profile (K01.FR.122)")
    if p.purpose is Purpose.STATION_MAX and p.kind is Kind.RELATIVE:
        return _r("InvalidProfile", "a ChargingStationMaxProfile cannot be Relative (K01.FR.38)")
    if p.kind is Kind.RECURRING and p.recurrency_kind is None:
        return _r("InvalidProfile", "a Recurring profile needs a recurrencyKind")
    for i, s in enumerate(p.schedules):
        if p.kind is Kind.RECURRING and s.start_schedule is None:
            return _r("InvalidSchedule", f"schedule {i}: a Recurring profile needs startSchedule (K01.FR.40)")
        if ver is OcppVersion.V16:
            continue  # 1.6: absent startSchedule = relative to the start of charging (§7.13); tolerated
        if p.kind is Kind.ABSOLUTE and s.start_schedule is None:
            return _r("InvalidSchedule", f"schedule {i}: an Absolute profile needs startSchedule (K01.FR.40)")
        if p.kind is Kind.RELATIVE and s.start_schedule is not None:
            return _r("InvalidSchedule", f"schedule {i}: a Relative profile must not have startSchedule (K01.FR.41)")
    if p.valid_from is not None and p.valid_to is not None and p.valid_to <= p.valid_from:
        return _r("InvalidProfile", "validTo is not after validFrom")
    if p.max_offline_duration is not None and p.max_offline_duration < 0:
        return _r("InvalidProfile", "maxOfflineDuration must be >= 0")
    if not 1 <= len(p.schedules) <= (1 if ver is OcppVersion.V16 else 3):
        return _r("InvalidProfile", f"{len(p.schedules)} charging schedules (1 in 1.6, 1..3 in 2.x)")
    return None


def _check_schedule(
    p: ChargingProfile, s: ChargingSchedule, i: int, ver: OcppVersion, lim: StoreLimits
) -> Rejection | None:
    w = f"schedule {i}"
    if s.rate_unit not in lim.rate_units:
        return _r("UnsupportedRateUnit", f"{w}: chargingRateUnit {s.rate_unit} is not supported (K01.FR.26)")
    if not s.periods:
        return _r("InvalidSchedule", f"{w}: no periods")
    if len(s.periods) > lim.max_periods:
        return _r("InvalidSchedule", f"{w}: {len(s.periods)} periods, at most {lim.max_periods}")
    if s.periods[0].start_s != 0:
        return _r("InvalidSchedule", f"{w}: the first startPeriod must be 0 (K01.FR.31)")
    for a, b in pairwise(s.periods):
        if b.start_s <= a.start_s:
            return _r("InvalidSchedule", f"{w}: startPeriod {b.start_s} after {a.start_s}: must increase (K01.FR.35)")
    if s.duration is not None and s.duration < 0:
        return _r("InvalidSchedule", f"{w}: negative duration")
    if s.min_charging_rate is not None and s.min_charging_rate < 0:
        return _r("InvalidSchedule", f"{w}: negative minChargingRate")
    if p.purpose is Purpose.PRIORITY_CHARGING and s.duration is not None:
        return _r("InvalidSchedule", f"{w}: a PriorityCharging schedule has no duration (K01.FR.70)")
    extra = _check_extras(p, s, w, lim)
    if extra:
        return extra
    for j, per in enumerate(s.periods):
        r = _check_period(p, s, per, f"{w} period {j}", lim)
        if r:
            return r
    return None


def _check_extras(p: ChargingProfile, s: ChargingSchedule, w: str, lim: StoreLimits) -> Rejection | None:
    delay = s.extras.get("randomizedDelay")
    if delay:
        if p.purpose not in (Purpose.TX, Purpose.TX_DEFAULT):
            return _r("InvalidSchedule", f"{w}: randomizedDelay only in TxProfile / TxDefaultProfile (K01.FR.95)")
        if not lim.randomized_delay:
            return _r("UnsupportedParam", f"{w}: randomizedDelay is not supported (K01.FR.124)")
    if s.extras.get("useLocalTime") and not lim.use_local_time:
        return _r("UnsupportedParam", f"{w}: useLocalTime is not supported (K01.FR.123)")
    if s.extras.get("limitAtSoC") is not None and not lim.limit_at_soc:
        return _r("UnsupportedParam", f"{w}: limitAtSoC is not supported (K01.FR.125)")
    return None


def _check_period(
    p: ChargingProfile, s: ChargingSchedule, per: SchedulePeriod, w: str, lim: StoreLimits
) -> Rejection | None:
    for name in ("limit", "limit_l2", "limit_l3"):
        v = getattr(per, name)
        if v is not None and v < 0:
            return _r("InvalidSchedule", f"{w}: negative {name} {v} (the legacy discharge convention is switched off:"
                                         " negative_limit_policy = 'reject')")
    for name in ("discharge_limit", "discharge_limit_l2", "discharge_limit_l3"):
        v = getattr(per, name)
        if v is not None and v > 0:
            return _r("InvalidSchedule", f"{w}: {name} {v} must be <= 0")
    if per.number_phases is not None and not 1 <= per.number_phases <= 3:
        return _r("InvalidSchedule", f"{w}: numberPhases {per.number_phases} outside 1..3")
    if per.phase_to_use is not None:
        if per.number_phases != 1 or not 1 <= per.phase_to_use <= 3:
            return _r("InvalidSchedule", f"{w}: phaseToUse needs numberPhases = 1 and a phase 1..3 (K01.FR.19)")
        if not lim.ac_phase_switching:
            return _r("UnsupportedParam", f"{w}: phaseToUse without ACPhaseSwitchingSupported (K01.FR.20)")
    signs = {x > 0 for x in (per.setpoint, per.setpoint_l2, per.setpoint_l3) if x is not None and x != 0}
    if len(signs) > 1:
        return _r("InvalidSchedule", f"{w}: setpoints of different phases have different signs")
    if per.evse_sleep and not lim.evse_sleep:
        return _r("UnsupportedParam", f"{w}: evseSleep is not supported (K01.FR.126)")
    mode = per.operation_mode
    if mode is None:
        return None
    if mode not in lim.operation_modes:
        return _r("UnsupportedParam", f"{w}: operationMode {mode} is not supported")
    if mode not in MODES_BY_PURPOSE[p.purpose]:
        return _r("InvalidSchedule", f"{w}: operationMode {mode} is not allowed in a {p.purpose}")
    if mode is OperationMode.CHARGING_ONLY and per.limit is None:
        return _r("InvalidSchedule", f"{w}: ChargingOnly needs a limit")
    if mode in (OperationMode.CENTRAL_SETPOINT, OperationMode.CENTRAL_FREQUENCY) and per.setpoint is None:
        return _r("InvalidSchedule", f"{w}: {mode} needs a setpoint")
    if mode is OperationMode.LOCAL_LOAD_BALANCING and lim.load_balancing_evses is not None:
        need = {p.evse_id} if p.evse_id != 0 else set(lim.evse_ids or ()) or {0}
        missing = sorted(need - lim.load_balancing_evses)
        if missing:
            return _r("UnsupportedParam", f"{w}: LocalLoadBalancing needs V2XChargingCtrlr.LocalLoadBalancing "
                                          "UpperThreshold and LowerThreshold (Lower <= Upper, also with the offsets)"
                                          f" configured on EVSE {', '.join(map(str, missing))} (Q09, TC_Q_122)")
    if mode is OperationMode.LOCAL_FREQUENCY:
        if per.v2x_baseline is None or len(per.v2x_freq_watt_curve) < 2:
            return _r("InvalidSchedule", f"{w}: LocalFrequency needs v2xBaseline and a v2xFreqWattCurve of >= 2 "
                                         "points (Q08.FR.02)")
        if s.rate_unit != RateUnit.W:
            return _r("InvalidSchedule", f"{w}: LocalFrequency needs chargingRateUnit W (Q08.FR.05)")
    curves = {"v2xFreqWattCurve": per.v2x_freq_watt_curve, "v2xSignalWattCurve": per.v2x_signal_watt_curve}
    for name, curve in curves.items():
        xs = [x for x, _ in curve]
        if any(b <= a for a, b in pairwise(xs)):
            return _r("InvalidSchedule", f"{w}: {name} points must be in increasing order")
    return None
