#!/usr/bin/env bash
# Builds the release edge binary and the release viewer site (dist/).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

cargo build --release --locked -p edge
# mozjpeg-sys quietly builds without SIMD when nasm was missing at its first build, and
# then encodes 5-9x slower. Its SIMD objects are named after the instruction sets.
if [ "$(uname -m)" = x86_64 ] && ! find target/release/build -path '*mozjpeg-sys-*/out/*' -name '*avx2*' | grep -q .; then
  echo "build: mozjpeg was built without SIMD (nasm missing then); rebuilding it" >&2
  cargo clean --release -p mozjpeg-sys
  cargo build --release --locked -p edge
fi
trunk build --release
# Compressed copies for browsers that accept them (the edge serves them; see site.rs).
node scripts/compress.mjs dist
