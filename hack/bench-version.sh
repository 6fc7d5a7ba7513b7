#!/usr/bin/env bash
# Start-up cost, side by side in one run: `kubectl-picluster version` against
# `kubectl version --client` (kubectl from the test bed, same Go toolchain), no cluster.
# Prints hyperfine's medians and the ratio ours/kubectl (the target is <= 1.0).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bed=$(hack/build-testbed.sh)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make -s build BIN="$tmp/kubectl-picluster"
kubectl="$bed/bin/kubectl"
# No cluster: an empty kubeconfig folder, so neither tool finds one.
export KUBECONFIG="$tmp/none" XDG_CONFIG_HOME="$tmp"
runs=${RUNS:-200}
hyperfine -N --warmup 20 --runs "$runs" --export-json "$tmp/bench.json" \
	-n "kubectl version --client" "$kubectl version --client" \
	-n "picluster version --client" "$tmp/kubectl-picluster version --client" \
	-n "picluster version (no cluster)" "$tmp/kubectl-picluster version" >&2
python3 - "$tmp/bench.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
base = r["kubectl version --client"]
for name, med in r.items():
    print(f"{name:34s} median {med*1000:7.2f} ms  ratio {med/base:5.2f}x")
PY
