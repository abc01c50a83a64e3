#!/usr/bin/env bash
# `make demo`: the whole pipeline on one machine. Until every stage exists it names what is
# missing and fails, rather than pretending.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

missing=()
grep -q 'not built yet' "$RECO_ROOT/crates/reco-etl/src/lib.rs" && missing+=("batch ETL (reco source, reco etl)")
grep -q 'not built yet' "$RECO_ROOT/crates/reco-train/src/lib.rs" && missing+=("training (reco train)")
grep -q 'not built yet' "$RECO_ROOT/crates/reco-vector-store/src/lib.rs" && missing+=("vector store (reco load-embeddings)")
grep -q 'not built yet' "$RECO_ROOT/crates/reco-transform-lambda/src/main.rs" && missing+=("streaming inference (Lambda, reco produce, reco firehose-local, reco recs)")
[ -f "$RECO_ROOT/terraform/main.tf" ] || missing+=("Terraform modules (make deploy-* ENV=local)")
if [ "${#missing[@]}" -gt 0 ]; then
  say "the demo cannot run yet; these pipeline stages are not built:"
  for m in "${missing[@]}"; do say "  - $m"; done
  exit 1
fi
die "the demo script has not been written for the completed stages yet"
