#!/usr/bin/env bash
# The daily loop at scale: `reco pipeline run` (release build) on a generated source of
# 100k customers, against the local stack, with the time of each step and the run's peak RSS.
# Its own MySQL database, PostgreSQL database, buckets and Glue database (reco_bench_pipeline*),
# so the demo's data is untouched; the source is regenerated only when its ratings count differs.
#
# Knobs: BENCH_PIPELINE_CUSTOMERS=100000, BENCH_PIPELINE_PRODUCTS=5000,
# BENCH_PIPELINE_RATINGS=2000000, BENCH_PIPELINE_SHARD_CUSTOMERS=25000 (customers per
# score-all shard), BENCH_PIPELINE_CONCURRENCY=2 (shards at once), BENCH_PIPELINE_RECO_BIN (a
# prebuilt release `reco`). Results: .local/bench/pipeline/results.md.
# Note: score-all writes every document to the S3 emulator (moto, one Python process): its
# time here is the emulator's write rate, not S3's.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
CUSTOMERS="${BENCH_PIPELINE_CUSTOMERS:-100000}"
PRODUCTS="${BENCH_PIPELINE_PRODUCTS:-5000}"
RATINGS="${BENCH_PIPELINE_RATINGS:-2000000}"
SHARD="${BENCH_PIPELINE_SHARD_CUSTOMERS:-25000}"
CONCURRENCY="${BENCH_PIPELINE_CONCURRENCY:-2}"
OUT="$ROOT/.local/bench/pipeline"
mkdir -p "$OUT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/reco/target}"

bash scripts/local-up.sh >/dev/null
set -a; . .local/env; set +a
export RECO_ENV=local
MYSQL_SERVER="${RECO_MYSQL_URL%/*}"
MYSQL_HOSTPORT="${MYSQL_SERVER##*@}"
# The server part of the URL and its query (TLS settings: sslmode=verify-full and the local CA),
# kept on every URL built from it.
PG_BASE="${RECO_PG_URL%%\?*}"
PG_QUERY="${RECO_PG_URL#"$PG_BASE"}"
PG_SERVER="${PG_BASE%/*}"
DB=reco_bench_pipeline
export RECO_MYSQL_URL="$MYSQL_SERVER/$DB" RECO_PG_URL="$PG_SERVER/$DB$PG_QUERY"
export RECO_DATA_LAKE_BUCKET=reco-bench-pipeline-lake RECO_ARTIFACTS_BUCKET=reco-bench-pipeline-artifacts \
  RECO_RECS_BUCKET=reco-bench-pipeline-recs RECO_GLUE_DATABASE=reco_bench_pipeline RECO_GLUE_TABLE=training_ratings \
  RECO_MODEL_PREFIX=models/

RECO="${BENCH_PIPELINE_RECO_BIN:-}"
if [ -z "$RECO" ]; then
  echo "== building reco (release)" >&2
  cargo build --release -q -p reco-cli
  RECO="$CARGO_TARGET_DIR/release/reco"
fi

"$ROOT/.local/venv/bin/python" - <<PY
import boto3
s3 = boto3.client("s3", endpoint_url="$AWS_ENDPOINT_URL", region_name="$AWS_REGION")
for b in ["$RECO_DATA_LAKE_BUCKET", "$RECO_ARTIFACTS_BUCKET", "$RECO_RECS_BUCKET"]:
    try:
        s3.create_bucket(Bucket=b)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
PY
psql "$PG_SERVER/postgres$PG_QUERY" -qAt -c "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 \
  || psql "$PG_SERVER/postgres$PG_QUERY" -q -c "CREATE DATABASE $DB"
psql "$RECO_PG_URL" -q -c "CREATE EXTENSION IF NOT EXISTS vector"
mysql_q() { mariadb -h "${MYSQL_HOSTPORT%:*}" -P "${MYSQL_HOSTPORT#*:}" -ureco -preco -N -e "$1" 2>/dev/null; }
mysql_q "CREATE DATABASE IF NOT EXISTS $DB CHARACTER SET utf8mb4"
have="$(mysql_q "SELECT COUNT(*) FROM $DB.ratings" || echo 0)"
if [ "$have" != "$RATINGS" ]; then
  echo "== generating $DB: $CUSTOMERS customers, $PRODUCTS products, $RATINGS ratings" >&2
  /usr/bin/time -f "generate: %e s, peak RSS %M KB" \
    "$RECO" source generate --customers "$CUSTOMERS" --products "$PRODUCTS" --ratings "$RATINGS" --seed 42
fi

echo "== reco pipeline run: $CUSTOMERS customers, $RATINGS ratings, $SHARD customers per shard, $CONCURRENCY at once" >&2
set +e
/usr/bin/time -v -o "$OUT/time.txt" "$RECO" pipeline run --customers-per-shard "$SHARD" \
  --score-concurrency "$CONCURRENCY" 2>&1 | tee "$OUT/run.log"
rc=${PIPESTATUS[0]}
set -e
{
  echo "Pipeline benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores: $CUSTOMERS customers, $PRODUCTS products, $RATINGS ratings (exit $rc)"
  echo
  sed -n '/^== summary/,$p' "$OUT/run.log"
  echo
  grep -E "Elapsed \(wall clock\)|Maximum resident set size" "$OUT/time.txt"
} > "$OUT/results.md"
cat "$OUT/results.md"
exit "$rc"
