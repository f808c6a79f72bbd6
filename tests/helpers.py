"""Helpers for tests that run the project's own commands in a subprocess, and for those that drive a browser."""
import os
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import psycopg

PROJECT_ROOT = Path(__file__).resolve().parent.parent
POSTGRES_SERVER_URL = "postgresql://postgres@127.0.0.1:5432"
# The customer of the browser tests' world (tests/conftest.py) logs in with these; the password is the factories'.
EMAIL, PASSWORD = "ada@example.com", "correct-horse-battery"
NBSP = "\u00a0"


def run_manage(*args: str, env: dict[str, str], timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def clean_environment(**overrides: str) -> dict[str, str]:
    """The current environment without any of the project's settings, plus `overrides`."""
    project_variables = {
        "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "FIELD_ENCRYPTION_KEY", "AUDIT_LOG_KEYS", "SITE_URL",
        "DJANGO_SETTINGS_MODULE",
    }
    env = {key: value for key, value in os.environ.items() if key not in project_variables}
    env.update(overrides)
    return env


@contextmanager
def scratch_postgres_database():
    """A new, empty PostgreSQL database for the duration of the block; yields its URL."""
    name = f"twinmcp_scratch_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{POSTGRES_SERVER_URL}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES_SERVER_URL}/{name}"
    finally:
        with psycopg.connect(f"{POSTGRES_SERVER_URL}/postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def log_in(page):
    """The world's customer logs in through the login page and lands on the dashboard."""
    page.goto("/")
    assert "/account/login/" in page.url
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/billing/")


def amounts(table) -> list[str]:
    """The amounts of a table's body as the page prints them, row after row."""
    return [cell.inner_text() for cell in table.locator("tbody td.num").all()]


def fits(page, width: int) -> None:
    """Nothing on the page makes it scroll sideways at `width`."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width
