#!/usr/bin/env bash
# The feed service measured from outside (bench/feedload), once per store:
# GET /feed/posts?page=1 with POSTS posts in the feed (requests per second,
# latency), and the time from a POST /feed/post answer to its "posts" event
# at CLIENTS connected clients. Writes bench/feedload/RESULTS.md, which
# BENCHMARKS.md includes.
#
#   bash bench/feedload/run.sh                       # 100,000 posts, 1,000 clients
#   POSTS=2000 CLIENTS=100 bash bench/feedload/run.sh  # a quick look
#
# The seeded stores are kept in DATA (default /var/tmp/herald-feedbench) and
# reused by later runs; the PostgreSQL one is the database herald_feedbench on
# 127.0.0.1:5432. Seeding goes through the API (POST /feed/post).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${QUICK:-}" = 1 ]; then # bench/compare's quick mode
	: "${POSTS:=2000}" "${CLIENTS:=200}" "${EVENTS:=20}" "${DURATION:=5s}"
fi
POSTS=${POSTS:-100000}
CLIENTS=${CLIENTS:-1000}
EVENTS=${EVENTS:-100}
DURATION=${DURATION:-15s}
CONCURRENCY=${CONCURRENCY:-16}
DATA=${DATA:-/var/tmp/herald-feedbench}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
OUT=${OUT:-bench/feedload/RESULTS.md}

tmp=$(mktemp -d)
srv=
cleanup() {
	if [ -n "$srv" ]; then kill -TERM "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
go build -o "$tmp/" ./cmd/herald ./bench/feedload
mkdir -p "$DATA/sqlite" "$DATA/postgres"
psql "$PG/test" -qtc "SELECT 1 FROM pg_database WHERE datname='herald_feedbench'" | grep -q 1 ||
	psql "$PG/test" -qc "CREATE DATABASE herald_feedbench"

rows=()
for store in sqlite postgres; do
	args=(serve --addr 127.0.0.1:0 --log-level warn --data-dir "$DATA/$store")
	[ "$store" = postgres ] && args+=(--database "$PG/herald_feedbench?sslmode=disable")
	"$tmp/herald" "${args[@]}" >"$tmp/$store.log" 2>&1 &
	srv=$!
	addr=
	for _ in $(seq 300); do
		addr=$(sed -n 's/.*listening.*addr=\([0-9.:]*\).*/\1/p' "$tmp/$store.log" | head -1)
		[ -n "$addr" ] && break
		kill -0 "$srv" 2>/dev/null || { cat "$tmp/$store.log" >&2; exit 1; }
		read -rt 0.1 <> <(:) || true
	done
	[ -n "$addr" ] || { echo "run.sh: herald did not start" >&2; exit 1; }
	echo "== $store at $addr" >&2
	rows+=("$("$tmp/feedload" --url "http://$addr" --posts "$POSTS" --clients "$CLIENTS" --events "$EVENTS" \
		--duration "$DURATION" --concurrency "$CONCURRENCY" --md-row "$store")")
	kill -TERM "$srv"; wait "$srv" || true; srv=
done

{
	echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $(go version | cut -d' ' -f3); herald and the load tool (bench/feedload) are separate processes on the same machine."
	echo
	echo "| store | posts | GET /feed/posts?page=1 req/s | p50 ms | p99 ms | errors | clients × posts | answer→event p50 ms | p99 ms | max ms | events lost |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	printf '%s\n' "${rows[@]}"
	echo
	echo "Command: \`POSTS=$POSTS CLIENTS=$CLIENTS EVENTS=$EVENTS DURATION=$DURATION CONCURRENCY=$CONCURRENCY bash bench/feedload/run.sh\`. $CONCURRENCY concurrent GET workers for $DURATION; then $EVENTS posts created one at a time while $CLIENTS WebSocket clients listen. The event is emitted after the commit and may reach a client before the HTTP answer has been read, so latencies can be negative (the min column of \`feedload\`)."
} >"$OUT"
cat "$OUT"
