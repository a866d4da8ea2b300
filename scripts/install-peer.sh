#!/usr/bin/env bash
# Install the independent strict CSMS peer (npm ocpp-rpc, pinned by package-lock.json) used by
# tests/interop. Idempotent: does nothing when node_modules already matches the lock file.
set -euo pipefail

peer_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/interop/peer"
stamp="$peer_dir/node_modules/.install-stamp"

for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "install-peer: '$tool' not found; the interop peer needs node >= 17 and npm" >&2
        exit 1
    fi
done

want="$(cat "$peer_dir/package.json" "$peer_dir/package-lock.json" | sha256sum | cut -d' ' -f1) node=$(node --version)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -f "$peer_dir/node_modules/ocpp-rpc/package.json" ]]; then
    echo "install-peer: up to date ($peer_dir/node_modules)"
    exit 0
fi

cd "$peer_dir"
npm ci --no-audit --no-fund
echo "$want" > "$stamp"
node -e 'const v = require("ocpp-rpc/package.json").version; console.log("install-peer: ocpp-rpc " + v);'
