"""Payment provider events: verified by the caller, processed once per event id."""
import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction

from billing import clock
from billing.exceptions import BillingError
from billing.models import Invoice, Payment, PaymentMethod, PaymentStatus, WebhookEvent

from .payments import payment_complete, payment_fail, payment_record, payment_refund

EVENT_TYPES = ("payment.succeeded", "payment.failed", "payment.refunded")


class DuplicateEvent(BillingError):
    """This event id was processed already."""


def _payment(reference: str) -> Payment | None:
    return Payment.objects.filter(provider_reference=reference).order_by("pk").first() if reference else None


def _new_payment(data: dict, *, status: str, now) -> Payment:
    invoice = Invoice.objects.filter(number=data.get("invoice") or "").first()
    if invoice is None:
        raise BillingError(f"No invoice numbered '{data.get('invoice')}'.")
    method = data.get("method") or PaymentMethod.CARD
    return payment_record(
        invoice=invoice, amount=data.get("amount"), idempotency_key=f"provider:{data['reference']}",
        method=method, provider_reference=data["reference"], status=status, now=now,
    )


def _succeeded(data: dict, *, now) -> Payment:
    payment = _payment(data["reference"])
    if payment is None:
        return _new_payment(data, status=PaymentStatus.COMPLETED, now=now)
    if payment.status in (PaymentStatus.PENDING, PaymentStatus.PROCESSING):
        return payment_complete(payment=payment, now=now)
    return payment


def _failed(data: dict, *, now) -> Payment:
    payment = _payment(data["reference"]) or _new_payment(data, status=PaymentStatus.PENDING, now=now)
    return payment_fail(payment=payment, reason=data.get("reason") or "refused by the payment provider", now=now)


def _refunded(data: dict, *, now) -> Payment:
    payment = _payment(data["reference"])
    if payment is None:
        raise BillingError(f"No payment with the provider reference '{data['reference']}'.")
    amount = data.get("amount")
    return payment_refund(payment=payment, amount=Decimal(str(amount)) if amount is not None else None, now=now)


HANDLERS = {"payment.succeeded": _succeeded, "payment.failed": _failed, "payment.refunded": _refunded}


@transaction.atomic
def payment_webhook_process(*, event: dict, now: datetime.datetime | None = None) -> WebhookEvent:
    """Apply one provider event. The event row and its effects commit together: a failure leaves neither,
    so the provider's retry can succeed; a replay of a processed id is refused and changes nothing."""
    now = now or clock.now()
    event_id, event_type, data = event.get("id"), event.get("type"), event.get("data")
    if not isinstance(event_id, str) or not event_id:
        raise BillingError("The event has no id.")
    if event_type not in HANDLERS:
        raise BillingError(f"Unknown event type '{event_type}': expected one of {', '.join(EVENT_TYPES)}.")
    if not isinstance(data, dict) or not isinstance(data.get("reference"), str) or not data["reference"]:
        raise BillingError("The event's data needs the payment's provider reference.")
    try:
        with transaction.atomic():
            record = WebhookEvent.objects.create(event_id=event_id, type=event_type, payload=event, received_at=now)
    except IntegrityError:
        raise DuplicateEvent(f"Event {event_id} was processed already.") from None
    record.payment = HANDLERS[event_type](data, now=now)
    record.save(update_fields=["payment"])
    return record
