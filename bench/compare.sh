#!/usr/bin/env bash
# Runs every "herald bench" scenario against Herald, Node's socket.io 4.8 and
# zishang520/socket.io v3, interleaved, and writes BENCHMARKS.md and
# bench/charts/*.png. See bench/compare/main.go for the settings:
#
#   bash bench/compare.sh            # full scale (about 40 minutes)
#   QUICK=1 bash bench/compare.sh    # small scale, one round (about 5 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./bench/compare "$@"
