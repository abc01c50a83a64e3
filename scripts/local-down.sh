#!/usr/bin/env bash
# Stops the local stand-ins this project started (by the PIDs it recorded), nothing else.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

exec 9>"$LOCAL_DIR/stack.lock"
flock 9

stop() {
  local name="$1" pid i
  if ! pid="$(service_pid "$name")"; then
    say "$name: not running"
    rm -f "$RUN_DIR/$name.pid"
    return 0
  fi
  kill -TERM "$pid"
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "$name (pid $pid) did not stop in 30 s; sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$RUN_DIR/$name.pid"
  say "$name: stopped (pid $pid)"
}
stop storefront
stop moto
rm -f "$RUN_DIR/moto.launcher"
stop postgres
stop mariadb
