// Package krew holds the release's end-to-end tests: the archives of every platform
// are built with hack/release's code, checked against the krew manifest rendered from
// them, validated by krew's own validate-krew-manifest, installed offline by real krew
// (sigs.k8s.io/krew, built by hack/build-krew.sh) and run through kubectl's plugin
// discovery and plugin completion.
//
// This machine's platform is built from the working tree on every run; the other
// release platforms only when the release inputs change, and otherwise come from
// ~/.cache/picluster/release/<key> after a compile check (cache_test.go).
// PICLUSTER_RELEASE_PLATFORMS=linux/amd64 narrows the platforms while iterating.
package krew
