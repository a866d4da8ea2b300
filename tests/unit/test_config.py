"""Configuration loading: good files load, bad ones name the key and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargepoint.config import ConfigError, EvConfig, EvseConfig, check_links, load_config, parse_config
from chargepoint.hardware.interfaces import PowerRatings
from chargepoint.station.types import Measurand

GOOD = """
[station]
id = "CP-42"
vendor = "ACME"

[csms]
url = "ws://127.0.0.1:9000/ocpp"
ocpp = ["2.0.1", "1.6"]
password = "0123456789abcdef"
heartbeat_interval = 120

[[evse]]
id = 1
[evse.ratings]
max_charge_power_w = 22000
max_discharge_current_a = 20
[evse.ev]
profile = "leaf62"
soc = 35

[[evse]]
id = 2

[metering]
sample_interval = 15
measurands = ["Energy.Active.Import.Register", "SoC"]

[auth]
free_vend = true

[logging]
format = "json"
"""


def test_good_config_loads(tmp_path: Path) -> None:
    f = tmp_path / "station.toml"
    f.write_text(GOOD)
    cfg = load_config(f)
    assert cfg.id == "CP-42" and cfg.vendor == "ACME"
    assert cfg.csms.url == "ws://127.0.0.1:9000/ocpp" and cfg.csms.ocpp == ("2.0.1", "1.6")
    assert cfg.csms.heartbeat_interval_s == 120
    assert [e.id for e in cfg.evses] == [1, 2]
    assert cfg.evses[0].ratings.max_charge_power_w == 22000
    assert cfg.evses[0].ev is not None and cfg.evses[0].ev.profile == "leaf62" and cfg.evses[0].ev.soc == 35
    assert cfg.evses[1].ev is None
    assert cfg.metering.measurands == (Measurand.ENERGY_IMPORT_REGISTER, Measurand.SOC)
    assert cfg.auth.free_vend is True and cfg.log_format == "json"


def test_defaults_without_a_file() -> None:
    cfg = load_config(None)
    assert cfg.csms.url is None  # the embedded CSMS emulator
    assert len(cfg.evses) == 1 and cfg.evses[0].ev is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[station]\nid = 5\n", "station.id: expected a string, got int 5"),
        ("[station]\nidd = 'x'\n", "station.idd: unknown key"),
        ("[csms]\nurl = 'http://x'\n", "csms.url: must start with ws:// or wss://"),
        ("[csms]\nocpp = ['3.0']\n", "csms.ocpp: unsupported version '3.0'"),
        ("[csms]\nheartbeat_interval = 0\n", "csms.heartbeat_interval: must be >= 1, got 0"),
        ("[csms]\nheartbeat_interval = true\n", "csms.heartbeat_interval: expected an integer, got a boolean"),
        ("[csms]\npassword = 'short'\n", "csms.password: must be 16..40 characters, got 5"),
        ("[csms]\npassword_env = 'NO_SUCH_VAR_XYZ'\n", "csms.password_env: environment variable 'NO_SUCH_VAR_XYZ'"),
        ("[[evse]]\nid = 1\nprotocol = 'ccs'\n", "evse[0].protocol: must be one of direct, chademo; got 'ccs'"),
        ("[[evse]]\nid = 1\n[evse.ratings]\nefficiency = 1.5\n", "evse[0].ratings.efficiency: must be <= 1, got 1.5"),
        ("[[evse]]\nid = 1\n[evse.ev]\nsoc = 120\n", "evse[0].ev.soc: must be <= 100, got 120"),
        ("[[evse]]\nid = 1\n[evse.ev]\nprofile = 'tesla'\n", "evse[0].ev.profile: must be one of"),
        ("[[evse]]\nid = 2\n", "evse: ids must be 1..1 without gaps or duplicates; got [2]"),
        ("[[evse]]\nid = 1\ncan = 5\n", "evse[0].can: expected a string, got int 5"),
        ("[[evse]]\nid = 1\ncan = 'can0'\n", "evse[0].can: invalid CAN bus spec 'can0': unknown interface 'can0'"),
        ("[[evse]]\nid = 1\ncan = 'socketcan:'\n", "evse[0].can: invalid CAN bus spec 'socketcan:': socketcan needs"),
        ("[[evse]]\nid = 1\ncan = 'slcan:/dev/ttyACM0@123'\n",
         "evse[0].can: invalid CAN bus spec 'slcan:/dev/ttyACM0@123': slcan adapters support only the bitrates"),
        ("[[evse]]\nid = 1\ncan = 'virtual:a/b'\n", "evse[0].can: invalid CAN bus spec 'virtual:a/b': virtual channel"),
        ("[[evse]]\nid = 1\nio = 'serial:'\n",
         "evse[0].io: invalid control-line spec 'serial:': expected 'emulated' or 'serial:PORT'"),
        ("[[evse]]\nid = 1\nio = 'gpio:17'\n",
         "evse[0].io: invalid control-line spec 'gpio:17': expected 'emulated' or 'serial:PORT'"),
        ("[[evse]]\nid = 1\nio = true\n", "evse[0].io: expected a string, got a boolean"),
        ("[metering]\nmeasurands = ['Bogus.Measurand']\n", "metering.measurands: unsupported measurand"),
        ("[logging]\nformat = 'xml'\n", "logging.format: must be one of text, json; got 'xml'"),
        ("unknown = 1\n", "unknown: unknown key"),
    ],
)
def test_bad_config_names_key_and_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        import tomllib

        parse_config(tomllib.loads(text))
    assert message in str(e.value)


def test_broken_toml_names_the_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("[station\nid = 'x'\n")
    with pytest.raises(ConfigError) as e:
        load_config(f)
    assert str(f) in str(e.value) and "invalid TOML" in str(e.value) and "line 1" in str(e.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path / "nope.toml")
    assert "cannot read config file" in str(e.value)


def test_password_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import tomllib

    monkeypatch.setenv("CP_PW_TEST", "s3cret-s3cret-s3cret")
    cfg = parse_config(tomllib.loads("[csms]\npassword_env = 'CP_PW_TEST'\n"))
    assert cfg.csms.password == "s3cret-s3cret-s3cret"
    assert "s3cret" not in repr(cfg.csms)  # never in logs or reprs


LINKS = """
[[evse]]
id = 1
protocol = "chademo"
can = "socketcan:can0"
io = "serial:/dev/ttyUSB0"

[[evse]]
id = 2
can = "slcan:/dev/ttyACM0@250000"
io = "emulated"

[[evse]]
id = 3
protocol = "direct"
[evse.ev]
profile = "leaf24"
"""


def test_can_and_io_keys() -> None:
    import tomllib

    cfg = parse_config(tomllib.loads(LINKS))
    one, two, three = cfg.evses
    assert (one.protocol, one.can, one.io, one.ev) == ("chademo", "socketcan:can0", "serial:/dev/ttyUSB0", None)
    assert (two.protocol, two.can, two.io) == ("chademo", "slcan:/dev/ttyACM0@250000", "emulated")
    assert (three.protocol, three.can, three.io) == ("direct", "virtual", "emulated")
    check_links(cfg.evses)  # each EVSE has its own bus and bench; no emulated car on real lines or a real bus


def test_link_defaults() -> None:
    import tomllib

    evse = parse_config(tomllib.loads("[[evse]]\nid = 1\n")).evses[0]
    assert (evse.protocol, evse.can, evse.io, evse.ev) == ("chademo", "virtual", "emulated", None)
    assert load_config(None).evses[0].protocol == "chademo"


@pytest.mark.parametrize(
    ("evses", "message"),
    [
        ([EvseConfig(1, io="serial:/dev/ttyUSB0", ev=EvConfig())],
         "evse[0].ev: an emulated car needs the emulated control lines, but evse[0].io = 'serial:/dev/ttyUSB0' "
         "puts d1/d2/j/lock/contactor on a serial bench; use ev = none (--ev none)"),
        ([EvseConfig(1, can="socketcan:can0", ev=EvConfig())],
         "evse[0].ev: an emulated car needs the virtual CAN bus; use ev = none (--ev none) with 'socketcan:can0'"),
        ([EvseConfig(1, protocol="direct", io="serial:/dev/ttyUSB0")],
         "evse[0].io: 'serial:/dev/ttyUSB0' needs protocol = 'chademo'"),
        ([EvseConfig(1, protocol="direct", can="socketcan:can0")],
         "evse[0].can: 'socketcan:can0' needs protocol = 'chademo'"),
        ([EvseConfig(1, io="serial:/dev/ttyUSB0"), EvseConfig(2, io="serial:/dev/ttyUSB0")],
         "evse[1].io: 'serial:/dev/ttyUSB0' uses /dev/ttyUSB0 like evse[0].io; every CHAdeMO EVSE needs its own"),
        ([EvseConfig(1, io="serial:/dev/ttyACM0"), EvseConfig(2, can="slcan:/dev/ttyACM0")],
         "evse[1].can: 'slcan:/dev/ttyACM0' uses /dev/ttyACM0 like evse[0].io"),
        ([EvseConfig(1, can="socketcan:can0"), EvseConfig(2, can="socketcan:can0")],
         "evse[1].can: 'socketcan:can0' uses socketcan:can0 like evse[0].can"),
        ([EvseConfig(1, can="virtual:bench", ev=EvConfig()), EvseConfig(2, can="virtual:bench", ev=EvConfig())],
         "evse[1].can: 'virtual:bench' uses virtual:bench like evse[0].can"),
    ],
)
def test_links_that_cannot_work_name_the_key(evses: list[EvseConfig], message: str) -> None:
    with pytest.raises(ConfigError) as e:
        check_links(evses)
    assert str(e.value).startswith(message), str(e.value)


def test_links_that_work() -> None:
    check_links([EvseConfig(1, ev=EvConfig()), EvseConfig(2, ev=EvConfig())])  # plain virtual: a bus per EVSE
    check_links([EvseConfig(1, can="virtual:a", ev=EvConfig()), EvseConfig(2, can="virtual:b", ev=EvConfig())])
    check_links([EvseConfig(1, can="socketcan:can0", io="serial:/dev/ttyUSB0"),
                 EvseConfig(2, can="socketcan:can1", io="serial:/dev/ttyUSB1"),
                 EvseConfig(3, protocol="direct", ev=EvConfig())])


# ---- [evse.chademo]: the charger's time-outs and behaviour choices ------------------------------------------------

CHADEMO = """
[[evse]]
id = 1
[evse.chademo]
protocol_number = 3
dynamic_control_without_110 = false
energizing_at = "insulation"
insulation_test_voltage_v = 450
soc_level_units = "kwh"
discharge_lower_threshold_v = 260
v2h_hold_remaining_time = false
sequence_number = 1
stop_ramp_a_per_s = 0
[evse.chademo.timeouts]
can_timeout_s = 1.5
permission_timeout_s = 10
ev_can_timeout_s = 2
d2_deadline_s = 15.5
stop_current_deadline_s = 0.4
"""


def test_chademo_table_sets_timeouts_and_choices() -> None:
    import tomllib

    from chargepoint.chademo.timeouts import ChademoTimeouts, ChargerConfig

    c = parse_config(tomllib.loads(CHADEMO)).evses[0].chademo
    t = c.timeouts
    assert (t.can_timeout_s, t.permission_timeout_s, t.ev_can_timeout_s) == (1.5, 10.0, 2.0)
    assert (t.d2_deadline_s, t.stop_current_deadline_s) == (15.5, 0.4)
    assert t.welding_timeout_s == ChademoTimeouts().welding_timeout_s  # absent keys keep the reference defaults
    assert c.protocol_number == 3 and c.dynamic_control_without_110 is False and c.energizing_at == "insulation"
    assert c.insulation_test_voltage_v == 450 and c.soc_level_units == "kwh" and c.discharge_lower_threshold_v == 260
    assert c.v2h_hold_remaining_time is False and c.sequence_number == 1 and c.stop_ramp_a_per_s == 0
    assert c.dynamic_control is ChargerConfig().dynamic_control
    # without the table: the defaults of the reference
    assert parse_config(tomllib.loads("[[evse]]\nid = 1\n")).evses[0].chademo == ChargerConfig()
    auto = parse_config(tomllib.loads("[[evse]]\nid = 1\n[evse.chademo]\ndischarge_lower_threshold_v = 'auto'\n"))
    assert auto.evses[0].chademo.discharge_lower_threshold_v is None


def test_every_chademo_timeout_is_a_key() -> None:
    """Each ChademoTimeouts field is accepted under its own name, in seconds."""
    import tomllib
    from dataclasses import fields

    from chargepoint.chademo.timeouts import ChademoTimeouts

    names = [f.name for f in fields(ChademoTimeouts)]
    text = "[[evse]]\nid = 1\n[evse.chademo.timeouts]\n" + "".join(f"{n} = {0.05 + i / 100:.2f}\n"
                                                                    for i, n in enumerate(names))
    t = parse_config(tomllib.loads(text)).evses[0].chademo.timeouts
    assert [getattr(t, n) for n in names] == pytest.approx([0.05 + i / 100 for i in range(len(names))])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[evse.chademo.timeouts]\ncan_timeout_s = -1\n",
         "evse[0].chademo.timeouts.can_timeout_s: must be >= 0, got -1"),
        ("[evse.chademo.timeouts]\ncan_timeout = 1\n", "evse[0].chademo.timeouts.can_timeout: unknown key"),
        ("[evse.chademo.timeouts]\nlock_timeout_s = 'x'\n",
         "evse[0].chademo.timeouts.lock_timeout_s: expected a number, got str 'x'"),
        ("[evse.chademo.timeouts]\nwelding_timeout_s = true\n",
         "evse[0].chademo.timeouts.welding_timeout_s: expected a number, got a boolean"),
        ("[evse.chademo.timeouts]\ncycle_s = 0\n", "evse[0].chademo.timeouts.cycle_s: must be >= 0.01, got 0"),
        ("[evse.chademo.timeouts]\nd2_deadline_s = 5000\n",
         "evse[0].chademo.timeouts.d2_deadline_s: must be <= 3600, got 5000"),
        ("[evse.chademo]\nprotocol_number = 4\n", "evse[0].chademo.protocol_number: must be <= 3, got 4"),
        ("[evse.chademo]\nenergizing_at = 'peak'\n",
         "evse[0].chademo.energizing_at: must be one of lock, insulation; got 'peak'"),
        ("[evse.chademo]\nsoc_level_units = 'wh'\n",
         "evse[0].chademo.soc_level_units: must be one of auto, percent, kwh"),
        ("[evse.chademo]\ndynamic_control = 1\n", "evse[0].chademo.dynamic_control: expected a boolean, got int 1"),
        ("[evse.chademo]\ndischarge_lower_threshold_v = 'low'\n",
         "evse[0].chademo.discharge_lower_threshold_v: expected a number (volts) or 'auto', got 'low'"),
        ("[evse.chademo]\nsafe_voltage_v = 60\n", "evse[0].chademo.safe_voltage_v: unknown key"),
        ("[evse.chademo]\ntimeouts = 1\n", "evse[0].chademo.timeouts: expected a table, got int"),
    ],
)
def test_bad_chademo_table_names_the_key(text: str, message: str) -> None:
    import tomllib

    with pytest.raises(ConfigError) as e:
        parse_config(tomllib.loads("[[evse]]\nid = 1\n" + text))
    assert str(e.value).startswith(message), str(e.value)


@pytest.mark.parametrize(
    ("evse", "message"),
    [
        (EvseConfig(1, ev=EvConfig("generic")),
         "evse[0].ev.profile: 'generic' is the direct-DC emulated car; a CHAdeMO EVSE emulates a Nissan LEAF: "
         "leaf24, leaf40, leaf62"),
        (EvseConfig(1, ratings=PowerRatings(max_charge_current_a=300)),
         "evse[0].ratings.max_charge_current_a: must be above 0 and <= 255 for CHAdeMO (108.3 is one byte), got 300"),
        (EvseConfig(1, ratings=PowerRatings(max_discharge_current_a=256)),
         "evse[0].ratings.max_discharge_current_a: must be <= 255 for CHAdeMO (208.3 is one byte), got 256"),
    ],
)
def test_chademo_evse_refuses_what_chademo_cannot_carry(evse: EvseConfig, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        check_links([evse])
    assert str(e.value).startswith(message), str(e.value)


def test_chademo_table_needs_the_chademo_protocol() -> None:
    import tomllib

    text = "[[evse]]\nid = 1\nprotocol = 'direct'\n[evse.chademo.timeouts]\ncan_timeout_s = 2\n"
    cfg = parse_config(tomllib.loads(text))
    with pytest.raises(ConfigError, match=r"^evse\[0\]\.chademo: needs protocol = 'chademo'"):
        check_links(cfg.evses)
    check_links([EvseConfig(1, protocol="direct", ev=EvConfig("generic"))])  # the direct path's own car


def test_documented_chademo_table_lists_every_key_with_its_default() -> None:
    """The [evse.chademo] example of docs/configuration.md is valid, names every key and shows the defaults."""
    import re
    import tomllib
    from dataclasses import fields

    from chargepoint.chademo.config_table import CHOICE_KEYS
    from chargepoint.chademo.timeouts import ChademoTimeouts, ChargerConfig

    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    block = next(b for b in re.findall(r"```toml\n(.*?)```", doc, re.S) if "[evse.chademo.timeouts]" in b)
    data = tomllib.loads(block)
    table = data["evse"][0]["chademo"]
    assert set(table) - {"timeouts"} == set(CHOICE_KEYS)
    assert set(table["timeouts"]) == {f.name for f in fields(ChademoTimeouts)}
    assert parse_config(data).evses[0].chademo == ChargerConfig()


# ---------------------------------------------------------------------------------------------------- [site]
def test_site_meter_follows_the_config_and_auto_means_emulated_only_with_emulated_cars() -> None:
    from chargepoint.app import site_meter

    simulated = parse_config({})  # the embedded default: an emulated car
    meter = site_meter(simulated)
    assert meter is not None and meter.base_load_w == 2000.0 and meter.frequency_hz == 50.0
    real = parse_config({"evse": [{"id": 1, "protocol": "chademo", "ev": {"profile": "leaf40"}}]})
    real.evses[0].ev = None  # a real car on the bus (--ev none): no made-up site load
    assert site_meter(real) is None
    forced = parse_config({"site": {"meter": "emulated", "base_load_w": 3500, "frequency_hz": 49.8}})
    m = site_meter(forced)
    assert m is not None and (m.base_load_w, m.frequency_hz) == (3500.0, 49.8)
    assert site_meter(parse_config({"site": {"meter": "none"}})) is None


@pytest.mark.parametrize(("site", "message"), [
    ({"meter": "real"}, "site.meter: must be one of auto, emulated, none"),
    ({"frequency_hz": 10}, "site.frequency_hz: must be >= 40"),
    ({"base_load": 1}, "site.base_load: unknown key"),
])
def test_bad_site_table_names_the_key(site: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"site": site})
