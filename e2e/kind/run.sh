#!/usr/bin/env bash
# make e2e-kind: runs the e2e suite (../, unchanged, the same as make e2e) against a kind
# cluster, then deletes the cluster and checks that nothing of it is left.
#
#   e2e/kind/run.sh [go test flags]     # KEEP=1 keeps the cluster afterwards
#
# The engine is Docker when a Docker engine answers, else podman (kind's podman provider,
# KIND_EXPERIMENTAL_PROVIDER=podman); set KIND_EXPERIMENTAL_PROVIDER to choose. The node
# image is kind's published one with Docker, and one built here by tools/kindnode.sh with
# podman (no registry needed); KIND_NODE_IMAGE=local builds it for Docker too, any other
# value names the image to use. With the image built here, every other image is built here
# too: nothing is pulled.
#
# Environment: KIND_CLUSTER_NAME (pmp-e2e-kind; also the name of its own network),
# KIND_API_PORT (36443, on 127.0.0.1), KEEP=1.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export GOTOOLCHAIN # the project's Go release, as make runs it
GOTOOLCHAIN=$("$root/tools/toolchain.sh")
here=$root/e2e/kind
cd "$root"
name=${KIND_CLUSTER_NAME:-pmp-e2e-kind}
api_port=${KIND_API_PORT:-36443}
t0=$(date +%s)
stamp() { echo "$(date -u +%H:%M:%S) [e2e-kind] $* ($(( $(date +%s) - t0 ))s since start)" >&2; }

provider=${KIND_EXPERIMENTAL_PROVIDER:-}
if [ -z "$provider" ]; then
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then provider=docker; else provider=podman; fi
fi
export KIND_EXPERIMENTAL_PROVIDER=$provider
# The cluster gets a network of its own, which its deletion removes.
export KIND_EXPERIMENTAL_DOCKER_NETWORK=$name KIND_EXPERIMENTAL_PODMAN_NETWORK=$name
[ "$provider" != podman ] || "$here/podman.sh"

node_image=${KIND_NODE_IMAGE:-}
[ -n "$node_image" ] || [ "$provider" != podman ] || node_image=local
local_images=0
if [ "$node_image" = local ]; then
  stamp "building the node image (tools/kindnode.sh)"
  node_image=$(KIND_NODE_ENGINE=$provider "$root/tools/kindnode.sh")
  local_images=1
fi

work=$(mktemp -d /tmp/pmp-e2e-kind.XXXXXX)
STATE=$work # for free_port
# shellcheck source=../cluster/lib.sh
. "$root/e2e/cluster/lib.sh"
mkdir -p "$work/bin"
ln -s "$(tools/build.sh kind)" "$work/bin/kind"
ln -s "$(tools/build.sh helm)" "$work/bin/helm"
if [ "$local_images" = 1 ]; then
  ln -s "$(tools/build.sh kindnode)/kubectl" "$work/bin/kubectl"
elif ! command -v kubectl >/dev/null; then
  echo "e2e/kind/run.sh: needs kubectl on PATH" >&2
  exit 1
fi
export PATH=$work/bin:$PATH

pids=()
leftovers() {
  local left=
  left+=$("$provider" ps -a --filter "label=io.x-k8s.kind.cluster=$name" --format '{{.Names}}' 2>/dev/null)
  "$provider" network inspect "$name" >/dev/null 2>&1 && left+=" network:$name"
  # kind's podman provider labels each node's /var volume with the node's name.
  [ "$provider" != podman ] || left+=$(podman volume ls --filter "label=$name-control-plane" -q 2>/dev/null)
  left+=$(findmnt -rn -o TARGET | grep -F "$name" || true)
  echo "$left"
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ "${KEEP:-0}" = 1 ]; then
    stamp "kept: KUBECONFIG=$work/kubeconfig; delete with: $(command -v kind) delete cluster --name $name && $provider network rm $name"
    exit "$rc"
  fi
  stamp "deleting the cluster"
  kind delete cluster --name "$name" >/dev/null 2>&1 || rc=${rc/#0/1}
  "$provider" network rm "$name" >/dev/null 2>&1 || true
  local left
  left=$(leftovers)
  if [ -n "${left// /}" ]; then
    echo "e2e/kind/run.sh: left behind after deletion: $left" >&2
    rc=${rc/#0/1}
  fi
  rm -rf "$work"
  stamp "done, exit $rc"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ss -Htln "( sport = :$api_port )" | grep -q .; then
  echo "e2e/kind/run.sh: 127.0.0.1:$api_port is taken; set KIND_API_PORT" >&2
  exit 1
fi
{ cat "$here/cluster.yaml"; printf 'networking:\n  apiServerAddress: 127.0.0.1\n  apiServerPort: %s\n' "$api_port"; } >"$work/cluster.yaml"
stamp "creating the cluster $name ($provider, ${node_image:-the default node image of kind})"
kind create cluster --name "$name" --config "$work/cluster.yaml" --kubeconfig "$work/kubeconfig" \
  ${node_image:+--image "$node_image"} --wait 3m
export KUBECONFIG=$work/kubeconfig
stamp "cluster up"

# Images, built here and loaded into the node: the provider's from the Dockerfile (make image,
# the host's architecture); the emulator and the front in one image, with the C libraries kumo
# (built with cgo, tools/build.sh kumo) links; the busybox test image. With the node image
# built here, the driver chart's three images too: the driver (tools/build.sh cluster) on the
# Debian base layer of the node image's images (tools/kindnode.sh base: it runs mount) and,
# for the two sidecars the module proxy does not serve, the repository's registrar
# (e2e/cluster/registrar) and CSI liveness probe (e2e/kind/csiprobe), which take their
# arguments.
arch=$(go env GOARCH)
tag=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
PLATFORMS=linux/$arch VERSION=$tag make -s image
kind load image-archive --name "$name" "_output/image/pmp-secrets-provider-$tag-linux-$arch.tar"
mkdir -p "$work/img"
CGO_ENABLED=0 go build -trimpath -o "$work/img/" ./dev/awsfront ./e2e/cluster/mkimage ./e2e/cluster/registrar ./e2e/kind/csiprobe
path=PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
kumo=$(tools/build.sh kumo)
libs=()
for lib in $(ldd "$kumo" | grep -o '/[^ ]*'); do libs+=(-file "$lib=$lib"); done
"$work/img/mkimage" -o "$work/tools.tar" -name pmp-e2e.local/tools:e2e "${libs[@]}" \
  -file "/awsfront=$work/img/awsfront" -file "/kumo=$kumo" -env "$path" -cmd /awsfront
e2e/cluster/images.sh "$work"
images=("$work/tools.tar" "$work/busybox.tar")
driver_values=()
if [ "$local_images" = 1 ]; then
  base=$("$root/tools/kindnode.sh" base)
  "$work/img/mkimage" -o "$work/driver.tar" -name pmp-e2e.local/secrets-store-csi-driver:v1.6.1 -layer "$base" \
    -file "/secrets-store-csi=$(tools/build.sh cluster)/secrets-store-csi-driver" -env "$path" -cmd /secrets-store-csi
  "$work/img/mkimage" -o "$work/registrar.tar" -name pmp-e2e.local/csi-node-driver-registrar:e2e \
    -file "/registrar=$work/img/registrar" -cmd /registrar
  "$work/img/mkimage" -o "$work/csiprobe.tar" -name pmp-e2e.local/csi-livenessprobe:e2e \
    -file "/csiprobe=$work/img/csiprobe" -cmd /csiprobe
  images+=("$work/driver.tar" "$work/registrar.tar" "$work/csiprobe.tar")
  driver_values=(--set linux.image.repository=pmp-e2e.local/secrets-store-csi-driver --set linux.image.tag=v1.6.1
    --set linux.image.pullPolicy=Never
    --set linux.registrarImage.repository=pmp-e2e.local/csi-node-driver-registrar --set linux.registrarImage.tag=e2e
    --set linux.registrarImage.pullPolicy=Never
    --set linux.livenessProbeImage.repository=pmp-e2e.local/csi-livenessprobe --set linux.livenessProbeImage.tag=e2e
    --set linux.livenessProbeImage.pullPolicy=Never
    --set linux.crds.enabled=false)
fi
for i in "${images[@]}"; do kind load image-archive --name "$name" "$i"; done
stamp "images loaded"

# The real driver, from the chart inside its Go module (rotation every 10 s, sync as Secret,
# the IRSA token request).
chart=$(cd tools/cluster && go mod download sigs.k8s.io/secrets-store-csi-driver && go list -m -f '{{.Dir}}' sigs.k8s.io/secrets-store-csi-driver)/charts/secrets-store-csi-driver
helm install csi-secrets-store "$chart" --namespace kube-system --wait --timeout 3m \
  --set syncSecret.enabled=true --set enableSecretRotation=true --set rotationPollInterval=10s \
  --set 'tokenRequests[0].audience=sts.amazonaws.com' "${driver_values[@]}"
kubectl apply -f "$here/in-cluster.yaml"
kubectl -n pmp-e2e-aws rollout status deploy/kumo deploy/kumo-failover deploy/awsfront --timeout 3m
stamp "driver and AWS emulator up"

# This provider: the repository's chart, with its defaults but for the image, the AWS
# endpoints (the front) and the test's short TTLs. kind has a pod network and kube-proxy, so
# no hostNetwork here.
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
mkdir -p "$work/chart"
helm template pmp-dry-run "$provider_chart" --namespace kube-system >"$work/chart/defaults.yaml"
stamp "provider installed"

# The suite reaches both kumos, the front and its control API through port-forwards (on
# 127.0.0.1). On Linux it reads the provider's and the driver's pod logs and the provider's
# socket inside the node through /proc/<node's pid>/root; elsewhere it follows the logs.
kumo_port=$(free_port) front_port=$(free_port) control_port=$(free_port) failover_port=$(free_port)
kubectl -n pmp-e2e-aws port-forward svc/kumo "$kumo_port:4566" >/dev/null & pids+=($!)
kubectl -n pmp-e2e-aws port-forward svc/awsfront "$front_port:4566" "$control_port:4567" >/dev/null & pids+=($!)
kubectl -n pmp-e2e-aws port-forward svc/kumo-failover "$failover_port:4566" >/dev/null & pids+=($!)
node_root=/proc/$("$provider" inspect --format '{{.State.Pid}}' "$name-control-plane")/root
if [ -d "$node_root/var/log/pods" ]; then
  export PMP_E2E_PROVIDER_LOG="$node_root/var/log/pods/kube-system_pmp-secrets-provider-*/provider/*.log"
  export PMP_E2E_DRIVER_LOG="$node_root/var/log/pods/kube-system_csi-secrets-store-*/secrets-store/*.log"
  export PMP_E2E_PROVIDER_SOCKET=$node_root/run/secrets-store-csi-providers/pmp.sock
else
  kubectl -n kube-system logs -f --prefix -l app.kubernetes.io/instance=pmp-secrets-provider --max-log-requests 10 >"$work/provider.log" 2>&1 & pids+=($!)
  kubectl -n kube-system logs -f --prefix -l app=secrets-store-csi-driver -c secrets-store --max-log-requests 10 >"$work/driver.log" 2>&1 & pids+=($!)
  export PMP_E2E_PROVIDER_LOG=$work/provider.log PMP_E2E_DRIVER_LOG=$work/driver.log
fi
for p in "$kumo_port" "$front_port" "$control_port" "$failover_port"; do
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break; sleep 0.2; done
done

export PMP_E2E_KUBECONFIG=$KUBECONFIG
export PMP_E2E_AWS_REGION=us-east-1
export PMP_E2E_AWS_ENDPOINT=http://127.0.0.1:$kumo_port
export PMP_E2E_FAILOVER_REGION=us-west-2
export PMP_E2E_AWS_FAILOVER_ENDPOINT=http://127.0.0.1:$failover_port
export PMP_E2E_AWS_FRONT_URL=http://127.0.0.1:$front_port
export PMP_E2E_AWS_FRONT_CONTROL=http://127.0.0.1:$control_port
export PMP_E2E_IMAGE=pmp-e2e.local/busybox:e2e
export PMP_E2E_PROVIDER_DAEMONSET=kube-system/pmp-secrets-provider
export PMP_E2E_CHART_MANIFESTS="$work/chart/*.yaml"
export PMP_E2E_ROTATION_POLL=10s
# A rolling update through the chart: a new pod annotation changes the template.
export PMP_E2E_PROVIDER_RESTART="helm upgrade pmp-secrets-provider $provider_chart --namespace kube-system --reuse-values --set-string podAnnotations.pmp-e2e-rolled-at=\$(date +%s%N) --wait --timeout 2m && $ready"
export PMP_E2E_PROVIDER_UNINSTALL="helm uninstall pmp-secrets-provider --namespace kube-system --wait --timeout 2m && kubectl -n kube-system wait pod -l app.kubernetes.io/instance=pmp-secrets-provider --for delete --timeout 2m"
export PMP_E2E_PROVIDER_INSTALL="$install && $ready"
stamp "running the suite"
go test -tags e2e -count=1 -v -timeout 30m ./e2e/... "$@"
stamp "suite passed"
