#!/usr/bin/env bash
# Set up (if needed) and run the charge point. Without options: the embedded default — the CSMS emulator on a
# free loopback port, an emulated car plugged in, an authorized session — until Ctrl-C.
# Any option is passed to `chargepoint run` (see `chargepoint run --help`), e.g. --duration 30 or --csms URL.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh" --runtime-only >&2
exec "$root/.venv/bin/chargepoint" run "$@"
