#!/usr/bin/env bash
# Runs the seed configuration (SPEC §1), or the configuration given, on
# loopback: two demo backends on 8081/8082 and ringlb on 8080 in the
# foreground. Ctrl-C stops everything.
#
#   scripts/demo.sh [configs/content-switching.cfg | configs/tls.cfg | ...]
set -euo pipefail
cd "$(dirname "$0")/.."
config="${1:-configs/seed-webfarm.cfg}"

cargo build --release

# A configuration naming target/demo-tls/ (configs/tls.cfg) gets a local CA
# and a certificate for localhost made here, once: no key is committed.
if grep -q 'target/demo-tls/' "$config" && [ ! -e target/demo-tls/localhost.pem ]; then
    mkdir -p target/demo-tls
    (
        cd target/demo-tls
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout ca.key -out ca.crt -days 30 -subj /CN=ringlb-demo-CA 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout localhost.key -out localhost.csr -subj /CN=localhost 2>/dev/null
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
        openssl x509 -req -in localhost.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
            -days 30 -extfile san.ext -out localhost.crt 2>/dev/null
        cat localhost.crt localhost.key > localhost.pem
    )
    echo "made target/demo-tls/localhost.pem (CA: target/demo-tls/ca.crt)"
fi

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
