#!/usr/bin/env bash
# Memory per idle Engine.IO WebSocket session: Herald (bench/servers/herald-eio)
# and Node's engine.io (bench/peers/node) in one run, interleaved
# (herald, node, herald, node, ...), each round a fresh server process holding
# N sessions opened by bench/idle. Prints a table and writes BENCHMARKS.md.
#
#   bash bench/compare.sh                 # 3 rounds each at N=10000 (about 4-5 minutes)
#   ROUNDS=1 N=2000 bash bench/compare.sh # a quick look
#
# Needs Go and Node.js with npm (installs bench/peers/node's packages when
# they are missing). Every process it starts is gone when it returns.
set -euo pipefail

cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
N=${N:-10000}
WORKERS=${WORKERS:-4}
OUT_MD=${OUT_MD:-BENCHMARKS.md}

command -v node >/dev/null || { echo "compare.sh: node is required" >&2; exit 1; }
if [ ! -d bench/peers/node/node_modules/engine.io ]; then
	(cd bench/peers/node && npm ci --no-audit --no-fund)
fi

tmp=$(mktemp -d)
idle_pid=
cleanup() {
	if [ -n "$idle_pid" ] && kill -0 "$idle_pid" 2>/dev/null; then
		kill -TERM "$idle_pid" 2>/dev/null || true # idle stops its server and workers
		wait "$idle_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$tmp/" ./bench/idle ./bench/servers/herald-eio

# Node needs more than 10,000 descriptors; 20,000 is the hard limit here.
ulimit -n "$(ulimit -Hn)"

results="$tmp/results.jsonl"
run=0
for round in $(seq 1 "$ROUNDS"); do
	for server in herald node; do
		# A fresh port and fresh source addresses per run, so that no run
		# meets the previous one's sockets in TIME_WAIT.
		port=$((3300 + run))
		addr="127.0.0.1:$port"
		src="127.0.$((10 + run)).1"
		args=(-name "$server" -round "$round" -n "$N" -workers "$WORKERS" -src "$src" -addr "$addr" -out "$results")
		case $server in
		herald)
			args+=(-stats "http://$addr/debug/stats" -- "$tmp/herald-eio" --addr "$addr") ;;
		node)
			args+=(-- node bench/peers/node/server.js --addr "$addr") ;;
		esac
		"$tmp/idle" "${args[@]}" >/dev/null &
		idle_pid=$!
		wait "$idle_pid"
		idle_pid=
		run=$((run + 1))
	done
done

echo
"$tmp/idle" -report "$results" -md "$OUT_MD" \
	-command "ROUNDS=$ROUNDS N=$N WORKERS=$WORKERS bash bench/compare.sh"
echo "wrote $OUT_MD"
