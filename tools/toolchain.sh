#!/usr/bin/env bash
# Prints the Go release a module is built with: the toolchain line of its go.mod.
#
#   tools/toolchain.sh              # the product's release (go.mod at the root: go1.27.3)
#   tools/toolchain.sh tools/kumo   # a pinned tool's own release (tools/kumo/go.mod)
#
# The Makefile and every script that runs go export the product's as GOTOOLCHAIN, so the go
# command switches to that release (fetched once from the module proxy into the module cache)
# whatever the machine's own Go is, and even when its go env says GOTOOLCHAIN=local, which
# makes go ignore go.mod's toolchain line. tools/build.sh builds each third-party tool with the
# release pinned in that tool's go.mod instead, so a change of the product's release never
# changes the test cluster, the emulator or helm.
#
#   export GOTOOLCHAIN; GOTOOLCHAIN=$(tools/toolchain.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mod=$root/${1:-.}/go.mod
[ -f "$mod" ] || { echo "tools/toolchain.sh: no $mod" >&2; exit 1; }
release=$(sed -n 's/^toolchain \(go[0-9][^ ]*\)$/\1/p' "$mod")
[ -n "$release" ] || { echo "tools/toolchain.sh: no toolchain line in $mod (add one: go mod edit -toolchain=go1.N.P)" >&2; exit 1; }
echo "$release"
