import datetime
from decimal import Decimal

import pytest
from django.db import connection

from accounts.tests.factories import UserProfileFactory
from billing.models import Invoice, InvoiceStatus
from billing.tests.factories import InvoiceFactory, SubscriptionFactory
from core.db import rows_update


@pytest.mark.django_db
def test_rows_update_writes_every_field_of_every_row_as_its_field_prepares_it():
    invoices = [InvoiceFactory(subscription=SubscriptionFactory(user=UserProfileFactory().user)) for _ in range(3)]
    for index, invoice in enumerate(invoices):
        invoice.number = f"TMCP-2026-{index + 1:06d}"
        invoice.status = InvoiceStatus.SENT
        invoice.issue_date = datetime.date(2026, 11, 1)
        invoice.sent_at = datetime.datetime(2026, 11, 1, 1, tzinfo=datetime.UTC)
        invoice.billing_details = {"buyer": {"name": f"Buyer {index}"}}
        invoice.credit_applied, invoice.amount_due = Decimal("2.80"), Decimal("20.00")

    updated = rows_update(
        Invoice, invoices,
        ["number", "status", "issue_date", "sent_at", "billing_details", "credit_applied", "amount_due"],
    )

    assert updated == 3
    stored = list(Invoice.objects.order_by("pk"))
    assert [invoice.number for invoice in stored] == ["TMCP-2026-000001", "TMCP-2026-000002", "TMCP-2026-000003"]
    assert stored[2].billing_details == {"buyer": {"name": "Buyer 2"}}
    assert {(i.status, i.issue_date, i.credit_applied, i.amount_due) for i in stored} == {
        (InvoiceStatus.SENT, datetime.date(2026, 11, 1), Decimal("2.80"), Decimal("20.00"))
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT billing_details FROM billing_invoice WHERE id = %s", [stored[0].pk])
        assert "Buyer" not in cursor.fetchone()[0]  # encrypted by its field on the way in


@pytest.mark.django_db
def test_rows_update_of_nothing_writes_nothing():
    assert rows_update(Invoice, [], ["status"]) == 0
