# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
# Debian packages the test suite drives: docker-compose (compose file check), gettext (translations).
SYSTEM_PACKAGES := docker-compose gettext

.PHONY: run test install system-deps migrate seed reset-db health worker beat up down logs

run: install ## install, migrate, seed demo data and serve on 127.0.0.1:8000
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py runserver 127.0.0.1:8000

test: install system-deps ## the whole suite on the real PostgreSQL and Redis
	$(VENV)/bin/pytest

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	touch $@

system-deps: ## Debian packages the tests need (installed once, as root)
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

migrate: install
	$(PY) manage.py migrate --noinput

seed: install
	$(PY) manage.py seed_demo

reset-db: install ## drop every table and start again (asks first)
	@read -p "Erase every table of the configured database? [y/N] " answer; [ "$$answer" = "y" ]
	$(PY) manage.py flush --noinput
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo

health: install
	$(PY) manage.py health

worker: install
	$(VENV)/bin/celery -A twinmcp worker --loglevel=INFO

beat: install
	$(VENV)/bin/celery -A twinmcp beat --loglevel=INFO

up:
	$(COMPOSE) up -d --build

down:
	$(COMPOSE) down

logs:
	$(COMPOSE) logs -f --tail=200
