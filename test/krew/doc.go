// Package krew holds the release's end-to-end tests: the archives of every platform
// are built with hack/release's code, checked against the krew manifest rendered from
// them, validated by krew's own validate-krew-manifest, installed offline by real krew
// (sigs.k8s.io/krew, built by hack/build-krew.sh) and run through kubectl's plugin
// discovery and plugin completion.
//
// The build covers every release platform (on 2 cores: ~1 min warm, several minutes
// cold); PICLUSTER_RELEASE_PLATFORMS=linux/amd64 limits it while iterating.
package krew
