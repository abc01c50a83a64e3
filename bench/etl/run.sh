#!/usr/bin/env bash
# ETL benchmark: `reco etl` vs PySpark local[2] over JDBC (the original Glue job's engine)
# vs Polars + ConnectorX, on generated sources of 1M and 10M ratings. One table of wall
# time, rows/s and peak RSS (GNU time -v) per engine and size.
#
# Knobs: BENCH_ETL_SIZES="1000000 10000000", BENCH_ETL_ENGINES="reco pyspark polars",
# BENCH_ETL_CUSTOMERS=100000, BENCH_ETL_PRODUCTS=10000 (the same at every size),
# BENCH_ETL_RECO_BIN (a prebuilt release `reco`; default: cargo build --release).
# The generated databases (reco_bench_etl_<N>) are kept between runs and regenerated only
# when their ratings count differs. Results: .local/bench/etl/results.md.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
SIZES="${BENCH_ETL_SIZES:-1000000 10000000}"
ENGINES="${BENCH_ETL_ENGINES:-reco pyspark polars}"
OUT="$ROOT/.local/bench/etl"
mkdir -p "$OUT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/reco/target}"

bash scripts/local-up.sh >/dev/null
set -a; . .local/env; set +a
MYSQL_SERVER="${RECO_MYSQL_URL%/*}"           # mysql://user:pass@host:port
MYSQL_HOSTPORT="${MYSQL_SERVER##*@}"          # host:port
BUCKET="reco-bench-etl"
export RECO_DATA_LAKE_BUCKET="$BUCKET" RECO_GLUE_DATABASE="reco_bench_etl" RECO_GLUE_TABLE="training_ratings"

RECO="${BENCH_ETL_RECO_BIN:-}"   # a prebuilt reco binary; default: build the release one
if [ -z "$RECO" ]; then
  echo "== building reco (release)" >&2
  cargo build --release -q -p reco-cli
  RECO="$CARGO_TARGET_DIR/release/reco"
fi

"$ROOT/.local/venv/bin/python" - <<PY
import boto3
s3 = boto3.client("s3", endpoint_url="$AWS_ENDPOINT_URL", region_name="$AWS_REGION")
try:
    s3.create_bucket(Bucket="$BUCKET")
except s3.exceptions.BucketAlreadyOwnedByYou:
    pass
PY

need_python_engine() { [[ " $ENGINES " == *" $1 "* ]]; }
if need_python_engine pyspark; then
  if [ ! -f /usr/share/java/mariadb-java-client.jar ]; then
    echo "== installing libmariadb-java (JDBC driver)" >&2
    if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq libmariadb-java >/dev/null; else sudo apt-get install -y -qq libmariadb-java >/dev/null; fi
  fi
  if [ ! -x .local/bench-pyspark/bin/python ]; then
    echo "== creating .local/bench-pyspark (pyspark)" >&2
    python3 -m venv .local/bench-pyspark
    .local/bench-pyspark/bin/pip install -q pyspark
  fi
fi
if need_python_engine polars && [ ! -x .local/bench-polars/bin/python ]; then
  echo "== creating .local/bench-polars (polars, connectorx, pyarrow)" >&2
  python3 -m venv .local/bench-polars
  .local/bench-polars/bin/pip install -q polars connectorx pyarrow
fi

mysql_q() { mariadb -h "${MYSQL_HOSTPORT%:*}" -P "${MYSQL_HOSTPORT#*:}" -ureco -preco -N -e "$1" 2>/dev/null; }

# measure NAME N CMD...: runs CMD under GNU time, samples the process tree's RSS, appends a row.
measure() {
  local name="$1" n="$2"; shift 2
  local tfile="$OUT/$name-$n.time" rfile="$OUT/$name-$n.rss"
  echo "== $name, $n ratings" >&2
  /usr/bin/time -v -o "$tfile" "$@" 2> >(grep -v "Stage" | tail -n 3 >&2) &
  local cmd_pid=$!
  bash "$ROOT/bench/etl/tree_rss.sh" "$cmd_pid" "$rfile" &
  local sampler=$!
  wait "$cmd_pid"
  wait "$sampler"
  local wall rss tree secs
  wall="$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$tfile")"
  rss="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tfile")"
  tree="$(cat "$rfile")"
  secs="$(echo "$wall" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')"
  printf '| %s | %s | %.1f | %.0f | %.0f | %.0f |\n' "$name" "$n" "$secs" "$(echo "$n / $secs" | bc -l)" \
    "$((rss / 1024))" "$((tree / 1024))" >> "$OUT/results.md"
}

{
  echo "ETL benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores; reco writes to the S3 emulator + Glue, the others to local disk."
  echo
  echo "| engine | ratings | wall s | rows/s | peak RSS MB (GNU time, largest process) | peak RSS MB (process tree, sampled) |"
  echo "|---|---|---|---|---|---|"
} > "$OUT/results.md"

for n in $SIZES; do
  db="reco_bench_etl_$n"
  mysql_q "CREATE DATABASE IF NOT EXISTS $db CHARACTER SET utf8mb4"
  have="$(mysql_q "SELECT COUNT(*) FROM $db.ratings" || echo 0)"
  if [ "$have" != "$n" ]; then
    # Same customers and products at every size: only the ratings grow, so peak memory
    # shows whether the ETL holds ratings (it must not).
    customers="${BENCH_ETL_CUSTOMERS:-100000}"; products="${BENCH_ETL_PRODUCTS:-10000}"
    echo "== generating $db: $customers customers, $products products, $n ratings" >&2
    /usr/bin/time -f "generate $n: %e s, peak RSS %M KB" env RECO_MYSQL_URL="$MYSQL_SERVER/$db" \
      "$RECO" source generate --customers "$customers" --products "$products" --ratings "$n" --seed 42
  fi
  for engine in $ENGINES; do
    case "$engine" in
      reco) measure reco "$n" env RECO_MYSQL_URL="$MYSQL_SERVER/$db" "$RECO" etl --snapshot 2025-01-01 ;;
      pyspark) rm -rf "$OUT/pyspark-out"
        measure pyspark "$n" .local/bench-pyspark/bin/python bench/etl/pyspark_etl.py "$MYSQL_HOSTPORT" "$db" "$OUT/pyspark-out" ;;
      polars) rm -f "$OUT/polars.parquet"
        measure polars "$n" .local/bench-polars/bin/python bench/etl/polars_etl.py "$MYSQL_SERVER/$db" "$OUT/polars.parquet" ;;
      *) echo "unknown engine $engine" >&2; exit 2 ;;
    esac
  done
done
cat "$OUT/results.md"
