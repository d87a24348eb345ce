#!/usr/bin/env bash
# Tears down what e2e/cluster/up.sh started under STATE_DIR: stops only the
# processes it recorded, kills the containers, unmounts everything deepest
# first, removes the kubelet's cgroups, the CNI bridge and the KUBE-* iptables
# chains that were not there before, then the state directory. Safe to run
# twice and on a half-started cluster. Logs are copied to ARTIFACTS_DIR first
# when it is given.
#
#   e2e/cluster/down.sh STATE_DIR [ARTIFACTS_DIR]
set -uo pipefail

STATE=${1:?usage: e2e/cluster/down.sh STATE_DIR [ARTIFACTS_DIR]}
artifacts=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=e2e/cluster/lib.sh
. "$here/lib.sh"
[ -d "$STATE" ] || exit 0
touch "$STATE/pids" "$STATE/mounts"
problems=0

# stop NAME...: SIGTERM every recorded PID of NAME that is still ours (a
# session leader started by lib.sh's start), then SIGKILL after 10 s.
stop() {
  local name pid pids=()
  for name in "$@"; do
    while read -r pid; do
      if running "$pid"; then
        kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
      fi
    done < <(awk -v n="$name" '$1 == n { print $2 }' "$STATE/pids")
  done
  [ ${#pids[@]} -eq 0 ] && return 0
  for _ in $(seq 1 100); do
    local left=()
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left+=("$pid"); done
    [ ${#left[@]} -eq 0 ] && return 0
    sleep 0.1
  done
  log "SIGKILL ${left[*]} ($*)"
  kill -KILL "${left[@]}" 2>/dev/null
  sleep 0.2
}

t0=$(date +%s.%N)
step() { log "$* ($(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1fs", b - a }'))"; }
# The controllers first: nothing recreates pods while the node goes.
stop kube-controller-manager kube-scheduler
stop kubelet
stop registrar driver awsfront kumo kumo-failover
step "cluster processes stopped"

# Containers: kill every task of our containerd, then the shims it started.
CTR_SOCK=$STATE/containerd/containerd.sock
if [ -S "$CTR_SOCK" ]; then
  # timeout runs the ctr binary (it sees no shell function, and has no builtin `command`).
  ctr() { timeout 20 ctr --address "$CTR_SOCK" -n k8s.io "$@"; }
  for t in $(ctr tasks ls -q 2>/dev/null); do
    ctr tasks kill -s SIGKILL "$t" >/dev/null 2>&1
  done
  sleep 0.3
  for t in $(ctr tasks ls -q 2>/dev/null); do
    ctr tasks rm -f "$t" >/dev/null 2>&1
  done
fi
stop containerd kube-apiserver etcd
# A shim outlives containerd by design; ours name our socket on their command line.
for pid in $(pgrep -f -- "-address $CTR_SOCK( |$)" 2>/dev/null); do
  kill -KILL "$pid" 2>/dev/null
done
# A container whose task could not be killed outlives its shim: when the
# kubepods cgroups are ours (up.sh found none), whatever still runs in them
# is one of our pods' processes.
if [ -f "$STATE/owns-host" ] && [ -f "$STATE/kubepods-absent" ]; then
  find /sys/fs/cgroup/pids/kubepods -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u |
    while read -r pid; do
      log "SIGKILL $pid, left in the kubepods cgroup"
      kill -KILL "$pid" 2>/dev/null
    done
  sleep 0.2
fi
step "containers, containerd, apiserver, etcd stopped"

# Mounts below the state directory and /run/containerd, deepest first; the
# kubelet bind-mounts its root onto itself, so repeat until none is left.
run_containerd=/nonexistent
grep -qx /run/containerd "$STATE/mounts" && run_containerd=/run/containerd
ours() {
  awk '{ gsub(/\\040/, " ", $5); print $5 }' /proc/self/mountinfo |
    awk -v s="$STATE" -v r="$run_containerd" 'index($0, s "/") == 1 || $0 == s || $0 == r || index($0, r "/") == 1' |
    LC_ALL=C sort -ru
}
for _ in 1 2 3 4 5 6; do
  m=$(ours)
  [ -z "$m" ] && break
  while IFS= read -r p; do
    umount "$p" 2>/dev/null || umount -l "$p" 2>/dev/null
  done <<<"$m"
done
if [ -n "$(ours)" ]; then
  log "still mounted: $(ours | tr '\n' ' ')"; problems=1
fi
[ -f "$STATE/run-containerd-created" ] && rmdir /run/containerd 2>/dev/null

if [ -f "$STATE/owns-host" ]; then
  # Host-wide leftovers, only when up.sh got far enough to own them.
  # cgroups the kubelet created (kubepods), deepest first.
  if [ -f "$STATE/kubepods-absent" ]; then
    for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
      [ -d "$d" ] || continue
      find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
      [ -d "$d" ] && { log "cgroup $d not removed"; problems=1; }
    done
  fi

  # CNI bridge and the KUBE-* chains that were not there before up.sh.
  ip link show pmpe2e0 >/dev/null 2>&1 && ip link del pmpe2e0
  for ipt in iptables ip6tables; do
    for t in filter nat mangle; do
      for c in $("$ipt-save" -t "$t" 2>/dev/null | awk '/^:KUBE-/ { print substr($1, 2) }'); do
        grep -qx "$ipt $t $c" "$STATE/iptables-before" 2>/dev/null && continue
        "$ipt" -t "$t" -S 2>/dev/null | grep -- "-j $c\( \|$\)" | grep -v "^-A $c " |
          sed 's/^-A /-D /' | while read -r rule; do
            # shellcheck disable=SC2086
            "$ipt" -t "$t" $rule 2>/dev/null
          done
        "$ipt" -t "$t" -F "$c" 2>/dev/null
        "$ipt" -t "$t" -X "$c" 2>/dev/null || { log "$ipt chain $t/$c not removed"; problems=1; }
      done
    done
  done

  # The kubelet creates its device-plugin socket under /var/lib/kubelet whatever --root-dir says.
  if [ -f "$STATE/var-lib-kubelet-existed" ]; then
    rm -f /var/lib/kubelet/device-plugins/kubelet.sock
  else
    rm -rf /var/lib/kubelet
  fi

  # libcni's result cache.
  [ -f "$STATE/var-lib-cni-absent" ] && rm -rf /var/lib/cni
  # The kubelet links every container's log into /var/log/containers, whatever podLogsDir says.
  if [ -f "$STATE/var-log-containers-absent" ]; then
    rm -rf /var/log/containers
  else
    find /var/log/containers -maxdepth 1 -type l -lname "$STATE/*" -delete 2>/dev/null
  fi
fi

if [ -n "$artifacts" ]; then
  mkdir -p "$artifacts"
  cp -r "$STATE/logs" "$artifacts/" 2>/dev/null
  cp -r "$STATE/pod-logs" "$artifacts/" 2>/dev/null
fi

still=""
while read -r name pid; do
  kill -0 "$pid" 2>/dev/null && still="$still $name:$pid"
done <"$STATE/pids"
if [ -n "$still" ]; then
  log "still running:$still"; problems=1
fi
if [ "$problems" = 0 ] && [ "${PMP_E2E_KEEP_STATE:-0}" != 1 ]; then
  rm -rf "$STATE"
fi
if [ "$problems" = 0 ]; then
  log "torn down"
else
  log "torn down with problems (state kept in $STATE)"
fi
exit "$problems"
