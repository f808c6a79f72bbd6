"""Migrations 0026 and 0027: each invoice's encrypted `billing_details` becomes a buyer snapshot (shared by the
invoices of a customer with the same buyer) and unencrypted issue details (seller, payment means)."""
import json

import psycopg
import pytest
from cryptography.fernet import Fernet

from tests.helpers import clean_environment, run_manage, scratch_postgres_database

KEY = Fernet.generate_key().decode()
SELLER = {"name": "TwinMCP SAS", "country": "FR", "vat_number": "FR40303265045"}
PAYMENT = {"means_code": "58"}
WEBER = {"name": "Jonas Weber", "company_name": "Weber Software GmbH", "country": "DE", "vat_number": "DE136695976",
         "address_line1": "Torstraße 1", "language": "de", "vies_status": "VALID"}
WEBER_MOVED = {**WEBER, "address_line1": "Unter den Linden 5"}


def environment(database_url: str) -> dict[str, str]:
    return clean_environment(DJANGO_SETTINGS_MODULE="twinmcp.settings.test", DATABASE_URL=database_url,
                             FIELD_ENCRYPTION_KEY=KEY)


def sealed(details: dict) -> str:
    return Fernet(KEY.encode()).encrypt(json.dumps(details, sort_keys=True).encode()).decode() if details else ""


@pytest.fixture
def database_before_snapshots():
    """A database at billing 0025 with four draft invoices of one customer: two with the same buyer, one after they
    moved, one with no snapshot at all."""
    with scratch_postgres_database() as database_url:
        migrated = run_manage("migrate", "billing", "0025_partial_credit_notes", env=environment(database_url))
        assert migrated.returncode == 0, migrated.stderr
        with psycopg.connect(database_url) as connection:
            connection.execute(
                "INSERT INTO accounts_user (id, password, is_superuser, first_name, last_name, is_staff, is_active, "
                "date_joined, email) VALUES (1, '!', false, '', '', false, true, now(), 'jonas@example.com')"
            )
            for invoice_id, buyer in enumerate((WEBER, WEBER, WEBER_MOVED, None), start=1):
                details = {"buyer": buyer, "seller": SELLER, "payment": PAYMENT} if buyer else {}
                connection.execute(
                    "INSERT INTO billing_invoice (id, user_id, status, kind, currency, period_start, period_end, "
                    "subtotal, tax_rate, tax_amount, total, credit_applied, amount_paid, amount_due, credited, "
                    "reverse_charge, tax_mention, billing_details, buyer_country, pdf, pdf_sha256, created_at) "
                    "VALUES (%s, 1, 'DRAFT', 'PERIOD', 'EUR', '2026-10-01', '2026-11-01', 0, 0, 0, 0, 0, 0, 0, 0, "
                    "true, '', %s, 'DE', '', '', now())",
                    [invoice_id, sealed(details)],
                )
        yield database_url


def rows(database_url: str, sql: str) -> list[tuple]:
    with psycopg.connect(database_url) as connection:
        return connection.execute(sql).fetchall()


@pytest.mark.slow
def test_each_buyer_becomes_one_snapshot_and_the_rest_issue_details(database_before_snapshots):
    migrated = run_manage("migrate", env=environment(database_before_snapshots))
    assert migrated.returncode == 0, migrated.stderr

    invoices = rows(database_before_snapshots,
                    "SELECT id, buyer_snapshot_id, issue_details FROM billing_invoice ORDER BY id")
    snapshots = {
        snapshot_id: (profile_version, country, tax_case, language, Fernet(KEY.encode()).decrypt(details.encode()))
        for snapshot_id, profile_version, country, tax_case, language, details in rows(
            database_before_snapshots,
            "SELECT id, profile_version, country, tax_case, language, details FROM billing_buyersnapshot",
        )
    }
    [first, second, moved, bare] = invoices
    assert first[1] == second[1] != moved[1] and bare[1] is None
    assert len(snapshots) == 2
    assert json.loads(snapshots[first[1]][4]) == WEBER and json.loads(snapshots[moved[1]][4]) == WEBER_MOVED
    assert snapshots[first[1]][:4] == (0, "DE", "EU_BUSINESS", "de")
    assert [issue_details for _, _, issue_details in invoices] == [{"seller": SELLER, "payment": PAYMENT}] * 3 + [{}]
    assert not rows(database_before_snapshots, "SELECT 1 FROM information_schema.columns WHERE "
                    "table_name = 'billing_invoice' AND column_name = 'billing_details'")
