""""Pay now" on an open invoice's page, and POST /api/billing/invoices/<id>/pay/, against a real localstripe
(billing/tests/localstripe.py): the card on file charged at once as the invoice's next attempt.

4000 0000 0000 0341 saves and is then declined when charged (localstripe refuses 4000 0000 0000 0002 when it is
saved already).
"""
import datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.services import api_key_create
from accounts.tests.factories import make_customer
from billing.models import Invoice, InvoiceStatus, Payment, PaymentStatus
from billing.payments.providers.services import payment_method_setup_start
from billing.payments.providers.stripe import PaymentProviderUnavailable, StripeProvider
from billing.services import invoice_finalize, payment_mark_processing, payment_record
from billing.tests.factories import InvoiceFactory, SubscriptionFactory
from billing.tests.localstripe import card_confirm
from billing.tests.test_stripe_charging import DECLINED_WHEN_CHARGED, card_saved, intents_of

NOW = datetime.datetime(2026, 12, 1, 7, 0, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def pinned(time_machine, media):
    time_machine.move_to(NOW, tick=False)


def issued(user, capture) -> Invoice:
    """Issued on 1 December (22.80 EUR due), and its charge at issue run (a card on file is charged then)."""
    with capture(execute=True):
        invoice = invoice_finalize(invoice=InvoiceFactory(subscription=SubscriptionFactory(user=user)), now=NOW)
    invoice.refresh_from_db()
    return invoice


def page_of(invoice: Invoice) -> str:
    return reverse("billing:invoice_detail", args=[invoice.pk])


def statuses(invoice: Invoice) -> list[tuple[str, str]]:
    return list(Payment.objects.filter(invoice=invoice).order_by("pk").values_list("idempotency_key", "status"))


@pytest.mark.django_db
class TestPayNowPage:
    def test_with_the_card_on_file_the_button_pays_the_invoice(
        self, logged_in, customer, stripe_settings, django_capture_on_commit_callbacks
    ):
        invoice = issued(customer, django_capture_on_commit_callbacks)  # no card yet: nothing charged at issue
        card = card_saved(customer, stripe_settings)

        page = logged_in.get(page_of(invoice)).content.decode()
        assert "Pay 22.80 EUR now with your Visa card ending 4242." in page.replace("\xa0", " ")
        assert 'data-testid="pay-now-button"' in page

        response = logged_in.post(page_of(invoice), follow=True)

        assert response.redirect_chain == [(page_of(invoice), 302)]
        assert f"Thank you: invoice {invoice.number} is paid." in response.content.decode()
        invoice.refresh_from_db()
        assert (invoice.status, invoice.amount_due) == (InvoiceStatus.PAID, Decimal("0.00"))
        assert statuses(invoice) == [(f"stripe:invoice:{invoice.pk}:attempt:1", PaymentStatus.COMPLETED)]
        [intent] = intents_of(stripe_settings, card)
        assert intent.status == "succeeded" and intent.amount == 2280
        assert 'data-testid="pay-now"' not in response.content.decode()  # paid: nothing left to offer

    def test_a_post_without_the_csrf_token_charges_nothing(
        self, customer, stripe_settings, django_capture_on_commit_callbacks
    ):
        invoice = issued(customer, django_capture_on_commit_callbacks)
        card_saved(customer, stripe_settings)
        browser = Client(enforce_csrf_checks=True)
        browser.force_login(customer)

        response = browser.post(page_of(invoice))

        assert response.status_code == 403
        assert statuses(invoice) == []

    def test_a_refused_card_shows_stripes_reason_and_the_invoice_stays_due(
        self, logged_in, customer, stripe_settings, django_capture_on_commit_callbacks
    ):
        card_saved(customer, stripe_settings, number=DECLINED_WHEN_CHARGED)
        invoice = issued(customer, django_capture_on_commit_callbacks)  # attempt 1 refused at issue

        response = logged_in.post(page_of(invoice), follow=True)

        assert "Your card was refused: Your card was declined." in response.content.decode()
        invoice.refresh_from_db()
        assert (invoice.status, invoice.amount_due) == (InvoiceStatus.SENT, Decimal("22.80"))
        assert [status for _, status in statuses(invoice)] == [PaymentStatus.FAILED, PaymentStatus.FAILED]
        assert statuses(invoice)[1][0] == f"stripe:invoice:{invoice.pk}:attempt:2"

    def test_without_a_card_the_page_links_to_add_one_and_the_card_page_comes_back(
        self, logged_in, customer, stripe_settings, django_capture_on_commit_callbacks
    ):
        invoice = issued(customer, django_capture_on_commit_callbacks)

        page = logged_in.get(page_of(invoice)).content.decode()

        add_card = f"/billing/payment-method/?next=%2Fbilling%2Finvoices%2F{invoice.pk}%2F"
        assert f'href="{add_card}" data-testid="pay-now-add-card"' in page
        assert 'data-testid="pay-now-button"' not in page
        setup = payment_method_setup_start(user=customer)
        assert card_confirm(stripe_settings, client_secret=setup.client_secret).status_code == 200
        response = logged_in.post(add_card, {"setup_intent": setup.setup_intent_id})
        assert (response.status_code, response["Location"]) == (302, page_of(invoice))
        assert 'data-testid="pay-now-button"' in logged_in.get(page_of(invoice)).content.decode()

    @pytest.mark.parametrize("target", ["https://evil.example/billing/", "//evil.example/", "javascript:alert(1)"])
    def test_the_card_page_never_sends_the_customer_to_another_site(
        self, logged_in, customer, stripe_settings, target
    ):
        setup = payment_method_setup_start(user=customer)
        card_confirm(stripe_settings, client_secret=setup.client_secret)

        response = logged_in.post(f"/billing/payment-method/?next={target}", {"setup_intent": setup.setup_intent_id})

        assert response.status_code == 302
        assert response["Location"].startswith("/billing/payment-method/")

    def test_a_charge_in_progress_is_shown_and_not_charged_again(
        self, logged_in, customer, stripe_settings, django_capture_on_commit_callbacks
    ):
        invoice = issued(customer, django_capture_on_commit_callbacks)
        card_saved(customer, stripe_settings)
        payment = payment_record(invoice=invoice, amount=invoice.amount_due, method="CARD", status="PENDING",
                                 idempotency_key=f"stripe:invoice:{invoice.pk}:attempt:1", now=NOW)
        payment_mark_processing(payment=payment)

        page = logged_in.get(page_of(invoice)).content.decode()
        assert 'data-testid="pay-now-in-progress"' in page and 'data-testid="pay-now-button"' not in page
        response = logged_in.post(page_of(invoice), follow=True)

        assert "is already in progress" in response.content.decode()
        assert statuses(invoice) == [(f"stripe:invoice:{invoice.pk}:attempt:1", PaymentStatus.PROCESSING)]

    def test_stripe_out_of_reach_leaves_the_attempt_to_the_charge_task(
        self, logged_in, customer, stripe_settings, monkeypatch, django_capture_on_commit_callbacks
    ):
        invoice = issued(customer, django_capture_on_commit_callbacks)
        card_saved(customer, stripe_settings)

        def unreachable(self, **kwargs):
            raise PaymentProviderUnavailable("Stripe could not complete the request: please try again in a moment.")

        with monkeypatch.context() as patch, django_capture_on_commit_callbacks(execute=False) as queued:
            patch.setattr(StripeProvider, "payment_intent_charge", unreachable)
            response = logged_in.post(page_of(invoice), follow=True)
        assert "Stripe could not complete the request" in response.content.decode()
        assert statuses(invoice) == [(f"stripe:invoice:{invoice.pk}:attempt:1", PaymentStatus.PROCESSING)]
        assert 'data-testid="pay-now-in-progress"' in logged_in.get(page_of(invoice)).content.decode()

        for callback in queued:  # the worker, once Stripe answers again
            callback()

        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID
        assert statuses(invoice) == [(f"stripe:invoice:{invoice.pk}:attempt:1", PaymentStatus.COMPLETED)]

    def test_with_the_manual_provider_the_page_keeps_the_bank_transfer(
        self, logged_in, customer, settings, django_capture_on_commit_callbacks
    ):
        settings.SELLER = {**settings.SELLER, "iban": "FR7630006000011234567890189", "bic": "AGRIFRPPXXX"}
        invoice = issued(customer, django_capture_on_commit_callbacks)

        page = logged_in.get(page_of(invoice)).content.decode()
        response = logged_in.post(page_of(invoice), follow=True)

        assert 'data-testid="bank-transfer"' in page and "FR76 3000 6000 0112 3456 7890 189" in page
        assert 'data-testid="pay-now"' not in page
        assert "Invoices are paid by bank transfer" in response.content.decode()
        assert statuses(invoice) == []


URL = "/api/billing/invoices/{}/pay/"


def api(user, scopes=("billing:read", "billing:write")) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=user, name='CI', scopes=list(scopes)).token}")
    return client


@pytest.mark.django_db
class TestPayApi:
    def test_paid_answers_200_with_the_invoice_then_409(
        self, customer, stripe_settings, django_capture_on_commit_callbacks
    ):
        invoice = issued(customer, django_capture_on_commit_callbacks)
        card_saved(customer, stripe_settings)
        client = api(customer)

        response = client.post(URL.format(invoice.pk))

        assert response.status_code == 200
        body = response.json()
        assert (body["id"], body["status"], body["amount_due"]) == (invoice.pk, "PAID", "0.00")
        again = client.post(URL.format(invoice.pk))
        assert (again.status_code, again.json()["error"]["code"]) == (409, "conflict")
        assert "nothing left to pay" in again.json()["error"]["message"]
        assert len(statuses(invoice)) == 1

    def test_a_refused_card_answers_402_card_declined_with_the_reason(
        self, customer, stripe_settings, django_capture_on_commit_callbacks
    ):
        card_saved(customer, stripe_settings, number=DECLINED_WHEN_CHARGED)
        invoice = issued(customer, django_capture_on_commit_callbacks)

        response = api(customer).post(URL.format(invoice.pk))

        assert response.status_code == 402
        assert response.json()["error"] == {"code": "card_declined", "message": "Your card was declined.",
                                            "fields": {}}
        assert len(statuses(invoice)) == 2

    def test_an_attempt_in_progress_answers_409(self, customer, stripe_settings, django_capture_on_commit_callbacks):
        invoice = issued(customer, django_capture_on_commit_callbacks)
        card_saved(customer, stripe_settings)
        payment = payment_record(invoice=invoice, amount=invoice.amount_due, method="CARD", status="PENDING",
                                 idempotency_key=f"stripe:invoice:{invoice.pk}:attempt:1", now=NOW)
        payment_mark_processing(payment=payment)

        response = api(customer).post(URL.format(invoice.pk))

        assert (response.status_code, response.json()["error"]["code"]) == (409, "conflict")
        assert len(statuses(invoice)) == 1

    def test_another_customers_invoice_answers_404_and_charges_nothing(
        self, customer, stripe_settings, django_capture_on_commit_callbacks
    ):
        other = make_customer(user__email="grace@example.com")
        invoice = issued(other, django_capture_on_commit_callbacks)
        card_saved(other, stripe_settings)  # her invoice is due and her card could pay it
        card_saved(customer, stripe_settings)

        response = api(customer).post(URL.format(invoice.pk))

        assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
        assert statuses(invoice) == []

    def test_without_billing_write_answers_403(self, customer, stripe_settings, django_capture_on_commit_callbacks):
        invoice = issued(customer, django_capture_on_commit_callbacks)
        card_saved(customer, stripe_settings)

        response = api(customer, scopes=["billing:read"]).post(URL.format(invoice.pk))

        assert (response.status_code, response.json()["error"]["code"]) == (403, "insufficient_scope")
        assert statuses(invoice) == []
