import json
import time
from decimal import Decimal

import pytest

from accounts.tests.factories import UserProfileFactory
from billing.models import AlertType, BillingAlert, InvoiceStatus, Payment, PaymentStatus, WebhookEvent
from billing.services import invoice_finalize, payment_record
from billing.tests.factories import InvoiceFactory, SubscriptionFactory
from billing.webhooks import sign

SECRET = "whsec_test-secret"
URL = "/api/billing/payments/webhook/"


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.PAYMENT_WEBHOOK_SECRET = SECRET


@pytest.fixture
def invoice(db):
    user = UserProfileFactory(country="FR").user
    return invoice_finalize(invoice=InvoiceFactory(subscription=SubscriptionFactory(user=user)))


def post(client, event: dict, *, timestamp: int | None = None, secret: str = SECRET, tamper: bool = False):
    body = json.dumps(event).encode()
    header = sign(body=body, timestamp=timestamp or int(time.time()), secret=secret)
    if tamper:
        body = body.replace(b"22.80", b"99.99")
    return client.post(URL, body, content_type="application/json", HTTP_TWINMCP_SIGNATURE=header)


def succeeded(invoice, *, event_id="evt_1", amount="22.80"):
    return {
        "id": event_id, "type": "payment.succeeded",
        "data": {"reference": "pi_123", "invoice": invoice.number, "amount": amount, "method": "CARD"},
    }


@pytest.mark.django_db
class TestAcceptedEvents:
    def test_a_payment_that_succeeded_pays_the_invoice(self, client, invoice):
        response = post(client, succeeded(invoice))

        assert response.status_code == 200
        invoice.refresh_from_db()
        assert (invoice.status, invoice.amount_paid, invoice.amount_due) == (
            InvoiceStatus.PAID, Decimal("22.80"), Decimal("0.00")
        )
        payment = Payment.objects.get()
        assert (payment.provider_reference, payment.method, payment.status) == ("pi_123", "CARD", "COMPLETED")

    def test_a_pending_payment_completes(self, client, invoice):
        payment = payment_record(invoice=invoice, amount=Decimal("22.80"), idempotency_key="checkout-1",
                                 provider_reference="pi_123", status=PaymentStatus.PENDING)

        post(client, succeeded(invoice))

        payment.refresh_from_db()
        assert payment.status == PaymentStatus.COMPLETED
        assert Payment.objects.count() == 1

    def test_a_failed_payment_raises_its_alert(self, client, invoice):
        payment_record(invoice=invoice, amount=Decimal("22.80"), idempotency_key="checkout-1",
                       provider_reference="pi_123", status=PaymentStatus.PENDING)
        event = {"id": "evt_2", "type": "payment.failed", "data": {"reference": "pi_123", "reason": "card_declined"}}

        assert post(client, event).status_code == 200

        assert Payment.objects.get().failure_reason == "card_declined"
        assert BillingAlert.objects.filter(user=invoice.user, type=AlertType.PAYMENT_FAILED).count() == 1

    def test_a_refund_makes_the_invoice_due_again(self, client, invoice):
        post(client, succeeded(invoice))
        refund = {"id": "evt_3", "type": "payment.refunded", "data": {"reference": "pi_123", "amount": "22.80"}}

        assert post(client, refund).status_code == 200

        invoice.refresh_from_db()
        assert (invoice.status, invoice.amount_due) == (InvoiceStatus.SENT, Decimal("22.80"))


@pytest.mark.django_db
class TestRefusedEvents:
    def ledger(self):
        return (Payment.objects.count(), WebhookEvent.objects.count(), BillingAlert.objects.count())

    def test_a_bad_signature(self, client, invoice):
        response = post(client, succeeded(invoice), secret="someone-else")

        assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_signature")
        assert self.ledger() == (0, 0, 0)

    def test_a_body_changed_after_signing(self, client, invoice):
        assert post(client, succeeded(invoice), tamper=True).status_code == 400
        assert self.ledger() == (0, 0, 0)

    def test_a_missing_signature(self, client, invoice):
        response = client.post(URL, json.dumps(succeeded(invoice)), content_type="application/json")

        assert response.status_code == 400
        assert self.ledger() == (0, 0, 0)

    def test_a_timestamp_older_than_five_minutes(self, client, invoice):
        response = post(client, succeeded(invoice), timestamp=int(time.time()) - 301)

        assert (response.status_code, response.json()["error"]["code"]) == (400, "stale_timestamp")
        assert self.ledger() == (0, 0, 0)

    def test_a_replayed_event_id(self, client, invoice):
        post(client, succeeded(invoice))
        before = self.ledger()
        invoice.refresh_from_db()
        paid = invoice.amount_paid

        response = post(client, succeeded(invoice, amount="5.00"))

        assert (response.status_code, response.json()["error"]["code"]) == (409, "duplicate_event")
        invoice.refresh_from_db()
        assert (self.ledger(), invoice.amount_paid) == (before, paid)

    def test_an_unknown_invoice_records_nothing_so_a_corrected_retry_can_pass(self, client, invoice):
        event = succeeded(invoice)
        event["data"]["invoice"] = "TMCP-1999-000001"

        assert post(client, event).status_code == 400
        assert self.ledger() == (0, 0, 0)
        assert post(client, succeeded(invoice)).status_code == 200

    def test_the_webhook_is_off_without_a_secret(self, client, invoice, settings):
        settings.PAYMENT_WEBHOOK_SECRET = ""

        assert post(client, succeeded(invoice), secret="").status_code == 503
