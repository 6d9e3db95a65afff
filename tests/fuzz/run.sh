#!/usr/bin/env bash
# Builds the coverage-guided fuzz targets on the stable toolchain
# (libFuzzer through libfuzzer-sys, SanitizerCoverage added by
# rustc-sancov.sh: no nightly, no cargo-fuzz) and runs each for RUNS
# executions, or SECONDS at most, printing per target the executions, the
# time and libFuzzer's coverage. docs/fuzzing.md.
#
#   tests/fuzz/run.sh RUNS [SECONDS] [TARGET...]
#   tests/fuzz/run.sh --build-only      # the build alone (CI starts it early)
#
# Every target in fuzz_targets/ runs unless some are named. A target that
# is not built, that runs no input, or that crashes fails the script; a
# crash leaves its input in tests/fuzz/artifacts/<target>/. Corpora grow
# in $FUZZ_CORPUS (default ~/.cache/meridian/fuzz-corpus), seeded from
# tests/fuzz/seeds.
set -euo pipefail
cd "$(dirname "$0")"
build_only=""
if [ "${1:-}" = --build-only ]; then
    build_only=yes
    set -- 0
fi
runs=${1:?RUNS}
seconds=${2:-3600}
shift $(($# >= 2 ? 2 : $#))
all=()
for f in fuzz_targets/*.rs; do
    all+=("$(basename "$f" .rs)")
done
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=("${all[@]}")
fi
corpus=${FUZZ_CORPUS:-$HOME/.cache/meridian/fuzz-corpus}
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$HOME/.cache/meridian/fuzz-target}
host=$(rustc -vV | sed -n 's/^host: //p')

start=$(date +%s)
# --target keeps the instrumentation off build scripts and proc macros.
# rustc-sancov.sh is the only wrapper: a workspace wrapper left in the
# environment (Clippy's, as .ci/run sets it) would reach it as rustc.
RUSTC_WRAPPER="$PWD/rustc-sancov.sh" env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS \
    cargo build --release --bins --target "$host"
echo "fuzz build: $(($(date +%s) - start)) s"
[ -z "$build_only" ] || exit 0

passed=0
for t in "${targets[@]}"; do
    bin="$CARGO_TARGET_DIR/$host/release/$t"
    if [ ! -x "$bin" ] || [ ! -d "seeds/$t" ]; then
        echo "fuzz target $t: FAILED, no binary at $bin or no seeds/$t" >&2
        exit 1
    fi
    mkdir -p "$corpus/$t" "artifacts/$t"
    log=$(mktemp)
    t0=$(date +%s%N)
    if ! "$bin" "$corpus/$t" "seeds/$t" -runs="$runs" -max_total_time="$seconds" \
        -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"$log" 2>&1; then
        tail -40 "$log"
        echo "fuzz target $t: FAILED (input in tests/fuzz/artifacts/$t/)" >&2
        exit 1
    fi
    ms=$((($(date +%s%N) - t0) / 1000000))
    execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 || true)
    corp=$(grep -oE 'corp: [0-9]+' "$log" | tail -1 || true)
    rm -f "$log"
    if [ -z "$execs" ] || [ "$execs" -eq 0 ]; then
        echo "fuzz target $t: FAILED, it ran no input" >&2
        exit 1
    fi
    echo "fuzz target $t: $execs executions in $((ms / 1000)).$(printf %03d $((ms % 1000))) s, ${cov:-cov: ?} edges, ${corp:-corp: ?} inputs kept, no crash"
    passed=$((passed + 1))
done
echo "fuzz targets: $passed passed, 0 failed (of ${#targets[@]}; $((${#all[@]} - ${#targets[@]})) not asked for)"
