#!/usr/bin/env bash
# Set up (if needed) and run every check: ruff, mypy and the whole pytest suite (unit, integration, interop, CLI).
# Extra arguments go to pytest. JUnit XML lands in reports/junit.xml.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
echo "== ruff"; .venv/bin/ruff check .
echo "== mypy"; .venv/bin/mypy
echo "== pytest"
mkdir -p reports
exec .venv/bin/pytest -q --junitxml=reports/junit.xml "$@"
