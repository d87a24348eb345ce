#!/usr/bin/env bash
# Installs, uninstalls or rolls this provider on the local e2e cluster made
# by up.sh: the repository's chart (charts/pmp-secrets-provider), installed
# with helm as the DaemonSet kube-system/pmp-secrets-provider with the e2e
# values up.sh wrote (STATE_DIR/provider-values.yaml). The e2e suite runs
# these through PMP_E2E_PROVIDER_RESTART, _UNINSTALL and _INSTALL.
#
#   e2e/cluster/provider.sh install STATE_DIR    # helm install; the pod Ready, its socket there
#   e2e/cluster/provider.sh restart STATE_DIR    # a rolling update of the DaemonSet (helm upgrade)
#   e2e/cluster/provider.sh uninstall STATE_DIR  # helm uninstall; the DaemonSet's pods gone
set -euo pipefail
cmd=${1:?usage: provider.sh install|restart|uninstall STATE_DIR}
STATE=${2:?usage: provider.sh install|restart|uninstall STATE_DIR}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=e2e/cluster/lib.sh
. "$here/lib.sh"
# shellcheck disable=SC1091
. "$STATE/env.sh"

release=pmp-secrets-provider
chart=$root/charts/pmp-secrets-provider
sock=$STATE/providers/pmp.sock
helm() { "$PMP_HELM_BIN" --kubeconfig "$PMP_E2E_KUBECONFIG" --namespace kube-system "$@"; }
kapply() { "$STATE/bin/kapply" --kubeconfig "$PMP_E2E_KUBECONFIG" "$@"; }

# helm --wait can return before a single-node DaemonSet's pod is Ready (with
# maxUnavailable: 1 it counts the node's one pod as allowed to be down): wait
# for the rollout, the pod Ready and the socket ourselves.
wait_serving() {
  kapply --timeout 120s wait-daemonset kube-system "$release"
  wait_for "provider socket $sock" 30 test -S "$sock"
}

case "$cmd" in
  install)
    helm install "$release" "$chart" --values "$STATE/provider-values.yaml" --wait --timeout 2m >/dev/null
    wait_serving ;;
  restart)
    # A change of the pod template, as any upgrade makes: the DaemonSet
    # replaces its pod (old one stopped first, maxUnavailable: 1).
    helm upgrade "$release" "$chart" --reuse-values \
      --set-string "podAnnotations.pmp-e2e-rolled-at=$(date +%s%N)" --wait --timeout 2m >/dev/null
    wait_serving ;;
  uninstall)
    helm uninstall "$release" --wait --timeout 2m >/dev/null
    # The DaemonSet goes at once; its pods go when the garbage collector
    # deletes them and the kubelet has stopped them.
    kapply --timeout 120s wait-no-pods kube-system "app.kubernetes.io/instance=$release" ;;
  *) die "unknown command $cmd" ;;
esac
log "provider $cmd done"
