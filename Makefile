# pmp-secrets-provider: `make help` lists the targets.
SHELL := /usr/bin/env bash
BIN   ?= bin/pmp-secrets-provider
GO    ?= go
PKGS  := ./...
FUZZTIME ?= 20s

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build the provider binary into bin/.
	$(GO) build -trimpath -o $(BIN) .

.PHONY: tools
tools: ## Build the pinned AWS emulator (cached outside the repo).
	@hack/tools.sh kumo >/dev/null

.PHONY: test
test: tools ## Run vet, gofmt check, unit, fuzz-seed and integration tests with -race.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet $(PKGS)
	KUMO_BIN=$$(hack/tools.sh kumo) $(GO) test -race -count=1 $(PKGS)

.PHONY: lint
lint: ## gofmt and go vet.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet $(PKGS)

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME.
	$(GO) test ./provider/params -run=^$$ -fuzz=^FuzzParse$$ -fuzztime=$(FUZZTIME)
	$(GO) test ./provider/params -run=^$$ -fuzz=^FuzzParserMatchesParse$$ -fuzztime=$(FUZZTIME)
	$(GO) test ./provider/flatten -run=^$$ -fuzz=^FuzzFlatten$$ -fuzztime=$(FUZZTIME)

.PHONY: bench
bench: tools ## Run the benchmark harness (provider vs caching off vs null provider) and the Go benchmarks.
	@mkdir -p _output
	set -o pipefail; $(GO) test -run=^$$ -bench=. -benchmem ./provider/... ./server/... | tee _output/gobench.txt
	KUMO_BIN=$$(hack/tools.sh kumo) $(GO) run ./bench -write BENCHMARKS.md -gobench _output/gobench.txt $(BENCHFLAGS)

.PHONY: demo
demo: tools ## Mount the PMP secret from a local AWS emulator into ./demo-volume, no cloud account needed.
	KUMO_BIN=$$(hack/tools.sh kumo) $(GO) run ./hack/demo -dir demo-volume
	@echo; echo "On disk, as the driver writes it (atomic ..data swap):"; ls -l demo-volume | head -6; echo "   ..."

.PHONY: e2e
e2e: ## Bring up a local cluster (etcd, apiserver, kubelet, real CSI driver), run e2e/, tear it down (root).
	hack/e2e.sh

E2E_STATE ?= /tmp/pmp-e2e-dev
.PHONY: e2e-up
e2e-up: ## Bring up the local e2e cluster and leave it running (then: source $(E2E_STATE)/env.sh).
	hack/cluster/up.sh $(E2E_STATE)

.PHONY: e2e-down
e2e-down: ## Tear down the cluster of e2e-up.
	hack/cluster/down.sh $(E2E_STATE)
