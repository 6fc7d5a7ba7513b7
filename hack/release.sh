#!/usr/bin/env bash
# Builds a release of kubectl-picluster (see hack/release/main.go for the flags):
#
#   hack/release.sh -version v0.1.0 [-ref HEAD] [-base-url URL] [-platforms linux/amd64,...] [-out dist]
#
# It builds a clean export of -ref (default HEAD), never the working tree, unless -ref=.
#
# dist/ then holds one archive per platform (binary + kubectl_complete-picluster +
# LICENSE; .tar.gz, .zip for Windows), a .sha256 beside each, checksums.txt and
# plugins.yaml, the krew manifest rendered from those very archives. The manifest is
# also copied to ./plugins.yaml and the krew-release-bot template to ./.krew.yaml.
# Cross-compiles with CGO off, -trimpath, -s -w; version and commit stamped by -ldflags.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec go run ./hack/release "$@"
