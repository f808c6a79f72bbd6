"""Refunds asked for by finance: a card payment's through Stripe, any other payment's recorded as handed back.

A card refund reaches our books only once Stripe confirms it: at once when Stripe's answer says "succeeded",
else when the webhook brings the refund's outcome (billing.payments.stripe_webhook). Each refund is recorded on
its payment by Stripe's refund id (Payment.refund_references) and counted in refunded_amount once, whichever of
the answer and the webhook events comes first; the others find it applied.

The invoice then the payment are locked, as every payment path locks them, for the whole request, Stripe's call
included: what is left to refund is checked and spent by one request at a time, and a double click waits for
the first click and then finds its submission done.
"""
import datetime
from decimal import Decimal

from django.db import transaction

from accounts.services import audit_log_record
from billing import clock
from billing.exceptions import BillingError
from billing.invoicing.credit_notes import CreditNoteRequest, credit_effect, credit_note_partial_price
from billing.models import Invoice, Payment, PaymentMethod, PaymentStatus, credit_note_reason_text
from billing.money import CENT, positive_amount
from billing.payments.providers.stripe import StripeProvider
from billing.payments.services import payment_refund

REFUNDABLE_STATUSES = (PaymentStatus.COMPLETED, PaymentStatus.REFUNDED)  # REFUNDED: in part, maybe not in full
SUCCEEDED, PENDING = "succeeded", "pending"


def refund_idempotency_key(*, payment_id: int, sequence: int) -> str:
    """Stripe's key for the payment's `sequence`-th refund: a retried request gets the same Refund back."""
    return f"stripe:payment:{payment_id}:refund:{sequence}"


def is_stripe_card_payment(payment: Payment) -> bool:
    """Collected by Stripe (a card PaymentIntent this server created, keyed by charging.charge_idempotency_key):
    refunded through Stripe, never by hand. A card payment finance recorded by hand is refunded by hand."""
    return payment.method == PaymentMethod.CARD and (
        payment.provider_reference.startswith("pi_") or payment.idempotency_key.startswith("stripe:")
    )


def refund_left(payment: Payment) -> Decimal:
    """What can still be refunded: the amount, less what was refunded and what Stripe is still refunding."""
    pending = sum(
        (Decimal(entry["amount"]) for entry in payment.refund_references.values() if entry.get("status") == PENDING),
        Decimal(0),
    )
    return payment.amount - payment.refunded_amount - pending


def _locked(payment: Payment) -> Payment:
    Invoice.objects.select_for_update().get(pk=payment.invoice_id)
    return Payment.objects.select_for_update().get(pk=payment.pk)


def _asked_already(payment: Payment, request_key: str) -> bool:
    return bool(request_key) and any(
        entry.get("request") == request_key for entry in payment.refund_references.values()
    )


def _checked(payment: Payment, amount) -> Decimal:
    if payment.status not in REFUNDABLE_STATUSES:
        raise BillingError(f"Payment {payment.pk} is {payment.get_status_display().lower()}: only money received "
                           "can be refunded.")
    amount = positive_amount(amount, what="A refund")
    left = refund_left(payment)
    if amount > left:
        raise BillingError(f"At most {left} {payment.currency} of payment {payment.pk} is left to refund.")
    return amount


class _DryRun(Exception):
    pass


def _books_accept(
    payment: Payment, amount: Decimal, credit_note: CreditNoteRequest | None, now: datetime.datetime
) -> None:
    """Raise payment_refund's own refusal (an invoice cancelled since, more credited than is left…) before Stripe
    moves any money: the refund is applied in a savepoint, then rolled back."""
    try:
        with transaction.atomic():
            payment_refund(payment=payment, amount=amount, credit_note=credit_note, now=now)
            raise _DryRun
    except _DryRun:
        pass


@transaction.atomic
def card_payment_refund(
    *, payment: Payment, amount: Decimal, reason: str, actor=None, now: datetime.datetime | None = None,
    request_key: str = "", credit_note: CreditNoteRequest | None = None,
) -> Payment:
    """Refund `amount` of a completed card payment through Stripe; the payment as it stands after.

    With `credit_note`, the refund is of part of the invoice's price: once Stripe confirms it, a partial credit
    note takes it off the invoice (payment_refund), which stays settled.

    `request_key` names the request (the admin form's token): the same request sent again refunds nothing more.
    Stripe's refusal raises RefundRefused and writes nothing; Stripe out of reach raises
    PaymentProviderUnavailable. A refund Stripe accepts but has not finished ("pending") is recorded, counted
    as taken from what is left, and applied by the webhook.
    """
    now = now or clock.now()
    payment = _locked(payment)
    if _asked_already(payment, request_key):
        return payment
    if not is_stripe_card_payment(payment):
        raise BillingError(f"Payment {payment.pk} was not collected by card through Stripe.")
    if not payment.provider_reference:
        raise BillingError(f"Stripe's PaymentIntent of payment {payment.pk} is not known yet: try again later.")
    amount = _checked(payment, amount)
    _books_accept(payment, amount, credit_note, now)
    sequence = len(payment.refund_references) + 1
    answer = StripeProvider.from_settings().refund_create(
        payment_intent_id=payment.provider_reference, amount_cents=int(amount * 100),
        idempotency_key=refund_idempotency_key(payment_id=payment.pk, sequence=sequence),
        metadata={"payment_id": str(payment.pk), "sequence": str(sequence), "request": request_key},
    )
    audit_log_record(
        action="payment.refund_request", obj=payment, actor=actor,
        changes={"amount": str(amount), "reason": reason, "refund": answer.refund_id, "status": answer.status},
    )
    return refund_outcome_apply(
        payment=payment, refund_id=answer.refund_id, amount=Decimal(answer.amount_cents) / 100,
        status=answer.status, sequence=sequence, request_key=request_key, credit_note=credit_note, now=now,
    )


@transaction.atomic
def refund_outcome_apply(
    *, payment: Payment, refund_id: str, amount: Decimal, status: str, sequence: int | None = None,
    request_key: str = "", credit_note: CreditNoteRequest | None = None, now: datetime.datetime | None = None,
) -> Payment:
    """Record what Stripe says of refund `refund_id` of `payment`, and count it in the books the first time it
    says "succeeded". A refund made elsewhere (Stripe's dashboard) is recorded on its first event. The credit note
    a refund of the price asks for is kept with it until then."""
    now = now or clock.now()
    payment = _locked(payment)
    references = dict(payment.refund_references)
    entry = dict(references.get(refund_id) or {})
    if entry.get("status") == SUCCEEDED:
        return payment  # applied already: by Stripe's answer, or an earlier event
    if not entry:
        entry = {
            "amount": str(Decimal(amount).quantize(CENT)), "sequence": sequence or len(references) + 1,
            "request": request_key,
        }
        if credit_note is not None:
            entry["credit_note"] = credit_note.as_json()
    entry["status"] = status
    references[refund_id] = entry
    payment.refund_references = references
    payment.save(update_fields=["refund_references"])
    if status != SUCCEEDED:
        return payment  # pending: the webhook brings the end; failed or cancelled: nothing was given back
    return payment_refund(
        payment=payment, amount=Decimal(entry["amount"]), credit_note=_credit_note_of(entry), now=now
    )


def _credit_note_of(entry: dict) -> CreditNoteRequest | None:
    return CreditNoteRequest.from_json(entry["credit_note"]) if entry.get("credit_note") else None


@transaction.atomic
def recorded_payment_refund(
    *, payment: Payment, amount: Decimal, reason: str, actor=None, now: datetime.datetime | None = None,
    request_key: str = "", credit_note: CreditNoteRequest | None = None,
) -> Payment:
    """A refund finance made outside the product (a bank transfer back…), recorded at once with payment_refund,
    as before Stripe; `request_key` keeps the same request from recording it twice. With `credit_note`, it was
    part of the invoice's price: a partial credit note takes it off the invoice."""
    now = now or clock.now()
    payment = _locked(payment)
    if _asked_already(payment, request_key):
        return payment
    if is_stripe_card_payment(payment):
        raise BillingError(f"Payment {payment.pk} was collected by Stripe: refund it through Stripe.")
    amount = _checked(payment, amount)
    references = dict(payment.refund_references)
    sequence = len(references) + 1
    references[f"recorded:{sequence}"] = {
        "amount": str(amount), "sequence": sequence, "request": request_key, "status": SUCCEEDED,
        **({"credit_note": credit_note.as_json()} if credit_note is not None else {}),
    }
    payment.refund_references = references
    payment.save(update_fields=["refund_references"])
    audit_log_record(
        action="payment.refund_request", obj=payment, actor=actor, changes={"amount": str(amount), "reason": reason},
    )
    return payment_refund(payment=payment, amount=amount, credit_note=credit_note, now=now)


def refundable_card_payment(invoice: Invoice, *, amount: Decimal) -> Payment | None:
    """The oldest payment of `invoice` collected by card through Stripe with `amount` left to refund, if any."""
    payments = Payment.objects.filter(invoice=invoice, status__in=REFUNDABLE_STATUSES).order_by("pk")
    return next(
        (payment for payment in payments if is_stripe_card_payment(payment) and refund_left(payment) >= amount), None
    )


@transaction.atomic
def credit_note_card_refund(
    *, invoice: Invoice, lines: dict[int, Decimal | None] | None = None, amount: Decimal | None = None,
    reason_code: str, reason: str = "", actor=None, now: datetime.datetime | None = None, request_key: str = "",
) -> Payment:
    """A partial credit note of an invoice paid by card through Stripe, what it credits of the amount paid handed
    back to that card (what it credits of an amount still due lowers it): the refund goes to Stripe now and the
    credit note is issued when Stripe confirms it (payment_refund), so that the books never say the money went
    back before it did. The card payment refunded, as it stands after."""
    now = now or clock.now()
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    price = credit_note_partial_price(invoice=locked, lines=lines, amount=amount)
    to_card = credit_effect(locked, price.total).given_back
    if to_card <= 0:
        raise BillingError(
            f"Invoice {locked} still has {locked.amount_due} {locked.currency} due: the credit note lowers that, "
            "nothing paid goes back; issue it to the customer's balance."
        )
    payment = refundable_card_payment(locked, amount=to_card)
    if payment is None:
        raise BillingError(
            f"No card payment of invoice {locked} through Stripe has {to_card} {locked.currency} left to refund: "
            "credit it to the customer's balance instead."
        )
    return card_payment_refund(
        payment=payment, amount=to_card, actor=actor, now=now, request_key=request_key,
        reason=credit_note_reason_text(reason_code=reason_code, reason=reason),
        credit_note=CreditNoteRequest(reason_code=reason_code, reason=reason, lines=lines or {}, amount=amount),
    )
