"""`chargepoint run` on a terminal (a real pseudo-terminal): the live status line is the display, not the logs."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATUS = re.compile(r"EVSE1 (\w+)\s+([+-]\d+\.\d+) kW SoC\s+(\d+\.\d|nan)% in (\d+\.\d{3}) kWh out (\d+\.\d{3}) kWh")


def run_on_a_terminal(*args: str, timeout: float = 60.0) -> tuple[int, str]:
    """Run the CLI with stdout and stderr on one pty, as in a terminal window; return (exit code, screen bytes)."""
    master, slave = pty.openpty()
    env = {**os.environ, "XDG_STATE_HOME": tempfile.mkdtemp(prefix="cp-state-"), "TERM": "xterm"}
    proc = subprocess.Popen([sys.executable, "-m", "chargepoint.cli", *args], stdin=slave, stdout=slave,
                            stderr=slave, cwd=ROOT, env=env, close_fds=True)
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return code, out.decode(errors="replace")


def test_on_a_terminal_the_status_line_shows_and_info_logs_do_not() -> None:
    # the CHAdeMO start-up (handshake, lock, insulation test) takes several seconds before current flows
    code, screen = run_on_a_terminal("run", "--duration", "20", "--grid-demo-after", "120")
    assert code == 0, screen
    lines = [m.groups() for m in STATUS.finditer(screen)]
    assert len(lines) >= 20, screen  # redrawn twice a second
    # it charges: the status shows positive power and energy flowing into the car
    assert any(float(kw) > 0 for _, kw, *_ in lines), lines
    assert float(lines[-1][3]) > 0.0, lines[-1]
    assert "\r\x1b[2K" in screen  # the line is redrawn in place, not scrolled
    # no INFO records and no OCPP frames on the terminal without -v
    assert " INFO " not in screen and "BootNotification" not in screen, screen[:2000]
