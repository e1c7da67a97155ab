#!/usr/bin/env bash
# REST benchmark: GET /v1/challenges for players holding 50 goals each, against the release
# service on the local PostgreSQL. Needs `wrk` (Debian package). Figures: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
PORT=${PORT:-18000}
DB=postgres://postgres@127.0.0.1:5432/ce_rest_bench
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS ce_rest_bench WITH (FORCE)" -c "CREATE DATABASE ce_rest_bench"
# BIN_DIR runs another build's binaries (an A/B against an older commit: bench/ab.sh).
BIN_DIR=${BIN_DIR:-}
if [ -z "$BIN_DIR" ]; then
  cargo build -q --release -p service
  BIN_DIR=target/release
fi
DATABASE_URL=$DB CHALLENGE_CONFIG_PATH=bench/rest/challenges MIGRATE_ON_START=true \
  PLUGIN_GRPC_SERVER_AUTH_ENABLED=false REWARD_CLIENT_MODE=mock LOG_LEVEL=warn \
  HTTP_PORT=$PORT METRICS_PORT=$((PORT + 80)) "$BIN_DIR/service" &
SERVICE=$!
trap 'kill $SERVICE 2>/dev/null; wait $SERVICE 2>/dev/null; psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS ce_rest_bench WITH (FORCE)"' EXIT
for _ in $(seq 1 50); do curl -sf "localhost:$PORT/challenge/healthz" >/dev/null && break; sleep 0.2; done
# 1,000 players, each with its 50 goals assigned and some progress.
for u in $(seq 0 999); do
  curl -sf -XPOST "localhost:$PORT/challenge/v1/challenges/initialize" -H "x-mock-user-id: bench-user-$u" >/dev/null
done
for u in $(seq 0 99); do
  curl -sf -XPOST "localhost:$PORT/challenge/v1/events" -H 'content-type: application/json' \
    -d "{\"kind\":\"stat\",\"id\":\"seed-$u\",\"userId\":\"bench-user-$u\",\"statCode\":\"s0-0\",\"latestValue\":5,\"inc\":5}" >/dev/null
done
# Statistics as a running database has them: plans made on the tables' empty-start statistics
# (sequential scans) would otherwise stay cached in the pool's connections for the whole run.
psql -h 127.0.0.1 -U postgres -d ce_rest_bench -qc "ANALYZE"
echo "goals per player: $(curl -s "localhost:$PORT/challenge/v1/challenges" -H 'x-mock-user-id: bench-user-1' | grep -o '"goalId"' | wc -l)"
wrk -t2 -c${CONNECTIONS:-64} -d${DURATION:-15s} --latency -s bench/rest/users.lua "http://localhost:$PORT"
