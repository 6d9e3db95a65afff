#!/usr/bin/env bash
# One container, a whole cluster (docs/containers.md): `docker run
# meridian:local up` on a fresh named volume, every port it publishes a
# free one on 127.0.0.1, driven from the host with boto3 (.ci/one_box.py).
# Checks: every region's DynamoDB endpoint serving (the time from `docker
# run` printed; the target is under 2 s), Docker's health check healthy, a
# global table whose item written in eu-west-1 reaches the other two, a
# write in each region through the edge reaching the other two, the
# dashboard, the failover endpoint and the link proxy's API on their
# published ports, a crashed region reaped by PID 1 and named by the health
# check, then restarted; `docker stop` (SIGTERM) ending in exit 0 with
# every region shut down; a new container on the same volume reading the
# item back in every region; the image under 60 MB.
#
#   .ci/one-box.sh                        # meridian:local, built already
#   MERIDIAN_IMAGE=meridian:dev .ci/one-box.sh
#
# .ci/containers.sh runs it after its compose and Swarm steps.
set -euo pipefail
cd "$(dirname "$0")/.."

image="${MERIDIAN_IMAGE:-meridian:local}"
docker image inspect "$image" >/dev/null 2>&1 ||
    { echo "one-box.sh: image $image is missing; build it with regions/image/build.sh" >&2; exit 1; }
# boto3 from PyPI in its own venv, as .ci/smoke-up.sh makes it.
sdk_venv="${MERIDIAN_SDK_VENV:-${HOME}/.cache/meridian/sdk-venv}"
if ! "$sdk_venv/bin/python" -c "import boto3" 2>/dev/null; then
    python3 -m venv "$sdk_venv"
    "$sdk_venv/bin/pip" install --quiet "boto3>=1.34,<2" "pynamodb>=6,<7"
fi
work=$(mktemp -d)
box="meridian-ci-box-$$"
cleanup() {
    docker rm -f "$box" >/dev/null 2>&1 || true
    docker volume rm -f "$box" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
read -r p_edge p_dash p_failover p_east p_west p_ap p_api <<<"$(python3 -c '
import socket
socks = [socket.socket() for _ in range(7)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')"
box_run() {
    docker run -d --name "$box" --label "meridian.test=mt-$$-one-box" \
        -v "$box:/data" \
        -p "127.0.0.1:$p_edge:4566" -p "127.0.0.1:$p_dash:7180" -p "127.0.0.1:$p_failover:8100" \
        -p "127.0.0.1:$p_east:8101" -p "127.0.0.1:$p_west:8102" -p "127.0.0.1:$p_ap:8103" \
        -p "127.0.0.1:$p_api:8474" \
        "$image" up >/dev/null
}
box_logs() { docker logs "$box" 2>&1 | tail -"${1:-40}"; }
docker volume create --label "meridian.test=mt-$$-one-box" "$box" >/dev/null
t0=$(date +%s.%N)
box_run
serving_s=$("$sdk_venv/bin/python" .ci/one_box.py serving "$t0" "$p_east" "$p_west" "$p_ap") ||
    { box_logs; echo "one box: the regions never served" >&2; exit 1; }
echo "one box: every region serving ${serving_s} s after docker run (target: under 2 s)"
box_healthy() { [ "$(docker inspect -f '{{.State.Health.Status}}' "$box")" = healthy ]; }
box_poll() {
    local secs=$1 what=$2
    shift 2
    local end=$((SECONDS + secs))
    until "$@"; do
        [ "$SECONDS" -lt "$end" ] || { box_logs; echo "one box: $what: not within $secs s" >&2; exit 1; }
        sleep 0.2
    done
}
box_poll 20 "Docker's health check saying healthy" box_healthy
echo "one box: healthy $(python3 -c "import time; print(f'{time.time() - $t0:.2f}')") s after docker run"
"$sdk_venv/bin/python" .ci/one_box.py write "$p_east" "$p_west" "$p_ap" || { box_logs; exit 1; }
# One URL for every region: three clients on the edge's published port.
"$sdk_venv/bin/python" .ci/one_box.py edge "$p_edge" "$p_east" "$p_west" "$p_ap" || { box_logs; exit 1; }
# The dashboard on its published port, with three regions up.
box_dashboard() {
    python3 - "$p_dash" <<'PY' >"$work/box-dashboard" 2>&1
import json, sys, urllib.request
at = f"http://127.0.0.1:{sys.argv[1]}"
page = urllib.request.urlopen(at + "/", timeout=3).read().decode()
snap = json.load(urllib.request.urlopen(at + "/api/snapshot", timeout=3)) or {}
up = [r["name"] for r in snap.get("regions", []) if r.get("up")]
print(f"one box: dashboard shows regions up {up}")
sys.exit(0 if "<script" in page and len(up) == 3 else 1)
PY
}
box_poll 30 "the dashboard showing three regions up" box_dashboard
cat "$work/box-dashboard"
# The failover endpoint and the link proxy's control API answer from the host.
python3 - "$p_failover" "$p_api" <<'PY' || { box_logs; exit 1; }
import json, sys, urllib.request
failover, api = sys.argv[1], sys.argv[2]
req = urllib.request.Request(f"http://127.0.0.1:{failover}/", data=b"{}", headers={
    "X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0",
    "Authorization": "AWS4-HMAC-SHA256 Credential=meridian/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0"})
tables = json.load(urllib.request.urlopen(req, timeout=3))["TableNames"]
assert "onebox" in tables, tables
proxies = json.load(urllib.request.urlopen(f"http://127.0.0.1:{api}/proxies", timeout=3))
assert len(proxies) == 6, sorted(proxies)
print(f"one box: failover endpoint lists {tables}; control API lists {len(proxies)} link proxies")
PY
# PID 1 reaps a crashed region and its health check names it: crash one
# region through `meridian net` inside the container (no shell there, the
# binary is the tool), then restart it.
pid1=$(docker inspect -f '{{.State.Pid}}' "$box")
children() { ps -o stat= --ppid "$pid1"; }
[ "$(children | wc -l)" -eq 3 ] || { children; echo "one box: PID 1 should have 3 region processes" >&2; exit 1; }
docker exec "$box" /meridian net crash eu-west-1 >/dev/null
box_unhealthy_names() { ! docker exec "$box" /meridian health >"$work/box-health" 2>&1 && grep -q eu-west-1 "$work/box-health"; }
box_poll 10 "meridian health failing and naming the crashed eu-west-1" box_unhealthy_names
no_zombie() { ! children | grep -q '^Z'; }
box_poll 10 "no zombie left by the crashed region" no_zombie
docker exec "$box" /meridian net restart eu-west-1 >/dev/null
box_health() { docker exec "$box" /meridian health >/dev/null 2>&1; }
box_poll 20 "meridian health passing again after the restart" box_health
echo "one box: a crashed region was reaped, named by the health check, and restarted"
# SIGTERM: exit 0, every region stopped, data on the volume.
stop_started=$(date +%s.%N)
docker stop "$box" >/dev/null
stop_s=$(python3 -c "import time; print(f'{time.time() - $stop_started:.2f}')")
exit_code=$(docker inspect -f '{{.State.ExitCode}}' "$box")
docker logs "$box" >"$work/box-logs" 2>&1
[ "$exit_code" = 0 ] || { tail -40 "$work/box-logs"; echo "one box: exit code $exit_code after docker stop, not 0" >&2; exit 1; }
grep -q '^SIGTERM: stopping' "$work/box-logs" && grep -q '^stopping 3 regions' "$work/box-logs" &&
    grep -q '^all regions stopped' "$work/box-logs" ||
    { tail -40 "$work/box-logs"; echo "one box: the logs do not show the cluster stopping on SIGTERM" >&2; exit 1; }
# A region that outlives the grace is killed, with a warning: none may be.
! grep -q 'killing it' "$work/box-logs" ||
    { grep 'killing it' "$work/box-logs"; echo "one box: a region had to be killed on stop" >&2; exit 1; }
for r in us-east-1 eu-west-1 ap-southeast-1; do
    grep "^\[$r\]" "$work/box-logs" | grep -q 'shutting down' ||
        { tail -40 "$work/box-logs"; echo "one box: no 'shutting down' from $r in the logs" >&2; exit 1; }
done
echo "one box: docker stop took $stop_s s, exit 0, every region shut down"
# A new container on the same volume finds the item in every region.
docker rm "$box" >/dev/null
t0=$(date +%s.%N)
box_run
serving_s=$("$sdk_venv/bin/python" .ci/one_box.py serving "$t0" "$p_east" "$p_west" "$p_ap") ||
    { box_logs; echo "one box: the regions never served after the restart" >&2; exit 1; }
echo "one box: restarted on the same volume, every region serving ${serving_s} s after docker run"
"$sdk_venv/bin/python" .ci/one_box.py read "$p_east" "$p_west" "$p_ap" || { box_logs; exit 1; }
docker stop "$box" >/dev/null
# The image's size (a built artefact, not a timing): under 60 MB.
size=$(docker image inspect -f '{{.Size}}' "$image")
echo "one box: image $image is $size bytes"
[ "$size" -lt 60000000 ] || { echo "one box: the image is $size bytes, over 60 MB" >&2; exit 1; }

