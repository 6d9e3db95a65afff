#!/usr/bin/env bash
# Builds the image meridian:local from this checkout, offline: a statically
# linked release build of `meridian` copied into a `FROM scratch` image.
# Nothing is pulled from any registry.
#
#   regions/image/build.sh             # builds meridian:local
#   MERIDIAN_IMAGE=meridian:dev regions/image/build.sh
#
#   regions/image/build.sh --build-only   # the static build alone, no image
#
# Honours CARGO_TARGET_DIR. The release build is incremental: after a code
# change only the changed crates and the link are redone. See docs/containers.md.
# CI starts the build alone early, beside its tests, and makes the image later.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

image="${MERIDIAN_IMAGE:-meridian:local}"
triple="$(rustc -vV | sed -n 's/^host: //p')"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac

build_only=""
case "${1:-}" in
    --build-only) build_only=yes ;;
    "") ;;
    *) echo "build.sh: unknown argument $1 (only --build-only)" >&2; exit 2 ;;
esac

[ -n "$build_only" ] || command -v docker >/dev/null || { echo "build.sh: docker is not installed" >&2; exit 1; }
[ -n "$build_only" ] || docker info >/dev/null 2>&1 || { echo "build.sh: no Docker engine reachable (docker info failed)" >&2; exit 1; }

# --config adds crt-static to the project's own build.rustflags
# (.cargo/config.toml) instead of replacing them, as RUSTFLAGS would.
# An explicit --target keeps build scripts and proc macros dynamic and puts
# the static artefacts in their own directory, beside the normal builds.
started=$SECONDS
cargo build --release --locked -p meridian --target "$triple" \
    --config 'build.rustflags = ["-C", "target-feature=+crt-static"]'
built=$SECONDS
bin="$target_dir/$triple/release/meridian"

# A scratch image has no loader: refuse a binary that needs one.
if readelf -l "$bin" | grep -q 'INTERP'; then
    echo "build.sh: $bin asks for a dynamic loader; it is not static" >&2
    exit 1
fi

if [ -n "$build_only" ]; then
    echo "built $bin (static); cargo $((built - started)) s"
    exit 0
fi

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
# Debug line tables help backtraces but weigh more than the code; the image
# ships the stripped binary, the unstripped one stays in the target dir.
strip --strip-debug -o "$ctx/meridian" "$bin"
mkdir -p "$ctx/data" "$ctx/tmp" "$ctx/certs"
chmod 0755 "$ctx/data" "$ctx/certs"
chmod 1777 "$ctx/tmp"
cp "$root/regions/image/Dockerfile" "$root/regions/image/one-box.toml" "$ctx/"

# The legacy builder needs no buildx plugin and no base image.
DOCKER_BUILDKIT=0 docker build --quiet \
    --label "org.opencontainers.image.revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    --label "org.opencontainers.image.source=meridian" \
    -t "$image" "$ctx" >/dev/null

size="$(docker image inspect -f '{{.Size}}' "$image")"
echo "built $image: $((size / 1024 / 1024)) MiB ($size bytes); cargo $((built - started)) s, image $((SECONDS - built)) s"
