#!/usr/bin/env bash
# Starts reco's local stand-ins on 127.0.0.1 (MariaDB for RDS MySQL, PostgreSQL + pgvector
# for RDS PostgreSQL, moto for the AWS APIs), installing what is missing first, and writes
# .local/env. Idempotent: services already running are left alone. Serialised by a lock so
# concurrent callers (parallel tests) do not race.
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

# --- MariaDB ---------------------------------------------------------------
mysql_dir="$LOCAL_DIR/mysql"
if service_pid mariadb >/dev/null && port_open "$RECO_LOCAL_MYSQL_PORT"; then
  :
else
  claim_port MariaDB "$RECO_LOCAL_MYSQL_PORT" RECO_LOCAL_MYSQL_PORT
  mariadbd_bin="$(command -v mariadbd || echo /usr/sbin/mariadbd)"
  if [ ! -d "$mysql_dir/data/mysql" ]; then
    mkdir -p "$mysql_dir/data"
    mariadb-install-db --no-defaults --datadir="$mysql_dir/data" --user="$(id -un)" \
      --auth-root-authentication-method=socket --skip-test-db >"$LOG_DIR/mariadb-install.log" 2>&1 \
      || die "mariadb-install-db failed (log: $LOG_DIR/mariadb-install.log)"
  fi
  nohup "$mariadbd_bin" --no-defaults --datadir="$mysql_dir/data" --user="$(id -un)" \
    --bind-address=127.0.0.1 --port="$RECO_LOCAL_MYSQL_PORT" --socket="$mysql_dir/mysqld.sock" \
    --pid-file="$mysql_dir/mysqld.pid" --skip-name-resolve --skip-log-bin \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
    --innodb-buffer-pool-size=512M --innodb-flush-log-at-trx-commit=2 --innodb-log-file-size=256M \
    --max-allowed-packet=256M --local-infile=1 \
    >"$LOG_DIR/mariadb.log" 2>&1 9>&- &
  echo $! >"$RUN_DIR/mariadb.pid"
  wait_for_port "$RECO_LOCAL_MYSQL_PORT" 60 mariadb
  mariadb --no-defaults --socket="$mysql_dir/mysqld.sock" -uroot <<'SQL' || die "MariaDB user setup failed"
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

cat >"$LOCAL_DIR/env.tmp" <<ENV
# Written by scripts/local-up.sh: settings of the local stack. The environment overrides them.
AWS_ENDPOINT_URL=http://127.0.0.1:$RECO_LOCAL_MOTO_PORT
AWS_REGION=us-east-1
AWS_DEFAULT_REGION=us-east-1
AWS_ACCESS_KEY_ID=test
AWS_SECRET_ACCESS_KEY=test
RECO_MYSQL_URL=mysql://reco:reco@127.0.0.1:$RECO_LOCAL_MYSQL_PORT/reco
RECO_PG_URL=postgres://reco:reco@127.0.0.1:$RECO_LOCAL_PG_PORT/reco
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
