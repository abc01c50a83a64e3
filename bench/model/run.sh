#!/usr/bin/env bash
# Model benchmark: quality of `reco` (default settings) vs implicit 0.7.3's ALS on MovieLens
# 100k with the issue-4 protocol (same split files, same scorer), then training speed and peak
# memory on generated implicit feedback (10M ratings by default).
#
# MovieLens 100k comes from the PyPI wheel recbole==1.2.1 (its licence forbids redistribution:
# it is fetched into .local/cache/, never committed). implicit runs in its own venv
# (.local/venv-implicit). Results: .local/bench/model/.
#
# Knobs: BENCH_MODEL_RATINGS (default 10000000), BENCH_MODEL_USERS (100000),
# BENCH_MODEL_ITEMS (10000), BENCH_MODEL_SCALE=0 skips the scale run.
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
  N="${BENCH_MODEL_RATINGS:-10000000}"
  GEN="$OUT/generated-$N"
  if [ ! -f "$GEN/test.csv" ]; then
    echo "== generating $N ratings" >&2
    "$VENV/bin/python" bench/model/generate_ratings.py --ratings "$N" \
      --users "${BENCH_MODEL_USERS:-100000}" --items "${BENCH_MODEL_ITEMS:-10000}" --out "$GEN"
  fi
  echo "== $N generated ratings: reco (default settings), wall time and peak memory"
  /usr/bin/time -v "$RECO" eval --train "$GEN/train.csv" --test "$GEN/test.csv" \
    >"$GEN/reco.txt" 2>"$GEN/reco.err"
  cat "$GEN/reco.txt"
  grep -E "training on|trained in" "$GEN/reco.err"
  echo "wall (read + train + rank every user): $(awk -F': ' '/Elapsed/ {print $2}' "$GEN/reco.err"), peak memory $(peak_kb "$GEN/reco.err") kB"
fi
