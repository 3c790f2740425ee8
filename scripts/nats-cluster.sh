#!/usr/bin/env bash
# A local NATS cluster with JetStream for tests: three nodes on loopback, one cluster.
#
#   scripts/nats-cluster.sh up                 start (or reuse) the nodes, wait until every node
#                                              says JetStream is healthy; prints the NATS_URL
#                                              value (comma separated) on stdout
#   scripts/nats-cluster.sh down               stop the nodes this script started, remove their data
#   scripts/nats-cluster.sh status             each node: answering, /healthz
#   scripts/nats-cluster.sh url                print the NATS_URL value
#   scripts/nats-cluster.sh exec CMD [ARG...]  `up`, then run CMD with NATS_URL and
#                                              TIERSTREAM_STREAM_REPLICAS=3 exported
#   scripts/nats-cluster.sh stop-node PORT     stop one node (SIGTERM: it leaves the cluster as a
#                                              crash would, its data stays); start-node brings it back
#   scripts/nats-cluster.sh start-node PORT    start a stopped node again, with its data
#
# Environment: NATS_CLUSTER_PORTS (default 4301,4302,4303: client ports; each node's cluster
# route is its port + 2000, its monitoring port + 4000), TIERSTREAM_DATA_DIR (default .data;
# nodes live under its nats-cluster/<port>/).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${TIERSTREAM_DATA_DIR:-$root/.data}/nats-cluster"
host=127.0.0.1
IFS=', ' read -r -a ports <<<"${NATS_CLUSTER_PORTS:-4301,4302,4303}"

log() { printf 'nats-cluster: %s\n' "$*" >&2; }
die() { printf 'nats-cluster: error: %s\n' "$*" >&2; exit 1; }

[ ${#ports[@]} -ge 3 ] || die "NATS_CLUSTER_PORTS needs at least 3 ports (JetStream needs a quorum), got '${NATS_CLUSTER_PORTS:-}'"
command -v nats-server >/dev/null || die "nats-server is needed (Debian: apt-get install -y nats-server)"
command -v curl >/dev/null || die "curl is needed (Debian: apt-get install -y curl)"

url_value() { local IFS=,; local list=(); for p in "${ports[@]}"; do list+=("nats://$host:$p"); done; echo "${list[*]}"; }
healthy() { curl -fsS -m 2 "http://$host:$(($1 + 4000))/healthz" 2>/dev/null | grep -q '"ok"'; }
answering() { curl -fsS -m 2 "http://$host:$(($1 + 4000))/varz" >/dev/null 2>&1; }

wait_until() { # SECONDS DESCRIPTION CMD...
  local secs="$1" what="$2" i; shift 2
  for ((i = 0; i < secs * 5; i++)); do
    "$@" && return 0
    sleep 0.2
  done
  die "$what not reached within ${secs}s (logs under $data)"
}

all_healthy() { local p; for p in "${ports[@]}"; do healthy "$p" || return 1; done; }

write_config() { # PORT
  local port="$1" dir="$data/$1" routes=() p
  for p in "${ports[@]}"; do routes+=("\"nats-route://$host:$((p + 2000))\""); done
  mkdir -p "$dir/js"
  cat >"$dir/nats.conf" <<CONF
server_name: "n$port"
listen: "$host:$port"
http: "$host:$((port + 4000))"
jetstream { store_dir: "$dir/js" }
cluster {
  name: "tierstream"
  listen: "$host:$((port + 2000))"
  routes: [ $(IFS=,; echo "${routes[*]}") ]
}
CONF
}

start_node() { # PORT
  local port="$1" dir="$data/$1"
  [ -f "$dir/nats.conf" ] || write_config "$port"
  nohup nats-server -c "$dir/nats.conf" -P "$dir/nats.pid" -l "$dir/nats.log" </dev/null >/dev/null 2>&1 &
  wait_until 20 "node $port answering" answering "$port"
}

stop_node() { # PORT
  local pidfile="$data/$1/nats.pid" pid=""
  [ -f "$pidfile" ] && pid="$(cat "$pidfile")"
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
  rm -f "$pidfile"
}

# nats-server before 2.9.21 accepts two concurrent publishes with the same
# Nats-Expected-Last-Subject-Sequence on a clustered stream (nats-io/nats-server#4320, fixed by
# #4319 in 2.9.21): a KV compare-and-set on 3 replicas can then lose an update.
warn_old_server() {
  local v
  v="$(nats-server --version 2>/dev/null | sed -n 's/.*v\([0-9][0-9.]*\).*/\1/p')"
  [ -n "$v" ] || return 0
  if [ "$(printf '%s\n2.9.21\n' "$v" | sort -V | head -n 1)" != 2.9.21 ]; then
    log "warning: nats-server $v is older than 2.9.21: KV compare-and-set on replicated buckets may lose updates (nats-io/nats-server#4320); README, \"NATS cluster\""
  fi
}

up() {
  local p
  warn_old_server
  for p in "${ports[@]}"; do
    if answering "$p"; then continue; fi
    log "starting node $host:$p"
    start_node "$p"
  done
  wait_until 60 "JetStream healthy on every node" all_healthy
  log "cluster of ${#ports[@]} nodes is up"
}

cmd="${1:-}"
case "$cmd" in
  up) up; url_value ;;
  url) url_value ;;
  exec)
    shift
    [ $# -gt 0 ] || die "usage: scripts/nats-cluster.sh exec CMD [ARG...]"
    up
    NATS_URL="$(url_value)"
    TIERSTREAM_STREAM_REPLICAS="${TIERSTREAM_STREAM_REPLICAS:-3}"
    export NATS_URL TIERSTREAM_STREAM_REPLICAS
    log "NATS_URL=$NATS_URL TIERSTREAM_STREAM_REPLICAS=$TIERSTREAM_STREAM_REPLICAS"
    exec "$@"
    ;;
  down)
    for p in "${ports[@]}"; do
      if [ -f "$data/$p/nats.pid" ]; then stop_node "$p"; log "node $p stopped"
      elif answering "$p"; then log "node $p was not started by this script (no pid file under $data): left alone"; continue
      fi
      rm -rf "${data:?}/$p"
    done
    rmdir "$data" 2>/dev/null || true
    ;;
  status)
    rc=0
    for p in "${ports[@]}"; do
      if healthy "$p"; then echo "$host:$p: up, healthy"
      elif answering "$p"; then echo "$host:$p: up, not healthy: $(curl -sS -m 2 "http://$host:$((p + 4000))/healthz")"; rc=1
      else echo "$host:$p: down"; rc=1
      fi
    done
    exit $rc
    ;;
  stop-node|start-node)
    port="${2:-}"
    [[ " ${ports[*]} " == *" $port "* ]] || die "usage: scripts/nats-cluster.sh $cmd PORT (one of ${ports[*]})"
    if [ "$cmd" = stop-node ]; then stop_node "$port"; log "node $port stopped"; exit 0; fi
    answering "$port" || start_node "$port"
    wait_until 60 "JetStream healthy on every node" all_healthy
    log "node $port is back"
    ;;
  *) die "usage: scripts/nats-cluster.sh up|down|status|url|exec CMD...|stop-node PORT|start-node PORT" ;;
esac
