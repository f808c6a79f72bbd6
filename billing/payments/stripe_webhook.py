"""Stripe's webhook, /api/billing/stripe/webhook/: the outcome of the card charges and refunds, signed with
STRIPE_WEBHOOK_SECRET and checked by the official SDK (`Stripe-Signature`, at most 5 minutes old).

The answer tells Stripe whether to deliver the event again:
- 400: the signature (or the body) is bad: nothing is recorded.
- 200: the event is recorded once by its id (WebhookEvent), applied with it, or ignored (a type this server does
  not act on, a PaymentIntent it did not create: recorded REJECTED with the reason, for finance). A redelivery
  of a recorded id answers 200 again and applies nothing.
- 5xx: nothing was recorded (a database error, say): Stripe retries with backoff, and the retry can succeed.
"""
import json
import logging
from decimal import Decimal

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from billing import clock
from billing.exceptions import BillingError
from billing.models import Payment, PaymentMethod, WebhookEvent, WebhookEventStatus
from billing.payments.charging import charge_idempotency_key, payment_intent_outcome_apply
from billing.payments.provider_events import storable
from billing.payments.refunds import refund_outcome_apply

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Stripe-Signature"
OUTCOMES = {"payment_intent.succeeded": True, "payment_intent.payment_failed": False}
# A refund's outcome: the Refund itself (refund.*), or the Charge with its refunds (charge.refunded). Each refund
# is applied once by its id, whichever event names it first (billing.payments.refunds).
REFUND_EVENTS = ("charge.refunded", "refund.created", "refund.updated")


class NotOurs(BillingError):
    """The event names nothing this server charged: recorded as such, and not applied."""


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "fields": {}}}, status=status)


def _payment_of(intent: dict) -> Payment:
    """The card payment of the PaymentIntent: by its id, else by the invoice and attempt its metadata name (a
    charge whose answer was lost before the id was stored)."""
    payment = Payment.objects.filter(provider_reference=intent.get("id") or "-", method=PaymentMethod.CARD).first()
    if payment is not None:
        return payment
    metadata = intent.get("metadata") or {}
    try:
        key = charge_idempotency_key(invoice_id=int(metadata["invoice_id"]), attempt=int(metadata["attempt"]))
    except (KeyError, TypeError, ValueError):
        raise NotOurs(f"No payment is charged with PaymentIntent {intent.get('id')!r}.") from None
    payment = Payment.objects.filter(idempotency_key=key).first()
    if payment is None:
        raise NotOurs(f"No payment is charged with PaymentIntent {intent.get('id')!r}.")
    return payment


def _decline_reason(intent: dict) -> str:
    failure = intent.get("last_payment_error") or {}
    return failure.get("message") or ""


def _refunds_apply(data: dict, *, charge: bool, now) -> Payment:
    """Apply the refunds a charge.refunded (a Charge and its refunds) or refund.* (one Refund) event names; the
    card payment they refund. A Charge without its refunds listed (Stripe's API versions since 2022-11-15) applies
    nothing: the refund.* events bring each refund."""
    intent_id = data.get("payment_intent") or ""
    payment = Payment.objects.filter(provider_reference=intent_id or "-", method=PaymentMethod.CARD).first()
    if payment is None:
        raise NotOurs(f"No payment is charged with PaymentIntent {intent_id!r}.")
    refunds = ((data.get("refunds") or {}).get("data") or []) if charge else [data]
    for refund in refunds:
        if not refund.get("id") or not isinstance(refund.get("amount"), int):
            raise BillingError(f"A refund of PaymentIntent {intent_id!r} has no id or amount.")
        metadata = refund.get("metadata") or {}
        payment = refund_outcome_apply(
            payment=payment, refund_id=refund["id"], amount=Decimal(refund["amount"]) / 100,
            status=str(refund.get("status") or ""), request_key=str(metadata.get("request") or ""), now=now,
        )
    return payment


@transaction.atomic
def stripe_event_process(*, event: dict, now=None) -> tuple[WebhookEvent, bool]:
    """Record `event` once and apply it with its record; (record, False) when its id was recorded already."""
    now = now or clock.now()
    event_id, event_type = event["id"], str(event.get("type", ""))[:50]
    try:
        with transaction.atomic():
            # The unique id decides between concurrent deliveries: the others wait here, then find it recorded.
            record = WebhookEvent.objects.create(
                event_id=event_id, type=event_type, payload=storable(event), received_at=now
            )
    except IntegrityError:
        return WebhookEvent.objects.get(event_id=event_id), False
    if event_type not in OUTCOMES and event_type not in REFUND_EVENTS:
        return record, True  # recorded and ignored: Stripe sends more types than the ones charged here act on
    data = (event.get("data") or {}).get("object") or {}
    try:
        with transaction.atomic():
            if event_type in REFUND_EVENTS:
                record.payment = _refunds_apply(data, charge=event_type == "charge.refunded", now=now)
            else:
                record.payment = payment_intent_outcome_apply(
                    payment=_payment_of(data), succeeded=OUTCOMES[event_type], reason=_decline_reason(data),
                    payment_intent_id=data.get("id") or "", now=now,
                )
            record.save(update_fields=["payment"])
    except BillingError as error:
        # Cannot apply (not ours, an invoice cancelled since): final, shown to finance; Stripe need not retry.
        record.status = WebhookEventStatus.REJECTED
        record.rejection = {"status": 200, "code": "not_applied", "message": str(error), "fields": {}}
        record.save(update_fields=["status", "rejection"])
    return record, True


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(transaction.non_atomic_requests, name="dispatch")
class StripeWebhookView(View):
    http_method_names = ["post"]

    def post(self, request):
        if not settings.STRIPE_WEBHOOK_SECRET:
            return _error(503, "not_configured", "STRIPE_WEBHOOK_SECRET is not set.")
        try:
            stripe.Webhook.construct_event(
                request.body, request.headers.get(SIGNATURE_HEADER, ""), settings.STRIPE_WEBHOOK_SECRET
            )
            event = json.loads(request.body)
        except stripe.SignatureVerificationError:
            return _error(400, "invalid_signature", f"The {SIGNATURE_HEADER} header does not sign this body.")
        except ValueError:
            return _error(400, "invalid", "The body is not a JSON event.")
        if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not event["id"]:
            return _error(400, "invalid", "The event has no id.")
        if len(event["id"]) > WebhookEvent._meta.get_field("event_id").max_length:
            return _error(400, "invalid", "The event's id is too long.")
        record, applied = stripe_event_process(event=event)
        return JsonResponse({
            "event": record.event_id, "payment": record.payment_id,
            "status": record.status if applied else "duplicate",
        })
