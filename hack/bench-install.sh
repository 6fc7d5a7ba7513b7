#!/usr/bin/env bash
# Re-applying the unchanged bundle, side by side in one run against the same local API
# server: `kubectl-picluster install` (server-side apply, concurrent within a stage) against
# `kubectl apply --server-side -f` on the YAML that `install --export` prints (kubectl from
# the test bed, same version as the API server). Both run as processes, after warm-up runs,
# so both only re-apply an unchanged bundle (kubectl with its discovery cache warm).
# kubectl applies with the plugin's field manager: as a manager of its own it would conflict
# on the ExternalSecrets' atomic .spec.data lists (the live ones carry ESO's defaults).
# Prints hyperfine's medians and the ratio ours/kubectl (the target is <= 0.5).
#
# Starts its own local cluster (hack/localcluster, no in-cluster monitoring, no root
# needed) in a temporary state dir and stops it on exit. RUNS=N sets the measured runs.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
log() { printf 'bench-install: %s\n' "$*" >&2; }

bed=$(hack/build-testbed.sh)
tmp=$(mktemp -d)
pid=
cleanup() {
	if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		for _ in $(seq 1 300); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

log "building kubectl-picluster and localcluster"
make -s build BIN="$tmp/bin/kubectl-picluster"
go build -o "$tmp/bin/localcluster" ./hack/localcluster

log "starting a local cluster (log: $tmp/state/localcluster.log)"
mkdir -p "$tmp/state"
PICLUSTER_TESTBED_DIR="$bed" "$tmp/bin/localcluster" -state-dir "$tmp/state" -no-monitoring \
	>"$tmp/state/localcluster.log" 2>&1 </dev/null &
pid=$!
for _ in $(seq 1 600); do
	[[ -f "$tmp/state/ready" ]] && break
	if ! kill -0 "$pid" 2>/dev/null; then
		log "the local cluster did not start:"
		tail -n 30 "$tmp/state/localcluster.log" >&2
		exit 1
	fi
	sleep 0.3
done
[[ -f "$tmp/state/ready" ]] || { log "the local cluster is not ready after 3 minutes"; exit 1; }

# shellcheck disable=SC1091
. "$tmp/state/env"
# Default settings, no user files; kubectl keeps its discovery cache under this HOME.
export KUBECONFIG XDG_CONFIG_HOME="$tmp/config" HOME="$tmp/home"
mkdir -p "$XDG_CONFIG_HOME" "$HOME"
plugin="$tmp/bin/kubectl-picluster"
kubectl="$bed/bin/kubectl"

# As on the real cluster, Immich's namespace exists before install.
"$kubectl" create namespace immich >/dev/null
"$plugin" install --export >"$tmp/bundle.yaml"
objects=$(grep -c '^kind:' "$tmp/bundle.yaml")
log "installing the bundle ($objects objects)"
"$plugin" install >/dev/null
"$kubectl" apply --server-side --field-manager=kubectl-picluster -f "$tmp/bundle.yaml" >/dev/null
"$plugin" install >"$tmp/changes.txt"
unchanged=$(grep -c ' unchanged$' "$tmp/changes.txt" || true)
if [[ "$unchanged" != "$objects" ]]; then
	log "re-install is not a no-op ($unchanged of $objects unchanged):"
	cat "$tmp/changes.txt" >&2
	exit 1
fi

runs=${RUNS:-30}
hyperfine -N --warmup 3 --runs "$runs" --export-json "$tmp/bench.json" \
	-n "kubectl apply --server-side -f" "$kubectl apply --server-side --field-manager=kubectl-picluster -f $tmp/bundle.yaml" \
	-n "kubectl picluster install" "$plugin install" >&2
python3 - "$tmp/bench.json" "$objects" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
base = r["kubectl apply --server-side -f"]["median"]
print(f"re-applying the unchanged bundle ({sys.argv[2]} objects), medians of {len(r['kubectl picluster install']['times'])} runs:")
for name, x in r.items():
    print(f"  {name:32s} median {x['median']*1000:7.1f} ms  (min {x['min']*1000:6.1f}, max {x['max']*1000:6.1f})  ratio {x['median']/base:5.2f}x")
PY
