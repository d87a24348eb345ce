#!/usr/bin/env bash
# Runs the e2e suite (../) against a kind cluster, for people with Docker.
# It cannot run on the machine this project is developed on (no Docker
# engine); e2e/run.sh is the local equivalent. Needs: docker, kind, kubectl,
# helm, go. The suite itself is the same; only its environment differs.
#
#   e2e/kind/run.sh [go test flags]     # KEEP=1 keeps the cluster afterwards
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/e2e/kind
cd "$root"
work=$(mktemp -d)
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ "${KEEP:-0}" = 1 ] || kind delete cluster --name pmp-e2e >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT INT TERM

kind create cluster --config "$here/cluster.yaml" --kubeconfig "$work/kubeconfig" --wait 120s
export KUBECONFIG=$work/kubeconfig

# Images, built here and loaded into the node: nothing is pulled.
mkdir -p "$work/img"
CGO_ENABLED=0 go build -trimpath -o "$work/img/" . ./dev/awsfront ./e2e/cluster/mkimage
(cd tools/kumo && CGO_ENABLED=0 go build -trimpath -o "$work/img/kumo" github.com/sivchari/kumo/cmd/kumo)
"$work/img/mkimage" -o "$work/tools.tar" -name pmp-e2e.local/tools:e2e \
  -file "/pmp-secrets-provider=$work/img/pmp-secrets-provider" -file "/awsfront=$work/img/awsfront" \
  -file "/kumo=$work/img/kumo" -cmd /pmp-secrets-provider
e2e/cluster/images.sh "$work"
kind load image-archive --name pmp-e2e "$work/tools.tar"
kind load image-archive --name pmp-e2e "$work/busybox.tar"

# The real driver, from the chart inside its Go module (rotation every 10 s,
# sync as Secret, the IRSA token request).
chart=$(cd tools/cluster && go list -m -f '{{.Dir}}' sigs.k8s.io/secrets-store-csi-driver)/charts/secrets-store-csi-driver
helm install csi-secrets-store "$chart" --namespace kube-system --wait \
  --set syncSecret.enabled=true --set enableSecretRotation=true --set rotationPollInterval=10s \
  --set 'tokenRequests[0].audience=sts.amazonaws.com'
kubectl apply -f "$here/in-cluster.yaml"
kubectl -n pmp-e2e-aws rollout status deploy/kumo deploy/awsfront --timeout 120s
kubectl -n kube-system rollout status ds/pmp-secrets-provider --timeout 120s

# The suite reaches kumo and the front's control API through port-forwards,
# and reads the provider's and the driver's logs from files.
kubectl -n pmp-e2e-aws port-forward svc/kumo 34566:4566 >/dev/null & pids+=($!)
kubectl -n pmp-e2e-aws port-forward svc/awsfront 34567:4567 >/dev/null & pids+=($!)
kubectl -n kube-system logs -f --prefix -l app=pmp-secrets-provider --max-log-requests 10 >"$work/provider.log" 2>&1 & pids+=($!)
kubectl -n kube-system logs -f --prefix -l app=secrets-store-csi-driver -c secrets-store --max-log-requests 10 >"$work/driver.log" 2>&1 & pids+=($!)
sleep 2

export PMP_E2E_KUBECONFIG=$KUBECONFIG
export PMP_E2E_AWS_ENDPOINT=http://127.0.0.1:34566
export PMP_E2E_AWS_FRONT_CONTROL=http://127.0.0.1:34567
export PMP_E2E_PROVIDER_LOG=$work/provider.log
export PMP_E2E_DRIVER_LOG=$work/driver.log
export PMP_E2E_IMAGE=pmp-e2e.local/busybox:e2e
export PMP_E2E_PROVIDER_RESTART="kubectl -n kube-system rollout restart ds/pmp-secrets-provider && kubectl -n kube-system rollout status ds/pmp-secrets-provider --timeout 2m"
go test -tags e2e -count=1 -v -timeout 30m ./e2e/... "$@"
