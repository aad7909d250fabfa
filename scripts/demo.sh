#!/usr/bin/env bash
# Runs the seed configuration (SPEC §1), or the configuration given, on
# loopback: two demo backends on 8081/8082 and ringlb on 8080 in the
# foreground. Ctrl-C stops everything.
#
#   scripts/demo.sh [configs/content-switching.cfg]
set -euo pipefail
cd "$(dirname "$0")/.."
config="${1:-configs/seed-webfarm.cfg}"

cargo build --release

pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

target/release/demo-backend 127.0.0.1:8081 xvadm01.ncli & pids+=($!)
target/release/demo-backend 127.0.0.1:8082 xvadm02.ncli & pids+=($!)

echo "backends up on 127.0.0.1:8081 and 127.0.0.1:8082"
echo "try: curl http://127.0.0.1:8080/   (stats: http://127.0.0.1:8080/admin)"
# -db keeps ringlb in the foreground although the config says 'daemon'.
# Not exec'd, so the trap still runs and stops the backends when it exits.
target/release/ringlb -db -f "$config"
