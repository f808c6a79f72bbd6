"""Billing's events reach the customers' webhook endpoints: each of the six, published by the real billing
operation, arrives once, signed, with data a customer can act on (a real receiver on loopback)."""
import datetime
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from standardwebhooks import Webhook

from accounts.tests.factories import UserProfileFactory
from billing.models import Invoice, PaymentStatus
from billing.services import (
    invoice_finalize,
    invoice_run,
    invoices_mark_overdue_due,
    payment_fail,
    payment_record,
    subscription_cancel,
    subscription_change_plan,
    usage_threshold_alerts_raise,
)
from billing.tests.factories import InvoiceFactory, PlanFactory, SubscriptionFactory, paris
from libraries.tests.factories import UsageLogFactory
from webhooks.models import WebhookMessage
from webhooks.services import webhook_endpoint_create

FINALISED_AT = paris(2026, 11, 2, 9, 0)


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Run a billing operation at `when` and let what it queued after commit run (the deliveries, eagerly)."""
    def operate(when, operation):
        with time_machine.travel(when, tick=False), django_capture_on_commit_callbacks(execute=True):
            return operation()
    return operate


def listening(user, receiver, events):
    """The customer's endpoint on the receiver; its secret, shown once."""
    return webhook_endpoint_create(user=user, url=receiver.url, events=events).secret


def verified(request, secret) -> dict:
    """The payload of a received request, its signature checked as the receiver checks it when it arrives."""
    with time_machine.travel(int(request.headers["webhook-timestamp"]), tick=False):
        return Webhook(secret).verify(request.body, request.headers)


def received(receiver, secret, type):
    """The payloads of `type` the receiver got, each checked against its signature first."""
    payloads = [verified(request, secret) for request in receiver.requests]
    return [payload for payload in payloads if payload["type"] == type]


def invoice_url(invoice) -> str:
    return f"{settings.SITE_URL}/billing/invoices/{invoice.pk}/"


def customer():
    return UserProfileFactory(country="FR").user


@pytest.mark.django_db
class TestInvoiceEvents:
    def test_finalising_an_invoice_sends_invoice_finalized_once(self, receiver, run):
        user = customer()
        secret = listening(user, receiver, ["invoice.finalized"])
        draft = InvoiceFactory(subscription__user=user)

        invoice = run(FINALISED_AT, lambda: invoice_finalize(invoice=draft, now=FINALISED_AT))

        [payload] = received(receiver, secret, "invoice.finalized")
        assert payload == {
            "type": "invoice.finalized",
            "timestamp": "2026-11-02T08:00:00+00:00",
            "data": {
                "id": invoice.pk, "number": invoice.number, "url": invoice_url(invoice), "kind": "PERIOD",
                "status": "SENT", "currency": "EUR", "subtotal": "19.00", "tax_amount": "3.80", "total": "22.80",
                "amount_paid": "0.00", "amount_due": "22.80", "period": {"start": "2026-10-01", "end": "2026-11-01"},
                "issue_date": "2026-11-02", "due_date": "2026-12-02",
            },
        }
        assert len(receiver.requests) == 1

    def test_the_monthly_run_sends_one_invoice_finalized_per_invoice_to_those_listening(self, receiver, run):
        listener, other = customer(), customer()
        secret = listening(listener, receiver, ["invoice.finalized"])
        for user in (listener, other):
            SubscriptionFactory(user=user)

        run(FINALISED_AT, lambda: invoice_run(period_end=datetime.date(2026, 11, 1), issue_documents=False,
                                               now=FINALISED_AT))

        [payload] = received(receiver, secret, "invoice.finalized")
        invoice = Invoice.objects.get(user=listener)
        assert (payload["data"]["number"], payload["data"]["total"]) == (invoice.number, "22.80")
        assert WebhookMessage.objects.filter(user=other).count() == 0

    def test_paying_an_invoice_sends_invoice_paid(self, receiver, run):
        user = customer()
        secret = listening(user, receiver, ["invoice.paid"])
        invoice = invoice_finalize(invoice=InvoiceFactory(subscription__user=user), now=FINALISED_AT)
        paid_at = paris(2026, 11, 5, 9, 0)

        run(paid_at, lambda: payment_record(invoice=invoice, amount=Decimal("22.80"), idempotency_key="pay-1",
                                            now=paid_at))

        [payload] = received(receiver, secret, "invoice.paid")
        data = payload["data"]
        assert (data["id"], data["status"], data["amount_paid"], data["amount_due"], data["url"]) == (
            invoice.pk, "PAID", "22.80", "0.00", invoice_url(invoice),
        )
        assert payload["timestamp"] == "2026-11-05T08:00:00+00:00"

    def test_the_overdue_sweep_sends_invoice_overdue(self, receiver, run):
        user = customer()
        secret = listening(user, receiver, ["invoice.overdue"])
        invoice = invoice_finalize(invoice=InvoiceFactory(subscription__user=user), now=FINALISED_AT)
        after_due = paris(2026, 12, 10, 9, 0)

        run(after_due, lambda: invoices_mark_overdue_due(now=after_due))
        run(after_due, lambda: invoices_mark_overdue_due(now=after_due))  # again: nothing more

        [payload] = received(receiver, secret, "invoice.overdue")
        assert (payload["data"]["id"], payload["data"]["status"], payload["data"]["due_date"]) == (
            invoice.pk, "OVERDUE", "2026-12-02",
        )


@pytest.mark.django_db
def test_a_failed_payment_sends_payment_failed(receiver, run):
    user = customer()
    secret = listening(user, receiver, ["payment.failed"])
    invoice = invoice_finalize(invoice=InvoiceFactory(subscription__user=user), now=FINALISED_AT)
    payment = payment_record(invoice=invoice, amount=Decimal("22.80"), idempotency_key="card-1",
                             status=PaymentStatus.PENDING, now=FINALISED_AT)
    failed_at = paris(2026, 11, 3, 6, 0)

    run(failed_at, lambda: payment_fail(payment=payment, reason="Your card was declined.", now=failed_at))

    [payload] = received(receiver, secret, "payment.failed")
    assert payload["data"] == {
        "id": payment.pk, "amount": "22.80", "currency": "EUR", "method": "BANK_TRANSFER",
        "failure_reason": "Your card was declined.",
        "invoice": {"id": invoice.pk, "number": invoice.number, "url": invoice_url(invoice)},
    }


@pytest.mark.django_db
class TestUsageThresholds:
    def test_80_percent_of_the_quota_fires_a_signed_webhook_to_the_receiver(self, receiver, run):
        user = customer()
        subscription = SubscriptionFactory(user=user)  # Pro: 5,000,000 tokens included, October 2026
        secret = webhook_endpoint_create(user=user, url=receiver.url, events=["usage.threshold_reached"]).secret
        UsageLogFactory(user=user, tokens=4_000_000, created_at=paris(2026, 10, 10))
        swept_at = paris(2026, 10, 11, 6, 0)

        run(swept_at, lambda: usage_threshold_alerts_raise(now=swept_at))

        [request] = receiver.requests
        payload = verified(request, secret)
        assert request.headers["webhook-timestamp"] == str(int(swept_at.timestamp()))
        assert payload == {
            "type": "usage.threshold_reached",
            "timestamp": "2026-10-11T04:00:00+00:00",
            "data": {
                "subscription": subscription.pk, "plan": "pro", "period": {"start": "2026-10-01", "end": "2026-11-01"},
                "threshold_percent": 80, "tokens_used": 4_000_000, "included_tokens": 5_000_000,
            },
        }

    def test_the_whole_quota_sends_80_and_100_once_each_however_often_the_sweep_runs(self, receiver, run):
        user = customer()
        SubscriptionFactory(user=user)
        secret = listening(user, receiver, ["usage.threshold_reached"])
        UsageLogFactory(user=user, tokens=5_000_000, created_at=paris(2026, 10, 10))

        for day in (11, 12):
            run(paris(2026, 10, day, 6, 0), lambda day=day: usage_threshold_alerts_raise(now=paris(2026, 10, day, 6)))

        payloads = received(receiver, secret, "usage.threshold_reached")
        assert sorted(payload["data"]["threshold_percent"] for payload in payloads) == [80, 100]


@pytest.mark.django_db
class TestSubscriptionUpdated:
    def test_an_upgrade_sends_subscription_updated_with_the_new_plan(self, receiver, run):
        user = customer()
        subscription = SubscriptionFactory(user=user)
        team = PlanFactory(code="team", name="Team", price=Decimal("49.00"), included_tokens=20_000_000)
        secret = listening(user, receiver, ["subscription.updated"])
        changed_at = paris(2026, 10, 10, 9, 0)

        run(changed_at, lambda: subscription_change_plan(subscription=subscription, plan=team, now=changed_at))

        [payload] = received(receiver, secret, "subscription.updated")
        assert payload["data"] == {
            "id": subscription.pk, "plan": "team", "status": "ACTIVE",
            "current_period": {"start": "2026-10-01", "end": "2026-11-01"}, "cancel_at_period_end": False,
            "scheduled_change": None, "trial_end": None,
        }

    def test_a_downgrade_names_the_scheduled_change_and_a_cancellation_says_so(self, receiver, run):
        user = customer()
        subscription = SubscriptionFactory(user=user)
        starter = PlanFactory(code="starter", name="Starter", price=Decimal("5.00"), included_tokens=1_000_000)
        secret = listening(user, receiver, ["subscription.updated"])
        when = paris(2026, 10, 10, 9, 0)

        run(when, lambda: subscription_change_plan(subscription=subscription, plan=starter, now=when))
        run(when, lambda: subscription_cancel(subscription=subscription, at_period_end=True, now=when))

        scheduled, cancelled = (payload["data"] for payload in received(receiver, secret, "subscription.updated"))
        assert (scheduled["plan"], scheduled["scheduled_change"]) == (
            "pro", {"plan": "starter", "effective_date": "2026-11-01"},
        )
        assert cancelled["cancel_at_period_end"] is True

    def test_an_event_the_endpoint_did_not_ask_for_is_not_sent(self, receiver, run):
        user = customer()
        subscription = SubscriptionFactory(user=user)
        listening(user, receiver, ["invoice.paid"])
        when = paris(2026, 10, 10, 9, 0)

        run(when, lambda: subscription_cancel(subscription=subscription, at_period_end=True, now=when))

        assert receiver.requests == [] and not WebhookMessage.objects.exists()
