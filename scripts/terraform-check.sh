#!/usr/bin/env bash
# Static checks of terraform/: fmt, offline init + validate (root and every module),
# `terraform test` with mocked AWS per module (the shared mock data of
# terraform/tests/mocks/aws, loaded by each test's mock_provider), the state machine's
# definition (the template of modules/pipeline rendered with sample values, checked by
# the Amazon States Language validator asl-validator), and checkov. Runs every step,
# names each failed one, exits non-zero if any failed. Needs no network except PyPI
# and npm the first time (checkov's venv in .local/venv-checkov, asl-validator in
# .local/asl-validator).
#
# Env:
#   TF_PROVIDER_MIRROR     folder above registry.terraform.io (found automatically)
#   RECO_CHECKOV_VERSION   checkov version to install (default pinned below)
#   RECO_ASL_VALIDATOR_VERSION  asl-validator version to install (default pinned below)
#   RECO_TF_CHECK_STEPS    subset of steps to run, e.g. "fmt validate" (default all:
#                          fmt validate test asl checkov)
set -uo pipefail

# shellcheck source=scripts/lib/terraform.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/terraform.sh"
cd "${RECO_ROOT}" || exit 1

# Pinned so a new checkov release cannot fail CI without a change here.
CHECKOV_VERSION="${RECO_CHECKOV_VERSION:-3.3.30}"
CHECKOV_VENV="${RECO_LOCAL}/venv-checkov"
ASL_VALIDATOR_VERSION="${RECO_ASL_VALIDATOR_VERSION:-4.0.0}"
ASL_VALIDATOR_DIR="${RECO_LOCAL}/asl-validator"
ASL_TEMPLATE="${RECO_TF_SRC}/modules/pipeline/state-machine.asl.json.tftpl"
STEPS="${RECO_TF_CHECK_STEPS:-fmt validate test asl checkov}"

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
  # checkov gives up on a file whose HCL parse takes over 10 s (the first parse also
  # builds the parser, which a busy 2-core machine can take that long for) and then
  # scans without it; a longer limit, and any parsing error failing the step, keep
  # every file in the scan.
  HCL_PARSE_TIMEOUT_SEC="${HCL_PARSE_TIMEOUT_SEC:-120}" "${CHECKOV_VENV}/bin/checkov" -d "${RECO_TF_SRC}" --framework terraform --skip-download \
    --quiet --compact -o cli -o json --output-file-path "console,${report}" >"${RECO_LOCAL}/terraform/checkov.txt" 2>&1
  local rc=$?
  grep -v '^$' "${RECO_LOCAL}/terraform/checkov.txt" | grep -v 'CLI configuration' >&2 || true
  python3 - "${report}" <<'PY' || rc=1
import json, sys
data = json.load(open(sys.argv[1]))
data = data if isinstance(data, list) else [data]
s = {"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0}
for d in data:
    for k in s:
        s[k] += d.get("summary", {}).get(k, 0)
print(f"checkov: {s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped (each skip justified in the code), {s['parsing_errors']} parsing errors")
if s["parsing_errors"]:
    sys.exit("checkov could not parse some files (see above): their checks did not run")
PY
  return "${rc}"
}

asl_validator_install() {
  local installed
  installed="$(node -p "require('${ASL_VALIDATOR_DIR}/node_modules/asl-validator/package.json').version" 2>/dev/null || true)"
  [[ "${installed}" == "${ASL_VALIDATOR_VERSION}" ]] && return 0
  command -v npm >/dev/null || { echo "npm not found: install Node.js (e.g. apt-get install nodejs npm) for the ASL validator" >&2; return 1; }
  tf_log "installing asl-validator ${ASL_VALIDATOR_VERSION} into ${ASL_VALIDATOR_DIR}"
  mkdir -p "${ASL_VALIDATOR_DIR}"
  npm install --prefix "${ASL_VALIDATOR_DIR}" --no-audit --no-fund --loglevel=error "asl-validator@${ASL_VALIDATOR_VERSION}" >&2
}

# Render the state machine's template as Terraform would (modules/pipeline passes
# exactly these variables: a template naming another one, or missing one, fails here
# as it would in `terraform plan`), then validate the document.
check_state_machine_definition() {
  [[ -f "${ASL_TEMPLATE}" ]] || { echo "missing ${ASL_TEMPLATE#"${RECO_ROOT}"/} (generated by \`reco pipeline definition\`)" >&2; return 1; }
  asl_validator_install || return 1
  local rendered="${RECO_LOCAL}/terraform/state-machine.asl.json"
  python3 - "${ASL_TEMPLATE}" "${rendered}" <<'PY' || return 1
import json, re, sys
lambda_arn = "arn:aws:lambda:us-east-1:123456789012:function:reco-{}"
values = {
    "etl_function_arn": lambda_arn.format("etl"),
    "train_function_arn": lambda_arn.format("train"),
    "load_function_arn": lambda_arn.format("load-embeddings"),
    "score_function_arn": lambda_arn.format("score-all"),
    "topic_arn": "arn:aws:sns:us-east-1:123456789012:reco-notifications",
    "score_max_concurrency": "10",
    "customers_per_shard": "100000",
    "max_shards": "1000",
}
text = open(sys.argv[1]).read()
if "%{" in text.replace("%%{", ""):
    sys.exit("the template has %{ } directives; it must be plain JSON with ${ } variables")
used = set(re.findall(r"(?<!\$)\$\{([^}]*)\}", text))
if used != set(values):
    sys.exit(f"template variables {sorted(used)} differ from the ones modules/pipeline passes {sorted(values)}")
rendered = re.sub(r"(?<!\$)\$\{([^}]*)\}", lambda m: values[m.group(1)], text).replace("$${", "${").replace("%%{", "%{")
try:
    json.loads(rendered)
except json.JSONDecodeError as err:
    sys.exit(f"the rendered definition is not JSON: {err}")
open(sys.argv[2], "w").write(rendered)
PY
  "${ASL_VALIDATOR_DIR}/node_modules/.bin/asl-validator" --json-path "${rendered}"
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
if want asl; then
  step "asl state machine definition" check_state_machine_definition
fi
if want checkov; then
  step "checkov" run_checkov
fi

if ((${#failed_steps[@]})); then
  printf 'failed step: %s\n' "${failed_steps[@]}" >&2
fi
echo "terraform-check: ${passed} passed, ${#failed_steps[@]} failed"
((${#failed_steps[@]} == 0))
