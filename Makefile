# Twinlane: `make pipeline` runs everything, `make test` tests everything.
SHELL := /bin/bash
TSX := node --import tsx
NPM_STAMP := node_modules/.install-stamp

.PHONY: setup system-deps stack-up stack-down stack-status pipeline test test-unit test-int typecheck bench clean-data help

help:
	@echo "make pipeline      install, start the stack and every service, send traffic, open the dashboard"
	@echo "make test          install, start the stack, run unit + integration tests"
	@echo "make bench [ONLY=collector|speed|batch|serving|dlq|schemas]"
	@echo "make stack-up | stack-down | stack-status"

$(NPM_STAMP): package.json package-lock.json
	@# npm ci refuses the lockfile: the registry mirror lacks optional DuckDB bindings of other platforms; install keeps the locked versions.
	npm install --no-audit --no-fund
	@touch $(NPM_STAMP)

# Debian packages the tests use: chromium (tracker and dashboard tests drive it through playwright-core).
system-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "installing chromium (apt-get)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y --no-install-recommends chromium >/dev/null || { $$SUDO apt-get update >/dev/null && $$SUDO apt-get install -y --no-install-recommends chromium >/dev/null; }; \
	fi

# npm packages, Debian packages and the Kafka broker jars (Maven Central, cached in ~/.m2).
setup: $(NPM_STAMP) system-deps
	@$(TSX) bin/twinlane.ts stack fetch

stack-up: setup
	@$(TSX) bin/twinlane.ts stack up

stack-down: $(NPM_STAMP)
	@$(TSX) bin/twinlane.ts stack down

stack-status: $(NPM_STAMP)
	@$(TSX) bin/twinlane.ts stack status

typecheck: setup
	npx tsc --noEmit
	npm run --silent lint:deps

test: stack-up
	npx tsc --noEmit
	npm run --silent lint:deps
	npx vitest run

test-unit: setup
	npx vitest run --project unit

test-int: stack-up
	npx vitest run --project integration --project faults

bench: stack-up
	@$(TSX) bench/run.ts $(if $(ONLY),--only $(ONLY),)

pipeline: stack-up
	@$(TSX) bin/twinlane.ts pipeline
