"""Issued invoices charged to the saved card with Stripe, and Stripe's webhook, against a real localstripe
(billing/tests/localstripe.py) through the official SDK.

The card is saved the way the payment-method page saves it (a SetupIntent confirmed as Stripe.js would).
localstripe declines 4000 0000 0000 0002 when it is saved already; 4000 0000 0000 0341 is Stripe's card that
saves and is then declined when charged, the case of a card that stops paying.
"""
import datetime
import hashlib
import hmac
import json
import threading
import time
from decimal import Decimal

import pytest
import requests
from django.db import connection
from django.test import Client

from billing.models import (
    AlertType,
    BillingAlert,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    PaymentProviderCustomer,
    PaymentStatus,
    WebhookEvent,
    WebhookEventStatus,
)
from billing.payments.charging import charge_idempotency_key
from billing.payments.providers.services import payment_method_save, payment_method_setup_start
from billing.payments.providers.stripe import PaymentProviderUnavailable
from billing.payments.tasks import invoice_charge_task
from billing.services import (
    invoice_charge,
    invoice_finalize,
    invoice_run,
    payment_mark_processing,
    payment_record,
)
from billing.tests.factories import InvoiceFactory, PlanFactory, SubscriptionFactory
from billing.tests.localstripe import card_confirm, stripe_client

URL = "/api/billing/stripe/webhook/"
WEBHOOK_SECRET = "whsec_twinmcp"  # what the stripe_settings fixture sets
NOW = datetime.datetime(2026, 12, 1, 7, 0, tzinfo=datetime.UTC)
DECLINED_WHEN_CHARGED = "4000000000000341"


@pytest.fixture
def pinned(time_machine):
    time_machine.move_to(NOW, tick=False)


def card_saved(user, localstripe_url: str, number: str = "4242424242424242") -> PaymentProviderCustomer:
    setup = payment_method_setup_start(user=user)
    assert card_confirm(localstripe_url, client_secret=setup.client_secret, number=number).status_code == 200
    return payment_method_save(user=user, setup_intent_id=setup.setup_intent_id)


def draft(user) -> Invoice:
    return InvoiceFactory(subscription=SubscriptionFactory(user=user))  # 19.00 + 20 % VAT = 22.80


def intents_of(localstripe_url: str, customer: PaymentProviderCustomer) -> list:
    listed = stripe_client(localstripe_url).v1.payment_intents.list(params={"limit": 100})
    return [intent for intent in listed.auto_paging_iter() if intent.customer == customer.provider_customer_id]


def finalised(invoice: Invoice, capture) -> Invoice:
    """Finalise as finance or the monthly run does, then run what was queued after commit (eager Celery)."""
    with capture(execute=True):
        invoice_finalize(invoice=invoice, now=NOW)
    invoice.refresh_from_db()
    return invoice


@pytest.mark.django_db
@pytest.mark.usefixtures("media", "pinned")
class TestChargeAtIssue:
    def test_finalising_charges_the_saved_card_and_the_invoice_is_paid(
        self, customer, stripe_settings, django_capture_on_commit_callbacks
    ):
        card = card_saved(customer, stripe_settings)

        invoice = finalised(draft(customer), django_capture_on_commit_callbacks)

        assert (invoice.status, invoice.amount_paid, invoice.amount_due) == (
            InvoiceStatus.PAID, Decimal("22.80"), Decimal("0.00"),
        )
        [payment] = Payment.objects.filter(invoice=invoice)
        assert (payment.status, payment.method, payment.amount) == (
            PaymentStatus.COMPLETED, PaymentMethod.CARD, Decimal("22.80"),
        )
        assert payment.idempotency_key == f"stripe:invoice:{invoice.pk}:attempt:1"
        [intent] = intents_of(stripe_settings, card)
        assert payment.provider_reference == intent.id
        assert (intent.amount, intent.currency, intent.status) == (2280, "eur", "succeeded")
        assert intent.payment_method == card.default_payment_method_id
        assert intent.metadata.to_dict() == {
            "invoice_id": str(invoice.pk), "invoice_number": invoice.number, "attempt": "1",
        }

    def test_a_declined_card_fails_the_payment_with_the_reason_and_the_invoice_stays_due(
        self, customer, stripe_settings, django_capture_on_commit_callbacks
    ):
        card = card_saved(customer, stripe_settings, number=DECLINED_WHEN_CHARGED)

        invoice = finalised(draft(customer), django_capture_on_commit_callbacks)

        assert (invoice.status, invoice.amount_due) == (InvoiceStatus.SENT, Decimal("22.80"))
        [payment] = Payment.objects.filter(invoice=invoice)
        assert payment.status == PaymentStatus.FAILED
        assert payment.failure_reason == "Your card was declined."
        [intent] = intents_of(stripe_settings, card)
        assert payment.provider_reference == intent.id
        alert = BillingAlert.objects.get(user=customer, type=AlertType.PAYMENT_FAILED)
        assert f"for invoice {invoice.number} failed: Your card was declined." in alert.message

    def test_the_monthly_run_charges_what_it_issues(self, customer, stripe_settings,
                                                     django_capture_on_commit_callbacks):
        card = card_saved(customer, stripe_settings)
        SubscriptionFactory(
            user=customer, plan=PlanFactory(price=Decimal("19.00")),
            current_period_start=datetime.date(2026, 10, 1), current_period_end=datetime.date(2026, 11, 1),
        )

        with django_capture_on_commit_callbacks(execute=True):
            invoice_run(period_end=datetime.date(2026, 11, 1), issue_documents=False, now=NOW)

        [invoice] = Invoice.objects.filter(user=customer)
        assert (invoice.status, invoice.total, invoice.amount_due) == (
            InvoiceStatus.PAID, Decimal("22.80"), Decimal("0.00"),
        )
        [payment] = Payment.objects.filter(invoice=invoice, status=PaymentStatus.COMPLETED)
        assert [intent.id for intent in intents_of(stripe_settings, card)] == [payment.provider_reference]

    def test_the_task_delivered_twice_charges_once(self, customer, stripe_settings, django_capture_on_commit_callbacks):
        card = card_saved(customer, stripe_settings)
        with django_capture_on_commit_callbacks(execute=False):  # issued, the charge not sent yet
            invoice = invoice_finalize(invoice=draft(customer), now=NOW)

        for _ in range(2):
            invoice_charge_task.apply(kwargs={"invoice_id": invoice.pk, "attempt": 1}).get()

        assert len(intents_of(stripe_settings, card)) == 1
        [payment] = Payment.objects.filter(invoice=invoice)
        assert payment.status == PaymentStatus.COMPLETED
        invoice.refresh_from_db()
        assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.PAID, Decimal("22.80"))

    def test_stripe_out_of_reach_leaves_the_payment_processing_for_the_retry(self, customer, stripe_settings, settings):
        card = card_saved(customer, stripe_settings)
        invoice = invoice_finalize(invoice=draft(customer), now=NOW)  # queued after commit: never sent here
        settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # the discard port: nothing answers

        with pytest.raises(PaymentProviderUnavailable, match="Stripe could not complete the request"):
            invoice_charge(invoice=invoice, attempt=1, now=NOW)

        [payment] = Payment.objects.filter(invoice=invoice)
        assert (payment.status, payment.provider_reference) == (PaymentStatus.PROCESSING, "")
        settings.STRIPE_API_BASE = stripe_settings
        invoice_charge(invoice=invoice, attempt=1, now=NOW)  # the retry, under the same key
        payment.refresh_from_db()
        assert payment.status == PaymentStatus.COMPLETED
        assert Payment.objects.filter(invoice=invoice).count() == 1
        assert [intent.id for intent in intents_of(stripe_settings, card)] == [payment.provider_reference]

    def test_the_manual_provider_charges_nothing(self, customer, stripe_settings, settings,
                                                 django_capture_on_commit_callbacks):
        card = card_saved(customer, stripe_settings)
        settings.PAYMENT_PROVIDER = "manual"

        invoice = finalised(draft(customer), django_capture_on_commit_callbacks)

        assert (invoice.status, invoice.amount_due) == (InvoiceStatus.SENT, Decimal("22.80"))
        assert not Payment.objects.filter(invoice=invoice).exists()
        assert intents_of(stripe_settings, card) == []

    def test_a_customer_without_a_card_is_not_charged(self, customer, stripe_settings,
                                                      django_capture_on_commit_callbacks):
        invoice = finalised(draft(customer), django_capture_on_commit_callbacks)

        assert (invoice.status, invoice.amount_due) == (InvoiceStatus.SENT, Decimal("22.80"))
        assert not Payment.objects.filter(invoice=invoice).exists()
        assert invoice_charge(invoice=invoice, attempt=1, now=NOW) is None


# ---------------------------------------------------------------------------------------------------
# The webhook
# ---------------------------------------------------------------------------------------------------


def stripe_signature(body: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """Stripe's scheme: `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def deliver(client, event: dict, *, secret: str = WEBHOOK_SECRET):
    body = json.dumps(event).encode()
    return client.post(URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=stripe_signature(
        body, secret=secret
    ))


def intent_event(payment: Payment, *, event_id: str = "evt_1", succeeded: bool = True, reference: str = "") -> dict:
    intent = {
        "id": reference or payment.provider_reference, "object": "payment_intent", "amount": 2280, "currency": "eur",
        "status": "succeeded" if succeeded else "requires_payment_method",
        "metadata": {"invoice_id": str(payment.invoice_id), "attempt": "1"},
        "last_payment_error": None if succeeded else {"code": "card_declined", "message": "Your card was declined."},
    }
    return {
        "id": event_id, "object": "event", "created": int(time.time()),
        "type": "payment_intent.succeeded" if succeeded else "payment_intent.payment_failed",
        "data": {"object": intent},
    }


def charging(user, *, reference: str = "pi_charged_1") -> Payment:
    """An issued invoice whose card payment is under way at Stripe, its outcome not known yet."""
    invoice = invoice_finalize(invoice=draft(user), now=NOW)  # PAYMENT_PROVIDER manual: nothing is charged here
    payment = payment_record(
        invoice=invoice, amount=invoice.amount_due, method=PaymentMethod.CARD, status=PaymentStatus.PENDING,
        idempotency_key=charge_idempotency_key(invoice_id=invoice.pk, attempt=1), provider_reference=reference,
        now=NOW,
    )
    return payment_mark_processing(payment=payment)


@pytest.fixture
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET


@pytest.mark.django_db
@pytest.mark.usefixtures("pinned", "webhook_secret")
class TestStripeWebhook:
    def test_a_succeeded_intent_completes_its_payment_and_pays_the_invoice_once(self, client, customer):
        payment = charging(customer)

        first = deliver(client, intent_event(payment))
        again = deliver(client, intent_event(payment))

        assert (first.status_code, again.status_code) == (200, 200)
        assert again.json()["status"] == "duplicate"
        payment.refresh_from_db()
        assert payment.status == PaymentStatus.COMPLETED
        invoice = Invoice.objects.get(pk=payment.invoice_id)
        assert (invoice.status, invoice.amount_paid, invoice.amount_due) == (
            InvoiceStatus.PAID, Decimal("22.80"), Decimal("0.00"),
        )
        assert WebhookEvent.objects.get(event_id="evt_1").payment_id == payment.pk

    def test_the_same_outcome_under_a_new_event_id_is_not_applied_twice(self, client, customer):
        payment = charging(customer)

        deliver(client, intent_event(payment, event_id="evt_1"))
        response = deliver(client, intent_event(payment, event_id="evt_2"))

        assert response.status_code == 200
        invoice = Invoice.objects.get(pk=payment.invoice_id)
        assert (invoice.amount_paid, invoice.amount_due) == (Decimal("22.80"), Decimal("0.00"))
        assert Payment.objects.filter(invoice=invoice).count() == 1

    def test_an_intent_whose_id_was_never_stored_is_found_by_its_invoice_and_attempt(self, client, customer):
        payment = charging(customer, reference="")

        deliver(client, intent_event(payment, reference="pi_answer_lost"))

        payment.refresh_from_db()
        assert (payment.status, payment.provider_reference) == (PaymentStatus.COMPLETED, "pi_answer_lost")

    def test_a_failed_intent_fails_the_payment_with_stripes_reason(self, client, customer):
        payment = charging(customer)

        response = deliver(client, intent_event(payment, succeeded=False))

        assert response.status_code == 200
        payment.refresh_from_db()
        assert (payment.status, payment.failure_reason) == (PaymentStatus.FAILED, "Your card was declined.")
        assert Invoice.objects.get(pk=payment.invoice_id).status == InvoiceStatus.SENT
        assert BillingAlert.objects.filter(user=customer, type=AlertType.PAYMENT_FAILED).count() == 1

    def test_a_bad_signature_is_refused_and_nothing_is_recorded(self, client, customer):
        payment = charging(customer)

        response = deliver(client, intent_event(payment), secret="whsec_someone-else")

        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_signature"
        assert not WebhookEvent.objects.exists()
        payment.refresh_from_db()
        assert payment.status == PaymentStatus.PROCESSING

    def test_a_body_changed_after_signing_is_refused(self, client, customer):
        payment = charging(customer)
        body = json.dumps(intent_event(payment)).encode()
        header = stripe_signature(body)

        response = client.post(URL, body.replace(b"2280", b"1"), content_type="application/json",
                               HTTP_STRIPE_SIGNATURE=header)

        assert response.status_code == 400
        assert not WebhookEvent.objects.exists()

    def test_an_event_type_not_acted_on_is_recorded_and_ignored(self, client, customer):
        payment = charging(customer)
        event = {**intent_event(payment), "type": "customer.updated"}

        response = deliver(client, event)

        assert response.status_code == 200
        record = WebhookEvent.objects.get(event_id="evt_1")
        assert (record.type, record.payment_id) == ("customer.updated", None)
        payment.refresh_from_db()
        assert payment.status == PaymentStatus.PROCESSING

    def test_an_intent_this_server_did_not_charge_is_recorded_for_finance_and_not_applied(self, client, customer):
        event = {
            "id": "evt_foreign", "type": "payment_intent.succeeded",
            "data": {"object": {"id": "pi_elsewhere", "object": "payment_intent", "metadata": {}}},
        }

        response = deliver(client, event)

        assert response.status_code == 200  # final: Stripe need not retry it
        record = WebhookEvent.objects.get(event_id="evt_foreign")
        assert record.status == WebhookEventStatus.REJECTED
        assert "pi_elsewhere" in record.rejection["message"]
        assert not Payment.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("pinned", "webhook_secret")
def test_twenty_parallel_deliveries_of_one_event_complete_one_payment(customer):
    payment = charging(customer)
    body = json.dumps(intent_event(payment)).encode()
    header = stripe_signature(body)
    start, answers = threading.Barrier(20), []

    def deliver_once():
        try:
            start.wait(timeout=30)
            answers.append(Client().post(URL, body, content_type="application/json",
                                         HTTP_STRIPE_SIGNATURE=header).status_code)
        finally:
            connection.close()

    workers = [threading.Thread(target=deliver_once) for _ in range(20)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert answers == [200] * 20
    assert WebhookEvent.objects.filter(event_id="evt_1").count() == 1
    [completed] = Payment.objects.filter(invoice_id=payment.invoice_id)
    assert completed.status == PaymentStatus.COMPLETED
    invoice = Invoice.objects.get(pk=payment.invoice_id)
    assert (invoice.status, invoice.amount_paid, invoice.amount_due) == (
        InvoiceStatus.PAID, Decimal("22.80"), Decimal("0.00"),
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("webhook_secret")
def test_localstripe_delivers_the_outcome_to_the_webhook(customer, stripe_settings, settings, live_server,
                                                         time_machine):
    """End to end: localstripe itself posts `payment_intent.succeeded`, signed, to this server. The charge's own
    answer is taken as lost (the Payment has no PaymentIntent id yet): the webhook alone completes it. Stripe's
    signature carries localstripe's clock, so this test runs on that one, whatever clock `--clock` gave the run."""
    card = card_saved(customer, stripe_settings)
    at_stripe = stripe_client(stripe_settings).v1.customers.retrieve(card.provider_customer_id).created
    time_machine.move_to(datetime.datetime.fromtimestamp(at_stripe, datetime.UTC), tick=True)
    settings.PAYMENT_PROVIDER = "manual"  # issued without the charge at issue: this test charges by hand
    payment = charging(customer, reference="")
    settings.PAYMENT_PROVIDER = "stripe"
    hook = f"{stripe_settings}/_config/webhooks/twinmcp-e2e"
    registered = requests.post(hook, json={"url": f"{live_server.url}{URL}", "secret": WEBHOOK_SECRET}, timeout=10)
    assert registered.status_code == 200
    try:
        intent = stripe_client(stripe_settings).v1.payment_intents.create(params={
            "amount": 2280, "currency": "eur", "customer": card.provider_customer_id,
            "payment_method": card.default_payment_method_id, "off_session": True, "confirm": True,
            "metadata": {"invoice_id": str(payment.invoice_id), "attempt": "1"},
        })
        for _ in range(100):  # localstripe waits a second before it posts
            payment.refresh_from_db()
            if payment.status != PaymentStatus.PROCESSING:
                break
            time.sleep(0.1)
    finally:
        # localstripe has no way to remove a webhook: this one then listens to an event that never happens.
        requests.post(hook, json={"url": f"{live_server.url}{URL}", "secret": WEBHOOK_SECRET,
                                  "events": ["never.sent"]}, timeout=10)

    assert (payment.status, payment.provider_reference) == (PaymentStatus.COMPLETED, intent.id)
    assert WebhookEvent.objects.get(payment=payment).type == "payment_intent.succeeded"
    assert Invoice.objects.get(pk=payment.invoice_id).status == InvoiceStatus.PAID
