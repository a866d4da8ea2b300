"""The `chargepoint` and `hil` command lines, run as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from chargepoint.cli import apply_overrides, build_parser
from chargepoint.config import ConfigError, StationConfig, load_config
from hil.emulators.line_bench import LineBench

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, timeout: float = 60, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # each run gets a fresh state directory, so no test recovers another's transactions
    state = tempfile.mkdtemp(prefix="cp-state-")
    return subprocess.run(
        [sys.executable, "-m", "chargepoint.cli", *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT,
        env={**os.environ, "XDG_STATE_HOME": state, **(env or {})},
    )


def test_embedded_default_charges_then_discharges_over_chademo() -> None:
    """The README's main job: CSMS emulator + emulated LEAF on CHAdeMO; the CSMS asks for a discharge."""
    p = run_cli("run", "--duration", "30", "--no-status", "--ev-soc", "60", "--grid-demo-after", "3")
    assert p.returncode == 0, p.stderr
    log = p.stderr
    assert "embedded CSMS emulator listening" in log
    assert "BootNotification: Accepted" in log
    assert "transaction started" in log
    assert "discharge 3.0 kW" in log and "-> Accepted" in log
    # the final status line: energy went into the car, then came out of it, and the flow is now negative
    final = next(line for line in log.splitlines() if "stopped:" in line)
    kwh_in = float(final.split(" in ")[1].split(" kWh")[0])
    kwh_out = float(final.split(" out ")[1].split(" kWh")[0])
    kw = float(final.split(" kW")[0].split()[-1])
    assert kwh_in > 0 and kwh_out > 0 and kw < 0, final


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_embedded_default_json_logs_per_version(version: str) -> None:
    p = run_cli("run", "--duration", "4", "--ocpp", version, "--log-format", "json", "--protocol", "direct")
    assert p.returncode == 0, p.stderr
    records = [json.loads(line) for line in p.stderr.splitlines() if line.strip()]
    assert records, "no log records"
    assert all({"ts", "level", "logger", "msg"} <= set(r) for r in records)
    events = [r.get("event") for r in records]
    assert "status" in events and "tx_started" in events
    assert any(f"ocpp{version}" in r["msg"] for r in records if r["logger"] == "chargepoint.session")


def test_bad_config_gives_a_precise_error(tmp_path: Path) -> None:
    cfg = tmp_path / "station.toml"
    cfg.write_text("[[evse]]\nid = 1\n[evse.ratings]\nmax_voltage_v = 'high'\n")
    p = run_cli("run", "--config", str(cfg), "--duration", "1")
    assert p.returncode == 2
    assert "evse[0].ratings.max_voltage_v: expected a number, got str 'high'" in p.stderr
    assert str(cfg) in p.stderr


def test_broken_toml_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "station.toml"
    cfg.write_text("[csms\n")
    p = run_cli("run", "--config", str(cfg))
    assert p.returncode == 2 and "invalid TOML" in p.stderr


def test_bad_option_exits_2() -> None:
    p = run_cli("run", "--ev-soc", "150")
    assert p.returncode == 2 and "must be within 0..100" in p.stderr
    p = run_cli("run", "--csms", "http://example")
    assert p.returncode == 2 and "--csms: must start with ws:// or wss://" in p.stderr


def test_unreachable_csms_exits_3_after_duration() -> None:
    p = run_cli("run", "--csms", "ws://127.0.0.1:1/ocpp", "--duration", "2", "--no-status")
    assert p.returncode == 3
    assert "never accepted the station" in p.stderr and "cannot reach" in p.stderr


def test_help_documents_exit_codes() -> None:
    p = run_cli("--help")
    assert p.returncode == 0
    for code in ("0  clean exit", "2  invalid", "3  ``--duration`` elapsed"):
        assert code in p.stdout


def test_hil_csms_serves_for_a_duration() -> None:
    p = subprocess.run([sys.executable, "-m", "hil.cli", "csms", "--port", "0", "--duration", "1"],
                       capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().startswith("ws://127.0.0.1:")


# ---- the link options: --protocol, --can, --io, --ev (parsed and checked in-process; exit codes as processes) ------


def overridden(*argv: str, config: str | None = None) -> StationConfig:
    args = build_parser().parse_args(["run", *argv])
    return apply_overrides(load_config(config), args)


def test_link_options_apply_to_every_evse(tmp_path: Path) -> None:
    f = tmp_path / "station.toml"
    f.write_text("[[evse]]\nid = 1\n[evse.ev]\nsoc = 20\n\n[[evse]]\nid = 2\n")
    cfg = overridden("--protocol", "direct", "--ev", "leaf62", config=str(f))
    assert [(e.protocol, e.ev.profile if e.ev else None) for e in cfg.evses] == [("direct", "leaf62")] * 2
    assert cfg.evses[0].ev is not None and cfg.evses[0].ev.soc == 20  # --ev changes the model, not the SoC
    cfg = overridden("--can", "socketcan:can0", "--io", "serial:/dev/ttyUSB0", "--ev", "none")
    e = cfg.evses[0]
    assert (e.protocol, e.can, e.io, e.ev) == ("chademo", "socketcan:can0", "serial:/dev/ttyUSB0", None)
    cfg = overridden("--can", "slcan:/dev/ttyACM0@250000", "--ev", "none", "--ev-soc", "70")
    assert cfg.evses[0].can == "slcan:/dev/ttyACM0@250000" and cfg.evses[0].ev is None
    cfg = overridden()
    e = cfg.evses[0]
    assert (e.protocol, e.can, e.io) == ("chademo", "virtual", "emulated") and e.ev is not None


@pytest.mark.parametrize("model", ["leaf24", "leaf40", "leaf62"])
def test_ev_option_picks_the_emulated_car(model: str) -> None:
    cfg = overridden("--ev", model, "--ev-soc", "35")
    ev = cfg.evses[0].ev
    assert ev is not None and ev.profile == model and ev.soc == 35


def test_ev_option_rejects_unknown_models(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["run", "--ev", "tesla"])
    assert e.value.code == 2
    assert "--ev: invalid choice: 'tesla'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--protocol", "ccs"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--can", "can0"], "--can: invalid CAN bus spec 'can0': unknown interface 'can0' (expected virtual, "
                            "socketcan or slcan)"),
        (["--can", "slcan:/dev/ttyACM0@1"], "--can: invalid CAN bus spec 'slcan:/dev/ttyACM0@1': slcan adapters"),
        (["--can", "socketcan:"], "--can: invalid CAN bus spec 'socketcan:': socketcan needs an interface name"),
        (["--io", "serial:"], "--io: invalid control-line spec 'serial:': expected 'emulated' or 'serial:PORT'"),
        (["--io", "/dev/ttyUSB0"], "--io: invalid control-line spec '/dev/ttyUSB0': expected 'emulated' or "
                                   "'serial:PORT'"),
        (["--io", "serial:/dev/ttyUSB0"], "evse[0].ev: an emulated car needs the emulated control lines, but "
                                          "evse[0].io = 'serial:/dev/ttyUSB0' puts d1/d2/j/lock/contactor on a "
                                          "serial bench; use ev = none (--ev none)"),
        (["--can", "socketcan:can0", "--ev", "leaf24"], "evse[0].ev: an emulated car needs the virtual CAN bus"),
        (["--protocol", "direct", "--io", "serial:/dev/ttyUSB0", "--ev", "none"],
         "evse[0].io: 'serial:/dev/ttyUSB0' needs protocol = 'chademo'"),
    ],
)
def test_bad_link_options_name_the_option_or_key(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as e:
        overridden(*argv)
    assert str(e.value).startswith(message), str(e.value)


def test_io_option_with_several_evses_needs_one_bench_each(tmp_path: Path) -> None:
    f = tmp_path / "station.toml"
    f.write_text("[[evse]]\nid = 1\n\n[[evse]]\nid = 2\n")
    with pytest.raises(ConfigError, match=r"^evse\[1\]\.io: 'serial:/dev/ttyUSB0' uses /dev/ttyUSB0 like evse\[0\]"):
        overridden("--io", "serial:/dev/ttyUSB0", "--ev", "none", config=str(f))


def test_ev_none_makes_a_serial_io_file_usable(tmp_path: Path) -> None:
    """The checks between keys run after the overrides: --ev none removes the file's emulated car."""
    f = tmp_path / "station.toml"
    f.write_text("[[evse]]\nid = 1\nio = 'serial:/dev/ttyUSB0'\n[evse.ev]\nprofile = 'leaf40'\n")
    assert load_config(f).evses[0].ev is not None
    with pytest.raises(ConfigError, match=r"^evse\[0\]\.ev: an emulated car needs the emulated control lines"):
        overridden(config=str(f))
    assert overridden("--ev", "none", config=str(f)).evses[0].ev is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--io", "serial"], "--io: invalid control-line spec 'serial': expected 'emulated' or 'serial:PORT'"),
        (["--io", "serial:/nonexistent/tty-x"], "evse[0].ev: an emulated car needs the emulated control lines"),
        (["--io", "serial:/nonexistent/tty-x", "--ev", "none"], "evse[0].io: cannot open '/nonexistent/tty-x'"),
    ],
)
def test_bad_io_exits_2_with_a_precise_error(argv: list[str], message: str) -> None:
    p = run_cli("run", *argv, "--duration", "2", "--no-status")
    assert p.returncode == 2, p.stderr
    assert f"chargepoint: configuration error: {message}" in p.stderr


def test_io_serial_opens_the_bench_and_runs() -> None:
    """``--io serial:<pty> --ev none``: the station says HELLO to the bench, reads every line, and runs."""
    with LineBench() as bench:
        p = run_cli("run", "--io", f"serial:{bench.port}", "--ev", "none", "--duration", "2", "--no-status")
        assert p.returncode == 0, p.stderr
        assert "BootNotification: Accepted" in p.stderr
        assert bench.stats.commands >= 8 and bench.stats.errors == 0  # HELLO + a GET per fitted line
        assert not bench.lines.car.d1  # no car, no transaction: the charger never started a session
