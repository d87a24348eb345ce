#!/usr/bin/env bash
# Builds a kind node image here, without a registry or a Docker engine, and prints its name
# (localhost/pmp-kind-node:v1.36.3-<hash>). e2e/kind/run.sh uses it when no published node
# image is asked for.
#
#   tools/kindnode.sh                 # build (or reuse) the image; load it into podman
#   KIND_NODE_ENGINE=docker tools/kindnode.sh   # load it into Docker instead
#   tools/kindnode.sh base            # the path of the images' base layer (a tar), for more
#                                     # images made the same way (e2e/kind/run.sh)
#
# What is in it, and where it comes from:
# - Debian (the suite of this machine's apt sources, through mmdebstrap): systemd, dbus,
#   containerd, runc, the CNI plugins, iptables;
# - the Go binaries of tools/build.sh kindnode, each pinned in tools/<name>/go.mod and built
#   with the Go release pinned there: kubelet, kubeadm, kubectl (in /usr/bin), and the images
#   kubeadm v1.36.3 runs (kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy,
#   etcd, CoreDNS) under the names `kubeadm config images list` gives, each a Debian minbase
#   layer (glibc, iptables, conntrack) plus the binary; the pause image is this repository's
#   pause program (e2e/cluster/pause). The images are made with e2e/cluster/mkimage and
#   imported into the node's containerd store (/var/lib/containerd) at build time, as kind's
#   own node images are, so nothing is pulled when a cluster starts.
# - kind's layout: /kind/version, /kind/manifests/default-cni.yaml and default-storage.yaml,
#   containerd's config at /etc/containerd/config.toml (its sandbox_image is the pause image),
#   the kubelet's systemd unit with kubeadm's drop-in, ENTRYPOINT
#   [/usr/local/bin/entrypoint, /sbin/init].
#
# Pod network: kind's own kindnetd is a separate Go module (sigs.k8s.io/kind/images/kindnetd)
# that the module proxy does not serve, so the node has a static CNI bridge on kind's default
# pod subnet (10.244.0.0/16) instead: one-node clusters only, and the cluster's
# networking.podSubnet must stay the default.
#
# Cached outside the repo under $PMP_CACHE_DIR (default ~/.cache/pmp-secrets-provider), keyed
# by this script, the Go binaries' key (their modules and Go release), the Go release of the
# pause program and the candidate version of every Debian package installed (apt-cache
# policy: run apt-get update for new ones). The package versions actually installed are in the
# image at /kind/packages.txt.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${PMP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pmp-secrets-provider}
engine=${KIND_NODE_ENGINE:-podman}
k8s=v1.36.3
log() { printf '%s [kindnode] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

[ "$(id -u)" = 0 ] || { echo "tools/kindnode.sh: needs root (mmdebstrap, chroot, mounts)" >&2; exit 1; }
missing=()
for c in mmdebstrap:mmdebstrap "$engine:$engine"; do
  command -v "${c%%:*}" >/dev/null || missing+=("${c#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} (Debian packages) ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The Debian suite and sources: those of this machine's apt sources for its own release.
. /etc/os-release
suite=${KIND_NODE_SUITE:-$VERSION_CODENAME}
sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && grep -qE "^[^#]*(Suites:.*[[:space:]]|deb .*[[:space:]])$suite([[:space:]]|$)" "$f" && sources+=("$f")
done
[ ${#sources[@]} -gt 0 ] || { echo "tools/kindnode.sh: no apt source for $suite in /etc/apt" >&2; exit 1; }

node_pkgs=systemd,systemd-sysv,dbus,containerd,runc,containernetworking-plugins,iptables,conntrack,iproute2,ca-certificates,procps,kmod,ethtool,socat,util-linux,mount,bash
base_pkgs=iptables,conntrack,ca-certificates,mount

exclude=(--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*')
# candidates PKGS: each package's candidate version here (part of the cache keys).
candidates() { apt-cache policy $(echo "$1" | tr , ' ') 2>/dev/null | awk '/^[^ ]/{p=$1} /Candidate:/{print p, $2}'; }
mkdir -p "$cache"
# prune GLOB KEEP: a new build replaces the cache entries of older keys (each is 0.1-1 GB).
prune() { local f; for f in $1; do [ "$f" = "$2" ] || rm -rf "$f"; done; }

# debian_layer NAME PKGS WHAT OPTS...: a Debian minbase root filesystem with PKGS, as a tar
# mmdebstrap writes with OPTS once, at $cache/NAME-<key>.tar (older keys pruned); its path in
# $layer (not printed: a command substitution would run it without set -e). The key: what
# mmdebstrap is given (packages, options, hooks), the suite, and the candidate version of
# every package asked for.
debian_layer() {
  local name=$1 pkgs=$2 what=$3 hash out
  shift 3
  hash=$({ printf '%s\n' "$@" "$suite"; candidates "$pkgs"; } | sha256sum | cut -c1-12)
  out=$cache/$name-$hash.tar
  if [ ! -f "$out" ]; then
    exec 8>"$cache/.$name.lock"
    flock 8
    if [ ! -f "$out" ]; then
      log "building $what (Debian $suite minbase + $pkgs) ..."
      mmdebstrap --quiet "$@" "$suite" "${out%.tar}.tmp.tar" "${sources[@]}"
      mv "${out%.tar}.tmp.tar" "$out"
      prune "$cache/$name-*.tar" "$out"
    fi
    exec 8>&-
  fi
  layer=$out
}

# The images' base layer: Debian minbase (glibc, mount) with iptables and conntrack for
# kube-proxy; the Go binaries of this machine's builds are dynamically linked.
debian_layer kindbase "$base_pkgs" "the images' base layer" --variant=minbase --include="$base_pkgs" "${exclude[@]}" \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*'
base=$layer
if [ "${1:-image}" = base ]; then
  echo "$base"
  exit 0
fi

# The node's Debian root filesystem (a tar; the kind layout is added below). Docs and man
# pages are left out; the versions installed are listed in /kind/packages.txt.
debian_layer kindrootfs "$node_pkgs" "the node's root filesystem" --variant=minbase --include="$node_pkgs" "${exclude[@]}" \
  --customize-hook='mkdir -p "$1/kind" && chroot "$1" dpkg-query -W -f "\${Package} \${Version}\n" >"$1/kind/packages.txt"' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*'
debian=$layer
if [ "${1:-image}" = rootfs ]; then
  echo "$debian"
  exit 0
fi

bins=$("$root/tools/build.sh" kindnode)
export GOTOOLCHAIN # the product's Go release builds our own programs (pause, mkimage)
GOTOOLCHAIN=$("$root/tools/toolchain.sh")
hash=$({ cat "$0" "$root"/e2e/cluster/pause/*.go "$root"/e2e/cluster/mkimage/*.go
  echo "$bins $GOTOOLCHAIN $engine $base $debian"; } | sha256sum | cut -c1-12)
image=localhost/pmp-kind-node:$k8s-$hash
out=$cache/kindnode-image-$hash
if "$engine" image inspect "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi

exec 9>"$cache/.kindnode-image.lock"
flock 9

if [ ! -f "$out/.complete" ]; then
  log "building the kind node image $image (first run only: a few minutes) ..."
  start=$(date +%s)
  rm -rf "$out" "$out.tmp"
  mkdir -p "$out.tmp/images"
  work=$out.tmp
  rootfs=$work/rootfs
  mkdir -p "$rootfs"
  tar --numeric-owner -xf "$debian" -C "$rootfs"
  mkdir -p "$rootfs/kind/manifests"

  # Our own programs: the pause image's program and the image writer.
  (cd "$root" && go build -trimpath -o "$work/" ./e2e/cluster/mkimage &&
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/pause" ./e2e/cluster/pause)

  # The images kubeadm runs, under the names it asks for.
  path=PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin
  pause=
  for ref in $("$bins/kubeadm" config images list --kubernetes-version "$k8s"); do
    repo=${ref%:*}
    case "${repo##*/}" in
      kube-apiserver | kube-controller-manager | kube-scheduler | kube-proxy | etcd)
        b=${repo##*/}
        "$work/mkimage" -o "$work/images/$b.tar" -name "$ref" -layer "$base" \
          -file "/usr/local/bin/$b=$bins/$b" -env "$path" -cmd "/usr/local/bin/$b" ;;
      coredns)
        "$work/mkimage" -o "$work/images/coredns.tar" -name "$ref" -layer "$base" \
          -file "/coredns=$bins/coredns" -env "$path" -cmd /coredns ;;
      pause)
        pause=$ref
        "$work/mkimage" -o "$work/images/pause.tar" -name "$ref" -file "/pause=$work/pause" -cmd /pause ;;
      *) echo "tools/kindnode.sh: kubeadm $k8s asks for $ref, which this script does not build" >&2; exit 1 ;;
    esac
  done
  [ -n "$pause" ] || { echo "tools/kindnode.sh: kubeadm named no pause image" >&2; exit 1; }

  # Node binaries and kind's layout.
  install -m 0755 "$bins/kubelet" "$bins/kubeadm" "$bins/kubectl" "$rootfs/usr/bin/"
  echo "$k8s" >"$rootfs/kind/version"
  cat >"$rootfs/etc/containerd/config.toml" <<EOF
# The kind node's containerd (Debian's). Images are preloaded: nothing is pulled.
version = 2

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause"
  # Without CAP_SYS_RESOURCE (a sandboxed host) a pod's oom_score_adj cannot be lowered.
  restrict_oom_score_adj = true
  tolerate_missing_hugepages_controller = true
[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
  discard_unpacked_layers = true
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = true
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "/etc/cni/net.d"
EOF
  mkdir -p "$rootfs/etc/cni/net.d"
  cat >"$rootfs/etc/cni/net.d/10-kind-bridge.conflist" <<'EOF'
{
  "cniVersion": "1.0.0",
  "name": "kind-bridge",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  cat >"$rootfs/kind/manifests/default-cni.yaml" <<'EOF'
# This node image's pod network is a CNI bridge configured in the image itself
# (/etc/cni/net.d/10-kind-bridge.conflist, pod subnet 10.244.0.0/24 of kind's default
# 10.244.0.0/16), so there is no network daemon to install: this object only says so.
apiVersion: v1
kind: ConfigMap
metadata:
  name: kind-node-cni
  namespace: kube-system
data:
  cni: "bridge (Debian containernetworking-plugins), configured in the node image; one node only"
EOF
  cat >"$rootfs/kind/manifests/default-storage.yaml" <<'EOF'
# The default StorageClass kind expects. This node image has no dynamic provisioner:
# PersistentVolumeClaims need a PersistentVolume made by hand.
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
EOF
  mkdir -p "$rootfs/etc/systemd/system/kubelet.service.d" "$rootfs/etc/sysctl.d"
  cat >"$rootfs/etc/systemd/system/kubelet.service" <<'EOF'
[Unit]
Description=kubelet (kind node)
# kubeadm writes the configuration; until then there is nothing to run.
ConditionPathExists=/var/lib/kubelet/config.yaml
After=containerd.service
Wants=containerd.service

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
RestartSec=1s
StartLimitInterval=0
Slice=kubelet.slice
KillMode=process
CPUAccounting=true
MemoryAccounting=true

[Install]
WantedBy=multi-user.target
EOF
  cat >"$rootfs/etc/systemd/system/kubelet.service.d/10-kubeadm.conf" <<'EOF'
# The flags kubeadm hands the kubelet: its kubeconfigs, the configuration it writes and the
# per-node flags file (kubeadm-flags.env), then any of /etc/default/kubelet.
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
EOF
  cat >"$rootfs/etc/systemd/system/kubelet.slice" <<'EOF'
[Unit]
Description=the kubelet and its pods (kind's cgroupRoot /kubelet)
Before=slices.target
EOF
  cat >"$rootfs/etc/sysctl.d/10-kind-node.conf" <<'EOF'
net.ipv4.ip_forward = 1
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
fs.inotify.max_user_watches = 524288
fs.inotify.max_user_instances = 512
EOF
  cat >"$rootfs/usr/local/bin/entrypoint" <<'EOF'
#!/bin/sh
# The kind node's PID 1 until it execs systemd ("$@", /sbin/init): readies the container for
# a kubelet and its pods.
set -eu
# Mounts the kubelet makes (CSI volumes, Bidirectional propagation) must reach the pods.
mount --make-rshared /
# Each node its own machine id, as systemd and the kubelet expect.
rm -f /etc/machine-id
systemd-machine-id-setup >/dev/null
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  # cgroup v2, private namespace: processes may not stay in the root cgroup once controllers
  # are delegated to children, so move them to init.scope and delegate every controller.
  mkdir -p /sys/fs/cgroup/init.scope
  for p in $(cat /sys/fs/cgroup/cgroup.procs); do echo "$p" >/sys/fs/cgroup/init.scope/cgroup.procs 2>/dev/null || true; done
  for c in $(cat /sys/fs/cgroup/cgroup.controllers); do echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true; done
else
  # cgroup v1: kind runs the kubelet with cgroupRoot /kubelet (kubelet.slice with the systemd
  # driver), which the kubelet wants in every hierarchy; systemd makes it only in those it
  # manages (not cpuset, nor a cpuacct mounted on its own), so make it everywhere, and give
  # its cpuset the parent's cpus and mems (an empty cpuset admits no process).
  for d in /sys/fs/cgroup/*/; do
    [ -L "${d%/}" ] || [ "${d%/}" = /sys/fs/cgroup/unified ] || mkdir -p "${d}kubelet.slice"
  done
  if [ -f /sys/fs/cgroup/cpuset/cpuset.cpus ]; then
    cat /sys/fs/cgroup/cpuset/cpuset.cpus >/sys/fs/cgroup/cpuset/kubelet.slice/cpuset.cpus
    cat /sys/fs/cgroup/cpuset/cpuset.mems >/sys/fs/cgroup/cpuset/kubelet.slice/cpuset.mems
  fi
fi
exec "$@"
EOF
  chmod 0755 "$rootfs/usr/local/bin/entrypoint"
  # systemd units a container does not need (and that fail in one).
  for u in systemd-udevd.service systemd-udev-trigger.service systemd-modules-load.service \
    systemd-remount-fs.service getty.target console-getty.service systemd-timesyncd.service; do
    ln -sf /dev/null "$rootfs/etc/systemd/system/$u"
  done
  ln -sf /etc/systemd/system/kubelet.service "$rootfs/etc/systemd/system/multi-user.target.wants/kubelet.service"
  ln -sf /lib/systemd/system/containerd.service "$rootfs/etc/systemd/system/multi-user.target.wants/containerd.service"

  # Preload the images into the node's containerd store, as kind's node images have them:
  # containerd runs once in the root filesystem (its own mount and PID namespaces, so
  # nothing of it is left on the host), with only the image store in use.
  cp "$work"/images/*.tar "$rootfs/tmp/"
  cat >"$rootfs/tmp/import.toml" <<'EOF'
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "/run/containerd/containerd.sock"
EOF
  cat >"$rootfs/tmp/import.sh" <<'EOF'
set -eu
containerd --config /tmp/import.toml >/tmp/containerd.log 2>&1 &
pid=$!
for i in $(seq 50); do ctr version >/dev/null 2>&1 && break; sleep 0.2; done
for f in /tmp/*.tar; do ctr -n k8s.io images import --all-platforms --no-unpack "$f" >/dev/null; done
ctr -n k8s.io images list -q
kill "$pid"
wait "$pid" || true
EOF
  unshare --mount --pid --fork --propagation private --mount-proc="$rootfs/proc" sh -euc '
    [ -d "$1/tmp" ] || exit 1
    mount -t tmpfs tmpfs "$1/run"
    mount --rbind /dev "$1/dev"
    mount -t sysfs sysfs "$1/sys"
    chroot "$1" /bin/sh /tmp/import.sh
  ' sh "$rootfs" | sed 's/^/  preloaded /' >&2
  rm -f "$rootfs"/tmp/*.tar "$rootfs"/tmp/import.* "$rootfs/tmp/containerd.log"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*

  tar --numeric-owner --xattrs --acls -C "$rootfs" -cf "$work/node.tar" .
  rm -rf "$rootfs" "$work/images" "$work/mkimage" "$work/pause"
  mv "$work" "$out"
  touch "$out/.complete"
  prune "$cache/kindnode-image-*" "$out"
  log "built in $(( $(date +%s) - start ))s ($(du -sh "$out/node.tar" | cut -f1))"
fi

"$engine" import --quiet \
  --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' \
  --change 'STOPSIGNAL SIGRTMIN+3' \
  "$out/node.tar" "$image" >/dev/null
# Older node images of this script go (one in use by a cluster stays: rmi refuses it).
for old in $("$engine" images --format '{{.Repository}}:{{.Tag}}' | grep '^localhost/pmp-kind-node:' || true); do
  [ "$old" = "$image" ] || "$engine" rmi "$old" >/dev/null 2>&1 || true
done
echo "$image"
