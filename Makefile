# Tourniquet: the two commands a new machine needs are `make demo` and `make test`.
GO ?= go
# The handler runs on Linux in Azure Functions; strip symbols to cut the binary size.
BUILD_FLAGS ?= -trimpath -ldflags="-s -w"

.PHONY: build test demo functions bench deps vet fmt

# Azurite (the real Table and Queue service for tests and the demo) comes from npm.
deps: node_modules/.bin/azurite
node_modules/.bin/azurite: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

# build writes the executable host.json names (customHandler.description.defaultExecutablePath).
build:
	CGO_ENABLED=0 $(GO) build $(BUILD_FLAGS) -o handler ./cmd/handler

# functions regenerates the function folders from the registry in internal/functions.
functions:
	$(GO) run ./cmd/genfunctions -root .

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# test runs unit and integration tests; integration tests start Azurite and the real
# handler binary under the host emulator.
test: deps fmt vet build
	$(GO) test -count=1 -timeout 25m ./...

# demo remediates a seeded compromised user in the built-in tenant simulator, through the
# handler running under the host emulator with Azurite, and prints a before/after report.
demo: deps build
	$(GO) run ./cmd/demo

bench: deps build
	$(GO) test -run '^$$' -bench . -benchmem ./...
