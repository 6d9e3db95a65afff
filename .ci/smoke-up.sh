#!/usr/bin/env bash
# Starts the default three-region cluster the way the README says, writes in
# one region, reads it back from another, and stops everything with SIGINT.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'kill -INT "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

# The binary the README's test command built for the CLI's tests: in CI
# that command ran just before, so nothing is built again. (`cargo build -p
# meridian` resolves features for that one package, unlike the workspace's
# test build, and recompiled about a hundred crates.)
cargo test --workspace --locked --no-run
bin="${CARGO_TARGET_DIR:-target}/debug/meridian"
cfg="$work/local-3.toml"
sed "s#^data_dir = .*#data_dir = \"$work/data\"#" regions/local-3.toml > "$cfg"

"$bin" up --config "$cfg" > "$work/up.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
    grep -q "regions up" "$work/up.log" && break
    sleep 0.2
done
grep -q "regions up" "$work/up.log" || { cat "$work/up.log"; echo "meridian up did not start" >&2; exit 1; }

m() { MERIDIAN_CONFIG="$cfg" "$bin" "$@"; }

# `cmd | has PATTERN`: whether cmd printed PATTERN. It reads everything, so
# cmd never meets a closed pipe (as with `grep -q`), which pipefail would
# turn into a failure of the check.
has() { grep -c -e "$1" >/dev/null; }

# The dashboard (docs/dashboard.md): `up` prints its URL; the page and one
# JSON endpoint answer, the snapshot naming all three regions.
dash=""
for _ in $(seq 1 100); do
    dash=$(sed -n 's#^Dashboard: \(http://[^/]*\)/.*#\1#p' "$work/up.log" | head -n 1)
    [ -n "$dash" ] && break
    sleep 0.1
done
[ -n "$dash" ] || { cat "$work/up.log"; echo "meridian up printed no dashboard URL" >&2; exit 1; }
curl -fsS "$dash/" | has "<title>Meridian dashboard</title>" \
    || { echo "the dashboard page did not load from $dash" >&2; exit 1; }
dashboard_ok=""
for _ in $(seq 1 100); do
    if curl -fsS "$dash/api/snapshot" | python3 -c '
import json, sys
s = json.load(sys.stdin)
sys.exit(0 if s and sorted(r["name"] for r in s["regions"] if r["up"]) == ["ap-southeast-1", "eu-west-1", "us-east-1"]
         and (s.get("failover") or {}).get("home") == "us-east-1" else 1)'; then
        dashboard_ok=yes
        break
    fi
    sleep 0.1
done
[ -n "$dashboard_ok" ] || { curl -sS "$dash/api/snapshot"; echo "the dashboard's snapshot does not show three regions up" >&2; exit 1; }
echo "smoke: dashboard ok"
m table create --region us-east-1 --name smoke --partition-key id:S >/dev/null
m put --region us-east-1 --table smoke --item '{"id": {"S": "a"}, "v": {"N": "1"}}' >/dev/null
found=""
for _ in $(seq 1 100); do
    if m get --region ap-southeast-1 --table smoke --key '{"id": {"S": "a"}}' 2>/dev/null | has '"v"'; then
        found=yes
        break
    fi
    sleep 0.1
done
[ -n "$found" ] || { m status; echo "the write never reached ap-southeast-1" >&2; exit 1; }
m status

# A CLI piped into a reader that has gone (`head`, `grep -q`) ends quietly:
# `true` exits before status has asked any region, so its first line
# already meets the closed pipe.
# Its status is SIGPIPE's (141), or 0 when it wrote before `true` left;
# stderr stays empty.
code=0
m status 2>"$work/pipe.err" | true || code=${PIPESTATUS[0]}
if [ -s "$work/pipe.err" ] || { [ "$code" != 0 ] && [ "$code" != 141 ]; }; then
    cat "$work/pipe.err"; echo "meridian status did not end quietly on a closed pipe (status $code)" >&2; exit 1
fi

# Crash and restart through the link proxy's control API, as docs/netsim.md
# shows: the region comes back on its data directory and serves its items.
m net crash ap-southeast-1 | has "crashed ap-southeast-1" \
    || { echo "meridian net crash did not crash ap-southeast-1" >&2; exit 1; }
m net restart ap-southeast-1 | has "restarted ap-southeast-1" \
    || { echo "meridian net restart did not bring ap-southeast-1 back" >&2; exit 1; }
m get --region ap-southeast-1 --table smoke --key '{"id": {"S": "a"}}' | has '"v"' \
    || { echo "the restarted ap-southeast-1 lost the item" >&2; exit 1; }
echo "smoke: crash and restart ok"
# A crashed region's disk wiped with `meridian net wipe` (docs/netsim.md):
# refused while it runs, then it restarts empty and seeds itself from a peer.
m net wipe ap-southeast-1 >/dev/null 2>&1 && { echo "meridian net wipe wiped a running region" >&2; exit 1; }
m net crash ap-southeast-1 >/dev/null
m net wipe ap-southeast-1 | has "wiped ap-southeast-1" \
    || { echo "meridian net wipe did not wipe the crashed ap-southeast-1" >&2; exit 1; }
m net restart ap-southeast-1 >/dev/null
seeded=""
for _ in $(seq 1 150); do
    if m get --region ap-southeast-1 --table smoke --key '{"id": {"S": "a"}}' 2>/dev/null | has '"v"'; then seeded=yes; break; fi
    sleep 0.2
done
[ -n "$seeded" ] || { m status; echo "the wiped ap-southeast-1 never got the item back from a peer" >&2; exit 1; }
echo "smoke: wipe ok"
# The Prometheus configuration shipped for this cluster is what the command prints.
"$bin" metrics scrape-config --config regions/local-3.toml | diff - regions/prometheus/local-3.yml \
    || { echo "regions/prometheus/local-3.yml differs from meridian metrics scrape-config" >&2; exit 1; }

# A STRONG table through the CLI, as docs/strong.md shows: two replicas and
# a witness, the mode in describe, each member in status, a write in one
# replica read strongly consistently in the other.
m table create --region us-east-1 --name accounts --partition-key id:S \
    --consistency strong --replicas us-east-1,eu-west-1 --witness ap-southeast-1 >/dev/null
m table describe --region eu-west-1 --name accounts | has '"MultiRegionConsistency": "STRONG"' \
    || { echo "meridian table describe does not show the STRONG mode" >&2; exit 1; }
written=""
for _ in $(seq 1 100); do
    if m put --region us-east-1 --table accounts --item '{"id": {"S": "a"}, "v": {"N": "7"}}' >/dev/null 2>&1; then
        written=yes
        break
    fi
    sleep 0.2
done
[ -n "$written" ] || { m status; echo "the STRONG table never took a write" >&2; exit 1; }
m get --region eu-west-1 --table accounts --key '{"id": {"S": "a"}}' --consistent | has '"7"' \
    || { echo "a strongly consistent read in eu-west-1 missed the write" >&2; exit 1; }
m status | has "STRONG table accounts: witness" \
    || { m status; echo "meridian status does not show ap-southeast-1 as the witness" >&2; exit 1; }
echo "smoke: STRONG table through the CLI ok"

# A fault that heals itself (docs/netsim.md): the link proxy ends it when
# its time is up, with no command run in between.
m net partition us-east-1 eu-west-1 --both --for 2s | has "the link proxy ends it then" \
    || { echo "meridian net partition --for was not taken" >&2; exit 1; }
m net show | has "blackhole (ends in" \
    || { m net show; echo "meridian net show does not say when the partition ends" >&2; exit 1; }
healed=""
for _ in $(seq 1 100); do
    if ! m net show | has "blackhole"; then healed=yes; break; fi
    sleep 0.1
done
[ -n "$healed" ] || { m net show; echo "the partition given 2s never ended by itself" >&2; exit 1; }
echo "smoke: a fault that heals itself ok"

# FIS's pause-replication, one table at one replica (docs/netsim.md): a write
# in eu-west-1 stays there while the pause lasts, and arrives once it ends.
m net pause-replication smoke eu-west-1 3s | has "paused replication of smoke" \
    || { echo "meridian net pause-replication was not taken" >&2; exit 1; }
m net pause-replication nope eu-west-1 3s >/dev/null 2>&1 \
    && { echo "meridian net pause-replication paused a table eu-west-1 does not hold" >&2; exit 1; }
m put --region eu-west-1 --table smoke --item '{"id": {"S": "paused"}}' >/dev/null
m get --region us-east-1 --table smoke --key '{"id": {"S": "paused"}}' 2>/dev/null | has '"paused"' \
    && { echo "a write crossed out of a paused replica at once" >&2; exit 1; }
arrived=""
for _ in $(seq 1 200); do
    if m get --region us-east-1 --table smoke --key '{"id": {"S": "paused"}}' 2>/dev/null | has '"paused"'; then
        arrived=yes; break
    fi
    sleep 0.1
done
[ -n "$arrived" ] || { m status; echo "the paused write never arrived after the pause" >&2; exit 1; }
echo "smoke: pause-replication ok"

# Backups and point-in-time recovery through the CLI: the restored tables
# reach the other regions like any table.
id=$(m backup create --region us-east-1 --table smoke --name smoke-1 \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["BackupId"])')
m backup list --region us-east-1 | has "$id" || { echo "backup $id is not listed" >&2; exit 1; }
m backup restore --region us-east-1 --id "$id" --to smoke-restored --wait >/dev/null
m backup recovery --region us-east-1 --table smoke --days 1 | has ENABLED \
    || { echo "point-in-time recovery did not turn on" >&2; exit 1; }
m restore --region us-east-1 --table smoke --to smoke-latest --at latest --wait >/dev/null
for t in smoke-restored smoke-latest; do
    found=""
    for _ in $(seq 1 100); do
        if m get --region eu-west-1 --table "$t" --key '{"id": {"S": "a"}}' 2>/dev/null | has '"v"'; then
            found=yes
            break
        fi
        sleep 0.1
    done
    [ -n "$found" ] || { echo "the restored table $t never reached eu-west-1" >&2; exit 1; }
done
echo "smoke: backup and restore ok"

# The cluster file's alarm, as docs/drills.md shows it: `meridian up`
# evaluates it, `meridian alarms` lists it with its state, and once writes
# have replicated and a period has ended, the state is OK (a replicated
# write took far less than 5 s). The JSON is what the control API serves.
alarm_ok=""
for _ in $(seq 1 150); do
    if m alarms --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
[a] = d["alarms"]
assert a["name"] == "replication-lag" and a["metric"] == "ReplicationLatency", a
assert a["threshold"] == 5000 and a["since_ms"] > 0, a
sys.exit(0 if a["state"] == "OK" and a["value"] is not None else 1)'; then
        alarm_ok=yes
        break
    fi
    sleep 0.2
done
[ -n "$alarm_ok" ] || { m alarms; echo "meridian alarms never showed replication-lag OK" >&2; exit 1; }
m alarms | has "^replication-lag  OK " \
    || { m alarms; echo "meridian alarms does not list replication-lag OK" >&2; exit 1; }
curl -fsS "$dash/api/snapshot" | python3 -c '
import json, sys
s = json.load(sys.stdin)
sys.exit(0 if [a["name"] for a in s["alarms"]["alarms"]] == ["replication-lag"] else 1)' \
    || { echo "the dashboard's snapshot does not carry the alarm" >&2; exit 1; }
echo "smoke: alarms ok"

# The real AWS CLI, from PyPI, against two regions' DynamoDB endpoints.
venv="${HOME}/.cache/meridian/awscli-venv"
if [ ! -x "$venv/bin/aws" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "awscli>=1.40,<2"
fi
export AWS_ACCESS_KEY_ID=meridian AWS_SECRET_ACCESS_KEY=meridian AWS_DEFAULT_REGION=us-east-1
aws_at() { local port=$1; shift; "$venv/bin/aws" dynamodb --endpoint-url "http://127.0.0.1:$port" --output json "$@"; }
aws_at 8101 create-table --table-name music \
    --attribute-definitions AttributeName=artist,AttributeType=S AttributeName=song,AttributeType=S \
    --key-schema AttributeName=artist,KeyType=HASH AttributeName=song,KeyType=RANGE \
    --billing-mode PAY_PER_REQUEST >/dev/null
# As in DynamoDB, the table lives in us-east-1 alone until replicas are added.
absent=$(aws_at 8102 describe-table --table-name music 2>&1 || true)
has ResourceNotFoundException <<<"$absent" \
    || { echo "eu-west-1 describes a table that has no replica there: $absent" >&2; exit 1; }
aws_at 8101 update-table --table-name music --replica-updates \
    '[{"Create": {"RegionName": "eu-west-1"}}, {"Create": {"RegionName": "ap-southeast-1"}}]' >/dev/null
aws_at 8101 put-item --table-name music --item '{"artist": {"S": "A"}, "song": {"S": "s1"}, "year": {"N": "1999"}}'
found=""
for _ in $(seq 1 100); do
    if aws_at 8102 get-item --table-name music --key '{"artist": {"S": "A"}, "song": {"S": "s1"}}' 2>/dev/null | has '"1999"'; then
        found=yes
        break
    fi
    sleep 0.1
done
[ -n "$found" ] || { echo "the AWS CLI write never reached eu-west-1" >&2; exit 1; }
aws_at 8102 query --table-name music --key-condition-expression "artist = :a" \
    --expression-attribute-values '{":a": {"S": "A"}}' | has '"Count": 1' \
    || { echo "AWS CLI query in eu-west-1 did not find the item" >&2; exit 1; }
aws_at 8101 create-backup --table-name music --backup-name music-1 | has '"AVAILABLE"' \
    || { echo "AWS CLI create-backup failed" >&2; exit 1; }
aws_at 8101 list-backups --table-name music | has '"music-1"' \
    || { echo "AWS CLI list-backups does not show the backup" >&2; exit 1; }
# Replica sets through the AWS CLI: eu-west-1's replica of music removed
# from us-east-1, then added back; it fills and turns ACTIVE everywhere.
replica_status() {
    aws_at "$1" describe-table --table-name music | python3 -c '
import json, sys
t = json.load(sys.stdin)["Table"]
print(next((r["ReplicaStatus"] for r in t.get("Replicas", []) if r["RegionName"] == "eu-west-1"), "NONE"))'
}
wait_status() {
    local want=$1 port=$2
    for _ in $(seq 1 150); do
        [ "$(replica_status "$port")" = "$want" ] && return 0
        sleep 0.1
    done
    echo "eu-west-1's replica of music is $(replica_status "$port") in the region on $port, not $want" >&2
    exit 1
}
aws_at 8101 update-table --table-name music \
    --replica-updates '[{"Delete": {"RegionName": "eu-west-1"}}]' >/dev/null
wait_status NONE 8103
refused=$(aws_at 8102 put-item --table-name music --item '{"artist": {"S": "B"}, "song": {"S": "s2"}}' 2>&1 || true)
grep -q ResourceNotFoundException <<<"$refused" \
    || { echo "a removed replica took a write: $refused" >&2; exit 1; }
m table add-replica --region ap-southeast-1 --name music --replica eu-west-1 | has CREATING \
    || { echo "meridian table add-replica did not answer CREATING" >&2; exit 1; }
wait_status ACTIVE 8101
aws_at 8102 get-item --table-name music --key '{"artist": {"S": "A"}, "song": {"S": "s1"}}' \
    | has '"1999"' || { echo "the refilled replica misses the item" >&2; exit 1; }
echo "smoke: AWS CLI ok"

# boto3 and PynamoDB from PyPI, in a venv of their own (the AWS CLI pins botocore).
sdk_venv="${HOME}/.cache/meridian/sdk-venv"
if ! "$sdk_venv/bin/python" -c "import boto3, pynamodb" 2>/dev/null; then
    python3 -m venv "$sdk_venv"
    "$sdk_venv/bin/pip" install --quiet "boto3>=1.34,<2" "pynamodb>=6,<7"
fi
# A botocore that knows UpdateTable's Disassociate (docs/replicas.md), even
# in a venv cached from before it had it.
"$sdk_venv/bin/python" -c "import botocore.session as s, sys; sys.exit('DisassociationProtectionEnabled' not in s.get_session().get_service_model('dynamodb').operation_model('UpdateTable').input_shape.members)" \
    || "$sdk_venv/bin/pip" install --quiet --upgrade "boto3>=1.34,<2"
"$sdk_venv/bin/python" .ci/sdk_smoke.py http://127.0.0.1:8101 http://127.0.0.1:8102 eu-west-1
# Disassociating a replica with boto3, as docs/replicas.md shows it.
"$sdk_venv/bin/python" .ci/disassociate_smoke.py http://127.0.0.1:8101 http://127.0.0.1:8102
# A multi-account global table with boto3, as docs/replicas.md shows it.
"$sdk_venv/bin/python" .ci/multi_account_smoke.py http://127.0.0.1:8101 http://127.0.0.1:8102
# A paused replica's clients' latency, as docs/performance.md measures it
# (fewer requests, one round).
MERIDIAN_CONFIG="$cfg" "$sdk_venv/bin/python" .ci/pause_latency.py "$bin" http://127.0.0.1:8101 http://127.0.0.1:8102 50 1
# The Python test library attached to this cluster (docs/python.md).
"$sdk_venv/bin/pip" install --quiet ./services/python
"$sdk_venv/bin/python" .ci/testkit_smoke.py "$cfg" "$dash" "$bin"
# A resource policy round trip and the global tables API of 2017.11.29 with boto3.
"$sdk_venv/bin/python" .ci/policy_smoke.py http://127.0.0.1:8101 us-east-1 http://127.0.0.1:8103 ap-southeast-1
# The edge (docs/edge.md): `up` prints its address; boto3 clients in three
# regions with no endpoint in code, pointed at it by AWS_ENDPOINT_URL alone,
# each write their region and read the others' writes; a region the cluster
# lacks is refused naming it; status and /metrics count per region.
has_line() { grep -qF -- "$1" "$work/up.log" || { cat "$work/up.log"; echo "meridian up did not print: $1" >&2; exit 1; }; }
has_line "export AWS_ENDPOINT_URL=http://127.0.0.1:4566"
env -u AWS_ENDPOINT_URL_DYNAMODB AWS_ENDPOINT_URL=http://127.0.0.1:4566 \
    "$sdk_venv/bin/python" docs/examples/edge_regions.py
# The README's and docs/edge.md's command: the AWS CLI with only the one
# setting lists eu-west-1's tables (the CLI made `smoke` in every region).
AWS_ENDPOINT_URL=http://127.0.0.1:4566 "$venv/bin/aws" dynamodb list-tables --region eu-west-1 --output json \
    > "$work/edge-list.json" || { echo "aws dynamodb list-tables through the edge failed" >&2; exit 1; }
has '"smoke"' < "$work/edge-list.json" || { cat "$work/edge-list.json"; echo "list-tables through the edge did not list eu-west-1's tables" >&2; exit 1; }
if AWS_ENDPOINT_URL=http://127.0.0.1:4566 "$venv/bin/aws" dynamodb list-tables --region us-west-2 >/dev/null 2>"$work/edge.err"; then
    echo "the edge served a region the cluster lacks" >&2; exit 1
fi
grep -qF "not 'us-west-2'" "$work/edge.err" || { cat "$work/edge.err"; echo "the edge's refusal does not name us-west-2" >&2; exit 1; }
m status | has "^edge http://127.0.0.1:4566 .*eu-west-1 [1-9]" \
    || { m status; echo "meridian status shows no edge line counting eu-west-1" >&2; exit 1; }
curl -fsS http://127.0.0.1:4566/metrics | has 'meridian_edge_refused_total{reason="unknown_region"} [1-9]' \
    || { echo "the edge's /metrics does not count the refusal" >&2; exit 1; }
curl -fsS "$dash/api/snapshot" | python3 -c 'import json, sys; sys.exit(0 if json.load(sys.stdin)["edge"]["regions"][1]["forwarded"] > 0 else 1)' \
    || { echo "the dashboard's snapshot does not show the edge" >&2; exit 1; }
echo "smoke: edge ok"
# After the boto3 calls, us-east-1's /metrics counts them by operation and
# carries the gRPC, build and process families (docs/operations.md).
metrics=$(python3 -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:9101/metrics").read().decode())')
for family in 'meridian_dynamodb_requests_total{region="us-east-1",operation="[A-Za-z]*",outcome="ok"} [1-9]' \
    'meridian_dynamodb_request_duration_seconds_bucket{' 'meridian_grpc_requests_total{' \
    'meridian_grpc_request_duration_seconds_bucket{' 'meridian_build_info{' 'process_cpu_seconds_total{' \
    'process_resident_memory_bytes{' 'process_open_fds{' 'process_max_fds{'; do
    has "$family" <<<"$metrics" || { echo "us-east-1's /metrics has no $family" >&2; exit 1; }
done
echo "smoke: metrics ok"

# The conformance checker against the default cluster (docs/conformance.md):
# every documented behaviour of global tables holds, and partition order
# shows the reorderings and torn transactions DynamoDB allows; what it
# measured is written as a profile, which a cluster file and a scenario load.
# 1,000 samples, not the default 300: with the default 2 ms lane delay a
# debug build on a busy runner shows B before A in about 1 pair in 100 or
# fewer (0 of 300 was seen once), and --expect-reordering fails on none
# (docs/conformance.md). About 60 s here, against 30 s at 300.
m conformance --cluster "$cfg" --expect-reordering --samples 1000 --measure "$work/profile.toml" \
    > "$work/conformance.log" 2>&1 \
    || { cat "$work/conformance.log"; echo "meridian conformance failed against the default cluster" >&2; exit 1; }
has " 0 failed" < "$work/conformance.log" && has "^PASS  reordering-between-items" < "$work/conformance.log" \
    || { cat "$work/conformance.log"; echo "meridian conformance did not report every check passing" >&2; exit 1; }
has "^replication_lane_delay_ms = " < "$work/profile.toml" \
    || { cat "$work/profile.toml"; echo "meridian conformance --measure wrote no profile" >&2; exit 1; }
{ echo "profile = \"$work/profile.toml\""; cat "$cfg"; } > "$work/profiled.toml"
MERIDIAN_CONFIG="$work/profiled.toml" "$bin" status > /dev/null \
    || { echo "a cluster file with the measured profile did not load" >&2; exit 1; }
cat > "$work/profiled-drill.toml" <<EOF
name = "profiled"
duration = "3s"
settle = "20s"
[regions]
names = ["us-east-1", "eu-west-1", "ap-southeast-1"]
catalogue = "$PWD/regions/catalogue.toml"
[replication]
profile = "$work/profile.toml"
[workload]
rate_per_region = 20
keys = 50
mix = { put = 1 }
EOF
"$bin" drill run "$work/profiled-drill.toml" --sim --seed 1 --out "$work/profiled-out" > "$work/profiled.log" 2>&1 \
    || { cat "$work/profiled.log"; echo "a drill with the measured profile did not pass" >&2; exit 1; }
# Against AWS by name (README, docs/conformance.md): CI reaches no AWS
# region, so this runs the path up to the first connection: credentials
# read as the AWS CLI reads them, from a profile in a shared credentials
# file of its own, and a profile missing there refused naming the file,
# before any endpoint is dialled.
mkdir -p "$work/aws-home/.aws"
printf '[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = x\n' > "$work/aws-home/.aws/credentials"
code=0
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
    -u AWS_SHARED_CREDENTIALS_FILE -u AWS_CONFIG_FILE HOME="$work/aws-home" \
    "$bin" conformance --aws us-east-1,us-east-2,us-west-2 --profile smoke-missing \
    > "$work/conformance-aws.log" 2>&1 || code=$?
[ "$code" = 1 ] && has "smoke-missing" < "$work/conformance-aws.log" \
    && has "$work/aws-home/.aws/credentials" < "$work/conformance-aws.log" \
    || { cat "$work/conformance-aws.log"; echo "meridian conformance --aws did not refuse a missing profile naming it and its file (status $code)" >&2; exit 1; }
echo "smoke: conformance ok"

# A drill against the running cluster (docs/drills.md): the shipped
# partition-heal scenario, its faults through this cluster's proxy; the
# regions all run afterwards and the drill's table is refused a second time.
m drill run simulations/partition-heal.toml --cluster "$cfg" --quiet --seed 3 --out "$work/drill-up" \
    > "$work/drill-up.log" 2>&1 \
    || { cat "$work/drill-up.log"; echo "a drill against the running cluster failed" >&2; exit 1; }
python3 -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1]))["verdict"]["ok"] else 1)' "$work/drill-up/report.json" \
    || { cat "$work/drill-up.log"; echo "the drill against the running cluster did not pass" >&2; exit 1; }
m status > /dev/null || { echo "the cluster did not serve after the drill" >&2; exit 1; }
if m drill run simulations/partition-heal.toml --cluster "$cfg" --quiet --out "$work/drill-up-2" > "$work/drill-up-2.log" 2>&1; then
    echo "a second drill reused the first one's table" >&2; exit 1
fi
has "already has a table" < "$work/drill-up-2.log" \
    || { cat "$work/drill-up-2.log"; echo "the second drill was not refused for the table" >&2; exit 1; }
echo "smoke: drill against the running cluster ok"

# An AWS FIS experiment template (docs/drills.md), simulated and against the
# running cluster, its 12-minute pause shortened to 12 s.
m drill run simulations/fis/pause-replication.json --sim --seed 1 --time-scale 60 --quiet --out "$work/fis-sim" \
    > "$work/fis-sim.log" 2>&1 \
    || { cat "$work/fis-sim.log"; echo "the FIS template did not pass simulated" >&2; exit 1; }
echo "smoke: FIS template (simulated) ok"

# Drill your own application (docs/drills.md): the example boto3 application
# makes the load on its own global table while the game day, then the FIS
# template, runs against the running cluster; each report counts the writes
# the regions committed for it, and passes.
"$sdk_venv/bin/python" docs/examples/orders_app.py --setup > "$work/app-setup.log" 2>&1 \
    || { cat "$work/app-setup.log"; echo "the example application could not make its table" >&2; exit 1; }
# `app_endpoints` (--endpoint NAME=URL ...) points the application elsewhere
# than each region's own endpoint.
app_endpoints=()
own_app_drill() {
    local name=$1 seconds=$2; shift 2
    "$sdk_venv/bin/python" docs/examples/orders_app.py "${app_endpoints[@]}" --seconds "$seconds" \
        --out "$work/$name-app.json" > "$work/$name-app.log" 2>&1 &
    local app=$!
    m drill run "$@" --cluster "$cfg" --quiet --out "$work/$name" > "$work/$name.log" 2>&1 \
        || { cat "$work/$name.log" "$work/$name-app.log"; echo "$name against your application failed" >&2; exit 1; }
    wait "$app" || { cat "$work/$name-app.log"; echo "the example application failed during $name" >&2; exit 1; }
    python3 - "$work/$name/report.json" "$work/$name-app.json" <<'PY' \
        || { cat "$work/$name.log" "$work/$name-app.log"; echo "$name's report does not account for the application's writes" >&2; exit 1; }
import json, sys
report, app = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
w = report["workload"]
assert report["verdict"]["ok"], report["verdict"]["problems"]
assert w.get("external") is True, w
acked = sum(s["acknowledged"] for s in app.values())
assert acked > 0, app
# Every write the application saw acknowledged during the drill was
# committed in a region; a few made before the drill's cursor are not read.
print(f"{sys.argv[1]}: the application saw {acked} writes acknowledged; the regions recorded {w['acked']}")
assert w["acked"] > 0, w
PY
}
own_app_drill game-day 22 simulations/own-app/game-day.toml
# Its `app-errors` alarm watches ErrorRate, which with your application's
# load is what the regions' DynamoDB endpoints answered it: evaluated on
# the application's requests, and OK (the example application errs not).
python3 - "$work/game-day/report.json" <<'PY' \
    || { cat "$work/game-day.log"; echo "game-day's app-errors alarm was not evaluated on the regions' answers" >&2; exit 1; }
import json, sys
alarm = next(a for a in json.load(open(sys.argv[1]))["alarms"] if a["name"] == "app-errors")
assert any(v is not None for _, v in alarm["periods"]), alarm
assert [t["to"] for t in alarm["transitions"]][:1] == ["OK"], alarm
PY
own_app_drill fis-up 20 simulations/fis/pause-replication.json --time-scale 60
echo "smoke: drills of your own application ok"

# The failover endpoint (docs/failover.md): a write through it lands in the
# home region; with the home crashed it moves to the next region within
# threshold × interval + TTL (3 × 1 s + 5 s here), the next write lands
# there, and once the home is back and healthy it goes home when asked.
m table create --region us-east-1 --name failover-smoke --partition-key id:S >/dev/null
m net failover | has "→ us-east-1 (home us-east-1)" \
    || { m net failover; echo "the failover endpoint does not forward to its home" >&2; exit 1; }
aws_at 8100 put-item --table-name failover-smoke --item '{"id": {"S": "before"}}'
aws_at 8101 get-item --table-name failover-smoke --key '{"id": {"S": "before"}}' | has '"before"' \
    || { echo "a write through the failover endpoint did not land in us-east-1" >&2; exit 1; }
failover_active() { m net failover --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["active"])'; }
m net crash us-east-1 >/dev/null
crashed=$(date +%s%N)
moved=""
for _ in $(seq 1 300); do
    if [ "$(failover_active)" = eu-west-1 ]; then moved=yes; break; fi
    sleep 0.05
done
[ -n "$moved" ] || { m net failover; echo "the failover endpoint never left the crashed us-east-1" >&2; exit 1; }
echo "smoke: the failover endpoint moved $(( ($(date +%s%N) - crashed) / 1000000 )) ms after the crash (bound 8000 ms)"
aws_at 8100 put-item --table-name failover-smoke --item '{"id": {"S": "after"}}'
aws_at 8102 get-item --table-name failover-smoke --key '{"id": {"S": "after"}}' | has '"after"' \
    || { echo "a write through the failover endpoint did not land in eu-west-1 after the move" >&2; exit 1; }
m net failover back >/dev/null 2>&1 && { echo "the failover endpoint went back to a crashed home" >&2; exit 1; }
m net restart us-east-1 >/dev/null
# `failover_home WHY`: asks the endpoint back to us-east-1 until the region
# is healthy again (20 s at most).
failover_home() {
    for _ in $(seq 1 200); do
        if m net failover back 2>/dev/null | has "moved the failover endpoint back to us-east-1"; then return 0; fi
        sleep 0.1
    done
    m net failover; echo "the failover endpoint did not go back to us-east-1 $1" >&2; exit 1
}
failover_home "when asked"
m net failover move ap-southeast-1 | has "moved the failover endpoint to ap-southeast-1" \
    || { echo "meridian net failover move did not move the endpoint" >&2; exit 1; }
curl -fsS -X POST -H 'content-type: application/json' -d '{}' http://127.0.0.1:8474/meridian/failover/move \
    | python3 -c 'import json, sys; sys.exit(0 if json.load(sys.stdin)["active"] == "us-east-1" else 1)' \
    || { echo "POST /meridian/failover/move did not move the endpoint home" >&2; exit 1; }
refused=$(m net failover move nowhere 2>&1) \
    && { echo "meridian net failover move took a region not in failover.regions" >&2; exit 1; }
has "not in failover.regions" <<<"$refused" \
    || { echo "meridian net failover move nowhere did not name failover.regions: $refused" >&2; exit 1; }
# The record: one move on health with its failed requests and its missing
# writes compared with the stores, then the three asked for.
recorded=""
for _ in $(seq 1 100); do
    if curl -fsS http://127.0.0.1:8474/meridian/failover | python3 -c '
import json, sys
s = json.load(sys.stdin)
moves = [(m["from"], m["to"], m["why"]) for m in s["moves"]]
first = s["moves"][0]
sys.exit(0 if moves == [("us-east-1", "eu-west-1", "health"), ("eu-west-1", "us-east-1", "asked"),
                        ("us-east-1", "ap-southeast-1", "asked"), ("ap-southeast-1", "us-east-1", "asked")]
         and first["failed_requests"] >= 0 and first["missing"]["compared"] and first["missing"]["error"] is None
         else 1)'; then recorded=yes; break; fi
    sleep 0.1
done
[ -n "$recorded" ] || { m net failover; echo "the failover endpoint's record is not as the moves made it" >&2; exit 1; }
m net failover | has "#1 at .*us-east-1 → eu-west-1 (health" \
    || { m net failover; echo "meridian net failover does not show the move on health" >&2; exit 1; }
# Its cost per request against the region directly (docs/performance.md).
python3 .ci/failover_cost.py 127.0.0.1:8100 127.0.0.1:8101 failover-smoke 200
# And the edge's, as docs/performance.md measures it (us-east-1, whose
# scope the script signs with).
python3 .ci/failover_cost.py 127.0.0.1:4566 127.0.0.1:8101 failover-smoke 200
echo "smoke: failover endpoint ok"

# Your application through the failover endpoint while its home region goes
# dark (docs/drills.md): the drill's report shows the endpoint's move on
# health to eu-west-1, and every write us-east-1 acknowledged that eu-west-1
# lacked at the move came back or was overwritten by the end.
# What the endpoint and `meridian up` say, when the outage drill fails.
outage_diagnosis() {
    m net failover || true
    grep -i "failover\|panic" "$work/up.log" | tail -20 || true
    echo "the outage drill's report does not show the failover" >&2
}
app_endpoints=(--endpoint app=http://127.0.0.1:8100)
own_app_drill region-outage 32 simulations/own-app/region-outage.toml
app_endpoints=()
python3 - "$work/region-outage/report.json" <<'PY' \
    || { cat "$work/region-outage.log" "$work/region-outage-app.log"; outage_diagnosis; exit 1; }
import json, sys
f = json.load(open(sys.argv[1]))["failover"]
moves = [(m["from"], m["to"], m["why"]) for m in f["moves"]]
assert ("us-east-1", "eu-west-1", "health") in moves, moves
assert all(m["still_missing"] == 0 for m in f["moves"]), f["moves"]
m = f["moves"][0]
print(f"the endpoint moved at {m['at_ms']} ms, {m['after_first_failed_ms']} ms after the first failed check; "
      f"{m['failed_requests']} requests failed, {m['missing']} writes missing at the move, {m['came_back']} came back, "
      f"{m['superseded']} superseded")
PY
failover_home "after the outage drill"
echo "smoke: your application through a region outage ok"

# The link proxy, driven by the unmodified toxiproxy-python client.
"$venv/bin/pip" install --quiet "toxiproxy-python==0.1.1"
"$bin" netsim --api 127.0.0.1:18474 > "$work/netsim.log" 2>&1 &
netsim_pid=$!
for _ in $(seq 1 100); do
    grep -q "netsim:" "$work/netsim.log" && break
    sleep 0.1
done
"$venv/bin/python" .ci/netsim_smoke.py 127.0.0.1:8101 18474
kill -INT "$netsim_pid"
wait "$netsim_pid" || true

kill -INT "$pid"
wait "$pid"
grep -q "all regions stopped" "$work/up.log" || { cat "$work/up.log"; echo "meridian up did not stop cleanly" >&2; exit 1; }

# Multi-Region strong consistency through the DynamoDB endpoint, which, as
# DynamoDB, makes a STRONG table only of three Regions of one Region set:
# the shipped cluster of the US set (docs/strong.md), started as its file
# says. boto3 in AWS's own flows (making one, deleting one), then the
# conformance checker's MRSC checks, which skip on the default cluster.
us_cfg="$work/local-us-3.toml"
sed "s#^data_dir = .*#data_dir = \"$work/us-data\"#" regions/local-us-3.toml > "$us_cfg"
"$bin" up --config "$us_cfg" > "$work/up-us.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
    grep -q "regions up" "$work/up-us.log" && break
    sleep 0.2
done
grep -q "regions up" "$work/up-us.log" || { cat "$work/up-us.log"; echo "meridian up did not start regions/local-us-3.toml" >&2; exit 1; }
"$sdk_venv/bin/python" .ci/mrsc_smoke.py http://127.0.0.1:8141 http://127.0.0.1:8142 http://127.0.0.1:8143
# The AWS CLI commands docs/strong.md shows: a STRONG table made in
# us-east-1 with a replica and a witness, then its replica and witness
# removed from us-east-2, which is left a single-Region table.
aws_at 8141 create-table --region us-east-1 --table-name accounts --billing-mode PAY_PER_REQUEST \
    --attribute-definitions AttributeName=id,AttributeType=S \
    --key-schema AttributeName=id,KeyType=HASH >/dev/null
aws_at 8141 update-table --region us-east-1 --table-name accounts \
    --replica-updates '[{"Create": {"RegionName": "us-east-2"}}]' \
    --global-table-witness-updates '[{"Create": {"RegionName": "us-west-2"}}]' \
    --multi-region-consistency STRONG | has '"MultiRegionConsistency": "STRONG"' \
    || { echo "AWS CLI update-table did not make accounts STRONG" >&2; exit 1; }
written=""
for _ in $(seq 1 100); do
    if aws_at 8142 put-item --region us-east-2 --table-name accounts --item '{"id": {"S": "a"}}' 2>/dev/null; then
        written=yes
        break
    fi
    sleep 0.1
done
[ -n "$written" ] || { echo "us-east-2's replica of accounts never took a write" >&2; exit 1; }
aws_at 8142 update-table --region us-east-2 --table-name accounts \
    --replica-updates '[{"Delete": {"RegionName": "us-east-1"}}]' \
    --global-table-witness-updates '[{"Delete": {"RegionName": "us-west-2"}}]' >/dev/null
aws_at 8142 get-item --region us-east-2 --table-name accounts --key '{"id": {"S": "a"}}' --consistent-read \
    | has '"a"' || { echo "the single-Region table left misses the write" >&2; exit 1; }
aws_at 8142 delete-table --region us-east-2 --table-name accounts >/dev/null
mrsc_checks=(mrsc-strong-read mrsc-write-conflict mrsc-isolated-region mrsc-refuses-transactions)
"$bin" conformance --cluster "$us_cfg" "${mrsc_checks[@]/#/--only=}" > "$work/conformance-us.log" 2>&1 \
    || { cat "$work/conformance-us.log"; echo "meridian conformance failed its MRSC checks on regions/local-us-3.toml" >&2; exit 1; }
for check in "${mrsc_checks[@]}"; do
    has "^PASS  $check" < "$work/conformance-us.log" \
        || { cat "$work/conformance-us.log"; echo "conformance check $check did not pass on regions/local-us-3.toml" >&2; exit 1; }
done
echo "smoke: MRSC on a cluster of one Region set ok"
# A cluster file without [[alarm]] tables: `meridian alarms` says so.
"$bin" alarms --config "$us_cfg" | has "^no alarms: .* declares no \[\[alarm\]\] table" \
    || { "$bin" alarms --config "$us_cfg"; echo "meridian alarms did not say the US set has none" >&2; exit 1; }
"$bin" alarms --config "$us_cfg" --json | python3 -c '
import json, sys
sys.exit(0 if json.load(sys.stdin)["alarms"] == [] else 1)' \
    || { echo "meridian alarms --json did not give an empty list for the US set" >&2; exit 1; }
kill -INT "$pid"
wait "$pid"
grep -q "all regions stopped" "$work/up-us.log" || { cat "$work/up-us.log"; echo "meridian up (US set) did not stop cleanly" >&2; exit 1; }
echo "smoke: ok"
