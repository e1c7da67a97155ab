#!/usr/bin/env bash
# A/B: the same benchmarks against two (or more) release builds, back to back on this machine, so
# a change is judged against the noise of the day rather than against figures from another day.
#
#   bench/ab.sh OLD_BIN_DIR NEW_BIN_DIR      e.g. /work/ab-target/release target/release
#
# Each build runs its own store-load and claim-load (they link the store and service), its own
# handler under the same grpc-load driver (DRIVER, default target/release/grpc-load), and its own
# service under wrk (bench/rest/run.sh). ROUNDS=2 alternates A, B, A, B.
set -euo pipefail
cd "$(dirname "$0")/.."
DRIVER=${DRIVER:-target/release/grpc-load}
ADMIN="psql -h 127.0.0.1 -U postgres -qc"

handler_run() {
  local dir=$1
  $ADMIN "DROP DATABASE IF EXISTS ce_load WITH (FORCE)" -c "CREATE DATABASE ce_load"
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/ce_load AB_NAMESPACE=demo MIGRATE_ON_START=true \
    LOG_LEVEL=warn GRPC_PORT=6565 METRICS_PORT=18081 CHALLENGE_CONFIG_PATH=challenges \
    "$dir/handler" &
  local pid=$!
  for _ in $(seq 1 100); do curl -sf localhost:18081/healthz >/dev/null && break; sleep 0.2; done
  "$DRIVER" --duration 15 | tail -n 4
  "$DRIVER" --duration 20 --rate 5000 | tail -n 4
  kill "$pid"; wait "$pid" || true
  $ADMIN "DROP DATABASE IF EXISTS ce_load WITH (FORCE)"
}

for round in $(seq 1 "${ROUNDS:-1}"); do
  for dir in "$@"; do
    echo "=== round $round, $dir: store-load"
    "$dir/store-load" 2>&1 | tail -n 6
    echo "=== round $round, $dir: handler (grpc-load flat out 15 s, then 5,000/s for 20 s)"
    handler_run "$dir"
    echo "=== round $round, $dir: REST GET /v1/challenges (wrk)"
    BIN_DIR="$dir" DURATION=15s bash bench/rest/run.sh 2>&1 | grep -E "Requests/sec|99%|50%|Latency" || true
    echo "=== round $round, $dir: claims"
    "$dir/claim-load" 2>&1 | tail -n 4
  done
done
