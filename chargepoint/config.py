"""Station configuration: one TOML file, validated at load with messages that name the key and the problem.

Example (every key optional; see docs/configuration.md)::

    [station]
    id = "CP-0001"
    vendor = "OpenV2X"

    [csms]
    url = "ws://csms.example:9000/ocpp"   # absent: run against the embedded CSMS emulator
    ocpp = ["2.0.1"]                       # offered versions, preferred first
    password_env = "CP_PASSWORD"           # security profiles 1 and 2 (Basic auth)
    security_profile = 1                   # 2: TLS + Basic auth, 3: mutual TLS (both need wss://)
    ca_bundle = "/etc/chargepoint/csms-ca.pem"   # profiles 2/3: CAs that sign the CSMS certificate
    client_cert = "/etc/chargepoint/cp.pem"      # profile 3: the station certificate (chain) ...
    client_key = "/etc/chargepoint/cp.key"       # ... and its unencrypted private key

    [[evse]]
    id = 1
    protocol = "chademo"                   # the connector's car link (default; or "direct")
    can = "socketcan:can0"                 # CHAdeMO CAN bus (default "virtual")
    io = "serial:/dev/ttyUSB0"             # control lines on a bench (default "emulated")
    [evse.ratings]
    max_charge_power_w = 50000

    [[evse]]
    id = 2                                 # can = "virtual", io = "emulated": what an emulated car needs
    [evse.ev]                              # an emulated car plugged in at start; omit for none
    profile = "leaf40"
    soc = 50
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chargepoint.chademo.config_table import parse_chademo_table
from chargepoint.chademo.timeouts import ChargerConfig
from chargepoint.hardware.can import parse_bus_spec
from chargepoint.hardware.interfaces import PowerRatings
from chargepoint.ocpp.security import SecurityConfigError, validate_tls_files
from chargepoint.station.metering import parse_measurands
from chargepoint.station.types import Measurand

OCPP_VERSIONS = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1", "2.1": "ocpp2.1"}
EV_PROFILES = ("leaf24", "leaf40", "leaf62", "generic")
CHADEMO_EV_PROFILES = ("leaf24", "leaf40", "leaf62")  # the emulated LEAFs; "generic" is the direct-DC car only


def check_io_spec(spec: str) -> str:
    """``emulated`` or ``serial:PORT``; returns the port (empty for emulated). Raises ValueError."""
    if spec == "emulated":
        return ""
    if spec.startswith("serial:") and len(spec) > len("serial:"):
        return spec[len("serial:"):]
    raise ValueError(f"invalid control-line spec {spec!r}: expected 'emulated' or 'serial:PORT'")


class ConfigError(ValueError):
    """A configuration problem. The message starts with the dotted key path."""


def check_evse_link(evse: EvseConfig, index: int) -> None:
    """The checks between one EVSE's ``protocol``, ``can``, ``io`` and ``ev`` (each key is valid on its own).

    Run on the final configuration (after the command-line overrides) by the CLI and by
    :func:`chargepoint.app.build_chademo`, before anything is opened:

    * ``can``, ``io`` and ``[evse.chademo]`` belong to the CHAdeMO link; the ``direct`` path is emulated end to end
      and refuses them;
    * a CHAdeMO EVSE's current ratings fit 108.3 / 208.3 (one byte each), and its emulated car is a LEAF;
    * an emulated car (``ev``) lives in this process: it needs the in-process ``virtual`` CAN bus and the emulated
      control lines. With ``io = "serial:PORT"`` the lines d1/d2/j/lock/contactor are on the bench at PORT, where
      this process's car can neither see d1/d2 nor close k (j is an input of the charger), so a session could
      never start: the car on those lines must be a real one or one the bench plays (``ev = none``).
    """
    key = f"evse[{index}]"
    if evse.protocol != "chademo":
        for name, value, default in (("io", evse.io, "emulated"), ("can", evse.can, "virtual")):
            if value != default:
                raise ConfigError(f"{key}.{name}: {value!r} needs protocol = 'chademo'; the {evse.protocol!r} "
                                  "link is emulated end to end, without CAN bus or control lines")
        if evse.chademo != ChargerConfig():
            raise ConfigError(f"{key}.chademo: needs protocol = 'chademo'; the {evse.protocol!r} link has no "
                              "CHAdeMO charger to configure")
        return
    r = evse.ratings  # 108.3 and 208.3 carry the currents in one byte each
    if not 0 < r.max_charge_current_a <= 255:
        raise ConfigError(f"{key}.ratings.max_charge_current_a: must be above 0 and <= 255 for CHAdeMO (108.3 is one "
                          f"byte), got {r.max_charge_current_a:g}")
    if r.max_discharge_current_a > 255:
        raise ConfigError(f"{key}.ratings.max_discharge_current_a: must be <= 255 for CHAdeMO (208.3 is one byte), "
                          f"got {r.max_discharge_current_a:g}")
    if evse.ev is None:
        return
    if evse.ev.profile not in CHADEMO_EV_PROFILES:
        raise ConfigError(f"{key}.ev.profile: {evse.ev.profile!r} is the direct-DC emulated car; a CHAdeMO EVSE "
                          f"emulates a Nissan LEAF: {', '.join(CHADEMO_EV_PROFILES)} (or protocol = 'direct')")
    if check_io_spec(evse.io):
        raise ConfigError(f"{key}.ev: an emulated car needs the emulated control lines, but {key}.io = {evse.io!r} "
                          "puts d1/d2/j/lock/contactor on a serial bench; use ev = none (--ev none) with a real car "
                          "or a bench that plays the car's lines, or io = 'emulated'")
    if parse_bus_spec(evse.can).interface != "virtual":
        raise ConfigError(f"{key}.ev: an emulated car needs the virtual CAN bus; use ev = none (--ev none) with "
                          f"{evse.can!r} and a real or external car")


def check_links(evses: list[EvseConfig]) -> None:
    """:func:`check_evse_link` for every EVSE, and no serial port or CAN bus shared by two CHAdeMO EVSEs (every
    connector needs its own bus and bench; plain ``virtual`` is one in-process bus per connector)."""
    used: dict[str, str] = {}
    for index, evse in enumerate(evses):
        check_evse_link(evse, index)
        if evse.protocol != "chademo":
            continue
        resources = []
        if port := check_io_spec(evse.io):
            resources.append(("io", evse.io, port))
        if evse.can != "virtual":
            bus = parse_bus_spec(evse.can)
            resources.append(("can", evse.can, bus.channel if bus.interface == "slcan" else str(bus)))
        for name, value, resource in resources:
            key = f"evse[{index}].{name}"
            if resource in used:
                raise ConfigError(f"{key}: {value!r} uses {resource} like {used[resource]}; every CHAdeMO EVSE "
                                  "needs its own CAN bus and control-line bench")
            used[resource] = key


@dataclass
class EvConfig:
    profile: str = "leaf40"
    soc: float = 50.0
    id_token: str = "DEMO-TOKEN-01"


@dataclass
class EvseConfig:
    id: int
    protocol: str = "chademo"
    can: str = "virtual"  # CHAdeMO CAN bus: virtual[:CHANNEL] | socketcan:IFACE | slcan:PORT[@BITRATE]
    io: str = "emulated"  # control lines: emulated | serial:PORT (a bench speaking docs/hardware.md)
    ratings: PowerRatings = field(default_factory=PowerRatings)
    ev: EvConfig | None = None
    chademo: ChargerConfig = field(default_factory=ChargerConfig)  # [evse.chademo]; its ratings are [evse.ratings]


@dataclass
class CsmsConfig:
    url: str | None = None
    ocpp: tuple[str, ...] = ("2.1", "2.0.1", "1.6")  # offered, preferred first; the CSMS picks
    password: str | None = field(default=None, repr=False)
    heartbeat_interval_s: int = 300
    response_timeout_s: float = 30.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    backoff_jitter: float = 0.5
    ping_interval_s: float = 30.0
    security_profile: int = 1  # 1: Basic auth; 2: TLS + Basic auth; 3: mutual TLS
    ca_bundle: str | None = None  # PEM file: CA certificates the CSMS certificate must chain to
    client_cert: str | None = None  # PEM file: the station's client certificate (chain), profile 3
    client_key: str | None = None  # PEM file: its private key (unencrypted)


@dataclass
class MeteringConfig:
    sample_interval_s: int = 60
    aligned_interval_s: int = 900
    measurands: tuple[Measurand, ...] | None = None


@dataclass
class AuthConfig:
    free_vend: bool = False
    local_pre_authorize: bool = False
    local_authorize_offline: bool = True
    authorization_cache: bool = True
    local_auth_list: bool = True


@dataclass
class SiteConfig:
    """The site (grid connection) meter that OCPP 2.1 LocalLoadBalancing and LocalFrequency act on."""

    meter: str = "auto"  # auto: emulated when any EVSE has an emulated car, else none | emulated | none
    base_load_w: float = 2000.0  # emulated: the house / site load besides the EVSEs (W, + = import)
    frequency_hz: float = 50.0  # emulated: grid frequency


@dataclass
class StationConfig:
    id: str = "CP-0001"
    vendor: str = "OpenV2X"
    model: str = "CHAdeMO-BiDi-10"
    serial_number: str = "SN-0001"
    firmware_version: str = "0.1.0"
    data_dir: str | None = field(default_factory=lambda: default_data_dir())  # None: nothing persisted
    csms: CsmsConfig = field(default_factory=CsmsConfig)
    evses: list[EvseConfig] = field(default_factory=lambda: [EvseConfig(1, ev=EvConfig())])
    metering: MeteringConfig = field(default_factory=MeteringConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    site: SiteConfig = field(default_factory=SiteConfig)
    log_format: str = "text"


def default_data_dir() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "chargepoint")


class _Table:
    """Typed access to one TOML table that tracks unknown keys."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a table, got {type(data).__name__}")
        self.data = data
        self.path = path
        self.used: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        self.used.add(key)
        if key not in self.data:
            return default
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise ConfigError(f"{self._key(key)}: expected {_names(kinds)}, got a boolean")
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kinds):
            raise ConfigError(f"{self._key(key)}: expected {_names(kinds)}, got {type(value).__name__} {value!r}")
        return value

    def number(self, key: str, default: float, lo: float | None = None, hi: float | None = None) -> float:
        v = float(self.get(key, float, default))
        if lo is not None and v < lo:
            raise ConfigError(f"{self._key(key)}: must be >= {lo:g}, got {v:g}")
        if hi is not None and v > hi:
            raise ConfigError(f"{self._key(key)}: must be <= {hi:g}, got {v:g}")
        return v

    def integer(self, key: str, default: int, lo: int | None = None, hi: int | None = None) -> int:
        v = self.get(key, int, default)
        if lo is not None and v < lo:
            raise ConfigError(f"{self._key(key)}: must be >= {lo}, got {v}")
        if hi is not None and v > hi:
            raise ConfigError(f"{self._key(key)}: must be <= {hi}, got {v}")
        return int(v)

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        v = self.get(key, str, default)
        if v not in choices:
            raise ConfigError(f"{self._key(key)}: must be one of {', '.join(choices)}; got {v!r}")
        return str(v)

    def table(self, key: str) -> _Table:
        self.used.add(key)
        return _Table(self.data.get(key, {}), self._key(key))

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ConfigError(f"{self._key(unknown[0])}: unknown key")


def _names(kinds: tuple[type, ...]) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def load_config(path: str | Path | None) -> StationConfig:
    if path is None:
        return StationConfig()
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise ConfigError(f"{p}: cannot read config file: {e.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: invalid TOML: {e}") from None
    try:
        return parse_config(data)
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from None


def parse_config(data: dict[str, Any]) -> StationConfig:
    root = _Table(data, "")
    cfg = StationConfig()
    st = root.table("station")
    cfg.id = st.get("id", str, cfg.id)
    if not cfg.id or len(cfg.id) > 48 or any(c in cfg.id for c in "/?# "):
        raise ConfigError(f"station.id: must be 1..48 characters without '/', '?', '#' or spaces; got {cfg.id!r}")
    cfg.vendor = st.get("vendor", str, cfg.vendor)
    cfg.model = st.get("model", str, cfg.model)
    cfg.serial_number = st.get("serial_number", str, cfg.serial_number)
    cfg.firmware_version = st.get("firmware_version", str, cfg.firmware_version)
    data_dir = st.get("data_dir", (str, bool), cfg.data_dir)
    if data_dir is True:
        raise ConfigError("station.data_dir: expected a directory path, or false to persist nothing")
    cfg.data_dir = data_dir or None
    st.finish()

    cs = root.table("csms")
    c = cfg.csms
    c.url = cs.get("url", str, None)
    if c.url is not None and not c.url.startswith(("ws://", "wss://")):
        raise ConfigError(f"csms.url: must start with ws:// or wss://; got {c.url!r}")
    versions = cs.get("ocpp", (list, str), list(c.ocpp))
    if isinstance(versions, str):
        versions = [versions]
    for v in versions:
        if v not in OCPP_VERSIONS:
            raise ConfigError(f"csms.ocpp: unsupported version {v!r} (supported: {', '.join(OCPP_VERSIONS)})")
    if not versions:
        raise ConfigError("csms.ocpp: must list at least one version")
    c.ocpp = tuple(versions)
    c.password = cs.get("password", str, None)
    env = cs.get("password_env", str, None)
    if env is not None:
        if env not in os.environ:
            raise ConfigError(f"csms.password_env: environment variable {env!r} is not set")
        c.password = os.environ[env]
    if c.password is not None and not 16 <= len(c.password) <= 40:
        # OCPP security profile 1: the password is 16..40 characters (2.0.1 BasicAuthPassword; 1.6 AuthorizationKey)
        raise ConfigError(f"csms.password: must be 16..40 characters, got {len(c.password)}")
    c.heartbeat_interval_s = cs.integer("heartbeat_interval", c.heartbeat_interval_s, 1, 86400)
    c.response_timeout_s = cs.number("response_timeout", c.response_timeout_s, 1, 600)
    c.backoff_initial_s = cs.number("reconnect_initial", c.backoff_initial_s, 0.1, 3600)
    c.backoff_max_s = cs.number("reconnect_max", c.backoff_max_s, 0.1, 86400)
    c.backoff_jitter = cs.number("reconnect_jitter", c.backoff_jitter, 0, 1)
    c.ping_interval_s = cs.number("ping_interval", c.ping_interval_s, 0, 3600)
    if c.backoff_max_s < c.backoff_initial_s:
        raise ConfigError("csms.reconnect_max: must be >= csms.reconnect_initial")
    _parse_csms_security(cs, c)
    cs.finish()

    evses = root.get("evse", list, None)
    if evses is not None:
        cfg.evses = [_parse_evse(e, i) for i, e in enumerate(evses)]
        ids = [e.id for e in cfg.evses]
        if sorted(ids) != list(range(1, len(ids) + 1)):
            raise ConfigError(f"evse: ids must be 1..{len(ids)} without gaps or duplicates; got {ids}")

    m = root.table("metering")
    cfg.metering.sample_interval_s = m.integer("sample_interval", cfg.metering.sample_interval_s, 0, 86400)
    cfg.metering.aligned_interval_s = m.integer("aligned_interval", cfg.metering.aligned_interval_s, 0, 86400)
    meas = m.get("measurands", list, None)
    if meas is not None:
        try:
            cfg.metering.measurands = parse_measurands(",".join(str(x) for x in meas))
        except ValueError as e:
            raise ConfigError(f"metering.measurands: {e}") from None
    m.finish()

    a = root.table("auth")
    cfg.auth.free_vend = a.get("free_vend", bool, cfg.auth.free_vend)
    cfg.auth.local_pre_authorize = a.get("local_pre_authorize", bool, cfg.auth.local_pre_authorize)
    cfg.auth.local_authorize_offline = a.get("local_authorize_offline", bool, cfg.auth.local_authorize_offline)
    cfg.auth.authorization_cache = a.get("authorization_cache", bool, cfg.auth.authorization_cache)
    cfg.auth.local_auth_list = a.get("local_auth_list", bool, cfg.auth.local_auth_list)
    a.finish()

    st = root.table("site")
    cfg.site.meter = st.choice("meter", ("auto", "emulated", "none"), cfg.site.meter)
    cfg.site.base_load_w = st.number("base_load_w", cfg.site.base_load_w, -1e7, 1e7)
    cfg.site.frequency_hz = st.number("frequency_hz", cfg.site.frequency_hz, 40.0, 70.0)
    st.finish()

    lg = root.table("logging")
    cfg.log_format = lg.choice("format", ("text", "json"), cfg.log_format)
    lg.finish()
    root.finish()
    return cfg


def _parse_csms_security(cs: _Table, c: CsmsConfig) -> None:
    """security_profile, ca_bundle, client_cert, client_key: files readable, PEM, key matching the certificate."""
    c.security_profile = cs.integer("security_profile", c.security_profile, 1, 3)
    c.ca_bundle = cs.get("ca_bundle", str, None)
    c.client_cert = cs.get("client_cert", str, None)
    c.client_key = cs.get("client_key", str, None)
    if c.security_profile >= 2 and c.url is None:
        raise ConfigError(f"csms.url: a wss:// URL is required for security_profile {c.security_profile} "
                          "(the embedded CSMS emulator speaks plain ws://)")
    if c.security_profile == 2 and c.password is None:
        raise ConfigError("csms.password: required for security_profile 2 (TLS + Basic auth); or use password_env")
    try:
        validate_tls_files(c.security_profile, c.url, c.ca_bundle, c.client_cert, c.client_key)
    except SecurityConfigError as e:
        raise ConfigError(str(e)) from None


def _parse_evse(data: Any, index: int) -> EvseConfig:
    t = _Table(data, f"evse[{index}]")
    evse = EvseConfig(id=t.integer("id", index + 1, 1, 64))
    evse.protocol = t.choice("protocol", ("direct", "chademo"), evse.protocol)
    evse.can = t.get("can", str, evse.can)
    try:
        parse_bus_spec(evse.can)
    except ValueError as err:
        raise ConfigError(f"evse[{index}].can: {err}") from None
    evse.io = t.get("io", str, evse.io)
    try:
        check_io_spec(evse.io)
    except ValueError as err:
        raise ConfigError(f"evse[{index}].io: {err}") from None
    r = t.table("ratings")
    d = PowerRatings()
    ratings = PowerRatings(
        max_voltage_v=r.number("max_voltage_v", d.max_voltage_v, 50, 1000),
        min_voltage_v=r.number("min_voltage_v", d.min_voltage_v, 0, 1000),
        max_charge_current_a=r.number("max_charge_current_a", d.max_charge_current_a, 0, 500),
        max_discharge_current_a=r.number("max_discharge_current_a", d.max_discharge_current_a, 0, 500),
        max_charge_power_w=r.number("max_charge_power_w", d.max_charge_power_w, 0, 500_000),
        max_discharge_power_w=r.number("max_discharge_power_w", d.max_discharge_power_w, 0, 500_000),
        ramp_a_per_s=r.number("ramp_a_per_s", d.ramp_a_per_s, 0.1, 10_000),
        efficiency=r.number("efficiency", d.efficiency, 0.5, 1.0),
    )
    if ratings.min_voltage_v >= ratings.max_voltage_v:
        raise ConfigError(f"evse[{index}].ratings.min_voltage_v: must be below max_voltage_v")
    r.finish()
    evse.ratings = ratings
    if "chademo" in t.data:
        evse.chademo = parse_chademo_table(t.table("chademo"))
    if "ev" in t.data:
        e = t.table("ev")
        evse.ev = EvConfig(
            profile=e.choice("profile", EV_PROFILES, "leaf40"),
            soc=e.number("soc", 50.0, 0, 100),
            id_token=e.get("id_token", str, "DEMO-TOKEN-01"),
        )
        if not 1 <= len(evse.ev.id_token) <= 20:
            raise ConfigError(f"evse[{index}].ev.id_token: must be 1..20 characters")
        e.finish()
    t.finish()
    return evse
