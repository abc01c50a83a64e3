# Shared settings and helpers of reco's local-stack scripts. Source it; do not run it.
# Every port and path can be overridden from the environment; chosen ports are remembered
# in .local/ports.env so later commands talk to the same servers.

RECO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL_DIR="${RECO_LOCAL_DIR:-$RECO_ROOT/.local}"
RUN_DIR="$LOCAL_DIR/run"
LOG_DIR="$LOCAL_DIR/log"
VENV_DIR="$LOCAL_DIR/venv"

# Versions installed from the registries.
MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
CARGO_LAMBDA_VERSION="${CARGO_LAMBDA_VERSION:-1.9.2}"
PGVECTOR_MIN_VERSION="0.8.0"
PG_MAJOR=15
PG_BIN="/usr/lib/postgresql/$PG_MAJOR/bin"

mkdir -p "$LOCAL_DIR" "$RUN_DIR" "$LOG_DIR"

if [ -f "$LOCAL_DIR/ports.env" ]; then
  # shellcheck disable=SC1091
  . "$LOCAL_DIR/ports.env"
fi
RECO_LOCAL_MYSQL_PORT="${RECO_LOCAL_MYSQL_PORT:-13306}"
RECO_LOCAL_PG_PORT="${RECO_LOCAL_PG_PORT:-15432}"
RECO_LOCAL_MOTO_PORT="${RECO_LOCAL_MOTO_PORT:-15000}"

say() { printf '[reco] %s\n' "$*" >&2; }
die() { printf '[reco] error: %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly when root, else through sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Pid recorded for service $1 when that process is still alive, else nothing.
service_pid() {
  local file="$RUN_DIR/$1.pid" pid
  [ -f "$file" ] || return 1
  pid="$(cat "$file")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# Waits up to $2 seconds for port $1 to accept connections; $3 names the service.
wait_for_port() {
  local port="$1" seconds="$2" name="$3" i
  for ((i = 0; i < seconds * 10; i++)); do
    port_open "$port" && return 0
    sleep 0.1
  done
  die "$name did not start listening on 127.0.0.1:$port within ${seconds}s (log: $LOG_DIR/$name.log)"
}
