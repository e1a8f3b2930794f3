# gridsync — two commands on a fresh machine: `make demo` and `make test`.
# Both bootstrap .venv from pyproject.toml. Nothing here needs ../shared/.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PHONE_VENV := .venv-phone
STAMP := $(VENV)/.installed
# The demo installs only what it runs (the server and the web app): no test or lint tools.
DEMO_STAMP := $(VENV)/.installed-demo
PHONE_STAMP := $(PHONE_VENV)/.installed

.PHONY: venv test lint types layers unit phone-compat browser-deps pg-deps demo bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

$(DEMO_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[server,web]'
	@touch $(DEMO_STAMP)

# The phone's wheels are older than PyPI's: prove shared/ and the device core on them.
$(PHONE_STAMP): pyproject.toml
	@test -x $(PHONE_VENV)/bin/python || $(PY) -m venv $(PHONE_VENV)
	$(PHONE_VENV)/bin/python -m pip install --quiet 'cryptography==43.0.1' 'pillow==10.4.0' \
		'sqlite-utils>=3.36,<5' 'httpx>=0.27,<1' 'pytest>=8,<10' 'pytest-timeout>=2.3,<3' 'hypothesis>=6.100,<7'
	@touch $(PHONE_STAMP)

# Debian's chromium for the browser tests (Playwright's own browser download cannot work here).
# A CJK font too: served with no CDN, Flutter cannot fetch its fallback fonts and Chinese shows as boxes.
BROWSER_PKGS := chromium fonts-droid-fallback
browser-deps:
	@if ! command -v chromium >/dev/null || ! dpkg -s fonts-droid-fallback >/dev/null 2>&1; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(BROWSER_PKGS) >/dev/null; \
	fi

# PostGIS for the PostgreSQL store's tests: Debian's package for the major version of the PostgreSQL
# running at 127.0.0.1:5432 (the tests create their own database there with CREATE EXTENSION postgis).
# Nothing is installed when the extension is available already; an unreachable server is left to the
# tests, which fail saying so.
PG_HOST ?= 127.0.0.1
PG_PORT ?= 5432
PG_USER ?= postgres
PG_DB ?= test
PG_QUERY = $(BIN)/python -c 'import sys, psycopg; \
	c = psycopg.connect("host=$(PG_HOST) port=$(PG_PORT) user=$(PG_USER) dbname=$(PG_DB) connect_timeout=5"); \
	print(c.execute(sys.argv[1]).fetchone()[0])'
pg-deps: $(STAMP)
	@NUM=$$($(PG_QUERY) 'SHOW server_version_num' 2>/dev/null); \
	if [ -z "$$NUM" ]; then echo "pg-deps: no PostgreSQL at $(PG_HOST):$(PG_PORT) (the postgres tests will fail saying so)"; exit 0; fi; \
	HAVE=$$($(PG_QUERY) "SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'"); \
	if [ "$$HAVE" != 1 ]; then \
		MAJOR=$$(( NUM / 10000 )); \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql-$$MAJOR-postgis-3 >/dev/null; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP) browser-deps pg-deps
	$(BIN)/python -m pytest

phone-compat: $(PHONE_STAMP)
	PYTHONPATH=. $(PHONE_VENV)/bin/python -m pytest -p no:cacheprovider -q -k "not interop" tests/shared tests/mobile/test_photos.py tests/mobile/test_location.py tests/mobile/test_secrets.py

test: lint types layers unit phone-compat

demo: $(DEMO_STAMP)
	$(BIN)/python -m mobile.demo

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(PHONE_VENV) .pytest_cache .mypy_cache .ruff_cache
