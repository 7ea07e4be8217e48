# Every target installs into .venv first (once, and again when the dependencies change).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: install system-packages demo test test-postgres bench screenshots loadtest clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test,bench]'
	touch $(INSTALLED)

# What the tests need beyond Python: Chromium, the PostgreSQL 15 server and nginx. Installed when missing if
# run as root on Debian; otherwise the script says what to install (the demo needs neither).
system-packages:
	scripts/install-system-packages

demo: install
	$(PY) manage.py demo
	$(PY) manage.py runserver 127.0.0.1:8000

test: install system-packages
	$(PY) -m pytest

# The database-facing tests again, against PostgreSQL (DATABASE_URL must point at a server).
test-postgres: install
	test -n "$(DATABASE_URL)" || (echo "set DATABASE_URL=postgres://..." && exit 2)
	$(PY) -m pytest tests/study

bench: install
	$(PY) benchmarks/run_all.py

# The browser tests take their screenshots into artifacts/ (ignored); docs/screenshots/ keeps the
# committed copies.
screenshots: install system-packages
	$(PY) -m pytest tests/browser
	mkdir -p docs/screenshots
	cp artifacts/screenshots/*.png docs/screenshots/

# 200 participants label a 200-sample study on gunicorn and PostgreSQL while a worker is killed, the
# database connections are cut and PostgreSQL is restarted; then every acknowledged answer is checked.
loadtest: install system-packages
	$(PY) -m loadtest.run

clean:
	rm -rf $(VENV) data
