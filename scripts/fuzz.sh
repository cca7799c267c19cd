#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ for a fixed number of executions each.
# Not part of CI: a manual, long-running check (about 10 min per target on 2 cores).
#
#   scripts/fuzz.sh [RUNS] [TARGET...]     (default: 10000000 runs, every target)
#   FUZZ_RUNS=1000000 scripts/fuzz.sh       (same, by environment)
#   FUZZ_SANITIZER=none scripts/fuzz.sh     (if AddressSanitizer does not work)
#
# There is no nightly toolchain here: cargo fuzz passes -Z flags, which stable rustc
# accepts with RUSTC_BOOTSTRAP=1. Seeds in fuzz/seeds/<target>/ are copied into the
# (git-ignored) fuzz/corpus/<target>/, which keeps growing between runs. Crashes land
# in fuzz/artifacts/<target>/; the script stops at the first one.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"

runs="${1:-${FUZZ_RUNS:-10000000}}"
[[ $# -gt 0 ]] && shift
sanitizer="${FUZZ_SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    mapfile -t targets < <(cargo fuzz list)
fi

mkdir -p logs
summary=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    if [[ -d "seeds/$t" ]]; then
        cp -n "seeds/$t"/* "corpus/$t"/ 2>/dev/null || true
    fi
    log="logs/$t.log"
    echo "== $t: $runs runs, sanitizer $sanitizer, log fuzz/$log"
    start=$SECONDS
    # One process, one worker: this machine has 2 cores shared with other work.
    set +e
    cargo fuzz run --sanitizer "$sanitizer" "$t" "corpus/$t" -- \
        -runs="$runs" -print_final_stats=1 2>&1 | tee "$log" \
        | grep --line-buffered -E '^#[0-9]+[[:space:]]+(INITED|pulse|DONE)|panicked|ERROR|SUMMARY'
    status=${PIPESTATUS[0]}
    set -e
    secs=$((SECONDS - start))
    final="$(grep -E '^#[0-9]+\s+DONE' "$log" | tail -n1 || true)"
    if [[ $status -ne 0 || -z $final ]]; then
        echo "!! $t failed (exit $status) after ${secs}s; see fuzz/$log and fuzz/artifacts/$t/" >&2
        exit 1
    fi
    summary+=("$t (${secs}s): $final")
done

echo "== final libFuzzer stats"
printf '%s\n' "${summary[@]}"
