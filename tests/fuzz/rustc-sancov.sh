#!/usr/bin/env bash
# RUSTC_WRAPPER for the fuzz build on the stable toolchain
# (docs/fuzzing.md): libFuzzer's coverage instrumentation
# (SanitizerCoverage, as cargo-fuzz asks for it, without a sanitizer) for
# Meridian's own crates and the fuzz targets, and none for the crates they
# depend on, which builds in a fraction of the time. Generic code of a
# dependency instantiated in Meridian's crates (prost's decoding of
# Meridian's messages, serde's of its types) is compiled there, and
# instrumented.
rustc=$1
shift
instrument=0
prev=
for a in "$@"; do
    if [ "$prev" = --crate-name ]; then
        case $a in
            meridian_* | replication_batch | item | dynamodb_request | expression | sigv4 | netsim_api) instrument=1 ;;
        esac
    fi
    prev=$a
done
if [ "$instrument" = 1 ]; then
    exec "$rustc" "$@" --cfg fuzzing -Cpasses=sancov-module \
        -Cllvm-args=-sanitizer-coverage-level=4 \
        -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
        -Cllvm-args=-sanitizer-coverage-pc-table \
        -Cllvm-args=-sanitizer-coverage-trace-compares \
        -Cdebug-assertions -Coverflow-checks
fi
exec "$rustc" "$@"
