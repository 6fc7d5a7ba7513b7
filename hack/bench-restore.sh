#!/usr/bin/env bash
# The guided restore against pg_restore called by hand (BenchmarkRestore1GB in
# pkg/cmd/restore): an Immich-like dump of about 1 GB on the test bed, restored by
# `kubectl picluster restore` and by pg_restore directly on the same server with the
# same flags and file, serial and --jobs 2, in rounds of alternating order; then
# drilled. Prints the medians and the ratios. About 40 minutes with two rounds on a
# 2-core machine; run it on a quiet machine (the figures are throughput).
#   PICLUSTER_BENCH_RESTORE_MB  dump size in MB (default 1024)
#   PICLUSTER_BENCH_ROUNDS      rounds of the four arms (default 2)
# Needs a built bed (hack/build-testbed.sh) and root (the bed runs the restore's pods).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bed=$(hack/build-testbed.sh --locate) || { echo "bench-restore: no built test bed; run hack/build-testbed.sh" >&2; exit 2; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
PICLUSTER_TESTBED_DIR="$bed" go test ./pkg/cmd/restore -count=1 -run '^$' -bench '^BenchmarkRestore1GB$' -benchtime 1x -timeout 120m -v >"$log" 2>&1 || {
	tail -40 "$log" >&2
	exit 1
}
grep -E 'bench_test.go:[0-9]+:|BenchmarkRestore1GB' "$log" | sed 's/^ *//'
