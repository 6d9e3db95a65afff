#!/usr/bin/env bash
# Regions as containers, in CI: builds meridian:local with the documented
# command, runs regions/compose.yaml and drives it from the host with
# regions/local-3.toml, then runs the testcontainers tests
# (tests/tests/containers.rs). Needs a Docker engine: here a missing engine
# or image is a failure, not a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/meridian/target}"
export CARGO_TERM_COLOR=never
export RUST_BACKTRACE=1

docker info >/dev/null 2>&1 || { echo "containers.sh: no Docker engine reachable" >&2; exit 1; }

# Remove what earlier container tests left behind if they were killed. Only
# resources whose test process is gone: the label is mt-<pid>-<test>.
sweep() {
    local kind ids
    for kind in container network volume; do
        case "$kind" in
            container) ids=$(docker ps -a --filter label=meridian.test --format '{{.ID}} {{.Label "meridian.test"}}') ;;
            network) ids=$(docker network ls --filter label=meridian.test --format '{{.ID}} {{.Label "meridian.test"}}') ;;
            volume) ids=$(docker volume ls --filter label=meridian.test --format '{{.Name}} {{.Label "meridian.test"}}') ;;
        esac
        while read -r id owner; do
            [ -n "$id" ] || continue
            pid=$(echo "$owner" | cut -d- -f2)
            if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
                case "$kind" in
                    container) docker rm -f "$id" >/dev/null ;;
                    network) docker network rm "$id" >/dev/null ;;
                    volume) docker volume rm -f "$id" >/dev/null ;;
                esac
            fi
        done <<<"$ids"
    done
}
sweep

echo "== image: regions/image/build.sh"
regions/image/build.sh
# The static binary the image was made from doubles as the host-side CLI.
meridian="$CARGO_TARGET_DIR/$(rustc -vV | sed -n 's/^host: //p')/release/meridian"

# Publishes the ports of regions/local-3.toml on 127.0.0.1, so nothing else
# (`meridian up`, another compose project) may hold them meanwhile.
echo "== compose: regions/compose.yaml, driven with regions/local-3.toml"
# CI installs what it needs: docker-compose comes from Debian when neither
# form is present.
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq docker-compose >/dev/null || true
fi
if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
    compose=(docker-compose)
else
    echo "containers.sh: neither 'docker compose' nor docker-compose is installed" >&2
    exit 1
fi
project="meridian-ci-$$"
dc() { "${compose[@]}" -p "$project" -f regions/compose.yaml "$@"; }
work=$(mktemp -d)
cleanup() {
    dc down -v --remove-orphans >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
dc config -q
dc up -d
m() { MERIDIAN_CONFIG=regions/local-3.toml "$meridian" "$@"; }
up=""
for _ in $(seq 1 100); do
    if m status >"$work/status" 2>&1 && ! grep -q ' down ' "$work/status"; then
        up=yes
        break
    fi
    sleep 0.3
done
[ -n "$up" ] || { cat "$work/status"; dc logs --tail 30; echo "compose regions did not come up" >&2; exit 1; }
m table create --region us-east-1 --name smoke --partition-key id:S >/dev/null
m put --region eu-west-1 --table smoke --item '{"id": {"S": "a"}, "v": {"N": "1"}}' >/dev/null
found=""
for _ in $(seq 1 100); do
    if m get --region ap-southeast-1 --table smoke --key '{"id": {"S": "a"}}' >"$work/get" 2>&1 &&
        grep -q '"v"' "$work/get"; then
        found=yes
        break
    fi
    sleep 0.1
done
[ -n "$found" ] || { m status; echo "a write in eu-west-1 never reached ap-southeast-1 in compose" >&2; exit 1; }
m status
# The dashboard's container: its page, and a sample with three regions up.
dashboard_up() {
    python3 -c '
import json, sys, urllib.request
at = "http://127.0.0.1:7180"
page = urllib.request.urlopen(at + "/", timeout=3).read().decode()
snap = json.load(urllib.request.urlopen(at + "/api/snapshot", timeout=3)) or {}
up = [r["name"] for r in snap.get("regions", []) if r.get("up")]
print(f"dashboard: regions up {up}")
sys.exit(0 if "<script" in page and len(up) == 3 else 1)' >"$work/dashboard" 2>&1
}
shown=""
for _ in $(seq 1 100); do
    if dashboard_up; then shown=yes; break; fi
    sleep 0.3
done
[ -n "$shown" ] || { cat "$work/dashboard"; dc logs --tail 30 dashboard; echo "compose's dashboard never showed three regions up on 127.0.0.1:7180" >&2; exit 1; }
cat "$work/dashboard"
dc down -v >/dev/null 2>&1

echo "== container tests (testcontainers)"
# --workspace resolves features as `cargo test --workspace` does, so the test
# binary .ci/run has just built is reused, not rebuilt with other features.
MERIDIAN_REQUIRE_DOCKER=1 cargo test --workspace --locked --test containers -- --nocapture
