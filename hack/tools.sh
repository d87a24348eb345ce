#!/usr/bin/env bash
# Builds a pinned tool from its module in tools/<name>/ and prints the path of
# the binary. Binaries are cached outside the repo, keyed by the tool's
# go.sum, so a rerun costs nothing and a version bump rebuilds.
#
#   hack/tools.sh kumo        # -> $CACHE/bin/kumo-<hash>
#   hack/tools.sh cluster     # -> $CACHE/cluster-<hash>/, holding kube-apiserver,
#                             #    kubelet (v1.36.3), secrets-store-csi-driver
#                             #    (v1.6.1), registrar, pause, mkimage, kapply
set -euo pipefail

name=${1:?usage: hack/tools.sh <tool>}
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${PMP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pmp-secrets-provider}

case "$name" in
  kumo) dir=tools/kumo; pkg=github.com/sivchari/kumo/cmd/kumo ;;
  cluster) dir=tools/cluster ;;
  *) echo "hack/tools.sh: unknown tool $name (known: kumo, cluster)" >&2; exit 2 ;;
esac

if [ "$name" = cluster ]; then
  # Keyed by the module files and our own sources (registrar, pause, ...).
  hash=$(cd "$root/$dir" && find . -name go.mod -o -name go.sum -o -name '*.go' | LC_ALL=C sort |
    xargs cat | sha256sum | cut -c1-12)
  out="$cache/cluster-$hash"
  if [ ! -f "$out/.complete" ]; then
    mkdir -p "$out"
    echo "building kube-apiserver, kubelet, secrets-store-csi-driver (first run only: 8-14 min on 2 cores) ..." >&2
    v=k8s.io/component-base/version
    start=$(date +%s)
    (cd "$root/$dir" && go build -trimpath -o "$out/" \
      -ldflags "-s -w -X $v.gitVersion=v1.36.3 -X $v.gitMajor=1 -X $v.gitMinor=36 -X sigs.k8s.io/secrets-store-csi-driver/pkg/version.BuildVersion=v1.6.1" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubelet \
      sigs.k8s.io/secrets-store-csi-driver/cmd/secrets-store-csi-driver \
      ./registrar ./mkimage ./kapply)
    # pause runs as PID 1 of every pod sandbox: static, no cgo.
    (cd "$root/$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/pause" ./pause)
    echo "built in $(( $(date +%s) - start ))s" >&2
    touch "$out/.complete"
  fi
  echo "$out"
  exit 0
fi

hash=$(cat "$root/$dir/go.mod" "$root/$dir/go.sum" | sha256sum | cut -c1-12)
bin="$cache/bin/$name-$hash"
if [ ! -x "$bin" ]; then
  mkdir -p "$cache/bin"
  echo "building $name (first run only, a few minutes on 2 cores) ..." >&2
  (cd "$root/$dir" && go build -trimpath -o "$bin.tmp" "$pkg")
  mv "$bin.tmp" "$bin"
fi
echo "$bin"
