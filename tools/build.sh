#!/usr/bin/env bash
# Builds a pinned third-party tool from its module in tools/<name>/ and
# prints the path of the binary. Binaries are cached outside the repo, keyed
# by the tool's go.mod and go.sum, so a rerun costs nothing and a version bump
# rebuilds.
#
# Each tool is built with the Go release pinned beside its version, in the toolchain line of
# tools/<name>/go.mod (a release that tool's project supports), never with the product's: the
# kube-apiserver v1.36.3 built with Go 1.27.3 cannot serve OpenAPI as protobuf, and helm's
# install then fails. The release is part of the cache key, and every binary built is checked
# to carry it (go version). staticcheck and govulncheck are the exception that proves the rule:
# they type-check the standard library of the go command they run with, so tools/lint pins
# the product's release and this script refuses to build them when the two differ.
#
#   tools/build.sh kumo        # -> $CACHE/bin/kumo-<hash> (the AWS emulator)
#   tools/build.sh staticcheck # -> $CACHE/bin/staticcheck-<hash> (also govulncheck)
#   tools/build.sh helm        # -> $CACHE/bin/helm-<hash> (v3.22.0: chart lint, template, install)
#   tools/build.sh cluster     # -> $CACHE/cluster-<hash>/, holding kube-apiserver,
#                              #    kube-controller-manager, kube-scheduler,
#                              #    kubelet (v1.36.3), secrets-store-csi-driver (v1.6.1)
#   tools/build.sh kind        # -> $CACHE/bin/kind-<hash> (v0.33.0: e2e/kind/run.sh's clusters)
#   tools/build.sh kindnode    # -> $CACHE/kindnode-<hash>/, the Go binaries of the kind node image
#                              #    (tools/kindnode.sh): kubelet, kubeadm, kubectl, kube-apiserver,
#                              #    kube-controller-manager, kube-scheduler, kube-proxy (v1.36.3,
#                              #    tools/kindnode), etcd (v3.6.8, tools/etcd), coredns (v1.14.2,
#                              #    tools/coredns): the versions kubeadm v1.36.3 deploys
#   tools/build.sh vulndb      # -> $CACHE/vulndb-<hash>/, the Go vulnerability database
#                              #    (govulncheck -db file://...) written by golang.org/x/vulndb's
#                              #    cmd/indexdb from the reports of the commit pinned in tools/vulndb
set -euo pipefail

name=${1:?usage: tools/build.sh <tool>}
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${PMP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pmp-secrets-provider}

case "$name" in
  kumo) dir=tools/kumo; pkg=github.com/sivchari/kumo/cmd/kumo ;;
  staticcheck) dir=tools/lint; pkg=honnef.co/go/tools/cmd/staticcheck ;;
  govulncheck) dir=tools/lint; pkg=golang.org/x/vuln/cmd/govulncheck ;;
  helm) dir=tools/helm; pkg=helm.sh/helm/v3/cmd/helm
    # Stamped as helm's own release build is: its version, and the Kubernetes version that
    # `helm template` and `helm lint` assume (that of its client-go: v0.N.x -> 1.N).
    read -r hv kv < <(cd "$root/$dir" && go list -m -f '{{.Version}}' helm.sh/helm/v3 k8s.io/client-go | paste -sd' ')
    ldflags="-X helm.sh/helm/v3/internal/version.version=$hv"
    for p in pkg/chartutil pkg/lint/rules; do
      ldflags+=" -X helm.sh/helm/v3/$p.k8sVersionMajor=1 -X helm.sh/helm/v3/$p.k8sVersionMinor=$(echo "$kv" | cut -d. -f2)"
    done ;;
  cluster) dir=tools/cluster ;;
  kind) dir=tools/kind; pkg=sigs.k8s.io/kind ;;
  kindnode) dir=tools/kindnode ;;
  indexdb) dir=tools/vulndb; pkg=golang.org/x/vulndb/cmd/indexdb ;;
  vulndb) dir=tools/vulndb ;;
  *) echo "tools/build.sh: unknown tool $name (known: kumo, staticcheck, govulncheck, helm, cluster, kind, kindnode, vulndb)" >&2; exit 2 ;;
esac

# The tool's own Go release: every go command below (go list, go mod download, go build) runs it.
export GOTOOLCHAIN
GOTOOLCHAIN=$("$root/tools/toolchain.sh" "$dir")
if [ "$dir" = tools/lint ]; then
  product=$("$root/tools/toolchain.sh")
  [ "$GOTOOLCHAIN" = "$product" ] || {
    echo "tools/build.sh: $name must be built with the product's Go release ($product, go.mod) to check its code, but tools/lint/go.mod pins $GOTOOLCHAIN: run (cd tools/lint && go mod edit -toolchain=$product)" >&2
    exit 1
  }
fi

# One build of a tool at a time: a second caller (make test beside make e2e, two checkouts)
# waits here, then finds the first one's binary instead of racing it on the same files.
mkdir -p "$cache"
exec 9>"$cache/.$name.lock"
flock 9

# built_with BINARY...: fails unless every binary was built by $GOTOOLCHAIN.
built_with() {
  local b got
  for b in "$@"; do
    got=$(go version "$b" | awk '{print $2}')
    [ "$got" = "$GOTOOLCHAIN" ] || { echo "tools/build.sh: $b was built with $got, not $GOTOOLCHAIN (pinned in $dir/go.mod)" >&2; exit 1; }
  done
}

if [ "$name" = vulndb ]; then
  # The module golang.org/x/vulndb holds every report as an OSV file in data/osv; indexdb
  # writes them with the indexes govulncheck reads (index/db.json, modules.json, vulns.json,
  # ID/GO-*.json, each also gzipped). Its "modified" times are zero: the published database
  # takes them from git history, which a module has not; govulncheck matches by version
  # ranges, not by time.
  hash=$(cat "$root/$dir/go.mod" "$root/$dir/go.sum" | sha256sum | cut -c1-12)
  out="$cache/vulndb-$hash"
  if [ ! -f "$out/.complete" ]; then
    indexdb=$("$0" indexdb)
    src=$(cd "$root/$dir" && go mod download golang.org/x/vulndb && go list -m -f '{{.Dir}}' golang.org/x/vulndb)
    rm -rf "$out" "$out.tmp"
    "$indexdb" -vulns "$src/data/osv" -out "$out.tmp"
    mv "$out.tmp" "$out"
    touch "$out/.complete"
  fi
  echo "$out"
  exit 0
fi

if [ "$name" = cluster ]; then
  # Keyed by the module files (the Go release among them) and the driver's mlog shim it is
  # built with.
  hash=$({ cat "$root/$dir/go.mod" "$root/$dir/go.sum" "$root"/e2e/cluster/mlogshim/*; echo "$GOTOOLCHAIN"; } | sha256sum | cut -c1-12)
  out="$cache/cluster-$hash"
  if [ ! -f "$out/.complete" ]; then
    mkdir -p "$out"
    echo "building kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, secrets-store-csi-driver with $GOTOOLCHAIN (first run only: 9-15 min on 2 cores) ..." >&2
    v=k8s.io/component-base/version
    start=$(date +%s)
    (cd "$root/$dir" && go build -trimpath -o "$out/" \
      -ldflags "-s -w -X $v.gitVersion=v1.36.3 -X $v.gitMajor=1 -X $v.gitMinor=36 -X sigs.k8s.io/secrets-store-csi-driver/pkg/version.BuildVersion=v1.6.1" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubelet \
      k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
      sigs.k8s.io/secrets-store-csi-driver/cmd/secrets-store-csi-driver)
    echo "built in $(( $(date +%s) - start ))s" >&2
    built_with "$out"/kube-apiserver "$out"/kubelet "$out"/kube-controller-manager "$out"/kube-scheduler "$out"/secrets-store-csi-driver
    touch "$out/.complete"
  fi
  echo "$out"
  exit 0
fi

if [ "$name" = kindnode ]; then
  # Three modules, one Go release each (checked equal below), one cache key. The Kubernetes
  # binaries share tools/cluster's module versions, so they relink from its Go build cache.
  for d in tools/etcd tools/coredns; do
    [ "$("$root/tools/toolchain.sh" "$d")" = "$GOTOOLCHAIN" ] || { echo "tools/build.sh: $d/go.mod must pin $GOTOOLCHAIN like $dir/go.mod" >&2; exit 1; }
  done
  hash=$({ cat "$root"/tools/{kindnode,etcd,coredns}/go.{mod,sum}; echo "$GOTOOLCHAIN"; } | sha256sum | cut -c1-12)
  out="$cache/kindnode-$hash"
  if [ ! -f "$out/.complete" ]; then
    mkdir -p "$out"
    echo "building kubelet, kubeadm, kubectl, the control plane, kube-proxy, etcd and coredns with $GOTOOLCHAIN (first run only: minutes on 2 cores, more with a cold Go cache) ..." >&2
    v=k8s.io/component-base/version
    start=$(date +%s)
    (cd "$root/$dir" && go build -trimpath -o "$out/" \
      -ldflags "-s -w -X $v.gitVersion=v1.36.3 -X $v.gitMajor=1 -X $v.gitMinor=36" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-proxy \
      k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubeadm k8s.io/kubernetes/cmd/kubectl)
    (cd "$root/tools/etcd" && go build -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3)
    (cd "$root/tools/coredns" && go build -trimpath -ldflags "-s -w" -o "$out/coredns" github.com/coredns/coredns)
    echo "built in $(( $(date +%s) - start ))s" >&2
    built_with "$out"/kube-apiserver "$out"/kube-controller-manager "$out"/kube-scheduler "$out"/kube-proxy \
      "$out"/kubelet "$out"/kubeadm "$out"/kubectl "$out"/etcd "$out"/coredns
    touch "$out/.complete"
  fi
  echo "$out"
  exit 0
fi

hash=$({ cat "$root/$dir/go.mod" "$root/$dir/go.sum"; [ -z "${ldflags:-}" ] || echo "$ldflags"; echo "$GOTOOLCHAIN"; } | sha256sum | cut -c1-12)
bin="$cache/bin/$name-$hash"
if [ ! -x "$bin" ]; then
  mkdir -p "$cache/bin"
  echo "building $name with $GOTOOLCHAIN (first run only, a few minutes on 2 cores) ..." >&2
  (cd "$root/$dir" && go build -trimpath -ldflags "${ldflags:-}" -o "$bin.tmp" "$pkg")
  built_with "$bin.tmp"
  mv "$bin.tmp" "$bin"
fi
echo "$bin"
