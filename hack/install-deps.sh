#!/usr/bin/env bash
# The Debian packages the tests and `make demo` need, listed once. `.ci/run` and
# hack/demo.sh call this first, before any build, so a missing package is named at once
# and never after the test bed's half-hour first build.
#
#   hack/install-deps.sh           install what is missing (as root, with apt-get)
#   hack/install-deps.sh --check   only report what is missing
#   hack/install-deps.sh --list    print the list, one package a line
#
# Everything present: exits 0 silently (one dpkg-query, ~50 ms). Missing packages as root
# with apt-get: `apt-get update` and installs them. Not root, no apt-get or --check: prints
# the missing packages and the command that installs them, and exits 2.
# Go itself (go.mod's version) is not a Debian package here: a missing `go` exits 2 too.
set -euo pipefail

# Why each is needed:
#   make git ca-certificates openssl      the build, krew's index (git), test certificates
#   iproute2 procps util-linux            network namespaces (ip, nsenter), process cleanup
#   postgresql postgresql-client          the backup tests' Postgres (initdb, pg_dump)
#   rsync openssh-server openssh-client   the backup tests' NAS (sshd + rsync)
#   busybox                               restore.sh's tests under BusyBox, the shell and
#                                         tools of the backup's Alpine images
#   hyperfine time                        hack/bench-*.sh
packages=(
	make git ca-certificates openssl iproute2 procps util-linux
	postgresql postgresql-client
	rsync openssh-server openssh-client
	busybox
	hyperfine time
)

log() { printf 'install-deps: %s\n' "$*" >&2; }

mode=install
case "${1:-}" in
"") ;;
--check) mode=check ;;
--list)
	printf '%s\n' "${packages[@]}"
	exit 0
	;;
*)
	log "usage: $0 [--check|--list]"
	exit 2
	;;
esac

# missing prints the packages dpkg does not have installed (status "?i": "ii", "hi"), one a line.
missing() {
	local -A ok=()
	local status name p
	while IFS='|' read -r status name; do
		[[ ${status:1:1} == i ]] && ok[$name]=1
	done < <(dpkg-query -W -f='${db:Status-Abbrev}|${Package}\n' "${packages[@]}" 2>/dev/null || true)
	for p in "${packages[@]}"; do
		[[ -n ${ok[$p]:-} ]] || echo "$p"
	done
}

need_go() {
	command -v go >/dev/null && return 0
	log "no 'go' on PATH: install Go $(awk '$1 == "go" { print $2 }' "$(dirname "${BASH_SOURCE[0]}")/../go.mod") or newer from https://go.dev/dl/"
	exit 2
}

if ! command -v dpkg-query >/dev/null; then
	log "not a Debian system (no dpkg-query); the tests and the demo need these Debian packages (or their equivalents):"
	log "  ${packages[*]}"
	exit 2
fi

mapfile -t absent < <(missing)
if [[ ${#absent[@]} -eq 0 ]]; then
	need_go
	exit 0
fi

if [[ $mode == install && $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
	log "installing ${absent[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${absent[@]}" >/dev/null
	mapfile -t absent < <(missing)
	if [[ ${#absent[@]} -ne 0 ]]; then
		log "still missing after apt-get install: ${absent[*]}"
		exit 2
	fi
	need_go
	exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
	sudo="sudo "
fi
log "missing Debian packages: ${absent[*]}"
log "install them with:"
printf '  %sapt-get update && %sapt-get install -y --no-install-recommends %s\n' "$sudo" "$sudo" "${absent[*]}" >&2
exit 2
