#!/usr/bin/env bash
# `make demo`: builds the plugin and the test bed, starts a local cluster of real servers in
# the background (etcd, kube-apiserver, controller-manager, scheduler, kwok; as root also
# Prometheus, Alertmanager and Postgres behind fake pods named as on the real cluster),
# and runs the plugin's main job against it:
#
#   kubectl picluster install            the bundle, server-side applied
#   kubectl picluster install            again: nothing changed
#   localcluster -reconcile              stand-ins for the controllers the bed lacks (Flux,
#                                        External Secrets, prometheus-operator, Immich,
#                                        kube-state-metrics, Discord) and one backup
#   kubectl picluster check --wait 60s   until every check passes, warnings included
#
# It exits with check's exit code when check fails. Running it again reuses the running
# cluster. Stop it with `make demo-down` (hack/demo-down.sh).
# State: ${PICLUSTER_CACHE:-~/.cache/picluster}/demo.
set -euo pipefail
began=$(date +%s%N)
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
state="${PICLUSTER_CACHE:-$HOME/.cache/picluster}/demo"
mkdir -p "$state/bin"

log() { printf 'demo: %s\n' "$*" >&2; }

# First, before any build: a missing Debian package stops here, naming the install command.
hack/install-deps.sh

if [[ $(id -u) -ne 0 ]]; then
	log "needs root: the local cluster's Prometheus, Alertmanager and stand-ins live in a network namespace"
	exit 2
fi

log "building the test bed (cached; the first build takes ~15 min)"
bed=$(hack/build-testbed.sh)
log "building kubectl-picluster and localcluster"
CGO_ENABLED=0 go build -trimpath -o "$state/bin/kubectl-picluster" ./cmd/kubectl-picluster
go build -o "$state/bin/localcluster" ./hack/localcluster

pid=$(cat "$state/localcluster.pid" 2>/dev/null || true)
if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && [[ -f "$state/ready" && ! -S "$state/control.sock" ]]; then
	log "the running local cluster (pid $pid) has no controller stand-ins (an older build): restarting it"
	hack/demo-down.sh
fi
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
export PATH="$state/bin:$bed/bin:$PATH" # kubectl-picluster, localcluster and a matching kubectl

# run prints a command the way a person would type it, then runs it.
run() {
	echo
	echo "\$ $*"
	"$@"
}

echo
echo "# The local cluster runs. Point kubectl and the plugin at it:"
echo "export KUBECONFIG=$KUBECONFIG"
echo "export PATH=$state/bin:$bed/bin:\$PATH   # kubectl-picluster and a matching kubectl"

# The bed's settings: the defaults, but the NAS and the Postgres version are the bed's, so
# the backup Job really dumps and uploads (written by localcluster when it runs as root).
cfg=()
if [[ -n "${PICLUSTER_DEMO_CONFIG:-}" ]]; then
	cfg=(--config "$PICLUSTER_DEMO_CONFIG")
	echo "# settings: $PICLUSTER_DEMO_CONFIG"
fi

run kubectl picluster version
run kubectl picluster "${cfg[@]}" install
echo
echo "# Again: server-side apply of the same bundle changes nothing."
run kubectl picluster "${cfg[@]}" install

echo
echo "# The bed has none of the controllers a real cluster runs. localcluster plays them"
echo "# (and Immich, kube-state-metrics and Discord) against the real API server,"
echo "# Prometheus and Alertmanager of the bed, and runs one backup Job:"
run localcluster -state-dir "$state" -reconcile

echo
echo "# check waits until Prometheus has scraped the new targets and Watchdog reaches"
echo "# Alertmanager; --fail-on-warning makes it wait for those warnings to clear too."
rc=0
run kubectl picluster "${cfg[@]}" check --wait 60s --fail-on-warning || rc=$?

echo
if [[ $rc -ne 0 ]]; then
	log "check failed (exit $rc); the local cluster's log: $state/localcluster.log"
else
	ms=$((($(date +%s%N) - began) / 1000000))
	log "check passed; demo done in $((ms / 1000)).$((ms % 1000 / 100))s"
fi
echo "# The local cluster keeps running (the stand-ins keep reconciling). Stop it with:"
echo "make demo-down   # or hack/demo-down.sh"
exit "$rc"
