#!/usr/bin/env bash
# Lambda sizes: the largest input each step of the daily loop handles within Lambda's limits
# (10,240 MB of memory, 900 s, 6 vCPU at 10,240 MB; about one vCPU per 1,769 MB below that).
#
# 1. ETL: `reco etl` on generated sources (100k customers, 10k products) of each size in
#    BENCH_SIZES_RATINGS, writing to the S3 emulator + Glue: wall time, CPU time, peak RSS.
# 2. Training: `reco train` (default settings, the Lambda's) on each of those snapshots.
# 3. Score-all, measured in two parts: `reco score-all --shard 0/N` on the largest model
#    (reads the real inputs from the emulator, writes its shard's documents to it: input
#    time, peak RSS, emulator documents/s), and the serving bench's `score_shard` at
#    BENCH_SIZES_SCORE_CUSTOMERS x BENCH_SIZES_SCORE_ITEMS into a null sink (scoring +
#    documents + JSON without writes). Real-S3 writes are an assumed rate, not measured.
#
# Release `reco` CLI; GNU /usr/bin/time -v (wall, user + system CPU, peak RSS). One table
# (step, input, wall s, CPU s, peak RSS MB, limit-derived maximum) on stdout and in
# .local/bench/lambda-sizes/results.md; raw logs next to it.
#
# Knobs: BENCH_SIZES_RATINGS ("1000000 3000000 10000000"), BENCH_SIZES_TRAIN (the same
# list; "" skips training), BENCH_SIZES_CUSTOMERS (100000), BENCH_SIZES_PRODUCTS (10000),
# BENCH_SIZES_SHARDS (50: the measured shard is 0 of 50, 2,000 customers),
# BENCH_SIZES_SCORE_CUSTOMERS (100000), BENCH_SIZES_SCORE_ITEMS (10000),
# BENCH_SIZES_S3_DOCS_PER_S (320: see derive.py), BENCH_SIZES_RECO_BIN (a prebuilt release
# `reco`; default: cargo build --release). Databases reco_bench_sizes_<N> are kept between
# runs and regenerated only when their ratings count differs.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
HERE="$ROOT/bench/lambda-sizes"
SIZES="${BENCH_SIZES_RATINGS:-1000000 3000000 10000000}"
TRAIN_SIZES="${BENCH_SIZES_TRAIN-$SIZES}"
CUSTOMERS="${BENCH_SIZES_CUSTOMERS:-100000}"
PRODUCTS="${BENCH_SIZES_PRODUCTS:-10000}"
SHARDS="${BENCH_SIZES_SHARDS:-50}"
SCORE_CUSTOMERS="${BENCH_SIZES_SCORE_CUSTOMERS:-100000}"
SCORE_ITEMS="${BENCH_SIZES_SCORE_ITEMS:-10000}"
S3_RATE="${BENCH_SIZES_S3_DOCS_PER_S:-320}"
OUT="$ROOT/.local/bench/lambda-sizes"
mkdir -p "$OUT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/reco/target}"

bash scripts/local-up.sh >/dev/null
set -a; . .local/env; set +a
MYSQL_SERVER="${RECO_MYSQL_URL%/*}"           # mysql://user:pass@host:port
MYSQL_HOSTPORT="${MYSQL_SERVER##*@}"          # host:port
export RECO_DATA_LAKE_BUCKET="reco-bench-sizes-lake" RECO_ARTIFACTS_BUCKET="reco-bench-sizes-artifacts"
export RECO_RECS_BUCKET="reco-bench-sizes-recs"
export RECO_GLUE_DATABASE="reco_bench_sizes" RECO_GLUE_TABLE="training_ratings"

RECO="${BENCH_SIZES_RECO_BIN:-}"
if [ -z "$RECO" ]; then
  echo "== building reco (release)" >&2
  cargo build --release -q -p reco-cli
  RECO="$CARGO_TARGET_DIR/release/reco"
fi
echo "== building the serving bench (release)" >&2
cargo build --release -q -p reco-serving --example serving_bench
SERVING_BENCH="$CARGO_TARGET_DIR/release/examples/serving_bench"

"$ROOT/.local/venv/bin/python" - <<PY
import boto3
s3 = boto3.client("s3", endpoint_url="$AWS_ENDPOINT_URL", region_name="$AWS_REGION")
for bucket in ("$RECO_DATA_LAKE_BUCKET", "$RECO_ARTIFACTS_BUCKET", "$RECO_RECS_BUCKET"):
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
PY

mysql_q() { mariadb -h "${MYSQL_HOSTPORT%:*}" -P "${MYSQL_HOSTPORT#*:}" -ureco -preco -N -e "$1" 2>/dev/null; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# One line per measurement: step, input, wall s, user s, system s, peak RSS kB, log, load
# average (1/5/15 min) when it ended.
MEASUREMENTS="$OUT/measurements.tsv"
: > "$MEASUREMENTS"
# measure STEP INPUT OK_CODES CMD...: runs CMD under GNU time (stdout+stderr to a log) and
# appends a line; an exit code outside OK_CODES (space-separated) stops the run.
measure() {
  local step="$1" input="$2" ok="$3"; shift 3
  local name="$step-${input//[^A-Za-z0-9]/_}" rc=0
  echo "== $step, $input (load $(load))" >&2
  /usr/bin/time -v -o "$OUT/$name.time" "$@" >"$OUT/$name.log" 2>&1 || rc=$?
  if [[ " $ok " != *" $rc "* ]]; then
    tail -n 20 "$OUT/$name.log" >&2
    echo "$step on $input failed (exit $rc): see $OUT/$name.log" >&2
    exit 1
  fi
  local t="$OUT/$name.time"
  local wall user sys rss
  wall="$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$t")"
  user="$(awk -F': ' '/User time/ {print $2}' "$t")"
  sys="$(awk -F': ' '/System time/ {print $2}' "$t")"
  rss="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$t")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$step" "$input" "$wall" "$user" "$sys" "$rss" \
    "$OUT/$name.log" "$(load)" >> "$MEASUREMENTS"
}

LOAD_BEFORE="$(load)"
STARTED="$(date -u +%Y-%m-%dT%H:%MZ)"
day=0
model=""
for n in $SIZES; do
  day=$((day + 1))
  snapshot="$(printf '2025-01-%02d' "$day")"   # one snapshot per size: each model keeps its own
  db="reco_bench_sizes_$n"
  mysql_q "CREATE DATABASE IF NOT EXISTS $db CHARACTER SET utf8mb4"
  have="$(mysql_q "SELECT COUNT(*) FROM $db.ratings" || echo 0)"
  if [ "$have" != "$n" ]; then
    echo "== generating $db: $CUSTOMERS customers, $PRODUCTS products, $n ratings" >&2
    /usr/bin/time -f "generated $n ratings: %e s" env RECO_MYSQL_URL="$MYSQL_SERVER/$db" \
      "$RECO" source generate --customers "$CUSTOMERS" --products "$PRODUCTS" --ratings "$n" --seed 42 \
      >"$OUT/generate-$n.log" 2>&1 || { tail -n 20 "$OUT/generate-$n.log" >&2; exit 1; }
    tail -n 1 "$OUT/generate-$n.log" >&2
  fi
  measure etl "$n" "0" env RECO_MYSQL_URL="$MYSQL_SERVER/$db" "$RECO" etl --snapshot "$snapshot"
  if [[ " $TRAIN_SIZES " == *" $n "* ]]; then
    # Exit 3 is a model the gate refused (compared with the previous size's model): timed all
    # the same, and its files are written.
    measure train "$n" "0 3" "$RECO" train --snapshot "$snapshot"
    model="$(sed -n 's/^model \([^ ]*\) at .*/\1/p' "$OUT/train-$n.log")"
    [ -n "$model" ] || { echo "no model version in $OUT/train-$n.log" >&2; exit 1; }
    model_ratings="$n"
  fi
done

if [ -n "$model" ]; then
  # The model of the largest snapshot: every shard reads the whole snapshot (exclusions and,
  # on shard 0, popularity), so the largest one is the slowest input.
  measure score-all "0/$SHARDS of $CUSTOMERS customers, model of $model_ratings ratings" "0" \
    "$RECO" score-all --model "$model" --shard "0/$SHARDS" --started-at "2026-01-01T02:00:00.000Z"
fi
# Scoring + documents + JSON without writes (the writes are the part the emulator distorts).
measure serving-bench "$SCORE_CUSTOMERS customers x $SCORE_ITEMS items" "0" \
  env BENCH_SERVING_CUSTOMERS="$SCORE_CUSTOMERS" BENCH_SERVING_ITEMS="$SCORE_ITEMS" \
  BENCH_SERVING_DIM=32 BENCH_SERVING_PG_SAMPLE=500 BENCH_SERVING_RECORDS=200 "$SERVING_BENCH"

"$ROOT/.local/venv/bin/python" "$HERE/derive.py" --measurements "$MEASUREMENTS" \
  --s3-docs-per-s "$S3_RATE" --cores "$(nproc)" --started "$STARTED" \
  --load-before "$LOAD_BEFORE" --load-after "$(load)" > "$OUT/results.md"
cat "$OUT/results.md"
