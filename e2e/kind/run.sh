#!/usr/bin/env bash
# Runs the e2e suite (../) against a kind cluster, for people with Docker.
# It cannot run on the machine this project is developed on (no Docker
# engine); e2e/run.sh is the local equivalent. Needs: docker, kind, kubectl,
# helm, go. The suite itself is the same; only its environment differs.
#
#   e2e/kind/run.sh [go test flags]     # KEEP=1 keeps the cluster afterwards
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export GOTOOLCHAIN # the project's Go release, as make runs it
GOTOOLCHAIN=$("$root/tools/toolchain.sh")
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

# Images, built here and loaded into the node: nothing is pulled. The
# provider's from the Dockerfile (make image, the host's architecture); the
# emulator and the front in one FROM scratch image.
arch=$(go env GOARCH)
tag=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
PLATFORMS=linux/$arch VERSION=$tag make -s image
kind load image-archive --name pmp-e2e "_output/image/pmp-secrets-provider-$tag-linux-$arch.tar"
mkdir -p "$work/img"
CGO_ENABLED=0 go build -trimpath -o "$work/img/" ./dev/awsfront ./e2e/cluster/mkimage
(cd tools/kumo && CGO_ENABLED=0 go build -trimpath -o "$work/img/kumo" github.com/sivchari/kumo/cmd/kumo)
"$work/img/mkimage" -o "$work/tools.tar" -name pmp-e2e.local/tools:e2e \
  -file "/awsfront=$work/img/awsfront" -file "/kumo=$work/img/kumo" -cmd /awsfront
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
kubectl -n pmp-e2e-aws rollout status deploy/kumo deploy/kumo-failover deploy/awsfront --timeout 120s

# This provider: the repository's chart, with its defaults but for the
# image, the AWS endpoints (the front) and the test's short TTLs. kind has a
# pod network and kube-proxy, so no hostNetwork here.
cat >"$work/provider-values.yaml" <<VALUES
image: {repository: localhost/pmp-secrets-provider, tag: "$tag", pullPolicy: Never}
region: us-east-1
retryBudget: 8s
secretTTL: 5s
logVerbosity: 4
env:
  - {name: AWS_EC2_METADATA_DISABLED, value: "true"}
  - {name: AWS_ENDPOINT_URL, value: "http://awsfront.pmp-e2e-aws.svc:4566"}
VALUES
provider_chart=$root/charts/pmp-secrets-provider
install="helm install pmp-secrets-provider $provider_chart --namespace kube-system --values $work/provider-values.yaml --wait --timeout 2m"
# helm --wait can return before a one-node DaemonSet's pod is Ready.
ready="kubectl -n kube-system rollout status ds/pmp-secrets-provider --timeout 2m && kubectl -n kube-system wait pod -l app.kubernetes.io/instance=pmp-secrets-provider --for condition=Ready --timeout 2m"
sh -c "$install && $ready"
helm template pmp-dry-run "$provider_chart" --namespace kube-system >"$work/chart-defaults.yaml"

# The suite reaches both kumos and the front's control API through port-forwards,
# and reads the provider's and the driver's logs from files.
kubectl -n pmp-e2e-aws port-forward svc/kumo 34566:4566 >/dev/null & pids+=($!)
kubectl -n pmp-e2e-aws port-forward svc/awsfront 34567:4567 >/dev/null & pids+=($!)
kubectl -n pmp-e2e-aws port-forward svc/kumo-failover 34568:4566 >/dev/null & pids+=($!)
kubectl -n kube-system logs -f --prefix -l app.kubernetes.io/instance=pmp-secrets-provider --max-log-requests 10 >"$work/provider.log" 2>&1 & pids+=($!)
kubectl -n kube-system logs -f --prefix -l app=secrets-store-csi-driver -c secrets-store --max-log-requests 10 >"$work/driver.log" 2>&1 & pids+=($!)
sleep 2

export PMP_E2E_KUBECONFIG=$KUBECONFIG
export PMP_E2E_AWS_ENDPOINT=http://127.0.0.1:34566
export PMP_E2E_FAILOVER_REGION=us-west-2
export PMP_E2E_AWS_FAILOVER_ENDPOINT=http://127.0.0.1:34568
export PMP_E2E_AWS_FRONT_CONTROL=http://127.0.0.1:34567
export PMP_E2E_PROVIDER_LOG=$work/provider.log
export PMP_E2E_DRIVER_LOG=$work/driver.log
export PMP_E2E_IMAGE=pmp-e2e.local/busybox:e2e
export PMP_E2E_PROVIDER_DAEMONSET=kube-system/pmp-secrets-provider
export PMP_E2E_CHART_MANIFESTS=$work/chart-defaults.yaml
# A rolling update through the chart: a new pod annotation changes the template.
export PMP_E2E_PROVIDER_RESTART="helm upgrade pmp-secrets-provider $provider_chart --namespace kube-system --reuse-values --set-string podAnnotations.pmp-e2e-rolled-at=\$(date +%s%N) --wait --timeout 2m && $ready"
export PMP_E2E_PROVIDER_UNINSTALL="helm uninstall pmp-secrets-provider --namespace kube-system --wait --timeout 2m && kubectl -n kube-system wait pod -l app.kubernetes.io/instance=pmp-secrets-provider --for delete --timeout 2m"
export PMP_E2E_PROVIDER_INSTALL="$install && $ready"
go test -tags e2e -count=1 -v -timeout 30m ./e2e/... "$@"
