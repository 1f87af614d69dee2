#!/usr/bin/env bash
# Installs Prometheus and Alertmanager (Debian's packages `prometheus` and
# `prometheus-alertmanager`) for the alert e2e tests (tests/e2e/test_alerts.py), which
# start their own instances on loopback with generated configuration.
#
# Idempotent: does nothing when both are on PATH (or named by
# TOURNIQUET_PROMETHEUS_BINARY / TOURNIQUET_ALERTMANAGER_BINARY). Installs with apt-get
# as root, or through passwordless sudo; otherwise prints what to run and exits 0: the
# alert e2e tests then skip, and fail when CI=true. The packages' own services are not
# started (a policy-rc.d denies it during the install): the tests need only the binaries.
set -euo pipefail

have() { [ -n "${1:-}" ] && [ -x "$1" ]; }
missing=()
if ! have "${TOURNIQUET_PROMETHEUS_BINARY:-}" && ! command -v prometheus >/dev/null 2>&1; then
  missing+=(prometheus)
fi
if ! have "${TOURNIQUET_ALERTMANAGER_BINARY:-}" \
  && ! command -v prometheus-alertmanager >/dev/null 2>&1 \
  && ! command -v alertmanager >/dev/null 2>&1; then
  missing+=(prometheus-alertmanager)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "promstack: prometheus and alertmanager are installed"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "promstack: missing ${missing[*]} and no apt-get: install Prometheus and Alertmanager" \
    "and put them on PATH (or set TOURNIQUET_PROMETHEUS_BINARY / TOURNIQUET_ALERTMANAGER_BINARY)" >&2
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "promstack: missing ${missing[*]}; as root run:" \
    "apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
  echo "promstack: (until then the alert e2e tests skip; with CI=true they fail)" >&2
  exit 0
fi

echo "promstack: installing ${missing[*]} (Debian packages)"
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" >/dev/null
  "${as_root[@]}" chmod +x "$policy"
  created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then "${as_root[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "promstack: $(prometheus --version 2>&1 | head -1)"
