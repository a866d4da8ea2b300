"""The chaos ledger run: a real ``chargepoint run`` process with cars coming and going (``--auto-sessions``), random
faults injected for as long as it takes to complete a number of transactions, then the CSMS's record compared with
the station's ledger (:func:`tests.chaos.harness.compare`).

Faults, drawn from one seeded RNG at random instants:

* ``csms_down``: the CSMS unreachable for a random interval (the fault proxy refuses connections and resets the
  open one);
* ``reset``: the connection reset in the middle of a frame (the proxy delivers part of a chunk, then RST);
* ``kill``: the station process SIGKILLed and started again (same data dir);
* ``can_silence``: the emulated CHAdeMO car goes silent on CAN for a random interval (the charger must stop).

Used by tests/chaos/test_chaos_ledger.py (CI-sized) and benchmarks/chaos_long.py (as long as you like).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chargepoint.persistence.store import read_ledger
from hil.emulators.csms import CsmsEmulator

from .harness import LedgerReport, StationProcess, compare, wait_drained, wait_until, write_config
from .proxy import FaultProxy

log = logging.getLogger("chaos")

OCPP = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1", "2.1": "ocpp2.1"}
FAULTS = ("csms_down", "reset", "kill", "can_silence")


@dataclass(frozen=True)
class ChaosConfig:
    version: str = "1.6"
    transactions: int = 100
    seed: int = 0
    protocols: tuple[str, ...] = ("direct", "direct", "chademo")  # one emulated car per EVSE
    fault_gap_s: tuple[float, float] = (0.5, 3.0)  # between two faults
    down_s: tuple[float, float] = (0.5, 4.0)  # CSMS unreachable
    can_silence_s: tuple[float, float] = (1.5, 3.0)  # > the charger's ~1 s CAN time-out
    weights: tuple[tuple[str, float], ...] = (("csms_down", 3), ("reset", 3), ("kill", 2), ("can_silence", 2))
    auto_charge: str = "1:4"  # seconds a transaction lasts (--auto-charge)
    auto_idle: str = "0.2:1"  # seconds an EVSE stays free (--auto-idle)
    sample_interval: int = 1  # meter values every second
    timeout_s: float = 900.0  # the whole run, faults included

    def __post_init__(self) -> None:
        if self.version not in OCPP:
            raise ValueError(f"version must be one of {list(OCPP)}")
        if self.transactions < 1:
            raise ValueError("transactions must be >= 1")
        unknown = [k for k, _ in self.weights if k not in FAULTS]
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; choose from {list(FAULTS)}")


@dataclass
class ChaosResult:
    config: ChaosConfig
    report: LedgerReport
    faults: Counter[str] = field(default_factory=Counter)
    fault_times: list[float] = field(default_factory=list)
    seconds: float = 0.0
    starts: int = 0  # station process starts
    proxy: dict[str, Any] = field(default_factory=dict)

    @property
    def unexplained_duplicates(self) -> list[Any]:
        """Repeats with no fault between their copies: those would be bugs (a retry without cause). A fault up to
        0.25 s before the first copy still explains it (see LedgerReport.unexplained_duplicates)."""
        return self.report.unexplained_duplicates(self.fault_times, slack_s=0.25)

    def summary(self) -> dict[str, Any]:
        return {
            "version": self.config.version,
            "seed": self.config.seed,
            "seconds": round(self.seconds, 1),
            "faults": dict(sorted(self.faults.items())),
            "station_starts": self.starts,
            "proxy": self.proxy,
            **self.report.summary(),
            "unexplained_duplicates": len(self.unexplained_duplicates),
        }


def ended_transactions(db: Path) -> tuple[int, int]:
    """(transactions in the station's ledger, how many of them ended); safe while the station runs."""
    if not db.exists():
        return 0, 0
    kinds: dict[str, str] = {}
    for e in read_ledger(db):
        kinds[e.tx_id] = e.kind
    return len(kinds), sum(k == "Ended" for k in kinds.values())


async def run_chaos(cfg: ChaosConfig, workdir: Path,
                    progress: Callable[[str], None] | None = None) -> ChaosResult:
    """Run until ``cfg.transactions`` transactions have ended in the station's ledger, injecting faults all along;
    then let the station drain its queue with the CSMS reachable, stop it cleanly and compare."""
    rng = random.Random(f"chaos-{cfg.seed}-{cfg.version}")
    kinds = [k for k, _ in cfg.weights]
    weights = [w for _, w in cfg.weights]
    chademo_evses = [i for i, p in enumerate(cfg.protocols, start=1) if p == "chademo"]
    if not chademo_evses:  # nothing to silence
        kinds, weights = zip(*[(k, w) for k, w in zip(kinds, weights, strict=True) if k != "can_silence"],
                             strict=True)  # type: ignore[assignment]
    fault_dir = workdir / "faults"
    fault_dir.mkdir(parents=True, exist_ok=True)
    config = write_config(workdir / "station.toml", cfg.protocols, sample_interval=cfg.sample_interval)
    station_id = "CHAOS" + cfg.version.replace(".", "")
    say = progress or (lambda _msg: None)
    result = ChaosResult(cfg, LedgerReport(cfg.version))
    t0 = time.monotonic()
    async with CsmsEmulator(protocols=(OCPP[cfg.version],)) as csms:
        proxy = FaultProxy(csms.port, seed=rng.randrange(2**32))
        await proxy.start()
        args = ["--auto-sessions", str(cfg.transactions), "--seed", str(cfg.seed), "--auto-charge", cfg.auto_charge,
                "--auto-idle", cfg.auto_idle]
        station = StationProcess(proxy.url(), workdir / "data", station_id, cfg.version, config, args,
                                 env={"CHARGEPOINT_FAULT_DIR": str(fault_dir)})
        try:
            async with asyncio.timeout(cfg.timeout_s):
                await station.start()

                def done() -> bool:
                    total, ended = ended_transactions(station.db_path)
                    return ended >= cfg.transactions and ended == total

                last_report = 0.0
                while not done():
                    await _sleep_unless(rng.uniform(*cfg.fault_gap_s), done)
                    if done():
                        break
                    kind = rng.choices(kinds, weights)[0]
                    if await _inject(kind, cfg, rng, proxy, station, fault_dir / f"{station_id}-evse"
                                     f"{rng.choice(chademo_evses) if chademo_evses else 0}.can-silence", result):
                        result.faults[kind] += 1
                    if time.monotonic() - last_report >= 10:
                        last_report = time.monotonic()
                        total, ended = ended_transactions(station.db_path)
                        say(f"{cfg.version}: {ended}/{cfg.transactions} transactions ended ({total} in the ledger), "
                            f"faults {dict(sorted(result.faults.items()))}, {time.monotonic() - t0:.0f} s")
                await proxy.come_up()
                await wait_drained(csms, station, timeout=120.0)
                code = await station.terminate()
                if code != 0:
                    raise RuntimeError(f"station exited with {code} at the end of the chaos run")
        finally:
            await station.close()
            await proxy.stop()
            (workdir / "station.log").write_text("\n".join(station.lines) + "\n")  # for the post-mortem
        result.seconds = time.monotonic() - t0
        result.starts = station.starts
        result.proxy = {"connections": proxy.stats.connections, "torn": proxy.stats.torn,
                        "reset_by_down": proxy.stats.resets}
        result.report = compare(cfg.version, csms.frames, station_id, station.db_path)
    return result


async def _sleep_unless(seconds: float, done: Callable[[], bool]) -> None:
    """Sleep ``seconds``, or less when ``done()`` (the station's database, another process) says so."""
    with contextlib.suppress(TimeoutError):
        await wait_until(done, seconds, "the run to complete", poll_s=0.25)


def _silence(path: Path, on: bool) -> None:
    """The emulated car reads this file each cycle (hil/emulators/chademo_world.py): present = silent on CAN."""
    if on:
        path.touch()
    else:
        path.unlink(missing_ok=True)


async def _inject(kind: str, cfg: ChaosConfig, rng: random.Random, proxy: FaultProxy, station: StationProcess,
                  silence_file: Path, result: ChaosResult) -> bool:
    """One fault; its instant goes to ``result.fault_times`` (the clock of the CSMS's frame stamps)."""
    if kind == "csms_down":
        result.fault_times.append(time.monotonic())
        await proxy.go_down()
        await asyncio.sleep(rng.uniform(*cfg.down_s))
        await proxy.come_up()
        result.fault_times.append(time.monotonic())
        return True
    if kind == "reset":
        torn = await proxy.reset_mid_frame(timeout=5.0)
        if torn:
            result.fault_times.append(proxy.stats.torn_at[-1])
        return torn
    if kind == "kill":
        result.fault_times.append(time.monotonic())
        await station.kill()
        await station.start()
        return True
    if kind == "can_silence":
        _silence(silence_file, True)
        result.fault_times.append(time.monotonic())
        try:
            await asyncio.sleep(rng.uniform(*cfg.can_silence_s))
        finally:
            _silence(silence_file, False)
        return True
    raise ValueError(kind)


def format_summary(results: Sequence[ChaosResult]) -> str:
    """A plain-text table of the counts, one row per run."""
    rows = ["version  seed  seconds  tx(station/csms)  messages(station/received)  meter values(station/received)  "
            "duplicates(extra copies)  orphans  lost  faults"]
    for r in results:
        s = r.summary()
        rows.append(
            f"{s['version']:<8} {s['seed']:>4}  {s['seconds']:>7}  "
            f"{s['transactions']['station']:>6}/{s['transactions']['csms']:<9}  "
            f"{s['messages']['station']:>12}/{s['messages']['received_distinct']:<13}  "
            f"{s['meter_values']['station']:>15}/{s['meter_values']['received_distinct']:<14}  "
            f"{s['duplicates']['messages']:>10}({s['duplicates']['extra_copies']})          "
            f"{s['orphan_csms_transactions']:>5}  {s['lost']:>4}  {s['faults']}")
    return "\n".join(rows)


__all__ = ["FAULTS", "ChaosConfig", "ChaosResult", "ended_transactions", "format_summary", "run_chaos"]
