#!/usr/bin/env bash
# `backup status` against the kubectl calls a person makes for the same facts
# (kubectl get cronjob -o json + kubectl get jobs -o json), on the test bed with the
# seed's backup installed and one real backup run: the built plugin and the bed's
# kubectl, alternating, 30 times each; prints the medians and the ratio (target <= 1.0).
# Needs a built bed (hack/build-testbed.sh) and root (the bed runs the backup's pods).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bed=$(hack/build-testbed.sh --locate) || { echo "bench-backup-status: no built test bed; run hack/build-testbed.sh" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make -s build BIN="$tmp/kubectl-picluster"
PICLUSTER_TESTBED_DIR="$bed" PICLUSTER_BENCH_PLUGIN="$tmp/kubectl-picluster" \
	go test ./pkg/cmd/backup -count=1 -v -timeout 15m -run '^TestStatusTimeAgainstKubectl$' >"$tmp/log" 2>&1 || {
	tail -40 "$tmp/log" >&2
	exit 1
}
grep -o 'backup status: median.*' "$tmp/log"
