#!/usr/bin/env bash
# Vector-store benchmark: load rate of binary COPY (reco loader) vs text \copy (psql), HNSW
# build time, recall@10 vs exact search and single-query p50/p99 at ef_search 40/100/200, and
# batches of 1/10/100/500 query vectors in one round trip vs as many single queries.
#
# Knobs: BENCH_VS_SIZES="1000000x32 100000x128" (items x dims). Each size gets its own database
# (reco_bench_vs_<items>_<dim>), created and dropped by the run. Markdown tables on stdout.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
SIZES="${BENCH_VS_SIZES:-1000000x32 100000x128}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/reco/target}"

bash scripts/local-up.sh >/dev/null
set -a; . .local/env; set +a

echo "== building the benchmark (release)" >&2
cargo build --release -q -p reco-vector-loader --example vector_store_bench
BIN="$CARGO_TARGET_DIR/release/examples/vector_store_bench"

for size in $SIZES; do
  items="${size%x*}"; dim="${size#*x}"
  "$BIN" "$items" "$dim"
done
