#!/usr/bin/env bash
# Redis adapter fan-out benchmark: two Herald nodes vs two Node nodes
# (socket.io 4.8 + @socket.io/redis-adapter 8.3), interleaved; writes
# bench/cluster/RESULTS.md. Needs Go, node + npm, and Redis 7 at
# $REDIS (default 127.0.0.1:6379). Extra arguments go to the driver
# (e.g. --clients 4000 --rate 20 --duration 30s --runs 3).
set -euo pipefail
cd "$(dirname "$0")/../.."
REDIS=${REDIS:-127.0.0.1:6379}
if [ ! -f bench/cluster/node/node_modules/.package-lock.json ] ||
   [ bench/cluster/node/package-lock.json -nt bench/cluster/node/node_modules/.package-lock.json ]; then
  (cd bench/cluster/node && npm ci --no-audit --no-fund --loglevel=error)
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/herald-cluster-node" ./bench/cluster/herald
go build -o "$tmp/cluster" ./bench/cluster
ulimit -n 65536 2>/dev/null || true
"$tmp/cluster" --herald "$tmp/herald-cluster-node" --node-dir bench/cluster/node \
  --redis "$REDIS" --out bench/cluster/RESULTS.md --command "bash bench/cluster/run.sh${*:+ $*}" "$@"
