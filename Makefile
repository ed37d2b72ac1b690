# Kinisi: `make up` brings the whole system up with the demo municipality; `make test` runs the
# tests. Both create the virtual environment and install the dependencies first if needed.

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export DJANGO_SETTINGS_MODULE ?= config.settings

.PHONY: up setup test lint format messages clean

# Picks the newest Python 3.11+ on the machine.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	2>/dev/null && { echo $$p; break; }; done)

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "Kinisi needs Python 3.11 or newer."; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

setup: $(VENV)/.installed
	$(PY) manage.py compilemessages --ignore '.venv/*' -v0 || echo "gettext missing: using the committed .mo files"
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py seed_demo --quiet-logins
	$(PY) manage.py dispatch_demo
	$(PY) manage.py motion_demo
	$(PY) manage.py build_graph --all || echo "build_graph: skipped (see its message above)"

up: setup
	@echo
	@echo "Kinisi is starting: open http://127.0.0.1:$(PORT)/"
	@$(PY) manage.py seed_demo | tail -n 4
	@echo "Stop with Ctrl-C."
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" PORT=$(PORT) $(VENV)/bin/honcho start -f Procfile

test: $(VENV)/.installed
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

messages: $(VENV)/.installed
	$(PY) manage.py makemessages -l el -l en --ignore '.venv/*' --ignore 'tests/*' \
		--ignore 'benchmarks/*' --ignore 'var/*' --ignore 'docs/*'
	$(PY) manage.py compilemessages --ignore '.venv/*'

clean:
	rm -rf var
