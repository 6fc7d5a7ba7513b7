#!/usr/bin/env bash
# Copies the upstream charts the tests render from ../shared/charts (beside the checkout;
# never committed) into ~/.cache/picluster/charts, checking each by name and sha256, so
# that tests find them wherever the checkout is (internal/charts looks in both places).
# Keep the list in step with internal/charts.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/../shared/charts"
dst="${XDG_CACHE_HOME:-$HOME/.cache}/picluster/charts"

charts=(
	"kube-prometheus-stack-83.4.0.tgz 9be047e78b248eed94886066b630900eba18a561ab6925c04ef9a9c7a6dca884"
)

mkdir -p "$dst"
for entry in "${charts[@]}"; do
	read -r name sum <<<"$entry"
	if [[ -f "$dst/$name" ]] && echo "$sum  $dst/$name" | sha256sum --check --status; then
		echo "cache-charts: $name cached"
		continue
	fi
	if [[ ! -f "$src/$name" ]]; then
		echo "cache-charts: $name is neither in $src nor in $dst" >&2
		exit 1
	fi
	if ! echo "$sum  $src/$name" | sha256sum --check --status; then
		echo "cache-charts: $src/$name does not have the pinned sha256 $sum" >&2
		exit 1
	fi
	tmp="$(mktemp "$dst/.$name.XXXXXX")"
	cp "$src/$name" "$tmp"
	chmod 0644 "$tmp"
	mv "$tmp" "$dst/$name"
	echo "cache-charts: $name copied into $dst"
done
