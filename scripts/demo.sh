#!/usr/bin/env bash
# `make demo`: the whole reco pipeline on this machine, no AWS account needed.
#
#   build -> local stack -> Terraform (etl, vector-db, streaming) applied to the emulator ->
#   source data -> ETL -> train -> load embeddings -> click events -> local Firehose ->
#   recommendations for a few customers (one unknown to the model).
#
# Env knobs:
#   DEMO_DUMP=FILE        load a classicmodels-style dump instead of generating data
#   DEMO_CUSTOMERS, DEMO_PRODUCTS, DEMO_RATINGS, DEMO_SEED   size of the generated source
#   DEMO_EVENTS           click events to produce (default 500)
# Safe to run again: every step replaces what the previous run made.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
cd "$RECO_ROOT"

DEMO_CUSTOMERS="${DEMO_CUSTOMERS:-300}"
DEMO_PRODUCTS="${DEMO_PRODUCTS:-120}"
DEMO_RATINGS="${DEMO_RATINGS:-20000}"
DEMO_SEED="${DEMO_SEED:-7}"
DEMO_EVENTS="${DEMO_EVENTS:-500}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$RECO_ROOT/target}"
RECO="$CARGO_TARGET_DIR/debug/reco"
export RECO_ENV=local ENV=local

demo_start=$(date +%s.%N)
after_build=""
timings=()

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# step NAME HINT COMMAND...: runs one step, prints what it took, names the step on failure.
step() {
  local name="$1" hint="$2" start end
  shift 2
  printf '\n\033[1m== %s\033[0m\n' "$name" >&2
  start=$(date +%s.%N)
  if ! "$@"; then
    say "step '$name' failed; check: $hint"
    exit 1
  fi
  end=$(date +%s.%N)
  timings+=("$(printf '%-22s %6.1f s' "$name" "$(elapsed "$start" "$end")")")
  say "$name: done in $(elapsed "$start" "$end") s"
}

build() {
  # The same debug build the tests use (hot crates are optimised in Cargo.toml's dev profile).
  cargo build --workspace --bins
  bash scripts/build-lambda.sh
}
source_data() {
  if [ -n "${DEMO_DUMP:-}" ]; then
    "$RECO" source load-classicmodels "$DEMO_DUMP"
  else
    "$RECO" source generate --customers "$DEMO_CUSTOMERS" --products "$DEMO_PRODUCTS" \
      --ratings "$DEMO_RATINGS" --seed "$DEMO_SEED"
  fi
}
# Customers to show: two known ones with recommendations and one the model never saw.
pick_customers() {
  set -a; . "$LOCAL_DIR/env"; . "$LOCAL_DIR/outputs-local.env"; set +a
  "$VENV_DIR/bin/python" - <<'PY'
import os, re, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
known, unknown = [], []
for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=os.environ["RECO_RECS_BUCKET"], Prefix="recommendations/customer=", Delimiter="/"):
    for p in page.get("CommonPrefixes", []):
        n = int(re.search(r"customer=(\d+)/", p["Prefix"]).group(1))
        (unknown if n >= 9_000_000 else known).append(n)
picked = sorted(known)[:2] + sorted(unknown)[:1]
if len(picked) < 3:
    raise SystemExit(f"expected recommendations for known and unknown customers, found {len(known)} known, {len(unknown)} unknown")
print(" ".join(map(str, picked)))
PY
}
show_recs() {
  local customers
  customers="$(pick_customers)" || return 1
  for c in $customers; do
    printf '\n--- customer %s%s ---\n' "$c" "$([ "$c" -ge 9000000 ] && echo ' (unknown to the model: user tower from event features)')"
    "$RECO" recs --customer "$c" || return 1
  done
}

step build "cargo output above; a cold build takes ~10-20 min on 2 cores" build
after_build=$(date +%s.%N)
step "local stack" "make local-status; logs in .local/log/" bash scripts/local-up.sh
step "terraform (ENV=local)" "terraform output above; .local/terraform/local/; make local-status" \
  bash scripts/deploy.sh apply all
step "source data" "MariaDB at RECO_MYSQL_URL in .local/env; .local/log/mariadb.log" source_data
step "etl" "reco etl output above; the source tables in MariaDB; the data lake bucket" "$RECO" etl
step "train" "reco train output above (loss, quality gate)" "$RECO" train
step "load embeddings" "PostgreSQL at RECO_PG_URL; .local/pg/postgres.log" "$RECO" load-embeddings
step "produce clicks" "the Kinesis stream RECO_CLICK_STREAM in .local/outputs-local.env" \
  "$RECO" produce --events "$DEMO_EVENTS" --seed "$(date +%s)"
step "local firehose" "reco firehose-local output above; errors/ prefix of the recommendations bucket" \
  "$RECO" firehose-local --until-idle
step "recommendations" "reco recs --customer N; the recommendations bucket" show_recs

end=$(date +%s.%N)
printf '\n\033[1m== timings\033[0m\n' >&2
for t in "${timings[@]}"; do echo "  $t" >&2; done
say "pipeline after the build: $(elapsed "$after_build" "$end") s; total: $(elapsed "$demo_start" "$end") s"
