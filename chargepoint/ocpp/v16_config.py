"""OCPP 1.6 configuration keys (GetConfiguration / ChangeConfiguration) mapped onto the neutral station model.

Every key reads from and writes to the live model (``station.settings``, ``station.auth.policy``,
``station.authorize_remote_start``) or the session hooks, so there is one source of truth. Keys are CiString50 and
matched case-insensitively; answers use the canonical spelling.

ChangeConfiguration semantics (OCPP 1.6 §5.3, §9):

* unknown key            -> NotSupported
* read-only key          -> Rejected
* value that does not parse or is out of range -> Rejected, nothing changes
* value stored, effective only after a reboot  -> RebootRequired
* otherwise              -> Accepted (effective at once)

Keys for hardware this station does not have (BlinkRepeat, LightIntensity) and behaviour the model does not implement
(MaxEnergyOnInvalidId, ReserveConnectorZeroSupported, ConnectorSwitch3to1PhaseSupported) are left out on purpose:
the CSMS gets NotSupported / ``unknownKey`` instead of a value that would do nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from chargepoint.energy.manager import EnergyManager
from chargepoint.energy.model import RateUnit
from chargepoint.energy.ocpp_codec import NegativeLimitPolicy
from chargepoint.energy.validation import StoreLimits
from chargepoint.ocpp.base import SessionHooks
from chargepoint.station.core import Station
from chargepoint.station.metering import parse_measurands
from chargepoint.station.types import Measurand

PHASE_ROTATIONS = ("NotApplicable", "Unknown", "RST", "RTS", "SRT", "STR", "TRS", "TSR")

# Smart Charging (§9.4): the capability keys report what the station's profile store enforces (read-only, as 1.6
# defines them). NegativeLimitPolicy is a vendor key: whether a negative limit in a profile received from now on is
# refused (Reject, the standard reading) or means discharge of that magnitude (Discharge; docs/smart-charging.md).
NEGATIVE_LIMIT_POLICY_KEY = "NegativeLimitPolicy"
NEGATIVE_LIMIT_POLICIES: dict[str, NegativeLimitPolicy] = {"Reject": "reject", "Discharge": "discharge"}
_RATE_UNIT_NAMES = ((RateUnit.A, "Current"), (RateUnit.W, "Power"))
_CHOICES: dict[str, tuple[str, ...]] = {NEGATIVE_LIMIT_POLICY_KEY: tuple(NEGATIVE_LIMIT_POLICIES)}

VALUE_MAX_LENGTH = 500  # GetConfiguration.conf value is CiString500


class ConfigStatus:
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    REBOOT_REQUIRED = "RebootRequired"
    NOT_SUPPORTED = "NotSupported"


Kind = Literal["bool", "int", "measurands", "phase_rotation", "text", "choice"]


@dataclass(frozen=True)
class KeySpec:
    name: str
    kind: Kind
    read: Callable[[ConfigContext], Any]
    write: Callable[[ConfigContext, Any], None] | None = None  # None = read-only
    minimum: int | None = 0  # for int keys
    reboot_required: bool = False  # stored at once, takes effect after a reboot
    write_only: bool = False  # GetConfiguration names the key without its value (AuthorizationKey)

    @property
    def readonly(self) -> bool:
        return self.write is None


@dataclass
class ConfigContext:
    station: Station
    hooks: SessionHooks
    feature_profiles: tuple[str, ...]


def _format(kind: Kind, value: Any) -> str:
    if kind == "bool":
        return "true" if value else "false"
    if kind == "measurands":
        return ",".join(m.value for m in value)
    return str(value)


def _parse_bool(text: str) -> bool:
    t = text.strip().lower()
    if t == "true":
        return True
    if t == "false":
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _parse_int(text: str, minimum: int | None) -> int:
    t = text.strip()
    if not t or not (t.isdigit() or (t[0] in "+-" and t[1:].isdigit())):
        raise ValueError(f"not an integer: {text!r}")
    value = int(t)
    if minimum is not None and value < minimum:
        raise ValueError(f"{value} < minimum {minimum}")
    return value


def _parse_phase_rotation(text: str, connectors: int) -> str:
    items = [p.strip() for p in text.split(",") if p.strip()]
    if len(items) > connectors + 1:
        raise ValueError(f"{len(items)} entries > {connectors + 1}")
    for item in items:
        cid, sep, rotation = item.partition(".")
        if not sep or not cid.isdigit() or int(cid) > connectors or rotation not in PHASE_ROTATIONS:
            raise ValueError(f"bad phase rotation entry {item!r}")
    return ",".join(items)


def _setting(attr: str) -> tuple[Callable[[ConfigContext], Any], Callable[[ConfigContext, Any], None]]:
    def read(ctx: ConfigContext) -> Any:
        return getattr(ctx.station.settings, attr)

    def write(ctx: ConfigContext, value: Any) -> None:
        setattr(ctx.station.settings, attr, value)

    return read, write


def _policy(attr: str) -> tuple[Callable[[ConfigContext], Any], Callable[[ConfigContext, Any], None]]:
    def read(ctx: ConfigContext) -> Any:
        return getattr(ctx.station.auth.policy, attr)

    def write(ctx: ConfigContext, value: Any) -> None:
        setattr(ctx.station.auth.policy, attr, value)

    return read, write


def _set_heartbeat(ctx: ConfigContext, value: Any) -> None:
    ctx.station.settings.heartbeat_interval_s = value
    ctx.hooks.set_heartbeat_interval(value)


def _set_authorize_remote(ctx: ConfigContext, value: Any) -> None:
    ctx.station.authorize_remote_start = value


def _phase_rotation(ctx: ConfigContext) -> str:
    default = ",".join(f"{c}.NotApplicable" for c in range(len(ctx.station.evses) + 1))  # DC only
    return ctx.station.settings.extra.get("ConnectorPhaseRotation", default)


def _set_phase_rotation(ctx: ConfigContext, value: Any) -> None:
    ctx.station.settings.extra["ConnectorPhaseRotation"] = value


def _const(value: Any) -> Callable[[ConfigContext], Any]:
    return lambda _ctx: value


def store_limits(station: Station) -> StoreLimits:
    """What the station's profile store accepts (the defaults a store would get when there is no energy manager)."""
    energy = station.energy
    return energy.store.limits if isinstance(energy, EnergyManager) else StoreLimits()


def negative_limit_policy(station: Station) -> NegativeLimitPolicy:
    """The NegativeLimitPolicy in force, as the energy codec spells it."""
    return NEGATIVE_LIMIT_POLICIES.get(station.settings.extra.get(NEGATIVE_LIMIT_POLICY_KEY, "Reject"), "reject")


def _rate_units(ctx: ConfigContext) -> str:
    units = store_limits(ctx.station).rate_units
    return ",".join(name for unit, name in _RATE_UNIT_NAMES if unit in units)


def _negative_limit_policy(ctx: ConfigContext) -> str:
    return ctx.station.settings.extra.get(NEGATIVE_LIMIT_POLICY_KEY, "Reject")


def _set_negative_limit_policy(ctx: ConfigContext, value: Any) -> None:
    ctx.station.settings.extra[NEGATIVE_LIMIT_POLICY_KEY] = value


# ---- security whitepaper keys: they read and stage changes on the session's SecurityManager (hooks.security)
def _security(ctx: ConfigContext) -> Any:
    manager = getattr(ctx.hooks, "security", None)
    if manager is None:
        raise ValueError("no security manager")
    return manager


def _security_profile(ctx: ConfigContext) -> int:
    manager = getattr(ctx.hooks, "security", None)
    return int(manager.profile) if manager is not None else 1


def _set_security_profile(ctx: ConfigContext, value: Any) -> None:
    _security(ctx).stage_profile(int(value))  # raises ValueError on a downgrade or missing certificates


def _set_authorization_key(ctx: ConfigContext, value: Any) -> None:
    _security(ctx).stage_password(str(value))


def _cpo_name(ctx: ConfigContext) -> str:
    manager = getattr(ctx.hooks, "security", None)
    return ctx.station.settings.extra.get("CpoName") or (manager.organization if manager is not None else "")


def _set_cpo_name(ctx: ConfigContext, value: Any) -> None:
    ctx.station.settings.extra["CpoName"] = str(value)


def _certificate_store_max(ctx: ConfigContext) -> int:
    manager = getattr(ctx.hooks, "security", None)
    return int(manager.certs.max_entries) if manager is not None else 0


def _key_specs() -> list[KeySpec]:
    n_measurands = len(Measurand)
    specs = [
        # ---------------------------------------------------------------- Core (§9.1)
        KeySpec("AllowOfflineTxForUnknownId", "bool", *_policy("allow_offline_tx_for_unknown_id")),
        KeySpec("AuthorizationCacheEnabled", "bool", *_policy("cache_enabled")),
        KeySpec("AuthorizeRemoteTxRequests", "bool", lambda c: c.station.authorize_remote_start,
                _set_authorize_remote),
        KeySpec("ClockAlignedDataInterval", "int", *_setting("aligned_interval_s")),
        KeySpec("ConnectionTimeOut", "int", *_setting("connection_timeout_s"), minimum=1),
        KeySpec("ConnectorPhaseRotation", "phase_rotation", _phase_rotation, _set_phase_rotation),
        KeySpec("ConnectorPhaseRotationMaxLength", "int", lambda c: len(c.station.evses) + 1),
        KeySpec("GetConfigurationMaxKeys", "int", lambda c: len(KEYS)),
        KeySpec("HeartbeatInterval", "int", lambda c: c.station.settings.heartbeat_interval_s, _set_heartbeat,
                minimum=1),
        KeySpec("LocalAuthorizeOffline", "bool", *_policy("local_authorize_offline")),
        KeySpec("LocalPreAuthorize", "bool", *_policy("local_pre_authorize")),
        KeySpec("MeterValuesAlignedData", "measurands", *_setting("aligned_measurands")),
        KeySpec("MeterValuesAlignedDataMaxLength", "int", _const(n_measurands)),
        KeySpec("MeterValuesSampledData", "measurands", *_setting("sampled_measurands")),
        KeySpec("MeterValuesSampledDataMaxLength", "int", _const(n_measurands)),
        KeySpec("MeterValueSampleInterval", "int", *_setting("sample_interval_s")),
        # The model reports every status change at once; the key tells the CSMS so but cannot change it.
        KeySpec("MinimumStatusDuration", "int", lambda c: c.station.settings.minimum_status_duration_s),
        KeySpec("NumberOfConnectors", "int", lambda c: len(c.station.evses)),
        KeySpec("ResetRetries", "int", *_setting("reset_retries")),
        KeySpec("StopTransactionOnEVSideDisconnect", "bool", *_setting("stop_transaction_on_ev_side_disconnect")),
        KeySpec("StopTransactionOnInvalidId", "bool", *_setting("stop_transaction_on_invalid_id")),
        KeySpec("StopTxnAlignedData", "measurands", *_setting("stop_txn_aligned_measurands")),
        KeySpec("StopTxnAlignedDataMaxLength", "int", _const(n_measurands)),
        KeySpec("StopTxnSampledData", "measurands", *_setting("stop_txn_sampled_measurands")),
        KeySpec("StopTxnSampledDataMaxLength", "int", _const(n_measurands)),
        KeySpec("SupportedFeatureProfiles", "text", lambda c: ",".join(c.feature_profiles)),
        KeySpec("TransactionMessageAttempts", "int", *_setting("transaction_message_attempts")),
        KeySpec("TransactionMessageRetryInterval", "int", *_setting("transaction_message_retry_interval_s")),
        KeySpec("UnlockConnectorOnEVSideDisconnect", "bool", *_setting("unlock_connector_on_ev_side_disconnect")),
        # The WebSocket ping interval is fixed when the connection is opened.
        KeySpec("WebSocketPingInterval", "int", *_setting("web_socket_ping_interval_s"), reboot_required=True),
        # ---------------------------------------------------------------- Local Auth List Management (§9.2)
        KeySpec("LocalAuthListEnabled", "bool", *_policy("local_auth_list_enabled")),
        KeySpec("LocalAuthListMaxLength", "int", lambda c: c.station.auth.local_list.max_length),
        KeySpec("SendLocalListMaxLength", "int", lambda c: c.station.settings.send_local_list_max_length),
    ]
    # ---------------------------------------------------------------- Security whitepaper (see security_v16)
    specs += [
        KeySpec("AdditionalRootCertificateCheck", "bool", _const(False)),
        KeySpec("AuthorizationKey", "text", _const(""), _set_authorization_key, write_only=True),
        KeySpec("CertificateSignedMaxChainSize", "int", _const(10000)),
        KeySpec("CertificateStoreMaxLength", "int", _certificate_store_max),
        KeySpec("CpoName", "text", _cpo_name, _set_cpo_name),
        KeySpec("SecurityProfile", "int", _security_profile, _set_security_profile),
    ]
    # ---------------------------------------------------------------- Smart Charging (§9.4)
    specs += [
        KeySpec("ChargeProfileMaxStackLevel", "int", lambda c: store_limits(c.station).max_stack_level),
        KeySpec("ChargingScheduleAllowedChargingRateUnit", "text", _rate_units),
        KeySpec("ChargingScheduleMaxPeriods", "int", lambda c: store_limits(c.station).max_periods),
        KeySpec("MaxChargingProfilesInstalled", "int", lambda c: store_limits(c.station).max_profiles),
        KeySpec(NEGATIVE_LIMIT_POLICY_KEY, "choice", _negative_limit_policy, _set_negative_limit_policy),
    ]
    return specs


KEYS: dict[str, KeySpec] = {spec.name.lower(): spec for spec in _key_specs()}


def lookup(name: str) -> KeySpec | None:
    return KEYS.get(name.strip().lower())


class Configuration:
    """The 1.6 view of the station's settings."""

    def __init__(self, station: Station, hooks: SessionHooks, feature_profiles: Iterable[str]) -> None:
        self.ctx = ConfigContext(station, hooks, tuple(feature_profiles))

    def value(self, name: str) -> str:
        spec = lookup(name)
        if spec is None:
            raise KeyError(name)
        return _format(spec.kind, spec.read(self.ctx))[:VALUE_MAX_LENGTH]

    def get(self, keys: list[str] | None) -> tuple[list[dict[str, Any]], list[str]]:
        """GetConfiguration: (configurationKey entries, unknownKey). No keys (or an empty list) = every key."""
        if not keys:
            specs = list(KEYS.values())
            unknown: list[str] = []
        else:
            specs, unknown, seen = [], [], set()
            for name in keys:
                spec = lookup(name)
                if spec is None:
                    unknown.append(name)
                elif spec.name not in seen:
                    seen.add(spec.name)
                    specs.append(spec)
        entries = [{"key": s.name, "readonly": s.readonly} | ({} if s.write_only else {"value": self.value(s.name)})
                   for s in specs]
        return entries, unknown

    def parse(self, spec: KeySpec, text: str) -> Any:
        match spec.kind:
            case "bool":
                return _parse_bool(text)
            case "int":
                return _parse_int(text, spec.minimum)
            case "measurands":
                values = parse_measurands(text)
                if len(values) > len(Measurand):
                    raise ValueError("too many measurands")
                return values
            case "phase_rotation":
                return _parse_phase_rotation(text, len(self.ctx.station.evses))
            case "choice":
                choice = next((c for c in _CHOICES[spec.name] if c.lower() == text.strip().lower()), None)
                if choice is None:
                    raise ValueError(f"{text!r} is not one of {', '.join(_CHOICES[spec.name])}")
                return choice
        return text

    def change(self, name: str, text: str) -> str:
        """ChangeConfiguration: returns the 1.6 ConfigurationStatus; nothing changes unless Accepted/RebootRequired."""
        spec = lookup(name)
        if spec is None:
            return ConfigStatus.NOT_SUPPORTED
        if spec.write is None:
            return ConfigStatus.REJECTED
        try:
            value = self.parse(spec, text)
            spec.write(self.ctx, value)  # a write may refuse the value too (ValueError)
        except ValueError:
            return ConfigStatus.REJECTED
        return ConfigStatus.REBOOT_REQUIRED if spec.reboot_required else ConfigStatus.ACCEPTED
