#!/usr/bin/env bash
# A local ClickHouse cluster for tests: two clickhouse-server nodes on loopback, each one shard
# (no replicas) of the cluster `tierstream` in both nodes' remote_servers. No ZooKeeper: with
# CLICKHOUSE_CLUSTER set, tierstream creates its tables on every node itself.
#
#   scripts/clickhouse-cluster.sh up                 start (or reuse) the nodes, wait until every
#                                                    node answers and sees the cluster; prints the
#                                                    CLICKHOUSE_URL value (comma separated) on stdout
#   scripts/clickhouse-cluster.sh down               stop the nodes this script started, remove their data
#   scripts/clickhouse-cluster.sh status             each node: answering, version, shards it sees
#   scripts/clickhouse-cluster.sh url                print the CLICKHOUSE_URL value
#   scripts/clickhouse-cluster.sh exec CMD [ARG...]  `up`, then run CMD with CLICKHOUSE_URL and
#                                                    CLICKHOUSE_CLUSTER=tierstream exported
#   scripts/clickhouse-cluster.sh stop-node PORT     stop one node (SIGTERM; its data stays): its
#                                                    shard is away
#   scripts/clickhouse-cluster.sh start-node PORT    start a stopped node again, with its data
#
# Environment: CLICKHOUSE_CLUSTER_PORTS (default 8201,8202: HTTP ports; each node's native TCP
# port, the one Distributed tables use between nodes, is its HTTP port + 1000), TIERSTREAM_DATA_DIR
# (default .data; nodes live under its clickhouse-cluster/<port>/). The server configuration is
# scripts/clickhouse/config.xml, the single server's, with the cluster added.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${TIERSTREAM_DATA_DIR:-$root/.data}/clickhouse-cluster"
host=127.0.0.1
cluster=tierstream
IFS=', ' read -r -a ports <<<"${CLICKHOUSE_CLUSTER_PORTS:-8201,8202}"

log() { printf 'clickhouse-cluster: %s\n' "$*" >&2; }
die() { printf 'clickhouse-cluster: error: %s\n' "$*" >&2; exit 1; }

[ ${#ports[@]} -ge 2 ] || die "CLICKHOUSE_CLUSTER_PORTS needs at least 2 ports (two shards), got '${CLICKHOUSE_CLUSTER_PORTS:-}'"
command -v clickhouse-server >/dev/null || die "clickhouse-server is needed (Debian: apt-get install -y clickhouse-server)"
command -v curl >/dev/null || die "curl is needed (Debian: apt-get install -y curl)"

url_value() { local IFS=,; local list=(); for p in "${ports[@]}"; do list+=("http://$host:$p"); done; echo "${list[*]}"; }
query() { curl -fsS -m 5 "http://$host:$1/" --data-binary "$2" 2>/dev/null; }
answering() { curl -fsS -m 2 "http://$host:$1/ping" 2>/dev/null | grep -q Ok; }
# The node answers and its remote_servers has every shard of the cluster.
sees_cluster() { [ "$(query "$1" "SELECT count() FROM system.clusters WHERE cluster = '$cluster'")" = "${#ports[@]}" ]; }
all_ready() { local p; for p in "${ports[@]}"; do answering "$p" && sees_cluster "$p" || return 1; done; }

wait_until() { # SECONDS DESCRIPTION CMD...
  local secs="$1" what="$2" i; shift 2
  for ((i = 0; i < secs * 5; i++)); do
    "$@" && return 0
    sleep 0.2
  done
  die "$what not reached within ${secs}s (logs under $data)"
}

remote_servers() { # the <remote_servers> section: one shard per node, one replica each
  local p
  echo "    <remote_servers>"
  echo "        <$cluster>"
  for p in "${ports[@]}"; do
    echo "            <shard><replica><host>$host</host><port>$((p + 1000))</port></replica></shard>"
  done
  echo "        </$cluster>"
  echo "    </remote_servers>"
}

write_config() { # PORT
  local port="$1" dir="$data/$1"
  mkdir -p "$dir/log" "$dir/tmp"
  sed -e "s#__DATA__#$dir#g" -e "s#__HTTP_PORT__#$port#" -e "s#__TCP_PORT__#$((port + 1000))#" \
    "$root/scripts/clickhouse/config.xml" | sed '/<\/yandex>/d' >"$dir/config.xml"
  remote_servers >>"$dir/config.xml"
  echo "</yandex>" >>"$dir/config.xml"
  cp "$root/scripts/clickhouse/users.xml" "$dir/users.xml"
}

start_node() { # PORT
  local port="$1" dir="$data/$1"
  [ -f "$dir/config.xml" ] || write_config "$port"
  # --daemon: 18.16 writes the pid file only when it daemonizes itself.
  (cd "$dir" && clickhouse-server --daemon --config-file="$dir/config.xml" --pid-file="$dir/clickhouse.pid" \
    </dev/null >>"$dir/log/stdout.log" 2>&1)
  wait_until 60 "node $port answering" answering "$port"
}

stop_node() { # PORT
  local pidfile="$data/$1/clickhouse.pid" pid=""
  [ -f "$pidfile" ] && pid="$(cat "$pidfile")"
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
  rm -f "$pidfile"
}

up() {
  local p
  for p in "${ports[@]}"; do
    if answering "$p"; then
      sees_cluster "$p" || die "$host:$p answers but has no cluster '$cluster' of ${#ports[@]} shards; choose other CLICKHOUSE_CLUSTER_PORTS"
      continue
    fi
    log "starting node $host:$p"
    start_node "$p"
  done
  wait_until 60 "every node answering and seeing cluster '$cluster'" all_ready
  log "cluster '$cluster' of ${#ports[@]} shards is up"
}

cmd="${1:-}"
case "$cmd" in
  up) up; url_value ;;
  url) url_value ;;
  exec)
    shift
    [ $# -gt 0 ] || die "usage: scripts/clickhouse-cluster.sh exec CMD [ARG...]"
    up
    CLICKHOUSE_URL="$(url_value)"
    CLICKHOUSE_CLUSTER="$cluster"
    export CLICKHOUSE_URL CLICKHOUSE_CLUSTER
    log "CLICKHOUSE_URL=$CLICKHOUSE_URL CLICKHOUSE_CLUSTER=$CLICKHOUSE_CLUSTER"
    exec "$@"
    ;;
  down)
    for p in "${ports[@]}"; do
      if [ -f "$data/$p/clickhouse.pid" ]; then stop_node "$p"; log "node $p stopped"
      elif answering "$p"; then log "node $p was not started by this script (no pid file under $data): left alone"; continue
      fi
      rm -rf "${data:?}/$p"
    done
    rmdir "$data" 2>/dev/null || true
    ;;
  status)
    rc=0
    for p in "${ports[@]}"; do
      if answering "$p"; then
        echo "$host:$p: up, version $(query "$p" 'SELECT version()'), cluster '$cluster': $(query "$p" "SELECT count() FROM system.clusters WHERE cluster = '$cluster'") shards"
      else echo "$host:$p: down"; rc=1
      fi
    done
    exit $rc
    ;;
  stop-node|start-node)
    port="${2:-}"
    [[ " ${ports[*]} " == *" $port "* ]] || die "usage: scripts/clickhouse-cluster.sh $cmd PORT (one of ${ports[*]})"
    if [ "$cmd" = stop-node ]; then
      stop_node "$port"
      # A node this checkout did not start (no pid file under its data dir) still answers: say
      # so, rather than let a fault test run with every node up.
      if answering "$port"; then die "node $port still answers: it was not started from this checkout (no pid file under $data)"; fi
      log "node $port stopped"; exit 0
    fi
    answering "$port" || start_node "$port"
    wait_until 60 "every node answering and seeing cluster '$cluster'" all_ready
    log "node $port is back"
    ;;
  *) die "usage: scripts/clickhouse-cluster.sh up|down|status|url|exec CMD...|stop-node PORT|start-node PORT" ;;
esac
