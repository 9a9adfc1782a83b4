# provledger — `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help openapi install up test browser test-unit lint format bench bench-ingest bench-handover bench-workers bench-query bench-cold-facts bench-pack bench-decode bench-backfill bench-sql bench-idle bench-detect bench-verify bench-hook bench-install bench-peer bench-rebuild bench-memory bench-indexes bench-commit-reads bench-write-long bench-row-groups bench-checkpoint kafka-start kafka-stop clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[server,dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install provledger with its server extra and dev tools

up: $(STAMP) ## run the product: local Kafka, ledger, API on :8000 and the demo incident
	$(BIN)/provledger up

kafka-start: $(STAMP) ## start the local Kafka broker (fetches the jars on first run)
	$(BIN)/provledger kafka start

kafka-stop: $(STAMP) ## stop the local Kafka broker
	$(BIN)/provledger kafka stop

test: $(STAMP) browser ## lint, then run every test tier against a real broker (started if needed)
	$(BIN)/ruff check producers ledger query schemas tests bench
	$(BIN)/ruff format --check producers ledger query schemas tests bench
	$(BIN)/mypy
	$(PY) -m pytest -q -p no:cacheprovider

# The browser tests drive Debian's chromium through Playwright, which never downloads a browser here.
browser: ## install Debian's chromium for the browser tests, if it is missing (needs root or sudo)
	@command -v chromium >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

test-unit: $(STAMP) ## the unit tests alone (no I/O)
	$(PY) -m pytest -q tests/unit

lint: $(STAMP) ## ruff lint and format check, mypy type check (settings in pyproject.toml)
	$(BIN)/ruff check producers ledger query schemas tests bench
	$(BIN)/ruff format --check producers ledger query schemas tests bench
	$(BIN)/mypy

format: $(STAMP) ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix producers ledger query schemas tests bench
	$(BIN)/ruff format producers ledger query schemas tests bench

bench: bench-decode bench-ingest bench-handover bench-workers bench-query bench-cold-facts bench-pack bench-backfill bench-sql bench-idle bench-detect bench-verify bench-hook bench-install bench-peer bench-rebuild bench-memory bench-indexes bench-commit-reads bench-write-long bench-row-groups bench-checkpoint ## every benchmark (minutes)

bench-decode: $(STAMP) ## decode events/s per core, Avro and JSON
	$(PY) bench/bench_decode.py

bench-ingest: $(STAMP) ## end-to-end ingest through a real broker vs the no-Kafka ceiling
	@test -n "$$PROVLEDGER_KAFKA_BOOTSTRAP" || $(BIN)/provledger kafka start
	$(PY) bench/bench_ingest.py
	$(PY) bench/bench_log.py

bench-handover: $(STAMP) ## serve's consumer thread per record: a KafkaRecord made, the batch written for the worker (marshal against pickle)
	$(PY) bench/bench_handover.py

bench-workers: $(STAMP) ## the ingest ceiling in one process, with serve's batch-preparing worker, and decoding in 1 and 2 workers: events/s, CPU per event
	$(PY) bench/bench_workers.py

bench-peer: $(STAMP) ## provledger vs a hand-written consumer and Kafka Connect into PostgreSQL, 200k events (Java, PostgreSQL)
	@test -n "$$PROVLEDGER_KAFKA_BOOTSTRAP" || $(BIN)/provledger kafka start
	@$(PY) -c 'import psycopg' 2>/dev/null || $(PY) -m pip install -q -e '.[bench]'
	$(PY) bench/bench_peer.py

bench-idle: $(STAMP) ## an idle ledger's CPU (goal < 5 % of a core) and its first event's latency
	@test -n "$$PROVLEDGER_KAFKA_BOOTSTRAP" || $(BIN)/provledger kafka start
	$(PY) bench/bench_idle.py

bench-detect: $(STAMP) ## AI detection on 1 MiB hostile commit messages and agent commands
	$(PY) bench/bench_detect.py

bench-verify: $(STAMP) ## verify on a 1M-event ledger: wall, CPU and peak RSS (builds it first, minutes)
	$(PY) bench/bench_verify.py --events 1000000

bench-memory: $(STAMP) ## serve's RSS vs its bound and suspects latency on a 1M-event ledger, +150k events via Kafka, through a checkpoint (builds it first, minutes)
	@test -n "$$PROVLEDGER_KAFKA_BOOTSTRAP" || $(BIN)/provledger kafka start
	$(PY) bench/bench_memory.py --events 1000000

# bench/bench_memory.py's own default for --events 1000000.
MEMORY_LEDGER ?= /tmp/provledger-bench-memory-projected-1000000.duckdb
bench-indexes: $(STAMP) ## the memory each ART index takes once loaded, on bench-memory's 1M-event ledger (builds it first, minutes)
	test -f $(MEMORY_LEDGER) || $(PY) bench/ledger_builder.py --events 1000000 --path $(MEMORY_LEDGER) --fill projected
	$(PY) bench/index_memory.py $(MEMORY_LEDGER)

bench-write-long: $(STAMP) ## the writer's CPU per event on a long ledger: 50k events onto a copy of bench-memory's 1M-event one (builds it first, minutes)
	test -f $(MEMORY_LEDGER) || $(PY) bench/ledger_builder.py --events 1000000 --path $(MEMORY_LEDGER) --fill projected
	$(PY) bench/bench_write_long.py $(MEMORY_LEDGER) --format json
	$(PY) bench/bench_write_long.py $(MEMORY_LEDGER) --format avro

bench-row-groups: $(STAMP) ## what DuckDB holds until a checkpoint for appended rows, by row-group size (seconds)
	$(PY) bench/bench_row_groups.py

bench-checkpoint: $(STAMP) ## a checkpoint's CPU per event and the file's size: the ledger's column compressions vs DuckDB's own choice (a minute)
	$(PY) bench/bench_checkpoint.py

bench-commit-reads: $(STAMP) ## the policy gate's and a commit's provenance reads on bench-memory's 1M-event ledger: CPU per call (builds it first, minutes)
	test -f $(MEMORY_LEDGER) || $(PY) bench/ledger_builder.py --events 1000000 --path $(MEMORY_LEDGER) --fill projected
	$(PY) bench/bench_commit_reads.py $(MEMORY_LEDGER)

bench-rebuild: $(STAMP) ## rebuild's replay vs serve's live ingest on one topic, 100k events: events/s and CPU per event
	$(PY) bench/bench_rebuild.py

bench-hook: $(STAMP) ## start-up of provledger hook (run on every AI edit): wall and import ms
	$(PY) bench/bench_hook.py

bench-install: $(STAMP) ## pip install time and site-packages size, base vs [server], in fresh venvs (network)
	$(PY) bench/bench_install.py

BENCH_LEDGER ?= /tmp/provledger-bench/ledger-1m.duckdb
BENCH_LEDGER_DEPS ?= /tmp/provledger-bench/ledger-1m-deps.duckdb
bench-query: $(STAMP) ## suspects latency on 1M deployments / 10M changes, without and with a 2,000-service graph and 1M config changes (makes two ~7 GB files once, minutes)
	@mkdir -p $(dir $(BENCH_LEDGER))
	test -f $(BENCH_LEDGER) || $(PY) bench/gen_ledger.py $(BENCH_LEDGER)
	test -f $(BENCH_LEDGER_DEPS) || $(PY) bench/gen_ledger.py $(BENCH_LEDGER_DEPS) --services 2000 --config-changes 1000000
	$(PY) bench/bench_query.py $(BENCH_LEDGER) --compare $(BENCH_LEDGER_DEPS)

bench-cold-facts: $(STAMP) ## a first suspects call's read of commit facts: through the index vs two layouts in deployment order, and what the writer would pay to keep one (needs bench-query's ledger)
	test -f $(BENCH_LEDGER) || $(PY) bench/gen_ledger.py $(BENCH_LEDGER)
	$(PY) bench/bench_cold_facts.py $(BENCH_LEDGER)

bench-pack: $(STAMP) ## what the commit packs cost behind the writer: CPU per event of a pass, by its size, and their disk (a copy of bench-query's ledger)
	test -f $(BENCH_LEDGER) || $(PY) bench/gen_ledger.py $(BENCH_LEDGER)
	$(PY) bench/bench_pack.py $(BENCH_LEDGER)

bench-backfill: $(STAMP) ## git backfill speed vs plain git log --numstat
	$(PY) bench/bench_backfill.py

bench-sql: $(STAMP) ## read-only SQL guard overhead, a view during writes, snapshot rows/s (100k deployments)
	rm -f /tmp/provledger-bench-sql.duckdb
	$(PY) bench/gen_ledger.py /tmp/provledger-bench-sql.duckdb --deployments 100000
	$(PY) bench/bench_sql.py /tmp/provledger-bench-sql.duckdb
	rm -f /tmp/provledger-bench-sql.duckdb

clean: ## remove the venv and caches (keeps the Kafka jar cache in ~/.cache/provledger)
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis build *.egg-info

openapi: $(STAMP) ## write docs/openapi.json from the app (review the diff: it is the public API)
	$(PY) -c "import json; from tests.unit.test_public_surface import current_openapi; print(json.dumps(current_openapi(), indent=2, ensure_ascii=False))" > docs/openapi.json
