#!/usr/bin/env bash
# Builds the console into console/dist (or the directory given): the SDL parser to WebAssembly
# (reproducibly: no debug info, machine paths remapped), then the TypeScript app with Vite.
# The `stratus` binary embeds console/dist; a test rebuilds it and checks it is byte-for-byte the
# same. Needs Node.js/npm and the wasm32-unknown-unknown Rust target.
set -euo pipefail
cd "$(dirname "$0")"
OUT=$(realpath -m "${1:-dist}")
ROOT=$(cd .. && pwd)
(cd "$ROOT" && CARGO_TARGET_DIR="$ROOT/target/wasm-release" CARGO_PROFILE_RELEASE_DEBUG=false \
  CARGO_PROFILE_RELEASE_STRIP=true \
  RUSTFLAGS="--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo --remap-path-prefix=$ROOT=/stratus" \
  cargo build --locked --release -q -p stratus-wasm --target wasm32-unknown-unknown)
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
npx tsc --noEmit
npx vite build --logLevel warn --outDir "$OUT" --emptyOutDir
cp "$ROOT/target/wasm-release/wasm32-unknown-unknown/release/stratus_wasm.wasm" "$OUT/sdl.wasm"
