#!/usr/bin/env bash
# Apply the Terraform root to the local AWS emulator (moto), assert on what was
# created, then destroy it. Two stacks run side by side, each on a private moto
# server started here (from the local stack's venv) and stopped at the end:
#
#   main       the whole root with create_source_db = false (the source database
#              locally is the stack's MariaDB; the jobs get an empty secret)
#   source-db  kms + network + source-db with create_source_db = true: the RDS MySQL
#              with its write-only generated password and connection secret
#
# Why private servers: moto gives every RDS instance the same DbiResourceId, which
# the aws provider reads instances by, so one moto server can hold only one
# Terraform-managed DB instance; and a test's ~150 resources stay out of the
# emulator developers use. Every run has its own name prefix, staging copy and state
# under .local/terraform/apply-test/; the destroy runs whatever happens (trap).
#
# Env:
#   RECO_MOTO_SERVER   moto_server to run; default .local/venv/bin/moto_server
#                      (installed by scripts/local-up.sh, which is run when missing)
#   RECO_PYTHON        python with boto3 for the assertions; default: the python next
#                      to moto_server
#   RECO_TRANSFORM_ZIP, RECO_PIPELINE_ZIP, RECO_PUBLISHER_ZIP
#                      Lambda zips; default dist/lambda/*.zip (make build-lambda)
#   RECO_WEB_DIR       storefront page files to upload; default web/
#   RECO_TF_TEST_SOURCE_DB=0  skip the source-db stack
#   TF_PROVIDER_MIRROR folder above registry.terraform.io (found automatically)
#   KEEP_STACK=1       skip the destroy and leave the emulators running (debugging)
set -euo pipefail

# shellcheck source=scripts/lib/terraform.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/terraform.sh"
cd "${RECO_ROOT}"

tf_setup_cli

moto_server="${RECO_MOTO_SERVER:-${RECO_LOCAL}/venv/bin/moto_server}"
if [[ ! -x "${moto_server}" && -z "${RECO_MOTO_SERVER:-}" ]]; then
  tf_log "no moto in .local/venv: setting up the local stack (scripts/local-up.sh)"
  bash scripts/local-up.sh || tf_die "scripts/local-up.sh failed"
fi
[[ -x "${moto_server}" ]] || tf_die "moto_server not found at ${moto_server} (set RECO_MOTO_SERVER)"
python_bin="${RECO_PYTHON:-$(dirname "${moto_server}")/python}"
"${python_bin}" -c 'import boto3' 2>/dev/null || tf_die "no python with boto3 at ${python_bin} (set RECO_PYTHON)"

export AWS_REGION="us-east-1" AWS_DEFAULT_REGION="us-east-1"
export AWS_ACCESS_KEY_ID="test" AWS_SECRET_ACCESS_KEY="test"
unset AWS_PROFILE AWS_SESSION_TOKEN

tf_resolve_zips "${TF_LAMBDA_ZIPS[@]}"
web_dir="$(tf_web_dir)"

run_id="reco-t$(od -An -N3 -tu4 /dev/urandom | tr -d ' ' | cut -c1-6)"
base="${RECO_LOCAL}/terraform/apply-test/${run_id}"
mkdir -p "${base}"

free_port() {
  "${python_bin}" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Start a private moto server; prints its endpoint. Its pid goes to $1/moto.pid.
start_emulator() {
  local work="$1" port
  port="$(free_port)"
  # AWS managed policies (AWSLambdaVPCAccessExecutionRole) exist only with this flag.
  # Started through scripts/lib/moto_server.py, which adds the Step Functions
  # definition validation the aws provider calls (moto lacks it).
  MOTO_IAM_LOAD_MANAGED_POLICIES=true nohup "${python_bin}" "${RECO_ROOT}/scripts/lib/moto_server.py" -H 127.0.0.1 -p "${port}" \
    >"${work}/moto.log" 2>&1 </dev/null &
  echo $! >"${work}/moto.pid"
  local i
  for i in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
      echo "http://127.0.0.1:${port}"
      return 0
    fi
    sleep 0.2
  done
  tf_die "moto did not start on port ${port} (see ${work}/moto.log)"
}

stop_emulator() {
  local work="$1" pid
  [[ -f "${work}/moto.pid" ]] || return 0
  pid="$(cat "${work}/moto.pid")"
  kill "${pid}" 2>/dev/null || true
  local i
  for i in $(seq 1 50); do
    kill -0 "${pid}" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "${pid}" 2>/dev/null || true
  rm -f "${work}/moto.pid"
}

# One stack: emulator, staging copy, apply, assertions, destroy. Runs in a subshell
# with its own trap. Args: label, assertion scope, extra tfvars, targets...
# Not `local`: the EXIT trap runs after the function has returned.
stack_test() {
  label="$1" scope="$2" extra_vars="$3"
  shift 3
  targets=("$@") target_args=()
  for t in "${targets[@]}"; do target_args+=("-target=${t}"); done

  work="${base}/${label}"
  stage="${work}/stack" state="${work}/terraform.tfstate"
  mkdir -p "${work}"
  export TF_DATA_DIR="${work}/data"
  tf_stage_local_root "${stage}" "${state}"

  endpoint="$(start_emulator "${work}")"
  export AWS_ENDPOINT_URL="${endpoint}"

  # Settings for a throwaway stack; everything else is what a real deployment gets.
  cat >"${work}/test.tfvars" <<VARS
aws_endpoint_url            = "${endpoint}"
aws_region                  = "${AWS_REGION}"
name_prefix                 = "${run_id}"
transform_lambda_zip        = "${RECO_TRANSFORM_ZIP}"
pipeline_lambda_zip         = "${RECO_PIPELINE_ZIP}"
publisher_lambda_zip        = "${RECO_PUBLISHER_ZIP}"
storefront_web_dir          = "${web_dir}"
force_destroy_buckets       = true
secret_recovery_window_days = 0
kms_deletion_window_days    = 7
pg_multi_az                 = false
pg_deletion_protection      = false
pg_skip_final_snapshot      = true
pg_apply_immediately        = true
# moto implements AddRoleToDBInstance but not RemoveRoleFromDBInstance, so the
# association could never be destroyed; the module's plan test asserts it.
pg_associate_s3_import_role   = false
source_db_multi_az            = false
source_db_deletion_protection = false
source_db_skip_final_snapshot = true
source_db_apply_immediately   = true
# moto has no CloudFront cache or response headers policies; the module test asserts them.
storefront_cache_policies = false
# moto cannot run Lambdas: the db-roles migration is not invoked (its module test asserts
# the invocation; the integration tests of reco-db-roles run the migration itself).
run_database_migration = false
# moto applies the TLS-only deny without its condition to object reads: Terraform could
# not read (refresh) or delete the page objects. Object-free buckets keep it.
site_bucket_deny_insecure_transport = false
${extra_vars}
VARS

  tf() { terraform -chdir="${stage}" "$@"; }
  log() { tf_log "[${label}] $*"; }

  applied=0 stack_start=${SECONDS}
  cleanup_stack() {
    local rc=$?
    if [[ "${applied}" == 1 && "${KEEP_STACK:-0}" != 1 ]]; then
      log "destroying"
      local t0=${SECONDS}
      if tf destroy -auto-approve -input=false -no-color -var-file="${work}/test.tfvars" "${target_args[@]}" >"${work}/destroy.log" 2>&1; then
        log "destroy: $((SECONDS - t0)) s"
      else
        tail -n 40 "${work}/destroy.log" >&2
        log "destroy FAILED (log: ${work}/destroy.log)"
        rc=1
      fi
    fi
    if [[ "${KEEP_STACK:-0}" == 1 ]]; then
      log "KEEP_STACK=1: emulator ${AWS_ENDPOINT_URL} (pid $(cat "${work}/moto.pid" 2>/dev/null)) and state left in ${work}"
    else
      stop_emulator "${work}"
    fi
    log "total: $((SECONDS - stack_start)) s"
    exit "${rc}"
  }
  trap cleanup_stack EXIT

  log "init (emulator ${endpoint})"
  tf init -input=false -no-color >"${work}/init.log" 2>&1 || { cat "${work}/init.log" >&2; tf_die "[${label}] terraform init failed"; }

  log "apply"
  local t0=${SECONDS}
  applied=1 # from here on, a partial apply must be destroyed too
  if ! tf apply -auto-approve -input=false -no-color -var-file="${work}/test.tfvars" "${target_args[@]}" >"${work}/apply.log" 2>&1; then
    tail -n 60 "${work}/apply.log" >&2
    tf_die "[${label}] terraform apply failed (log: ${work}/apply.log)"
  fi
  local apply_seconds=$((SECONDS - t0)) resources
  resources="$(tf state list | grep -cv -e '^data\.' -e '\.data\.' || true)"
  log "apply: ${apply_seconds} s, ${resources} resources"
  printf '%s %s\n' "${apply_seconds}" "${resources}" >"${work}/apply.stats"

  tf output -json >"${work}/outputs.json"
  tf show -json >"${work}/state.json"
  local assert_rc=0
  "${python_bin}" "${RECO_TF_SRC}/tests/local_apply_assertions.py" --scope "${scope}" \
    --outputs "${work}/outputs.json" --state "${work}/state.json" --raw-state "${state}" \
    --name-prefix "${run_id}" --web-dir "${web_dir}" \
    --asl-template "${RECO_TF_SRC}/modules/pipeline/state-machine.asl.json.tftpl" >"${work}/assertions.log" 2>&1 || assert_rc=$?
  sed "s/^/[${label}] /" "${work}/assertions.log"
  return "${assert_rc}"
}

t_start=${SECONDS}
pids=()
labels=()
if [[ "${RECO_TF_TEST_SOURCE_DB:-1}" != 0 ]]; then
  (stack_test source-db source-db "create_source_db = true" module.kms module.network module.source_db) &
  pids+=($!)
  labels+=(source-db)
fi
(stack_test main main "create_source_db = false") &
pids+=($!)
labels+=(main)

failed=()
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || failed+=("${labels[$i]}")
done

passed_total=0
failed_total=0
for label in "${labels[@]}"; do
  if [[ -f "${base}/${label}/apply.stats" ]]; then
    read -r secs count <"${base}/${label}/apply.stats"
    printf 'terraform apply to emulator (%s): %s resources in %s s\n' "${label}" "${count}" "${secs}"
  fi
  summary="$(grep -Eo '[0-9]+ passed, [0-9]+ failed' "${base}/${label}/assertions.log" 2>/dev/null | tail -n 1 || true)"
  if [[ "${summary}" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    passed_total=$((passed_total + BASH_REMATCH[1]))
    failed_total=$((failed_total + BASH_REMATCH[2]))
  else
    failed_total=$((failed_total + 1)) # the stack failed before its assertions ran
  fi
done
tf_log "total: $((SECONDS - t_start)) s"
if ((${#failed[@]})); then
  tf_log "FAILED: ${failed[*]} (logs in ${base})"
  ((failed_total > 0)) || failed_total=1
fi
echo "terraform-apply-test: ${passed_total} passed, ${failed_total} failed"
((${#failed[@]} == 0)) || exit 1
[[ "${KEEP_STACK:-0}" == 1 ]] || rm -rf "${base}"
