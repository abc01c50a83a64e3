#!/usr/bin/env bash
# `make demo`: the whole reco pipeline on this machine, no AWS account needed.
#
#   build -> local stack -> Terraform (etl, vector-db, streaming, pipeline, storefront) applied
#   to the emulator -> source data -> the daily loop (`reco pipeline run`: ETL -> train (gate)
#   -> load embeddings -> score every customer, sharded -> make the version live) -> an A/B
#   experiment (a challenger model loaded next to the live one, half of the customers on it,
#   every customer re-scored by their variant) -> click events (views, carts, purchases,
#   impressions of and clicks on the recommendations shown) -> local Firehose (delivers, keeps
#   the raw events in the data lake, then publishes the latest documents) -> the experiment's
#   report -> recommendations for a few customers (one unknown to the model) -> the storefront.
#
# Env knobs:
#   DEMO_DUMP=FILE        load a classicmodels-style dump instead of generating data
#   DEMO_CUSTOMERS, DEMO_PRODUCTS, DEMO_RATINGS, DEMO_SEED   size of the generated source
#   DEMO_EVENTS           click events to produce (default 500)
#   DEMO_SHARD_CUSTOMERS  customers per score-all shard (default 100: a few shards)
#   DEMO_EXPERIMENT       the A/B experiment's name (default demo-ab), DEMO_SHARE its treatment share (0.5)
# Safe to run again: every step replaces what the previous run made.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
cd "$RECO_ROOT"

DEMO_CUSTOMERS="${DEMO_CUSTOMERS:-300}"
DEMO_PRODUCTS="${DEMO_PRODUCTS:-120}"
DEMO_RATINGS="${DEMO_RATINGS:-20000}"
DEMO_SEED="${DEMO_SEED:-7}"
DEMO_EVENTS="${DEMO_EVENTS:-500}"
DEMO_SHARD_CUSTOMERS="${DEMO_SHARD_CUSTOMERS:-100}"
DEMO_EXPERIMENT="${DEMO_EXPERIMENT:-demo-ab}"
DEMO_SHARE="${DEMO_SHARE:-0.5}"
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
# Runs "$@" connected to PostgreSQL as the role whose secret the output variable $1 names
# (written by `reco db migrate`): the local URL gives host, port, database and TLS, the
# secret the login, as on AWS.
as_role() {
  local arn
  arn="$(set -a; . "$LOCAL_DIR/outputs-local.env"; eval "printf %s \"\${$1:-}\"")"
  [ -n "$arn" ] || { echo "demo: $1 is not in .local/outputs-local.env (run: bash scripts/deploy.sh apply all)" >&2; return 1; }
  shift
  RECO_PG_CREDENTIALS_SECRET_ARN="$arn" "$@"
}
# Customers to show: a known one updated by the stream, a known one with only the daily
# (batch) document, one the model never saw (stream), and one with no document at all.
pick_customers() {
  set -a; . "$LOCAL_DIR/env"; . "$LOCAL_DIR/outputs-local.env"; set +a
  "$VENV_DIR/bin/python" - <<'PY'
import json, os, re, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
bucket = os.environ["RECO_RECS_BUCKET"]
numbers = []
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="latest/customers/"):
    numbers += [int(m.group(1)) for o in page.get("Contents", []) if (m := re.search(r"/(\d+)\.json$", o["Key"]))]
numbers.sort()
def source(n):
    return json.loads(s3.get_object(Bucket=bucket, Key=f"latest/customers/{n}.json")["Body"].read())["source"]
stream_known = next((n for n in numbers if n < 9_000_000 and source(n) == "stream"), None)
batch_known = next((n for n in numbers if n < 9_000_000 and source(n) == "batch"), None)
unknown = next((n for n in numbers if n >= 9_000_000), None)
missing = [name for name, n in [("known customer with clicks", stream_known), ("known customer without clicks", batch_known), ("unknown customer", unknown)] if n is None]
if missing:
    raise SystemExit(f"no latest document found for a {', '.join(missing)} among {len(numbers)} documents")
print(stream_known, batch_known, unknown, 1)
PY
}
show_recs() {
  local customers c note
  customers="$(pick_customers)" || return 1
  for c in $customers; do
    case "$c" in
      1) note=' (no document: the popular fallback a front end shows)' ;;
      9[0-9][0-9][0-9][0-9][0-9][0-9]) note=' (unknown to the model: user tower from event features)' ;;
      *) note='' ;;
    esac
    printf '\n--- customer %s%s ---\n' "$c" "$note"
    "$RECO" recs --customer "$c" || return 1
  done
  echo "$customers" >"$LOCAL_DIR/demo-customers"
}
# The model version `models/LATEST` names (the live one after the daily loop).
latest_version() {
  (set -a; . "$LOCAL_DIR/env"; . "$LOCAL_DIR/outputs-local.env"; set +a
   "$VENV_DIR/bin/python" - <<'PY'
import os, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
key = os.environ.get("RECO_MODEL_PREFIX", "models/") + "LATEST"
print(s3.get_object(Bucket=os.environ["RECO_ARTIFACTS_BUCKET"], Key=key)["Body"].read().decode().strip())
PY
  )
}
# An A/B experiment: a challenger (untuned, fewer factors) trained on the same snapshot and
# loaded next to the live version without replacing it; half of the customers are assigned
# to it; every customer's batch document is re-scored by their variant.
experiment() {
  local control treatment out rc running
  control="$(latest_version)" || return 1
  set +e
  out="$("$RECO" train --no-tuning --factors 8 2>&1 | tee /dev/stderr; exit "${PIPESTATUS[0]}")"
  rc=$?
  set -e
  # 3: the gate refused it as the live model; it is still a published version to test.
  [ "$rc" = 0 ] || [ "$rc" = 3 ] || return 1
  treatment="$(sed -n 's/^model \([^ ]*\) at .*/\1/p' <<<"$out" | tail -n 1)"
  [ -n "$treatment" ] || { echo "demo: no model version in reco train's output" >&2; return 1; }
  as_role RECO_PG_LOADER_SECRET_ARN "$RECO" load-embeddings --model "$treatment" --inactive
  # A rerun of the demo: stop the experiment the previous run left running.
  running="$("$RECO" experiment status --json | sed -n 's/.*"name": *"\([^"]*\)".*/\1/p' | head -n 1)"
  if [ -n "$running" ]; then "$RECO" experiment stop "$running"; fi
  as_role RECO_PG_READER_SECRET_ARN "$RECO" experiment start "$DEMO_EXPERIMENT" \
    --control "$control" --treatment "$treatment" --share "$DEMO_SHARE"
  "$RECO" score-all --model "$control"
}
storefront() {
  local url first
  url="$(bash scripts/storefront-up.sh)" || return 1
  url="${url#storefront: }"
  first="$(cut -d' ' -f1 "$LOCAL_DIR/demo-customers")"
  STOREFRONT_LINE="storefront: ${url}?customer=${first}"
}

step build "cargo output above; a cold build takes ~10-20 min on 2 cores" build
after_build=$(date +%s.%N)
step "local stack" "make local-status; logs in .local/log/" bash scripts/local-up.sh
step "terraform (ENV=local)" "terraform output above; .local/terraform/local/; make local-status" \
  bash scripts/deploy.sh apply all
step "database roles" "reco db migrate output above (the role and what to do)" "$RECO" db migrate
step "source data" "MariaDB at RECO_MYSQL_URL in .local/env; .local/log/mariadb.log" source_data
step "daily loop" "reco pipeline run output above (the failed step and its error); .local/log/" \
  as_role RECO_PG_LOADER_SECRET_ARN "$RECO" pipeline run --customers-per-shard "$DEMO_SHARD_CUSTOMERS"
step "A/B experiment" "reco train / load-embeddings / experiment start / score-all output above" \
  experiment
step "produce clicks" "the Kinesis stream RECO_CLICK_STREAM in .local/outputs-local.env" \
  "$RECO" produce --events "$DEMO_EVENTS" --seed "$(date +%s)"
step "local firehose" "reco firehose-local output above; errors/ prefix of the recommendations bucket" \
  as_role RECO_PG_READER_SECRET_ARN "$RECO" firehose-local --until-idle
step "experiment report" "reco report output above; events/ prefix of the data lake bucket" \
  "$RECO" report --experiment "$DEMO_EXPERIMENT"
step "recommendations" "reco recs --customer N; the recommendations bucket" show_recs
step "storefront" ".local/log/storefront.log; the site bucket RECO_SITE_BUCKET in .local/outputs-local.env" storefront

end=$(date +%s.%N)
printf '\n\033[1m== timings\033[0m\n' >&2
for t in "${timings[@]}"; do echo "  $t" >&2; done
say "pipeline after the build: $(elapsed "$after_build" "$end") s; total: $(elapsed "$demo_start" "$end") s"
echo "$STOREFRONT_LINE"
