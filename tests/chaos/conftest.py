"""Prints the chaos ledger counts at the end of the pytest run (they are the point of the test)."""

from __future__ import annotations

from typing import Any

SUMMARIES: list[Any] = []  # ChaosResult of every chaos test that ran


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not SUMMARIES:
        return
    from .chaos import format_summary

    terminalreporter.section("chaos ledger")
    terminalreporter.write_line(format_summary(SUMMARIES))
