#!/usr/bin/env bash
# The whole test suite: static checks, unit and conformance tests, and,
# as root, the differential tests against the real kernel in network
# namespaces (installing iptables, nftables, iproute2, tcpdump,
# conntrack and ipset with apt-get when they are missing), and the HTML
# report in headless Chromium (chromium-headless-shell, installed alike). Under CI=true
# (.ci/run sets it) a test whose prerequisites are missing fails instead
# of skipping.
# Usage: ./test.sh [go test flags...]
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	need=()
	for cmd in iptables-nft iptables-legacy nft ip tcpdump conntrack ipset chromium-headless-shell; do
		command -v "$cmd" >/dev/null 2>&1 || need+=("$cmd")
	done
	if [ ${#need[@]} -gt 0 ]; then
		echo "test.sh: installing the kernel tools the tests compare with (${need[*]})"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq iptables nftables iproute2 tcpdump conntrack ipset chromium-headless-shell >/dev/null
	fi
fi

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
go vet ./...
go build -o bin/ipsift ./cmd/ipsift
# The firewall unit tests of the example, as a CI job runs them.
bin/ipsift test examples/gateway.spec
# Kernel comparisons run as root; under CI=true a missing prerequisite
# fails them instead of skipping.
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
IPSIFT_KERNEL_DIFF_SUMMARY=$summary go test -count=1 -timeout 30m "$@" ./...
# The summaries (go test hides the output of passing tests): kernel
# differential testing (run as root only), the corpus and the
# conformance vectors (iptables, ip6tables, ipset, xlate), each test
# adding its line to $summary as it ends (internal/testsummary), sorted
# so that the order does not depend on which package finished first.
sort "$summary"
