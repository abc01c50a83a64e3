#!/usr/bin/env bash
# The storefront's browser test against the local stack: puts web/ into a fresh site bucket
# of the S3 emulator, serves it with the recommendations bucket through two local stand-ins
# of CloudFront (one with the documents, one with an empty bucket), and runs
# storefront-check.py in headless Chromium. Always stops its servers and deletes the buckets
# it made; exits with the check's status.
#   usage: storefront-check.sh --docs-bucket R --known N --unknown M [--screenshot PATH]
#          storefront-check.sh --fixtures [--known N] [--unknown M] [--screenshot PATH]
# --fixtures writes sample documents (customer 103 and popular) into a bucket of its own,
# for working on the page without running the pipeline.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

usage="usage: storefront-check.sh (--docs-bucket R | --fixtures) --known N --unknown M [--screenshot PATH]"
docs_bucket=""
fixtures=0
known=""
unknown=""
screenshot=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    --docs-bucket) docs_bucket="${2:?$usage}"; shift 2 ;;
    --fixtures) fixtures=1; shift ;;
    --known) known="${2:?$usage}"; shift 2 ;;
    --unknown) unknown="${2:?$usage}"; shift 2 ;;
    --screenshot) screenshot="$(realpath -m "${2:?$usage}")"; shift 2 ;;
    -h | --help) echo "$usage"; exit 0 ;;
    *) die "unknown argument $1 ($usage)" ;;
  esac
done
if [ "$fixtures" -eq 1 ]; then
  [ -z "$docs_bucket" ] || die "--fixtures writes its own documents: give it or --docs-bucket, not both"
  # The customers the fixture documents are written for (and one they are not).
  known="${known:-103}"
  unknown="${unknown:-999}"
fi
[ -n "$docs_bucket" ] || [ "$fixtures" -eq 1 ] || die "no documents: pass --docs-bucket R (or --fixtures) ($usage)"
[[ "$known" =~ ^[0-9]+$ ]] || die "--known '$known' is not a customer number ($usage)"
[[ "$unknown" =~ ^[0-9]+$ ]] || die "--unknown '$unknown' is not a customer number ($usage)"
[ "$known" != "$unknown" ] || die "--known and --unknown are both $known"

# Chromium, fonts and Playwright; serialised with local-up.sh, which installs too.
(flock 9 && bash "$RECO_ROOT/scripts/local-install.sh" --with-browser) 9>"$LOCAL_DIR/stack.lock"

[ -f "$LOCAL_DIR/env" ] || die "$LOCAL_DIR/env not found: start the local stack with: bash scripts/local-up.sh"
while IFS= read -r line; do
  case "$line" in '' | '#'*) continue ;; esac
  name="${line%%=*}"
  # The environment overrides the file, as local-up.sh documents.
  # Values are shell-quoted (the database URLs hold `&`): evaluated as the scripts write them.
  [ -n "${!name+x}" ] || eval "export $line"
done <"$LOCAL_DIR/env"
PY="$VENV_DIR/bin/python"

# S3 chores of this script, in the venv's boto3: s3 COMMAND BUCKET [ARG].
s3() {
  "$PY" - "$@" <<'PY'
import json, mimetypes, os, sys
import boto3, botocore.exceptions

command, bucket = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
# The page's files and their types: a wrong type on app.js stops a module script loading.
SITE_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
              ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}
SITE_REQUIRED = ["index.html", "app.js", "style.css"]

def item(code, name, line, price, score):
    return {"product_code": code, "name": name, "product_line": line, "price": price, "score": score}

def fixture_documents():
    provenance = {"model_version": "20261202T040000Z-42", "embedding_version": "20261202T040000Z-42-items",
                  "generated_at": "2026-12-02T10:00:00.123Z"}
    customer = {
        "schema_version": 1, "customer_number": int(os.environ["RECO_FIXTURE_CUSTOMER"]), "source": "stream",
        "recommended": [
            item("S10_1949", "1952 Alpine Renault 1300", "Classic Cars", 214.30, 0.91),
            item("S10_1678", "1969 Harley Davidson Ultimate Chopper", "Motorcycles", 95.70, 0.88),
            item("S18_2238", "1998 Chrysler Plymouth Prowler", "Classic Cars", 163.73, 0.84),
            item("S24_4278", "1900s Vintage Tri-Plane", "Planes", 72.45, 0.81),
            item("S700_2610", "The USS Constitution Ship", "Ships", 72.28, 0.79),
            item("S32_3207", "1950's Chicago Surface Lines Streetcar", "Trains", 62.14, 0.77),
            item("S12_4473", "1957 Chevy Pickup", "Trucks and Buses", 118.50, 0.74),
            item("S18_3140", "1903 Ford Model A", "Vintage Cars", 136.59, 0.71),
            item("S99_0001", None, None, None, 0.65),
        ],
        "similar_to_session": [
            item("S10_4698", "2003 Harley-Davidson Eagle Drag Bike", "Motorcycles", 193.66, 0.93),
            item("S12_2823", "2002 Suzuki XREO", "Motorcycles", 150.62, 0.9),
            item("S18_3782", "1957 Vespa GS150", "Motorcycles", 62.17, 0.86),
            item("S24_2000", "1960 BSA Gold Star DBD34", "Motorcycles", 76.17, 0.82),
        ],
        "provenance": dict(provenance, recommendation_id="9f0c2d4e-6b1a-4c3e-8d7f-0a1b2c3d4e5f"),
    }
    popular = {
        "schema_version": 1, "customer_number": None, "source": "popular",
        "recommended": [
            item("S18_3232", "1992 Ferrari 360 Spider red", "Classic Cars", 169.34, 0.031),
            item("S12_1108", "2001 Ferrari Enzo", "Classic Cars", 207.80, 0.027),
            item("S700_4002", "American Airlines: MD-11S", "Planes", 74.03, 0.024),
            item("S18_3259", "Collectable Wooden Train", "Trains", 100.84, 0.022),
            item("S50_1392", "Diamond T620 Semi-Skirted Tanker", "Trucks and Buses", 115.75, 0.021),
            item("S24_3856", "1956 Porsche 356A Coupe", "Classic Cars", 140.43, 0.019),
        ],
        "similar_to_session": [],
        "provenance": dict(provenance, recommendation_id="popular-20261202T040000Z-42"),
    }
    return {f"latest/customers/{customer['customer_number']}.json": customer, "latest/popular.json": popular}

try:
    if command == "check-bucket":
        s3.head_bucket(Bucket=bucket)
    elif command == "make-bucket":
        s3.create_bucket(Bucket=bucket)
    elif command == "upload-site":
        site = sys.argv[3]
        missing = [name for name in SITE_REQUIRED if not os.path.isfile(os.path.join(site, name))]
        if missing:
            sys.exit(f"[reco] error: {site} lacks {', '.join(missing)}")
        for name in sorted(os.listdir(site)):
            path = os.path.join(site, name)
            if not os.path.isfile(path):
                continue
            ext = os.path.splitext(name)[1]
            content_type = SITE_TYPES.get(ext) or mimetypes.guess_type(name)[0] or "application/octet-stream"
            with open(path, "rb") as f:
                s3.put_object(Bucket=bucket, Key=name, Body=f.read(), ContentType=content_type)
    elif command == "write-fixtures":
        for key, doc in fixture_documents().items():
            s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(doc).encode(), ContentType="application/json")
    elif command == "delete-bucket":
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        s3.delete_bucket(Bucket=bucket)
    else:
        sys.exit(f"[reco] error: unknown s3 chore {command}")
except botocore.exceptions.ClientError as e:
    err = e.response.get("Error", {})
    sys.exit(f"[reco] error: S3 {command} {bucket}: {err.get('Code')}: {err.get('Message', '')}")
except botocore.exceptions.BotoCoreError as e:
    sys.exit(f"[reco] error: S3 {command} {bucket}: {e} (is the local stack up? bash scripts/local-up.sh)")
PY
}

started_at=$SECONDS
work="$(mktemp -d "${TMPDIR:-/tmp}/reco-storefront.XXXXXX")"
suffix="$(date +%s)-$$-$RANDOM"
site_bucket="reco-storefront-site-$suffix"
empty_bucket="reco-storefront-empty-$suffix"
server_pids=()
made_buckets=()
cleanup() {
  local rc=$? pid bucket
  for pid in "${server_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${server_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for bucket in "${made_buckets[@]}"; do s3 delete-bucket "$bucket" || rc=1; done
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$fixtures" -eq 1 ]; then
  docs_bucket="reco-storefront-fixtures-$suffix"
  s3 make-bucket "$docs_bucket"
  made_buckets+=("$docs_bucket")
  RECO_FIXTURE_CUSTOMER="$known" s3 write-fixtures "$docs_bucket"
else
  s3 check-bucket "$docs_bucket" \
    || die "docs bucket $docs_bucket is not in the emulator at $AWS_ENDPOINT_URL"
fi
s3 make-bucket "$site_bucket"
made_buckets+=("$site_bucket")
s3 make-bucket "$empty_bucket"
made_buckets+=("$empty_bucket")
s3 upload-site "$site_bucket" "$RECO_ROOT/web"

# Starts a storefront stand-in for docs bucket $2 and prints its port; $1 names its log.
start_server() {
  local name="$1" bucket="$2" port_file="$work/$1.port" i
  "$PY" "$RECO_ROOT/scripts/storefront-server.py" --endpoint "$AWS_ENDPOINT_URL" \
    --site-bucket "$site_bucket" --docs-bucket "$bucket" --host 127.0.0.1 --port 0 \
    --port-file "$port_file" >"$work/$name.log" 2>&1 &
  server_pids+=("$!")
  for ((i = 0; i < 100; i++)); do
    [ -s "$port_file" ] && return 0
    kill -0 "${server_pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  cat "$work/$name.log" >&2
  die "storefront server ($name) did not start listening within 10 s"
}
start_server site "$docs_bucket"
start_server empty "$empty_bucket"
site_url="http://127.0.0.1:$(cat "$work/site.port")"
empty_url="http://127.0.0.1:$(cat "$work/empty.port")"

set +e
"$PY" "$RECO_ROOT/scripts/storefront-check.py" --url "$site_url" --empty-url "$empty_url" \
  --known "$known" --unknown "$unknown" ${screenshot:+--screenshot "$screenshot"}
rc=$?
set -e
if [ "$rc" -ne 0 ]; then
  for log in "$work"/*.log; do [ -s "$log" ] && { say "$(basename "$log"):"; cat "$log" >&2; }; done
fi
say "storefront check took $((SECONDS - started_at)) s"
exit "$rc"
