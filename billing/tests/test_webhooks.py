import json
import time
from decimal import Decimal

import pytest

from accounts.tests.factories import UserProfileFactory
from billing.models import (
    AlertType,
    BillingAlert,
    Credit,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    WebhookEvent,
    WebhookEventStatus,
)
from billing.payments.provider_webhook import sign
from billing.services import invoice_finalize, payment_record
from billing.tests.admin_world import finance_user
from billing.tests.factories import InvoiceFactory, SubscriptionFactory

SECRET = "whsec_test-secret"
URL = "/api/billing/payments/webhook/"


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.PAYMENT_WEBHOOK_SECRET = SECRET


@pytest.fixture
def invoice(db):
    user = UserProfileFactory(country="FR").user
    return invoice_finalize(invoice=InvoiceFactory(subscription=SubscriptionFactory(user=user)))


def post(client, event: dict | str, *, timestamp: int | None = None, secret: str = SECRET, tamper: bool = False):
    body = (event if isinstance(event, str) else json.dumps(event)).encode()
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

    def test_an_unknown_invoice_is_rejected_for_good_and_a_corrected_event_comes_under_a_new_id(self, client, invoice):
        event = succeeded(invoice)
        event["data"]["invoice"] = "TMCP-1999-000001"

        refused = post(client, event)

        assert (refused.status_code, refused.json()["error"]["code"]) == (400, "invalid")
        assert Payment.objects.count() == 0
        assert WebhookEvent.objects.get().status == WebhookEventStatus.REJECTED
        assert post(client, succeeded(invoice)).json() == refused.json()  # the same id, now valid: still refused
        assert post(client, succeeded(invoice, event_id="evt_2")).status_code == 200

    def test_the_webhook_is_off_without_a_secret(self, client, invoice, settings):
        settings.PAYMENT_WEBHOOK_SECRET = ""

        assert post(client, succeeded(invoice), secret="").status_code == 503


@pytest.mark.django_db
class TestEventsRefusedForTheirContent:
    """400 naming the field, recorded as REJECTED for finance, never applied, answered alike when redelivered."""

    def refused(self, client, event, field):
        response = post(client, event)

        assert response.status_code == 400
        error = response.json()["error"]
        assert (error["code"], list(error["fields"])) == ("invalid", [field])
        assert error["message"].startswith(f"{field}: ")
        return error

    def assert_rejected(self, error):
        record = WebhookEvent.objects.get()
        assert (record.status, record.payment) == (WebhookEventStatus.REJECTED, None)
        assert record.rejection == {"status": 400, **error}

    @pytest.mark.parametrize("amount", ["100000000000000.00", "1e400", "9999999999.99"],
                             ids=["beyond the column", "beyond any column", "fits the column, beyond the bound"])
    def test_an_amount_beyond_the_bound(self, client, invoice, amount):
        error = self.refused(client, succeeded(invoice, amount=amount), "data.amount")

        assert "at most 1000000.00" in error["message"]
        self.assert_rejected(error)
        assert (Payment.objects.count(), Credit.objects.count()) == (0, 0)

    @pytest.mark.parametrize("amount", [22.8, "22.805", "twenty", True],
                             ids=["float", "fraction of a cent", "text", "bool"])
    def test_an_amount_that_is_not_cents(self, client, invoice, amount):
        error = self.refused(client, succeeded(invoice, amount=amount), "data.amount")

        self.assert_rejected(error)
        invoice.refresh_from_db()
        assert invoice.amount_paid == 0

    def test_a_whole_number_amount_is_accepted(self, client, invoice):
        event = succeeded(invoice, amount=30)

        assert post(client, event).status_code == 200
        assert Payment.objects.get().amount == Decimal("30.00")

    def test_a_float_refund_is_refused_and_refunds_nothing(self, client, invoice):
        post(client, succeeded(invoice))
        refund = {"id": "evt_3", "type": "payment.refunded", "data": {"reference": "pi_123", "amount": 22.8}}

        error = self.refused(client, refund, "data.amount")

        assert "never a float" in error["message"]
        payment = Payment.objects.get()
        assert (payment.status, payment.refunded_amount) == (PaymentStatus.COMPLETED, Decimal("0.00"))
        assert WebhookEvent.objects.get(event_id="evt_3").status == WebhookEventStatus.REJECTED

    def test_a_nul_character_in_the_reference(self, client, invoice):
        event = succeeded(invoice)
        event["data"]["reference"] = "pi_\u0000123"

        error = self.refused(client, event, "data.reference")

        self.assert_rejected(error)
        assert WebhookEvent.objects.get().payload["data"]["reference"] == "pi_\ufffd123"

    def test_a_nul_character_in_a_field_the_event_does_not_use(self, client, invoice):
        event = succeeded(invoice)
        event["data"]["note"] = "\u0000"

        self.assert_rejected(self.refused(client, event, "data.note"))

    def test_a_reference_too_long_for_the_payment(self, client, invoice):
        event = succeeded(invoice)
        event["data"]["reference"] = "p" * 192

        self.assert_rejected(self.refused(client, event, "data.reference"))

    def test_an_unknown_type(self, client, invoice):
        event = succeeded(invoice)
        event["type"] = "payment.teleported"

        self.assert_rejected(self.refused(client, event, "type"))

    def test_a_redelivery_gets_the_same_refusal_without_being_applied(self, client, invoice):
        first = post(client, succeeded(invoice, amount="9999999999.99"))

        again = post(client, succeeded(invoice, amount="9999999999.99"))

        assert (again.status_code, again.json()) == (400, first.json())
        assert (WebhookEvent.objects.count(), Payment.objects.count()) == (1, 0)


@pytest.mark.django_db
class TestBodiesThatCannotBeRecorded:
    """Refused with 400 and not recorded: there is no id to record them under."""

    @pytest.mark.parametrize("body", ["[" * 100000, '{"id": "evt_1", "data": ' * 10000 + "1" + "}" * 10000],
                             ids=["100,000 brackets", "10,000 nested objects"])
    def test_json_nested_too_deep(self, client, body):
        response = post(client, body)

        assert response.status_code == 400
        assert response.json()["error"]["fields"] == {
            "non_field_errors": ["The JSON is nested more than 32 levels deep."]
        }
        assert WebhookEvent.objects.count() == 0

    @pytest.mark.parametrize("event_id", ["evt_\u0000", "e" * 201, "", 42], ids=["NUL", "too long", "empty", "number"])
    def test_an_id_that_cannot_key_the_record(self, client, invoice, event_id):
        event = succeeded(invoice)
        event["id"] = event_id

        response = post(client, event)

        assert (response.status_code, list(response.json()["error"]["fields"])) == (400, ["id"])
        assert (WebhookEvent.objects.count(), Payment.objects.count()) == (0, 0)


@pytest.mark.django_db
class TestFinanceSeesRejectedEvents:
    def test_the_admin_lists_rejected_events_and_shows_the_refusal(self, client, invoice):
        post(client, succeeded(invoice))
        post(client, succeeded(invoice, event_id="evt_2", amount="9999999999.99"))
        client.force_login(finance_user())

        listed = client.get("/admin/billing/webhookevent/", {"status__exact": "REJECTED"}).content.decode()
        detail = client.get(f"/admin/billing/webhookevent/{WebhookEvent.objects.get(event_id='evt_2').pk}/change/")

        assert "evt_2" in listed and "evt_1" not in listed
        assert "The amount is at most 1000000.00" in detail.content.decode()
