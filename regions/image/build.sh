#!/usr/bin/env bash
# Builds the image meridian:local from this checkout, offline: a statically
# linked release build of `meridian` copied into a `FROM scratch` image.
# Nothing is pulled from any registry.
#
#   regions/image/build.sh             # builds meridian:local
#   MERIDIAN_IMAGE=meridian:dev regions/image/build.sh
#
# Honours CARGO_TARGET_DIR. The release build is incremental: after a code
# change only the changed crates and the link are redone. See docs/containers.md.
#
#   MERIDIAN_BINARY=target/debug/meridian regions/image/build.sh
#
# packages a `meridian` built already instead (CI makes its image from the
# binary its tests ran, so it builds no release profile for it). A binary
# that is not static brings its loader and the libraries it names, as ldd
# resolves them here, at the same paths: the image still holds nothing else.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

image="${MERIDIAN_IMAGE:-meridian:local}"
triple="$(rustc -vV | sed -n 's/^host: //p')"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac

command -v docker >/dev/null || { echo "build.sh: docker is not installed" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "build.sh: no Docker engine reachable (docker info failed)" >&2; exit 1; }

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/root"
started=$SECONDS
if [ -n "${MERIDIAN_BINARY:-}" ]; then
    bin="$MERIDIAN_BINARY"
    [ -x "$bin" ] || { echo "build.sh: MERIDIAN_BINARY=$bin is not an executable" >&2; exit 1; }
    if readelf -l "$bin" | grep -q 'INTERP'; then
        # Each library ldd resolves (and the loader, shown without "=>"),
        # copied with symlinks followed to where the binary looks for it.
        for lib in $(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
            mkdir -p "$ctx/root$(dirname "$lib")"
            cp -L "$lib" "$ctx/root$lib"
        done
    fi
else
    # --config adds crt-static to the project's own build.rustflags
    # (.cargo/config.toml) instead of replacing them, as RUSTFLAGS would.
    # An explicit --target keeps build scripts and proc macros dynamic and
    # puts the static artefacts in their own directory, beside the normal
    # builds.
    cargo build --release --locked -p meridian --target "$triple" \
        --config 'build.rustflags = ["-C", "target-feature=+crt-static"]'
    bin="$target_dir/$triple/release/meridian"
    # A scratch image has no loader: refuse a binary that needs one.
    if readelf -l "$bin" | grep -q 'INTERP'; then
        echo "build.sh: $bin asks for a dynamic loader; it is not static" >&2
        exit 1
    fi
fi
built=$SECONDS

# Debug line tables help backtraces but weigh more than the code; the image
# ships the stripped binary, the unstripped one stays in the target dir.
strip --strip-debug -o "$ctx/meridian" "$bin"
mkdir -p "$ctx/data" "$ctx/tmp" "$ctx/certs"
chmod 0755 "$ctx/data" "$ctx/certs"
chmod 1777 "$ctx/tmp"
cp "$root/regions/image/Dockerfile" "$ctx/Dockerfile"

# The legacy builder needs no buildx plugin and no base image.
DOCKER_BUILDKIT=0 docker build --quiet \
    --label "org.opencontainers.image.revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    --label "org.opencontainers.image.source=meridian" \
    -t "$image" "$ctx" >/dev/null

size="$(docker image inspect -f '{{.Size}}' "$image")"
echo "built $image: $((size / 1024 / 1024)) MiB ($size bytes); cargo $((built - started)) s, image $((SECONDS - built)) s"
