# Tourniquet: the two commands a new machine needs are `make demo` and `make test`.
GO ?= go
# The handler runs on Linux in Azure Functions; strip symbols to cut the binary size.
BUILD_FLAGS ?= -trimpath -ldflags="-s -w"

.PHONY: build test demo functions bench fuzz-short deps vet fmt

# Azurite (the real Table and Queue service for tests and the demo) comes from npm; the
# headless chromium the report page is tested in from Debian, when missing and installable.
deps: node_modules/.bin/azurite
	@sh scripts/ensure-chromium.sh
node_modules/.bin/azurite: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

# build writes the executable host.json names (customHandler.description.defaultExecutablePath),
# and the analysts' command line to bin/tourniquet (a few seconds: it links no Azure SDK).
build:
	CGO_ENABLED=0 $(GO) build $(BUILD_FLAGS) -o handler ./cmd/handler
	CGO_ENABLED=0 $(GO) build $(BUILD_FLAGS) -o bin/tourniquet ./cmd/tourniquet

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
	$(MAKE) fuzz-short

# demo remediates a seeded compromised user in the built-in tenant simulator, through the
# handler running under the host emulator with Azurite, prints a before/after report, and
# ends by writing the report page of its first run to a file and printing its path.
demo: deps build
	$(GO) run ./cmd/demo

# bench prints one table: remediation latency vs the critical path, throughput through the
# queues under throttling, cold start and memory, per-invocation overhead (docs/performance.md).
# TOURNIQUET_BENCH_LONG=1 runs the throughput part with 1,000 users.
bench: deps build
	$(GO) run ./cmd/bench

# fuzz-short runs every fuzz target briefly on top of its committed corpus (testdata/fuzz).
# Budgets are counts of executions, not durations: a duration -fuzztime can fail with a bare
# "context deadline exceeded" when the deadline fires while a worker is mid-call (a race in
# Go's fuzz coordinator, golang/go#75804, fixed in Go 1.27). A count has no deadline to race;
# a real finding still fails and writes its input under testdata/fuzz/. FUZZ_BUDGET (a count,
# e.g. FUZZ_BUDGET=1000000x) overrides every target's own for a longer run.
# Each target's count gives it roughly 5-15 s of exploring on this 2-core machine (execs/s
# measured with `make fuzz-short`: FuzzIdentifiers ~2,200/s, FuzzValidRunID ~12,000/s,
# FuzzDecodeStrict ~20,000/s, FuzzClassify ~30,000/s, FuzzDecodeInvocation ~40,000/s).
FUZZ_TARGETS = internal/server:FuzzDecodeStrict:150000x internal/graph:FuzzIdentifiers:30000x \
	internal/runs:FuzzValidRunID:100000x internal/functions:FuzzDecodeInvocation:300000x \
	internal/inboxrules:FuzzClassify:150000x
fuzz-short:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; budget=$${rest#*:}; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $${FUZZ_BUDGET:-$$budget} ./$$pkg; \
	done
