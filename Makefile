# pmp-secrets-provider: `make help` lists the targets.
SHELL := /usr/bin/env bash
BIN   ?= bin/pmp-secrets-provider
GO    ?= go
PKGS  := ./...
FUZZTIME ?= 20s
GOFILES = $$(git ls-files '*.go')
# Every go command (this one, the tools', the tests' own go build) runs the Go release of go.mod's
# toolchain line, whatever the machine's Go and its GOTOOLCHAIN=local (tools/toolchain.sh).
export GOTOOLCHAIN := $(shell tools/toolchain.sh)

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build the provider binary into bin/.
	$(GO) build -trimpath -o $(BIN) .

.PHONY: image
image: ## Build the Dockerfile with buildah (no Docker engine, no registry) into _output/image/: amd64, arm64, index.
	dev/image/build.sh

.PHONY: tools
tools: ## Build the pinned AWS emulator (cached outside the repo).
	@tools/build.sh kumo >/dev/null

.PHONY: test
test: tools lint vulncheck ## Run lint and vulncheck, then unit, fuzz-seed, integration, chart and monitoring tests (pinned helm, Debian's promtool and prometheus) with -race.
	KUMO_BIN=$$(tools/build.sh kumo) HELM_BIN=$$(tools/build.sh helm) \
	  PROMTOOL_BIN=$$(tools/prometheus.sh promtool) PROMETHEUS_BIN=$$(tools/prometheus.sh prometheus) \
	  $(GO) test -race -count=1 $(PKGS)

.PHONY: unit
unit: ## Only the fast tests: no emulator, no helm (integration and chart tests skip and say so; monitoring tests use promtool and prometheus when installed).
	$(GO) test -count=1 $(PKGS)

.PHONY: lint
lint: ## gofmt, go vet and staticcheck (pinned in tools/lint).
	@gofmt=$$($(GO) env GOROOT)/bin/gofmt; test -z "$$($$gofmt -l $(GOFILES))" || { echo "gofmt needed:"; $$gofmt -l $(GOFILES); exit 1; }
	$(GO) vet $(PKGS)
	$(GO) vet -tags e2e ./e2e/...
	$$(tools/build.sh staticcheck) $(PKGS)
	$$(tools/build.sh staticcheck) -tags e2e ./e2e/...

.PHONY: vulncheck
vulncheck: ## Scan the module and its Go release for known vulnerabilities: pinned govulncheck, against the database pinned in tools/vulndb (no network).
	$$(tools/build.sh govulncheck) -db file://$$(tools/build.sh vulndb) $(PKGS)

.PHONY: fuzz
fuzz: ## Run every fuzz target (each func Fuzz* in a _test.go) for FUZZTIME.
	@set -e; for f in $$(git grep -l '^func Fuzz' -- '*_test.go'); do \
	  for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
	    echo "$(GO) test ./$$(dirname $$f) -run=^$$ -fuzz=^$$target\$$ -fuzztime=$(FUZZTIME)"; \
	    $(GO) test ./$$(dirname $$f) -run=^$$ -fuzz="^$$target\$$" -fuzztime=$(FUZZTIME); \
	  done; \
	done

.PHONY: bench
bench: tools ## Run the benchmark harness (provider vs caching off vs null provider) and the Go benchmarks.
	@mkdir -p _output
	set -o pipefail; $(GO) test -run=^$$ -bench=. -benchmem ./provider/... ./server/... | tee _output/gobench.txt
	KUMO_BIN=$$(tools/build.sh kumo) $(GO) run ./dev/bench -write BENCHMARKS.md -gobench _output/gobench.txt $(BENCHFLAGS)

.PHONY: fleet
fleet: tools ## Simulate a fleet (10, 50, 100 provider processes) against AWS's quotas; writes its section of BENCHMARKS.md (FLEETFLAGS: more harness flags).
	KUMO_BIN=$$(tools/build.sh kumo) $(GO) run ./dev/bench -fleet -write BENCHMARKS.md $(FLEETFLAGS)

.PHONY: demo
demo: tools ## Mount the PMP secret from a local AWS emulator into ./demo-volume, no cloud account needed.
	KUMO_BIN=$$(tools/build.sh kumo) $(GO) run ./dev/demo -dir demo-volume
	@echo; echo "On disk, as the driver writes it (atomic ..data swap):"; ls -l demo-volume | head -6; echo "   ..."

.PHONY: e2e
e2e: ## Bring up a local cluster (etcd, apiserver, controller-manager, scheduler, kubelet, real CSI driver), run e2e/, tear it down (root).
	e2e/run.sh

.PHONY: e2e-kind
e2e-kind: ## The same e2e suite on a kind cluster (Docker; or podman as root, node image built here), deleted afterwards.
	e2e/kind/run.sh

E2E_STATE ?= /tmp/pmp-e2e-dev
.PHONY: e2e-up
e2e-up: ## Bring up the local e2e cluster and leave it running (then: source $(E2E_STATE)/env.sh).
	e2e/cluster/up.sh $(E2E_STATE)

.PHONY: e2e-down
e2e-down: ## Tear down the cluster of e2e-up.
	e2e/cluster/down.sh $(E2E_STATE)
