"""Issued invoices charged to the customer's saved card with Stripe, and Stripe's answer applied once.

The charge runs on a worker after the issue committed (billing.tasks.payments.invoice_charge_task): a Stripe
outage never rolls back billing. Each attempt is one Payment, found again by its idempotency key, and one
PaymentIntent, created under that same key at Stripe: a redelivered or retried task charges nothing twice.
The outcome comes from Stripe's answer to the charge when it has one, else from the webhook; whichever comes
second finds it applied.
"""
import datetime

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from billing import clock
from billing.exceptions import BillingError
from billing.models import (
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    PaymentProviderCustomer,
    PaymentProviderName,
    PaymentStatus,
)
from billing.payments.providers.stripe import PaymentProviderUnavailable, StripeProvider
from billing.payments.services import payment_complete, payment_fail, payment_mark_processing, payment_record
from core.enqueue import enqueue_after_commit
from core.exceptions import Conflict

CHARGE_TASK = "billing.tasks.payments.invoice_charge_task"
CHARGEABLE_STATUSES = (InvoiceStatus.SENT, InvoiceStatus.OVERDUE)
OPEN_PAYMENT_STATUSES = (PaymentStatus.PENDING, PaymentStatus.PROCESSING)
# Stored in English for finance, translated into the customer's language in the alert and the email.
DECLINED = gettext_noop("refused by the payment provider")


class NothingToPay(BillingError, Conflict):
    """The invoice is paid, cancelled, or owes nothing."""


class PaymentInProgress(BillingError, Conflict):
    """A card charge of the invoice is still waiting for Stripe's answer: a second one could charge twice."""


class NoCardOnFile(BillingError):
    """Pay now needs a saved card (and Stripe collecting the payments)."""


def charge_idempotency_key(*, invoice_id: int, attempt: int) -> str:
    """The Payment's key and Stripe's: one charge per invoice and attempt."""
    return f"stripe:invoice:{invoice_id}:attempt:{attempt}"


def attempt_number(payment: Payment) -> int:
    """The attempt a card payment's key names (0 for a payment that is not an automatic charge attempt)."""
    prefix = charge_idempotency_key(invoice_id=payment.invoice_id, attempt=0)[:-1]
    if not payment.idempotency_key.startswith(prefix):
        return 0
    tail = payment.idempotency_key[len(prefix):]
    return int(tail) if tail.isdigit() else 0


def charge_attempts(invoice: Invoice) -> list[Payment]:
    """The invoice's card charges, first attempt first."""
    attempts = [p for p in Payment.objects.filter(invoice=invoice, method=PaymentMethod.CARD) if attempt_number(p)]
    return sorted(attempts, key=attempt_number)


def card_on_file(user_id: int) -> PaymentProviderCustomer | None:
    """The user's Stripe customer when it has a default card to charge, and Stripe collects the payments."""
    if settings.PAYMENT_PROVIDER != PaymentProviderName.STRIPE:
        return None
    return (
        PaymentProviderCustomer.objects.filter(user_id=user_id, provider=PaymentProviderName.STRIPE)
        .exclude(default_payment_method_id="")
        .first()
    )


@transaction.atomic
def _payment_open(invoice: Invoice, *, key: str, now: datetime.datetime) -> Payment | None:
    """The attempt's Payment, PROCESSING, created on the first call; None when there is nothing to charge."""
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    existing = Payment.objects.filter(idempotency_key=key).first()
    if existing is None:
        if locked.status not in CHARGEABLE_STATUSES or locked.amount_due <= 0:
            return None  # paid (or cancelled) since it was issued: nothing is owed to charge
        existing = payment_record(
            invoice=locked, amount=locked.amount_due, idempotency_key=key, method=PaymentMethod.CARD,
            status=PaymentStatus.PENDING, now=now,
        )
    if existing.status == PaymentStatus.PENDING:
        existing = payment_mark_processing(payment=existing)
    return existing


@transaction.atomic
def payment_intent_outcome_apply(
    *, payment: Payment, succeeded: bool, reason: str = "", payment_intent_id: str = "",
    now: datetime.datetime | None = None,
) -> Payment:
    """Complete or fail a card payment as Stripe says, once: an outcome already applied (by the charge's own
    answer or an earlier event) is left as it is. The invoice then the payment are locked, as every payment
    path locks them, so that concurrent deliveries apply it one after the other."""
    now = now or clock.now()
    Invoice.objects.select_for_update().get(pk=payment.invoice_id)
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    if payment_intent_id and not payment.provider_reference:
        payment.provider_reference = payment_intent_id
        payment.save(update_fields=["provider_reference"])
    if payment.status not in OPEN_PAYMENT_STATUSES:
        return payment
    if succeeded:
        return payment_complete(payment=payment, now=now)
    return payment_fail(payment=payment, reason=reason or DECLINED, now=now)


def invoice_charge(*, invoice: Invoice, attempt: int, now: datetime.datetime | None = None) -> Payment | None:
    """Charge `invoice`'s amount due to the customer's default card, for attempt number `attempt`.

    None when nothing is charged (the manual provider, no card on file, nothing due). Not atomic on purpose:
    the Payment is committed before Stripe is called, so that a retry finds it; Stripe out of reach raises
    PaymentProviderUnavailable and leaves it PROCESSING for the task's retry.
    """
    now = now or clock.now()
    customer = card_on_file(invoice.user_id)
    if customer is None:
        return None
    key = charge_idempotency_key(invoice_id=invoice.pk, attempt=attempt)
    payment = _payment_open(invoice, key=key, now=now)
    if payment is None or payment.status not in OPEN_PAYMENT_STATUSES or payment.provider_reference:
        # Charged already (a redelivered task): the webhook brings the outcome, never a second PaymentIntent.
        return payment
    answer = StripeProvider.from_settings().payment_intent_charge(
        customer_id=customer.provider_customer_id, payment_method_id=customer.default_payment_method_id,
        amount_cents=int(payment.amount * 100), currency=payment.currency, idempotency_key=key,
        metadata={"invoice_id": str(invoice.pk), "invoice_number": invoice.number, "attempt": str(attempt)},
    )
    if answer.status == "succeeded":
        return payment_intent_outcome_apply(
            payment=payment, succeeded=True, payment_intent_id=answer.payment_intent_id, now=now
        )
    if answer.status == "requires_payment_method":
        return payment_intent_outcome_apply(
            payment=payment, succeeded=False, reason=answer.failure_reason,
            payment_intent_id=answer.payment_intent_id, now=now,
        )
    # Processing, or waiting for the customer (3-D Secure): the webhook says how it ends.
    return _reference_store(payment, answer.payment_intent_id)


@transaction.atomic
def _reference_store(payment: Payment, payment_intent_id: str) -> Payment:
    Invoice.objects.select_for_update().get(pk=payment.invoice_id)  # the order every payment path locks in
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    if payment_intent_id and not payment.provider_reference:
        payment.provider_reference = payment_intent_id
        payment.save(update_fields=["provider_reference"])
    return payment


def invoice_pay_now(*, invoice: Invoice, user, now: datetime.datetime | None = None) -> Payment:
    """The customer's "Pay now": charge the card on file at once, as the next attempt, and return the Payment
    with Stripe's answer applied (COMPLETED, FAILED with Stripe's reason, or PROCESSING when the bank has not
    answered yet: the webhook then says how it ends).

    Refused (NothingToPay, PaymentInProgress) when nothing is owed or a charge is still waiting for its answer;
    NoCardOnFile without a card. Two clicks at once compute the same attempt, hence the same idempotency key:
    one charge. Stripe out of reach raises PaymentProviderUnavailable and leaves the attempt PROCESSING, queued
    for the charge task.
    """
    now = now or clock.now()
    if invoice.user_id != user.pk:
        raise BillingError(_("This invoice is not yours."))
    invoice = Invoice.objects.get(pk=invoice.pk)  # the amount due as it is now, not as the page read it
    if invoice.status not in CHARGEABLE_STATUSES or invoice.amount_due <= 0:
        raise NothingToPay(_("Invoice %(number)s has nothing left to pay.") % {"number": invoice.number})
    attempts = charge_attempts(invoice)
    if any(attempt.status in OPEN_PAYMENT_STATUSES for attempt in attempts):
        raise PaymentInProgress(
            _("A payment of invoice %(number)s is already in progress: its outcome shows here once the bank "
              "answers.") % {"number": invoice.number}
        )
    if settings.PAYMENT_PROVIDER != PaymentProviderName.STRIPE:
        raise NoCardOnFile(_("Invoices are paid by bank transfer: the invoice gives the account to pay to."))
    if card_on_file(user.pk) is None:
        raise NoCardOnFile(_("Add a card to pay this invoice by card."))
    attempt = (attempt_number(attempts[-1]) if attempts else 0) + 1
    try:
        payment = invoice_charge(invoice=invoice, attempt=attempt, now=now)
    except PaymentProviderUnavailable:
        # The attempt stays PROCESSING, which refuses another Pay now and the retries: the charge task takes it
        # over and tries again with backoff under the same key, as for a charge at issue.
        enqueue_after_commit(CHARGE_TASK, invoice_id=invoice.pk, attempt=attempt)
        raise
    if payment is None:  # paid in between, by another path
        raise NothingToPay(_("Invoice %(number)s has nothing left to pay.") % {"number": invoice.number})
    return payment
