"""Erasure: no trace of the person in any table, while the books stay as issued."""
import datetime
from decimal import Decimal

import pytest
from axes.models import AccessAttempt
from django.contrib.sessions.models import Session
from django.db import connection

from accounts.models import ApiKey, ConsentPurpose, OAuthToken, User
from accounts.services import account_erase, api_key_create, consent_record, user_data_export
from accounts.tests.factories import UserFactory, UserProfileFactory
from billing.models import Invoice, Payment, PaymentProviderCustomer, SubscriptionStatus
from billing.services import invoice_finalize, payment_record
from billing.tests.factories import PARIS, InvoiceFactory, SubscriptionFactory
from libraries.models import UsageLog
from libraries.tests.factories import UsageLogFactory

EMAIL, NAME, PHONE = "ada.lovelace@analytical.example", "Ada Lovelace", "+33 6 12 34 56 78"


def text_columns() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND data_type IN ('text', 'character varying', 'jsonb', 'json')"
        )
        return cursor.fetchall()


def tables_holding(needle: str) -> list[str]:
    """Every table.column whose raw content contains `needle`, whatever the case."""
    found = []
    with connection.cursor() as cursor:
        for table, column in text_columns():
            cursor.execute(f'SELECT count(*) FROM "{table}" WHERE "{column}"::text ILIKE %s', [f"%{needle}%"])
            if cursor.fetchone()[0]:
                found.append(f"{table}.{column}")
    return found


@pytest.fixture
def customer(client):
    user = UserProfileFactory(
        user__email=EMAIL, user__first_name="Ada", user__last_name="Lovelace", full_name=NAME, phone=PHONE,
        company_name="Analytical Engines SARL", billing_email=EMAIL, country="FR",
    ).user
    subscription = SubscriptionFactory(user=user)
    invoice = invoice_finalize(invoice=InvoiceFactory(subscription=subscription),
                               now=datetime.datetime(2026, 11, 1, 2, tzinfo=PARIS))
    payment_record(invoice=invoice, amount=Decimal("10.00"), idempotency_key="transfer-1")
    api_key_create(user=user, name="laptop", scopes=["docs:read"])
    OAuthToken.objects.create(user=user, provider="github", access_token="gho_secret")
    consent_record(user=user, purpose=ConsentPurpose.MARKETING_EMAIL, granted=True, ip_address="203.0.113.7",
                   user_agent="Firefox/140")
    UsageLogFactory(user=user, tokens=1234)
    PaymentProviderCustomer.objects.create(
        user=user, provider="stripe", provider_customer_id="cus_ada", default_payment_method_id="pm_ada",
        card_brand="visa", card_last4="4242", card_exp_month=12, card_exp_year=2034,
    )
    AccessAttempt.objects.create(username=EMAIL, ip_address="203.0.113.7", user_agent="Firefox", failures_since_start=1,
                                 get_data="", post_data="", http_accept="", path_info="/account/login/")
    client.force_login(user)
    return user


@pytest.mark.django_db
class TestErasure:
    def test_no_table_holds_the_persons_email_name_or_phone_afterwards(self, customer):
        assert tables_holding(EMAIL)  # the search finds them before

        account_erase(user=customer)

        assert tables_holding(EMAIL) == []
        assert tables_holding(NAME) == []
        assert tables_holding(PHONE) == []
        assert tables_holding("Analytical Engines") == []

    def test_the_books_stay_as_issued(self, customer):
        invoice = Invoice.objects.get(user=customer)
        def books():
            invoice.refresh_from_db()
            return invoice.number, invoice.total, invoice.amount_paid, invoice.amount_due, invoice.billing_details

        before = books()
        account_erase(user=customer)

        assert books() == before
        assert invoice.billing_details["buyer"]["email"] == EMAIL  # kept, encrypted, for the legal retention
        assert Payment.objects.get(invoice=invoice).amount == Decimal("10.00")

    def test_access_ends_and_the_subscription_stops(self, customer, client):
        account_erase(user=customer)

        customer.refresh_from_db()
        assert not customer.is_active and not customer.has_usable_password()
        assert not Session.objects.exists()
        assert client.get("/billing/").status_code == 302  # back to the login page
        assert all(key.revoked_at for key in ApiKey.objects.filter(user=customer))
        assert not OAuthToken.objects.filter(user=customer).exists()
        assert customer.subscriptions.get().status == SubscriptionStatus.CANCELLED
        assert UsageLog.objects.get(tokens=1234).user is None
        assert not PaymentProviderCustomer.objects.filter(user=customer).exists()  # the card is never charged again

    def test_the_export_holds_this_customer_and_nobody_else(self, customer):
        other = UserProfileFactory(user__email="grace@navy.example", full_name="Grace Hopper").user
        SubscriptionFactory(user=other)

        export = user_data_export(user=customer)

        text = str(export)
        assert EMAIL in text and NAME in text
        assert "grace@navy.example" not in text and "Grace Hopper" not in text
        assert {"invoices", "payments", "subscriptions"} <= export.keys()
        [card] = export["payment_methods"]
        assert {field: value for field, value in card.items() if not field.endswith("_at")} == {
            "provider": "stripe", "provider_customer_id": "cus_ada", "card_brand": "visa", "card_last4": "4242",
            "card_exp_month": 12, "card_exp_year": 2034,
        }
        created, updated = (datetime.datetime.fromisoformat(card[field]) for field in ("created_at", "updated_at"))
        assert created <= updated


@pytest.mark.django_db
def test_a_second_erasure_changes_nothing_more():
    user = UserFactory()
    account_erase(user=user)
    first = User.objects.get(pk=user.pk).email

    account_erase(user=User.objects.get(pk=user.pk))

    assert User.objects.get(pk=user.pk).email == first
