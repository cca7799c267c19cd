#!/usr/bin/env bash
# Builds the release viewer site (dist/) and then the release edge binary with that site
# built into it (edge/build.rs reads MQCAM_SITE_DIR): target/release/edge is then all a
# camera host needs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

trunk build --release
# Compressed copies for browsers that accept them (the edge serves them; see site.rs).
node scripts/compress.mjs dist

# Trunk and compress.mjs rewrite every file of dist/ each time; the edge is rebuilt only
# when the site's content changed, from a copy that takes changed files only.
site=target/site
mkdir -p "$site"
for f in dist/*; do cmp -s "$f" "$site/${f##*/}" || cp "$f" "$site/"; done
for f in "$site"/*; do [ -e "dist/${f##*/}" ] || rm "$f"; done
export MQCAM_SITE_DIR="$PWD/$site"
cargo build --release --locked -p edge
# mozjpeg-sys quietly builds without SIMD when nasm was missing at its first build, and
# then encodes 5-9x slower. Its SIMD objects are named after the instruction sets.
if [ "$(uname -m)" = x86_64 ] && ! find "${CARGO_TARGET_DIR:-target}/release/build" -path '*mozjpeg-sys-*/out/*' -name '*avx2*' | grep -q .; then
  echo "build: mozjpeg was built without SIMD (nasm missing then); rebuilding it" >&2
  cargo clean --release -p mozjpeg-sys
  cargo build --release --locked -p edge
fi
