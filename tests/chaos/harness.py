"""Crash and chaos harness: the station as a real ``chargepoint run`` process against the in-process CSMS emulator,
and the comparison of the CSMS's record of transactions with the station's own ledger.

Used by tests/integration/test_crash_recovery.py, tests/chaos/test_chaos_ledger.py and benchmarks/chaos_long.py.

What counts as "received by the CSMS" is every station -> CSMS CALL frame the emulator recorded, whether or not the
CSMS got to answer it (a CALL in flight when the station is killed or the connection drops is received, unanswered,
and sent again). The comparison dedupes nothing silently: every repeated message is reported as a duplicate, with
whether it is identical to its first copy and which fault instant lies between the two copies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from chargepoint.clock import iso
from chargepoint.persistence.store import LedgerEntry, read_ledger
from hil.emulators.csms import CsmsEmulator, Frame

ROOT = Path(__file__).resolve().parents[2]
CALL, CALLRESULT = 2, 3
IMPORT = "Energy.Active.Import.Register"
EXPORT = "Energy.Active.Export.Register"
TX_ACTIONS_16 = ("StartTransaction", "MeterValues", "StopTransaction")
# The 1.6 reasons of the neutral stop reasons that 1.6 lacks (chargepoint.ocpp.v16.stop_reason).
REASONS_16 = {"DeAuthorized", "EmergencyStop", "EVDisconnected", "HardReset", "Local", "Other", "PowerLoss", "Reboot",
              "Remote", "SoftReset", "UnlockCommand"}
REASONS_201 = {"HardReset": "ImmediateReset", "SoftReset": "ImmediateReset", "UnlockCommand": "Other"}


# ---------------------------------------------------------------------------------------------------- the station
def write_config(path: Path, protocols: Sequence[str] = ("direct",), *, sample_interval: int = 1,
                 aligned_interval: int = 0, soc: float = 50.0, response_timeout: float = 30.0) -> Path:
    """A station TOML file: one EVSE per entry of ``protocols`` (``direct`` | ``chademo``), each with an emulated car
    and its own token, fast reconnects (0.2 .. 1 s, no jitter) and a short meter sample interval."""
    lines = [
        "[csms]",
        "reconnect_initial = 0.2",
        "reconnect_max = 1.0",
        "reconnect_jitter = 0",
        f"response_timeout = {response_timeout}",
        "[metering]",
        f"sample_interval = {sample_interval}",
        f"aligned_interval = {aligned_interval}",
    ]
    for i, protocol in enumerate(protocols, start=1):
        lines += ["[[evse]]", f"id = {i}", f'protocol = "{protocol}"', "[evse.ev]", f"soc = {soc}",
                  f'id_token = "TOKEN-{i:02d}"']
    path.write_text("\n".join(lines) + "\n")
    return path


class StationProcess:
    """``python -m chargepoint.cli run ...`` as a subprocess; its log lines are collected as they come."""

    def __init__(self, csms_url: str, data_dir: Path, station_id: str, ocpp: str, config: Path,
                 args: Sequence[str] = (), env: dict[str, str] | None = None, keep_lines: int = 20_000) -> None:
        self.csms_url = csms_url
        self.data_dir = data_dir
        self.station_id = station_id
        self.ocpp = ocpp
        self.config = config
        self.args = list(args)
        self.env = env or {}
        self.keep_lines = keep_lines
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self.line_count = 0  # lines ever read (``lines`` keeps the last ``keep_lines``)
        self.starts = 0
        self.exit_codes: list[int] = []
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    @property
    def db_path(self) -> Path:
        return self.data_dir / f"{self.station_id}.sqlite"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def command(self, extra: Sequence[str] = ()) -> list[str]:
        return [sys.executable, "-m", "chargepoint.cli", "run", "--csms", self.csms_url, "--data-dir",
                str(self.data_dir), "--id", self.station_id, "--ocpp", self.ocpp, "--config", str(self.config),
                "--no-status", *self.args, *extra]

    async def start(self, extra: Sequence[str] = ()) -> None:
        assert not self.running, "already running"
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.proc = await asyncio.create_subprocess_exec(
            *self.command(extra), cwd=ROOT, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        self.starts += 1
        self._reader = asyncio.create_task(self._read(self.proc))

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while line := await proc.stderr.readline():
            self.lines.append(line.decode(errors="replace").rstrip())
            self.line_count += 1
            if len(self.lines) > self.keep_lines:
                del self.lines[: len(self.lines) - self.keep_lines]
            self._notify()
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def mark(self) -> int:
        return self.line_count

    async def wait_log(self, text: str, timeout: float = 15.0, after: int | None = None) -> str:
        """The first log line containing ``text`` among the lines read after ``after`` (default: all kept)."""
        seen = 0 if after is None else after
        async with asyncio.timeout(timeout):
            while True:
                changed = self._changed
                first_kept = self.line_count - len(self.lines)
                for line in self.lines[max(0, seen - first_kept):]:
                    if text in line:
                        return line
                seen = self.line_count
                if not self.running and (self._reader is None or self._reader.done()):
                    raise RuntimeError(f"station exited ({self.exit_codes}) before logging {text!r}:\n"
                                       + "\n".join(self.lines[-30:]))
                await changed.wait()

    async def _reap(self) -> int:
        assert self.proc is not None
        code = await self.proc.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self.exit_codes.append(code)
        return code

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs; SQLite sees a crash."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        await self._reap()

    async def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait for the clean exit."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(timeout):
            return await self._reap()

    async def dump_stacks(self, settle_s: float = 1.0) -> None:
        """SIGUSR1: the station prints every thread's stack to its log (chargepoint.cli registers faulthandler)."""
        if self.running and self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGUSR1)
            await asyncio.sleep(settle_s)

    async def close(self) -> None:
        if self.running:
            await self.kill()


def queue_length(db: Path) -> int:
    """Messages still queued in a station database (read-only; safe while it runs)."""
    import sqlite3

    con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        (n,) = con.execute("SELECT COUNT(*) FROM queue").fetchone()
        return int(n)
    finally:
        con.close()


async def wait_until(check: Callable[[], bool], timeout: float, what: str, poll_s: float = 0.05) -> None:
    """Poll ``check`` (for state outside the event loop, e.g. another process's database) until it holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(poll_s)


async def wait_drained(csms: CsmsEmulator, station: StationProcess, timeout: float = 30.0) -> None:
    """Until the running station has nothing queued and its last transaction message has been answered."""
    await wait_until(lambda: station.db_path.exists() and queue_length(station.db_path) == 0, timeout,
                     f"{station.station_id}'s queue to drain")


# ---------------------------------------------------------------------------------------------------- comparison
@dataclass
class Duplicate:
    """A message the CSMS received more than once (``copies`` >= 2)."""

    action: str
    key: str
    copies: int
    identical: bool
    times: list[float]
    answered: int  # copies the CSMS answered


@dataclass
class LedgerReport:
    version: str
    station_transactions: int = 0
    csms_transactions: int = 0  # distinct transactions the CSMS knows (1.6: incl. orphans of a repeated start)
    station_messages: int = 0  # ledger entries that go on the wire
    received_messages: int = 0  # distinct transaction messages the CSMS received
    station_meter_values: int = 0  # MeterValue samples the ledger says were sent
    received_meter_values: int = 0  # distinct MeterValue samples the CSMS received
    duplicates: list[Duplicate] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # 1.6: CSMS transactions created by a repeated StartTransaction
    lost: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    out_of_order: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    non_monotonic: list[str] = field(default_factory=list)
    open_transactions: list[str] = field(default_factory=list)  # in the ledger without an end
    stop_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def duplicate_copies(self) -> int:
        return sum(d.copies - 1 for d in self.duplicates)

    def problems(self) -> list[str]:
        out = [f"lost: {x}" for x in self.lost] + [f"unexpected: {x}" for x in self.unexpected]
        out += [f"out of order: {x}" for x in self.out_of_order] + [f"mismatch: {x}" for x in self.mismatched]
        out += [f"meter not monotonic: {x}" for x in self.non_monotonic]
        out += [f"duplicate not identical: {d.action} {d.key}" for d in self.duplicates if not d.identical]
        return out

    def unexplained_duplicates(self, fault_times: Iterable[float], slack_s: float = 0.0) -> list[Duplicate]:
        """Duplicates with no fault instant between their first and last copy (retries need a fault here).

        ``slack_s``: how long before the first copy's arrival a fault may lie and still explain it. A frame is
        stamped when the CSMS has read it; a fault injected in the CSMS's own process (a connection torn by the
        proxy in the same event loop) can act on a frame already on its way, stamped a little after the fault."""
        times = sorted(fault_times)
        return [d for d in self.duplicates if not any(d.times[0] - slack_s <= t <= d.times[-1] for t in times)]

    def summary(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "transactions": {"station": self.station_transactions, "csms": self.csms_transactions},
            "messages": {"station": self.station_messages, "received_distinct": self.received_messages},
            "meter_values": {"station": self.station_meter_values, "received_distinct": self.received_meter_values},
            "duplicates": {"messages": len(self.duplicates), "extra_copies": self.duplicate_copies,
                           "identical": sum(d.identical for d in self.duplicates),
                           "by_action": _count(d.action for d in self.duplicates)},
            "orphan_csms_transactions": len(self.orphans),
            "lost": len(self.lost),
            "unexpected": len(self.unexpected),
            "out_of_order": len(self.out_of_order),
            "mismatched": len(self.mismatched),
            "non_monotonic": len(self.non_monotonic),
            "open_transactions": len(self.open_transactions),
            "stop_reasons": dict(sorted(self.stop_reasons.items())),
        }


def _count(items: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for i in items:
        out[i] += 1
    return dict(out)


def station_calls(frames: Iterable[Frame], station_id: str, actions: Sequence[str]) -> list[Frame]:
    return [f for f in frames if f.station_id == station_id and f.direction == "rx" and f.message_type == CALL
            and f.action in actions and isinstance(f.payload, dict)]


def _answers(frames: Iterable[Frame], station_id: str) -> dict[str, Any]:
    """unique id -> CALLRESULT payload the CSMS sent to the station on the connection of the CALL (every connection
    starts with a BootNotification); a result sent on a later connection reached no CALL and counts for nothing."""
    epoch, asked, out = 0, {}, {}
    for f in sorted(frames, key=lambda f: f.index):
        if f.station_id != station_id or f.unique_id is None:
            continue
        if f.direction == "rx" and f.message_type == CALL:
            epoch += f.action == "BootNotification"
            asked[f.unique_id] = epoch
        elif f.direction == "tx" and f.message_type == CALLRESULT and asked.get(f.unique_id) == epoch:
            out[f.unique_id] = f.payload
    return out


def _registers(meter_value: dict[str, Any]) -> tuple[float | None, float | None]:
    values: dict[str, float] = {}
    for sv in meter_value.get("sampledValue", []):
        values[sv.get("measurand", IMPORT)] = float(sv["value"])
    return values.get(IMPORT), values.get(EXPORT)


def _close(a: float | None, b: float | None, tol: float) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= tol)


def _same_samples(expected: list[tuple[float | None, float | None]], got: list[dict[str, Any]], tol: float) -> bool:
    regs = [_registers(mv) for mv in got]
    return len(regs) == len(expected) and all(_close(a[0], b[0], tol) and _close(a[1], b[1], tol)
                                              for a, b in zip(expected, regs, strict=True))


def _iso(ts: str) -> str:
    return iso(datetime.fromisoformat(ts))


def _key(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True)


def _monotonic(report: LedgerReport, readings: dict[int, list[tuple[str, float, float]]]) -> None:
    """readings: EVSE -> [(where, import Wh, tolerance)] in arrival order; the import register never goes back."""
    for evse, seq in readings.items():
        high, where_high, tol_high = float("-inf"), "", 0.0
        for where, value, tol in seq:
            # either reading may be rounded (1.6 meterStart / meterStop are whole Wh): allow the larger rounding
            if value < high - max(tol, tol_high):
                report.non_monotonic.append(f"EVSE {evse}: {where} {value} after {where_high} {high}")
            if value > high:
                high, where_high, tol_high = value, where, tol


def compare_v2(frames: Sequence[Frame], station_id: str, ledger: Sequence[LedgerEntry],
               version: str = "2.0.1") -> LedgerReport:
    """TransactionEvent frames vs the ledger: one event per (transactionId, seqNo), in seqNo order per
    transaction, the ledger's kind and meter registers; copies of an event are duplicates."""
    report = LedgerReport(version)
    answers = _answers(frames, station_id)
    first: dict[tuple[str, int], Frame] = {}
    copies: dict[tuple[str, int], list[Frame]] = defaultdict(list)
    arrival: dict[str, list[int]] = defaultdict(list)
    for f in station_calls(frames, station_id, ("TransactionEvent",)):
        key = (f.payload["transactionInfo"]["transactionId"], f.payload["seqNo"])
        copies[key].append(f)
        if key not in first:
            first[key] = f
            arrival[key[0]].append(key[1])
    for key, fs in copies.items():
        if len(fs) > 1:
            report.duplicates.append(Duplicate(
                "TransactionEvent", f"{key[0]}#{key[1]}", len(fs), all(f.payload == fs[0].payload for f in fs),
                [f.t for f in fs], sum(f.unique_id in answers for f in fs)))
    by_tx: dict[str, list[LedgerEntry]] = defaultdict(list)
    for e in ledger:
        by_tx[e.tx_id].append(e)
    report.station_transactions = len(by_tx)
    report.csms_transactions = len(arrival)
    report.station_messages = len(ledger)
    report.received_messages = len(first)
    evse_of = {tx: es[0].evse_id for tx, es in by_tx.items()}
    for tx, entries in by_tx.items():
        if entries[-1].kind != "Ended":
            report.open_transactions.append(tx)
        for e in entries:
            report.station_meter_values += len(e.summary["samples"])
            event = first.get((tx, e.seq))
            if event is None:
                report.lost.append(f"{tx}#{e.seq} {e.kind}")
                continue
            p = event.payload
            if p["eventType"] != e.kind:
                report.mismatched.append(f"{tx}#{e.seq}: eventType {p['eventType']} vs ledger {e.kind}")
            if not _same_samples(e.registers(), p.get("meterValue", []), 1e-6):
                report.mismatched.append(f"{tx}#{e.seq}: meter values differ from the ledger")
            if e.kind == "Ended":
                reason = e.summary["reason"]
                got = p["transactionInfo"].get("stoppedReason")
                report.stop_reasons[got] = report.stop_reasons.get(got, 0) + 1
                if got != REASONS_201.get(reason, reason):
                    report.mismatched.append(f"{tx}: stoppedReason {got} vs ledger {reason}")
    ledger_keys = {(e.tx_id, e.seq) for e in ledger}
    report.unexpected += [f"{tx}#{seq}" for tx, seq in first if (tx, seq) not in ledger_keys]
    for tx, seqs in arrival.items():
        if seqs != sorted(seqs):
            report.out_of_order.append(f"{tx}: seqNo arrival order {seqs}")
    readings: dict[int, list[tuple[str, float, float]]] = defaultdict(list)
    for f in sorted(first.values(), key=lambda f: f.index):
        tx, seq = f.payload["transactionInfo"]["transactionId"], f.payload["seqNo"]
        evse = f.payload.get("evse", {}).get("id") or evse_of.get(tx)
        for mv in f.payload.get("meterValue", []):
            report.received_meter_values += 1
            imp, _ = _registers(mv)
            if imp is not None and evse is not None:
                readings[evse].append((f"{tx}#{seq}", imp, 1e-6))
    _monotonic(report, readings)
    return report


def compare_v16(frames: Sequence[Frame], station_id: str, ledger: Sequence[LedgerEntry]) -> LedgerReport:
    """StartTransaction / MeterValues / StopTransaction frames vs the ledger.

    1.6 has no message ids of its own: a StartTransaction is matched to the ledger by connectorId, meterStart and
    timestamp; its copies are duplicates, and every copy the CSMS answered opened a CSMS transaction. The one the
    station went on with (its MeterValues and StopTransaction name it) is the transaction; the others are reported
    as ``orphans``. MeterValues / StopTransaction copies are identical payloads (same transactionId and time)."""
    report = LedgerReport("1.6")
    answers = _answers(frames, station_id)
    calls = station_calls(frames, station_id, TX_ACTIONS_16)
    seen: dict[str, Frame] = {}
    copies: dict[str, list[Frame]] = defaultdict(list)
    for f in calls:
        if f.action == "MeterValues" and "transactionId" not in f.payload:
            continue  # not a transaction message
        k = f"{f.action} {_key(f.payload)}"
        copies[k].append(f)
        seen.setdefault(k, f)
    for k, fs in copies.items():
        if len(fs) > 1:
            report.duplicates.append(Duplicate(fs[0].action or "", k[:160], len(fs), True, [f.t for f in fs],
                                               sum(f.unique_id in answers for f in fs)))
    distinct = sorted(seen.values(), key=lambda f: f.index)
    report.received_messages = len(distinct)
    starts = [f for f in distinct if f.action == "StartTransaction"]
    csms_ids = {answers[f.unique_id]["transactionId"] for f in calls
                if f.action == "StartTransaction" and f.unique_id in answers}
    report.csms_transactions = len(csms_ids)
    meter_by_id: dict[int, list[Frame]] = defaultdict(list)
    stop_by_id: dict[int, list[Frame]] = defaultdict(list)
    for f in distinct:
        if f.action == "MeterValues":
            meter_by_id[f.payload["transactionId"]].append(f)
        elif f.action == "StopTransaction":
            stop_by_id[f.payload["transactionId"]].append(f)
    used_ids: set[int] = set()
    by_tx: dict[str, list[LedgerEntry]] = defaultdict(list)
    for e in ledger:
        by_tx[e.tx_id].append(e)
    report.station_transactions = len(by_tx)
    for tx, entries in by_tx.items():
        started = entries[0]
        sent = [e for e in entries if e.kind != "Updated" or e.summary["samples"]]  # 1.6 sends no sample-less update
        report.station_messages += len(sent)
        report.station_meter_values += sum(len(e.summary["samples"]) for e in entries if e.kind != "Started")
        if entries[-1].kind != "Ended":
            report.open_transactions.append(tx)
        match = [f for f in starts if f.payload["connectorId"] == started.evse_id
                 and f.payload["meterStart"] == round(started.summary["meter_wh"])
                 and f.payload["timestamp"] == _iso(started.timestamp)]
        if not match:
            report.lost.append(f"{tx} StartTransaction")
            continue
        copies_of_start = copies[f"StartTransaction {_key(match[0].payload)}"]
        ids = [answers[f.unique_id]["transactionId"] for f in copies_of_start if f.unique_id in answers]
        followed = [i for i in ids if i in meter_by_id or i in stop_by_id]
        if len(followed) > 1:
            report.mismatched.append(f"{tx}: messages went to several CSMS transactions {followed}")
        csms_id = followed[0] if followed else (ids[-1] if ids else None)
        report.orphans += [f"{tx} -> CSMS {i}" for i in ids if i != csms_id]
        if csms_id is None:
            report.lost.append(f"{tx}: StartTransaction never answered")
            continue
        used_ids.update(ids)
        updates = [e for e in entries if e.kind == "Updated" and e.summary["samples"]]
        got = meter_by_id.get(csms_id, [])
        if len(got) < len(updates):
            report.lost += [f"{tx} MeterValues #{e.seq}" for e in updates[len(got):]]
        elif len(got) > len(updates):
            report.unexpected += [f"{tx} MeterValues {f.index}" for f in got[len(updates):]]
        for e, f in zip(updates, got, strict=False):
            if not _same_samples(e.registers(), f.payload["meterValue"], 5e-4):
                report.mismatched.append(f"{tx}: MeterValues #{e.seq} differ from the ledger (out of order?)")
        ended = entries[-1] if entries[-1].kind == "Ended" else None
        stops = stop_by_id.get(csms_id, [])
        if ended is None:
            report.unexpected += [f"{tx} StopTransaction {f.index}" for f in stops]
            continue
        if not stops:
            report.lost.append(f"{tx} StopTransaction")
            continue
        if len(stops) > 1:
            report.mismatched.append(f"{tx}: {len(stops)} different StopTransactions")
        stop = stops[0].payload
        reason = ended.summary["reason"]
        got_reason = stop.get("reason", "Local")
        report.stop_reasons[got_reason] = report.stop_reasons.get(got_reason, 0) + 1
        if got_reason != (reason if reason in REASONS_16 else "Other"):
            report.mismatched.append(f"{tx}: reason {got_reason} vs ledger {reason}")
        if stop["meterStop"] != round(ended.summary["meter_wh"]):
            report.mismatched.append(f"{tx}: meterStop {stop['meterStop']} vs ledger {ended.summary['meter_wh']}")
        if not _same_samples(ended.registers(), stop.get("transactionData", []), 5e-4):
            report.mismatched.append(f"{tx}: transactionData differs from the ledger")
        if got and stops[0].index < got[-1].index:
            report.out_of_order.append(f"{tx}: StopTransaction before its last MeterValues")
        if got and min(f.index for f in got) < match[0].index:
            report.out_of_order.append(f"{tx}: MeterValues before StartTransaction")
    report.unexpected += [f"MeterValues for unknown CSMS transaction {i}" for i in meter_by_id if i not in used_ids]
    report.unexpected += [f"StopTransaction for unknown CSMS transaction {i}" for i in stop_by_id if i not in used_ids]
    readings: dict[int, list[tuple[str, float, float]]] = defaultdict(list)
    for f in distinct:
        p = f.payload
        if f.action == "StartTransaction":
            readings[p["connectorId"]].append((f"start@{f.index}", float(p["meterStart"]), 0.5))
        else:
            where = f"{f.action}@{f.index}"
            for mv in p.get("meterValue", p.get("transactionData", [])):
                report.received_meter_values += 1
                imp, _ = _registers(mv)
                if imp is not None:
                    readings[p.get("connectorId") or _connector_of(p, starts, answers)].append((where, imp, 5e-4))
            if f.action == "StopTransaction":
                readings[_connector_of(p, starts, answers)].append((where, float(p["meterStop"]), 0.5))
    _monotonic(report, readings)
    return report


def _connector_of(payload: dict[str, Any], starts: Sequence[Frame], answers: dict[str, Any]) -> int:
    for s in starts:
        if answers.get(s.unique_id or "", {}).get("transactionId") == payload["transactionId"]:
            return int(s.payload["connectorId"])
    return 0


def compare(version: str, frames: Sequence[Frame], station_id: str, db: Path) -> LedgerReport:
    ledger = read_ledger(db)
    return compare_v16(frames, station_id, ledger) if version == "1.6" else compare_v2(frames, station_id, ledger,
                                                                                       version)
