# The two commands: `make run` and `make test`. Both create .venv if missing and install into it.
# Installs are locked: requirements/dev-lock.txt (hashes) for every package, then walletflow and
# walletflow-devnet (./devnet) themselves without dependencies. `make lock` regenerates the locks.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP := $(BIN)/python -m pip --disable-pip-version-check
LOCK := requirements/lock.txt
DEV_LOCK := requirements/dev-lock.txt
# `make lock LOCK_ARGS=--upgrade` moves every pin to the newest release the ranges allow;
# `LOCK_ARGS='--upgrade-package aiohttp'` only that one. Without it, existing pins are kept.
LOCK_ARGS ?=
COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command 'make lock' $(LOCK_ARGS)

.PHONY: install run test lint lock bench clean

$(STAMP): pyproject.toml devnet/pyproject.toml $(LOCK) $(DEV_LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q --require-hashes -r $(DEV_LOCK)
	$(PIP) install -q --no-deps --no-build-isolation -e . -e ./devnet
	$(PIP) check
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/walletflow dev

# The venv's bin first on PATH: the tests run `temporal`, `walletflow` and friends from it.
# -rfEs: the summary lists failures and errors (pytest's default -rfE) and why each skipped test
# was skipped (e.g. a missing docker-compose).
# Two pytest-xdist workers, one test file each at a time (a file's module-scoped stack stays
# in one process): the suite mostly waits on servers, so this halves its wall time on 2 cores.
TEST_WORKERS ?= 2
test: install
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pytest -q -rfEs -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# deptry twice: this distribution, then walletflow-devnet against devnet/pyproject.toml.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	$(BIN)/deptry .
	cd devnet && $(abspath $(BIN))/deptry .

# lock.txt: what the production image installs (dependencies + the `setup` extra + build
# backend). dev-lock.txt: that plus the dev and devstack extras and devnet/'s dependencies,
# constrained to the same versions. Needs only a venv (uv is installed into it if missing).
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/uv || $(PIP) install -q uv
	$(COMPILE) pyproject.toml requirements/build.in -o $(LOCK)
	$(COMPILE) pyproject.toml devnet/pyproject.toml requirements/build.in --extra dev \
		--constraint $(LOCK) -o $(DEV_LOCK)

clean:
	rm -rf $(VENV) .walletflow .pytest_cache .mypy_cache .ruff_cache
