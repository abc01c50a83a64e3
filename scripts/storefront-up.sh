#!/usr/bin/env bash
# Serves the storefront page locally on one origin, as CloudFront does on AWS: the page from
# the site bucket Terraform deployed to the emulator and /latest/* from the recommendations
# bucket (scripts/storefront-server.py, signed reads like origin access control).
# Idempotent: a server already serving the same buckets is left alone. Prints the URL as
# `storefront: <url>` on stdout. Stopped by scripts/local-down.sh.
#
# Env: RECO_STOREFRONT_PORT (default 18080).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

RECO_STOREFRONT_PORT="${RECO_STOREFRONT_PORT:-18080}"
[ -f "$LOCAL_DIR/env" ] || die "no $LOCAL_DIR/env: start the local stack first (make local-up)"
outputs="$LOCAL_DIR/outputs-local.env"
[ -f "$outputs" ] || die "no $outputs: deploy to the emulator first (ENV=local make deploy-streaming)"
set -a
# shellcheck disable=SC1090,SC1091
. "$LOCAL_DIR/env"
# shellcheck disable=SC1090
. "$outputs"
set +a
[ -n "${RECO_SITE_BUCKET:-}" ] || die "$outputs has no RECO_SITE_BUCKET: deploy the storefront (ENV=local make deploy-streaming)"
[ -n "${RECO_RECS_BUCKET:-}" ] || die "$outputs has no RECO_RECS_BUCKET: deploy the streaming part (ENV=local make deploy-streaming)"

wanted="$RECO_SITE_BUCKET $RECO_RECS_BUCKET $RECO_STOREFRONT_PORT"
if pid="$(service_pid storefront)" && [ "$(cat "$RUN_DIR/storefront.serves" 2>/dev/null)" = "$wanted" ] \
  && port_open "$RECO_STOREFRONT_PORT"; then
  echo "storefront: http://127.0.0.1:$RECO_STOREFRONT_PORT/"
  exit 0
fi
if pid="$(service_pid storefront)"; then
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
fi
port_open "$RECO_STOREFRONT_PORT" &&
  die "port $RECO_STOREFRONT_PORT is in use by another process; choose another with RECO_STOREFRONT_PORT=<port>"
nohup "$VENV_DIR/bin/python" "$RECO_ROOT/scripts/storefront-server.py" \
  --endpoint "$AWS_ENDPOINT_URL" --site-bucket "$RECO_SITE_BUCKET" --docs-bucket "$RECO_RECS_BUCKET" \
  --host 127.0.0.1 --port "$RECO_STOREFRONT_PORT" >"$LOG_DIR/storefront.log" 2>&1 </dev/null &
echo $! >"$RUN_DIR/storefront.pid"
echo "$wanted" >"$RUN_DIR/storefront.serves"
wait_for_port "$RECO_STOREFRONT_PORT" 20 storefront
echo "storefront: http://127.0.0.1:$RECO_STOREFRONT_PORT/"
