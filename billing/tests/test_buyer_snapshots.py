"""Buyer snapshots: one per version of a customer's profile, shared by the invoices issued while it holds."""
import datetime
import re

import pytest
from cryptography.fernet import Fernet
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from accounts.services import account_erase, encryption_keys_check, encryption_keys_rotate, profile_update
from billing.documents.data import invoice_document
from billing.models import BuyerSnapshot, Invoice, InvoiceKind, TaxCase
from billing.services import invoice_run
from billing.tests.factories import paris, pro_customer
from libraries.tests.factories import UsageLogFactory

NOVEMBER_1, DECEMBER_1 = datetime.date(2026, 11, 1), datetime.date(2026, 12, 1)
# The profile's encrypted columns and the snapshot's: none is read when every snapshot exists.
ENCRYPTED_COLUMNS = re.compile(
    r'"accounts_userprofile"\."(vat_number|address_line1|address_line2|postal_code|phone)"'
    r'|"billing_buyersnapshot"\."details"'
)


def run(period_end, **kwargs):
    return invoice_run(period_end=period_end, now=paris(period_end.year, period_end.month, 1, 2, 0), **kwargs)


def period_invoice(user, period_end) -> Invoice:
    return Invoice.objects.get(user=user, kind=InvoiceKind.PERIOD, period_end=period_end)


def raw_details(snapshot: BuyerSnapshot) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT details FROM billing_buyersnapshot WHERE id = %s", [snapshot.pk])
        return cursor.fetchone()[0]


@pytest.mark.django_db
class TestOneSnapshotPerProfileVersion:
    def test_saving_a_profile_makes_its_snapshot_encrypted_with_its_tax_case_in_clear(self):
        user = pro_customer(company_name="Weber Software GmbH", country="DE", vat_number="DE136695976",
                            address_line1="Torstraße 1", language="de")

        [snapshot] = BuyerSnapshot.objects.filter(user=user)

        assert snapshot.profile_version == user.profile.version
        assert (snapshot.country, snapshot.tax_case) == ("DE", TaxCase.EU_BUSINESS)
        assert snapshot.details["address_line1"] == "Torstraße 1"
        assert "Torstraße" not in raw_details(snapshot) and "Weber" not in raw_details(snapshot)

    def test_invoices_issued_while_a_version_holds_share_its_snapshot_and_the_run_reads_no_encrypted_field(self):
        users = [pro_customer(address_line1=f"{n} rue de la Paix") for n in range(3)]

        with CaptureQueriesContext(connection) as queries:
            run(NOVEMBER_1)
        for user in users:
            UsageLogFactory(user=user, tokens=1000, created_at=paris(2026, 11, 12, 15))
        run(DECEMBER_1)

        assert not [query["sql"] for query in queries if ENCRYPTED_COLUMNS.search(query["sql"])]
        for n, user in enumerate(users):
            october, november = period_invoice(user, NOVEMBER_1), period_invoice(user, DECEMBER_1)
            assert october.buyer_snapshot_id == november.buyer_snapshot_id
            assert invoice_document(november).buyer.address_line1 == f"{n} rue de la Paix"
        assert BuyerSnapshot.objects.filter(user__in=users).count() == 3

    def test_a_changed_address_goes_on_the_next_invoice_and_the_issued_one_keeps_the_old(self):
        user = pro_customer(address_line1="1 rue de la Paix")
        run(NOVEMBER_1)
        UsageLogFactory(user=user, tokens=1000, created_at=paris(2026, 11, 12, 15))

        profile_update(user=user, address_line1="2 avenue Foch", now=paris(2026, 11, 20, 9, 0))
        run(DECEMBER_1)

        october, november = period_invoice(user, NOVEMBER_1), period_invoice(user, DECEMBER_1)
        assert october.buyer_snapshot_id != november.buyer_snapshot_id
        assert invoice_document(Invoice.objects.get(pk=october.pk)).buyer.address_line1 == "1 rue de la Paix"
        assert invoice_document(november).buyer.address_line1 == "2 avenue Foch"

    def test_a_new_account_email_is_a_new_version(self):
        user = pro_customer()
        version = user.profile.version
        user.email = "new-address@example.com"
        user.save()

        run(NOVEMBER_1)
        invoice = period_invoice(user, NOVEMBER_1)

        user.profile.refresh_from_db()
        assert user.profile.version == version + 1
        assert invoice.billing_details["buyer"]["email"] == "new-address@example.com"
        assert invoice.buyer_snapshot.profile_version == version + 1

    def test_every_save_counts_a_version_even_of_some_fields_only(self):
        user = pro_customer()
        profile = user.profile
        first = profile.version

        profile.city = "Lyon"
        profile.save(update_fields=["city"])
        profile.save()

        assert profile.version == first + 2
        profile.refresh_from_db()
        assert profile.version == first + 2
        assert BuyerSnapshot.objects.filter(user=user).count() == 3
        assert BuyerSnapshot.objects.get(user=user, profile_version=first + 2).details["city"] == "Lyon"

    def test_a_customer_without_a_profile_gets_one_snapshot_per_name_and_email(self):
        user = pro_customer()
        user.profile.delete()
        user = User.objects.get(pk=user.pk)

        run(NOVEMBER_1)
        UsageLogFactory(user=user, tokens=1000, created_at=paris(2026, 11, 12, 15))
        run(DECEMBER_1)

        first, second = period_invoice(user, NOVEMBER_1), period_invoice(user, DECEMBER_1)
        assert first.buyer_snapshot_id == second.buyer_snapshot_id
        assert first.buyer_snapshot.profile_version == 0
        assert first.billing_details["buyer"]["email"] == user.email


@pytest.mark.django_db
class TestPersonalData:
    def test_erasure_keeps_the_snapshots_of_issued_invoices_and_deletes_the_others(self):
        user = pro_customer(address_line1="1 rue de la Paix", full_name="Ada Lovelace")
        run(NOVEMBER_1)
        profile_update(user=user, address_line1="2 avenue Foch", now=paris(2026, 11, 20, 9, 0))
        invoiced = period_invoice(user, NOVEMBER_1).buyer_snapshot

        account_erase(user=user, now=paris(2026, 11, 21, 9, 0))

        assert list(BuyerSnapshot.objects.filter(user=user)) == [invoiced]
        assert invoice_document(period_invoice(user, NOVEMBER_1)).buyer.name == "Ada Lovelace"

    def test_key_rotation_moves_the_snapshots_to_the_new_key(self, settings):
        old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
        settings.FIELD_ENCRYPTION_KEY = [old_key]
        user = pro_customer(address_line1="1 rue de la Paix")
        [snapshot] = BuyerSnapshot.objects.filter(user=user)

        settings.FIELD_ENCRYPTION_KEY = [new_key, old_key]
        assert encryption_keys_check()["billing.BuyerSnapshot.details"] == 1
        encryption_keys_rotate()

        assert encryption_keys_check()["billing.BuyerSnapshot.details"] == 0
        Fernet(new_key.encode()).decrypt(raw_details(snapshot).encode())
        settings.FIELD_ENCRYPTION_KEY = [new_key]
        assert BuyerSnapshot.objects.get(pk=snapshot.pk).details["address_line1"] == "1 rue de la Paix"
