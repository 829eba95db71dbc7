# nspawnctl build and test entry points. "make e2e" needs root; it boots a
# systemd test host in a network namespace (see e2e/README.md).

GO ?= go
BIN ?= bin/nspawnctl
E2E_PATTERN ?=

.PHONY: all build test vet fmt-check examples-check check e2e e2e-deps e2e-clean e2e-clean-cache bench-nat bench-validate

all: build test

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/nspawnctl

test:
	$(GO) test ./...

vet:
	$(GO) vet ./...

# Every example must be in canonical format (nspawnctl fmt).
examples-check:
	$(GO) run ./cmd/nspawnctl fmt --check examples

# The README's test command, and what CI runs: static checks, every unit,
# golden and kernel test, then the end-to-end scenarios on a booted test host.
check: vet fmt-check examples-check test e2e

fmt-check:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# The end-to-end scenarios (root; installs its Debian packages first).
e2e:
	E2E_PATTERN='$(E2E_PATTERN)' e2e/run.sh

e2e-deps:
	e2e/install-deps.sh

# Removes what killed e2e runs left behind (test hosts, namespaces, roots).
e2e-clean:
	$(GO) run ./e2e/cleanup

# Also drops the cached images, so the next e2e run rebuilds them.
e2e-clean-cache:
	$(GO) run ./e2e/cleanup -cache

# Side-by-side benchmark of port forwards against Podman's netavark 1.4 (root;
# runs only in network namespaces it creates). Installs its Debian packages.
bench-nat:
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nftables iproute2 util-linux wrk podman netavark runc iptables
	nat/bench/compare.sh
	$(GO) test ./nat -run '^$$' -bench . -benchtime 3x

# Growth of validation from 1,000 to 10,000 machines: callgrind instruction
# counts (load-independent) and the Go benchmarks (-count 6, benchstat).
bench-validate:
	machine/bench/validate.sh
