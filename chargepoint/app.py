"""Assemble a station from its configuration: ports, model, settings, OCPP session."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import can

from chargepoint.chademo.config_table import charger_config
from chargepoint.chademo.connector import CanFrameBus, ChademoConnector, SerialLineIO
from chargepoint.chademo.port import ChademoPort
from chargepoint.clock import Clock
from chargepoint.config import OCPP_VERSIONS, ConfigError, EvseConfig, StationConfig, check_evse_link, check_io_spec
from chargepoint.energy.manager import EnergyManager
from chargepoint.energy.profiles import ProfileStore
from chargepoint.energy.validation import StoreLimits
from chargepoint.hardware.can import open_bus
from chargepoint.hardware.interfaces import ConnectorPort
from chargepoint.hardware.lines import SerialLines
from chargepoint.hardware.site import EmulatedSiteMeter
from chargepoint.ocpp.base import StationIdentity
from chargepoint.ocpp.certstore import CertificateStore
from chargepoint.ocpp.security import SecurityConfigError
from chargepoint.ocpp.security_manager import SecurityManager
from chargepoint.ocpp.session import StationSession
from chargepoint.ocpp.transport import TransportConfig
from chargepoint.persistence.store import StationStore, StoreError
from chargepoint.station.auth import Authorizer, AuthPolicy
from chargepoint.station.core import Station
from chargepoint.station.settings import StationSettings
from hil.emulators.chademo_pair import DcLink
from hil.emulators.chademo_world import EV_MODELS, CarOnBus, EmulatedChademoWorld
from hil.emulators.direct_dc import DirectDcPort, EvProfile
from hil.emulators.ev import EvEmulator

EV_PROFILES: dict[str, EvProfile] = {
    "leaf24": EvProfile("leaf24", 24_000, 125, 15, 435, 395, 15, 100, 0.16),
    "leaf40": EvProfile("leaf40", 40_000, 125, 15, 435, 403, 15, 100, 0.10),
    "leaf62": EvProfile("leaf62", 62_000, 125, 20, 435, 403, 15, 100, 0.07),
    "generic": EvProfile(),
}


def build_chademo(ev_cfg: EvseConfig, station_id: str, bus_kwargs: dict[str, Any] | None = None) -> ChademoConnector:
    """A CHAdeMO connector: the charger state machine on a python-can bus, control lines and the (emulated) power
    stage; with an emulated car on its own endpoint of the same bus when ``ev`` is configured.

    ``io = "emulated"``: the lines are the emulated world's. ``io = "serial:PORT"``: they are on the bench at PORT
    (:class:`SerialLineIO`), which is where the car's side of them is too, so an emulated car is refused
    (:func:`~chargepoint.config.check_evse_link`); the emulated power stage follows the output-contactor command
    the charger sends to the bench."""
    index = ev_cfg.id - 1
    check_evse_link(ev_cfg, index)  # before anything is opened
    config = charger_config(ev_cfg.chademo, ev_cfg.ratings)  # [evse.chademo] with [evse.ratings]
    spec = ev_cfg.can
    if spec == "virtual":
        spec = f"virtual:{station_id}-evse{ev_cfg.id}"  # one in-process bus per connector
    try:
        charger_bus = open_bus(spec, **(bus_kwargs or {}))
    except (ValueError, OSError, can.CanError) as e:
        raise ConfigError(f"evse[{index}].can: cannot open {ev_cfg.can!r}: {e}") from None
    car = None
    if ev_cfg.ev is not None:
        model = EV_MODELS[ev_cfg.ev.profile]  # a LEAF: check_evse_link refused any other profile
        car = CarOnBus(EvEmulator(model, soc=ev_cfg.ev.soc, seed=ev_cfg.id), open_bus(spec))
    fault_dir = os.environ.get("CHARGEPOINT_FAULT_DIR")  # test hook, see hil/emulators/chademo_world.py
    fault_file = Path(fault_dir) / f"{station_id}-evse{ev_cfg.id}.can-silence" if fault_dir and car else None
    # The emulated power stage ramps and converts as rated (ramp_a_per_s, efficiency).
    world = EmulatedChademoWorld(car, link=DcLink.for_ratings(ev_cfg.ratings), fault_file=fault_file)
    serial_port = check_io_spec(ev_cfg.io)
    if serial_port:
        serial = SerialLines(serial_port)
        try:
            serial.open()
        except Exception as e:
            charger_bus.shutdown()
            raise ConfigError(f"evse[{index}].io: cannot open {serial_port!r}: {e}") from None
        lines: object = SerialLineIO(serial, mirror=world.lines)
    else:
        lines = world.lines
    frame_bus = CanFrameBus(charger_bus, threaded=not spec.startswith("virtual"))
    port = ChademoPort(frame_bus, lines, world.power, config)  # type: ignore[arg-type]
    return ChademoConnector(port, world, port.bus)  # type: ignore[arg-type]


@dataclass
class Assembly:
    station: Station
    ports: dict[int, ConnectorPort]
    energy: EnergyManager


def build_station(cfg: StationConfig, clock: Clock) -> Assembly:
    ports: dict[int, ConnectorPort] = {}
    for ev_cfg in cfg.evses:
        if ev_cfg.protocol == "chademo":
            ports[ev_cfg.id] = build_chademo(ev_cfg, cfg.id)
            continue
        profile = EV_PROFILES[ev_cfg.ev.profile] if ev_cfg.ev else EV_PROFILES["generic"]
        soc = ev_cfg.ev.soc if ev_cfg.ev else 50.0
        ports[ev_cfg.id] = DirectDcPort(ratings=ev_cfg.ratings, profile=profile, soc=soc)
    settings = StationSettings(
        heartbeat_interval_s=cfg.csms.heartbeat_interval_s,
        sample_interval_s=cfg.metering.sample_interval_s,
        aligned_interval_s=cfg.metering.aligned_interval_s,
    )
    if cfg.metering.measurands is not None:
        settings.sampled_measurands = cfg.metering.measurands
    policy = AuthPolicy(
        local_auth_list_enabled=cfg.auth.local_auth_list,
        cache_enabled=cfg.auth.authorization_cache,
        local_pre_authorize=cfg.auth.local_pre_authorize,
        local_authorize_offline=cfg.auth.local_authorize_offline,
        free_vend=cfg.auth.free_vend,
    )
    station = Station({k: [p] for k, p in ports.items()}, clock, settings, Authorizer(policy))
    profiles_path = None
    if cfg.data_dir is not None:
        Path(cfg.data_dir).mkdir(parents=True, exist_ok=True)
        profiles_path = Path(cfg.data_dir) / f"{cfg.id}.profiles.sqlite"
    store = ProfileStore(cfg.csms.ocpp[0], limits=StoreLimits(evse_ids=frozenset(ports)), path=profiles_path)
    energy = EnergyManager(station, store, {e.id: e.ratings for e in cfg.evses}, site_meter=site_meter(cfg))
    return Assembly(station, ports, energy)


def site_meter(cfg: StationConfig) -> EmulatedSiteMeter | None:
    """The site meter LocalLoadBalancing / LocalFrequency act on. Only an emulated one exists so far; ``auto``
    uses it when the station simulates its cars (a real station without a real meter gets none: LocalLoadBalancing
    then keeps its baseline instead of balancing against a made-up load)."""
    emulated = cfg.site.meter == "emulated" or (cfg.site.meter == "auto" and any(e.ev for e in cfg.evses))
    return EmulatedSiteMeter(cfg.site.base_load_w, cfg.site.frequency_hz) if emulated else None


def open_store(cfg: StationConfig) -> StationStore | None:
    """The station's durable state: ``<data_dir>/<station id>.sqlite`` (None when persistence is off)."""
    if cfg.data_dir is None:
        return None
    path = Path(cfg.data_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"station.data_dir: cannot create {path}: {e.strerror}") from None
    try:
        return StationStore(path / f"{cfg.id}.sqlite")
    except StoreError as e:
        raise ConfigError(f"station.data_dir: {e}") from None


def build_session(cfg: StationConfig, station: Station, url: str, store: StationStore | None = None) -> StationSession:
    transport = TransportConfig(
        url=url,
        station_id=cfg.id,
        protocols=tuple(OCPP_VERSIONS[v] for v in cfg.csms.ocpp),
        password=cfg.csms.password,
        ping_interval_s=cfg.csms.ping_interval_s or None,
        backoff_initial_s=cfg.csms.backoff_initial_s,
        backoff_max_s=cfg.csms.backoff_max_s,
        backoff_jitter=cfg.csms.backoff_jitter,
        security_profile=cfg.csms.security_profile,
    )
    try:
        certs = CertificateStore(Path(cfg.data_dir) / "certs" if cfg.data_dir else None)
    except OSError as e:
        raise ConfigError(f"station.data_dir: cannot create the certificate folder: {e.strerror}") from None
    security = SecurityManager(transport, certs, ca_bundle=cfg.csms.ca_bundle, client_cert=cfg.csms.client_cert,
                               client_key=cfg.csms.client_key, store=store, organization=cfg.vendor)
    try:
        transport = security.transport()  # the profile, password and TLS context in force (CSMS changes included)
    except SecurityConfigError as e:
        raise ConfigError(str(e)) from None
    identity = StationIdentity(cfg.vendor, cfg.model, cfg.serial_number, cfg.firmware_version)
    session = StationSession(station, transport, identity, response_timeout_s=cfg.csms.response_timeout_s,
                             store=store)
    security.attach(session)
    return session
