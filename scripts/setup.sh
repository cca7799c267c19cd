#!/usr/bin/env bash
# Installs whatever is missing to build, run and test this project, and nothing that is
# already there. Safe to run again; ./run.sh and ./test.sh call it first.
#
#   - Debian packages: nasm (mozjpeg's SIMD; without it encoding is 5-9x slower),
#     libclang-dev (the v4l crate generates its V4L2 bindings at build time),
#     mosquitto (edge/tests/mosquitto.rs runs the edge against a real external broker;
#     the tests start their own mosquitto process, never the system service),
#     mosquitto-clients (mosquitto_sub, a client that knows nothing of our frames),
#     openssl (the browser TLS test makes a CA with it),
#     rabbitmq-server (tests/cluster.test.mjs starts its own two-node cluster with
#     scripts/cluster.sh; the system service is neither used nor needed),
#     chromium, and for the viewer's tests in the other engines xvfb, webkit2gtk-driver
#     (WebKitGTK's MiniBrowser and WebDriver) and firefox-esr (browser tests only;
#     skipped with MQCAM_NO_BROWSER=1), and, for tests/rtsp.test.mjs, Debian's GStreamer
#     RTSP server with its Python bindings and the plugins of its H.264 test stream
#     (gir1.2-gst-rtsp-server-1.0, python3-gi, gstreamer1.0-plugins-base/-good/-ugly;
#     browser tests only too), and debootstrap, which makes the clean Debian root the
#     package test installs the .deb into
#   - for the arm64 (Raspberry Pi) build, scripts/build-arm64.sh: Debian's cross compilers
#     gcc-/g++-aarch64-linux-gnu (the linker, and C/C++ for mozjpeg, ring and OpenH264,
#     which is C++) with the arm64 C library and kernel headers (libc6-dev-arm64-cross,
#     linux-libc-dev-arm64-cross: v4l's bindgen reads <linux/videodev2.h>), and
#     qemu-user-static, which runs that binary here for its test and benchmark
#     (skipped with MQCAM_NO_ARM64=1)
#   - the wasm32-unknown-unknown Rust target, and aarch64-unknown-linux-gnu unless
#     MQCAM_NO_ARM64=1
#   - trunk 0.21.14 and wasm-bindgen-cli (the version pinned in wasm-viewer/Cargo.toml),
#     and geckodriver (Firefox's WebDriver) for the browser tests, built with cargo into
#     $MQCAM_TOOLS (default ~/.cache/mqcam/tools)
#   - wasm-opt from npm's binaryen 132 (Debian's wasm-opt 108 breaks the module)
#   - the browser tests' npm packages (tests/node_modules)
#   - the reference consumer's Python packages (paho-mqtt, OpenCV, numpy) in a virtualenv
#     ($MQCAM_VENV, default ~/.cache/mqcam/venv)
#
# Source scripts/env.sh afterwards to put the tools on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

TRUNK_VERSION=0.21.14
BINARYEN_VERSION=132.0.0
WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' wasm-viewer/Cargo.toml)

say() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

packages=(nasm libclang-dev)
# The CI test against a real external broker (edge/tests/mosquitto.rs starts its own), and
# mosquitto_sub, the client that knows nothing of our format (tests/consumer.test.mjs).
packages+=(mosquitto mosquitto-clients)
# The browser TLS test makes its CA and certificate with the openssl command.
packages+=(openssl)
# The broker-cluster tests: RabbitMQ with its MQTT and Web MQTT plugins (scripts/cluster.sh).
packages+=(rabbitmq-server)
[ "${MQCAM_NO_BROWSER:-0}" = 1 ] || packages+=(chromium xvfb webkit2gtk-driver firefox-esr)
# An RTSP/H.264 camera nobody here wrote, for tests/rtsp.test.mjs: Debian's GStreamer RTSP
# server driven from Python (tests/gst_rtsp_server.py, run with /usr/bin/python3, which
# has these bindings; a pyenv python3 does not). videotestsrc comes with -base,
# rtph264pay with -good, x264enc with -ugly; the GIR typelibs of GStreamer and GstRtsp
# come with gir1.2-gst-rtsp-server-1.0.
[ "${MQCAM_NO_BROWSER:-0}" = 1 ] || packages+=(gir1.2-gst-rtsp-server-1.0 python3-gi
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly)
# Recordings' exports are checked by a player nobody here wrote: ffprobe (edge/tests/record.rs).
packages+=(ffmpeg)
# The .deb is installed into a clean Debian root that debootstrap makes
# (tests/package.test.mjs, as root).
[ "${MQCAM_NO_BROWSER:-0}" = 1 ] || packages+=(debootstrap)
# The arm64 cross-build and its test under qemu (scripts/build-arm64.sh, tests/arm64.test.mjs).
[ "${MQCAM_NO_ARM64:-0}" = 1 ] || packages+=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu
  libc6-dev-arm64-cross linux-libc-dev-arm64-cross qemu-user-static)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown Rust target"
  rustup target add wasm32-unknown-unknown
fi
if [ "${MQCAM_NO_ARM64:-0}" != 1 ] && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  say "adding the aarch64-unknown-linux-gnu Rust target"
  rustup target add aarch64-unknown-linux-gnu
fi

# A debug build of these tools works the same for building and takes a quarter of the
# time of a release build (trunk: ~6 min instead of ~23 on 2 cores).
cargo_tool() { # crate version binary [--locked]
  local crate=$1 version=$2 bin=$3 locked=${4:-}
  if [ -x "$MQCAM_TOOLS/bin/$bin" ] && "$MQCAM_TOOLS/bin/$bin" --version 2>/dev/null | grep -q " $version"; then
    return
  fi
  say "building $crate $version (one time, a few minutes)"
  CARGO_PROFILE_DEV_DEBUG=0 cargo install --quiet --debug --force $locked --root "$MQCAM_TOOLS" "$crate" --version "$version"
}
cargo_tool trunk "$TRUNK_VERSION" trunk --locked
# Not --locked: its lockfile names a crate version the registry mirror lacks.
cargo_tool wasm-bindgen-cli "$WASM_BINDGEN_VERSION" wasm-bindgen
[ "${MQCAM_NO_BROWSER:-0}" = 1 ] || cargo_tool geckodriver 0.37.1 geckodriver --locked

if ! "$MQCAM_TOOLS/npm/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -q "version ${BINARYEN_VERSION%%.*}"; then
  say "installing wasm-opt (binaryen $BINARYEN_VERSION from npm)"
  npm install --silent --no-audit --no-fund --prefix "$MQCAM_TOOLS/npm" "binaryen@$BINARYEN_VERSION" >/dev/null
fi

if [ "${MQCAM_NO_BROWSER:-0}" != 1 ] && ! cmp -s tests/package-lock.json tests/node_modules/.package-lock.json; then
  say "installing the browser tests' npm packages"
  npm ci --silent --no-audit --no-fund --prefix tests >/dev/null
fi

# The reference consumer (consumer/: Python, OpenCV, paho-mqtt) in a virtualenv, installed
# the one way its README gives; its tests and the benchmark's Python peers run from it
# (the tests with PYTHONPATH=consumer, so they run this checkout's code).
VENV="${MQCAM_VENV:-$HOME/.cache/mqcam/venv}"
# prometheus-client: the reference parser the /metrics test reads the edge's output with.
if ! "$VENV/bin/python" -c 'import paho.mqtt, numpy, cv2, prometheus_client; cv2.HOGDescriptor; cv2.CascadeClassifier' 2>/dev/null; then
  say "installing the reference consumer and its Python packages into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check ./consumer prometheus-client
fi
