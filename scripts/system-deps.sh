#!/usr/bin/env bash
# Installs the Debian packages the tests (and, with --bench, the benchmarks) run as real peers:
# openssl makes and cross-checks the test certificates; ip (iproute2) makes the network namespaces
# the in-place upgrade test runs in; h2load (nghttp2-client) drives the HTTP/2 benchmarks. Only what
# is missing is installed; needs root and Debian's package index.
set -euo pipefail

declare -A wanted=([openssl]=openssl [ip]=iproute2)
if [[ "${1:-}" == "--bench" ]]; then wanted[h2load]=nghttp2-client; fi

missing=()
for command in "${!wanted[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${wanted[$command]}")
done
if ((${#missing[@]} == 0)); then
  echo "== system packages: all present"
  exit 0
fi
echo "== installing system packages: ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  echo "system-deps: run as root (or install ${missing[*]} yourself)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
