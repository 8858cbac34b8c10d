#!/usr/bin/env bash
# Load a chain of four BFT validators (four `stratus node run` processes on loopback) over HTTP.
#
#   bench/bft-load.sh [ACCOUNTS] [SECONDS] [BLOCK_TIME]
#
# Builds the release binary, writes a 4-validator testnet (`stratus node init --testnet 4`),
# starts the validators, then runs `stratus bench load` in its own process with the accounts
# spread over the four APIs: each account keeps one transfer in flight with ?wait=commit.
# Prints tx_per_s and p50/p99 submit→commit latency (until the answering validator has the
# block decided and durably committed). Run bench/node-load.sh for the solo baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
ACCOUNTS=${1:-2000}
SECONDS_=${2:-20}
BLOCK_TIME=${3:-1s}
BASE_PORT=${BASE_PORT:-60900}
cargo build --release --locked -q --bin stratus
B=target/release/stratus
HOME_DIR=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$HOME_DIR"' EXIT
$B --home "$HOME_DIR" node init --testnet 4 --base-port "$BASE_PORT" --block-time "$BLOCK_TIME" \
  --account loader=100000000000000uact >/dev/null
for i in 0 1 2 3; do
  $B node run --home "$HOME_DIR/v$i" >/dev/null 2>"$HOME_DIR/v$i.log" &
  PIDS+=($!)
done
NODES=$(for i in 0 1 2 3; do printf 'http://127.0.0.1:%d,' $((BASE_PORT + 2 * i + 1)); done)
NODES=${NODES%,}
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$((BASE_PORT + 1))/status" >/dev/null && break; sleep 0.2; done
echo "validators=4 block_time=$BLOCK_TIME cores=$(nproc)"
ulimit -n 65536 2>/dev/null || true
$B --home "$HOME_DIR/v0" --node "http://127.0.0.1:$((BASE_PORT + 1))" --from loader \
  bench load --accounts "$ACCOUNTS" --seconds "$SECONDS_" --nodes "$NODES"
