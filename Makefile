# livectl — see README.md. `make run` and `make test` are all a newcomer needs.
GO        ?= go
BIN       := bin/livectl
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS   := -X github.com/livectl/livectl/internal/cli.version=$(VERSION) -X github.com/livectl/livectl/internal/cli.commit=$(COMMIT)
PKGS      := ./...

.PHONY: all build release e2e-arm64 run test test-race bench completions check-completions lint fuzz fuzz-long e2e test-cluster bench-cluster bench-failover bench-sessions bench-signal bench-live bench-media bench-simulcast simulcast-cost fanout first-frame first-frame-chromium clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/livectl

# Static binaries for the platforms serve is deployed on (the edge agents
# run on ARM64 boards): no cgo, so they run on any Linux of that
# architecture, even FROM scratch. Version and commit are stamped as in
# build; -trimpath keeps the build machine's paths out of them.
DIST              := dist
RELEASE_PLATFORMS ?= linux/amd64 linux/arm64
release:
	@mkdir -p $(DIST)
	@set -e; for p in $(RELEASE_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; out=$(DIST)/livectl-$$os-$$arch; \
		echo "building $$out ($(VERSION), $(COMMIT))"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' -o $$out ./cmd/livectl; \
	done
	cd $(DIST) && sha256sum livectl-* > SHA256SUMS

# The linux/arm64 release binary under qemu-user: `version`, then a short
# serve that a probe from this machine's binary gets a decoded frame from.
# It skips, saying why, without qemu-aarch64; .ci/run installs qemu-user
# and requires it to run.
e2e-arm64: build release
	LIVECTL_BIN=$(CURDIR)/$(BIN) LIVECTL_ARM64_BIN=$(CURDIR)/$(DIST)/livectl-linux-arm64 \
		$(GO) test -tags qemu -count=1 -v -timeout 10m -run TestARM64 ./e2e/arm64

run: build
	./$(BIN) serve --dev

# All unit and integration tests; heavy suites have their own targets below.
test:
	$(GO) test -count=1 -timeout 8m $(PKGS)

# Packages one at a time: the race detector slows code 5-10x, and media
# packages run at once starve each other's real-time peers on 2 cores
# (late starters, queue overflow) into failures that are not races.
test-race:
	$(GO) test -race -p 1 -count=1 -timeout 20m $(PKGS)

# Go micro-benchmarks (hot paths, memory per session).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 -timeout 20m $(PKGS)

completions: build
	./$(BIN) completion bash > completions/livectl.bash
	./$(BIN) completion zsh > completions/_livectl
	./$(BIN) completion fish > completions/livectl.fish
	./$(BIN) completion powershell > completions/livectl.ps1

# Fails when the committed completions differ from what the binary generates.
check-completions: build
	@tmp=$$(mktemp -d); \
	./$(BIN) completion bash > $$tmp/livectl.bash; \
	./$(BIN) completion zsh > $$tmp/_livectl; \
	./$(BIN) completion fish > $$tmp/livectl.fish; \
	./$(BIN) completion powershell > $$tmp/livectl.ps1; \
	if ! diff -r $$tmp completions >/dev/null; then \
		diff -r $$tmp completions | head -40; \
		echo "completions/ is out of date: run 'make completions' and commit the result"; rm -rf $$tmp; exit 1; \
	fi; rm -rf $$tmp; echo "completions/ is up to date"

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags 'heavy browser e2e fanout qemu' $(PKGS)

# Short fuzzing runs of every parser of untrusted input (every Fuzz* target).
FUZZTIME ?= 10s
fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

# Deep fuzzing: every target for FUZZTIME (default 10m each, hours in all);
# inputs that found new coverage are copied under the package's
# testdata/fuzz/<target>/ to be committed as seed corpus.
fuzz-long:
	FUZZTIME=$(if $(filter command line environment,$(origin FUZZTIME)),$(FUZZTIME),10m) FUZZ_KEEP_CORPUS=1 ./scripts/fuzz.sh

# End-to-end suites with real programs: headless Chromium (browser tag) and
# the dashboard driven in tmux (e2e tag). They skip, saying why, when
# chromium or tmux is missing; .ci/run installs both.
e2e: build
	LIVECTL_BIN=$(CURDIR)/$(BIN) $(GO) test -tags 'browser e2e' -count=1 -timeout 15m -run 'Browser|Chromium|E2E' ./...

# The cluster with a real redis-server (docs/cluster.md): the cluster
# package in process and three serve processes (e2e tag). Without
# redis-server they skip, saying so; LIVECTL_REQUIRE_REDIS=1 makes that a
# failure (CI).
test-cluster: build
	LIVECTL_BIN=$(CURDIR)/$(BIN) $(GO) test -tags e2e -count=1 -v -timeout 10m ./internal/cluster/...

# A 3-node cluster on loopback (scripts/bench-cluster.sh; needs
# redis-server and jq): 3 × 6,000 sessions in one room with chat, first
# frame through an edge vs at the origin, Redis commands per join and per
# chat message; medians of RUNS. SIZE=500 RUNS=1 for a quick check.
bench-cluster: build
	BIN=$(CURDIR)/$(BIN) ./scripts/bench-cluster.sh

# Failover: SIGKILL of a room's origin, time to frames again at viewers on
# two edges, median of 3 kills (TestFailoverE2E; needs redis-server).
bench-failover: build
	@uptime
	@log=$$(mktemp); LIVECTL_BIN=$(CURDIR)/$(BIN) LIVECTL_FAILOVER_RUNS=3 $(GO) test -tags e2e -count=1 -v -timeout 5m \
		-run '^TestFailoverE2E$$' ./internal/cluster/ >$$log 2>&1; st=$$?; \
		grep -E 'frames again|failover:|FAIL|^ok' $$log || cat $$log; rm -f $$log; uptime; exit $$st

# Server cost per idle session (10,000 held by a child process) and join
# latency with 1,000 sessions connected; see docs/server.md.
bench-sessions:
	$(GO) test ./internal/server -tags heavy -run 'TestIdleSessionCost|TestJoinLatency' -v -count=1 -timeout 10m

# Load runs: serve and the generator as separate processes; see docs/bench.md.
bench-signal:
	./scripts/bench-signal.sh

# Live rooms (a room of 10,000, chat into it); see docs/bench.md.
bench-live:
	./scripts/bench-live.sh

bench-media:
	./scripts/bench-media.sh

# 50 viewers of a simulcast publisher, 25 of them behind 700 kbit/s: layer
# mix, freezes, loss, server CPU (scripts/bench-simulcast.sh; docs/bench-media.md).
bench-simulcast:
	./scripts/bench-simulcast.sh

# Server CPU per packet sent to simulcast viewers against plain ones, 100
# viewers, rounds interleaved (scripts/simulcast-cost.sh; docs/media.md).
simulcast-cost:
	./scripts/simulcast-cost.sh

# One publisher fanned out to FANOUT_SUBS pion subscribers through serve.
FANOUT_SUBS ?= 200
fanout:
	FANOUT_SUBS=$(FANOUT_SUBS) FANOUT_SECONDS=20 FANOUT_RUNS=3 $(GO) test -tags fanout -count=1 -v -timeout 20m ./e2e/fanout

# Time to the first frame against a publisher that ignores keyframe requests:
# probe before/after (BEFORE=rev), and headless Chromium with the GOP catch-up
# all at once and paced (RATES="0 2").
first-frame:
	./scripts/first-frame.sh

first-frame-chromium:
	./scripts/first-frame-chromium.sh

clean:
	rm -rf bin $(DIST)
