# faultline: the set-up and everyday commands. Run as root on Debian 12.
SHELL := /bin/bash
CARGO ?= cargo
CORPUS ?= ../shared/corpus/porcupine
BIN := target/release/faultline
# adya, to compare with in `make bench`: from the PATH, else where the README installs it.
ADYA ?= $(shell command -v adya 2>/dev/null || ls /var/tmp/adya/bin/adya 2>/dev/null)

# Debian packages the build, the local cluster and a test run need.
DEB_PACKAGES := build-essential pkg-config libssl-dev libfontconfig1-dev protobuf-compiler libprotobuf-dev \
	etcd-server etcd-client redis-server redis-sentinel zookeeper default-jre-headless postgresql procps openssh-server iptables iproute2 time \
	faketime libfaketime
# And what only the test suite needs: a browser to look at the report pages.
TEST_DEB_PACKAGES := chromium

.PHONY: all build test bench lint demo install-deps install-test-deps cluster-up cluster-down clean

all: build

## install-deps: install the Debian packages that are missing (apt-get update only when needed)
install-deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "Debian packages: all present"; fi

## install-test-deps: install-deps, plus what only the tests need (headless Chromium)
install-test-deps: install-deps
	@missing=$$(for p in $(TEST_DEB_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "test packages: all present"; fi

## build: release build of the faultline binary
build:
	$(CARGO) build --release

## test: the whole suite (unit, property, corpus, CLI, and the real local-cluster tests; needs root),
##       its test binaries run side by side (tests/run-all.sh; TEST_JOBS=1 for one at a time)
test:
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory install-test-deps; fi
	CARGO=$(CARGO) tests/run-all.sh --profile ci

## lint: formatting and clippy, warnings are errors
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --all-targets --workspace -- -D warnings

## bench: checker timings over the corpus (per file, totals, peak memory), one-key histories and whole-process figures
bench: build
	$(BIN) bench $(CORPUS) --rounds 5
	@echo; echo "== whole process: all $$(tail -n +2 $(CORPUS)/expected.csv | wc -l) corpus histories, one round"
	/usr/bin/time -f "wall %e s, peak %M KiB" $(BIN) bench $(CORPUS) --rounds 1 > /dev/null
	@echo; echo "== kv/c10 as one object (--no-partition)"
	for f in $(CORPUS)/kv/c10-ok.txt $(CORPUS)/kv/c10-bad.txt; do \
		/usr/bin/time -f "$$f: wall %e s, peak %M KiB" $(BIN) check --model kv --no-partition $$f > /dev/null || true; done
	@echo; echo "== the test harness's own cost per operation (in-process no-op client)"
	$(BIN) bench --harness 5 --concurrency 10
	@echo; echo "== a generated history of 10 million cas-register operations (20 M events, 10 000 keys)"
	@h=/tmp/faultline-history-10m.jsonl; test -s $$h || { \
		$(CARGO) run --release -q -p faultline-checkers --example gen_history -- \
			--ops 10000000 --keys 10000 --concurrency 20 --seed 1 $$h.part && mv $$h.part $$h; }
	/usr/bin/time -f "10M ops: wall %e s, peak %M KiB" $(BIN) check --model cas-register /tmp/faultline-history-10m.jsonl
	@echo; echo "== one key, every value written once, 25% of writes info, 10% never completing (gen_one_key), valid and with 1% stale reads"
	@for a in "50 500 0" "50 500 0.01" "200 5000 0" "200 5000 0.01" "1000 100000 0" "1000 100000 0.01"; do set -- $$a; \
		h=/tmp/faultline-one-key-$$1x$$2-$$3.jsonl; test -s $$h || \
			$(CARGO) run --release -q -p faultline-checkers --example gen_one_key -- \
				--processes $$1 --ops $$2 --stale $$3 --seed 1 $$h 2> /dev/null; \
		/usr/bin/time -f "  wall %e s, peak %M KiB" $(BIN) check --model register --time-limit 60 $$h | head -1 || true; done
	@echo; echo "== one key: kv append chains (distinct strings), and registers with a few values repeated (--repeat)"
	@for a in "kv kv-20x300 --workload append --processes 20 --ops 300 --reads 0.1 --info 0.05 --crashed 0" \
		"kv kv-10x300 --workload append --processes 10 --ops 300 --reads 0.1 --info 0.2 --crashed 0" \
		"kv kv-50x5000 --workload append --processes 50 --ops 5000" \
		"register rep1-200x5000 --processes 200 --ops 5000 --repeat 0.01" \
		"register rep1-200x5000-stale --processes 200 --ops 5000 --repeat 0.01 --stale 0.005" \
		"register rep20-50x500 --processes 50 --ops 500 --repeat 0.2" \
		"register jepsen-50x500 --processes 50 --ops 500 --values repeated"; do set -- $$a; \
		m=$$1; h=/tmp/faultline-one-key-$$2.jsonl; shift 2; test -s $$h || \
			$(CARGO) run --release -q -p faultline-checkers --example gen_one_key -- $$@ --seed 1 $$h 2> /dev/null; \
		/usr/bin/time -f "  wall %e s, peak %M KiB" $(BIN) check --model $$m --time-limit 60 $$h | head -1 || true; done
	@echo; echo "== Elle-style checking: a generated list-append history of 1 million transactions (10 workers, 10 active keys)"
	@h=/tmp/faultline-txn-1m.jsonl; test -s $$h || { \
		$(CARGO) run --release -q -p faultline-checkers --example gen_txn -- \
			--txns 1000000 --keys 10 --concurrency 10 --seed 1 $$h.part && mv $$h.part $$h; }
	/usr/bin/time -f "1M txns: wall %e s, user %U s, sys %S s, peak %M KiB" $(BIN) check --workload list-append /tmp/faultline-txn-1m.jsonl
	@echo; echo "== 100 000 transactions: list-append valid, list-append with planted stale and aborted reads, rw-register"
	@for a in "1 0 0 list-append" "1 0.0005 0.2 list-append" "1 0 0 rw-register"; do set -- $$a; \
		h=/tmp/faultline-txn-100k-$$2-$$3-$$4.jsonl; test -s $$h || \
			$(CARGO) run --release -q -p faultline-checkers --example gen_txn -- --workload $$4 \
				--txns 100000 --seed $$1 --stale $$2 --aborted $$3 $$h; \
		/usr/bin/time -f "$$h: wall %e s, user %U s, peak %M KiB" $(BIN) check --workload $$4 $$h | head -1 | cut -c1-160 || true; \
		if [ -n "$(ADYA)" ] && [ -x "$(ADYA)" ]; then \
			/usr/bin/time -f "adya $$h: wall %e s, user %U s, peak %M KiB" $(ADYA) check -m $$4 $$h | head -1 || true; fi; done

	@echo; echo "== the store index with 10 000 made-up runs (paged: the first page is what a browser opens)"
	rm -rf /tmp/faultline-store-10k
	$(BIN) bench --store-index 10000 --keep-store /tmp/faultline-store-10k
	@if [ -x /usr/bin/chromium ]; then \
		chrome="/usr/bin/chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir=/tmp/faultline-store-10k-chromium"; \
		t=/tmp/faultline-store-10k-time; \
		/usr/bin/time -o $$t -f "chromium, a blank page: wall %e s" $$chrome --dump-dom about:blank > /dev/null 2>&1; cat $$t; \
		/usr/bin/time -o $$t -f "chromium, the first index page of 10 000 runs: wall %e s" $$chrome --dump-dom file:///tmp/faultline-store-10k/index.html > /dev/null 2>&1; cat $$t; \
		rm -rf /tmp/faultline-store-10k-chromium $$t; fi

## demo: install what is missing, build, bring up a 5-node local cluster, run a 60 s etcd
## register test with partitions, print the verdict and where the results are
demo: install-deps build
	$(BIN) cluster up --nodes 5
	$(BIN) test --local-cluster 5 --time-limit 60 --nemesis partition-random-halves,partition-majorities-ring --nemesis-interval 5; \
		code=$$?; echo; echo "exit code $$code (0 valid, 1 invalid, 2 unknown)"; \
		echo "report: $$(readlink -f results/latest)/index.html"; \
		echo "browse every run: $(BIN) serve --store results   (then open http://127.0.0.1:8080/)"

## cluster-up / cluster-down: the local 5-node cluster (network namespaces with one sshd each)
cluster-up: build
	$(BIN) cluster up --nodes 5

cluster-down: build
	$(BIN) cluster down

clean:
	$(CARGO) clean
