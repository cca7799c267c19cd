#!/usr/bin/env bash
# Runs the whole system on this machine, side by side with the seed pipeline, and writes
# BENCHMARKS.md (the tables are printed too). Takes about 5 minutes after the builds.
# `BENCH_ONLY=rtsp node tests/bench.mjs` (after these builds) prints only the RTSP
# cameras' section and its targets, and leaves BENCHMARKS.md alone; `BENCH_ONLY=arm64`
# the arm64 build's SIMD proof and binary sizes (it builds what it needs); `BENCH_ONLY=fanout`
# many native viewers of the edge, its TLS and Mosquitto beside examples/floor (the kernel's cost).
# Installs what it needs: everything ./test.sh needs, plus Debian's Mosquitto and the
# seed's Python packages (in a virtualenv under ~/.cache/mqcam).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
source scripts/env.sh

if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
  echo "bench: installing Debian's mosquitto" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends mosquitto >/dev/null
fi
# The package starts a system broker on 1883; the benchmark starts its own on free ports.
export PATH="$PATH:/usr/sbin"

# scripts/setup.sh made the virtualenv with the seed's packages (paho-mqtt, OpenCV, numpy).
VENV="${MQCAM_VENV:-$HOME/.cache/mqcam/venv}"

scripts/build.sh
# The same site as build.sh's, so that building the examples does not rebuild the edge
# without it (and build.sh's next run with it).
export MQCAM_SITE_DIR="$PWD/target/site"
# The fan-out readers, and the floor they are compared with (BENCH_ONLY=fanout).
cargo build --release --locked -p wasm-viewer --example fanout --example floor
# The RTSP rows: our H.264 test camera, and the pipeline benchmark's decode timing
# (built here so that its compile is not inside the measurement).
cargo build --release --locked -p edge --example rtsp-camera --example record-bench
cargo bench --locked --no-run -p edge --bench pipeline
BENCH_PYTHON="$VENV/bin/python" node tests/bench.mjs
