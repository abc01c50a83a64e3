#!/usr/bin/env bash
# Serving benchmark: score-all of 1M customers x 20k items x D=32 (kernel alone, then kernel +
# documents + JSON into a sink that only serialises) next to the same scoring through batched
# pgvector HNSW queries on a sample (extrapolated, and said so), the publisher's documents/s to
# an in-memory store and to the S3 emulator, and the size of latest documents.
#
# Knobs: BENCH_SERVING_CUSTOMERS (1000000), BENCH_SERVING_ITEMS (20000), BENCH_SERVING_DIM (32),
# BENCH_SERVING_EXCLUSIONS (5 per customer), BENCH_SERVING_PG_SAMPLE (5000),
# BENCH_SERVING_RECORDS (5000). A PostgreSQL database and an emulator bucket of the benchmark's
# own are created and dropped by the run. Markdown tables on stdout, progress on stderr.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/reco/target}"

bash scripts/local-up.sh >/dev/null
set -a; . .local/env; set +a

echo "== building the benchmark (release)" >&2
cargo build --release -q -p reco-serving --example serving_bench
"$CARGO_TARGET_DIR/release/examples/serving_bench"
