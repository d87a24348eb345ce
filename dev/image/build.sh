#!/usr/bin/env bash
# Builds the repository's Dockerfile with buildah, on a machine with no Docker engine and no
# registry (make image). Nothing is pulled: the Dockerfile's build stage (GO_IMAGE) is made
# here from the project's Go toolchain (go.mod's toolchain line, as make runs it), and the final
# stage is FROM scratch. Users with
# Docker or a registry build the same Dockerfile unchanged (see docs/getting-started-eks.md).
#
# Writes, under OUTDIR (default _output/image):
#   pmp-secrets-provider-VERSION-linux-amd64.tar  OCI archive (ctr -n k8s.io images import FILE)
#   pmp-secrets-provider-VERSION-linux-arm64.tar  OCI archive
#   pmp-secrets-provider-VERSION.tar              OCI archive of the multi-arch index (both)
# each holding the image localhost/pmp-secrets-provider:VERSION.
#
#   dev/image/build.sh [OUTDIR]
#   VERSION=v0.1.0 PLATFORMS="linux/amd64" dev/image/build.sh
#
# buildah's storage (vfs, chroot isolation: no daemon, no overlay or user namespaces needed)
# lives outside the repo, in $PMP_CACHE_DIR/buildah (default ~/.cache/pmp-secrets-provider).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
export GOTOOLCHAIN # the project's Go release, as make runs it
GOTOOLCHAIN=$("$root/tools/toolchain.sh")
out=${1:-$root/_output/image}
cache=${PMP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pmp-secrets-provider}
name=${IMAGE_NAME:-localhost/pmp-secrets-provider}
version=${VERSION:-$(git -C "$root" describe --tags --always --dirty 2>/dev/null || echo dev)}
revision=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
platforms=${PLATFORMS:-linux/amd64 linux/arm64}
goroot=$(go env GOROOT)
gover=$(go env GOVERSION)

log() { printf '%s [image] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

if ! command -v buildah >/dev/null; then
  log "installing buildah (Debian package) ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah >/dev/null
fi

# TMPDIR: buildah keeps the Dockerfile's cache mounts (module and build caches) in
# $TMPDIR/buildah-cache.
mkdir -p "$cache/buildah/tmp"
b() {
  TMPDIR=$cache/buildah/tmp buildah --root "$cache/buildah/root" --runroot "$cache/buildah/runroot" --storage-driver vfs "$@"
}

certs=/etc/ssl/certs/ca-certificates.crt
[ -s "$certs" ] || { echo "dev/image/build.sh: no $certs on this machine (Debian: apt-get install ca-certificates)" >&2; exit 1; }

start=$(date +%s)

# The build stage's image: GOROOT, CA certificates and the environment the official Go image
# has, keyed by the toolchain's version so a Go upgrade makes a new one.
goimage=localhost/pmp-go-toolchain:${gover#go}
if ! b inspect --type image "$goimage" >/dev/null 2>&1; then
  log "making the build-stage image $goimage from $goroot ..."
  c=$(b from --pull=never scratch)
  trap 'b rm "$c" >/dev/null 2>&1 || true' EXIT
  b copy --quiet "$c" "$goroot" /usr/local/go
  b copy --quiet "$c" "$certs" /etc/ssl/certs/ca-certificates.crt
  empty=$(mktemp -d)
  b copy --quiet --chmod 1777 "$c" "$empty" /tmp
  rmdir "$empty"
  b config --env PATH=/usr/local/go/bin:/go/bin --env GOPATH=/go --env GOTOOLCHAIN=local \
    --env HOME=/root --workingdir /go "$c"
  b commit --quiet "$c" "$goimage" >/dev/null
  b rm "$c" >/dev/null
  trap - EXIT
fi

mkdir -p "$out"
base=$(basename "$name")
index=$out/$base-$version.tar
b manifest rm "$name:$version" >/dev/null 2>&1 || true
b manifest create "$name:$version" >/dev/null
archives=()
for p in $platforms; do
  arch=${p#*/}
  img=$name:$version-$arch
  log "building $img from Dockerfile ($p) ..."
  # No --layers: with vfs every cached step would be a full copy of the toolchain; the
  # Dockerfile's cache mounts make a rebuild fast instead (warm module and build caches), and
  # storage does not grow with each source change. BUILDPLATFORM is passed because buildah 1.28 (Debian 12) sets
  # it to the --platform value, which would ask for an arm64 build stage.
  b build --quiet --isolation chroot --pull=never --platform "$p" \
    --build-arg BUILDPLATFORM="$(go env GOOS)/$(go env GOARCH)" \
    --build-arg GO_VERSION="${gover#go}" --build-arg GO_IMAGE="$goimage" --build-arg VERSION="$version" --build-arg REVISION="$revision" \
    -t "$img" -f "$root/Dockerfile" "$root" >/dev/null
  f=$out/$base-$version-${p//\//-}.tar
  rm -f "$f"
  # The archive's ref name is the full image name, which ctr import keeps as the image's name.
  b push --quiet "$img" "oci-archive:$f:$name:$version"
  b rmi --prune >/dev/null 2>&1 || true
  b manifest add "$name:$version" "$img" >/dev/null
  archives+=("$f")
done
rm -f "$index"
b manifest push --quiet --all "$name:$version" "oci-archive:$index:$name:$version"

log "done in $(( $(date +%s) - start ))s"
echo "image: $name:$version"
for f in "${archives[@]}" "$index"; do
  echo "  $(du -h "$f" | cut -f1)  ${f#"$root"/}"
done
echo "load: ctr -n k8s.io images import ${archives[0]#"$root"/}"
echo "chart: --set image.repository=$name --set image.tag=$version"
