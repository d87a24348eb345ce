#!/usr/bin/env bash
# Readies podman for kind's podman provider on a Debian machine without Docker: installs
# podman (Debian package) when missing and, where this process lacks CAP_SYS_RESOURCE (a
# sandboxed host), tells podman not to set its default rlimits on containers, which runc then
# cannot ("error setting rlimit type 7: operation not permitted"). Root only: kind's podman
# provider needs rootful podman on a cgroup v1 host.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "e2e/kind/podman.sh: run as root (rootful podman)" >&2; exit 1; }
if ! command -v podman >/dev/null; then
  echo "installing podman (Debian package) ..." >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman >/dev/null
fi
# CAP_SYS_RESOURCE is bit 24 of the bounding set.
bnd=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
if (( (16#$bnd >> 24 & 1) == 0 )); then
  conf=/etc/containers/containers.conf
  if ! grep -qs '^[[:space:]]*default_ulimits' "$conf"; then
    echo "e2e/kind/podman.sh: no CAP_SYS_RESOURCE here: setting [containers] default_ulimits = [] in $conf" >&2
    mkdir -p "$(dirname "$conf")"
    if grep -qs '^\[containers\]' "$conf"; then
      sed -i '/^\[containers\]/a default_ulimits = []' "$conf"
    else
      printf '\n[containers]\ndefault_ulimits = []\n' >>"$conf"
    fi
  fi
fi
# kind's podman provider mounts the host's /lib/modules into every node; a host without
# kernel modules on disk (a container or sandbox) has none, and podman then refuses to start
# the node ("statfs /lib/modules: no such file or directory"). An empty one does.
if [ ! -e /lib/modules ]; then
  echo "e2e/kind/podman.sh: creating an empty /lib/modules (kind mounts it into its nodes)" >&2
  mkdir -p /lib/modules
fi
