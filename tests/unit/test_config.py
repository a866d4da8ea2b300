"""Configuration loading: good files load, bad ones name the key and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargepoint.config import ConfigError, load_config, parse_config
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
