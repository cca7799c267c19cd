#!/usr/bin/env bash
# Makes the Debian packages: target/debian/mqcam_VERSION_ARCH.deb for amd64 and arm64
# (Raspberry Pi OS 64-bit, Debian and Ubuntu on ARM boards), each one edge binary with
# the viewer site built in, the systemd service, the options file and the login helper.
#
#   scripts/package.sh                 build both, then package them
#   scripts/package.sh amd64           only this architecture (amd64, arm64)
#   scripts/package.sh --no-build ...  package the binaries already built (CI builds first)
#
# The amd64 binary is scripts/build.sh's, the arm64 one scripts/build-arm64.sh's
# (cross-compiled here). Prints what it made: package and binary sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

build=1
arches=()
for a in "$@"; do
  case "$a" in
    --no-build) build=0 ;;
    amd64|arm64) arches+=("$a") ;;
    *) echo "package: unknown argument $a (amd64, arm64, --no-build)" >&2; exit 2 ;;
  esac
done
[ ${#arches[@]} -gt 0 ] || arches=(amd64 arm64)

target="${CARGO_TARGET_DIR:-target}"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
out="$target/debian"
mkdir -p "$out"

binary_of() {
  case "$1" in
    amd64) echo "$target/release/edge" ;;
    arm64) echo "$target/aarch64-unknown-linux-gnu/release/edge" ;;
  esac
}
strip_of() {
  case "$1" in
    amd64) echo strip ;;
    arm64) echo aarch64-linux-gnu-strip ;;
  esac
}

if [ "$build" = 1 ]; then
  MQCAM_NO_BROWSER=${MQCAM_NO_BROWSER:-1} scripts/setup.sh
  # build.sh makes the site every binary carries (and the amd64 binary).
  scripts/build.sh
  [[ " ${arches[*]} " != *" arm64 "* ]] || scripts/build-arm64.sh
fi

rows=()
for arch in "${arches[@]}"; do
  bin=$(binary_of "$arch")
  [ -x "$bin" ] || { echo "package: no $arch binary at $bin (build it, or leave out --no-build)" >&2; exit 1; }
  # A binary without the site would serve a "not built" page from a directory the
  # package does not have.
  if ! grep -aqE "viewer-page-[0-9a-f]+_bg.wasm" "$bin"; then
    echo "package: $bin has no viewer site built in (build it with scripts/build.sh / build-arm64.sh)" >&2
    exit 1
  fi
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  install -d "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/mqcam" \
    "$root/usr/share/doc/mqcam/docs"
  "$(strip_of "$arch")" -o "$root/usr/bin/mqcam-edge" "$bin"
  chmod 755 "$root/usr/bin/mqcam-edge"
  install -m 755 packaging/mqcam-login "$root/usr/bin/mqcam-login"
  install -m 644 packaging/mqcam.service "$root/lib/systemd/system/mqcam.service"
  install -m 644 packaging/edge.toml "$root/etc/mqcam/edge.toml"
  install -m 644 README.md "$root/usr/share/doc/mqcam/README.md"
  install -m 644 docs/*.md "$root/usr/share/doc/mqcam/docs/"
  install -m 644 packaging/copyright "$root/usr/share/doc/mqcam/copyright"
  # A native package's changelog: this version, made now.
  printf 'mqcam (%s) unstable; urgency=medium\n\n  * Built from %s.\n\n -- mqcam maintainers <maintainers@users.noreply.github.com>  %s\n' \
    "$version" "$(git rev-parse --short HEAD 2>/dev/null || echo 'a source tree')" "$(date -R)" \
    | gzip -9n > "$root/usr/share/doc/mqcam/changelog.gz"
  install -d "$root/usr/share/lintian/overrides"
  install -m 644 packaging/lintian-overrides "$root/usr/share/lintian/overrides/mqcam"
  for script in postinst prerm postrm; do install -m 755 "packaging/deb/$script" "$root/DEBIAN/$script"; done
  echo /etc/mqcam/edge.toml > "$root/DEBIAN/conffiles"
  # The oldest glibc the binary works with: the newest symbol version it needs.
  glibc=$(readelf --version-info -W "$root/usr/bin/mqcam-edge" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
  size_kb=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
  cat > "$root/DEBIAN/control" <<CONTROL
Package: mqcam
Version: $version
Architecture: $arch
Maintainer: mqcam maintainers <maintainers@users.noreply.github.com>
Installed-Size: $size_kb
Depends: libc6 (>= $glibc), libgcc-s1, libstdc++6, passwd
Section: video
Priority: optional
Description: live camera video to any browser over MQTT
 A camera host's publisher: captures USB (V4L2), RTSP/H.264 and HTTP cameras,
 encodes JPEG, stamps each frame and publishes it over MQTT, newest frame first,
 to its embedded broker or any other. It serves its viewer (a WebAssembly page
 for phones and browsers, built in) with live latency and frame rates, records
 around events or all day, and plays recordings back on the same page. Runs as
 the service "mqcam"; \`sudo mqcam-login\` prints the viewer's link and QR code.
CONTROL
  (cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
  deb="$out/mqcam_${version}_${arch}.deb"
  dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
  rows+=("$(printf '| %s | %s | %s KB | %s KB | %s KB | glibc ≥ %s |' "$arch" "${deb##*/}" \
    "$(( $(stat -c %s "$deb") / 1024 ))" "$(( $(stat -c %s "$root/usr/bin/mqcam-edge") / 1024 ))" \
    "$(( $(stat -c %s "$bin") / 1024 ))" "$glibc")")
  rm -rf "$root"
  trap - EXIT
done

echo "| arch | package | .deb | binary (stripped) | binary (as built) | needs |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo "in $out/"
