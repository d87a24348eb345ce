#!/usr/bin/env bash
# make e2e: brings up the local cluster (e2e/cluster/up.sh), runs the e2e
# suite against it, and always tears it down (e2e/cluster/down.sh), also on
# failure, Ctrl-C or SIGTERM. Needs root. Component logs are kept in
# ${PMP_E2E_ARTIFACTS:-_output/e2e}.
#
#   e2e/run.sh [go test flags, e.g. -run TestRotation]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export GOTOOLCHAIN # the project's Go release, as make runs it
GOTOOLCHAIN=$("$root/tools/toolchain.sh")
cd "$root"
[ "$(id -u)" = 0 ] || { echo "e2e/run.sh: needs root (it runs a kubelet and containerd)" >&2; exit 1; }
artifacts=${PMP_E2E_ARTIFACTS:-$root/_output/e2e}
rm -rf "$artifacts"
STATE=$(mktemp -d /tmp/pmp-e2e.XXXXXX)
t0=$(date +%s)
stamp() { echo "$(date -u +%H:%M:%S) [e2e] $* ($(( $(date +%s) - t0 ))s since start)" >&2; }

teardown() {
  local rc=$?
  trap - EXIT INT TERM
  stamp "tearing down"
  "$root/e2e/cluster/down.sh" "$STATE" "$artifacts" || rc=${rc/#0/1}
  stamp "done, exit $rc; logs in $artifacts"
  exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$root/e2e/cluster/up.sh" "$STATE"
stamp "cluster up"
# shellcheck disable=SC1091
. "$STATE/env.sh"
go test -tags e2e -count=1 -v -timeout 30m ./e2e/... "$@" 2>&1 | tee "$STATE/logs/go-test.log"
stamp "suite passed"
