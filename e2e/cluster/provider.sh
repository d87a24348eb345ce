#!/usr/bin/env bash
# Starts, stops or restarts this provider as a host process of the local e2e
# cluster made by up.sh. The e2e suite runs "restart" through
# PMP_E2E_PROVIDER_RESTART to test mounts across a provider restart.
#
#   e2e/cluster/provider.sh start|stop|restart STATE_DIR
set -euo pipefail
cmd=${1:?usage: provider.sh start|stop|restart STATE_DIR}
STATE=${2:?usage: provider.sh start|stop|restart STATE_DIR}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=e2e/cluster/lib.sh
. "$here/lib.sh"
# shellcheck disable=SC1091
. "$STATE/env.sh"
sock=$STATE/providers/pmp.sock

start_provider() {
  start provider env AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
    AWS_ENDPOINT_URL="$PMP_E2E_AWS_FRONT_URL" \
    AWS_ENDPOINT_URL_STS="$PMP_E2E_AWS_FRONT_URL" \
    AWS_ENDPOINT_URL_SECRETS_MANAGER="$PMP_E2E_AWS_FRONT_URL" \
    "$PMP_PROVIDER_BIN" --provider-dir "$STATE/providers" --provider-name pmp \
    --kubeconfig "$PMP_PROVIDER_KUBECONFIG" --token-audience sts.amazonaws.com \
    --node-name "$PMP_E2E_NODE" --retry-budget "${PMP_E2E_RETRY_BUDGET:-8s}" \
    --secret-ttl "${PMP_E2E_SECRET_TTL:-5s}" -v=4
  WAIT_PROC=provider wait_for "provider socket $sock" 30 test -S "$sock"
}

stop_provider() {
  local pid
  pid=$(pid_of provider)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  log "provider $pid ignored SIGTERM for 10s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

case "$cmd" in
  start) start_provider ;;
  stop) stop_provider ;;
  restart)
    stop_provider
    # The gap a rolling update leaves between the old and the new provider.
    sleep "${PMP_E2E_RESTART_GAP:-3}"
    start_provider ;;
  *) die "unknown command $cmd" ;;
esac
log "provider $cmd done"
