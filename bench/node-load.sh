#!/usr/bin/env bash
# Load a single-node devnet over HTTP from a separate process on loopback.
#
#   bench/node-load.sh [ACCOUNTS] [SECONDS] [BLOCK_TIME]
#
# Builds the release binary, initializes a fresh devnet in a temporary home, starts
# `stratus node run`, then runs `stratus bench load` (its own process): ACCOUNTS accounts each
# keep one transfer in flight with ?wait=commit. Prints tx_per_s and p50/p99 submit→commit
# latency (from sending a transaction to the answer that its block is durably committed).
set -euo pipefail
cd "$(dirname "$0")/.."
ACCOUNTS=${1:-500}
SECONDS_=${2:-20}
BLOCK_TIME=${3:-1s}
cargo build --release --locked -q --bin stratus
B=target/release/stratus
HOME_DIR=$(mktemp -d)
trap 'kill "$NODE_PID" 2>/dev/null || true; rm -rf "$HOME_DIR"' EXIT
$B --home "$HOME_DIR" node init --account loader=100000000000000uact --block-time "$BLOCK_TIME" \
  --api-addr 127.0.0.1:0 >/dev/null
$B --home "$HOME_DIR" node run >"$HOME_DIR/ready" 2>"$HOME_DIR/node.log" &
NODE_PID=$!
for _ in $(seq 100); do grep -q http:// "$HOME_DIR/ready" 2>/dev/null && break; sleep 0.1; done
URL=$(grep -o 'http://[0-9.:]*' "$HOME_DIR/ready")
echo "node=$URL block_time=$BLOCK_TIME cores=$(nproc)"
ulimit -n 65536 2>/dev/null || true
$B --home "$HOME_DIR" --node "$URL" --from loader bench load --accounts "$ACCOUNTS" --seconds "$SECONDS_"
