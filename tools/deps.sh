#!/usr/bin/env bash
# Installs what Tandem's build and tests need on a fresh Debian machine of
# the project's kind, and nothing that is already there. Safe to repeat.
set -euo pipefail

# command:package pairs from Debian.
needs=(
  "ip:iproute2"          # ip netns exec for processes inside the lab
  "ping:iputils-ping"    # end-to-end reachability checks
  "iperf3:iperf3"        # TCP streams through the gateway in tests
  "nft:nftables"         # the kernel baseline of the forwarding benchmark
  "sysctl:procps"        # the same baseline's ip_forward switch
  "tshark:tshark"        # runs the CCP dissector (tools/wireshark) on a capture
)
missing=()
for pair in "${needs[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Go tools, pinned; built from the module proxy into GOPATH/bin.
gobin="$(go env GOPATH)/bin"
want="${GOLANGCI_VERSION:-v2.15.0}"
if ! "$gobin/golangci-lint" version 2>/dev/null | grep -q "version ${want#v}"; then
  echo "deps: building golangci-lint $want (a few minutes, once)"
  GOFLAGS= go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$want"
fi
if [[ ! -x "$gobin/benchstat" ]]; then
  echo "deps: building benchstat"
  GOFLAGS= go install golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
fi
