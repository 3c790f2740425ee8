#!/usr/bin/env bash
# What a fresh clone needs before `npm start` or `npm test`, installed by the project itself:
#
#   scripts/setup.sh start|test
#
# - npm packages: `npm ci` when node_modules is missing or older than package-lock.json;
# - Debian packages for the tests (Chromium for the console's browser tests), with apt when
#   running as root; otherwise it stops and prints the command to run.
# The services' own packages (nats-server, redis, clickhouse) are scripts/services.sh's.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
log() { printf 'setup: %s\n' "$*" >&2; }

if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund >&2
fi

if [ "${1:-}" = test ] && [ -z "${CHROMIUM_PATH:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing Debian packages: chromium (the console's browser tests)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; } \
      || { log "apt-get install chromium failed"; exit 1; }
  else
    log "Chromium is missing for the browser tests; run: sudo apt-get install -y chromium (or set CHROMIUM_PATH)"
    exit 1
  fi
fi
