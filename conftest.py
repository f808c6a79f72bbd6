import pytest
from django.core.cache import cache
from django.db import connection


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Django empties every table by TRUNCATE after each transactional test: the test database lets it through
    the audit tables' TRUNCATE guard, which accounts/tests/test_audit.py turns back on to test it."""
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        for table in ("accounts_auditlog", "accounts_auditchainhead"):
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_truncate_refused")


@pytest.fixture(autouse=True)
def _clean_cache():
    """Each test starts with an empty cache (only this run's keys: the prefix is per run)."""
    cache.delete_pattern("*")
    yield
