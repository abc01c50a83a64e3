#!/usr/bin/env bash
# Streaming-inference benchmark: the Rust transform handler vs a Python handler doing the
# original design's per-record work, on the same 1 MB and 3 MB Firehose batches against the
# same pgvector database (a fresh one, dropped afterwards); then the cold start of the
# release Lambda binary (scripts/build-lambda.sh) against a stand-in Runtime API.
# Needs the local stack (make local-up).
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

db="reco_bench_streaming_$$"
crossover_db="reco_bench_crossover_$$"
bucket="reco-bench-streaming-$$"
server="${RECO_PG_URL%/*}"
admin="$RECO_PG_URL"
out="$(mktemp -d)"
cleanup() {
  for d in "$db" "$crossover_db"; do
    "$venv/bin/python" -c 'import sys, psycopg; psycopg.connect(sys.argv[1], autocommit=True).execute(f"DROP DATABASE IF EXISTS {sys.argv[2]} WITH (FORCE)")' "$admin" "$d" || true
  done
  "$venv/bin/python" -c 'import sys, boto3; b = boto3.resource("s3", endpoint_url=sys.argv[1]).Bucket(sys.argv[2]); b.objects.all().delete(); b.delete()' "$AWS_ENDPOINT_URL" "$bucket" 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT
for d in "$db" "$crossover_db"; do
  "$venv/bin/python" - "$admin" "$server/$d" "$d" <<'PY'
import sys, psycopg
psycopg.connect(sys.argv[1], autocommit=True).execute(f"CREATE DATABASE {sys.argv[3]}")
psycopg.connect(sys.argv[2], autocommit=True).execute("CREATE EXTENSION IF NOT EXISTS vector")
PY
done

echo "[bench/streaming] building the Rust benchmark (release)" >&2
cargo build --release -q -p reco-transform-lambda --example bench_handler
echo "== streaming: transform handler, 2 cores, local PostgreSQL + pgvector =="
"$CARGO_TARGET_DIR/release/examples/bench_handler" "$server/$db" "$out"
for size in 1MB 3MB; do
  "$venv/bin/python" bench/streaming/python_handler.py "$server/$db" "$out/batch-$size.json" 3
done
"$CARGO_TARGET_DIR/release/examples/bench_handler" --crossover "$server/$crossover_db"

echo "[bench/streaming] building the Lambda binary (scripts/build-lambda.sh transform)" >&2
bash scripts/build-lambda.sh transform >&2
"$venv/bin/python" - "$AWS_ENDPOINT_URL" "$bucket" "$out" <<'PY'
import json, sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
s3.create_bucket(Bucket=sys.argv[2])
s3.upload_file(f"{sys.argv[3]}/model.json", sys.argv[2], "models/bench-model/model.json")
with open(f"{sys.argv[3]}/batch-1MB.json") as f:
    event = json.load(f)
event["records"] = event["records"][:50]
with open(f"{sys.argv[3]}/small.json", "w") as f:
    json.dump(event, f)
PY
RECO_PG_URL="$server/$db" RECO_ARTIFACTS_BUCKET="$bucket" \
  "$venv/bin/python" bench/streaming/cold_start.py "$CARGO_TARGET_DIR/lambda/bootstrap/bootstrap" "$out/small.json" 5
