"""The `chargepoint` and `hil` command lines, run as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

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
