#!/usr/bin/env bash
# Streaming-inference benchmark: the Rust transform handler (exact in memory, pgvector HNSW
# and, for the big catalogue, the in-memory partitioned replica read from pgvector, timed once
# built; its build time, memory, nprobe and live recall printed) vs a Python handler doing the original design's per-record work, on the same Firehose
# batches of realistic sessions, side by side in one run: a small trained catalogue and a
# catalogue of BENCH_STREAMING_ITEMS x 32 (default 1,000,000; 0 skips it), each in a fresh
# database dropped afterwards; recall@10 against exact search; the concurrency curve; the
# exact/HNSW crossover; then the cold start of the release Lambda binary
# (scripts/build-lambda.sh) against a stand-in Runtime API.
# Exits non-zero if any record of these valid events comes back not Ok.
# Needs the local stack (make local-up).
#
# Knobs (environment): BENCH_STREAMING_ITEMS (1000000), BENCH_STREAMING_PASSES (3, Rust
# passes per mode), BENCH_STREAMING_PYTHON_PASSES (1), BENCH_STREAMING_BATCHES (8 x 1 MB,
# then 2 x 3 MB), BENCH_STREAMING_CURVE (1,2,4,8), BENCH_STREAMING_CURVE_MB (12),
# BENCH_STREAMING_CROSSOVER (1), BENCH_STREAMING_COLD_START (1).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
set -a
# shellcheck disable=SC1091
. .local/env
set +a
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
venv="$root/.local/venv"
if ! "$venv/bin/python" -c 'import psycopg' 2>/dev/null; then
  echo "[bench/streaming] installing psycopg into $venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check 'psycopg[binary]==3.*'
fi

items="${BENCH_STREAMING_ITEMS:-1000000}"
db="reco_bench_streaming_$$"
big_db="reco_bench_streaming_big_$$"
crossover_db="reco_bench_crossover_$$"
bucket="reco-bench-streaming-$$"
# The server part of the URL; every database URL keeps its query (TLS: verify-full, local CA).
base="${RECO_PG_URL%%\?*}"
query="${RECO_PG_URL#"$base"}"
server="${base%/*}"
admin="$RECO_PG_URL"
out="$(mktemp -d)"
dbs=("$db" "$big_db" "$crossover_db")
cleanup() {
  for d in "${dbs[@]}"; do
    "$venv/bin/python" -c 'import sys, psycopg; psycopg.connect(sys.argv[1], autocommit=True).execute(f"DROP DATABASE IF EXISTS {sys.argv[2]} WITH (FORCE)")' "$admin" "$d" || true
  done
  "$venv/bin/python" -c 'import sys, boto3; b = boto3.resource("s3", endpoint_url=sys.argv[1]).Bucket(sys.argv[2]); b.objects.all().delete(); b.delete()' "$AWS_ENDPOINT_URL" "$bucket" 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT
for d in "${dbs[@]}"; do
  "$venv/bin/python" - "$admin" "$server/$d$query" "$d" <<'PY'
import sys, psycopg
psycopg.connect(sys.argv[1], autocommit=True).execute(f"CREATE DATABASE {sys.argv[3]}")
psycopg.connect(sys.argv[2], autocommit=True).execute("CREATE EXTENSION IF NOT EXISTS vector")
PY
done

echo "[bench/streaming] building the Rust benchmark (release)" >&2
cargo build --release -q -p reco-transform-lambda --example bench_handler
echo "== streaming: transform handler, 2 cores, local PostgreSQL + pgvector =="
"$CARGO_TARGET_DIR/release/examples/bench_handler" \
  --small-db "$server/$db$query" --big-db "$server/$big_db$query" --items "$items" --out "$out" \
  --python "$venv/bin/python" --python-handler bench/streaming/python_handler.py \
  --passes "${BENCH_STREAMING_PASSES:-3}" --python-passes "${BENCH_STREAMING_PYTHON_PASSES:-1}" \
  --batches "${BENCH_STREAMING_BATCHES:-8}" --curve "${BENCH_STREAMING_CURVE:-1,2,4,8}" \
  --curve-batches "${BENCH_STREAMING_CURVE_MB:-12}"
if [ "${BENCH_STREAMING_CROSSOVER:-1}" != 0 ]; then
  "$CARGO_TARGET_DIR/release/examples/bench_handler" --crossover "$server/$crossover_db$query"
fi

if [ "${BENCH_STREAMING_COLD_START:-1}" = 0 ]; then
  echo
  echo "cold start skipped (BENCH_STREAMING_COLD_START = 0)"
  exit 0
fi
echo "[bench/streaming] building the Lambda binary (scripts/build-lambda.sh transform)" >&2
bash scripts/build-lambda.sh transform >&2
# Its own model, LATEST pointer, embeddings and batch, over the local stack's TLS URL.
bash bench/streaming/cold_start.sh
