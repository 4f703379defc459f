#!/usr/bin/env bash
# Leaderboard benchmark (issue 18; docs/PERFORMANCE.md "Leaderboards"): `tools/bench.sh leaderboard`
# or this script alone.
#
#   1. a throwaway PostgreSQL with fsync ON (acknowledged means committed to disk), removed at exit
#   2. 1,000,000 records of one board written by SQL, then the server started on it (the start-up
#      rebuild of the in-memory index is timed from its log line)
#   3. tests/bench/leaderboard.js: top 100 and around-a-player (± 25) latencies over HTTP, then
#      submits at a fixed rate (default 5,000/s for 10 s), each to a new player, then a check that
#      every acknowledged submit is in PostgreSQL
#
# Environment: MOONBASE_BIN (build/moonbase), LB_RECORDS (1000000), LB_RATE (5000), LB_SECONDS (10),
# LB_READS (2000 per kind). Prints one JSON line with the figures; exit 1 when a target is missed.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1
BIN=${MOONBASE_BIN:-build/moonbase}
RECORDS=${LB_RECORDS:-1000000}
say() { printf 'bench leaderboard: %s\n' "$*" >&2; }
[[ -x $BIN ]] || { say "no server at $BIN (tools/build.sh)"; exit 1; }

PGDIR=$(mktemp -d /tmp/mb-lbbench-XXXXXX)
SERVER_PID=
DATA=$(mktemp -d /tmp/mb-lbbench-data-XXXXXX)
cleanup() {
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  tools/pg.sh destroy "$PGDIR" >/dev/null 2>&1
  rm -rf "$DATA"
}
trap cleanup EXIT
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

tools/pg.sh start "$PGDIR" "$(free_port)" >"$DATA/pg.log" 2>&1 || { cat "$DATA/pg.log" >&2; exit 1; }
DBURL=$(tools/pg.sh url "$PGDIR")
"$BIN" migrate --database-url "$DBURL" --log-level warn >"$DATA/migrate.log" 2>&1 || { cat "$DATA/migrate.log" >&2; exit 1; }
say "seeding $RECORDS records"
T0=$(date +%s.%N)
# owner i is md5('lb' || i) as a UUID (leaderboard.js computes the same ids); scores 0..99,999
# (many ties), subscores 0..9, seq = i (who got there first)
tools/pg.sh psql "$PGDIR" -q -v ON_ERROR_STOP=1 >/dev/null <<SQL || exit 1
INSERT INTO leaderboards (id, sort, operator) VALUES ('bench', 'desc', 'best');
INSERT INTO leaderboard_records (leaderboard_id, period, owner_id, score, subscore, seq)
SELECT 'bench', 1, md5('lb' || i)::uuid, (i::bigint * 7919) % 100000, i % 10, i FROM generate_series(1, $RECORDS) i;
SQL
say "seeded in $(echo "$(date +%s.%N) - $T0" | bc) s"

PORT=$(free_port)
ADMIN=bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
"$BIN" --database-url "$DBURL" --port "$PORT" --host 127.0.0.1 --data-dir "$DATA" --admin-token "$ADMIN" \
  --scripts scripts --log-level info --db-pool-size 4 >"$DATA/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 600); do
  grep -q 'event=listening' "$DATA/server.log" && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$DATA/server.log" >&2; exit 1; }
  sleep 0.1
done
LOAD=$(grep -o 'event=leaderboards_loaded.*' "$DATA/server.log")
say "server up: $LOAD"
RSS=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
node tests/bench/leaderboard.js --url "http://127.0.0.1:$PORT" --admin "$ADMIN" --db "$DBURL" \
  --records "$RECORDS" --rss-kb "$RSS" --load "$LOAD" --pid "$SERVER_PID"
RC=$?
kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
SERVER_PID=
exit $RC
