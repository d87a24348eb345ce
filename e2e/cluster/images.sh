#!/usr/bin/env bash
# Writes the e2e images as OCI archives, without a registry or a Dockerfile:
#   OUTDIR/pause.tar    pmp-e2e.local/pause:e2e    our pause program (sandbox image)
#   OUTDIR/busybox.tar  pmp-e2e.local/busybox:e2e  the host's static busybox, every applet linked
# Load them with `ctr -n k8s.io images import` (up.sh) or `kind load image-archive`.
#
#   e2e/cluster/images.sh OUTDIR
set -euo pipefail
out=${1:?usage: e2e/cluster/images.sh OUTDIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
export GOTOOLCHAIN # the project's Go release, as make runs it
GOTOOLCHAIN=$("$root/tools/toolchain.sh")
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
(cd "$root" && go build -trimpath -o "$bin/" ./e2e/cluster/mkimage)
# pause runs as PID 1 of every pod sandbox: static, no cgo.
(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin/pause" ./e2e/cluster/pause)
busybox=$(command -v busybox || echo /bin/busybox)
file "$busybox" 2>/dev/null | grep -q "dynamically linked" &&
  { echo "images.sh: $busybox is dynamically linked; install a static one (Debian: busybox-static)" >&2; exit 1; }
mkdir -p "$out"
"$bin/mkimage" -o "$out/pause.tar" -name pmp-e2e.local/pause:e2e -file "/pause=$bin/pause" -cmd /pause
links=()
for a in $("$busybox" --list); do [ "$a" = busybox ] || links+=(-link "/bin/$a=busybox"); done
"$bin/mkimage" -o "$out/busybox.tar" -name pmp-e2e.local/busybox:e2e \
  -file "/bin/busybox=$busybox" "${links[@]}" -cmd /bin/sh
