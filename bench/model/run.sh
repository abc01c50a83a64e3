#!/usr/bin/env bash
# Model benchmark: quality of `reco` (default settings) vs implicit 0.7.3's ALS on MovieLens
# 100k with the issue-4 protocol (same split files, same scorer), then training speed and peak
# memory on generated implicit feedback (1M and 10M ratings by default): reco's ALS alone
# (train_split), implicit, and the whole `reco eval` command (tuning off, and on for 10M), in
# one run, one table.
#
# MovieLens 100k comes from the PyPI wheel recbole==1.2.1 (its licence forbids redistribution:
# it is fetched into .local/cache/, never committed). implicit runs in its own venv
# (.local/venv-implicit). Results: .local/bench/model/.
#
# Knobs: BENCH_MODEL_RATINGS (space-separated sizes, default "1000000 10000000"),
# BENCH_MODEL_USERS (100000), BENCH_MODEL_ITEMS (10000), BENCH_MODEL_THREADS (2, both sides),
# BENCH_MODEL_FACTORS (32, both sides), BENCH_MODEL_ITERATIONS (15, both sides),
# BENCH_MODEL_TUNED (sizes also run with tuning on, default "10000000"),
# BENCH_MODEL_TUNING_BUDGET_SECONDS (300, the job's default budget),
# BENCH_MODEL_SCALE=0 skips the scale runs.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/reco/target}"
OUT="$ROOT/.local/bench/model"
CACHE="$ROOT/.local/cache/recbole"
INTER="$CACHE/ml-100k/ml-100k.inter"
VENV="$ROOT/.local/venv-implicit"
mkdir -p "$OUT/ml-100k" "$CACHE"

echo "== building reco (release)" >&2
cargo build --release -q -p reco-cli
RECO="$CARGO_TARGET_DIR/release/reco"

if [ ! -f "$INTER" ]; then
  echo "== fetching MovieLens 100k (recbole==1.2.1 wheel)" >&2
  python3 -m pip download -q recbole==1.2.1 --no-deps -d "$CACHE"
  python3 - "$CACHE" <<'PY'
import glob, os, sys, zipfile
cache = sys.argv[1]
wheel = zipfile.ZipFile(glob.glob(os.path.join(cache, "recbole-1.2.1-*.whl"))[0])
os.makedirs(os.path.join(cache, "ml-100k"), exist_ok=True)
with open(os.path.join(cache, "ml-100k", "ml-100k.inter"), "wb") as f:
    f.write(wheel.read("recbole/dataset_example/ml-100k/ml-100k.inter"))
PY
fi
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import implicit" 2>/dev/null; then
  echo "== installing implicit 0.7.3 into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q implicit==0.7.3
fi

peak_kb() { awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$1"; }

echo "== MovieLens 100k: protocol split, reco with default settings" >&2
/usr/bin/time -v "$RECO" eval --ratings "$INTER" --write-split "$OUT/ml-100k" \
  --recs-out "$OUT/ml-100k/reco-recs.csv" --metrics-out "$OUT/ml-100k/reco-metrics.json" \
  >"$OUT/ml-100k/reco.txt" 2>"$OUT/ml-100k/reco.err"
grep "trained in" "$OUT/ml-100k/reco.err"

echo "== MovieLens 100k: implicit ALS (factors 32, reg 0.05, alpha 1, 15 iterations)" >&2
OPENBLAS_NUM_THREADS=1 "$VENV/bin/python" bench/model/implicit_als.py --train "$OUT/ml-100k/train.csv" \
  --out "$OUT/ml-100k/implicit-recs.csv"

echo "== MovieLens 100k: side by side (same split, same scorer)"
"$RECO" eval --train "$OUT/ml-100k/train.csv" --test "$OUT/ml-100k/test.csv" \
  --score-recs "$OUT/ml-100k/implicit-recs.csv" 2>/dev/null | sed 's/^external /implicit-als/'
echo "reco peak memory (ML-100k eval run): $(peak_kb "$OUT/ml-100k/reco.err") kB"

echo "== determinism: two runs with the same seed give the same top-10 lists"
"$RECO" eval --train "$OUT/ml-100k/train.csv" --test "$OUT/ml-100k/test.csv" \
  --recs-out "$OUT/ml-100k/reco-recs-again.csv" >/dev/null 2>&1
if cmp -s "$OUT/ml-100k/reco-recs.csv" "$OUT/ml-100k/reco-recs-again.csv"; then
  echo "identical"
else
  echo "DIFFERENT" && exit 1
fi

if [ "${BENCH_MODEL_SCALE:-1}" != "0" ]; then
  echo "== building reco's training benchmark (release example train_split)" >&2
  cargo build --release -q -p reco-train --example train_split
  cargo build --release -q -p reco-train --example split_snapshot
  TRAIN_SPLIT="$CARGO_TARGET_DIR/release/examples/train_split"
  SPLIT_SNAPSHOT="$CARGO_TARGET_DIR/release/examples/split_snapshot"
  THREADS="${BENCH_MODEL_THREADS:-2}"
  FACTORS="${BENCH_MODEL_FACTORS:-32}"
  ITERATIONS="${BENCH_MODEL_ITERATIONS:-15}"
  TUNED="${BENCH_MODEL_TUNED:-10000000}"
  BUDGET="${BENCH_MODEL_TUNING_BUDGET_SECONDS:-300}"
  wall() { awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$1"; }
  peak_mb() { awk -v kb="$(peak_kb "$1")" 'BEGIN {printf "%.0f", kb / 1024}'; }
  SUMMARY="$OUT/summary.txt"
  : >"$SUMMARY"
  row() { printf '%-10s %-26s %10s %10s %10s\n' "$@" | tee -a "$SUMMARY"; }
  row ratings side "train (s)" "wall" "peak MB"
  for N in ${BENCH_MODEL_RATINGS:-1000000 10000000}; do
    GEN="$OUT/generated-$N"
    if [ ! -f "$GEN/test.csv" ]; then
      echo "== generating $N ratings" >&2
      "$VENV/bin/python" bench/model/generate_ratings.py --ratings "$N" \
        --users "${BENCH_MODEL_USERS:-100000}" --items "${BENCH_MODEL_ITEMS:-10000}" --out "$GEN"
    fi
    # Every side: one process that reads train.csv, trains ALS ($FACTORS factors, $ITERATIONS
    # iterations, $THREADS threads, each at its own regularization/alpha defaults), ranks every
    # user's unseen items and writes or scores the top 10. "train" is the training phase alone
    # (timed inside each process); wall and peak RSS are the whole process (/usr/bin/time).
    # `reco eval` is the real command (reads both split files compactly, trains with the feature
    # towers, ranks and scores every user, scores implicit's lists too), once with tuning off
    # and, for the sizes in BENCH_MODEL_TUNED, once with the search on ($BUDGET s budget).
    echo "== $N generated ratings: side by side ($FACTORS factors, $ITERATIONS iterations, $THREADS threads)" >&2
    /usr/bin/time -v env RAYON_NUM_THREADS="$THREADS" "$TRAIN_SPLIT" --train "$GEN/train.csv" \
      --out "$GEN/reco-recs.csv" --factors "$FACTORS" --iterations "$ITERATIONS" \
      >"$GEN/reco-train.txt" 2>"$GEN/reco-train.err"
    /usr/bin/time -v env OPENBLAS_NUM_THREADS=1 "$VENV/bin/python" bench/model/implicit_als.py \
      --train "$GEN/train.csv" --out "$GEN/implicit-recs.csv" --factors "$FACTORS" \
      --iterations "$ITERATIONS" --threads "$THREADS" \
      >"$GEN/implicit.txt" 2>"$GEN/implicit.err"
    /usr/bin/time -v env RAYON_NUM_THREADS="$THREADS" "$RECO" eval --train "$GEN/train.csv" \
      --test "$GEN/test.csv" --score-recs "$GEN/implicit-recs.csv" --factors "$FACTORS" \
      --iterations "$ITERATIONS" --no-tuning \
      >"$GEN/reco.txt" 2>"$GEN/reco.err"
    row "$N" "reco train_split" \
      "$(sed -n 's/^reco: trained in \([0-9.]*\) s.*/\1/p' "$GEN/reco-train.txt")" \
      "$(wall "$GEN/reco-train.err")" "$(peak_mb "$GEN/reco-train.err")"
    row "$N" "implicit" \
      "$(sed -n 's/^implicit: trained in \([0-9.]*\) s.*/\1/p' "$GEN/implicit.txt")" \
      "$(wall "$GEN/implicit.err")" "$(peak_mb "$GEN/implicit.err")"
    row "$N" "reco eval (no tuning)" \
      "$(sed -n 's/^eval: trained in \([0-9.]*\) s.*/\1/p' "$GEN/reco.err")" \
      "$(wall "$GEN/reco.err")" "$(peak_mb "$GEN/reco.err")"
    if [[ " $TUNED " == *" $N "* ]]; then
      /usr/bin/time -v env RAYON_NUM_THREADS="$THREADS" "$RECO" eval --train "$GEN/train.csv" \
        --test "$GEN/test.csv" --factors "$FACTORS" --iterations "$ITERATIONS" \
        --tuning-budget-seconds "$BUDGET" \
        >"$GEN/reco-tuned.txt" 2>"$GEN/reco-tuned.err"
      row "$N" "reco eval (tuned, ${BUDGET} s)" \
        "$(sed -n 's/^eval: trained in \([0-9.]*\) s.*/\1/p' "$GEN/reco-tuned.err")" \
        "$(wall "$GEN/reco-tuned.err")" "$(peak_mb "$GEN/reco-tuned.err")"
      # The training job's own path at this size: the same events as a training snapshot
      # (Parquet, 1 row in 10 an events row), `reco train --input` with tuning on: compact
      # snapshot, held-out split, search, evaluation model, full model, embeddings files.
      if [ ! -f "$GEN/snapshot.parquet" ]; then
        "$SPLIT_SNAPSHOT" --train "$GEN/train.csv" --test "$GEN/test.csv" \
          --out "$GEN/snapshot.parquet" >&2
      fi
      rm -rf "$GEN/models"
      /usr/bin/time -v env RAYON_NUM_THREADS="$THREADS" "$RECO" train \
        --input "$GEN/snapshot.parquet" --output-dir "$GEN/models" --factors "$FACTORS" \
        --iterations "$ITERATIONS" --tuning-budget-seconds "$BUDGET" \
        >"$GEN/reco-job.txt" 2>"$GEN/reco-job.err" || true
      row "$N" "reco train (job, tuned)" \
        "$(sed -n 's/.*full model trained in \([0-9.]*\) s.*/\1/p' "$GEN/reco-job.txt")" \
        "$(wall "$GEN/reco-job.err")" "$(peak_mb "$GEN/reco-job.err")"
    fi
  done
  for N in ${BENCH_MODEL_RATINGS:-1000000 10000000}; do
    GEN="$OUT/generated-$N"
    echo "== $N generated ratings: quality on the same split (reco eval, implicit's lists scored by it)"
    sed 's/^external /implicit-als/' "$GEN/reco.txt"
    grep -E "^eval: (read|training on)" "$GEN/reco.err"
    if [ -f "$GEN/reco-tuned.txt" ] && [[ " $TUNED " == *" $N "* ]]; then
      echo "-- with tuning:"
      grep -E "^tuning: |^reco " "$GEN/reco-tuned.txt"
    fi
    if [ -f "$GEN/reco-job.txt" ] && [[ " $TUNED " == *" $N "* ]]; then
      echo "-- reco train --input (the job's path, tuned; held-out split of the snapshot):"
      grep -E "^tuning: (winner|[0-9])|^reco |^most-popular|^model " "$GEN/reco-job.txt"
    fi
  done
  echo "== side by side (also in $SUMMARY)"
  cat "$SUMMARY"
fi
