#!/usr/bin/env bash
# Removes whatever a killed test run or demo left behind: test-bed processes, network
# namespaces (picluster-*) and veths (pictb*). Prints what it removed; safe to run twice.
set -uo pipefail
cache="${PICLUSTER_CACHE:-$HOME/.cache/picluster}"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# A demo left running, then whatever dead beds left: slots' netns, veths, etcd data, temp dirs.
"$root/hack/demo-down.sh" 2>/dev/null || true
(cd "$root" && go run ./hack/localcluster -cleanup) || true

if command -v ip >/dev/null; then
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^picluster-'); do
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[ -n "$pids" ] && kill -9 $pids 2>/dev/null
		ip netns del "$ns" && echo "cleanup: removed netns $ns"
	done
	for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^pictb'); do
		ip link del "$link" 2>/dev/null && echo "cleanup: removed veth $link"
	done
fi
# Control-plane binaries all run from the cache; anything still running from there is a leftover.
if pids=$(pgrep -f "$cache/testbed/" 2>/dev/null); then
	kill -9 $pids 2>/dev/null && echo "cleanup: killed leftover test-bed processes $pids"
fi
exit 0
