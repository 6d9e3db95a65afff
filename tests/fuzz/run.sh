#!/usr/bin/env bash
# Runs the coverage-guided fuzz targets (libFuzzer through cargo-fuzz, on
# the nightly toolchain) for RUNS executions each, or SECONDS at most, and
# prints each target's last libFuzzer status line. docs/fuzzing.md.
#
#   tests/fuzz/run.sh RUNS [SECONDS] [TARGET...]
#
# Fails on the first target that crashes; its input is left in
# tests/fuzz/artifacts/<target>/. Corpora grow in $FUZZ_CORPUS (default
# ~/.cache/meridian/fuzz-corpus), seeded from tests/fuzz/seeds.
set -euo pipefail
cd "$(dirname "$0")"
runs=${1:?RUNS}
seconds=${2:-3600}
shift $(( $# >= 2 ? 2 : $# ))
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(item replication_batch expression sigv4 netsim_api dynamodb_request)
fi
corpus=${FUZZ_CORPUS:-$HOME/.cache/meridian/fuzz-corpus}
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$HOME/.cache/meridian/fuzz-target}
# Rust code is memory safe; without AddressSanitizer each execution is
# about three times cheaper, and panics are what the targets look for.
for t in "${targets[@]}"; do
    mkdir -p "$corpus/$t"
    start=$(date +%s)
    log=$(mktemp)
    if ! cargo +nightly fuzz run --sanitizer none -O --fuzz-dir . "$t" "$corpus/$t" "seeds/$t" -- \
        -runs="$runs" -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        tail -40 "$log"
        echo "fuzz target $t FAILED (input in tests/fuzz/artifacts/$t/)"
        exit 1
    fi
    done_line=$(grep -E "^#[0-9]+\s+DONE" "$log" | tail -1 || true)
    execs=$(grep -E "stat::number_of_executed_units" "$log" | awk '{print $2}')
    echo "$t: ${execs:-?} executions in $(( $(date +%s) - start )) s, no crash. ${done_line}"
    rm -f "$log"
done
