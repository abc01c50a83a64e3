#!/usr/bin/env bash
# Shows each local stand-in as up or down; exits non-zero when any is down.
set -uo pipefail
. "$(dirname "$0")/lib/common.sh"

down=0
show() {
  local name="$1" port="$2" pid state
  if pid="$(service_pid "$name")" && port_open "$port"; then
    state="up    pid $pid"
  elif port_open "$port"; then
    state="down  (port taken by a process this project did not start)"; down=1
  else
    state="down"; down=1
  fi
  printf '%-10s 127.0.0.1:%-6s %s\n' "$name" "$port" "$state"
}
show mariadb "$RECO_LOCAL_MYSQL_PORT"
show postgres "$RECO_LOCAL_PG_PORT"
show moto "$RECO_LOCAL_MOTO_PORT"
[ -f "$RUN_DIR/storefront.pid" ] && show storefront "${RECO_STOREFRONT_PORT:-18080}"
if [ -f "$LOCAL_DIR/tls/server.pem" ]; then
  # The servers' certificate (scripts/local-up.sh renews it 30 days before it expires).
  echo "tls:      CA $LOCAL_DIR/tls/ca.pem; server certificate $(openssl x509 -in "$LOCAL_DIR/tls/server.pem" -noout -enddate 2>/dev/null | sed 's/notAfter=/valid until /')"
fi
[ -f "$LOCAL_DIR/env" ] && echo "settings: $LOCAL_DIR/env"
exit "$down"
