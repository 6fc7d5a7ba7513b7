#!/usr/bin/env bash
# Builds krew and validate-krew-manifest (sigs.k8s.io/krew, pinned in hack/krew/go.mod)
# for the release test, cached OUTSIDE the clone and keyed by the version and a hash of
# the pinning module:
#
#   ${PICLUSTER_CACHE:-$HOME/.cache/picluster}/tools/krew-<version>_<hash>/bin/{krew,validate-krew-manifest}
#
# Prints the bin dir on stdout; progress goes to stderr. Cold: ~10 s on 2 cores.
# The module lives in hack/krew, not hack/tools: build-testbed.sh keys its 15-minute
# cache on every file under hack/tools.
set -euo pipefail

KREW_VERSION=v0.4.3

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf 'build-krew: %s\n' "$*" >&2; }

hash=$(cd "$root" && cat hack/krew/go.mod hack/krew/go.sum hack/krew/tools.go hack/build-krew.sh | sha256sum | cut -c1-12)
cache="${PICLUSTER_CACHE:-$HOME/.cache/picluster}/tools"
dest="$cache/krew-${KREW_VERSION}_$hash"
if [[ -x "$dest/bin/krew" && -x "$dest/bin/validate-krew-manifest" ]]; then
	echo "$dest/bin"
	exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.krew.lock"
if command -v flock >/dev/null && ! flock -n 9; then
	log "another build runs: waiting for $cache/.krew.lock"
	flock 9
fi
if [[ -x "$dest/bin/krew" && -x "$dest/bin/validate-krew-manifest" ]]; then
	echo "$dest/bin"
	exit 0
fi

tmp=$(mktemp -d "$cache/.tmp-krew.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log "building krew $KREW_VERSION"
# -mod=readonly: the pinned go.sum must cover everything, nothing is resolved anew.
(cd "$root/hack/krew" && CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=readonly go build -trimpath -buildvcs=false \
	-ldflags="-s -w -X sigs.k8s.io/krew/internal/version.gitTag=$KREW_VERSION" \
	-o "$tmp/bin/" sigs.k8s.io/krew/cmd/krew sigs.k8s.io/krew/cmd/validate-krew-manifest)
chmod 755 "$tmp"
rm -rf "$dest"
mv -T "$tmp" "$dest"
trap - EXIT
# Drop builds of older pins.
find "$cache" -maxdepth 1 -name 'krew-*' ! -path "$dest" -exec rm -rf {} +
echo "$dest/bin"
