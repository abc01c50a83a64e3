#!/usr/bin/env bash
# Cold start of the transform Lambda alone (the last part of bench/streaming/run.sh, with its
# own data): a fresh pgvector database and bucket, loaded with the benchmark example's model
# and embeddings (bench_handler, which also runs its handler benchmark), then cold_start.py
# against each release bootstrap given (default: the one scripts/build-lambda.sh builds), in
# turn, twice. The database URL keeps the local stack's TLS (sslmode=verify-full against the
# local CA), as the function connects on AWS. Database, bucket and files are dropped after.
# Needs the local stack (make local-up).
#
# usage: bench/streaming/cold_start.sh [bootstrap ...]
#   RECO_BENCH_RUNS   runs per measurement (default 5; the median is reported)
#   RECO_BENCH_HANDLER  a built bench_handler to use instead of building it (release)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
set -a
# shellcheck disable=SC1091
. .local/env
set +a
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
venv="$root/.local/venv"
runs="${RECO_BENCH_RUNS:-5}"
bootstraps=("$@")
[ "${#bootstraps[@]}" -gt 0 ] || bootstraps=("$CARGO_TARGET_DIR/lambda/bootstrap/bootstrap")
for b in "${bootstraps[@]}"; do
  [ -x "$b" ] || { echo "cold_start: $b is not an executable (build it: bash scripts/build-lambda.sh transform)" >&2; exit 2; }
done
if ! "$venv/bin/python" -c 'import psycopg' 2>/dev/null; then
  echo "[cold_start] installing psycopg into $venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check 'psycopg[binary]==3.*'
fi

db="reco_bench_cold_start_$$"
bucket="reco-bench-cold-start-$$"
# The local URL with another database, its query (TLS settings) kept.
base="${RECO_PG_URL%%\?*}"
query="${RECO_PG_URL#"$base"}"
url="${base%/*}/$db$query"
out="$(mktemp -d)"
cleanup() {
  "$venv/bin/python" -c 'import sys, psycopg; psycopg.connect(sys.argv[1], autocommit=True).execute(f"DROP DATABASE IF EXISTS {sys.argv[2]} WITH (FORCE)")' "$RECO_PG_URL" "$db" || true
  "$venv/bin/python" -c 'import sys, boto3; b = boto3.resource("s3", endpoint_url=sys.argv[1]).Bucket(sys.argv[2]); b.objects.all().delete(); b.delete()' "$AWS_ENDPOINT_URL" "$bucket" 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT
"$venv/bin/python" - "$RECO_PG_URL" "$url" "$db" <<'PY'
import sys, psycopg
psycopg.connect(sys.argv[1], autocommit=True).execute(f"CREATE DATABASE {sys.argv[3]}")
psycopg.connect(sys.argv[2], autocommit=True).execute("CREATE EXTENSION IF NOT EXISTS vector")
PY

handler="${RECO_BENCH_HANDLER:-}"
if [ -z "$handler" ]; then
  echo "[cold_start] building the benchmark example (release)" >&2
  cargo build --release -q -p reco-transform-lambda --example bench_handler
  handler="$CARGO_TARGET_DIR/release/examples/bench_handler"
fi
echo "[cold_start] loading the benchmark's embeddings (bench_handler; its figures are not this benchmark's)" >&2
"$handler" "$url" "$out" >&2
"$venv/bin/python" - "$AWS_ENDPOINT_URL" "$bucket" "$out" <<'PY'
import json, sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
s3.create_bucket(Bucket=sys.argv[2])
s3.upload_file(f"{sys.argv[3]}/model.json", sys.argv[2], "models/bench-model/model.json")
# The pointer `reco train` writes last (and `reco load-embeddings` reads): the version whose
# model the function fetches while it connects.
s3.put_object(Bucket=sys.argv[2], Key="models/LATEST", Body=b"bench-model\n")
with open(f"{sys.argv[3]}/batch-1MB.json") as f:
    event = json.load(f)
event["records"] = event["records"][:50]
with open(f"{sys.argv[3]}/small.json", "w") as f:
    json.dump(event, f)
PY
echo "== cold start: transform Lambda, release bootstrap, stand-in Runtime API, database over TLS (verify-full) =="
for round in 1 2; do
  for b in "${bootstraps[@]}"; do
    echo "-- $b (round $round)"
    RECO_PG_URL="$url" RECO_ARTIFACTS_BUCKET="$bucket" \
      "$venv/bin/python" bench/streaming/cold_start.py "$b" "$out/small.json" "$runs"
  done
done
