"""`make backup` and `make restore`: a restored database holds every invoice, number and total unchanged."""
import datetime
import subprocess

import psycopg
import pytest
from django.db import connection

from accounts.tests.factories import UserProfileFactory
from billing.models import Invoice
from billing.services import invoice_run
from billing.tests.factories import PARIS, SubscriptionFactory
from tests.helpers import POSTGRES_SERVER_URL, PROJECT_ROOT, clean_environment, run_manage, scratch_postgres_database


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_backup_restores_every_invoice_unchanged(tmp_path):
    for country in ("FR", "DE", "US"):
        SubscriptionFactory(
            user=UserProfileFactory(country=country).user,
            current_period_start=datetime.date(2026, 10, 1),
            current_period_end=datetime.date(2026, 11, 1),
        )
    invoice_run(period_end=datetime.date(2026, 11, 1), now=datetime.datetime(2026, 11, 1, 2, tzinfo=PARIS),
                issue_documents=False)
    expected = sorted(Invoice.objects.values_list("number", "status", "total", "amount_due"))
    assert len(expected) == 3
    source_url = f"{POSTGRES_SERVER_URL}/{connection.settings_dict['NAME']}"
    dump = tmp_path / "twinmcp.dump"

    backup = make("backup", f"DATABASE_URL={source_url}", f"BACKUP_FILE={dump}")
    assert backup.returncode == 0, backup.stderr
    with scratch_postgres_database() as target_url:
        restore = make("restore", f"DATABASE_URL={target_url}", f"FILE={dump}", "CONFIRM=yes")
        assert restore.returncode == 0, restore.stderr
        with psycopg.connect(target_url) as restored:
            rows = restored.execute(
                "SELECT number, status, total, amount_due FROM billing_invoice ORDER BY number"
            ).fetchall()
        verified = run_manage(
            "verify_audit_log",
            env=clean_environment(DJANGO_SETTINGS_MODULE="twinmcp.settings.test", DATABASE_URL=target_url),
        )

    assert sorted(rows) == expected
    assert verified.returncode == 0, verified.stderr
    assert "audit log intact" in verified.stdout


def test_backup_without_a_database_url_says_so():
    result = make("backup", "DATABASE_URL=")

    assert result.returncode != 0
    assert "DATABASE_URL is required" in result.stdout + result.stderr
