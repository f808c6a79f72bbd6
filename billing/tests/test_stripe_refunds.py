"""Refunds from the admin through Stripe, and back through Stripe's webhook, against a real localstripe
(billing/tests/localstripe.py): a 22.80 invoice paid by card, refunded in part then in full, each refund counted
once in the books whichever of Stripe's answer and its events comes first."""
import datetime
import json
import threading
import time
import uuid
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client

from accounts.models import AuditLog
from accounts.tests.admin_helpers import admin_url
from billing.models import Invoice, InvoiceStatus, Payment, PaymentMethod, PaymentStatus, WebhookEvent
from billing.services import invoice_finalize, payment_intent_outcome_apply, payment_record
from billing.tests.admin_world import staff_user
from billing.tests.localstripe import stripe_client
from billing.tests.test_stripe_charging import (
    URL,
    card_saved,
    charging,
    deliver,
    draft,
    finalised,
    stripe_signature,
)

NOW = datetime.datetime(2026, 12, 1, 7, 0, tzinfo=datetime.UTC)  # the invoice is due on the 31st: not overdue


@pytest.fixture
def pinned(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def paid_by_card(customer, stripe_settings, django_capture_on_commit_callbacks) -> Payment:
    """A 22.80 invoice charged to the saved card at issue, and paid."""
    card_saved(customer, stripe_settings)
    invoice = finalised(draft(customer), django_capture_on_commit_callbacks)
    assert invoice.status == InvoiceStatus.PAID
    return Payment.objects.get(invoice=invoice, status=PaymentStatus.COMPLETED)


def refund_form(**changes) -> dict:
    return {"amount": "10.00", "reason": "Service outage on 28 November", "token": str(uuid.uuid4()), **changes}


def refund(client, payment: Payment, **data):
    """What the refund page posts back once filled in (the payment's Refund button opens it)."""
    return client.post(
        admin_url(Payment, "changelist"),
        {"action": "refund", "_selected_action": [payment.pk], "apply": "1", **data},
    )


def refunds_at_stripe(localstripe_url: str, payment: Payment) -> list[int]:
    listed = stripe_client(localstripe_url).v1.refunds.list(params={"payment_intent": payment.provider_reference})
    return sorted(item.amount for item in listed.auto_paging_iter())


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def audit_rows(payment: Payment, action: str) -> list[AuditLog]:
    return list(AuditLog.objects.filter(object_type="billing.Payment", object_id=str(payment.pk), action=action))


def refund_event(*, refund_id: str, payment_intent: str, amount: int, status: str = "succeeded",
                 event_id: str = "evt_refund_1", event_type: str = "refund.created") -> dict:
    refund_object = {
        "id": refund_id, "object": "refund", "amount": amount, "currency": "eur", "status": status,
        "payment_intent": payment_intent, "charge": "ch_1", "metadata": {},
    }
    if event_type == "charge.refunded":
        data = {
            "id": "ch_1", "object": "charge", "payment_intent": payment_intent, "amount_refunded": amount,
            "refunds": {"object": "list", "data": [refund_object]},
        }
    else:
        data = refund_object
    return {"id": event_id, "object": "event", "created": int(time.time()), "type": event_type,
            "data": {"object": data}}


@pytest.mark.django_db
@pytest.mark.usefixtures("media", "pinned")
class TestRefundFromTheAdmin:
    def test_the_refund_page_offers_all_that_is_left(self, finance_client, paid_by_card):
        response = finance_client.post(
            admin_url(Payment, "changelist"), {"action": "refund", "index": 0, "_selected_action": [paid_by_card.pk]}
        )

        assert response.status_code == 200
        assert response.context["form"].initial["amount"] == Decimal("22.80")

    def test_a_partial_refund_then_the_rest_refunds_the_card_and_the_invoice_is_due_again(
        self, finance_client, finance, paid_by_card, stripe_settings
    ):
        response = refund(finance_client, paid_by_card, **refund_form(amount="10.00"))

        assert response.status_code == 302
        assert any("Refunded through Stripe (1)" in text for text in messages_of(response))
        assert refunds_at_stripe(stripe_settings, paid_by_card) == [1000]
        payment = Payment.objects.get(pk=paid_by_card.pk)
        assert (payment.refunded_amount, payment.status) == (Decimal("10.00"), PaymentStatus.REFUNDED)
        invoice = Invoice.objects.get(pk=payment.invoice_id)
        # payment_refund: money handed back is due again, and the invoice leaves PAID (not yet past due: SENT).
        assert (invoice.status, invoice.amount_paid, invoice.amount_due) == (
            InvoiceStatus.SENT, Decimal("12.80"), Decimal("10.00"),
        )
        [asked] = audit_rows(payment, "payment.refund_request")
        assert asked.actor == finance
        assert asked.changes["amount"] == "10.00"
        assert asked.changes["reason"] == "Service outage on 28 November"
        assert asked.changes["refund"] in payment.refund_references

        refund(finance_client, paid_by_card, **refund_form(amount="12.80"))

        assert refunds_at_stripe(stripe_settings, paid_by_card) == [1000, 1280]
        payment.refresh_from_db()
        assert (payment.refunded_amount, payment.status) == (Decimal("22.80"), PaymentStatus.REFUNDED)
        invoice.refresh_from_db()
        assert (invoice.status, invoice.amount_paid, invoice.amount_due) == (
            InvoiceStatus.SENT, Decimal("0.00"), Decimal("22.80"),
        )
        assert len(audit_rows(payment, "payment.refund")) == 2

    def test_more_than_is_left_is_refused_on_the_amount_and_nothing_is_written(
        self, finance_client, paid_by_card, stripe_settings
    ):
        refund(finance_client, paid_by_card, **refund_form(amount="20.00"))

        response = refund(finance_client, paid_by_card, **refund_form(amount="2.81"))

        assert response.status_code == 200  # the form again, with the error on its field
        assert response.context["form"].errors == {"amount": ["At most 2.80 EUR is left to refund."]}
        assert refunds_at_stripe(stripe_settings, paid_by_card) == [2000]
        payment = Payment.objects.get(pk=paid_by_card.pk)
        assert payment.refunded_amount == Decimal("20.00")
        assert len(audit_rows(payment, "payment.refund_request")) == 1

    def test_the_same_request_sent_twice_refunds_once(self, finance_client, paid_by_card, stripe_settings):
        form = refund_form(amount="10.00")

        refund(finance_client, paid_by_card, **form)
        refund(finance_client, paid_by_card, **form)

        assert refunds_at_stripe(stripe_settings, paid_by_card) == [1000]
        payment = Payment.objects.get(pk=paid_by_card.pk)
        assert payment.refunded_amount == Decimal("10.00")
        assert Invoice.objects.get(pk=payment.invoice_id).amount_due == Decimal("10.00")

    def test_stripes_refusal_is_shown_and_nothing_is_written(self, finance_client, paid_by_card, stripe_settings):
        # A PaymentIntent Stripe does not know (deleted test data, another account): Stripe answers 404.
        Payment.objects.filter(pk=paid_by_card.pk).update(provider_reference="pi_unknown_at_stripe")

        response = refund(finance_client, paid_by_card, **refund_form())

        assert any("Stripe refused the refund" in text for text in messages_of(response))
        payment = Payment.objects.get(pk=paid_by_card.pk)
        assert (payment.refunded_amount, payment.status, payment.refund_references) == (
            Decimal("0.00"), PaymentStatus.COMPLETED, {},
        )
        assert Invoice.objects.get(pk=payment.invoice_id).status == InvoiceStatus.PAID
        assert audit_rows(payment, "payment.refund_request") == []

    def test_a_bank_transfer_is_recorded_as_refunded_without_stripe(self, finance_client, finance, customer):
        invoice = invoice_finalize(invoice=draft(customer), now=NOW)
        payment = payment_record(
            invoice=invoice, amount=Decimal("22.80"), idempotency_key="bank-1", method=PaymentMethod.BANK_TRANSFER,
            provider_reference="VIR 2026-12 ACME", now=NOW,
        )
        form = refund_form(amount="10.00")

        response = refund(finance_client, payment, **form)
        refund(finance_client, payment, **form)  # a double click

        assert any("Refund recorded (1)" in text for text in messages_of(response))
        payment.refresh_from_db()
        assert (payment.refunded_amount, payment.status) == (Decimal("10.00"), PaymentStatus.REFUNDED)
        invoice.refresh_from_db()
        assert (invoice.status, invoice.amount_due) == (InvoiceStatus.SENT, Decimal("10.00"))
        [asked] = audit_rows(payment, "payment.refund_request")
        assert asked.actor == finance

    def test_staff_outside_finance_cannot_refund(self, client, paid_by_card, stripe_settings):
        client.force_login(staff_user())

        response = refund(client, paid_by_card, **refund_form())

        assert response.status_code == 403
        assert refunds_at_stripe(stripe_settings, paid_by_card) == []


@pytest.fixture
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = "whsec_twinmcp"


@pytest.mark.django_db
@pytest.mark.usefixtures("media", "pinned")
class TestRefundThroughTheWebhook:
    def test_a_refund_made_at_stripe_is_applied_once_however_often_it_is_told(
        self, client, paid_by_card, stripe_settings
    ):
        made = stripe_client(stripe_settings).v1.refunds.create(
            params={"payment_intent": paid_by_card.provider_reference, "amount": 500}
        )
        event = refund_event(refund_id=made.id, payment_intent=paid_by_card.provider_reference, amount=500)

        answers = [deliver(client, event).json()["status"], deliver(client, event).json()["status"]]
        # The same refund under other events: the charge's, and a later update.
        deliver(client, {**refund_event(refund_id=made.id, payment_intent=paid_by_card.provider_reference,
                                        amount=500, event_id="evt_charge", event_type="charge.refunded")})
        deliver(client, refund_event(refund_id=made.id, payment_intent=paid_by_card.provider_reference, amount=500,
                                     event_id="evt_update", event_type="refund.updated"))

        assert answers == ["PROCESSED", "duplicate"]
        payment = Payment.objects.get(pk=paid_by_card.pk)
        assert (payment.refunded_amount, payment.status) == (Decimal("5.00"), PaymentStatus.REFUNDED)
        assert Invoice.objects.get(pk=payment.invoice_id).amount_due == Decimal("5.00")

    def test_the_event_of_a_refund_the_admin_made_finds_it_applied(
        self, finance_client, client, paid_by_card, stripe_settings
    ):
        refund(finance_client, paid_by_card, **refund_form(amount="10.00"))
        [refund_id] = Payment.objects.get(pk=paid_by_card.pk).refund_references

        deliver(client, refund_event(refund_id=refund_id, payment_intent=paid_by_card.provider_reference,
                                     amount=1000))

        assert Payment.objects.get(pk=paid_by_card.pk).refunded_amount == Decimal("10.00")

    def test_a_pending_refund_is_applied_when_stripe_says_it_succeeded(self, client, customer, webhook_secret):
        payment = payment_intent_outcome_apply(payment=charging(customer), succeeded=True, now=NOW)
        pending = refund_event(refund_id="re_1", payment_intent=payment.provider_reference, amount=800,
                               status="pending")

        deliver(client, pending)

        payment.refresh_from_db()
        assert payment.refunded_amount == Decimal("0.00")  # not given back yet: the books wait for Stripe
        deliver(client, refund_event(refund_id="re_1", payment_intent=payment.provider_reference, amount=800,
                                     event_id="evt_refund_2", event_type="refund.updated"))
        payment.refresh_from_db()
        assert payment.refunded_amount == Decimal("8.00")

    def test_a_refund_of_a_payment_intent_not_ours_is_recorded_and_not_applied(self, client, customer, webhook_secret):
        payment = payment_intent_outcome_apply(payment=charging(customer), succeeded=True, now=NOW)

        answer = deliver(client, refund_event(refund_id="re_1", payment_intent="pi_someone_else", amount=800))

        assert answer.json()["status"] == "REJECTED"
        payment.refresh_from_db()
        assert payment.refunded_amount == Decimal("0.00")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("pinned", "webhook_secret")
@pytest.mark.parametrize("one_event_id", [True, False], ids=["one-event", "twenty-events-of-one-refund"])
def test_twenty_parallel_deliveries_of_one_refund_event_refund_once(customer, one_event_id):
    payment = payment_intent_outcome_apply(payment=charging(customer), succeeded=True, now=NOW)
    bodies = [
        json.dumps(refund_event(
            refund_id="re_1", payment_intent=payment.provider_reference, amount=1000,
            event_id="evt_refund_1" if one_event_id else f"evt_refund_{number}",
            event_type="refund.created" if one_event_id or number % 2 else "charge.refunded",
        )).encode()
        for number in range(20)
    ]
    start, answers = threading.Barrier(20), []

    def deliver_once(body):
        try:
            start.wait(timeout=30)
            answers.append(Client().post(URL, body, content_type="application/json",
                                         HTTP_STRIPE_SIGNATURE=stripe_signature(body)).status_code)
        finally:
            connection.close()

    workers = [threading.Thread(target=deliver_once, args=(body,)) for body in bodies]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert answers == [200] * 20
    assert WebhookEvent.objects.count() == (1 if one_event_id else 20)
    payment.refresh_from_db()
    assert payment.refunded_amount == Decimal("10.00")
    assert Invoice.objects.get(pk=payment.invoice_id).amount_due == Decimal("10.00")
