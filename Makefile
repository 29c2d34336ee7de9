# Tourniquet: the two commands a new machine needs are `make demo` and `make test`.
GO ?= go
# Every go command of this Makefile (vet, build, test, fuzz, run) compiles with the same
# settings as the deployed handler (no cgo, trimmed paths), so each package is compiled once
# into the build cache and shared by all of them: with the defaults of a machine that has a
# C compiler, `make build` and `go test` would each compile msgraph-sdk-go, minutes apiece
# on a cold cache. Tests that build the handler themselves inherit these settings.
export CGO_ENABLED = 0
export GOFLAGS += -trimpath
# The handler runs on Linux in Azure Functions; strip symbols to cut the binary size.
BUILD_FLAGS ?= -ldflags="-s -w"

.PHONY: build test demo functions bench fuzz fuzz-short deps vet fmt

# Azurite (the real Table and Queue service for tests and the demo) comes from npm; the
# headless chromium the report page is tested in from Debian, when missing and installable.
deps: node_modules/.bin/azurite
	@sh scripts/ensure-chromium.sh
node_modules/.bin/azurite: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

# build writes the executable host.json names (customHandler.description.defaultExecutablePath),
# and the analysts' command line to bin/tourniquet (a few seconds: it links no Azure SDK).
build:
	$(GO) build $(BUILD_FLAGS) -o handler ./cmd/handler
	$(GO) build $(BUILD_FLAGS) -o bin/tourniquet ./cmd/tourniquet

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

# fuzz-short runs, in `make test`, every fuzz target whose package does not link the Graph
# SDK, briefly on top of its committed corpus (testdata/fuzz). Instrumented fuzzing rebuilds
# every dependency with coverage instrumentation, and msgraph-sdk-go is minutes of that on a
# cold cache; the targets in SDK packages run their seed corpora as ordinary tests in
# `go test` all the same, and are fuzzed by `make fuzz` (FUZZ_SDK_TARGETS), which CI runs on
# its own. internal/repocheck checks that every fuzz target is in one of the two lists and
# that FUZZ_TARGETS holds no SDK package.
# Budgets are counts of executions, not durations: a duration -fuzztime can fail with a bare
# "context deadline exceeded" when the deadline fires while a worker is mid-call (a race in
# Go's fuzz coordinator, golang/go#75804, fixed in Go 1.27). A count has no deadline to race;
# a real finding still fails and writes its input under testdata/fuzz/. FUZZ_BUDGET (a count,
# e.g. FUZZ_BUDGET=1000000x) overrides every target's own for a longer run.
# Each target's count gives it roughly 5-15 s of exploring on this 2-core machine (execs/s
# measured with `make fuzz-short`: FuzzIdentifiers ~2,200/s, FuzzValidRunID ~12,000/s,
# FuzzDecode ~19,000/s, FuzzClassify ~30,000/s, FuzzDecodeInvocation ~40,000/s,
# FuzzSentinel ~15,000/s).
FUZZ_TARGETS = internal/strictjson:FuzzDecode:150000x internal/ident:FuzzIdentifiers:30000x \
	internal/runs:FuzzValidRunID:100000x internal/functions:FuzzDecodeInvocation:300000x \
	internal/inboxrules:FuzzClassify:150000x internal/triage:FuzzSentinel:100000x
FUZZ_SDK_TARGETS = internal/server:FuzzDecodeStrict:150000x
fuzz-short:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; budget=$${rest#*:}; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $${FUZZ_BUDGET:-$$budget} ./$$pkg; \
	done

# fuzz runs every fuzz target, those of SDK packages too (see fuzz-short).
fuzz:
	@$(MAKE) --no-print-directory fuzz-short FUZZ_TARGETS="$(FUZZ_TARGETS) $(FUZZ_SDK_TARGETS)"
