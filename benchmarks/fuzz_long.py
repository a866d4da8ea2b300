"""Long fuzzing run over the CI fuzz targets (tests/fuzz), with random seeds, for as long as you like.

    python benchmarks/fuzz_long.py --minutes 30                 # every target, time shared equally
    python benchmarks/fuzz_long.py --minutes 10 --only ocpp2.1   # targets whose name contains "ocpp2.1"
    python benchmarks/fuzz_long.py --ci                          # the CI budgets (derandomized), for the figures
    python benchmarks/fuzz_long.py --minutes 60 --json fuzz.json --seed 1234

Each target runs in chunks of ``--chunk`` examples, each chunk under a fresh seed derived from ``--seed`` (printed,
so a chunk can be re-run), until its share of the time is used up. A failing chunk is a finding: hypothesis shrinks
it, the minimal example is printed with its seed, and the run goes on with the other targets. The exit status is 1
when there were findings. See docs/fuzzing.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fuzz.budget import STATS, Target  # noqa: E402
from fuzz.can_targets import targets as can_targets  # noqa: E402
from fuzz.ocpp_targets import targets as ocpp_targets  # noqa: E402
from hypothesis import given, seed  # noqa: E402


@dataclass
class Result:
    target: str
    examples: int = 0
    seconds: float = 0.0
    chunks: int = 0
    findings: list[dict[str, Any]] = field(default_factory=list)


def all_targets() -> list[Target]:
    return ocpp_targets() + can_targets()


def run_chunk(target: Target, examples: int, chunk_seed: int | None) -> str | None:
    """Run ``examples`` examples; return the failure report, or None."""

    def run(value: Any) -> None:
        target.run_one(value)

    test = given(target.strategy)(run)
    test = target.settings(examples, derandomize=chunk_seed is None)(test)
    if chunk_seed is not None:
        test = seed(chunk_seed)(test)
    try:
        test()
    except Exception as e:  # hypothesis raises the (shrunk) failure; report it and go on
        return "".join(traceback.format_exception(e))[-4000:]
    return None


def fuzz(targets: list[Target], minutes: float, chunk: int, base_seed: int) -> list[Result]:
    rng = random.Random(base_seed)
    share = minutes * 60.0 / len(targets)
    results = []
    for target in targets:
        result = Result(target.name)
        start = time.perf_counter()
        before = STATS[target.name]
        while time.perf_counter() - start < share:
            chunk_seed = rng.getrandbits(32)
            report = run_chunk(target, chunk, chunk_seed)
            result.chunks += 1
            if report is not None:
                result.findings.append({"seed": chunk_seed, "report": report})
                print(f"FINDING in {target.name} (seed {chunk_seed}):\n{report}", file=sys.stderr, flush=True)
        result.seconds = time.perf_counter() - start
        result.examples = STATS[target.name] - before
        results.append(result)
        print(f"{target.name}: {result.examples} examples in {result.seconds:.1f} s, "
              f"{len(result.findings)} finding(s)", flush=True)
    return results


def ci(targets: list[Target]) -> list[Result]:
    """The CI budgets, derandomized: the figures of a CI run."""
    results = []
    for target in targets:
        start = time.perf_counter()
        report = run_chunk(target, target.ci_examples, None)
        result = Result(target.name, STATS[target.name], time.perf_counter() - start, 1)
        if report is not None:
            result.findings.append({"seed": None, "report": report})
        results.append(result)
        print(f"{target.name}: {result.examples} examples in {result.seconds:.1f} s", flush=True)
    return results


def table(results: list[Result]) -> str:
    lines = ["| target | examples | time (s) | examples/s | findings |", "|---|---:|---:|---:|---:|"]
    for r in results:
        rate = r.examples / r.seconds if r.seconds else 0.0
        lines.append(f"| {r.target} | {r.examples} | {r.seconds:.1f} | {rate:.0f} | {len(r.findings)} |")
    total_ex = sum(r.examples for r in results)
    total_s = sum(r.seconds for r in results)
    lines.append(f"| **total** | {total_ex} | {total_s:.1f} | | {sum(len(r.findings) for r in results)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--minutes", type=float, help="total wall-clock budget, shared equally by the targets")
    mode.add_argument("--ci", action="store_true", help="run the CI budgets once (derandomized)")
    parser.add_argument("--only", default="", help="run only targets whose name contains this")
    parser.add_argument("--chunk", type=int, default=200, help="examples per seed (default 200)")
    parser.add_argument("--seed", type=int, default=None, help="base seed (default: random, printed)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    logging.disable(logging.CRITICAL)  # every rejected frame is logged by the adapters; millions of lines otherwise
    targets = [t for t in all_targets() if args.only in t.name]
    if not targets:
        parser.error(f"no target matches {args.only!r}")
    if args.ci:
        results = ci(targets)
    else:
        base_seed = args.seed if args.seed is not None else random.SystemRandom().getrandbits(32)
        print(f"base seed {base_seed}; {len(targets)} targets, {args.minutes} min", flush=True)
        results = fuzz(targets, args.minutes, args.chunk, base_seed)
    print()
    print(table(results))
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2), encoding="utf-8")
    return 1 if any(r.findings for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
