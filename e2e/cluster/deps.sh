#!/usr/bin/env bash
# Installs the Debian packages the local e2e cluster needs, only those missing.
set -euo pipefail
pkgs=(etcd-server containerd runc containernetworking-plugins busybox-static openssl iptables iproute2 curl)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing ${missing[*]} ..." >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
