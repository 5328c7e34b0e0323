# runwire: every set-up step lives here. `make run` serves the app, `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

TOOLS        := $(CURDIR)/.tools
# The project's Python: test clients and build helpers (py-deps, site-release).
VENV         := $(CURDIR)/.venv
export PATH  := $(TOOLS)/bin:$(HOME)/.cargo/bin:$(PATH)
# The wasm-bindgen CLI must be exactly the version pinned in Cargo.toml (and so in Cargo.lock).
WASM_BINDGEN_VERSION := $(shell sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' Cargo.toml)
# The newest cargo-leptos needs a newer rustc than these machines have; 0.3.10 builds on 1.95.
CARGO_LEPTOS_VERSION := 0.3.10

SITE         := target/site
WASM         := target/wasm32-unknown-unknown/debug/runwire.wasm
SERVER       := target/debug/runwire
RUNWIRE_ADDR ?= 127.0.0.1:3000
# Where the test suites keep their throw-away PostgreSQL clusters.
TEST_DATA    := $(CURDIR)/target/test-db
E2E_DATA     := $(CURDIR)/target/e2e-db
E2E_ADDR     ?= 127.0.0.1:3107

export LEPTOS_OUTPUT_NAME := runwire
export LEPTOS_SITE_ROOT   := $(SITE)
export LEPTOS_SITE_PKG_DIR := pkg

.PHONY: help tools run build server site site-release test test-rust py-deps fuzz-deps ts-client test-e2e e2e-deps chromium postgres nginx dev bench fmt lint clean-db sqlx-prepare

help:
	@echo "make run    build everything missing, start the embedded PostgreSQL and serve http://$(RUNWIRE_ADDR)"
	@echo "make test   unit + integration tests on real PostgreSQL, then end2end tests in headless Chromium"
	@echo "make dev    cargo leptos watch (installs cargo-leptos $(CARGO_LEPTOS_VERSION) once, ~16 min)"
	@echo "make lint   cargo fmt --check and clippy with warnings denied"

## tools: the wasm target and a wasm-bindgen CLI of the project's exact version, cached in .tools/
tools: $(TOOLS)/bin/wasm-bindgen-$(WASM_BINDGEN_VERSION)
	@rustup target list --installed | grep -q '^wasm32-unknown-unknown$$' || rustup target add wasm32-unknown-unknown

$(TOOLS)/bin/wasm-bindgen-$(WASM_BINDGEN_VERSION):
	@echo "installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION) into .tools (one time, ~2 min)"
	@# Without --locked: its lock file names a crate version the registry mirror does not serve.
	cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --root $(TOOLS)
	@touch $@

## build: the server binary and the browser bundle in target/site (what cargo-leptos would produce)
build: server site

server:
	cargo build --features ssr --bin runwire

site: tools
	cargo build --lib --target wasm32-unknown-unknown --no-default-features --features hydrate
	@mkdir -p $(SITE)/pkg
	wasm-bindgen $(WASM) --target web --no-typescript --out-dir $(SITE)/pkg --out-name runwire
	@# leptos loads <output-name>.wasm when LEPTOS_OUTPUT_NAME is set at compile time, as cargo-leptos does
	@mv -f $(SITE)/pkg/runwire_bg.wasm $(SITE)/pkg/runwire.wasm
	@cp style/main.css $(SITE)/pkg/runwire.css
	@cp -r public/. $(SITE)/

## site-release: the optimised browser bundle (wasm-release profile: opt-level z, LTO; then binaryen)
## in target/site-release, precompressed with zopfli for the server to send as is; for production and
## for the bundle size `make bench` reports.
## binaryen: its -Oz made the gzip larger than no binaryen at all (602 against 547 KB): its one-caller
## inlining copies functions into their callers, which gzip had compressed well as they were.
## -Os without it (-ocimfs 0) makes the gzip 4% smaller. Pinned: Debian's binaryen 108 breaks
## hydration, so `cargo install wasm-opt` builds 0.116.1 into .tools once (~12 min).
SITE_RELEASE := target/site-release
WASM_OPT_VERSION := 0.116.1
ZOPFLI_VERSION := 0.4.3
WASM_OPT_FEATURES := --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-reference-types --enable-multivalue --enable-mutable-globals
site-release: tools $(TOOLS)/bin/wasm-opt-$(WASM_OPT_VERSION) $(VENV)/.zopfli-$(ZOPFLI_VERSION)
	cargo build --lib --target wasm32-unknown-unknown --no-default-features --features hydrate --profile wasm-release
	@mkdir -p $(SITE_RELEASE)/pkg
	wasm-bindgen target/wasm32-unknown-unknown/wasm-release/runwire.wasm --target web --no-typescript --remove-name-section --remove-producers-section --out-dir $(SITE_RELEASE)/pkg --out-name runwire
	wasm-opt $(WASM_OPT_FEATURES) -Os --one-caller-inline-max-function-size 0 $(SITE_RELEASE)/pkg/runwire_bg.wasm -o $(SITE_RELEASE)/pkg/runwire.wasm
	@rm -f $(SITE_RELEASE)/pkg/runwire_bg.wasm
	@cp style/main.css $(SITE_RELEASE)/pkg/runwire.css
	@cp -r public/. $(SITE_RELEASE)/
	$(VENV)/bin/python tools/precompress.py $(addprefix $(SITE_RELEASE)/pkg/,runwire.wasm runwire.js runwire.css)

$(TOOLS)/bin/wasm-opt-$(WASM_OPT_VERSION):
	@echo "installing wasm-opt $(WASM_OPT_VERSION) (binaryen) into .tools (one time, ~12 min)"
	cargo install wasm-opt --version $(WASM_OPT_VERSION) --root $(TOOLS)
	@touch $@

$(VENV)/.zopfli-$(ZOPFLI_VERSION): $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet --disable-pip-version-check zopfli==$(ZOPFLI_VERSION)
	@touch $@

run: build postgres
	RUNWIRE_DEMO=$${RUNWIRE_DEMO:-1} RUNWIRE_ADDR=$(RUNWIRE_ADDR) $(SERVER) serve

## test: everything CI runs
test: build
	$(MAKE) lint
	$(MAKE) test-rust
	$(MAKE) test-e2e

## py-deps: a project-local venv with schemathesis (the OpenAPI fuzz, tests/fuzz.rs), the official
## OpenTelemetry SDK with its OTLP/HTTP exporter (the foreign-client test, tests/otel_sdk.rs, and e2e)
## and runwire's own package from clients/python
SCHEMATHESIS_VERSION := 4.32.5
OTEL_PYTHON_VERSION := 1.45.2
PY_DEPS := $(VENV)/.installed-$(SCHEMATHESIS_VERSION)-$(OTEL_PYTHON_VERSION)
PY_CLIENT := $(VENV)/.runwire-client
py-deps: $(PY_DEPS) $(PY_CLIENT)
fuzz-deps: py-deps

$(VENV)/bin/python:
	python3 -m venv $(VENV)

$(PY_DEPS): $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet --disable-pip-version-check schemathesis==$(SCHEMATHESIS_VERSION) \
	  opentelemetry-sdk==$(OTEL_PYTHON_VERSION) opentelemetry-exporter-otlp-proto-http==$(OTEL_PYTHON_VERSION)
	@touch $@

# runwire's own Python package, installed as a user would (`pip install ./clients/python`), again
# whenever its sources change; the drop-in test (tests/python_agent.rs) imports it from the venv.
$(PY_CLIENT): $(PY_DEPS) clients/python/pyproject.toml $(wildcard clients/python/runwire/*.py)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps ./clients/python
	@rm -rf clients/python/build clients/python/*.egg-info
	@touch $@

## ts-client: the TypeScript client (clients/typescript) compiled to dist/, for its tests in test-rust
ts-client:
	@cd clients/typescript && { [ -d node_modules/typescript ] || npm ci --no-audit --no-fund; } && npx tsc -p .

# The test cluster is thrown away afterwards: its disk is free again before the e2e build.
test-rust: py-deps ts-client postgres nginx
	@trap '$(SERVER) --data-dir $(TEST_DATA) db stop >/dev/null; rm -rf $(TEST_DATA)' EXIT; \
	  rm -rf $(TEST_DATA); \
	  RUNWIRE_TEST_DATA_DIR=$(TEST_DATA) timeout 1500 cargo test --features ssr

chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

## postgres: PostgreSQL's server binaries (initdb, pg_ctl, postgres) from apt when none are found on
## PATH or in Debian's /usr/lib/postgresql/*/bin (where runwire looks for them); not needed when
## DATABASE_URL names a server.
postgres:
	@[ -n "$$DATABASE_URL" ] || command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  { echo "installing PostgreSQL's server binaries with apt"; apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; }

## nginx: Debian's nginx, for the proxy test (tests/nginx.rs runs deploy/nginx.conf)
nginx:
	@[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null; }

e2e-deps: chromium
	@cd end2end && { [ -d node_modules/@playwright/test ] && [ -d node_modules/@axe-core/playwright ] || npm ci --no-audit --no-fund; }

test-e2e: e2e-deps py-deps postgres
	@rm -rf $(E2E_DATA)
	cd end2end && RUNWIRE_E2E_ADDR=$(E2E_ADDR) RUNWIRE_E2E_DATA=$(E2E_DATA) npx playwright test

## bench: performance figures (release build; not part of `make test`)
BENCH_DATA := $(CURDIR)/target/bench-db
bench: site-release e2e-deps postgres
	@trap '$(SERVER) --data-dir $(BENCH_DATA) db stop >/dev/null 2>&1' EXIT; \
	  $(MAKE) server >/dev/null; \
	  ulimit -n $$(ulimit -Hn); RUNWIRE_TEST_DATA_DIR=$(BENCH_DATA) cargo bench --features ssr --bench dashboard --bench ingest --bench spans --bench live --bench first_load --bench retention

## dev: hot-reloading development server through cargo-leptos
$(TOOLS)/bin/cargo-leptos:
	cargo install cargo-leptos --locked --version $(CARGO_LEPTOS_VERSION) --root $(TOOLS)

dev: tools $(TOOLS)/bin/cargo-leptos
	RUNWIRE_DEMO=1 cargo leptos watch

## sqlx-prepare: refresh .sqlx/, the offline data of the checked queries (`sqlx::query!` and kin),
## after changing a query or a migration. The runwire binary already built (any version) migrates a
## database of its own as far as it knows; a copy of it gets the newer files in migrations/ through
## psql, so a new migration needs no binary that knows it. The crate then compiles against the copy.
SQLX_DATA := $(CURDIR)/target/sqlx-db
sqlx-prepare:
	@test -x $(SERVER) || { echo "build the server first (make server) with the old .sqlx/"; exit 1; }
	@trap '$(SERVER) --data-dir $(SQLX_DATA) db stop >/dev/null 2>&1' EXIT; \
	  $(SERVER) --data-dir $(SQLX_DATA) migrate >/dev/null && \
	  url=$$($(SERVER) --data-dir $(SQLX_DATA) db url) && copy=$${url%/*}/sqlx_prepare && \
	  psql -q "$$url" -c 'DROP DATABASE IF EXISTS sqlx_prepare' -c "CREATE DATABASE sqlx_prepare TEMPLATE $${url##*/}" && \
	  applied=" $$(psql -At "$$copy" -c 'SELECT version FROM _sqlx_migrations' | tr '\n' ' ') " && \
	  for migration in migrations/*.sql; do \
	    version=$$(basename $$migration | cut -d_ -f1); \
	    [[ "$$applied" == *" $$version "* ]] && continue; \
	    echo "applying $$migration"; \
	    psql -q -v ON_ERROR_STOP=1 --single-transaction "$$copy" -f $$migration >/dev/null || exit 1; \
	  done && \
	  rm -rf .sqlx && mkdir .sqlx && touch src/lib.rs && \
	  DATABASE_URL=$$copy SQLX_OFFLINE=false SQLX_OFFLINE_DIR=$(CURDIR)/.sqlx cargo check --features ssr --lib && \
	  echo "$$(ls .sqlx | wc -l) queries in .sqlx/"

fmt:
	cargo fmt

lint:
	cargo fmt --check
	cargo clippy --all-features --all-targets -- -D warnings

clean-db:
	-$(SERVER) db stop
	rm -rf .runwire $(TEST_DATA) $(E2E_DATA)
