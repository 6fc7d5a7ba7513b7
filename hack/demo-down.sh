#!/usr/bin/env bash
# `make demo-down`: stops the local cluster that hack/demo.sh started (SIGTERM, then SIGKILL
# after 30 s) and removes any network namespace or veth a killed bed left behind.
set -euo pipefail
state="${PICLUSTER_CACHE:-$HOME/.cache/picluster}/demo"
log() { printf 'demo-down: %s\n' "$*" >&2; }

pid=$(cat "$state/localcluster.pid" 2>/dev/null || true)
if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
	log "stopping the local cluster (pid $pid)"
	kill -TERM "$pid"
	for _ in $(seq 1 300); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "still running after 30 s: killing it (its servers die with it)"
		kill -KILL "$pid"
	fi
else
	log "no local cluster running"
fi
rm -f "$state/localcluster.pid" "$state/ready" "$state/env" "$state/control.sock"
if [[ -x "$state/bin/localcluster" ]]; then
	"$state/bin/localcluster" -cleanup
fi
log "stopped (logs stay in $state/cluster/logs)"
