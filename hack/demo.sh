#!/usr/bin/env bash
# `make demo`: builds the plugin and the test bed, starts a local cluster of real servers in
# the background (etcd, kube-apiserver, controller-manager, scheduler, kwok; as root also
# Prometheus, Alertmanager and Postgres behind fake pods named as on the real cluster),
# prints how to point kubectl at it, and runs the plugin against it.
# Stop it with `make demo-down` (hack/demo-down.sh). State: ${PICLUSTER_CACHE:-~/.cache/picluster}/demo.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
state="${PICLUSTER_CACHE:-$HOME/.cache/picluster}/demo"
mkdir -p "$state/bin"

log() { printf 'demo: %s\n' "$*" >&2; }

log "building the test bed (cached; the first build takes ~15 min)"
bed=$(hack/build-testbed.sh)
log "building kubectl-picluster and localcluster"
CGO_ENABLED=0 go build -trimpath -o "$state/bin/kubectl-picluster" ./cmd/kubectl-picluster
go build -o "$state/bin/localcluster" ./hack/localcluster

pid=$(cat "$state/localcluster.pid" 2>/dev/null || true)
if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && [[ -f "$state/ready" ]]; then
	log "already running (pid $pid)"
else
	rm -f "$state/ready"
	log "starting the local cluster (log: $state/localcluster.log)"
	PICLUSTER_TESTBED_DIR="$bed" setsid nohup "$state/bin/localcluster" -state-dir "$state" \
		>"$state/localcluster.log" 2>&1 </dev/null &
	pid=$!
	for _ in $(seq 1 600); do
		[[ -f "$state/ready" ]] && break
		if ! kill -0 "$pid" 2>/dev/null; then
			log "the local cluster did not start:"
			tail -n 30 "$state/localcluster.log" >&2
			exit 1
		fi
		sleep 0.3
	done
	if [[ ! -f "$state/ready" ]]; then
		log "the local cluster is not ready after 3 minutes; stopping it:"
		tail -n 30 "$state/localcluster.log" >&2
		hack/demo-down.sh
		exit 1
	fi
	grep 'ready after' "$state/localcluster.log" >&2 || true
fi

# shellcheck disable=SC1091
. "$state/env"
echo
echo "# The local cluster runs. Point kubectl and the plugin at it:"
echo "export KUBECONFIG=$KUBECONFIG"
echo "export PATH=$state/bin:$bed/bin:\$PATH   # kubectl-picluster and a matching kubectl"
echo
echo "\$ kubectl picluster version"
PATH="$state/bin:$bed/bin:$PATH" kubectl picluster version
if [[ -n "${PICLUSTER_DEMO_PROMETHEUS_URL:-}" ]]; then
	echo
	echo "\$ kubectl get pods -A -o wide"
	"$bed/bin/kubectl" get pods -A -o wide
fi
echo
echo "# Stop it with: make demo-down   (or hack/demo-down.sh)"
