#!/usr/bin/env bash
# Prints the Go release the project is built and tested with: the toolchain line of go.mod
# (go1.27.3). The Makefile and every script that runs go export it as GOTOOLCHAIN, so the go
# command switches to that release (fetched once from the module proxy into the module cache)
# whatever the machine's own Go is, and even when its go env says GOTOOLCHAIN=local, which
# makes go ignore go.mod's toolchain line.
#
#   export GOTOOLCHAIN; GOTOOLCHAIN=$(tools/toolchain.sh)
set -euo pipefail
mod=$(cd "$(dirname "$0")/.." && pwd)/go.mod
release=$(sed -n 's/^toolchain \(go[0-9][^ ]*\)$/\1/p' "$mod")
[ -n "$release" ] || { echo "tools/toolchain.sh: no toolchain line in $mod (add one: go mod edit -toolchain=go1.N.P)" >&2; exit 1; }
echo "$release"
