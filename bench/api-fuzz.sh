#!/usr/bin/env bash
# Property-test the node's HTTP API against its own OpenAPI document with schemathesis.
#
#   bench/api-fuzz.sh [MAX_EXAMPLES]     (default 30 per operation; `pip install schemathesis`)
#
# Starts a fresh single-node devnet (faucet on, 200 ms blocks) in a temporary home, then runs
# every schemathesis check: responses match their documented schemas and statuses, schema-valid
# requests are accepted, invalid ones are refused with a documented 4xx, nothing answers 5xx.
# Exits non-zero on any failure. Bounded: about a minute on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
MAX_EXAMPLES=${1:-30}
command -v schemathesis >/dev/null || { echo "schemathesis is not installed: pip install schemathesis" >&2; exit 2; }
cargo build --locked -q --bin stratus
B=target/debug/stratus
HOME_DIR=$(mktemp -d)
trap 'kill "$NODE_PID" 2>/dev/null || true; rm -rf "$HOME_DIR"' EXIT
$B --home "$HOME_DIR" node init --account alice=100000000000uact --faucet 1000000uact --block-time 200ms \
  --api-addr 127.0.0.1:0 >/dev/null
$B --home "$HOME_DIR" node run >"$HOME_DIR/ready" 2>"$HOME_DIR/node.log" &
NODE_PID=$!
for _ in $(seq 100); do grep -q http:// "$HOME_DIR/ready" 2>/dev/null && break; sleep 0.1; done
URL=$(grep -o 'http://[0-9.:]*' "$HOME_DIR/ready")
echo "node=$URL max_examples=$MAX_EXAMPLES"
export PYTHONPATH="$PWD/bench/schemathesis${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=stratus_hooks
CONFIG="$PWD/bench/schemathesis/schemathesis.toml"
# Its cache (.schemathesis/) goes into the temporary home, not the checkout.
cd "$HOME_DIR"
timeout 600 schemathesis --config-file "$CONFIG" run "$URL/openapi.json" \
  --max-examples "$MAX_EXAMPLES" --seed 1 --workers 1 --request-timeout 10 \
  --max-response-time 10 --no-color
