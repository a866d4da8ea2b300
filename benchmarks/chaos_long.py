"""The long form of the chaos ledger test: as many transactions and OCPP versions as you like.

    python benchmarks/chaos_long.py                                  # 1000 transactions, 1.6 and 2.0.1
    python benchmarks/chaos_long.py --transactions 300 --version 2.0.1 --seed 7
    python benchmarks/chaos_long.py --json reports/chaos-long.json --markdown

Each run starts ``chargepoint run`` as a real process with three EVSEs (two direct DC, one CHAdeMO with an emulated
LEAF) whose cars come and go (``--auto-sessions``), injects random faults (CSMS down, connection reset mid-frame,
SIGKILL + restart, CAN silence) until the transactions are done, then compares the CSMS's record with the station's
ledger (tests/chaos/harness.py). Progress goes to stderr every 10 s; the counts go to stdout. Exit status 1 when
anything was lost, changed, out of order, or repeated without a fault between the copies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from chaos.chaos import ChaosConfig, ChaosResult, format_summary, run_chaos  # noqa: E402


def _ok(r: ChaosResult) -> bool:
    rep = r.report
    return (not rep.problems() and not rep.open_transactions and not r.unexplained_duplicates
            and rep.received_messages == rep.station_messages
            and rep.received_meter_values == rep.station_meter_values)


async def _main(args: argparse.Namespace) -> int:
    results: list[ChaosResult] = []
    for version in args.version:
        with tempfile.TemporaryDirectory(prefix=f"chaos-{version}-") as tmp:
            cfg = ChaosConfig(version=version, transactions=args.transactions, seed=args.seed,
                              timeout_s=args.timeout)
            print(f"chaos {version}: {args.transactions} transactions, seed {args.seed}", file=sys.stderr)
            r = await run_chaos(cfg, Path(tmp), progress=lambda m: print(m, file=sys.stderr, flush=True))
            results.append(r)
            for p in r.report.problems()[:20]:
                print(f"  PROBLEM {p}", file=sys.stderr)
    print(format_summary(results))
    if args.markdown:
        print("\n| version | seed | seconds | transactions | messages | meter values | repeated (extra copies) | "
              "orphans (1.6) | lost | faults |\n|---|---|---|---|---|---|---|---|---|---|")
        for r in results:
            s = r.summary()
            print(f"| {s['version']} | {s['seed']} | {s['seconds']} | {s['transactions']['station']} | "
                  f"{s['messages']['received_distinct']}/{s['messages']['station']} | "
                  f"{s['meter_values']['received_distinct']}/{s['meter_values']['station']} | "
                  f"{s['duplicates']['messages']} ({s['duplicates']['extra_copies']}) | "
                  f"{s['orphan_csms_transactions']} | {s['lost']} | "
                  + ", ".join(f"{k} {v}" for k, v in s["faults"].items()) + " |")
    if args.json:
        _write_json(Path(args.json), [r.summary() for r in results])
    return 0 if all(_ok(r) for r in results) else 1


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--transactions", type=int, default=1000, help="transactions per version (default 1000)")
    p.add_argument("--version", action="append", choices=["1.6", "2.0.1", "2.1"],
                   help="OCPP version, repeatable (default 1.6 and 2.0.1)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=4 * 3600.0, help="seconds per version before giving up")
    p.add_argument("--json", help="write the summaries here")
    p.add_argument("--markdown", action="store_true", help="also print a Markdown table (docs/reliability.md)")
    args = p.parse_args()
    args.version = args.version or ["1.6", "2.0.1"]
    sys.exit(asyncio.run(_main(args)))


if __name__ == "__main__":
    main()
