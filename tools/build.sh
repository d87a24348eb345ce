#!/usr/bin/env bash
# Builds a pinned third-party tool from its module in tools/<name>/ and
# prints the path of the binary. Binaries are cached outside the repo, keyed
# by the tool's go.mod and go.sum, so a rerun costs nothing and a version bump
# rebuilds. Every go command here runs the project's Go release (tools/toolchain.sh: go.mod's
# toolchain line).
#
#   tools/build.sh kumo        # -> $CACHE/bin/kumo-<hash> (the AWS emulator)
#   tools/build.sh staticcheck # -> $CACHE/bin/staticcheck-<hash> (also govulncheck)
#   tools/build.sh helm        # -> $CACHE/bin/helm-<hash> (v3.22.0: chart lint, template, install)
#   tools/build.sh cluster     # -> $CACHE/cluster-<hash>/, holding kube-apiserver,
#                              #    kube-controller-manager, kube-scheduler,
#                              #    kubelet (v1.36.3), secrets-store-csi-driver (v1.6.1)
#   tools/build.sh vulndb      # -> $CACHE/vulndb-<hash>/, the Go vulnerability database
#                              #    (govulncheck -db file://...) written by golang.org/x/vulndb's
#                              #    cmd/indexdb from the reports of the commit pinned in tools/vulndb
set -euo pipefail

name=${1:?usage: tools/build.sh <tool>}
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${PMP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pmp-secrets-provider}
export GOTOOLCHAIN
GOTOOLCHAIN=$("$root/tools/toolchain.sh")

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
  indexdb) dir=tools/vulndb; pkg=golang.org/x/vulndb/cmd/indexdb ;;
  vulndb) dir=tools/vulndb ;;
  *) echo "tools/build.sh: unknown tool $name (known: kumo, staticcheck, govulncheck, helm, cluster, vulndb)" >&2; exit 2 ;;
esac

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
  # Keyed by the module files and the driver's mlog shim it is built with.
  hash=$(cat "$root/$dir/go.mod" "$root/$dir/go.sum" "$root"/e2e/cluster/mlogshim/* | sha256sum | cut -c1-12)
  out="$cache/cluster-$hash"
  if [ ! -f "$out/.complete" ]; then
    mkdir -p "$out"
    echo "building kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, secrets-store-csi-driver (first run only: 9-15 min on 2 cores) ..." >&2
    v=k8s.io/component-base/version
    start=$(date +%s)
    (cd "$root/$dir" && go build -trimpath -o "$out/" \
      -ldflags "-s -w -X $v.gitVersion=v1.36.3 -X $v.gitMajor=1 -X $v.gitMinor=36 -X sigs.k8s.io/secrets-store-csi-driver/pkg/version.BuildVersion=v1.6.1" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubelet \
      k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
      sigs.k8s.io/secrets-store-csi-driver/cmd/secrets-store-csi-driver)
    echo "built in $(( $(date +%s) - start ))s" >&2
    touch "$out/.complete"
  fi
  echo "$out"
  exit 0
fi

# staticcheck and govulncheck type-check the standard library of the go command they run with,
# which only a build by the same Go release can (staticcheck built with 1.26 refuses 1.27's
# generic methods): their binaries are keyed by that release too.
release=
case "$name" in staticcheck | govulncheck) release=$GOTOOLCHAIN ;; esac
hash=$({ cat "$root/$dir/go.mod" "$root/$dir/go.sum"; [ -z "${ldflags:-}" ] || echo "$ldflags"; [ -z "$release" ] || echo "$release"; } | sha256sum | cut -c1-12)
bin="$cache/bin/$name-$hash"
if [ ! -x "$bin" ]; then
  mkdir -p "$cache/bin"
  echo "building $name (first run only, a few minutes on 2 cores) ..." >&2
  (cd "$root/$dir" && go build -trimpath -ldflags "${ldflags:-}" -o "$bin.tmp" "$pkg")
  mv "$bin.tmp" "$bin"
fi
echo "$bin"
