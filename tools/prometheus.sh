#!/usr/bin/env bash
# Prints the path of Debian's promtool or prometheus (the `prometheus` package, 2.42 on
# Debian 12), installing the package first when either is missing. make test passes both to
# the chart's monitoring tests (charts/monitoring_test.go).
#
#   tools/prometheus.sh promtool     # -> /usr/bin/promtool
#   tools/prometheus.sh prometheus   # -> /usr/bin/prometheus
set -euo pipefail
name=${1:?usage: tools/prometheus.sh promtool|prometheus}
case "$name" in
  promtool|prometheus) ;;
  *) echo "tools/prometheus.sh: unknown tool $name (known: promtool, prometheus)" >&2; exit 2 ;;
esac
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  echo "installing Debian's prometheus package (promtool, prometheus) ..." >&2
  apt-get update -qq
  # The package would start its service where systemd runs; the tests start their own
  # Prometheus on loopback and never use it.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
command -v "$name"
