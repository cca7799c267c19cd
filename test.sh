#!/usr/bin/env bash
# Installs what is missing and runs every test: formatting, lints, unit and integration
# tests, the arm64 cross-build under qemu, then the end-to-end tests in headless Chromium
# against the release site.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
source scripts/env.sh

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "format"
cargo fmt --all -- --check
step "lints (native and wasm32)"
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo clippy --locked -p wasm-viewer -p viewer-page -p viewer-engine -p wire --target wasm32-unknown-unknown -- -D warnings
# The edge without the embedded broker (a build for external brokers only).
cargo clippy --locked -p edge --no-default-features --features simd -- -D warnings
step "no import cycles between module files (scripts/cycles.py)"
python3 scripts/cycles.py edge/src edge/tests wasm-viewer/src wire/src
step "unit and integration tests"
cargo test --locked --workspace
# The RTSP test camera's own tests (an example with `test = false`: see edge/Cargo.toml).
cargo test --locked -p edge --example rtsp-camera
(cd consumer && "${MQCAM_VENV:-$HOME/.cache/mqcam/venv}/bin/python" -m unittest discover -s tests)
step "release build: edge and viewer site"
scripts/build.sh
# The Raspberry Pi build: cross-compiled (mozjpeg's NEON and OpenH264's AArch64 assembly
# checked), then run under qemu-user to a native MQTT client and to Chromium.
# MQCAM_NO_ARM64=1 skips both (and setup's cross toolchain).
if [ "${MQCAM_NO_ARM64:-0}" != 1 ]; then
  step "arm64 release build (scripts/build-arm64.sh) and its edge under qemu (tests/arm64.test.mjs)"
  scripts/build-arm64.sh
  (cd tests && node --test arm64.test.mjs)
fi
step "the Debian packages (scripts/package.sh)"
if [ "${MQCAM_NO_ARM64:-0}" != 1 ]; then
  scripts/package.sh --no-build amd64 arm64
else
  scripts/package.sh --no-build amd64
fi
step "end-to-end tests in headless Chromium"
(cd tests && node --test --test-concurrency=1 e2e.test.mjs grid.test.mjs consumer.test.mjs adapt.test.mjs robust.test.mjs doors.test.mjs rtsp.test.mjs playback.test.mjs package.test.mjs)
step "on a broker cluster: two RabbitMQ nodes (scripts/cluster.sh)"
(cd tests && node --test cluster.test.mjs)
step "the viewer in WebKit and Firefox (W3C WebDriver)"
(cd tests && node --test --test-concurrency=1 engines.test.mjs)
echo
echo "all tests passed"
