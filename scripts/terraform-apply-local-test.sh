#!/usr/bin/env bash
# Apply the whole Terraform root to the local AWS emulator (moto), assert on what
# was created, then destroy it. Every run uses its own name prefix, staging copy
# and state under .local/terraform/apply-test/, so runs never collide; the destroy
# runs whatever happens (trap).
#
# Env:
#   AWS_ENDPOINT_URL   emulator to use; default from .local/env (the local stack is
#                      started with scripts/local-up.sh when that file is missing)
#   RECO_TRANSFORM_ZIP, RECO_ETL_ZIP, RECO_TRAIN_ZIP
#                      Lambda zips; default dist/lambda/*.zip (built by make build-lambda)
#   RECO_PYTHON        python with boto3 for the assertions; default .local/venv/bin/python
#   TF_PROVIDER_MIRROR folder above registry.terraform.io (found automatically)
#   KEEP_STACK=1       skip the destroy (for debugging; the state stays under .local/)
set -euo pipefail

# shellcheck source=scripts/lib/terraform.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/terraform.sh"
cd "${RECO_ROOT}"

tf_setup_cli
tf_load_local_env

python_bin="${RECO_PYTHON:-${RECO_LOCAL}/venv/bin/python}"
"${python_bin}" -c 'import boto3' 2>/dev/null \
  || tf_die "no python with boto3 at ${python_bin} (run scripts/local-up.sh, or set RECO_PYTHON)"

# VPC-attached functions use AWS's managed policy AWSLambdaVPCAccessExecutionRole;
# moto knows AWS managed policies only when started with
# MOTO_IAM_LOAD_MANAGED_POLICIES=true.
"${python_bin}" -c '
import os, sys, boto3
iam = boto3.client("iam", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
try:
    iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole")
except iam.exceptions.NoSuchEntityException:
    sys.exit(1)
' || tf_die "the emulator at ${AWS_ENDPOINT_URL} has no AWS managed IAM policies: start moto with MOTO_IAM_LOAD_MANAGED_POLICIES=true"

tf_resolve_zips transform etl train

run_id="reco-t$(od -An -N3 -tu4 /dev/urandom | tr -d ' ' | cut -c1-6)"
work="${RECO_LOCAL}/terraform/apply-test/${run_id}"
stage="${work}/stack"
state="${work}/terraform.tfstate"
export TF_DATA_DIR="${work}/data"
tf_stage_local_root "${stage}" "${state}"

# Settings for a throwaway stack on the emulator; everything else is the default a
# real deployment gets.
cat >"${work}/local.tfvars" <<VARS
aws_endpoint_url            = "${AWS_ENDPOINT_URL}"
aws_region                  = "${AWS_REGION}"
name_prefix                 = "${run_id}"
transform_lambda_zip        = "${RECO_TRANSFORM_ZIP}"
etl_lambda_zip              = "${RECO_ETL_ZIP}"
train_lambda_zip            = "${RECO_TRAIN_ZIP}"
force_destroy_buckets       = true
secret_recovery_window_days = 0
kms_deletion_window_days    = 7
pg_multi_az                 = false
pg_deletion_protection      = false
pg_skip_final_snapshot      = true
pg_apply_immediately        = true
# moto implements AddRoleToDBInstance but not RemoveRoleFromDBInstance, so the
# association could never be destroyed; it is asserted by the module's plan test.
pg_associate_s3_import_role = false
VARS

tf() { terraform -chdir="${stage}" "$@"; }

t_start=${SECONDS}
applied=0
cleanup() {
  local rc=$?
  if [[ "${applied}" == 1 && "${KEEP_STACK:-0}" != 1 ]]; then
    tf_log "destroying ${run_id}"
    local t0=${SECONDS}
    if tf destroy -auto-approve -input=false -var-file="${work}/local.tfvars" >"${work}/destroy.log" 2>&1; then
      tf_log "destroy: $((SECONDS - t0)) s"
      rm -rf "${work}"
    else
      tail -n 40 "${work}/destroy.log" >&2
      tf_log "destroy FAILED; state kept in ${work}"
      rc=1
    fi
  elif [[ "${applied}" == 1 ]]; then
    tf_log "KEEP_STACK=1: ${run_id} left in place, state in ${work}"
  fi
  tf_log "total: $((SECONDS - t_start)) s"
  exit "${rc}"
}
trap cleanup EXIT

tf_log "init (${run_id}, emulator ${AWS_ENDPOINT_URL})"
tf init -input=false >"${work}/init.log" 2>&1 || { cat "${work}/init.log" >&2; tf_die "terraform init failed"; }

tf_log "apply"
t0=${SECONDS}
applied=1 # from here on, a partial apply must be destroyed too
if ! tf apply -auto-approve -input=false -var-file="${work}/local.tfvars" >"${work}/apply.log" 2>&1; then
  tail -n 60 "${work}/apply.log" >&2
  tf_die "terraform apply failed (full log: ${work}/apply.log)"
fi
apply_seconds=$((SECONDS - t0))
resources="$(tf state list | wc -l)"
tf_log "apply: ${apply_seconds} s, ${resources} resources"

tf output -json >"${work}/outputs.json"
tf show -json >"${work}/state.json"

tf_log "assertions"
"${python_bin}" "${RECO_TF_SRC}/tests/local_apply_assertions.py" \
  --outputs "${work}/outputs.json" --state "${work}/state.json" --name-prefix "${run_id}"

printf 'terraform apply to emulator: %s resources in %s s\n' "${resources}" "${apply_seconds}"
