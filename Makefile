# The README's two commands are `make demo` and `make test`; .ci/run calls `make test`.
GO      ?= go
BIN     ?= bin/kubectl-picluster
PKG     := github.com/picluster/kubectl-picluster
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X $(PKG)/pkg/version.Version=$(VERSION) -X $(PKG)/pkg/version.Commit=$(COMMIT)
# Integration packages each start a control plane (~600 MiB): two at a time fit 2 cores.
TEST_P  ?= 2
TESTFLAGS ?=

.PHONY: build testbed test unit lint demo demo-down release clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/kubectl-picluster

# Builds (or finds in ~/.cache/picluster) etcd, the kube control plane, kubectl, kwok and the CRDs.
testbed:
	hack/build-testbed.sh >/dev/null

lint:
	@out=$$(gofmt -l cmd pkg hack test); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Every test, against real servers. Needs root for the in-cluster path (network namespaces).
test: lint
	PICLUSTER_TESTBED_DIR=$$(hack/build-testbed.sh) $(GO) test -count=1 -p $(TEST_P) -timeout 40m $(TESTFLAGS) ./...

# Only the tests that need no server.
unit:
	$(GO) test -count=1 -short ./...

demo:
	hack/demo.sh

demo-down:
	hack/demo-down.sh

# Cross-compiled archives, checksums and the krew manifest in dist/ (see README, Release).
release:
	hack/release.sh -version $(VERSION)

clean:
	rm -rf bin dist
