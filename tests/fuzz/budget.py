"""Fuzz targets and their budgets.

A :class:`Target` is a named pair (hypothesis strategy, check). The CI test-suite runs each target through
:meth:`Target.as_test` with a fixed example budget and ``derandomize=True``: the same examples on every run, so CI is
deterministic and a red build is reproducible. ``benchmarks/fuzz_long.py`` runs the very same targets with random
seeds for as long as it is told to. ``FUZZ_SCALE`` (environment, default 1) multiplies every CI budget.

Every check counts the examples it ran in :data:`STATS` (the figures in docs/fuzzing.md come from there).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SCALE = float(os.environ.get("FUZZ_SCALE", "1"))
STATS: Counter[str] = Counter()
SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
           HealthCheck.large_base_example]


@dataclass(frozen=True)
class Target:
    name: str
    strategy: st.SearchStrategy[Any]
    check: Callable[[Any], None]
    ci_examples: int

    def run_one(self, value: Any) -> None:
        STATS[self.name] += 1
        self.check(value)

    def settings(self, examples: int, *, derandomize: bool) -> settings:
        return settings(max_examples=examples, derandomize=derandomize, deadline=None, database=None,
                        suppress_health_check=SLOW_OK, print_blob=True)

    def as_test(self) -> Callable[..., None]:
        """The deterministic CI test of this target."""
        examples = max(1, round(self.ci_examples * SCALE))

        def run(value: Any) -> None:
            self.run_one(value)

        test = self.settings(examples, derandomize=True)(given(self.strategy)(run))
        test.__doc__ = f"fuzz target {self.name}: {examples} derandomized examples"
        return test
