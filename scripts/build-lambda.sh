#!/usr/bin/env bash
# Builds reco's Lambda zips for provided.al2023 (x86_64), each holding one `bootstrap`:
#   dist/lambda/transform.zip  bin `bootstrap`       of crate reco-transform-lambda
#   dist/lambda/pipeline.zip   bin `reco-pipeline-lambda` of crate reco-pipeline (every step
#                              of the daily loop: the etl, train, load-embeddings and
#                              score-all functions, the request's `step` selects the work)
#   dist/lambda/publisher.zip  bin `reco-publisher-lambda` of crate reco-serving
# A binary that does not exist yet is skipped with a message. cargo-lambda (PyPI, with its
# ziglang dependency) links against glibc 2.34, the version of Amazon Linux 2023, and the
# script fails if any symbol of a built binary needs a newer glibc.
#
# usage: scripts/build-lambda.sh [transform|pipeline|publisher ...]   (default: all three)
# Honours CARGO_TARGET_DIR (default: target/ in the repository).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"

# glibc of the provided.al2023 runtime (Amazon Linux 2023 ships glibc 2.34).
MAX_GLIBC=2.34
TARGET="x86_64-unknown-linux-gnu"
OUT="$root/dist/lambda"
VENV="$root/.local/venv"

say() { echo "[build-lambda] $*" >&2; }
die() { say "error: $*"; exit 1; }

if [ ! -x "$VENV/bin/cargo-lambda" ]; then
  say "cargo-lambda not found in $VENV: installing it (scripts/local-install.sh --with-cargo-lambda)"
  bash "$root/scripts/local-install.sh" --with-cargo-lambda
fi
# cargo-lambda finds zig through the venv's ziglang (python-zig / python -m ziglang).
export PATH="$VENV/bin:$PATH"
command -v objdump >/dev/null || die "objdump not found (Debian package binutils)"
command -v zip >/dev/null || die "zip not found (Debian package zip)"

# Whether crate $1 declares binary $2 (read from cargo metadata, no build).
has_bin() {
  cargo metadata --no-deps --format-version 1 2>/dev/null | "$VENV/bin/python" -c '
import json, sys
package, binary = sys.argv[1], sys.argv[2]
meta = json.load(sys.stdin)
sys.exit(0 if any(p["name"] == package and any(t["name"] == binary and "bin" in t["kind"] for t in p["targets"]) for p in meta["packages"]) else 1)
' "$1" "$2"
}

# Fails when binary $1 needs a glibc symbol version newer than MAX_GLIBC.
check_glibc() {
  local newest
  newest="$(objdump -T "$1" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)"
  if [ -z "$newest" ]; then
    say "$1 needs no versioned glibc symbol"
    return
  fi
  if [ "$(printf '%s\n%s\n' "$newest" "$MAX_GLIBC" | sort -V | tail -n 1)" != "$MAX_GLIBC" ]; then
    objdump -T "$1" | grep -E "GLIBC_${newest//./\\.}\b" >&2 || true
    die "$1 needs GLIBC_$newest > $MAX_GLIBC (provided.al2023): not deployable"
  fi
  say "$1: newest glibc symbol version $newest (<= $MAX_GLIBC)"
}

# Packages the built binary $2 into dist/lambda/$1.zip as `bootstrap`, after the glibc check.
package_zip() {
  local name="$1" bin="$2"
  local binary="$CARGO_TARGET_DIR/lambda/$bin/bootstrap"
  [ -f "$binary" ] || die "cargo lambda build did not produce $binary"
  check_glibc "$binary"
  mkdir -p "$OUT"
  local stage
  stage="$(mktemp -d)"
  cp "$binary" "$stage/bootstrap"
  chmod 755 "$stage/bootstrap"
  # A fixed timestamp makes the zip a function of the binary alone: an unchanged binary gives
  # the same zip, so Terraform sees no new source_code_hash.
  touch -t 198001010000 "$stage/bootstrap"
  rm -f "$OUT/$name.zip"
  (cd "$stage" && zip -q -X "$OUT/$name.zip" bootstrap)
  rm -rf "$stage"
  say "wrote $OUT/$name.zip ($(stat -c %s "$OUT/$name.zip") bytes)"
}

targets=("$@")
[ "${#targets[@]}" -eq 0 ] && targets=(transform pipeline publisher)
names=() bins=() args=()
for target in "${targets[@]}"; do
  case "$target" in
    transform) package=reco-transform-lambda bin=bootstrap ;;
    pipeline) package=reco-pipeline bin=reco-pipeline-lambda ;;
    publisher) package=reco-serving bin=reco-publisher-lambda ;;
    *) die "unknown Lambda $target (transform, pipeline or publisher)" ;;
  esac
  if ! has_bin "$package" "$bin"; then
    say "skipping $target.zip: crate $package has no binary $bin yet"
    continue
  fi
  names+=("$target") bins+=("$bin") args+=(--package "$package" --bin "$bin")
done
[ "${#names[@]}" -gt 0 ] || die "nothing to build"

# AWS-LC (the TLS library of sqlx's rustls and of the AWS SDK) seeds its random generator
# from CPU jitter entropy unless built without it: CPU time in the function's first TLS
# handshake of every cold start (119 ms of the init on the 2-core bench machine under load,
# bench/streaming/cold_start.sh). Without it AWS-LC seeds from the kernel (getrandom) plus
# RDRAND, as ring, BoringSSL and OpenSSL do; only AWS-LC's FIPS build requires the jitter
# source, and these binaries do not use it.
export AWS_LC_SYS_NO_JITTER_ENTROPY=1
# One cargo invocation for every binary: shared dependencies compile once.
say "building ${bins[*]} for $TARGET (glibc $MAX_GLIBC), release"
started=$SECONDS
cargo lambda build --release --target "$TARGET.$MAX_GLIBC" "${args[@]}"
say "cargo lambda build took $((SECONDS - started))s"
for i in "${!names[@]}"; do
  package_zip "${names[$i]}" "${bins[$i]}"
done
