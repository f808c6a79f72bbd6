"""Payment provider events: verified by the caller, checked here, answered once per event id.

An event is PROCESSED (applied) or REJECTED (refused for its content, or because it could not apply: nothing of
it is applied). Either answer is final: a redelivery of a processed id is a duplicate, a redelivery of a
rejected id gets the same refusal without being looked at again, and finance sees the rejected ones.
"""
import datetime

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_noop
from rest_framework import serializers

from billing import clock
from billing.exceptions import BillingError, IdempotencyConflict, InvalidTransition
from billing.models import Invoice, Payment, PaymentMethod, PaymentStatus, WebhookEvent, WebhookEventStatus
from billing.money import positive_amount
from billing.payments.services import payment_complete, payment_fail, payment_record, payment_refund
from core.api import error_fields, first_error

EVENT_TYPES = ("payment.succeeded", "payment.failed", "payment.refunded")
IDEMPOTENCY_PREFIX = "provider:"


class DuplicateEvent(BillingError):
    """This event id was processed already."""


class EventRefused(BillingError):
    """The event is refused with `refusal` ({status, code, message, fields}), the answer the provider gets."""

    def __init__(self, refusal: dict):
        super().__init__(refusal["message"])
        self.refusal = refusal


def _refusal(status: int, code: str, fields: dict[str, list[str]], message: str = "") -> dict:
    # Messages may quote what was sent: kept storable, since the refusal is recorded and answered alike.
    return storable({"status": status, "code": code, "message": message or first_error(fields), "fields": fields})


def _unstorable(text: str) -> str | None:
    """Why PostgreSQL cannot keep this text (in a column or in JSON), or None."""
    if "\x00" in text:
        return "Null characters are not allowed."
    if any("\ud800" <= char <= "\udfff" for char in text):
        return "Surrogate characters are not allowed."
    return None


def _unstorable_fields(value, path: str = "") -> dict[str, list[str]]:
    """Every string of the event, read or not, that could not be stored, by dotted path (the depth is bounded)."""
    if isinstance(value, dict | list):
        fields = {}
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            name = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _unstorable(key):
                fields[name] = [_unstorable(key)]
            fields.update(_unstorable_fields(item, name))
        return fields
    problem = _unstorable(value) if isinstance(value, str) else None
    return {path: [problem]} if problem else {}


def storable(value):
    """`value` as the database can keep it: NUL characters and lone surrogates replaced by U+FFFD."""
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    if isinstance(value, str) and _unstorable(value):
        return "".join("\ufffd" if char == "\x00" or "\ud800" <= char <= "\udfff" else char for char in value)
    return value


class AmountField(serializers.Field):
    """A JSON string ("22.80") or whole number, checked by the one money check: never a float, within bounds."""

    def to_internal_value(self, data):
        try:
            return positive_amount(data, what="The amount")
        except BillingError as error:
            raise serializers.ValidationError(str(error)) from None

    def to_representation(self, value):
        return str(value)


class PaymentEventDataSerializer(serializers.Serializer):
    # The reference also makes the payment's idempotency key, which must fit its column.
    reference = serializers.CharField(
        max_length=Payment._meta.get_field("idempotency_key").max_length - len(IDEMPOTENCY_PREFIX)
    )
    invoice = serializers.CharField(required=False, max_length=Invoice._meta.get_field("number").max_length)
    amount = AmountField(required=False)
    method = serializers.ChoiceField(choices=PaymentMethod.choices, default=PaymentMethod.CARD)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=1000)


class PaymentEventSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=EVENT_TYPES)
    data = PaymentEventDataSerializer()

    def validate(self, attrs):
        data = attrs["data"]
        if attrs["type"] == "payment.succeeded":
            missing = {name: ["Required for payment.succeeded."] for name in ("invoice", "amount") if name not in data}
            if missing:
                raise serializers.ValidationError({"data": missing})
        return attrs


def _payment(reference: str) -> Payment | None:
    return Payment.objects.filter(provider_reference=reference).order_by("pk").first()


def _new_payment(data: dict, *, status: str, now) -> Payment:
    invoice = Invoice.objects.filter(number=data.get("invoice", "")).first()
    if invoice is None:
        raise BillingError(f"No invoice numbered '{data.get('invoice', '')}'.")
    return payment_record(
        invoice=invoice, amount=data.get("amount"), idempotency_key=f"{IDEMPOTENCY_PREFIX}{data['reference']}",
        method=data["method"], provider_reference=data["reference"], status=status, now=now,
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
    # Stored in English for finance, translated into the customer's language in the email.
    reason = data.get("reason") or gettext_noop("refused by the payment provider")
    return payment_fail(payment=payment, reason=reason, now=now)


def _refunded(data: dict, *, now) -> Payment:
    payment = _payment(data["reference"])
    if payment is None:
        raise BillingError(f"No payment with the provider reference '{data['reference']}'.")
    return payment_refund(payment=payment, amount=data.get("amount"), now=now)


HANDLERS = {"payment.succeeded": _succeeded, "payment.failed": _failed, "payment.refunded": _refunded}


def _event_id(event: dict) -> str:
    """The id that keys the event's record; an event without a storable one cannot be recorded at all."""
    event_id, max_length = event.get("id"), WebhookEvent._meta.get_field("event_id").max_length
    if not isinstance(event_id, str) or not event_id.strip():
        problem = "The event's id is required, as a string."
    elif len(event_id) > max_length:
        problem = f"Ensure this field has no more than {max_length} characters."
    else:
        problem = _unstorable(event_id)
    if problem:
        raise EventRefused(_refusal(400, "invalid", {"id": [problem]}))
    return event_id


@transaction.atomic
def _reject(*, event_id: str, event: dict, refusal: dict, now: datetime.datetime) -> BillingError:
    """Record the refusal and return it to raise; a concurrent delivery of the id may have answered it first."""
    record, _ = WebhookEvent.objects.get_or_create(
        event_id=event_id,
        defaults={
            "type": storable(str(event.get("type")))[:50], "payload": storable(event),
            "status": WebhookEventStatus.REJECTED, "rejection": refusal, "received_at": now,
        },
    )
    if record.status == WebhookEventStatus.PROCESSED:
        return DuplicateEvent(f"Event {event_id} was processed already.")
    return EventRefused(record.rejection)


def payment_webhook_process(*, event: dict, now: datetime.datetime | None = None) -> WebhookEvent:
    """Apply one provider event, or refuse it for good (EventRefused, recorded); DuplicateEvent for a replay.

    The event row and its effects commit together; when applying fails, they roll back and the rejection
    is recorded alone. An unexpected error records nothing, so that the provider's retry can succeed.
    """
    now = now or clock.now()
    event_id = _event_id(event)
    known = WebhookEvent.objects.filter(event_id=event_id).first()
    if known is not None and known.status == WebhookEventStatus.REJECTED:
        raise EventRefused(known.rejection)
    if known is not None:
        raise DuplicateEvent(f"Event {event_id} was processed already.")
    serializer = PaymentEventSerializer(data=event)
    fields = {} if serializer.is_valid() else error_fields(serializer.errors)
    fields.update(_unstorable_fields(event))  # fields the serializer does not read are stored too
    if fields:
        raise _reject(event_id=event_id, event=event, refusal=_refusal(400, "invalid", fields), now=now)
    try:
        return _apply(event_id=event_id, event=event, validated=serializer.validated_data, now=now)
    except (InvalidTransition, IdempotencyConflict) as error:
        refusal = _refusal(409, "conflict", {}, str(error))
    except DuplicateEvent:
        raise
    except BillingError as error:
        refusal = _refusal(400, "invalid", {}, str(error))
    raise _reject(event_id=event_id, event=event, refusal=refusal, now=now)


@transaction.atomic
def _apply(*, event_id: str, event: dict, validated: dict, now: datetime.datetime) -> WebhookEvent:
    try:
        with transaction.atomic():
            record = WebhookEvent.objects.create(
                event_id=event_id, type=validated["type"], payload=event, received_at=now
            )
    except IntegrityError:
        raise DuplicateEvent(f"Event {event_id} was processed already.") from None
    record.payment = HANDLERS[validated["type"]](validated["data"], now=now)
    record.save(update_fields=["payment"])
    return record
