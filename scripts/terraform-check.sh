#!/usr/bin/env bash
# Static checks of terraform/: fmt, offline init + validate (root and every module),
# `terraform test` with mocked AWS per module (the shared mock data of
# terraform/tests/mocks/aws, loaded by each test's mock_provider), and checkov. Runs
# every step, names each failed one, exits non-zero if any failed. Needs no network
# except PyPI the first time (checkov's venv in .local/venv-checkov).
#
# Env:
#   TF_PROVIDER_MIRROR     folder above registry.terraform.io (found automatically)
#   RECO_CHECKOV_VERSION   checkov version to install (default pinned below)
#   RECO_TF_CHECK_STEPS    subset of steps to run, e.g. "fmt validate" (default all:
#                          fmt validate test checkov)
set -uo pipefail

# shellcheck source=scripts/lib/terraform.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/terraform.sh"
cd "${RECO_ROOT}" || exit 1

# Pinned so a new checkov release cannot fail CI without a change here.
CHECKOV_VERSION="${RECO_CHECKOV_VERSION:-3.3.30}"
CHECKOV_VENV="${RECO_LOCAL}/venv-checkov"
STEPS="${RECO_TF_CHECK_STEPS:-fmt validate test checkov}"

tf_setup_cli

passed=0
failed_steps=()
step() {
  local name="$1"
  shift
  tf_log "step: ${name}"
  local t0=${SECONDS}
  if "$@"; then
    passed=$((passed + 1))
    tf_log "ok: ${name} ($((SECONDS - t0)) s)"
  else
    failed_steps+=("${name}")
    tf_log "FAILED: ${name}"
  fi
}
want() { [[ " ${STEPS} " == *" $1 "* ]]; }

tf_dirs=("${RECO_TF_SRC}")
for d in "${RECO_TF_SRC}"/modules/*/; do
  tf_dirs+=("${d%/}")
done

init_dir() {
  local dir="$1"
  TF_DATA_DIR="$(tf_data_dir "${dir}")" terraform -chdir="${dir}" init -backend=false -input=false -no-color >"${RECO_LOCAL}/terraform/init.log" 2>&1 \
    || { cat "${RECO_LOCAL}/terraform/init.log" >&2; return 1; }
}

validate_dir() {
  local dir="$1"
  init_dir "${dir}" || return 1
  TF_DATA_DIR="$(tf_data_dir "${dir}")" terraform -chdir="${dir}" validate -no-color
}

test_dir() {
  local dir="$1"
  init_dir "${dir}" || return 1
  TF_DATA_DIR="$(tf_data_dir "${dir}")" terraform -chdir="${dir}" test -no-color
}

checkov_venv() {
  if [[ -x "${CHECKOV_VENV}/bin/checkov" ]] \
    && [[ "$("${CHECKOV_VENV}/bin/python" -c 'import importlib.metadata as m; print(m.version("checkov"))' 2>/dev/null)" == "${CHECKOV_VERSION}" ]]; then
    return 0
  fi
  tf_log "installing checkov ${CHECKOV_VERSION} into ${CHECKOV_VENV}"
  python3 -m venv "${CHECKOV_VENV}" || return 1
  "${CHECKOV_VENV}/bin/pip" install --quiet --disable-pip-version-check "checkov==${CHECKOV_VERSION}"
}

run_checkov() {
  checkov_venv || return 1
  local report="${RECO_LOCAL}/terraform/checkov.json"
  # Skips are written next to the code they concern (#checkov:skip=ID:reason).
  "${CHECKOV_VENV}/bin/checkov" -d "${RECO_TF_SRC}" --framework terraform --skip-download \
    --quiet --compact -o cli -o json --output-file-path "console,${report}" >"${RECO_LOCAL}/terraform/checkov.txt" 2>&1
  local rc=$?
  grep -v '^$' "${RECO_LOCAL}/terraform/checkov.txt" | grep -v 'CLI configuration' >&2 || true
  python3 - "${report}" <<'PY' || true
import json, sys
data = json.load(open(sys.argv[1]))
data = data if isinstance(data, list) else [data]
s = {"passed": 0, "failed": 0, "skipped": 0}
for d in data:
    for k in s:
        s[k] += d.get("summary", {}).get(k, 0)
print(f"checkov: {s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped (each skip justified in the code)")
PY
  return "${rc}"
}

if want fmt; then
  step "fmt" terraform fmt -check -recursive -diff "${RECO_TF_SRC}"
fi
if want validate; then
  for d in "${tf_dirs[@]}"; do
    step "validate ${d#"${RECO_ROOT}"/}" validate_dir "${d}"
  done
fi
if want test; then
  for d in "${tf_dirs[@]}"; do
    compgen -G "${d}/tests/*.tftest.hcl" >/dev/null || continue
    step "test ${d#"${RECO_ROOT}"/}" test_dir "${d}"
  done
fi
if want checkov; then
  step "checkov" run_checkov
fi

if ((${#failed_steps[@]})); then
  printf 'failed step: %s\n' "${failed_steps[@]}" >&2
fi
echo "terraform-check: ${passed} passed, ${#failed_steps[@]} failed"
((${#failed_steps[@]} == 0))
