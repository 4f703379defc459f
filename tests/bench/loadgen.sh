#!/usr/bin/env bash
# Smoke run of the load generator: tools/bench.sh quick (about a minute: every scenario small,
# fresh server per run, private PostgreSQL, everything stopped by PID at the end).
# `make bench` runs the full default set instead (tools/bench.sh).
#   MOONBASE_BENCH_NO_BUILD=1 tests/bench/loadgen.sh   reuse build-bench/
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MOONBASE_BENCH_SAVE=0 exec "$ROOT/tools/bench.sh" quick
