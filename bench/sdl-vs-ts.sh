#!/usr/bin/env bash
# SDL throughput: Stratus vs the official Akash TS SDK on the same files, in the same run.
#
# Installs @akashnetwork/chain-sdk (npm) into bench/.work on first use, times its
# YAML load + validateSDL + generateManifest + generateManifestVersion per file, times
# `stratus bench sdl` (parse + validate + groups + manifest + version hash) on the same files,
# and prints sdl_speedup=<ours files/s / theirs> last.
#
# Usage: bench/sdl-vs-ts.sh [SECONDS] [FILES...]   (default: 5 s over ../shared/corpus/awesome-akash)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-5}"
shift || true
if [ "$#" -gt 0 ]; then files=("$@"); else files=(../shared/corpus/awesome-akash/*.yaml); fi

work=bench/.work
sdk_version=1.0.0-alpha.25
if [ ! -d "$work/node_modules/@akashnetwork/chain-sdk" ]; then
  mkdir -p "$work"
  (cd "$work" && echo '{"name":"stratus-bench","private":true}' >package.json && npm install --no-audit --no-fund --silent "@akashnetwork/chain-sdk@$sdk_version")
fi
cp bench/ts-sdl-bench.mjs "$work/"

cargo build --release --locked -q --bin stratus

echo "files: ${#files[@]}, ${seconds}s each"
ts_out=$(BENCH_SECONDS="$seconds" node "$work/ts-sdl-bench.mjs" "${files[@]}")
echo "ts_sdk($sdk_version): $ts_out" | tr '\n' ' '; echo
ours_out=$(./target/release/stratus bench sdl --seconds "$seconds" "${files[@]}")
echo "stratus: $ours_out" | tr '\n' ' '; echo
ts=$(echo "$ts_out" | sed -n 's/^files_per_s=//p')
ours=$(echo "$ours_out" | sed -n 's/^files_per_s=//p')
echo "sdl_speedup=$(awk -v a="$ours" -v b="$ts" 'BEGIN { printf "%.1f", a / b }')"
