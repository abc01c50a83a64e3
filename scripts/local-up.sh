#!/usr/bin/env bash
# Starts reco's local stand-ins on 127.0.0.1 (MariaDB for RDS MySQL, PostgreSQL + pgvector
# for RDS PostgreSQL, moto for the AWS APIs), installing what is missing first, and writes
# .local/env. Idempotent: services already running are left alone. Serialised by a lock so
# concurrent callers (parallel tests) do not race.
#
# Both databases serve TLS with a certificate for 127.0.0.1 and localhost signed by a CA of
# this checkout (.local/tls/ca.pem, created here with openssl), and the URLs in .local/env
# verify it (PostgreSQL sslmode=verify-full, MySQL ssl-mode=VERIFY_IDENTITY), as the AWS
# connections verify the RDS CA. A server already running without TLS is given it once
# (PostgreSQL by a configuration reload, MariaDB by one restart).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

exec 9>"$LOCAL_DIR/stack.lock"
flock 9

# Refuses to start service $1 when port $2 is taken by a process this project did not start.
claim_port() {
  if port_open "$2"; then
    die "port $2 (for $1) is already in use by another process; stop it or choose another port with ${3}=<port> make local-up"
  fi
}
# Check every port before installing anything, so a conflict is reported at once.
service_pid mariadb >/dev/null || claim_port MariaDB "$RECO_LOCAL_MYSQL_PORT" RECO_LOCAL_MYSQL_PORT
service_pid postgres >/dev/null || claim_port PostgreSQL "$RECO_LOCAL_PG_PORT" RECO_LOCAL_PG_PORT
service_pid moto >/dev/null || claim_port moto "$RECO_LOCAL_MOTO_PORT" RECO_LOCAL_MOTO_PORT

bash "$RECO_ROOT/scripts/local-install.sh" ${RECO_WITH_CARGO_LAMBDA:+--with-cargo-lambda}

cat >"$LOCAL_DIR/ports.env" <<PORTS
RECO_LOCAL_MYSQL_PORT=$RECO_LOCAL_MYSQL_PORT
RECO_LOCAL_PG_PORT=$RECO_LOCAL_PG_PORT
RECO_LOCAL_MOTO_PORT=$RECO_LOCAL_MOTO_PORT
PORTS

started=()

# --- TLS: a CA of this checkout and the servers' certificate ------------------
# ca.pem/ca.key: the local CA (10 years); server.pem/server.key: 127.0.0.1 and localhost,
# signed by it (825 days). Each is made again when missing, unreadable or expiring within
# 30 days; tls_new=1 then tells the servers below to load the new files.
tls_dir="$LOCAL_DIR/tls"
DB_CA_FILE="$tls_dir/ca.pem"
case "$DB_CA_FILE" in *"'"*) die "the path $LOCAL_DIR contains a quote ('), which .local/env cannot hold; use another RECO_LOCAL_DIR" ;; esac
tls_new=0
ensure_tls() {
  local month=2592000 ext
  mkdir -p "$tls_dir" && chmod 755 "$tls_dir"
  if ! openssl x509 -in "$tls_dir/ca.pem" -noout -checkend "$month" >/dev/null 2>&1 \
    || ! openssl pkey -in "$tls_dir/ca.key" -noout 2>/dev/null; then
    openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 3650 \
      -subj "/CN=reco local CA ($(hostname -s 2>/dev/null || echo local))" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout "$tls_dir/ca.key" -out "$tls_dir/ca.pem" >"$LOG_DIR/tls.log" 2>&1 \
      || die "openssl could not create the local CA (log: $LOG_DIR/tls.log)"
    chmod 600 "$tls_dir/ca.key" && chmod 644 "$tls_dir/ca.pem"
    rm -f "$tls_dir/server.pem"
  fi
  if ! openssl verify -CAfile "$tls_dir/ca.pem" "$tls_dir/server.pem" >/dev/null 2>&1 \
    || ! openssl x509 -in "$tls_dir/server.pem" -noout -checkend "$month" >/dev/null 2>&1 \
    || ! openssl pkey -in "$tls_dir/server.key" -noout 2>/dev/null; then
    ext="$tls_dir/server.ext"
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=critical,CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >"$ext"
    { openssl req -new -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$tls_dir/server.key.new" -out "$tls_dir/server.csr" \
      && openssl x509 -req -sha256 -days 825 -in "$tls_dir/server.csr" -CA "$tls_dir/ca.pem" \
        -CAkey "$tls_dir/ca.key" -set_serial "0x$(openssl rand -hex 16)" -extfile "$ext" \
        -out "$tls_dir/server.pem.new"; } >"$LOG_DIR/tls.log" 2>&1 \
      || die "openssl could not create the server certificate (log: $LOG_DIR/tls.log)"
    chmod 600 "$tls_dir/server.key.new" && chmod 644 "$tls_dir/server.pem.new"
    mv "$tls_dir/server.key.new" "$tls_dir/server.key" && mv "$tls_dir/server.pem.new" "$tls_dir/server.pem"
    rm -f "$tls_dir/server.csr" "$ext"
    tls_new=1
    say "created the local TLS certificates in $tls_dir (CA: $DB_CA_FILE)"
  fi
}
ensure_tls

# Percent-encodes $1 for a URL query value (the CA path; keeps / out of the URL's tail, so
# ${URL%/*} still strips just the database name).
url_encode() {
  local LC_ALL=C s="$1" out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c="${s:i:1}"
    case "$c" in
      [A-Za-z0-9._~-]) out+="$c" ;;
      *) out+="$(printf '%%%02X' "'$c")" ;;
    esac
  done
  printf '%s' "$out"
}

# --- MariaDB ---------------------------------------------------------------
mysql_dir="$LOCAL_DIR/mysql"
mysql_root() { mariadb --no-defaults --socket="$mysql_dir/mysqld.sock" -uroot "$@"; }
start_mariadb() {
  local mariadbd_bin
  mariadbd_bin="$(command -v mariadbd || echo /usr/sbin/mariadbd)"
  nohup "$mariadbd_bin" --no-defaults --datadir="$mysql_dir/data" --user="$(id -un)" \
    --bind-address=127.0.0.1 --port="$RECO_LOCAL_MYSQL_PORT" --socket="$mysql_dir/mysqld.sock" \
    --pid-file="$mysql_dir/mysqld.pid" --skip-name-resolve --skip-log-bin \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
    --innodb-buffer-pool-size=512M --innodb-flush-log-at-trx-commit=2 --innodb-log-file-size=256M \
    --max-allowed-packet=256M --local-infile=1 \
    --ssl-ca="$tls_dir/ca.pem" --ssl-cert="$tls_dir/server.pem" --ssl-key="$tls_dir/server.key" \
    >"$LOG_DIR/mariadb.log" 2>&1 9>&- &
  echo $! >"$RUN_DIR/mariadb.pid"
  wait_for_port "$RECO_LOCAL_MYSQL_PORT" 60 mariadb
}
if pid="$(service_pid mariadb)" && port_open "$RECO_LOCAL_MYSQL_PORT" \
  && [ "$(mysql_root -N -e 'SELECT @@have_ssl' 2>/dev/null)" != YES ]; then
  # Started before TLS was part of the stack: restart it once with the certificates.
  say "restarting MariaDB once to serve TLS"
  mariadb-admin --no-defaults --socket="$mysql_dir/mysqld.sock" -uroot shutdown 2>/dev/null || kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && die "MariaDB (pid $pid) did not stop within 30 s; stop it and run make local-up again"
  rm -f "$RUN_DIR/mariadb.pid"
  start_mariadb
  started+=("MariaDB with TLS on 127.0.0.1:$RECO_LOCAL_MYSQL_PORT")
elif service_pid mariadb >/dev/null && port_open "$RECO_LOCAL_MYSQL_PORT"; then
  # Running with TLS: new certificate files are read again without a restart.
  if [ "$tls_new" -eq 1 ]; then
    mysql_root -e 'FLUSH SSL' || die "MariaDB did not load the new certificates (FLUSH SSL; log: $LOG_DIR/mariadb.log)"
  fi
else
  claim_port MariaDB "$RECO_LOCAL_MYSQL_PORT" RECO_LOCAL_MYSQL_PORT
  if [ ! -d "$mysql_dir/data/mysql" ]; then
    mkdir -p "$mysql_dir/data"
    mariadb-install-db --no-defaults --datadir="$mysql_dir/data" --user="$(id -un)" \
      --auth-root-authentication-method=socket --skip-test-db >"$LOG_DIR/mariadb-install.log" 2>&1 \
      || die "mariadb-install-db failed (log: $LOG_DIR/mariadb-install.log)"
  fi
  start_mariadb
  mysql_root <<'SQL' || die "MariaDB user setup failed"
CREATE USER IF NOT EXISTS 'reco'@'127.0.0.1' IDENTIFIED BY 'reco';
CREATE USER IF NOT EXISTS 'reco'@'localhost' IDENTIFIED BY 'reco';
GRANT ALL PRIVILEGES ON *.* TO 'reco'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'reco'@'localhost' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS reco CHARACTER SET utf8mb4;
SQL
  started+=("MariaDB on 127.0.0.1:$RECO_LOCAL_MYSQL_PORT")
fi

# --- PostgreSQL + pgvector --------------------------------------------------
# PostgreSQL refuses to run as root: it runs as the postgres user, in a data folder that
# user can reach (under .local/ when the checkout is traversable, else under /var/tmp).
pg_dir="$LOCAL_DIR/pg"
run_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}
if service_pid postgres >/dev/null && port_open "$RECO_LOCAL_PG_PORT"; then
  :
else
  claim_port PostgreSQL "$RECO_LOCAL_PG_PORT" RECO_LOCAL_PG_PORT
  if [ ! -e "$pg_dir" ]; then
    if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$LOCAL_DIR"; then
      real="/var/tmp/reco-pg-$(echo "$LOCAL_DIR" | md5sum | cut -c1-12)"
      mkdir -p "$real" && ln -s "$real" "$pg_dir"
    else
      mkdir -p "$pg_dir"
    fi
  fi
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$pg_dir/"
  if [ ! -f "$pg_dir/data/PG_VERSION" ]; then
    run_pg "$PG_BIN/initdb" -D "$pg_dir/data" -U postgres --auth-local=trust \
      --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >"$LOG_DIR/pg-initdb.log" 2>&1 \
      || die "initdb failed (log: $LOG_DIR/pg-initdb.log)"
  fi
  run_pg mkdir -p "$pg_dir/run"
  run_pg "$PG_BIN/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $RECO_LOCAL_PG_PORT -k $pg_dir/run -c max_connections=200 -c shared_buffers=512MB -c maintenance_work_mem=1GB -c max_parallel_maintenance_workers=1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >"$LOG_DIR/postgres.log" 2>&1 9>&- \
    || die "PostgreSQL did not start (logs: $LOG_DIR/postgres.log, $pg_dir/postgres.log)"
  head -1 "$pg_dir/data/postmaster.pid" >"$RUN_DIR/postgres.pid"
  wait_for_port "$RECO_LOCAL_PG_PORT" 30 postgres
  run_pg psql -q -h "$pg_dir/run" -p "$RECO_LOCAL_PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null <<'SQL' || die "PostgreSQL role setup failed"
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'reco') THEN
    CREATE ROLE reco LOGIN SUPERUSER PASSWORD 'reco';
  END IF;
END $$;
SELECT 'CREATE DATABASE reco OWNER reco' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'reco')
\gexec
\c reco
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS vector;
SQL
  started+=("PostgreSQL $PG_MAJOR + pgvector on 127.0.0.1:$RECO_LOCAL_PG_PORT")
fi
# TLS on PostgreSQL: its own copy of the server certificate and key (the key must belong to
# the server's user, mode 0600), switched on with ALTER SYSTEM and a configuration reload
# (no restart: open connections stay). Done when the settings or the files differ.
pg_sql() { run_pg psql -qAtX -h "$pg_dir/run" -p "$RECO_LOCAL_PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
pg_tls="$pg_dir/tls"
pg_tls_changed=0
run_pg mkdir -p "$pg_tls"
for f in server.pem server.key; do
  if ! cmp -s "$tls_dir/$f" "$pg_tls/$f"; then
    run_pg sh -c "umask 077 && cat >'$pg_tls/$f.new' && mv '$pg_tls/$f.new' '$pg_tls/$f'" <"$tls_dir/$f" \
      || die "cannot copy $f to $pg_tls"
    pg_tls_changed=1
  fi
done
if [ "$(pg_sql -c "SELECT current_setting('ssl') || ' ' || current_setting('ssl_cert_file') || ' ' || current_setting('ssl_key_file')")" \
  != "on $pg_tls/server.pem $pg_tls/server.key" ] || [ "$pg_tls_changed" -eq 1 ]; then
  pg_sql >/dev/null <<SQL || die "PostgreSQL TLS setup failed (log: $pg_dir/postgres.log)"
ALTER SYSTEM SET ssl_cert_file = '$pg_tls/server.pem';
ALTER SYSTEM SET ssl_key_file = '$pg_tls/server.key';
ALTER SYSTEM SET ssl = on;
SELECT pg_reload_conf();
SQL
  say "PostgreSQL serves TLS with the local certificate (configuration reloaded)"
fi
# Both servers must now pass the check the URLs below ask for; otherwise say why here.
for _ in $(seq 1 50); do
  PGPASSWORD=reco psql -qAtX "host=127.0.0.1 port=$RECO_LOCAL_PG_PORT user=reco dbname=reco sslmode=verify-full sslrootcert=$DB_CA_FILE" \
    -c 'SELECT 1' >/dev/null 2>"$LOG_DIR/tls-check.log" && break
  sleep 0.1
done
[ -s "$LOG_DIR/tls-check.log" ] && die "PostgreSQL does not pass verify-full TLS with $DB_CA_FILE: $(head -1 "$LOG_DIR/tls-check.log") (log: $pg_dir/postgres.log)"
mariadb --no-defaults -h 127.0.0.1 -P "$RECO_LOCAL_MYSQL_PORT" -ureco -preco --ssl --ssl-ca="$DB_CA_FILE" --ssl-verify-server-cert \
  -N -e 'SELECT 1' >/dev/null 2>"$LOG_DIR/tls-check.log" \
  || die "MariaDB does not pass verified TLS with $DB_CA_FILE: $(head -1 "$LOG_DIR/tls-check.log") (log: $LOG_DIR/mariadb.log)"

# --- moto (S3, Kinesis, Firehose API, Glue, IAM, Lambda API, RDS API, Secrets Manager) ---
# moto runs through scripts/lib/moto_server.py, which adds the two Step Functions actions the
# aws provider calls for the daily loop's state machine; a moto started before without it
# (no marker) is restarted once.
MOTO_LAUNCHER="$RECO_ROOT/scripts/lib/moto_server.py"
if pid="$(service_pid moto)" && [ ! -f "$RUN_DIR/moto.launcher" ]; then
  say "restarting moto through scripts/lib/moto_server.py (Step Functions actions for Terraform)"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  rm -f "$RUN_DIR/moto.pid"
fi
if service_pid moto >/dev/null && port_open "$RECO_LOCAL_MOTO_PORT"; then
  :
else
  claim_port moto "$RECO_LOCAL_MOTO_PORT" RECO_LOCAL_MOTO_PORT
  # The VPC-attached Lambdas use AWS managed policies (AWSLambdaVPCAccessExecutionRole); moto only knows them when asked.
  MOTO_IAM_LOAD_MANAGED_POLICIES=true nohup "$VENV_DIR/bin/python" "$MOTO_LAUNCHER" -H 127.0.0.1 -p "$RECO_LOCAL_MOTO_PORT" >"$LOG_DIR/moto.log" 2>&1 9>&- &
  echo $! >"$RUN_DIR/moto.pid"
  touch "$RUN_DIR/moto.launcher"
  wait_for_port "$RECO_LOCAL_MOTO_PORT" 60 moto
  started+=("moto on 127.0.0.1:$RECO_LOCAL_MOTO_PORT")
fi

ca_query="$(url_encode "$DB_CA_FILE")"
cat >"$LOCAL_DIR/env.tmp" <<ENV
# Written by scripts/local-up.sh: settings of the local stack. The environment overrides them.
# The database URLs verify the servers' TLS certificates against RECO_DB_CA_FILE (quoted: & in
# the query; the CA path is percent-encoded).
AWS_ENDPOINT_URL=http://127.0.0.1:$RECO_LOCAL_MOTO_PORT
AWS_REGION=us-east-1
AWS_DEFAULT_REGION=us-east-1
AWS_ACCESS_KEY_ID=test
AWS_SECRET_ACCESS_KEY=test
RECO_MYSQL_URL='mysql://reco:reco@127.0.0.1:$RECO_LOCAL_MYSQL_PORT/reco?ssl-mode=VERIFY_IDENTITY&ssl-ca=$ca_query'
RECO_PG_URL='postgres://reco:reco@127.0.0.1:$RECO_LOCAL_PG_PORT/reco?sslmode=verify-full&sslrootcert=$ca_query'
RECO_DB_CA_FILE='$DB_CA_FILE'
RECO_DATA_LAKE_BUCKET=reco-local-data-lake
RECO_ARTIFACTS_BUCKET=reco-local-artifacts
RECO_RECS_BUCKET=reco-local-recommendations
RECO_GLUE_DATABASE=reco_local
RECO_GLUE_TABLE=training_ratings
RECO_CLICK_STREAM=reco-local-clicks
RECO_DELIVERY_STREAM=reco-local-recommendations
ENV
mv "$LOCAL_DIR/env.tmp" "$LOCAL_DIR/env"

if [ "${#started[@]}" -eq 0 ]; then
  say "local stack already up (nothing to do); settings in $LOCAL_DIR/env"
else
  for s in "${started[@]}"; do say "started $s"; done
  say "settings written to $LOCAL_DIR/env"
fi
