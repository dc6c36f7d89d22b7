# Tandem. `make help` lists the targets.

GO               ?= go
GOLANGCI_VERSION := v2.15.0
FUZZTIME         ?= 10s
BENCHCOUNT       ?= 5
BENCH            ?= .

.DEFAULT_GOAL := help

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

deps: ## Install what the build and the tests need (Debian packages, Go tools); safe to repeat
	@GOLANGCI_VERSION=$(GOLANGCI_VERSION) bash tools/deps.sh

build: ## Build every package, and the commands into bin/
	$(GO) build ./...
	$(GO) build -o bin/ ./cmd/... ./tools/lab/cmd/tandem-lab ./tools/xdpgen/cmd/xdpgen

demo: build ## The main job on the embedded default: lab up, AF_XDP on gw1, real traffic, socket statistics (root)
	./bin/tandemd -demo

test: deps ## Everything CI runs: vet, lint, tests with -race (the privileged lab tests too), fuzz and benchmark smoke runs
	@FUZZTIME=$(FUZZTIME) bash tools/test.sh

lint: ## golangci-lint with the project's explicit linter list
	$$($(GO) env GOPATH)/bin/golangci-lint run ./...

fuzz: ## Run every fuzz target for FUZZTIME (default 10s) each
	@FUZZTIME=$(FUZZTIME) bash tools/test.sh fuzz

bench: ## Run benchmarks (BENCH regexp, BENCHCOUNT runs) and print a summary table of their medians
	@BENCH='$(BENCH)' BENCHCOUNT=$(BENCHCOUNT) bash tools/bench.sh

lab-up: build ## Bring the namespace lab up under prefix tdm
	./bin/tandem-lab up

lab-down: build ## Remove the namespace lab with prefix tdm
	./bin/tandem-lab down

PREFIX  ?= /usr/local
DESTDIR ?=
SBINDIR  = $(PREFIX)/sbin
BINDIR   = $(PREFIX)/bin
UNITDIR ?= $(PREFIX)/lib/systemd/system
DOCDIR   = $(PREFIX)/share/doc/tandem
DATADIR  = $(PREFIX)/share/tandem

install: ## Install tandemd, tandemctl, the systemd unit, the example config, the docs and the CCP dissector (PREFIX, DESTDIR)
	$(GO) build -o bin/ ./cmd/tandemd ./cmd/tandemctl
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(DATADIR)/wireshark $(DESTDIR)/etc/tandem
	install -m 0755 bin/tandemd $(DESTDIR)$(SBINDIR)/tandemd
	install -m 0755 bin/tandemctl $(DESTDIR)$(BINDIR)/tandemctl
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' packaging/tandemd.service > $(DESTDIR)$(UNITDIR)/tandemd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/tandemd.service
	install -m 0644 control/config/example.toml $(DESTDIR)/etc/tandem/example.toml
	test -e $(DESTDIR)/etc/tandem/tandemd.toml || install -m 0640 control/config/example.toml $(DESTDIR)/etc/tandem/tandemd.toml
	install -m 0644 docs/operations.md docs/config.md docs/ccp.md $(DESTDIR)$(DOCDIR)/
	install -m 0644 tools/wireshark/ccp.lua $(DESTDIR)$(DATADIR)/wireshark/ccp.lua

clean: ## Remove build output
	rm -rf bin out

.PHONY: help deps build demo test lint fuzz bench lab-up lab-down install clean
