# One way in for every task. Each target creates .venv and installs the project first.
# Needs only make and Python 3.11+ (the embedded Postgres comes from PyPI).

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install demo test figures db db-stop db-reset lint format mutate bench bench-quick bench-book bench-held lock

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

## make lint: ruff, and mypy over every package ([tool.mypy] in pyproject.toml)
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## make figures: the tests that measure times and sizes (tests/figures.py: outages, cut links, log bytes...) run with
## their figures written to tests/results/figures.json, then RELIABILITY.md and the READMEs re-rendered (a few minutes).
figures: install
	$(BIN)/python -m tests.figures

## make mutate: mutation testing of the shared rules ([tool.mutmut] in pyproject.toml, products_db/README.md):
## every mutant of products_db's rules, HTTP limits, outage and pool against its in-process tests, all sharing
## one throwaway Postgres; ends with the score per module and the mutants that survived, written to
## products_db/mutation.json and rendered into products_db/README.md.
mutate: install
	rm -rf mutants
	@start=$$(date +%s); $(BIN)/python -m devenv.throwaway -- $(BIN)/mutmut run --max-children 2 \
		&& echo "make mutate: $$(( $$(date +%s) - start )) s"
	$(BIN)/python -m devenv.mutation
	$(BIN)/python -m bench.docs

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python -m bench
	$(BIN)/python -m bench.docs

bench-quick: install
	$(BIN)/python -m bench --quick

## make bench-held: every REST server holding 100, 1,000 and 10,000 idle connections (keep-alive, then silent) while
## a new client asks for /brands; writes bench/results/held.md, held.json and held.png (about 5 min). BENCH_HELD_ARGS
## passes options, e.g. BENCH_HELD_ARGS='--held 100,1000 --configs aiohttp-2' (python -m bench.held -h).
bench-held: install
	$(BIN)/python -m bench.held $(BENCH_HELD_ARGS)
	$(BIN)/python -m bench.docs

## make bench-book BOOK=path/to/clone: the book's listings 9.2, 9.5 and 9.8 from a clone of its repository against
## this repository's apps, same commands, same database; writes bench/results/book.md and book.json (about 15 min).
## BENCH_BOOK_ARGS passes options, e.g. BENCH_BOOK_ARGS='--rounds 1 --runs 1 --duration 2' (python -m bench.book -h).
bench-book: install
	$(BIN)/python -m bench.book $(BOOK) $(BENCH_BOOK_ARGS)
	$(BIN)/python -m bench.docs

## make lock: refresh constraints.txt from what is installed now
lock: install
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt
