#!/usr/bin/env bash
# Cold start of the transform Lambda alone (the last part of bench/streaming/run.sh, with its
# own data): a fresh pgvector database and bucket holding a model version like the bench's
# (dimension 32, 400 products, 3,000 known customers: a ~1 MB model.json and its binary
# copy model.bin, the towers only, random vectors),
# its `LATEST` pointer (and the copy of model.bin next to it, as `reco train` writes it) and
# its embeddings loaded by `reco load-embeddings`; then
# cold_start.py against each release bootstrap given (default: the one
# scripts/build-lambda.sh builds), in turn, twice, on a 50-record batch. The database URL
# keeps the local stack's TLS (sslmode=verify-full against the local CA), as the function
# connects on AWS. Database, bucket and files are dropped after. Needs the local stack
# (make local-up).
#
# usage: bench/streaming/cold_start.sh [bootstrap ...]
#   RECO_BENCH_RUNS  runs per measurement (default 5; the median is reported)
#   RECO_CLI         a built `reco` binary for the load (default: cargo build -p reco-cli)
#   RECO_COLD_START_LOGS=1  print every run's log lines (stderr)
#   RECO_COLD_START_CUSTOMERS  known customers in the model (default 3000; 1,000,000 takes a
#     few minutes to generate and load). model.json holds a learned part per known customer;
#     model.bin, as `reco train` writes it, the towers only (the function reads a known
#     customer's vector from the version's user table). Above 100,000 the version's model.json
#     holds only the fields `reco load-embeddings` checks (a full JSON copy would be ~300 MB).
#   RECO_COLD_START_ID_PARTS=1  also measure, in the same rounds, a model.bin that holds every
#     learned part (what `reco train` wrote before: 134 MB at 1,000,000 customers)
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

reco="${RECO_CLI:-}"
if [ -z "$reco" ]; then
  echo "[cold_start] building the reco CLI (for reco load-embeddings)" >&2
  cargo build -q -p reco-cli --bin reco
  reco="$CARGO_TARGET_DIR/debug/reco"
fi
"$venv/bin/python" - "$AWS_ENDPOINT_URL" "$bucket" "$out" <<'PY'
import base64, json, os, random, struct, sys, zlib, boto3
endpoint, bucket, out = sys.argv[1:4]
rng = random.Random(7)
DIM, ITEMS, VERSION = 32, 400, "cold-start"
CUSTOMERS = int(os.environ.get("RECO_COLD_START_CUSTOMERS", "3000"))
products = [f"S{10 + i // 100}_{1000 + i}" for i in range(ITEMS)]
customers = [str(100 + i) for i in range(CUSTOMERS)]
def vec(n):
    return [round(rng.gauss(0, 0.3), 6) for _ in range(n)]
def unit(n):
    v = vec(n)
    norm = sum(x * x for x in v) ** 0.5 or 1.0
    return [round(x / norm, 6) for x in v]
def tower(ids):
    # No features: input 0 (the constant) times the weights plus the id's learned part.
    return {"categorical": [], "numeric": [], "weights": vec(DIM - 1), "ids": ids,
            "id_parts": [vec(DIM - 1) for _ in ids]}
model = {"format_version": 1, "model_version": VERSION, "dim": DIM, "factors": DIM - 1,
         "user_tower": tower(customers), "item_tower": tower(products), "item_max_norm": 3.0,
         "training": {"method": "cold-start-bench", "seed": 7, "iterations": 1,
                      "regularization": 0.1, "alpha": 1.0, "feature_regularization": 0.1,
                      "source": "bench/streaming/cold_start.sh", "rows": 0,
                      "users": CUSTOMERS, "items": ITEMS,
                      "trained_at": "2026-12-03T00:00:00Z", "final_loss": 0.0}}
def csv(ids):
    lines = ["id,embedding"]
    lines += [f'{i},"[{",".join(str(x) for x in unit(DIM))}]"' for i in ids]
    return ("\n".join(lines) + "\n").encode()
s3 = boto3.client("s3", endpoint_url=endpoint)
s3.create_bucket(Bucket=bucket)
prefix = f"models/{VERSION}/"
def model_bin(model):
    """The model's compact binary copy, as `reco train` writes it next to model.json
    (layout: crates/reco-domain/src/model.rs, `model.bin`)."""
    def counts(tower):
        return {"categorical": tower["categorical"], "numeric": tower["numeric"],
                "weights": len(tower["weights"]), "ids": len(tower["ids"])}
    header = {k: model[k] for k in ("format_version", "model_version", "dim", "factors",
                                    "item_max_norm", "training")}
    header.update(user_tower=counts(model["user_tower"]), item_tower=counts(model["item_tower"]))
    header = json.dumps(header, separators=(",", ":")).encode()
    body = bytearray()
    for tower in (model["user_tower"], model["item_tower"]):
        flat = tower["weights"] + [v for part in tower["id_parts"] for v in part]
        body += struct.pack(f"<{len(flat)}f", *flat)
        for i in tower["ids"]:
            body += struct.pack("<I", len(i.encode())) + i.encode()
    out = b"RECOMODL" + struct.pack("<IIQ", 1, len(header), len(body)) + header + bytes(body)
    return out + struct.pack("<I", zlib.crc32(out))
def towers_only(model):
    return dict(model, **{t: dict(model[t], ids=[], id_parts=[])
                          for t in ("user_tower", "item_tower")})
binary = model_bin(towers_only(model))
with open(f"{out}/model-towers.bin", "wb") as f:
    f.write(binary)
if os.environ.get("RECO_COLD_START_ID_PARTS") == "1":
    with open(f"{out}/model-id-parts.bin", "wb") as f:
        f.write(model_bin(model))
s3.put_object(Bucket=bucket, Key=prefix + "model.bin", Body=binary)
if CUSTOMERS <= 100_000:
    s3.put_object(Bucket=bucket, Key=prefix + "model.json", Body=json.dumps(model).encode())
else:
    head = {k: model[k] for k in ("format_version", "model_version", "dim")}
    s3.put_object(Bucket=bucket, Key=prefix + "model.json", Body=json.dumps(head).encode())
s3.put_object(Bucket=bucket, Key=prefix + "item_embeddings.csv", Body=csv(products))
s3.put_object(Bucket=bucket, Key=prefix + "user_embeddings.csv", Body=csv(customers))
# What `reco train` writes last (and `reco load-embeddings` reads): the copy of the live
# version's model.bin next to the pointer (what the function fetches, in one GET, while it
# connects; builds before the copy read LATEST, then the version's model.bin), then the pointer.
s3.put_object(Bucket=bucket, Key="models/LATEST.model.bin", Body=binary)
s3.put_object(Bucket=bucket, Key="models/LATEST", Body=f"{VERSION}\n".encode())
records = []
for i in range(50):
    event = {"session_id": f"sess-{i}", "customer_number": int(rng.choice(customers)),
             "country": "France",
             "browse_history": [{"product_code": rng.choice(products), "quantity": 1}
                                for _ in range(rng.randint(0, 4))],
             "event_id": f"evt-{i}", "event_time": "2026-12-03T00:00:00Z"}
    records.append({"recordId": f"r{i:03}", "approximateArrivalTimestamp": 1796256000000,
                    "data": base64.b64encode(json.dumps(event).encode()).decode()})
with open(f"{out}/small.json", "w") as f:
    json.dump({"invocationId": "cold-start", "deliveryStreamArn":
               "arn:aws:firehose:us-east-1:123456789012:deliverystream/bench",
               "region": "us-east-1", "records": records}, f)
PY
echo "[cold_start] loading the embeddings (reco load-embeddings)" >&2
RECO_PG_URL="$url" RECO_ARTIFACTS_BUCKET="$bucket" "$reco" load-embeddings --model cold-start >&2
echo "== cold start: transform Lambda, release bootstrap, stand-in Runtime API, database over TLS (verify-full) =="
layouts=(towers)
[ "${RECO_COLD_START_ID_PARTS:-0}" = 1 ] && layouts+=(id-parts)
for round in 1 2; do
  for layout in "${layouts[@]}"; do
    # The live copy (and the version's model.bin) in this layout.
    "$venv/bin/python" - "$AWS_ENDPOINT_URL" "$bucket" "$out/model-$layout.bin" <<'PY'
import sys, boto3
endpoint, bucket, path = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=endpoint)
body = open(path, "rb").read()
for key in ("models/cold-start/model.bin", "models/LATEST.model.bin"):
    s3.put_object(Bucket=bucket, Key=key, Body=body)
print(f"model.bin: {len(body) / 1e6:.1f} MB", file=sys.stderr)
PY
    for b in "${bootstraps[@]}"; do
      echo "-- $b (model.bin: $layout, round $round)"
      RECO_PG_URL="$url" RECO_ARTIFACTS_BUCKET="$bucket" \
        "$venv/bin/python" bench/streaming/cold_start.py "$b" "$out/small.json" "$runs"
    done
  done
done
