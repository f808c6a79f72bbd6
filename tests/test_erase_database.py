"""`make reset-db` erases a PostgreSQL database whose audit log refuses TRUNCATE (so `flush` cannot)."""
import psycopg
import pytest

from tests.helpers import clean_environment, run_manage, scratch_postgres_database


def audit_rows(url: str) -> int:
    with psycopg.connect(url) as database:
        return database.execute("SELECT count(*) FROM accounts_auditlog").fetchone()[0]


@pytest.mark.slow
def test_a_seeded_database_is_erased_and_migrates_again():
    with scratch_postgres_database() as url:
        env = clean_environment(DJANGO_SETTINGS_MODULE="twinmcp.settings.test", DATABASE_URL=url)
        for step in (("migrate", "--noinput"), ("seed_demo",)):
            assert run_manage(*step, env=env).returncode == 0
        assert audit_rows(url) > 0
        refused = run_manage("flush", "--noinput", env=env)
        assert refused.returncode != 0 and "couldn't be flushed" in refused.stderr

        erased = run_manage("erase_database", "--noinput", env=env)
        with psycopg.connect(url) as database:
            tables = database.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
        migrated = run_manage("migrate", "--noinput", env=env)

        assert erased.returncode == 0, erased.stderr
        assert tables == 0
        assert migrated.returncode == 0, migrated.stderr
        assert audit_rows(url) == 0
