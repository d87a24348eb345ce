# Shared helpers for hack/cluster/*.sh. Sourced, not run.
# shellcheck shell=bash

log() { printf '%s [cluster] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# free_port prints a TCP port nobody listens on (loopback or any address).
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 20000 ))
    if ! ss -Htln "sport = :$p" | grep -q .; then
      case " ${PORTS_TAKEN:-} " in *" $p "*) continue ;; esac
      PORTS_TAKEN="${PORTS_TAKEN:-} $p"
      echo "$p"; return 0
    fi
  done
  die "no free port found"
}

# start NAME CMD... runs CMD in its own session, logs to $STATE/logs/NAME.log
# and records "NAME PID" in $STATE/pids so that down.sh stops exactly it.
start() {
  local name=$1; shift
  setsid "$@" >>"$STATE/logs/$name.log" 2>&1 < /dev/null &
  echo "$name $!" >> "$STATE/pids"
}

# wait_for DESC SECONDS CMD... polls CMD every 0.1 s.
wait_for() {
  local desc=$1 secs=$2; shift 2
  local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      die "timed out after ${secs}s waiting for $desc"
    fi
    sleep 0.1
  done
}

pid_of() { awk -v n="$1" '$1 == n { p = $2 } END { print p }' "$STATE/pids"; }
alive() { local p; p=$(pid_of "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
