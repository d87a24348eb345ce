# Shared helpers for e2e/cluster/*.sh. Sourced, not run.
# shellcheck shell=bash

log() { printf '%s [cluster] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# free_port prints a TCP port below the kernel's ephemeral range (so no
# outgoing connection can hold it) that no socket uses, in any state, and
# that no earlier free_port of this cluster printed: they are kept in
# $STATE/ports, since each PORT=$(free_port) runs in a subshell (a
# variable would not remember them, and two servers got the same port).
free_port() {
  local p lo taken=${STATE:?}/ports
  touch "$taken"
  read -r lo _ </proc/sys/net/ipv4/ip_local_port_range
  [ "$lo" -gt 12000 ] || lo=32768
  for _ in $(seq 1 200); do
    p=$(( 10000 + RANDOM % (lo - 10000) ))
    grep -qx "$p" "$taken" && continue
    if ! ss -Htan "( sport = :$p or dport = :$p )" | grep -q .; then
      echo "$p" >>"$taken"
      echo "$p"; return 0
    fi
  done
  die "no free port found"
}

# running PID: PID is alive and still the session leader start made it
# (not a recycled number).
running() {
  kill -0 "$1" 2>/dev/null && [ "$(ps -o sid= -p "$1" | tr -d ' ')" = "$1" ]
}

# start NAME CMD... runs CMD in its own session, logs to $STATE/logs/NAME.log
# and records "NAME PID" in $STATE/pids so that down.sh stops exactly it.
start() {
  local name=$1; shift
  setsid "$@" >>"$STATE/logs/$name.log" 2>&1 < /dev/null &
  echo "$name $!" >> "$STATE/pids"
}

# wait_for DESC SECONDS CMD... polls CMD every 0.1 s. With WAIT_PROC=NAME,
# it fails at once when that recorded process has exited, showing its log.
wait_for() {
  local desc=$1 secs=$2; shift 2
  local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    if [ -n "${WAIT_PROC:-}" ] && ! alive "$WAIT_PROC"; then
      tail -n 5 "$STATE/logs/$WAIT_PROC.log" >&2
      die "$WAIT_PROC exited while waiting for $desc (log: $STATE/logs/$WAIT_PROC.log)"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      die "timed out after ${secs}s waiting for $desc"
    fi
    sleep 0.1
  done
}

pid_of() { awk -v n="$1" '$1 == n { p = $2 } END { print p }' "$STATE/pids"; }
alive() { local p; p=$(pid_of "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
