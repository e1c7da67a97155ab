#!/usr/bin/env bash
# A/B: bench/run's whole table against two (or more) builds' handler and service, back to back
# on this machine, so a change is judged against the noise of the day rather than against
# figures from another day.
#
#   bench/ab.sh OLD_BIN_DIR NEW_BIN_DIR      e.g. /work/ab-target/release target/release
#
# The driver is this checkout's (target/release/all); each directory gives the `handler` and
# `service` binaries under test. ROUNDS=2 alternates A, B, A, B. SECONDS_EACH (default 10) is
# each measurement's length. Tables land in target/bench/ab-<round>-<n>/all.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p bench --bin all
for round in $(seq 1 "${ROUNDS:-1}"); do
  n=0
  for dir in "$@"; do
    n=$((n + 1))
    echo "=== round $round, build $n: $dir"
    target/release/all --bin-dir "$dir" --seconds "${SECONDS_EACH:-10}" --no-search --no-heavy --no-retention \
      --out-dir "target/bench/ab-$round-$n" 2>/dev/null
  done
done
