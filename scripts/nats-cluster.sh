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
  [ -n "${server:-}" ] || choose_server
  nohup "$server" -c "$dir/nats.conf" -P "$dir/nats.pid" -l "$dir/nats.log" </dev/null >/dev/null 2>&1 &
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
# #4319 in 2.9.21): a KV compare-and-set on 3 replicas can then lose an update. Debian 12's
# package is 2.9.10, so when the nats-server on PATH is older, the nodes run the binary of
# Debian 13's package instead, fetched once from Debian's mirror (checked against the SHA-256
# that Debian's signed index gives for it) and unpacked under $TIERSTREAM_DATA_DIR/bin. Set
# NATS_SERVER_BIN to use another binary; the single server of scripts/services.sh is not
# affected (a single server has no replicas, so no such race).
fixed_deb_url="${NATS_SERVER_DEB_URL:-http://deb.debian.org/debian/pool/main/n/nats-server/nats-server_2.10.27-1+b2_amd64.deb}"
fixed_deb_sha256="${NATS_SERVER_DEB_SHA256:-6d913ac987b78734c08537c2adeb1526cf735f216173a9170d94b185fcfe6f8a}"
bin_dir="${TIERSTREAM_DATA_DIR:-$root/.data}/bin"

version_of() { "$1" --version 2>/dev/null | sed -n 's/.*v\([0-9][0-9.]*\).*/\1/p'; }
at_least() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" = "$2" ]; } # VERSION MIN

fetch_fixed_server() { # prints the path of the unpacked binary
  local dest="$bin_dir/nats-server-2.10.27" tmp
  if [ -x "$dest" ]; then echo "$dest"; return 0; fi
  command -v dpkg-deb >/dev/null || die "dpkg-deb is needed to unpack nats-server's Debian package"
  mkdir -p "$bin_dir"
  tmp="$(mktemp -d "$bin_dir/.fetch.XXXXXX")"
  log "fetching nats-server 2.10.27 (Debian 13's package) from $fixed_deb_url"
  curl -fsS -m 120 -o "$tmp/nats.deb" "$fixed_deb_url" || { rm -rf "$tmp"; die "could not fetch $fixed_deb_url"; }
  if ! echo "$fixed_deb_sha256  $tmp/nats.deb" | sha256sum -c --quiet - >/dev/null 2>&1; then
    rm -rf "$tmp"; die "$fixed_deb_url does not have the expected SHA-256 $fixed_deb_sha256"
  fi
  dpkg-deb -x "$tmp/nats.deb" "$tmp/x"
  mv "$tmp/x/usr/sbin/nats-server" "$dest"
  rm -rf "$tmp"
  echo "$dest"
}

choose_server() { # sets server
  local v
  if [ -n "${NATS_SERVER_BIN:-}" ]; then server="$NATS_SERVER_BIN"; return 0; fi
  server="$(command -v nats-server || true)"
  v="$([ -n "$server" ] && version_of "$server" || true)"
  if [ -n "$v" ] && at_least "$v" 2.9.21; then return 0; fi
  log "nats-server ${v:-(none)} on PATH is older than 2.9.21 (nats-io/nats-server#4320: KV compare-and-set on replicated buckets may lose updates); the nodes run Debian 13's 2.10.27"
  server="$(fetch_fixed_server)"
}

warn_if_old() { # PORT: a node already running (started before this script chose its binary)
  local v
  v="$(curl -fsS -m 2 "http://$host:$(($1 + 4000))/varz" 2>/dev/null | sed -n 's/.*"version": *"\([0-9.]*\)".*/\1/p' | head -n 1)"
  if [ -n "$v" ] && ! at_least "$v" 2.9.21; then
    log "warning: node $1 runs nats-server $v, older than 2.9.21 (nats-io/nats-server#4320); 'down' then 'up' restarts it on a fixed server"
  fi
}

up() {
  local p
  for p in "${ports[@]}"; do
    if answering "$p"; then warn_if_old "$p"; continue; fi
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
    if [ "$cmd" = stop-node ]; then
      stop_node "$port"
      # A node this checkout did not start (no pid file under its data dir) still answers: say
      # so, rather than let a fault test run with every node up.
      if answering "$port"; then die "node $port still answers: it was not started from this checkout (no pid file under $data)"; fi
      log "node $port stopped"; exit 0
    fi
    answering "$port" || start_node "$port"
    wait_until 60 "JetStream healthy on every node" all_healthy
    log "node $port is back"
    ;;
  *) die "usage: scripts/nats-cluster.sh up|down|status|url|exec CMD...|stop-node PORT|start-node PORT" ;;
esac
