#!/usr/bin/env bash
# Runs the benchmark harnesses: every bench/<area>/run.sh, or only the areas named.
# Results go to stdout and to bench/results/<area>.txt (git-ignored).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

cd "$RECO_ROOT"
areas=("$@")
if [ "${#areas[@]}" -eq 0 ]; then
  for d in bench/*/; do [ -f "$d/run.sh" ] && areas+=("$(basename "$d")"); done
fi
[ "${#areas[@]}" -gt 0 ] || die "no benchmark harness under bench/<area>/run.sh"
mkdir -p bench/results
for area in "${areas[@]}"; do
  [ -f "bench/$area/run.sh" ] || die "no benchmark named $area (expected bench/$area/run.sh)"
  say "benchmark: $area"
  bash "bench/$area/run.sh" 2>&1 | tee "bench/results/$area.txt"
done
