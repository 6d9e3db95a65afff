#!/usr/bin/env bash
# The regions as a Docker Swarm stack (regions/stack.yaml), reached from this
# host on 127.0.0.1 under the ports of regions/local-3.toml.
#
#   regions/stack.sh up          # image, swarm, labels, certificates, deploy,
#                                # gateway; waits until every region is up
#   regions/stack.sh down        # the stack and the gateway; keeps volumes
#   regions/stack.sh down -v     # and deletes the regions' volumes
#
# Environment: MERIDIAN_STACK (stack name, default "meridian"),
# MERIDIAN_STACK_CERTS (where the certificates are issued, default
# .meridian/stack-certs), MERIDIAN_IMAGE (default meridian:local),
# MERIDIAN_STACK_WAIT (seconds to wait for the regions, default 180).
#
# `up` starts a single-node swarm when this engine is in none, says so, and
# marks the node (label meridian.stack-swarm=true); `down` leaves the swarm
# only when that mark is there and no other stack runs. In a swarm it did
# not start, `down` takes off only the node labels `up` added. docs/containers.md
# explains the design, docs/multi-machine.md the steps across machines.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

stack="${MERIDIAN_STACK:-meridian}"
image="${MERIDIAN_IMAGE:-meridian:local}"
certs="${MERIDIAN_STACK_CERTS:-$root/.meridian/stack-certs}"
wait_s="${MERIDIAN_STACK_WAIT:-180}"
gateway="$stack-gateway"
edge="$stack-edge"
regions=(us-east-1 eu-west-1 ap-southeast-1)
# The gateway's own control API, where `up` creates its forwarding proxies.
gateway_api=8475

die() { echo "stack.sh: $*" >&2; exit 1; }

command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "no Docker engine reachable (docker info failed)"

swarm_state() { docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null; }
self_node() { docker info --format '{{.Swarm.NodeID}}'; }

# A poll with a deadline: `until_ok SECONDS WHAT cmd...` runs cmd until it
# succeeds, or fails naming WHAT after SECONDS.
until_ok() {
    local secs=$1 what=$2
    shift 2
    local end=$((SECONDS + secs))
    until "$@"; do
        [ "$SECONDS" -lt "$end" ] || { echo "stack.sh: $what: not done after $secs s" >&2; return 1; }
        sleep 0.5
    done
}

# The host-side CLI: MERIDIAN_BIN when given, else the image's own binary on
# the host's network, reading the usual regions/local-3.toml.
cli() {
    if [ -n "${MERIDIAN_BIN:-}" ]; then
        MERIDIAN_CONFIG="$root/regions/local-3.toml" "$MERIDIAN_BIN" "$@"
    else
        docker run --rm --network host --read-only \
            -v "$root/regions/local-3.toml:/etc/meridian/cluster.toml:ro" \
            "$image" "$@"
    fi
}

start_swarm() {
    case "$(swarm_state)" in
        active) ;;
        inactive)
            # The manager's ports (2377, 7946) on loopback: nothing outside
            # this machine can join. For several machines, init by hand on a
            # private address first (docs/multi-machine.md).
            local out
            if ! out=$(timeout 60 docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 2>&1); then
                die "docker swarm init failed or did not answer within 60 s: ${out:-timed out}"
            fi
            docker node update --label-add meridian.stack-swarm=true "$(self_node)" >/dev/null
            echo "initialised a single-node swarm on 127.0.0.1 (down leaves it again)"
            ;;
        *) die "this engine's swarm is $(swarm_state); fix it (docker swarm leave --force) or use another engine" ;;
    esac
    [ "$(docker info --format '{{.Swarm.ControlAvailable}}')" = "true" ] ||
        die "this node is a swarm worker: run stack.sh on a manager"
}

# Labels this node for every role no node has yet: all of them on a fresh
# single-node swarm, none when the nodes were labelled by hand. What it
# adds it lists in meridian.stack-labels, for `down` to take off again.
label_nodes() {
    local role added
    added=$(docker node inspect "$(self_node)" --format '{{index .Spec.Labels "meridian.stack-labels"}}')
    for role in netsim "${regions[@]}"; do
        if [ -z "$(docker node ls -q --filter "node.label=meridian.$role=true")" ]; then
            added="${added:+$added,}$role"
            docker node update --label-add "meridian.$role=true" \
                --label-add "meridian.stack-labels=$added" "$(self_node)" >/dev/null
            echo "labelled this node meridian.$role=true"
        fi
    done
}

# Takes off the labels label_nodes added to this node.
unlabel_node() {
    local added role args=()
    added=$(docker node inspect "$(self_node)" --format '{{index .Spec.Labels "meridian.stack-labels"}}')
    [ -n "$added" ] || return 0
    for role in ${added//,/ }; do args+=(--label-rm "meridian.$role"); done
    docker node update "${args[@]}" --label-rm meridian.stack-labels "$(self_node)" >/dev/null
    echo "took off the labels stack.sh had put on this node (meridian.{${added}})"
}

# The cluster's CA and one certificate per region, issued once on this
# manager by the image's `meridian certs`; kept across up and down.
issue_certs() {
    mkdir -p "$certs"
    docker run --rm --network none --read-only --user "$(id -u):$(id -g)" \
        -v "$root/regions/compose-3.toml:/etc/meridian/cluster.toml:ro" \
        -v "$certs:/out" "$image" certs --dir /out
    local r
    for r in "${regions[@]}"; do
        [ -s "$certs/$r.pem" ] && [ -s "$certs/$r.key" ] || die "no certificate for $r in $certs"
    done
}

# Swarm configs and secrets never change: their names carry a digest of
# what they hold, so changed files make new ones and roll the regions.
revision() {
    local files=("$root/regions/compose-3.toml" "$certs/ca.pem") r
    for r in "${regions[@]}"; do files+=("$certs/$r.pem" "$certs/$r.key"); done
    echo "$stack-$(cat "${files[@]}" | sha256sum | cut -c1-12)"
}

# Host port -> what the gateway forwards it to on the access network: each
# region's gRPC, admin, DynamoDB and metrics ports as local-3.toml numbers
# them, and the link proxy's control API.
forwards() {
    local i=1 r
    for r in "${regions[@]}"; do
        echo "710$i access-$r:7101"
        echo "712$i access-$r:7121"
        echo "810$i access-$r:8101"
        echo "910$i access-$r:9101"
        i=$((i + 1))
    done
    echo "8474 access-netsim:8474"
}

# Refuses to start when another process already listens on a port the
# gateway needs: `meridian up`, a compose project, another stack.
ports_free() {
    local port upstream
    while read -r port upstream; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            die "127.0.0.1:$port is taken (by meridian up, a compose project or another stack?): the gateway needs it"
        fi
    done < <(forwards; echo "$gateway_api gateway")
}

api_up() { curl -fsS "http://127.0.0.1:$gateway_api/version" >/dev/null 2>&1; }

start_gateway() {
    if ! docker network inspect "$edge" >/dev/null 2>&1; then
        docker network create --driver bridge --label "meridian.stack=$stack" \
            -o com.docker.network.bridge.enable_ip_masquerade=false \
            -o com.docker.network.bridge.enable_icc=false \
            -o com.docker.network.bridge.host_binding_ipv4=127.0.0.1 \
            "$edge" >/dev/null
    fi
    local ports=(-p "127.0.0.1:$gateway_api:$gateway_api") port body="" sep=""
    while read -r port upstream; do
        ports+=(-p "127.0.0.1:$port:$port")
        body+="$sep{\"name\": \"$port\", \"listen\": \"0.0.0.0:$port\", \"upstream\": \"$upstream\", \"enabled\": true}"
        sep=", "
    done < <(forwards)
    # A plain container, not a service: only `docker run` publishes on
    # 127.0.0.1 alone. Its health check would probe 9101, which it
    # forwards to us-east-1, so it has none.
    docker run -d --name "$gateway" --label "meridian.stack=$stack" \
        --network "$edge" "${ports[@]}" \
        --read-only --tmpfs /data --cap-drop ALL --security-opt no-new-privileges:true \
        --no-healthcheck -e RUST_LOG=warn \
        "$image" netsim --api "0.0.0.0:$gateway_api" >/dev/null
    docker network connect "${stack}_access" "$gateway"
    until_ok 30 "the gateway's API on 127.0.0.1:$gateway_api" api_up
    curl -fsS -X POST -H 'content-type: application/json' \
        -d "[$body]" "http://127.0.0.1:$gateway_api/populate" >/dev/null ||
        die "the gateway refused its proxies"
}

# Every service of the stack at 1/1 with no rolling update under way (so
# a redeploy is waited for, not answered by the tasks it replaces), and
# every region answering with every link up, through the gateway.
regions_up() {
    local name replicas state out
    while read -r name replicas; do
        [ "$replicas" = "1/1" ] || return 1
        state=$(docker service inspect "$name" --format '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}')
        case "$state" in
            "" | completed | rollback_completed) ;;
            paused | rollback_paused) die "the update of $name is $state: docker service ps --no-trunc $name" ;;
            *) return 1 ;;
        esac
    done < <(docker service ls --filter "label=com.docker.stack.namespace=$stack" --format '{{.Name}} {{.Replicas}}')
    out=$(cli status 2>&1) || return 1
    ! grep -q ' down ' <<<"$out"
}

print_endpoints() {
    local i=1 r node
    echo
    echo "Meridian stack \"$stack\": ${#regions[@]} regions up (docker stack ps $stack)"
    printf '  %-16s %-18s %-18s %-24s %-32s %s\n' region grpc admin dynamodb metrics data
    for r in "${regions[@]}"; do
        node=$(docker service ps "${stack}_$r" --filter desired-state=running --format '{{.Node}}' | head -1)
        printf '  %-16s %-18s %-18s %-24s %-32s %s\n' "$r" "127.0.0.1:710$i" "127.0.0.1:712$i" \
            "http://127.0.0.1:810$i" "http://127.0.0.1:910$i/metrics" "volume ${stack}_$r-data on $node"
        i=$((i + 1))
    done
    echo
    echo "Peers reach each other through the link proxy (service ${stack}_netsim)."
    echo "Control API (Toxiproxy-compatible): http://127.0.0.1:8474"
    echo "Every port above is the gateway container $gateway, on 127.0.0.1 only."
    echo
    echo "Try:  meridian status                          # regions/local-3.toml, unchanged"
    echo "      meridian net partition us-east-1 eu-west-1   # then: meridian net heal"
    echo "      docker kill \$(docker ps -q -f label=com.docker.swarm.service.name=${stack}_eu-west-1)"
    echo "      regions/stack.sh down"
}

up() {
    if ! docker image inspect "$image" >/dev/null 2>&1; then
        echo "no image $image: building it (regions/image/build.sh)"
        MERIDIAN_IMAGE="$image" regions/image/build.sh
    fi
    docker rm -f "$gateway" >/dev/null 2>&1 || true
    ports_free
    start_swarm
    label_nodes
    issue_certs
    MERIDIAN_STACK_CERTS="$certs" MERIDIAN_STACK_REV="$(revision)" \
        docker stack deploy --prune --detach=true --resolve-image never \
        -c regions/stack.yaml "$stack"
    start_gateway
    if ! until_ok "$wait_s" "every region healthy through the gateway" regions_up; then
        cli status || true
        docker stack ps --no-trunc "$stack" || true
        die "the stack did not come up; see docker service logs ${stack}_<region>"
    fi
    print_endpoints
}

stack_gone() {
    [ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$stack")" ] &&
        [ -z "$(docker network ls -q --filter "label=com.docker.stack.namespace=$stack")" ]
}

down() {
    local wipe=""
    [ "${1:-}" = "-v" ] && wipe=yes
    docker rm -f "$gateway" >/dev/null 2>&1 || true
    docker network rm "$edge" >/dev/null 2>&1 || true
    if [ "$(swarm_state)" = "active" ]; then
        docker stack rm "$stack" >/dev/null 2>&1 || true
        # stack rm returns before the tasks are gone; volumes stay busy
        # until then.
        until_ok 60 "removing stack $stack" stack_gone
    fi
    if [ -n "$wipe" ]; then
        local r
        for r in "${regions[@]}"; do
            docker volume rm "${stack}_$r-data" >/dev/null 2>&1 && echo "deleted volume ${stack}_$r-data" || true
        done
    fi
    echo "removed stack $stack and its gateway"
    [ "$(swarm_state)" = "active" ] || return 0
    local others
    others=$(docker stack ls --format '{{.Name}}' | tr '\n' ' ')
    if [ -n "$others" ]; then
        echo "kept the swarm and this node's labels: other stacks run in it ($others)"
    elif [ -n "$(docker node ls -q --filter node.label=meridian.stack-swarm=true)" ]; then
        docker swarm leave --force >/dev/null
        echo "left the single-node swarm stack.sh had started"
    else
        unlabel_node
    fi
}

case "${1:-}" in
    up) up ;;
    down) shift; down "$@" ;;
    *) echo "usage: regions/stack.sh up | down [-v]" >&2; exit 2 ;;
esac
