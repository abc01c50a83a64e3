#!/usr/bin/env bash
# Plan, apply or destroy the reco stack (terraform/) or one part of it.
#
#   scripts/deploy.sh plan|apply|destroy [etl|vector-db|streaming|pipeline|all]
#
# Env:
#   ENV=aws (default)  real AWS with the caller's credentials; state in the S3 backend
#                      described by the file TF_BACKEND_CONFIG (see
#                      terraform/backend.hcl.example); TF_VAR_FILE optionally names a
#                      .tfvars file with the deployment's settings
#   ENV=local          the local emulator from .local/env (scripts/local-up.sh starts
#                      it when missing); state in .local/terraform/local/
#   RECO_TRANSFORM_ZIP, RECO_PIPELINE_ZIP, RECO_PUBLISHER_ZIP  Lambda zips
#                      (default dist/lambda/*.zip, built with `make build-lambda` when
#                      missing)
#   RECO_WEB_DIR       the storefront's page files (default web/)
#   RECO_NAME_PREFIX   name prefix for ENV=local (default reco)
#
# One part is applied with -target on the part and the modules it needs, so it is
# complete on its own (every part includes the notifications topic its alarms tell):
# etl = kms + network + source-db (when created) + etl (the functions of the first two
# steps, which nothing schedules until the pipeline part is applied) + db-roles (the
# migration of the database roles whose secrets the functions read: it needs the vector
# database too, and the pipeline zip);
# vector-db = kms + network + the artifacts bucket + vector-db; streaming = those +
# the data lake bucket and Glue database + streaming-inference (with the publisher) +
# storefront + db-roles (the transform reads reco_reader's secret); pipeline = all of those + the daily loop (state machine, its one daily
# schedule, the load-embeddings and score-all functions, alarms, dashboard).
# Destroying one part targets only that part's own modules (Terraform also destroys
# what depends on it); the source database, like the key, the network and the topic,
# goes only with `destroy all`. After apply and destroy, the outputs are written to
# .local/outputs-<ENV>.env for the reco CLI.
set -euo pipefail

# shellcheck source=scripts/lib/terraform.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/terraform.sh"
cd "${RECO_ROOT}"

usage() { echo "usage: ENV=local|aws $0 plan|apply|destroy [etl|vector-db|streaming|pipeline|all]" >&2; exit 2; }
action="${1:-}"
part="${2:-all}"
env_name="${ENV:-${RECO_ENV:-aws}}"
case "${action}" in plan | apply | destroy) ;; *) usage ;; esac
case "${env_name}" in local | aws) ;; *) tf_die "ENV must be local or aws, not '${env_name}'" ;; esac

# Modules a part needs to be complete (apply/plan) and the part's own modules (destroy).
case "${part}" in
  etl)
    needs=(module.kms module.notifications module.network module.source_db module.etl module.db_roles)
    own=(module.etl)
    zips=(pipeline)
    ;;
  vector-db)
    needs=(module.kms module.notifications module.network module.etl.module.artifacts module.vector_db)
    own=(module.vector_db)
    zips=()
    ;;
  streaming)
    needs=(module.kms module.notifications module.network module.etl.module.artifacts module.etl.module.data_lake
      module.etl.aws_glue_catalog_database.this module.vector_db module.streaming_inference module.storefront
      module.db_roles)
    own=(module.streaming_inference module.storefront)
    zips=(transform publisher pipeline)
    ;;
  pipeline)
    needs=(module.kms module.notifications module.network module.source_db module.etl module.vector_db
      module.streaming_inference module.storefront module.db_roles module.pipeline)
    own=(module.pipeline module.db_roles)
    zips=("${TF_LAMBDA_ZIPS[@]}")
    ;;
  all)
    needs=()
    own=()
    zips=("${TF_LAMBDA_ZIPS[@]}")
    ;;
  *) usage ;;
esac

tf_setup_cli
if [[ "${action}" == destroy ]]; then
  targets=("${own[@]}")
else
  targets=("${needs[@]}")
fi
target_args=()
for t in "${targets[@]}"; do target_args+=("-target=${t}"); done

# Zips are only needed (and built) for what is being applied or planned.
if [[ "${action}" != destroy && ${#zips[@]} -gt 0 ]]; then
  tf_resolve_zips "${zips[@]}"
else
  for name in "${TF_LAMBDA_ZIPS[@]}"; do
    var="RECO_${name^^}_ZIP"
    export "${var}=${!var:-${RECO_ROOT}/dist/lambda/${name}.zip}"
  done
fi
mapfile -t var_args < <(tf_zip_vars)
var_args+=("-var=storefront_web_dir=$(tf_web_dir)")

if [[ "${env_name}" == local ]]; then
  tf_load_local_env
  work="${RECO_LOCAL}/terraform/local"
  dir="${work}/stack"
  export TF_DATA_DIR="${work}/data"
  tf_stage_local_root "${dir}" "${work}/terraform.tfstate"
  # A throwaway stack on the emulator: nothing to protect, nothing to keep. The
  # source database locally is the stack's MariaDB, not an RDS instance (moto also
  # gives every RDS instance the same DbiResourceId, so the aws provider can manage
  # only one per emulator: the vector database).
  cat >"${work}/local.tfvars" <<VARS
aws_endpoint_url            = "${AWS_ENDPOINT_URL}"
aws_region                  = "${AWS_REGION:-us-east-1}"
name_prefix                 = "${RECO_NAME_PREFIX:-reco}"
create_source_db            = false
force_destroy_buckets       = true
# The emulator serves plain HTTP: a deny-non-TLS bucket policy would refuse every request.
buckets_deny_insecure_transport = false
secret_recovery_window_days = 0
kms_deletion_window_days    = 7
pg_multi_az                 = false
pg_deletion_protection      = false
pg_skip_final_snapshot      = true
pg_apply_immediately        = true
# moto cannot remove a DB instance role association (no RemoveRoleFromDBInstance).
pg_associate_s3_import_role = false
# moto cannot run Lambdas: the database roles' migration is \`reco db migrate\` here.
run_database_migration = false
# moto does not keep Performance Insights: every apply would "modify" the instance (80 s of polling).
pg_performance_insights_enabled = false
# moto has no CloudFront cache or response headers policies (the same TTLs become legacy settings).
storefront_cache_policies = false
VARS
  var_args+=("-var-file=${work}/local.tfvars")
  # VPC-attached functions use AWS's managed policy AWSLambdaVPCAccessExecutionRole,
  # which moto has only when started with MOTO_IAM_LOAD_MANAGED_POLICIES=true.
  if [[ "${action}" != destroy && -x "${RECO_LOCAL}/venv/bin/python" ]]; then
    "${RECO_LOCAL}/venv/bin/python" -c '
import os, sys, boto3
iam = boto3.client("iam", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
try:
    iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole")
except iam.exceptions.NoSuchEntityException:
    sys.exit(1)
' || tf_die "the emulator at ${AWS_ENDPOINT_URL} has no AWS managed IAM policies: moto must run with MOTO_IAM_LOAD_MANAGED_POLICIES=true"
    # The aws provider validates a state machine's definition through an API plain moto
    # lacks (it answers 500, which the provider retries for many minutes).
    if [[ "${part}" == pipeline || "${part}" == all ]]; then
      "${RECO_LOCAL}/venv/bin/python" -c '
import json, os, sys, boto3, botocore.config, botocore.exceptions
sfn = boto3.client("stepfunctions", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1",
                   config=botocore.config.Config(retries={"max_attempts": 1}))
try:
    sfn.validate_state_machine_definition(definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}))
except botocore.exceptions.ClientError:
    sys.exit(1)
' || tf_die "the emulator at ${AWS_ENDPOINT_URL} lacks Step Functions ValidateStateMachineDefinition: restart the local stack (make local-down && make local-up) so that moto runs through scripts/lib/moto_server.py, which adds it"
    fi
  fi
  tf_log "init (local emulator ${AWS_ENDPOINT_URL})"
  terraform -chdir="${dir}" init -input=false >"${work}/init.log" 2>&1 \
    || { cat "${work}/init.log" >&2; tf_die "terraform init failed"; }
else
  [[ -n "${TF_BACKEND_CONFIG:-}" ]] \
    || tf_die "ENV=aws needs TF_BACKEND_CONFIG: a file with the S3 backend settings (see terraform/backend.hcl.example)"
  [[ -f "${TF_BACKEND_CONFIG}" ]] || tf_die "TF_BACKEND_CONFIG=${TF_BACKEND_CONFIG} does not exist"
  dir="${RECO_TF_SRC}"
  export TF_DATA_DIR
  TF_DATA_DIR="$(tf_data_dir "${RECO_TF_SRC}" aws)"
  if [[ -n "${TF_VAR_FILE:-}" ]]; then
    [[ -f "${TF_VAR_FILE}" ]] || tf_die "TF_VAR_FILE=${TF_VAR_FILE} does not exist"
    var_args+=("-var-file=$(cd "$(dirname "${TF_VAR_FILE}")" && pwd)/$(basename "${TF_VAR_FILE}")")
  fi
  tf_log "init (S3 backend from ${TF_BACKEND_CONFIG})"
  terraform -chdir="${dir}" init -input=false -reconfigure -backend-config="$(cd "$(dirname "${TF_BACKEND_CONFIG}")" && pwd)/$(basename "${TF_BACKEND_CONFIG}")"
fi

tf_log "${action} ${part} (ENV=${env_name})"
t0=${SECONDS}
case "${action}" in
  plan)
    terraform -chdir="${dir}" plan -input=false -lock-timeout=5m "${var_args[@]}" "${target_args[@]}"
    ;;
  apply)
    auto=()
    [[ "${env_name}" == local || -n "${CI:-}" || "${AUTO_APPROVE:-0}" == 1 ]] && auto=(-auto-approve)
    terraform -chdir="${dir}" apply -input=false -lock-timeout=5m "${auto[@]}" "${var_args[@]}" "${target_args[@]}"
    ;;
  destroy)
    if [[ "${env_name}" == aws ]]; then
      tf_log "note: the vector database has deletion protection; set pg_deletion_protection = false (and apply) before destroying it"
    fi
    auto=()
    [[ "${env_name}" == local || "${AUTO_APPROVE:-0}" == 1 ]] && auto=(-auto-approve)
    terraform -chdir="${dir}" destroy -input=false -lock-timeout=5m "${auto[@]}" "${var_args[@]}" "${target_args[@]}"
    ;;
esac
tf_log "${action} ${part}: $((SECONDS - t0)) s"

if [[ "${action}" != plan ]]; then
  out="${RECO_LOCAL}/outputs-${env_name}.env"
  tf_write_outputs_env "${dir}" "${out}"
  tf_log "outputs written to ${out#"${RECO_ROOT}"/}"
fi
