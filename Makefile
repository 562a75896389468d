# Scoring platform -- the two commands of the README are `make run` and `make test`.
#
#   make run          install what is missing, migrate, load the demo if the DB is empty, serve
#                     http://127.0.0.1:5000 with gunicorn (foreground)
#   make test         the whole suite on SQLite, then on a throwaway PostgreSQL 15 cluster
#   make test-sqlite  only the SQLite run          make test-pg   only the PostgreSQL run
#   make demo         rebuild the demo data in the configured database (writes instance/demo/)
#   make venv         .venv with requirements.txt  make venv-dev  ... plus requirements-dev.txt
#   make upgrade      `flask db upgrade` on the configured database
#   make translations compile translations/*/LC_MESSAGES/*.po
#   make messages     extract UI strings and update the zh_CN and en catalogues
#   make clean        remove instance/demo and caches (keeps .venv, the database, the secret key)
#
# Variables: DATABASE_URL (environment: the app's database; default SQLite in instance/),
# PYTEST_ARGS (extra pytest arguments, e.g. make test PYTEST_ARGS="-k rubric -x"),
# PYTHON (interpreter for a new .venv; default python3.11, else python3),
# BIND and WORKERS (make run BIND=0.0.0.0:8000 WORKERS=5), INSTANCE_PATH (default instance).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
.NOTPARALLEL:
MAKEFLAGS += --no-print-directory

ifndef PYTHON
PYTHON := $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null || echo python3)
endif
export PYTHON

VENV     := .venv
VPY      := $(VENV)/bin/python
PIP      := $(VPY) -m pip install --quiet --quiet --disable-pip-version-check
FLASK    := $(VENV)/bin/flask --app app
INSTANCE := $(or $(INSTANCE_PATH),instance)
DEMO_OUT := $(INSTANCE)/demo
BIND     := 127.0.0.1:5000
WORKERS  := 3
PYTEST_ARGS ?=

# Tests never touch a configured production database; each run says which DB it uses.
# Playwright must use Debian's Chromium, never download a browser of its own.
# One BLAS thread: small dense solves run up to 25x slower when OpenBLAS threads fight the
# other workers for two cores (measured by bench/scoring_speed.py).
export OPENBLAS_NUM_THREADS ?= 1
TEST_ENV := env -u DATABASE_URL -u TEST_DATABASE_URL PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
PYTEST   := $(VPY) -m pytest

.PHONY: help run test test-sqlite test-pg test-deps demo venv venv-dev system system-test \
        upgrade translations messages secret clean

help:
	@awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' Makefile

# ---------------------------------------------------------------- system packages
system:
	@echo "==> checking system packages"
	@scripts/ensure_system.sh

system-test:
	@echo "==> checking system packages (with test tools: Chromium, PostgreSQL 15)"
	@scripts/ensure_system.sh --test

# ---------------------------------------------------------------- virtualenv
# Stamps inside .venv: requirements are re-installed only when a requirements file changes,
# and a fresh .venv (no stamps) always gets them.
venv: $(VENV)/.stamp-runtime
venv-dev: $(VENV)/.stamp-dev

$(VPY):
	@scripts/ensure_system.sh
	@echo "==> creating virtualenv $(VENV) with $(PYTHON) ($$($(PYTHON) -V 2>&1))"
	@$(PYTHON) -m venv --clear $(VENV)

$(VENV)/.stamp-runtime: requirements.txt | $(VPY)
	@echo "==> installing requirements.txt into $(VENV) (first time: a minute or two)"
	@$(PIP) -r requirements.txt
	@touch $@

$(VENV)/.stamp-dev: requirements.txt requirements-dev.txt $(VENV)/.stamp-runtime
	@echo "==> installing requirements-dev.txt into $(VENV)"
	@$(PIP) -r requirements-dev.txt
	@touch $@

# ---------------------------------------------------------------- app set-up steps
translations: venv
	@if compgen -G 'translations/*/LC_MESSAGES/*.po' >/dev/null; then \
	    echo "==> compiling translations"; \
	    $(VENV)/bin/pybabel compile -d translations -f >/dev/null 2>&1; \
	else \
	    echo "==> no translations/*/LC_MESSAGES/*.po yet; skipping compilation"; \
	fi

messages: venv
	@echo "==> extracting UI strings into translations/messages.pot and updating catalogues"
	@$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output \
	    --project scoring --ignore-dirs ".venv migrations tests" -o translations/messages.pot . >/dev/null 2>&1
	@$(VENV)/bin/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching >/dev/null 2>&1

secret: $(INSTANCE)/secret_key

$(INSTANCE)/secret_key:
	@echo "==> creating $@ (random, mode 0600)"
	@mkdir -p $(INSTANCE)
	@umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >$@.tmp && echo >>$@.tmp
	@chmod 600 $@.tmp && mv -f $@.tmp $@

upgrade: venv secret
	@echo "==> migrating the database ($(if $(DATABASE_URL),DATABASE_URL,SQLite in $(INSTANCE)/))"
	@$(FLASK) db upgrade

define show_logins
	@if [[ -f $(DEMO_OUT)/accounts.csv ]]; then \
	    echo "==> demo logins ($(DEMO_OUT)/accounts.csv; judges' token links in $(DEMO_OUT)/judges.csv):"; \
	    if command -v column >/dev/null; then column -t -s, <$(DEMO_OUT)/accounts.csv; \
	    else tr , '\t' <$(DEMO_OUT)/accounts.csv; fi | sed 's/^/    /'; \
	fi
endef

# ---------------------------------------------------------------- run
run: system venv secret translations upgrade
	@echo "==> loading the demo programme if the database is empty"
	@$(FLASK) demo --out $(DEMO_OUT) --if-empty
	$(show_logins)
	@echo "==> serving http://$(BIND) with gunicorn ($(WORKERS) workers); Ctrl-C stops"
	@exec $(VENV)/bin/gunicorn -w $(WORKERS) -b $(BIND) --access-logfile - 'app:create_app()'

demo: system venv secret translations upgrade
	@echo "==> rebuilding the demo data into the configured database"
	@$(FLASK) demo --out $(DEMO_OUT)
	$(show_logins)

# ---------------------------------------------------------------- tests
test-deps: system-test venv-dev translations

test-sqlite: test-deps
	@echo "==> pytest on SQLite$(if $(PYTEST_ARGS), (with PYTEST_ARGS))"
	@$(TEST_ENV) $(PYTEST) $(PYTEST_ARGS)

test-pg: test-deps
	@echo "==> pytest on a throwaway PostgreSQL 15 cluster$(if $(PYTEST_ARGS), (with PYTEST_ARGS))"
	@$(TEST_ENV) scripts/pg_cluster.sh run -- $(PYTEST) $(PYTEST_ARGS)

# Both runs always happen; the target fails if either failed.
test: test-deps
	@echo "==> pytest on SQLite$(if $(PYTEST_ARGS), (with PYTEST_ARGS))"
	@sqlite=0; pg=0; \
	$(TEST_ENV) $(PYTEST) $(PYTEST_ARGS) || sqlite=$$?; \
	echo "==> pytest on a throwaway PostgreSQL 15 cluster$(if $(PYTEST_ARGS), (with PYTEST_ARGS))"; \
	$(TEST_ENV) scripts/pg_cluster.sh run -- $(PYTEST) $(PYTEST_ARGS) || pg=$$?; \
	echo "==> make test: SQLite exit status $$sqlite, PostgreSQL exit status $$pg"; \
	if (( sqlite != 0 )); then exit $$sqlite; fi; exit $$pg

# ---------------------------------------------------------------- clean
clean:
	@echo "==> removing $(DEMO_OUT) and caches"
	@rm -rf -- $(DEMO_OUT) .pytest_cache
	@find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
