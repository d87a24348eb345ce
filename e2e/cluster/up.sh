#!/usr/bin/env bash
# Brings up a single-node Kubernetes made of host processes, for the e2e
# suite: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
# kubelet v1.36.3, containerd + runc, the
# Secrets Store CSI Driver v1.6.1 with its registrar, two kumo AWS emulators
# (the primary region and a failover region) and the fault-injecting AWS
# front that routes between them, all host processes; then this provider
# as a pod of its DaemonSet, from the image `make image` builds, installed
# with the repository's chart (provider.sh). Everything lives under
# STATE_DIR; every listener binds 127.0.0.1.
#
#   e2e/cluster/up.sh STATE_DIR     # then: source STATE_DIR/env.sh
#   e2e/cluster/down.sh STATE_DIR   # always, even after a failure
#
# Needs root. Kubernetes, the driver and helm come from tools/build.sh (built
# once, cached outside the repo); the provider's image (make image, this
# machine's architecture only), the AWS front (dev/awsfront), the registrar
# and kapply are built from this checkout (PMP_AWSFRONT_BIN names a prebuilt
# front). What the cluster needs and why is in ../README.md ("The local
# cluster").
set -euo pipefail

STATE=${1:?usage: e2e/cluster/up.sh STATE_DIR}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export GOTOOLCHAIN # the project's Go release, as make runs it
GOTOOLCHAIN=$("$root/tools/toolchain.sh")
# shellcheck source=e2e/cluster/lib.sh
. "$here/lib.sh"

[ "$(id -u)" = 0 ] || die "must run as root (kubelet, containerd and the CSI driver mount)"
NODE=localhost
# The provider's region, and a second one for failoverRegion: one kumo each,
# whose ARNs name it; the front sends a call to the kumo of its signing region.
REGION=us-east-1
FAILOVER_REGION=us-west-2
ROTATION_POLL=${PMP_E2E_ROTATION_POLL:-10s}
t0=$(date +%s.%N)
elapsed() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1fs", b - a }'; }

mkdir -p "$STATE"/{logs,pki,bin,etcd,containerd,run-containerd,cni/net.d,cni/ipam,kubelet,pod-logs,providers,images}
: >"$STATE/pids"
: >"$STATE/mounts"

"$here/deps.sh"

# Refuse to shadow a containerd that is not ours, or another e2e cluster's
# (containerd keeps its shims under /run/containerd whatever its config says).
# A cluster whose recorded processes are all gone (its run was killed, or
# the machine restarted) is a leftover: tear it down and go on. A live one
# is another run's: refuse, naming its state directory.
if mountpoint -q /run/containerd; then
  other=$(findmnt -n -o SOURCE /run/containerd | sed -n 's/.*\[\(.*\)\/run-containerd\]$/\1/p')
  [ -n "$other" ] && [ -f "$other/pids" ] ||
    die "/run/containerd is a mount point not made by e2e/cluster/up.sh; unmount it first"
  alive=0
  while read -r _ pid; do
    if running "$pid"; then alive=1; fi
  done <"$other/pids"
  [ "$alive" = 0 ] ||
    die "another e2e cluster runs (state $other); wait for it or stop it: e2e/cluster/down.sh $other"
  log "tearing down a leftover cluster whose processes are gone (state $other)"
  "$here/down.sh" "$other" || die "could not tear down the leftover cluster in $other"
fi
if [ -n "$(ls -A /run/containerd 2>/dev/null)" ]; then
  die "/run/containerd is in use by another containerd; stop it first"
fi
# From here on the host-wide leftovers (bridge, iptables chains, cgroups,
# /run/containerd, /var/lib/kubelet) are ours for down.sh to clean.
touch "$STATE/owns-host"

# Pre-existing KUBE-* iptables chains are not ours: down.sh leaves them alone.
for ipt in iptables ip6tables; do
  for t in filter nat mangle; do
    "$ipt-save" -t "$t" 2>/dev/null | awk -v i="$ipt" -v t="$t" '/^:KUBE-/ { print i, t, substr($1, 2) }'
  done
done >"$STATE/iptables-before" || true
# What exists before we start is not ours to remove in down.sh.
[ -e /var/lib/kubelet ] && touch "$STATE/var-lib-kubelet-existed"
[ -e /var/lib/cni ] || touch "$STATE/var-lib-cni-absent"
[ -e /var/log/containers ] || touch "$STATE/var-log-containers-absent"
[ -e /run/containerd ] || { mkdir -p /run/containerd; touch "$STATE/run-containerd-created"; }
ls -d /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods >/dev/null 2>&1 || touch "$STATE/kubepods-absent"

log "binaries"
CLUSTER_BIN=$("$root/tools/build.sh" cluster)
KUMO_BIN=$("$root/tools/build.sh" kumo)
HELM_BIN=$("$root/tools/build.sh" helm)
(cd "$root" && go build -trimpath -o "$STATE/bin/" ./e2e/cluster/registrar ./e2e/cluster/kapply)
AWSFRONT_BIN=${PMP_AWSFRONT_BIN:-}
if [ -z "$AWSFRONT_BIN" ]; then
  (cd "$root" && go build -trimpath -o "$STATE/bin/" ./dev/awsfront)
  AWSFRONT_BIN=$STATE/bin/awsfront
fi
DRIVER_MOD=$(cd "$root/tools/cluster" && go list -m -f '{{.Dir}}' sigs.k8s.io/secrets-store-csi-driver)
log "binaries ready ($(elapsed))"

# The provider's image, from the Dockerfile, as a user builds it: make image
# (buildah, nothing pulled), for this machine's architecture only.
ARCH=$(go env GOARCH)
IMAGE_TAG=$(git -C "$root" describe --tags --always --dirty 2>/dev/null || echo dev)
IMAGE_ARCHIVE=$root/_output/image/pmp-secrets-provider-$IMAGE_TAG-linux-$ARCH.tar
PLATFORMS=linux/$ARCH VERSION=$IMAGE_TAG make -s -C "$root" image >"$STATE/logs/image.log" 2>&1 ||
  { tail -n 20 "$STATE/logs/image.log" >&2; die "make image failed (log: $STATE/logs/image.log)"; }
[ -s "$IMAGE_ARCHIVE" ] || die "make image wrote no $IMAGE_ARCHIVE"
log "provider image localhost/pmp-secrets-provider:$IMAGE_TAG built ($(elapsed))"

ETCD_PORT=$(free_port); ETCD_PEER_PORT=$(free_port); API_PORT=$(free_port)
KUBELET_PORT=$(free_port); KUBELET_HEALTHZ_PORT=$(free_port); STREAM_PORT=$(free_port)
DRIVER_METRICS_PORT=$(free_port); KUMO_PORT=$(free_port); KUMO_FAILOVER_PORT=$(free_port)
KCM_PORT=$(free_port); SCHEDULER_PORT=$(free_port); PROVIDER_METRICS_PORT=$(free_port)
NODE_IP=$(ip -4 -o addr show scope global | awk '{ split($4, a, "/"); print a[1]; exit }')
[ -n "$NODE_IP" ] || die "no global IPv4 address for the kubelet's --node-ip (validation only)"

# --- PKI -------------------------------------------------------------------
pki=$STATE/pki
cert() { # name subject kind(server|client)
  local ext
  if [ "$3" = server ]; then
    ext="subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature,keyEncipherment"
  else
    ext="extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature,keyEncipherment"
  fi
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/$1.key" 2>/dev/null
  openssl req -new -key "$pki/$1.key" -subj "$2" -out "$pki/$1.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 2 -out "$pki/$1.crt" -extfile <(printf '%s\n' "$ext") 2>/dev/null
}
openssl ecparam -name prime256v1 -genkey -noout -out "$pki/ca.key"
openssl req -x509 -new -key "$pki/ca.key" -subj /CN=pmp-e2e-ca -days 2 -out "$pki/ca.crt" 2>/dev/null
cert apiserver /CN=kube-apiserver server
cert kubelet-serving "/CN=$NODE" server
cert admin "/O=system:masters/CN=pmp-e2e-admin" client
cert kubelet "/O=system:nodes/CN=system:node:$NODE" client
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" client
# The controller-manager acts for every controller with one identity
# (--use-service-account-credentials=false): its own bootstrap role does not
# cover the controllers' work, system:masters does. The scheduler's bootstrap
# roles are bound to its user name.
cert controller-manager "/O=system:masters/CN=pmp-e2e-controller-manager" client
cert scheduler /CN=system:kube-scheduler client
openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
kubeconfig() { # file user
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: pmp-e2e
  cluster: {server: "https://127.0.0.1:$API_PORT", certificate-authority: "$pki/ca.crt"}
users:
- name: $2
  user: {client-certificate: "$pki/$2.crt", client-key: "$pki/$2.key"}
contexts:
- name: pmp-e2e
  context: {cluster: pmp-e2e, user: $2}
current-context: pmp-e2e
EOF
}
KUBECONFIG_ADMIN=$STATE/admin.kubeconfig
kubeconfig "$KUBECONFIG_ADMIN" admin
kubeconfig "$STATE/kubelet.kubeconfig" kubelet
kubeconfig "$STATE/controller-manager.kubeconfig" controller-manager
kubeconfig "$STATE/scheduler.kubeconfig" scheduler

# --- etcd, kube-apiserver ----------------------------------------------------
start etcd etcd --name e2e --data-dir "$STATE/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "e2e=http://127.0.0.1:$ETCD_PEER_PORT"

WAIT_PROC=etcd wait_for "etcd" 20 curl -sf "http://127.0.0.1:$ETCD_PORT/health"

start kube-apiserver "$CLUSTER_BIN/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" \
  --endpoint-reconciler-type none \
  --service-cluster-ip-range 10.96.0.0/24 \
  --client-ca-file "$pki/ca.crt" \
  --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
  --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" \
  --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority "$pki/ca.crt" \
  --kubelet-preferred-address-types Hostname \
  --service-account-issuer https://kubernetes.default.svc \
  --service-account-key-file "$pki/sa.pub" \
  --service-account-signing-key-file "$pki/sa.key" \
  --authorization-mode Node,RBAC \
  --allow-privileged=true \
  --profiling=false

# --- containerd ----------------------------------------------------------------
mount --bind "$STATE/run-containerd" /run/containerd
echo /run/containerd >>"$STATE/mounts"
CTR_SOCK=$STATE/containerd/containerd.sock
cat >"$STATE/containerd/config.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "/run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CTR_SOCK"
[ttrpc]
  address = "$CTR_SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "pmp-e2e.local/pause:e2e"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "$STREAM_PORT"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
EOF
cat >"$STATE/cni/net.d/10-pmp-e2e.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "pmp-e2e",
  "plugins": [
    {"type": "bridge", "bridge": "pmpe2e0", "isGateway": false, "ipMasq": false,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.77.0/24"}]],
              "dataDir": "$STATE/cni/ipam"}}
  ]
}
EOF
start containerd containerd --config "$STATE/containerd/config.toml"
WAIT_PROC=containerd wait_for "containerd" 20 test -S "$CTR_SOCK"
ctr() { command ctr --address "$CTR_SOCK" -n k8s.io "$@"; }

# Images: no registry. pause is our own program, busybox is Debian's static one.
"$here/images.sh" "$STATE/images"
ctr images import "$STATE/images/pause.tar" >/dev/null
ctr images import "$STATE/images/busybox.tar" >/dev/null
ctr images import "$IMAGE_ARCHIVE" >/dev/null
log "containerd ready, images imported ($(elapsed))"

WAIT_PROC=kube-apiserver wait_for "kube-apiserver /readyz" 60 curl -sf --cacert "$pki/ca.crt" --cert "$pki/admin.crt" \
  --key "$pki/admin.key" "https://127.0.0.1:$API_PORT/readyz"
# Ready is not enough for helm: it (and kubectl's client-side validation) downloads the OpenAPI
# v2 document as protobuf, which a kube-apiserver can fail to serve while /readyz and the JSON
# form are fine (v1.36.3 built with Go 1.27 answers 503). Wait for exactly what they ask, so a
# broken build fails here, naming the component, not later in helm install.
openapi_pb() {
  curl -sf -o /dev/null --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    -H 'Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf' "https://127.0.0.1:$API_PORT/openapi/v2"
}
if ! (WAIT_PROC=kube-apiserver wait_for "kube-apiserver /openapi/v2 as protobuf" 60 openapi_pb); then
  alive kube-apiserver || die "kube-apiserver exited while waiting for /openapi/v2 (log: $STATE/logs/kube-apiserver.log)"
  grep -i 'openapi' "$STATE/logs/kube-apiserver.log" | tail -n 3 >&2 || true
  die "kube-apiserver does not serve /openapi/v2 as protobuf, which helm and kubectl ask for (log: $STATE/logs/kube-apiserver.log; its binary: $CLUSTER_BIN/kube-apiserver, $(go version "$CLUSTER_BIN/kube-apiserver" | awk '{print $2}'), built by tools/build.sh cluster with the release pinned in tools/cluster/go.mod)"
fi
log "kube-apiserver ready, OpenAPI served ($(elapsed))"

# --- kube-controller-manager, kube-scheduler -------------------------------------
# Only the controllers the suite's objects need: the default ServiceAccount
# and kube-root-ca.crt of every namespace (serviceaccount,
# serviceaccount-token, root-ca-certificate-publisher), namespaces that really
# delete (namespace), DaemonSets and Deployments (daemonset, deployment,
# replicaset), the pods of a deleted owner removed (garbage-collector: without
# it helm uninstall leaves the DaemonSet's pod and its socket), and the
# node's not-ready taint lifted once the kubelet reports Ready
# (node-lifecycle: else a Deployment's pod stays Pending). They start once
# the apiserver is ready: the controller-manager waits only about 20 s for
# its /healthz and then exits, which a busy machine outlasted. --cert-dir
# keeps their serving certificates out of /var/run/kubernetes.
start kube-controller-manager "$CLUSTER_BIN/kube-controller-manager" \
  --kubeconfig "$STATE/controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port "$KCM_PORT" --cert-dir "$STATE/pki/controller-manager" \
  --leader-elect=false --use-service-account-credentials=false \
  --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
  --controllers serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller,namespace-controller,daemonset-controller,deployment-controller,replicaset-controller,garbage-collector-controller,node-lifecycle-controller \
  --profiling=false
start kube-scheduler "$CLUSTER_BIN/kube-scheduler" \
  --kubeconfig "$STATE/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" --cert-dir "$STATE/pki/scheduler" \
  --leader-elect=false --profiling=false
# /healthz is always allowed without credentials; -k: their serving
# certificates are self-signed into --cert-dir.
WAIT_PROC=kube-controller-manager wait_for "kube-controller-manager /healthz" 60 \
  curl -sfk "https://127.0.0.1:$KCM_PORT/healthz"
WAIT_PROC=kube-scheduler wait_for "kube-scheduler /healthz" 60 curl -sfk "https://127.0.0.1:$SCHEDULER_PORT/healthz"
log "kube-controller-manager, kube-scheduler ready ($(elapsed))"

# --- objects: driver CRDs, CSIDriver ----------------------------------------------
kapply() { "$STATE/bin/kapply" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }
kapply apply "$DRIVER_MOD"/charts/secrets-store-csi-driver/crds/*.yaml "$here/manifests/csidriver.yaml"
kapply wait-crds secretproviderclasses.secrets-store.csi.x-k8s.io \
  secretproviderclasspodstatuses.secrets-store.csi.x-k8s.io

# --- kubelet ------------------------------------------------------------------------
KUBELET_ROOT=$STATE/kubelet
cat >"$STATE/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
authentication:
  x509: {clientCAFile: $pki/ca.crt}
  webhook: {enabled: false}
  anonymous: {enabled: false}
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: unix://$CTR_SOCK
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
podLogsDir: $STATE/pod-logs
registerNode: true
EOF
start kubelet "$CLUSTER_BIN/kubelet" --config "$STATE/kubelet-config.yaml" \
  --kubeconfig "$STATE/kubelet.kubeconfig" --root-dir "$KUBELET_ROOT" \
  --hostname-override "$NODE" --node-ip "$NODE_IP" -v 2

# --- the CSI driver and its registrar ----------------------------------------------
mkdir -p "$KUBELET_ROOT/plugins/csi-secrets-store" "$KUBELET_ROOT/plugins_registry"
DRIVER_SOCK=$KUBELET_ROOT/plugins/csi-secrets-store/csi.sock
start driver env KUBECONFIG="$KUBECONFIG_ADMIN" "$CLUSTER_BIN/secrets-store-csi-driver" \
  --endpoint "unix://$DRIVER_SOCK" --nodeid "$NODE" \
  --provider-volume "$STATE/providers" --additional-provider-volume-paths "$STATE/providers" \
  --metrics-addr "127.0.0.1:$DRIVER_METRICS_PORT" \
  --enable-secret-rotation --rotation-poll-interval "$ROTATION_POLL" -v 5
WAIT_PROC=driver wait_for "CSI driver socket" 30 test -S "$DRIVER_SOCK"
start registrar "$STATE/bin/registrar" --csi-address "$DRIVER_SOCK" \
  --registration-socket "$KUBELET_ROOT/plugins_registry/secrets-store.csi.k8s.io-reg.sock"

# --- AWS: a kumo per region behind the fault-injecting front ------------------------
# kumo serves one region per process (AWS_DEFAULT_REGION names it in its
# ARNs); the front forwards calls signed for the failover region to its kumo
# (--route) and every other call to the primary's.
start kumo env AWS_DEFAULT_REGION="$REGION" "$KUMO_BIN" --host 127.0.0.1 --port "$KUMO_PORT"
start kumo-failover env AWS_DEFAULT_REGION="$FAILOVER_REGION" "$KUMO_BIN" \
  --host 127.0.0.1 --port "$KUMO_FAILOVER_PORT"
start awsfront "$AWSFRONT_BIN" --listen 127.0.0.1:0 --control 127.0.0.1:0 \
  --upstream "http://127.0.0.1:$KUMO_PORT" --route "$FAILOVER_REGION=http://127.0.0.1:$KUMO_FAILOVER_PORT" \
  --addr-file "$STATE/awsfront.addr"
WAIT_PROC=awsfront wait_for "awsfront" 20 test -s "$STATE/awsfront.addr"
read -r FRONT_URL FRONT_CONTROL <"$STATE/awsfront.addr"
WAIT_PROC=kumo wait_for "kumo" 20 curl -s -o /dev/null "http://127.0.0.1:$KUMO_PORT/"
WAIT_PROC=kumo-failover wait_for "kumo ($FAILOVER_REGION)" 20 curl -s -o /dev/null "http://127.0.0.1:$KUMO_FAILOVER_PORT/"

# --- the provider: the chart, installed with helm ------------------------------------
# The one way this install differs from a production one: this cluster has no
# kube-proxy and every server binds loopback, so the pod runs in the host's
# network and reaches the API server and the AWS front on 127.0.0.1 (the
# container's KUBERNETES_SERVICE_* win over the kubelet's service variables),
# and binds its metrics port there too. Everything else is the chart's
# default: its ServiceAccount and least RBAC, its hardened pod.
cat >"$STATE/provider-values.yaml" <<EOF
image:
  repository: localhost/pmp-secrets-provider
  tag: "$IMAGE_TAG"
  pullPolicy: Never
providersDir: $STATE/providers
region: $REGION
retryBudget: ${PMP_E2E_RETRY_BUDGET:-8s}
secretTTL: ${PMP_E2E_SECRET_TTL:-5s}
logVerbosity: 4
hostNetwork: true
metrics:
  bindAddress: 127.0.0.1
  port: $PROVIDER_METRICS_PORT
env:
  - {name: KUBERNETES_SERVICE_HOST, value: "127.0.0.1"}
  - {name: KUBERNETES_SERVICE_PORT, value: "$API_PORT"}
  - {name: AWS_EC2_METADATA_DISABLED, value: "true"}
  - {name: AWS_ENDPOINT_URL, value: "$FRONT_URL"}
  - {name: AWS_ENDPOINT_URL_STS, value: "$FRONT_URL"}
  - {name: AWS_ENDPOINT_URL_SECRETS_MANAGER, value: "$FRONT_URL"}
EOF

# The chart rendered with its defaults and with a non-default set, for the
# suite's server-side dry run (TestChartManifestsAcceptedByAPIServer). No
# ServiceMonitor: this cluster has no Prometheus Operator CRD.
mkdir -p "$STATE/chart"
"$HELM_BIN" template pmp-dry-run "$root/charts/pmp-secrets-provider" --namespace kube-system \
  >"$STATE/chart/defaults.yaml"
"$HELM_BIN" template pmp-dry-run-custom "$root/charts/pmp-secrets-provider" --namespace kube-system \
  --set region=eu-west-1 --set metrics.service.enabled=true --set 'extraArgs[0]=--cache-size=64' \
  --set 'env[0].name=HTTPS_PROXY' --set 'env[0].value=http://proxy.internal:3128' \
  --set 'env[1].name=NO_PROXY' --set 'env[1].value=169.254.169.254' >"$STATE/chart/custom.yaml"

cat >"$STATE/env.sh" <<EOF
# Written by e2e/cluster/up.sh: what the e2e suite and the helper scripts need.
export PMP_E2E_KUBECONFIG=$KUBECONFIG_ADMIN
export PMP_E2E_AWS_REGION=$REGION
export PMP_E2E_AWS_ENDPOINT=http://127.0.0.1:$KUMO_PORT
export PMP_E2E_FAILOVER_REGION=$FAILOVER_REGION
export PMP_E2E_AWS_FAILOVER_ENDPOINT=http://127.0.0.1:$KUMO_FAILOVER_PORT
export PMP_E2E_AWS_FRONT_URL=$FRONT_URL
export PMP_E2E_AWS_FRONT_CONTROL=$FRONT_CONTROL
export PMP_E2E_PROVIDER_LOG='$STATE/pod-logs/kube-system_pmp-secrets-provider-*/provider/*.log'
export PMP_E2E_DRIVER_LOG=$STATE/logs/driver.log
export PMP_E2E_KUBELET_LOG=$STATE/logs/kubelet.log
export PMP_E2E_PROVIDER_DAEMONSET=kube-system/pmp-secrets-provider
export PMP_E2E_PROVIDER_SOCKET=$STATE/providers/pmp.sock
export PMP_E2E_PROVIDER_RESTART="$here/provider.sh restart $STATE"
export PMP_E2E_PROVIDER_UNINSTALL="$here/provider.sh uninstall $STATE"
export PMP_E2E_PROVIDER_INSTALL="$here/provider.sh install $STATE"
export PMP_E2E_CHART_MANIFESTS='$STATE/chart/*.yaml'
export PMP_E2E_IMAGE=pmp-e2e.local/busybox:e2e
export PMP_E2E_NODE=$NODE
export PMP_E2E_ROTATION_POLL=$ROTATION_POLL
export PMP_E2E_CHECK_README=1
PMP_HELM_BIN=$HELM_BIN
EOF

kapply --timeout 60s --csi-driver secrets-store.csi.k8s.io wait-node "$NODE"
log "node Ready with the CSI driver registered ($(elapsed))"
"$here/provider.sh" install "$STATE"
log "cluster up: the provider's DaemonSet pod serves ($(elapsed)); source $STATE/env.sh"
