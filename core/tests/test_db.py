import datetime
from decimal import Decimal

import pytest
from django.db import connection

from accounts.tests.factories import UserProfileFactory
from billing.models import BuyerSnapshot, Invoice, InvoiceStatus, Subscription
from billing.tests.factories import BuyerSnapshotFactory, InvoiceFactory, SubscriptionFactory
from core.db import columns, insert_statement, row_loader, rows_update
from libraries.models import Library, LibraryVersion, UsageLog


@pytest.mark.django_db
def test_rows_update_writes_every_field_of_every_row_as_its_field_prepares_it():
    invoices = [InvoiceFactory(subscription=SubscriptionFactory(user=UserProfileFactory().user)) for _ in range(3)]
    for index, invoice in enumerate(invoices):
        invoice.number = f"TMCP-2026-{index + 1:06d}"
        invoice.status = InvoiceStatus.SENT
        invoice.issue_date = datetime.date(2026, 11, 1)
        invoice.sent_at = datetime.datetime(2026, 11, 1, 1, tzinfo=datetime.UTC)
        invoice.issue_details = {"seller": {"name": f"Seller {index}"}}
        invoice.credit_applied, invoice.amount_due = Decimal("2.80"), Decimal("20.00")

    updated = rows_update(
        Invoice, invoices,
        ["number", "status", "issue_date", "sent_at", "issue_details", "credit_applied", "amount_due"],
    )

    assert updated == 3
    stored = list(Invoice.objects.order_by("pk"))
    assert [invoice.number for invoice in stored] == ["TMCP-2026-000001", "TMCP-2026-000002", "TMCP-2026-000003"]
    assert stored[2].issue_details == {"seller": {"name": "Seller 2"}}
    assert {(i.status, i.issue_date, i.credit_applied, i.amount_due) for i in stored} == {
        (InvoiceStatus.SENT, datetime.date(2026, 11, 1), Decimal("2.80"), Decimal("20.00"))
    }


@pytest.mark.django_db
def test_rows_update_encrypts_an_encrypted_field_as_save_would():
    snapshots = [BuyerSnapshotFactory() for _ in range(2)]
    for index, snapshot in enumerate(snapshots):
        snapshot.details = {"name": f"Buyer {index}"}

    assert rows_update(BuyerSnapshot, snapshots, ["details"]) == 2

    assert [s.details for s in BuyerSnapshot.objects.order_by("pk")] == [{"name": "Buyer 0"}, {"name": "Buyer 1"}]
    with connection.cursor() as cursor:
        cursor.execute("SELECT details FROM billing_buyersnapshot WHERE id = %s", [snapshots[0].pk])
        assert "Buyer" not in cursor.fetchone()[0]  # encrypted by its field on the way in


@pytest.mark.django_db
def test_rows_update_of_nothing_writes_nothing():
    assert rows_update(Invoice, [], ["status"]) == 0


def field_values(obj, *, but=()) -> dict:
    return {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields if field.name not in but}


@pytest.mark.django_db
def test_a_hand_written_join_loads_each_model_as_the_orm_loads_it():
    invoice = InvoiceFactory(
        subscription=SubscriptionFactory(user=UserProfileFactory().user, cancel_at_period_end=True),
        issue_details={"seller": {"name": "Ada"}}, issue_date=datetime.date(2026, 11, 1),
        sent_at=datetime.datetime(2026, 11, 1, 1, tzinfo=datetime.UTC),
    )
    sql = (
        f"SELECT {columns(Invoice, 'i')}, {columns(Subscription, 's')} "
        "FROM billing_invoice i JOIN billing_subscription s ON s.id = i.subscription_id WHERE i.id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [invoice.pk])
        row = cursor.fetchone()

    width = len(Invoice._meta.concrete_fields)
    loaded = row_loader(Invoice, connection.alias)(row[:width])
    subscription = row_loader(Subscription, connection.alias)(row[width:])

    assert field_values(loaded) == field_values(Invoice.objects.get(pk=invoice.pk))
    assert loaded.issue_details == {"seller": {"name": "Ada"}}  # read back by its field
    assert (loaded.total, loaded.issue_date) == (Decimal("22.80"), datetime.date(2026, 11, 1))
    assert field_values(subscription) == field_values(Subscription.objects.get(pk=invoice.subscription_id))
    assert subscription.cancel_at_period_end is True


@pytest.mark.django_db
def test_the_hand_written_insert_stores_every_field_but_the_key_as_save_would():
    library = Library.objects.create(slug="acme/widgets", name="Widgets")
    log = UsageLog(
        user=UserProfileFactory().user, library=library,
        library_version=LibraryVersion.objects.create(library=library, version="1.0.0"),
        endpoint="/api/libraries/acme/widgets/docs/", tokens=1200, duration_ms=7,
        created_at=datetime.datetime(2026, 11, 3, 9, tzinfo=datetime.UTC),
    )
    sql, fields = insert_statement(UsageLog)

    with connection.cursor() as cursor:
        cursor.execute(sql, [field.get_db_prep_save(field.pre_save(log, add=True), connection) for field in fields])

    stored = UsageLog.objects.get()
    assert stored.pk is not None and log.pk is None  # the database drew the key
    assert field_values(stored, but={"id"}) == field_values(log, but={"id"})
