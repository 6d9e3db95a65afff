#!/usr/bin/env bash
# Regions as containers, in CI: builds meridian:local with the documented
# command, runs regions/compose.yaml and drives it from the host with
# regions/local-3.toml, then deploys regions/stack.yaml on a Docker Swarm
# through regions/stack.sh and drives it the same way (writes with boto3, a
# partition through the link proxy, a killed task Swarm restarts, a live
# drill), then runs a whole cluster in one container (.ci/one-box.sh),
# then the testcontainers tests
# (tests/containers/tests/containers.rs). Needs a Docker engine: here a
# missing engine or image is a failure, not a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/meridian/target}"
export CARGO_TERM_COLOR=never
# A failing test prints its panic's message and place, without a backtrace:
# what CI shows of a run is its beginning and its end, and a backtrace's
# tokio frames pushed the message out of that end (a test's message is what
# names the failure; RUST_BACKTRACE=1 locally for the frames).
export RUST_BACKTRACE=0

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
# The static build may have a target directory of its own
# (MERIDIAN_IMAGE_TARGET_DIR: .ci/run builds it beside the tests, and cargo
# locks a target directory for one build at a time).
image_target="${MERIDIAN_IMAGE_TARGET_DIR:-$CARGO_TARGET_DIR}"
CARGO_TARGET_DIR="$image_target" regions/image/build.sh
# The static binary the image was made from doubles as the host-side CLI.
meridian="$image_target/$(rustc -vV | sed -n 's/^host: //p')/release/meridian"

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
stack_up=""
cleanup() {
    dc down -v --remove-orphans >/dev/null 2>&1 || true
    # The Swarm step's stack, gateway and volumes, even when it failed.
    [ -z "$stack_up" ] || regions/stack.sh down -v || true
    rm -rf "$work"
}
trap cleanup EXIT
dc config -q
# The application-beside-it example validates too (docs/containers.md).
"${compose[@]}" -f regions/compose-app.yaml config -q
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
# The table reaches eu-west-1 by replication: put until it is there.
put=""
for _ in $(seq 1 100); do
    if m put --region eu-west-1 --table smoke --item '{"id": {"S": "a"}, "v": {"N": "1"}}' >"$work/put" 2>&1; then
        put=yes
        break
    fi
    sleep 0.1
done
[ -n "$put" ] || { cat "$work/put"; echo "eu-west-1 never took a put into the table made in us-east-1 (compose)" >&2; exit 1; }
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

echo "== swarm: regions/stack.yaml through regions/stack.sh, driven with regions/local-3.toml"
# The same host ports as compose, which is down by now. stack.sh starts a
# single-node swarm only when the engine is in none, and leaves only that.
export MERIDIAN_STACK="meridian-ci-$$" MERIDIAN_STACK_CERTS="$work/stack-certs" MERIDIAN_BIN="$meridian"
stack_up=yes
regions/stack.sh up
# boto3 from PyPI in its own venv, as .ci/smoke-up.sh makes it.
sdk_venv="${HOME}/.cache/meridian/sdk-venv"
if ! "$sdk_venv/bin/python" -c "import boto3" 2>/dev/null; then
    python3 -m venv "$sdk_venv"
    "$sdk_venv/bin/pip" install --quiet "boto3>=1.34,<2" "pynamodb>=6,<7"
fi
# `ddb PORT put FIRST COUNT` writes items n=FIRST.. through the DynamoDB
# endpoint on PORT; `ddb PORT count` prints how many items the table holds.
ddb() {
    "$sdk_venv/bin/python" - "$@" <<'PY'
import sys, boto3
port, cmd = sys.argv[1], sys.argv[2]
t = boto3.resource("dynamodb", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                   aws_access_key_id="meridian", aws_secret_access_key="meridian").Table("swarm")
if cmd == "put":
    first, count = int(sys.argv[3]), int(sys.argv[4])
    with t.batch_writer() as b:
        for n in range(first, first + count):
            b.put_item(Item={"id": f"k{n}", "n": n})
else:
    items, kw = 0, {}
    while True:
        page = t.scan(Select="COUNT", **kw)
        items += page["Count"]
        if "LastEvaluatedKey" not in page:
            break
        kw = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    print(items)
PY
}
# `poll SECONDS WHAT cmd...`: cmd until it succeeds, or fail naming WHAT.
poll() {
    local secs=$1 what=$2
    shift 2
    local end=$((SECONDS + secs))
    until "$@"; do
        [ "$SECONDS" -lt "$end" ] || { m status || true; echo "swarm: $what: not within $secs s" >&2; exit 1; }
        sleep 0.3
    done
}
count_is() { [ "$(ddb "$1" count 2>/dev/null)" = "$2" ]; }
# The pending count on one directed link, from `meridian net show --json`.
pending() {
    m net show --json | python3 -c 'import json, sys
for l in json.load(sys.stdin)["links"]:
    if l["from"] == sys.argv[1] and l["to"] == sys.argv[2]:
        print(l["pending"] if l["pending"] is not None else -1)' "$1" "$2"
}
pending_over() { local p; p=$(pending "$1" "$2") && [ "${p:--1}" -gt "$3" ]; }
pending_is() { local p; p=$(pending "$1" "$2") && [ "$p" = "$3" ]; }
m table create --region us-east-1 --name swarm --partition-key id:S >/dev/null
ddb 8101 put 0 50
poll 30 "50 items written in us-east-1 read in ap-southeast-1" count_is 8103 50
m net partition us-east-1 eu-west-1 --both
ddb 8101 put 50 50
poll 30 "pending climbing on us-east-1 > eu-west-1 under a partition" pending_over us-east-1 eu-west-1 0
m net show
m net heal
poll 60 "eu-west-1 holding all 100 items after the heal" count_is 8102 100
poll 30 "pending back to 0 on us-east-1 > eu-west-1" pending_is us-east-1 eu-west-1 0
m net show
# Swarm restarts a killed region's task on the same node and volume.
task() { docker ps -q --filter "label=com.docker.swarm.service.name=${MERIDIAN_STACK}_$1"; }
killed=$(task ap-southeast-1)
[ -n "$killed" ] || { echo "swarm: no running task of ap-southeast-1" >&2; exit 1; }
docker kill "$killed" >/dev/null
killed_at=$SECONDS
replaced() { local now; now=$(task ap-southeast-1); [ -n "$now" ] && [ "$now" != "$killed" ]; }
poll 60 "Swarm starting a new ap-southeast-1 task" replaced
poll 60 "the restarted ap-southeast-1 serving every item" count_is 8103 100
echo "swarm: ap-southeast-1 killed, restarted by Swarm and serving all 100 items after $((SECONDS - killed_at)) s"
m status
# A live drill against the stack (docs/containers.md): outage-recovery's
# crash and restart become docker kill + scale to 0 and back, its latencies
# go on the stack's proxy, and the checks read the stores copied out of the
# paused tasks. A checker failure exits non-zero.
"$meridian" drill run simulations/outage-recovery.toml --cluster regions/local-3.toml \
    --stack "$MERIDIAN_STACK" --out "$work/drill" --quiet
regions/stack.sh down -v
stack_up=""

echo "== one container: meridian:local up, through .ci/one-box.sh"
# After compose and Swarm are down; it publishes free ports only anyway.
MERIDIAN_SDK_VENV="$sdk_venv" .ci/one-box.sh

echo "== the Python library's container class on the image (.ci/python.sh)"
# services/python's MeridianContainer (testcontainers) against the same
# image; its tests are skipped unless MERIDIAN_IMAGE names it.
# A skip here would mean the image was never run: it fails the step. This
# machine runs inside a container with a Docker engine of its own, where
# testcontainers would guess the bridge's gateway as the host; published
# ports are on loopback here, which its two settings say (docs/python.md).
TESTCONTAINERS_CONNECTION_MODE=docker_host TC_HOST=127.0.0.1 \
    MERIDIAN_IMAGE="${MERIDIAN_IMAGE:-meridian:local}" bash .ci/python.sh tests/test_container.py -rs \
    2>&1 | tee "$work/python-container.log"
if grep -q "skipped" "$work/python-container.log"; then
    echo "the Python library's container tests were skipped: the image did not run" >&2
    exit 1
fi

echo "== container tests (testcontainers)"
# --workspace resolves features as `cargo test --workspace` does, so the test
# binary .ci/run has just built is reused, not rebuilt with other features.
MERIDIAN_REQUIRE_DOCKER=1 cargo test --workspace --locked --test containers -- --nocapture
