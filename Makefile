# Twinlane: `make pipeline` runs everything, `make test` tests everything.
SHELL := /bin/bash
TSX := node --import tsx
NPM_STAMP := node_modules/.install-stamp

.PHONY: setup system-deps stack-up stack-down stack-status pipeline test test-unit test-int typecheck bench bench-compare clean-data help

help:
	@echo "make pipeline      install, start the stack and every service, send traffic, open the dashboard"
	@echo "make test          install, start the stack, run unit + integration tests"
	@echo "make bench [ONLY=collector|speed|batch|serving|dlq|schemas|clickhouse|cluster|import] [ROUNDS=3]   medians of ROUNDS rounds, appended to bench/history.jsonl"
	@echo "make bench-compare   the latest bench run against the previous one (a drop over 15% is flagged)"
	@echo "make bench ONLY=clickhouse   the warehouse load of a 10M-event day into ClickHouse"
	@echo "make stack-up | stack-down | stack-status [STACK=cluster]"

# npm ci installs exactly package-lock.json (committed as npm writes it) and never rewrites it.
# Install scripts run only for the packages approved in package.json's allowScripts
# (`npm install-scripts approve <pkg>`); npm lists any other that has one.
$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $(NPM_STAMP)

# Debian packages the tests use: chromium (tracker and dashboard tests drive it through
# playwright-core) and kcat (a Kafka client independent of ours, for the dead-letter tests).
SYSTEM_DEPS := /usr/bin/chromium:chromium /usr/bin/kcat:kcat
# ClickHouse 18.16 (Debian 12's package): the warehouse; `make stack-up` runs it as our own process (stack/clickhouse.ts).
SYSTEM_DEPS += /usr/sbin/clickhouse-server:clickhouse-server /usr/bin/clickhouse-client:clickhouse-client
# promtool (Debian's prometheus package) checks ops/prometheus's alert rules in `make test`; no Prometheus server is started.
SYSTEM_DEPS += /usr/bin/promtool:prometheus
system-deps:
	@for dep in $(SYSTEM_DEPS); do \
	  bin=$${dep%%:*}; pkg=$${dep#*:}; \
	  [ -x $$bin ] && continue; \
	  echo "installing $$pkg (apt-get)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y --no-install-recommends $$pkg >/dev/null || { $$SUDO apt-get update >/dev/null && $$SUDO apt-get install -y --no-install-recommends $$pkg >/dev/null; } || exit 1; \
	done

# npm packages, Debian packages and the Kafka broker jars (Maven Central, cached in ~/.m2).
setup: $(NPM_STAMP) system-deps
	@$(TSX) bin/twinlane.ts stack fetch

# STACK=cluster: three KRaft brokers and a Redis Cluster (3 masters + 3 replicas) beside the single stack.
STACK_FLAG = $(if $(filter cluster,$(STACK)),--cluster,)

stack-up: setup
	@$(TSX) bin/twinlane.ts stack up $(STACK_FLAG)

stack-down: $(NPM_STAMP)
	@$(TSX) bin/twinlane.ts stack down $(STACK_FLAG)

stack-status: $(NPM_STAMP)
	@$(TSX) bin/twinlane.ts stack status $(STACK_FLAG)

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
	@$(TSX) bench/run.ts $(if $(ONLY),--only $(ONLY),) $(if $(ROUNDS),--rounds $(ROUNDS),)

# Every figure of the latest `make bench` run against the previous run (bench/history.jsonl).
bench-compare:
	@$(TSX) bench/compare.ts

# Ctrl-C, SIGTERM (timeout, a supervisor) or SIGHUP (a closed terminal) stops the services it
# started; `node --import tsx bin/twinlane.ts pipeline stop` does when the run is gone.
# PIPELINE_ARGS passes options, e.g. PIPELINE_ARGS="--history-days 7 --live-rate 50".
pipeline: stack-up
	@$(TSX) bin/twinlane.ts pipeline $(PIPELINE_ARGS)
