#!/usr/bin/env bash
# Cross-builds the release edge for 64-bit ARM (Raspberry Pi 3/4/5 with a 64-bit OS), with
# the viewer site built in, and checks that mozjpeg got its NEON SIMD and OpenH264 its
# AArch64 assembly. Run scripts/setup.sh first (it installs the cross compiler and qemu)
# and scripts/build.sh before: it builds the site (target/site), which is embedded here
# too. scripts/package.sh calls this for the arm64 .deb.
#
# The binary is left at $CARGO_TARGET_DIR/aarch64-unknown-linux-gnu/release/edge
# (CARGO_TARGET_DIR defaults to target/). Extra arguments go to cargo build, e.g.
# `scripts/build-arm64.sh --example encode-bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

TARGET=aarch64-unknown-linux-gnu
# Debian's cross toolchain (gcc-aarch64-linux-gnu) and its target root, where
# libc6-dev-arm64-cross and linux-libc-dev-arm64-cross put the headers and libraries.
CROSS=aarch64-linux-gnu
SYSROOT=/usr/$CROSS

# Rust links with the cross gcc; the C and C++ parts (mozjpeg, OpenH264, ring) are built
# by the cc crate, which reads CC_<target>/CXX_<target>/AR_<target>.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=$CROSS-gcc
export CC_aarch64_unknown_linux_gnu=$CROSS-gcc
export CXX_aarch64_unknown_linux_gnu=$CROSS-g++
export AR_aarch64_unknown_linux_gnu=$CROSS-ar
# The v4l crate generates its V4L2 bindings with bindgen (libclang): point clang at
# Debian's arm64 headers, which sit in $SYSROOT/include (not $SYSROOT/usr/include, where
# a sysroot alone would have clang look), so the bindings are arm64's, not the host's.
export BINDGEN_EXTRA_CLANG_ARGS_aarch64_unknown_linux_gnu="--sysroot=$SYSROOT -I$SYSROOT/include"
# The viewer site, built into the binary (edge/build.rs): the copy of dist/ that
# scripts/build.sh made for the amd64 binary (the site is the same for every
# architecture, and the same path keeps cargo from rebuilding when only Trunk's file
# times changed). Without it the binary would serve a "not built" page: refuse.
export MQCAM_SITE_DIR="${MQCAM_SITE_DIR:-$PWD/target/site}"
if [ ! -f "$MQCAM_SITE_DIR/index.html" ]; then
  echo "build-arm64: no viewer site at $MQCAM_SITE_DIR (run scripts/build.sh first)" >&2
  exit 1
fi

# The JSON messages name each build script's out dir: the checks below look in the one this
# build used (a build with other features, e.g. the benchmark's without SIMD, has its own).
msgs=$(mktemp)
trap 'rm -f "$msgs"' EXIT
cargo build --release --locked -p edge --target "$TARGET" --message-format=json-render-diagnostics "$@" >"$msgs"
out_dir() { # package name
  grep '"reason":"build-script-executed"' "$msgs" | grep "#$1@" | sed 's/.*"out_dir":"\([^"]*\)".*/\1/'
}

# Only a build without SIMD on purpose skips the checks (the encoder benchmark's).
case " $* " in
  *" --no-default-features "*) [[ " $* " == *simd* ]] || { echo "build-arm64: built without the simd feature (no checks)" >&2; exit 0; } ;;
esac

# mozjpeg-sys builds libjpeg-turbo's NEON code (C intrinsics plus jsimd_neon.S) for ARM,
# or jsimd_none.c when it decided it could not; then encoding is ~4x slower and nothing
# else says so. Its object files keep the source names.
moz=$(out_dir mozjpeg-sys)
neon=$(find "$moz" -name '*jsimd_neon*.o' | wc -l)
none=$(find "$moz" -name '*jsimd_none*.o' | wc -l)
if [ -z "$moz" ] || [ "$neon" -eq 0 ] || [ "$none" -ne 0 ]; then
  echo "build-arm64: FAILED: mozjpeg was built without its NEON SIMD (jsimd_neon objects: $neon, jsimd_none: $none, in '$moz')" >&2
  exit 1
fi
echo "build-arm64: mozjpeg has NEON SIMD ($(find "$moz" -name '*neon*.o' | wc -l) NEON objects)" >&2
# OpenH264 (RTSP cameras' H.264) has hand-written AArch64 NEON assembly (*_aarch64_neon.S),
# which openh264-sys2 assembles with the cross gcc for every non-Windows aarch64 build.
h264=$(find "$(out_dir openh264-sys2)" -name '*aarch64_neon*.o' | wc -l)
if [ "$h264" -eq 0 ]; then
  echo "build-arm64: FAILED: OpenH264 was built without its AArch64 NEON assembly" >&2
  exit 1
fi
echo "build-arm64: OpenH264 has its AArch64 NEON assembly ($h264 objects)" >&2
echo "build-arm64: built in ${CARGO_TARGET_DIR:-target}/$TARGET/release/" >&2
