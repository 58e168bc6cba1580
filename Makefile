# Siaga: two commands set up a fresh machine: `make run` (the demo) and `make test` (the suite).
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
KAFKA_DIR ?= var/kafka
KAFKA_PORT ?= 9092
SHARED_DATA ?= ../shared/data
PYTEST_ARGS ?=

.PHONY: install kafka-fetch kafka-up kafka-down kafka3-up kafka3-down data test test-fast test-reliability \
        lint run bench schemas clean

install: $(BIN)/siaga

$(BIN)/siaga: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

kafka-fetch:
	$(PY) deploy/kafka/local_kafka.py fetch

kafka-up: kafka-fetch
	$(PY) deploy/kafka/local_kafka.py up --dir $(KAFKA_DIR) --port $(KAFKA_PORT)

kafka-down:
	$(PY) deploy/kafka/local_kafka.py down --dir $(KAFKA_DIR)

kafka3-up: kafka-fetch
	$(PY) deploy/kafka/local_kafka.py up --nodes 3 --dir var/kafka3 --port 19092

kafka3-down:
	$(PY) deploy/kafka/local_kafka.py down --dir var/kafka3

# The full village polygons (57 MB) do not live in git: copy them from shared data when it is beside us.
# Then build the geotagger's cell grid once (~20 s) into its cache (~/.cache/siaga/geotag), so every worker,
# test and CLI run loads it in about a second; -p keeps the file's mtime, part of the cache key.
data: install
	@mkdir -p data/local
	@if [ -f $(SHARED_DATA)/indonesia/idn_desa_kel_polygons.parquet ]; then \
	  cp -p -u $(SHARED_DATA)/indonesia/idn_desa_kel_polygons.parquet data/local/ && \
	  echo "village polygons in data/local/"; \
	else echo "no $(SHARED_DATA)/indonesia/idn_desa_kel_polygons.parquet: geotagging falls back to district polygons"; fi
	@$(BIN)/python -c "import time; t = time.time(); from services.core.geotag import get_geotagger; \
	  g = get_geotagger(); print(f'geotagger ready in {time.time() - t:.1f} s (village polygons: {g.has_village_polygons})')"

test: install kafka-fetch data
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -q -m "not kafka and not reliability" $(PYTEST_ARGS)

test-reliability: install kafka-fetch
	$(BIN)/python -m pytest -q -m reliability $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

run: install kafka-fetch data
	$(BIN)/python -m services.demo

# PostGIS (for the geotagging comparison) comes from Debian; the benchmark says so and goes on without it.
bench: install kafka-fetch data
	$(BIN)/pip install -q -e '.[dev,bench]'
	-test -f /usr/share/postgresql/15/extension/postgis.control || \
	  (apt-get install -y -q postgresql postgresql-15-postgis-3 >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null && apt-get install -y -q postgresql postgresql-15-postgis-3 >/dev/null))
	$(BIN)/python bench/run_all.py

schemas: install
	$(BIN)/siaga schemas export schemas/json

clean:
	$(PY) deploy/kafka/local_kafka.py down --dir $(KAFKA_DIR) || true
	rm -rf var .pytest_cache .ruff_cache
