#!/usr/bin/env bash
# Builds a pinned tool from its module in tools/<name>/ and prints the path of
# the binary. Binaries are cached outside the repo, keyed by the tool's
# go.sum, so a rerun costs nothing and a version bump rebuilds.
#
#   hack/tools.sh kumo        # -> $CACHE/bin/kumo-<hash>
set -euo pipefail

name=${1:?usage: hack/tools.sh <tool>}
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${PMP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pmp-secrets-provider}

case "$name" in
  kumo) dir=tools/kumo; pkg=github.com/sivchari/kumo/cmd/kumo ;;
  *) echo "hack/tools.sh: unknown tool $name (known: kumo)" >&2; exit 2 ;;
esac

hash=$(cat "$root/$dir/go.mod" "$root/$dir/go.sum" | sha256sum | cut -c1-12)
bin="$cache/bin/$name-$hash"
if [ ! -x "$bin" ]; then
  mkdir -p "$cache/bin"
  echo "building $name (first run only, a few minutes on 2 cores) ..." >&2
  (cd "$root/$dir" && go build -trimpath -o "$bin.tmp" "$pkg")
  mv "$bin.tmp" "$bin"
fi
echo "$bin"
