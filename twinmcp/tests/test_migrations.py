import psycopg
import pytest
from django.core.management import call_command

from tests.helpers import POSTGRES_SERVER_URL, clean_environment, run_manage, scratch_postgres_database


@pytest.mark.django_db
def test_models_and_migrations_agree():
    # makemigrations --check exits non-zero when a model change has no migration.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.slow
def test_migrations_apply_on_an_empty_postgresql_database():
    with scratch_postgres_database() as database_url:
        env = clean_environment(DJANGO_SETTINGS_MODULE="twinmcp.settings.test", DATABASE_URL=database_url)
        result = run_manage("migrate", "--noinput", env=env)
        assert result.returncode == 0, result.stderr
        plan = run_manage("showmigrations", "--plan", env=env)
        with psycopg.connect(database_url) as connection:
            scheduled = {name for (name,) in connection.execute("SELECT name FROM django_celery_beat_periodictask")}
            groups = {name for (name,) in connection.execute("SELECT name FROM auth_group")}
    assert "[ ]" not in plan.stdout
    assert {"Monthly invoice run", "Overdue invoices", "Payment reminders", "Encryption key rotation"} <= scheduled
    assert "Finance" in groups
    assert "[X]  accounts.0001_initial" in plan.stdout
    assert "[X]  billing.0001_initial" in plan.stdout
    assert database_url.startswith(POSTGRES_SERVER_URL)
