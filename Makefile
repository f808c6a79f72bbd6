# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
# Debian packages the test suite drives: docker-compose (compose file check), gettext (translations),
# chromium (browser tests through Playwright), postgresql-client (make backup and make restore), wrk (the HTTP
# benchmarks, whose mcp smoke test the suite runs).
SYSTEM_PACKAGES := docker-compose gettext chromium postgresql-client wrk

.PHONY: run test test-clock messages install system-deps migrate seed reset-db health worker beat up down logs backup restore

PORT ?= 8000

run: install ## install, migrate, seed demo data and serve on 127.0.0.1:$(PORT) (make run PORT=8001)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --base-url http://127.0.0.1:$(PORT)
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

test: install system-deps ## lint, then the whole suite on the real PostgreSQL and Redis
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest

# No test may depend on the day it runs: the suite again a year from now, then on a leap day, every process it
# starts (live server, Celery worker, manage.py) on the same shifted clock (pytest --clock, see conftest.py).
CLOCK_LATER ?= +365d
CLOCK_LEAP_DAY ?= 2028-02-29T10:00:00+00:00

test-clock: install system-deps ## the whole suite under a clock a year ahead, then on 29 February 2028
	$(VENV)/bin/pytest --clock=$(CLOCK_LATER)
	$(VENV)/bin/pytest --clock=$(CLOCK_LEAP_DAY)

messages: install ## collect the strings to translate into locale/fr, then compile what translators filled in
	$(PY) manage.py makemessages --locale fr --no-obsolete --ignore 'bench/*' --ignore 'docs/*'
	msgfmt --check -o locale/fr/LC_MESSAGES/django.mo locale/fr/LC_MESSAGES/django.po

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
	$(PY) manage.py seed_demo --base-url http://127.0.0.1:$(PORT)

reset-db: install ## drop every table and start again (asks first)
	@read -p "Erase every table of the configured database? [y/N] " answer; [ "$$answer" = "y" ]
	$(PY) manage.py erase_database --noinput
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --base-url http://127.0.0.1:$(PORT)

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

BACKUP_DIR ?= backups

backup: ## pg_dump of DATABASE_URL in custom format: make backup [BACKUP_FILE=path]
	@test -n "$(DATABASE_URL)" || { echo "DATABASE_URL is required (the database to back up)"; exit 2; }
	@file="$(or $(BACKUP_FILE),$(BACKUP_DIR)/twinmcp-$$(date -u +%Y%m%dT%H%M%SZ).dump)"; \
	mkdir -p "$$(dirname "$$file")" && \
	pg_dump --format=custom --no-owner --no-privileges --file="$$file" "$(DATABASE_URL)" && \
	echo "backup written to $$file"

restore: ## pg_restore FILE into DATABASE_URL, replacing what is there (asks first unless CONFIRM=yes)
	@test -n "$(DATABASE_URL)" || { echo "DATABASE_URL is required (the database to restore into)"; exit 2; }
	@test -f "$(FILE)" || { echo "FILE=path/to/backup.dump is required"; exit 2; }
	@[ "$(CONFIRM)" = "yes" ] || { read -p "Replace the contents of $(DATABASE_URL) with $(FILE)? [y/N] " answer; [ "$$answer" = "y" ]; }
	pg_restore --clean --if-exists --no-owner --no-privileges --exit-on-error --dbname="$(DATABASE_URL)" "$(FILE)"
