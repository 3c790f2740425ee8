#!/usr/bin/env bash
# Brings tierstream's services up, down, or reports them: NATS with JetStream, Redis, ClickHouse.
#
#   scripts/services.sh up|down|status
#
# A server already answering on the configured URL (NATS_URL, REDIS_URL, CLICKHOUSE_URL) is reused.
# Otherwise one is started on loopback, detached (it outlives the engine), with its data under the
# git-ignored .data/ folder. `down` stops only what this script started (it keeps pid files).
# With a Docker engine answering, `docker compose` runs the services instead.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${TIERSTREAM_DATA_DIR:-$root/.data}"
pids="$data/pids"

NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
CLICKHOUSE_URL="${CLICKHOUSE_URL:-http://127.0.0.1:8123}"

log() { printf 'services: %s\n' "$*" >&2; }
die() { printf 'services: error: %s\n' "$*" >&2; exit 1; }

# host_port URL DEFAULT_PORT -> "host port" of the first server in a (comma separated) URL list.
host_port() {
  local url="${1%%,*}" default_port="$2" hp host port
  hp="${url#*://}"; hp="${hp##*@}"; hp="${hp%%/*}"
  host="${hp%:*}"; port="${hp##*:}"
  [ "$host" = "$hp" ] && port="$default_port"
  [ -z "$host" ] && host=127.0.0.1
  [ "$host" = localhost ] && host=127.0.0.1
  printf '%s %s\n' "$host" "$port"
}

is_loopback() { case "$1" in 127.*|::1|localhost) return 0 ;; *) return 1 ;; esac; }

read -r nats_host nats_port < <(host_port "$NATS_URL" 4222)
read -r redis_host redis_port < <(host_port "$REDIS_URL" 6379)
read -r ch_host ch_port < <(host_port "$CLICKHOUSE_URL" 8123)

nats_ok() {
  # A NATS server greets every connection with an INFO line.
  timeout 2 bash -c "exec 3<>/dev/tcp/$nats_host/$nats_port && head -c 4 <&3" 2>/dev/null | grep -q INFO
}
redis_ok() { timeout 2 redis-cli -h "$redis_host" -p "$redis_port" ping 2>/dev/null | grep -q PONG; }
clickhouse_ok() { curl -sf --max-time 2 "http://$ch_host:$ch_port/ping" 2>/dev/null | grep -q Ok; }

need_packages() {
  local missing=()
  local bin pkg
  for pair in "$@"; do
    bin="${pair%%:*}"; pkg="${pair##*:}"
    command -v "$bin" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; } \
      || die "apt-get install ${missing[*]} failed"
  else
    die "missing Debian packages; run: sudo apt-get install -y ${missing[*]}"
  fi
}

wait_for() { # NAME CHECK SECONDS
  local name="$1" check="$2" secs="$3" i
  for ((i = 0; i < secs * 5; i++)); do
    "$check" && return 0
    sleep 0.2
  done
  die "$name did not answer within ${secs}s (log under $data/$name)"
}

start_nats() {
  need_packages nats-server:nats-server
  mkdir -p "$data/nats" "$pids"
  setsid nats-server -a "$nats_host" -p "$nats_port" -js -sd "$data/nats/jetstream" \
    -l "$data/nats/nats-server.log" -P "$pids/nats.pid" </dev/null >/dev/null 2>&1 &
  wait_for nats nats_ok 20
}

start_redis() {
  need_packages redis-server:redis-server redis-cli:redis-tools
  mkdir -p "$data/redis" "$pids"
  redis-server --daemonize yes --bind "$redis_host" --port "$redis_port" --dir "$data/redis" \
    --save "" --appendonly no --logfile "$data/redis/redis.log" --pidfile "$pids/redis.pid" >/dev/null
  wait_for redis redis_ok 20
}

start_clickhouse() {
  need_packages clickhouse-server:clickhouse-server curl:curl
  mkdir -p "$data/clickhouse/log" "$data/clickhouse/tmp" "$pids"
  local tcp_port=$((ch_port + 877)) # 8123 -> 9000 by default
  sed -e "s#__DATA__#$data/clickhouse#g" -e "s#__HTTP_PORT__#$ch_port#" -e "s#__TCP_PORT__#$tcp_port#" \
    "$root/scripts/clickhouse/config.xml" >"$data/clickhouse/config.xml"
  cp "$root/scripts/clickhouse/users.xml" "$data/clickhouse/users.xml"
  (cd "$data/clickhouse" && setsid clickhouse-server --config-file="$data/clickhouse/config.xml" \
    --pid-file="$pids/clickhouse.pid" </dev/null >>"$data/clickhouse/log/stdout.log" 2>&1 &)
  wait_for clickhouse clickhouse_ok 60
}

docker_engine() { command -v docker >/dev/null 2>&1 && timeout 5 docker info >/dev/null 2>&1; }

up_one() { # NAME HOST
  local name="$1" host="$2"
  if "${name}_ok"; then log "$name: reusing the server answering at $host"; return 0; fi
  is_loopback "$host" || die "$name: nothing answers at $host, and it is not a loopback address this script could start"
  log "$name: starting on $host"
  "start_$name"
  log "$name: up"
}

stop_one() {
  local name="$1" pidfile="$pids/$1.pid" pid
  [ -f "$pidfile" ] || { log "$name: not started by this script, left alone"; return 0; }
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    log "$name: stopped"
  fi
  rm -f "$pidfile"
}

status_one() {
  if "${1}_ok"; then echo "$1: up ($2)"; else echo "$1: down ($2)"; return 1; fi
}

cmd="${1:-}"
case "$cmd" in
  up)
    if ! { nats_ok && redis_ok && clickhouse_ok; } && docker_engine; then
      log "a Docker engine answers: using docker compose"
      docker compose -f "$root/docker-compose.yml" up -d --wait
    fi
    up_one nats "$nats_host:$nats_port"
    up_one redis "$redis_host:$redis_port"
    up_one clickhouse "$ch_host:$ch_port"
    ;;
  down)
    if docker_engine && [ -n "$(docker compose -f "$root/docker-compose.yml" ps -q 2>/dev/null)" ]; then
      docker compose -f "$root/docker-compose.yml" down
    fi
    stop_one clickhouse
    stop_one redis
    stop_one nats
    ;;
  status)
    rc=0
    status_one nats "$nats_host:$nats_port" || rc=1
    status_one redis "$redis_host:$redis_port" || rc=1
    status_one clickhouse "$ch_host:$ch_port" || rc=1
    exit $rc
    ;;
  *) die "usage: scripts/services.sh up|down|status" ;;
esac
