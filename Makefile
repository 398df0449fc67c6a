# make build      the static binary ./agent-entrypoint, stamped, for this machine's architecture
# make test       every test (go test ./...; the integration tests need root and Docker)
# make demo       the main scenario, step by step (integration/demo.sh, as root)
# make bench      the benchmarks (bench/run.sh, as root)
# make release    dist/: binaries for eight architectures, SBOMs, VEX, .deb, .apk,
#                 SHA256SUMS, and the local image agent-entrypoint:VERSION (see release/README.md)
#                 make release VERSION=v0.3.0
# make vulncheck  govulncheck, offline, on the source and on dist/'s amd64 binary
#
# Builds use the release toolchain: the go command fetches it from the module
# proxy. GOTOOLCHAIN=local make build builds with the installed Go instead.

GO          ?= go
GOTOOLCHAIN ?= go1.27.3
VERSION     ?=
COMMIT      := $(shell git rev-parse HEAD 2>/dev/null)
BUILD_VERSION := $(or $(VERSION),$(shell git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null),devel)

.PHONY: build test demo bench release vulncheck clean

build:
	CGO_ENABLED=0 GOTOOLCHAIN=$(GOTOOLCHAIN) $(GO) build -trimpath -buildvcs=false \
		-ldflags '-w -buildid= -X main.stampedVersion=$(BUILD_VERSION) -X main.stampedCommit=$(COMMIT)' \
		-o agent-entrypoint ./cmd/agent-entrypoint
	./agent-entrypoint --version

test:
	$(GO) test ./...

demo:
	bash integration/demo.sh

bench:
	bash bench/run.sh

release:
	$(GO) run ./release -toolchain $(GOTOOLCHAIN) $(if $(VERSION),-version $(VERSION))

vulncheck:
	$(GO) run ./release vulncheck -toolchain $(GOTOOLCHAIN) ./...
	test ! -e dist/agent-entrypoint-linux-amd64 || $(GO) run ./release vulncheck -mode binary dist/agent-entrypoint-linux-amd64

clean:
	rm -rf dist agent-entrypoint
