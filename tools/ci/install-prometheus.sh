#!/usr/bin/env bash
# Installs the `prometheus` binary the Prometheus metric-source tests run (test/helpers/prometheus-server.ts), from
# the Debian package, only when `prometheus` is not on PATH already. Idempotent. The tests start their own server
# on a free port with a temporary config, so the system service is kept from starting and stopped if it runs.
set -euo pipefail

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

stop_system_service() {
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    as_root systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  fi
  if [ -x /etc/init.d/prometheus ]; then
    as_root /etc/init.d/prometheus stop >/dev/null 2>&1 || true
  fi
}

if command -v prometheus >/dev/null 2>&1; then
  echo "install-prometheus: $(command -v prometheus) is present ($(prometheus --version 2>&1 | head -n 1))"
  stop_system_service
  exit 0
fi

# Keep the package's maintainer scripts from starting the service during the install: policy-rc.d exit 101 means
# "action forbidden" to invoke-rc.d. An existing policy (e.g. a container's) is left as it is.
policy=/usr/sbin/policy-rc.d
added_policy=no
if [ ! -e "$policy" ]; then
  as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
  added_policy=yes
fi
cleanup() {
  if [ "$added_policy" = yes ]; then as_root rm -f "$policy"; fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
as_root apt-get update -q
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus

stop_system_service
echo "install-prometheus: installed $(command -v prometheus) ($(prometheus --version 2>&1 | head -n 1))"
