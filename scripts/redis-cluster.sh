#!/usr/bin/env bash
# A local Redis Cluster for tests: three masters, no replicas, on loopback.
#
#   scripts/redis-cluster.sh up                  start (or reuse) the nodes, create the cluster,
#                                                wait for cluster_state:ok; prints the
#                                                REDIS_CLUSTER_NODES value on stdout
#   scripts/redis-cluster.sh down                stop the nodes this script started, remove their dir
#   scripts/redis-cluster.sh status              each node: answering, cluster state, slots, keys
#   scripts/redis-cluster.sh nodes               print the REDIS_CLUSTER_NODES value
#   scripts/redis-cluster.sh exec CMD [ARG...]   `up`, then run CMD with REDIS_CLUSTER_NODES exported
#   scripts/redis-cluster.sh restart-empty PORT  restart one master without its data: it keeps
#                                                nodes.conf, so it rejoins owning its slots, empty
#                                                (what a crash of a node without persistence does)
#   scripts/redis-cluster.sh stop-node PORT      stop one master and leave it down (SHUTDOWN NOSAVE);
#                                                `up` starts it again, empty, with its slots
#
# Environment: REDIS_CLUSTER_PORTS (default 7001,7002,7003, or the ports of REDIS_CLUSTER_NODES
# when that is set; each port + 10000 is its cluster bus), REDIS_CLUSTER_HOST (default 127.0.0.1), TIERSTREAM_DATA_DIR (default .data; nodes live under
# its redis-cluster/<port>/). Nothing is persisted: no RDB, no AOF. Runs that restart nodes
# should not share a cluster: give each its own REDIS_CLUSTER_PORTS (several clusters coexist).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${TIERSTREAM_DATA_DIR:-$root/.data}/redis-cluster"
host="${REDIS_CLUSTER_HOST:-127.0.0.1}"
default_ports=7001,7002,7003
# A process pointed at a cluster by REDIS_CLUSTER_NODES (a test, a fault scenario) can call
# restart-empty without knowing the ports: they are read from it when REDIS_CLUSTER_PORTS is unset.
if [ -z "${REDIS_CLUSTER_PORTS:-}" ] && [ -n "${REDIS_CLUSTER_NODES:-}" ]; then
  default_ports="$(tr ',' '\n' <<<"$REDIS_CLUSTER_NODES" | sed 's/.*://' | paste -sd, -)"
  [ -n "${REDIS_CLUSTER_HOST:-}" ] || host="$(sed 's/,.*//; s/:[0-9]*$//' <<<"$REDIS_CLUSTER_NODES")"
fi
IFS=', ' read -r -a ports <<<"${REDIS_CLUSTER_PORTS:-$default_ports}"
# Seconds a node may be unreachable before the others mark it failed (redis default: 15).
node_timeout_ms="${REDIS_CLUSTER_NODE_TIMEOUT_MS:-5000}"

log() { printf 'redis-cluster: %s\n' "$*" >&2; }
die() { printf 'redis-cluster: error: %s\n' "$*" >&2; exit 1; }

[ ${#ports[@]} -ge 3 ] || die "REDIS_CLUSTER_PORTS needs at least 3 ports (a cluster of masters), got '${REDIS_CLUSTER_PORTS:-}'"
command -v redis-server >/dev/null && command -v redis-cli >/dev/null \
  || die "redis-server and redis-cli are needed (Debian: apt-get install -y redis-server redis-tools)"

cli() { local port="$1"; shift; timeout 5 redis-cli -h "$host" -p "$port" "$@" 2>/dev/null; }
node_ok() { cli "$1" ping | grep -q PONG; }
info_field() { cli "$1" cluster info | tr -d '\r' | sed -n "s/^$2://p"; }
nodes_value() { local IFS=,; local list=(); for p in "${ports[@]}"; do list+=("$host:$p"); done; echo "${list[*]}"; }

wait_until() { # SECONDS DESCRIPTION CMD...
  local secs="$1" what="$2" i; shift 2
  for ((i = 0; i < secs * 5; i++)); do
    "$@" && return 0
    sleep 0.2
  done
  die "$what not reached within ${secs}s (logs under $data)"
}

start_node() {
  local port="$1" dir="$data/$1"
  mkdir -p "$dir"
  rm -f "$dir/dump.rdb" "$dir/appendonly.aof"
  (cd "$dir" && redis-server --port "$port" --bind "$host" --dir "$dir" \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout "$node_timeout_ms" \
    --save "" --appendonly no --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
    </dev/null >/dev/null 2>&1)
  wait_until 20 "node $port answering" node_ok "$port"
}

stop_node() { # PORT: SHUTDOWN NOSAVE, then wait for the process to go
  local port="$1" pidfile="$data/$1/redis.pid" pid=""
  [ -f "$pidfile" ] && pid="$(cat "$pidfile")"
  cli "$port" shutdown nosave >/dev/null || true
  if [ -n "$pid" ]; then
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
  fi
  rm -f "$pidfile"
}

all_ok() { # every node answers, says cluster_state:ok and knows all the others
  local p
  for p in "${ports[@]}"; do
    [ "$(info_field "$p" cluster_state)" = ok ] || return 1
    [ "$(info_field "$p" cluster_known_nodes)" = "${#ports[@]}" ] || return 1
    [ "$(info_field "$p" cluster_slots_assigned)" = 16384 ] || return 1
  done
}

fresh() { # no node knows another and none has slots: the cluster is still to be created
  local p
  for p in "${ports[@]}"; do
    [ "$(info_field "$p" cluster_known_nodes)" = 1 ] || return 1
    [ "$(info_field "$p" cluster_slots_assigned)" = 0 ] || return 1
  done
}

up() {
  local p addrs=()
  for p in "${ports[@]}"; do
    if node_ok "$p"; then
      cli "$p" info cluster | grep -q 'cluster_enabled:1' \
        || die "$host:$p answers but is not a cluster node; choose other REDIS_CLUSTER_PORTS"
    else
      log "starting node $host:$p"
      start_node "$p"
    fi
    addrs+=("$host:$p")
  done
  if all_ok; then
    log "cluster of ${#ports[@]} masters is up (reused or already formed)"
  elif fresh; then
    log "creating the cluster: ${addrs[*]}"
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes >"$data/${ports[0]}/create.log" 2>&1 \
      || die "redis-cli --cluster create failed: see $data/${ports[0]}/create.log"
    wait_until 30 "cluster_state:ok on every node" all_ok
    log "cluster created"
  else
    # Nodes restarting or still gossiping: give them time, then tell the user what to do.
    wait_until 30 "cluster_state:ok on every node (if it never comes, run: scripts/redis-cluster.sh down)" all_ok
    log "cluster is up"
  fi
}

cmd="${1:-}"
case "$cmd" in
  up)
    up
    nodes_value
    ;;
  nodes)
    nodes_value
    ;;
  exec)
    shift
    [ $# -gt 0 ] || die "usage: scripts/redis-cluster.sh exec CMD [ARG...]"
    up
    REDIS_CLUSTER_NODES="$(nodes_value)"
    export REDIS_CLUSTER_NODES
    log "REDIS_CLUSTER_NODES=$REDIS_CLUSTER_NODES"
    exec "$@"
    ;;
  down)
    for p in "${ports[@]}"; do
      if [ -f "$data/$p/redis.pid" ]; then
        stop_node "$p"
        log "node $p stopped"
      elif node_ok "$p"; then
        log "node $p was not started by this script (no pid file under $data): left alone"
        continue
      fi
      rm -rf "${data:?}/$p"
    done
    rmdir "$data" 2>/dev/null || true # other clusters (other REDIS_CLUSTER_PORTS) may live there too
    ;;
  status)
    rc=0
    for p in "${ports[@]}"; do
      if node_ok "$p"; then
        echo "$host:$p: up, cluster_state:$(info_field "$p" cluster_state), slots $(info_field "$p" cluster_slots_assigned) assigned, known nodes $(info_field "$p" cluster_known_nodes), keys $(cli "$p" dbsize)"
      else
        echo "$host:$p: down"
        rc=1
      fi
    done
    exit $rc
    ;;
  restart-empty|stop-node)
    port="${2:-}"
    [[ " ${ports[*]} " == *" $port "* ]] || die "usage: scripts/redis-cluster.sh $cmd PORT (one of ${ports[*]})"
    [ -f "$data/$port/nodes.conf" ] || die "node $port has no nodes.conf under $data: run up first"
    if [ "$cmd" = stop-node ]; then
      stop_node "$port"
      log "node $port stopped (scripts/redis-cluster.sh up starts it again, empty)"
      exit 0
    fi
    log "restarting node $host:$port empty (keeps nodes.conf: same id, same slots)"
    stop_node "$port"
    start_node "$port"
    wait_until 30 "cluster_state:ok on every node" all_ok
    log "node $port is back, empty; cluster_state:ok"
    ;;
  *) die "usage: scripts/redis-cluster.sh up|down|status|nodes|exec CMD...|restart-empty PORT|stop-node PORT" ;;
esac
