#!/usr/bin/env bash
# Set up everything the project needs on a fresh machine (Python >= 3.11 with venv, node/npm, apt):
# a local virtualenv in .venv with the project (editable) and its dev tools, and the interop peer (npm).
# Idempotent and quick when already done. Usage: scripts/setup.sh [--runtime-only]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

py="${PYTHON:-python3}"
if ! "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    echo "setup: need Python >= 3.11 (found: $("$py" --version 2>&1 || echo none))" >&2
    exit 1
fi
if [[ ! -x .venv/bin/python ]]; then
    echo "setup: creating .venv"
    if ! "$py" -m venv .venv 2>/dev/null; then
        echo "setup: python venv module missing; installing python3-venv with apt-get" >&2
        if [[ $(id -u) -ne 0 ]]; then sudo=sudo; else sudo=; fi
        $sudo apt-get update -qq && $sudo apt-get install -y -qq python3-venv
        "$py" -m venv .venv
    fi
fi
extras=".[dev]"
[[ "${1:-}" == "--runtime-only" ]] && extras="."
stamp=".venv/.install-stamp"
hash="$(sha256sum pyproject.toml | cut -d' ' -f1)"
want="$hash $extras"
have="$(cat "$stamp" 2>/dev/null || true)"
# a dev install is a superset of the runtime install
if [[ "$have" != "$want" && "$have" != "$hash .[dev]" ]]; then
    echo "setup: installing the project into .venv ($extras)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$extras"
    echo "$want" > "$stamp"
fi
if [[ "$extras" == ".[dev]" ]]; then
    "$root/scripts/install-peer.sh"
fi
