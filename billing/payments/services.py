"""Payments: recorded once per idempotency key, completed into the invoice, failed into an alert."""
import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.services import audit_log_record
from billing import clock
from billing.cache import customer_cache_invalidate
from billing.exceptions import BillingError, IdempotencyConflict
from billing.invoicing.credit_notes import CreditNoteRequest, credit_note_partial_issue
from billing.invoicing.invoices import overdue_alert_raise
from billing.invoicing.settlement import paid_when_settled
from billing.models import (
    AlertType,
    Credit,
    CreditType,
    EmailKind,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
)
from billing.money import format_number, positive_amount
from billing.notifications.alerts import alert_raise, alert_text
from billing.notifications.customer_webhooks import payment_failed_publish
from billing.notifications.emails import email_queue
from billing.periods import local_date
from billing.transitions import transition_check

PAYABLE_STATUSES = (InvoiceStatus.SENT, InvoiceStatus.OVERDUE, InvoiceStatus.PAID)


def _lock(payment: Payment) -> tuple[Payment, Invoice]:
    """Lock the invoice, then the payment: every payment path takes them in this order."""
    invoice = Invoice.objects.select_for_update().get(pk=payment.invoice_id)
    return Payment.objects.select_for_update().get(pk=payment.pk), invoice


def _overpayment_credit(payment: Payment) -> Credit | None:
    return Credit.objects.filter(payment=payment).order_by("pk").first()


def _settle(payment: Payment, invoice: Invoice, *, now: datetime.datetime) -> None:
    """Count a completed payment on its invoice; what exceeds the amount due becomes a credit."""
    applied = min(payment.amount, invoice.amount_due)
    excess = payment.amount - applied
    invoice.amount_paid += applied
    invoice.amount_due -= applied
    invoice.save(update_fields=["amount_paid", "amount_due", *paid_when_settled(invoice, now=now)])
    email_queue(
        kind=EmailKind.PAYMENT_RECEIVED, key=f"payment-received:{payment.pk}", user=invoice.user, invoice=invoice,
        context={"amount": str(payment.amount)},
    )
    if excess > 0:
        credit = Credit.objects.create(
            user=invoice.user, type=CreditType.ADJUSTMENT, amount=excess, remaining_amount=excess,
            currency=payment.currency, reason=f"Overpayment of invoice {invoice.number}", payment=payment,
            created_at=now,
        )
        audit_log_record(action="credit.grant", obj=credit, changes={"amount": str(excess), "payment": payment.pk})


@transaction.atomic
def payment_record(
    *,
    invoice: Invoice,
    amount: Decimal,
    idempotency_key: str,
    method: str = PaymentMethod.BANK_TRANSFER,
    provider_reference: str = "",
    status: str = PaymentStatus.COMPLETED,
    now: datetime.datetime | None = None,
) -> Payment:
    """Record a payment of `invoice`; the same key returns the same payment, never a second one.

    `status` COMPLETED (money received) settles the invoice at once; PENDING starts a provider flow.
    """
    now = now or clock.now()
    if not idempotency_key or not idempotency_key.strip():
        raise BillingError("An idempotency key is required.")
    if status not in (PaymentStatus.PENDING, PaymentStatus.PROCESSING, PaymentStatus.COMPLETED):
        raise BillingError(f"A payment cannot be recorded as {status}.")
    if method not in PaymentMethod.values:
        raise BillingError(f"'{method}' is not a payment method: use one of {', '.join(PaymentMethod.values)}.")
    amount = positive_amount(amount, what="A payment")
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    existing = Payment.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        if existing.invoice_id != invoice.pk or existing.amount != amount:
            raise IdempotencyConflict(f"Idempotency key '{idempotency_key}' was used for another payment.")
        return existing
    if invoice.status not in PAYABLE_STATUSES:
        raise BillingError(f"Invoice {invoice} is {invoice.status}: it cannot be paid.")
    try:
        with transaction.atomic():
            payment = Payment.objects.create(
                invoice=invoice, user=invoice.user, amount=amount, currency=invoice.currency, status=status,
                method=method, provider_reference=provider_reference, idempotency_key=idempotency_key,
                created_at=now, processed_at=now if status == PaymentStatus.COMPLETED else None,
            )
    except IntegrityError:
        # The same key on another invoice, recorded concurrently: the constraint decides.
        raise IdempotencyConflict(f"Idempotency key '{idempotency_key}' was used for another payment.") from None
    audit_log_record(action="payment.record", obj=payment, changes={"amount": str(amount), "status": status})
    customer_cache_invalidate(payment.user_id)
    if status == PaymentStatus.COMPLETED:
        _settle(payment, invoice, now=now)
    return payment


@transaction.atomic
def payment_mark_processing(*, payment: Payment) -> Payment:
    payment, _ = _lock(payment)
    transition_check(payment, to=PaymentStatus.PROCESSING)
    payment.status = PaymentStatus.PROCESSING
    payment.save(update_fields=["status"])
    audit_log_record(action="payment.processing", obj=payment)
    customer_cache_invalidate(payment.user_id)
    return payment


@transaction.atomic
def payment_complete(*, payment: Payment, now: datetime.datetime | None = None) -> Payment:
    now = now or clock.now()
    payment, invoice = _lock(payment)
    transition_check(payment, to=PaymentStatus.COMPLETED)
    if invoice.status not in PAYABLE_STATUSES:
        raise BillingError(f"Invoice {invoice} is {invoice.status}: the payment cannot complete on it.")
    payment.status, payment.processed_at = PaymentStatus.COMPLETED, now
    payment.save(update_fields=["status", "processed_at"])
    audit_log_record(action="payment.complete", obj=payment)
    customer_cache_invalidate(payment.user_id)
    _settle(payment, invoice, now=now)
    return payment


def _payment_failed_text(payment: Payment, invoice: Invoice, reason: str) -> str:
    figures = {"amount": format_number(payment.amount, currency=payment.currency), "number": invoice.number}
    if not reason:
        return _("Your payment of %(amount)s for invoice %(number)s failed.") % figures
    # A reason the product writes is in the catalogue; a provider's own words stay as they are.
    return _("Your payment of %(amount)s for invoice %(number)s failed: %(reason)s") % {**figures, "reason": _(reason)}


@transaction.atomic
def payment_fail(*, payment: Payment, reason: str, now: datetime.datetime | None = None) -> Payment:
    now = now or clock.now()
    payment, invoice = _lock(payment)
    transition_check(payment, to=PaymentStatus.FAILED)
    payment.status, payment.failure_reason, payment.processed_at = PaymentStatus.FAILED, reason, now
    payment.save(update_fields=["status", "failure_reason", "processed_at"])
    audit_log_record(action="payment.fail", obj=payment, changes={"reason": reason})
    customer_cache_invalidate(payment.user_id)
    alert, _ = alert_raise(
        user=payment.user,
        type=AlertType.PAYMENT_FAILED,
        occasion=f"payment:{payment.pk}",
        message=alert_text(_payment_failed_text, payment, invoice, reason),
        now=now,
    )
    email_queue(
        kind=EmailKind.PAYMENT_FAILED, key=f"payment-failed:{payment.pk}", user=payment.user, invoice=invoice,
        context={"amount": str(payment.amount), "reason": reason},
    )
    alert.emailed_at = now
    alert.save(update_fields=["emailed_at"])
    payment_failed_publish(payment, invoice, now=now)
    return payment


@transaction.atomic
def payment_refund(
    *, payment: Payment, amount: Decimal | None = None, credit_note: CreditNoteRequest | None = None,
    now: datetime.datetime | None = None,
) -> Payment:
    """Give back all or part of a completed payment.

    The part that paid the invoice comes off `amount_paid` (an invoice no longer covered is due
    again); the part that had become an overpayment credit comes off that credit's balance.

    With `credit_note`, what is given back is part of the invoice's price, not money paid too much nor owed still:
    the law asks for a credit note, so a partial one (of the lines it names, else of the amount refunded) takes
    it off the invoice, which stays settled.
    """
    now = now or clock.now()
    payment, invoice = _lock(payment)
    transition_check(payment, to=PaymentStatus.REFUNDED)
    refundable = payment.amount - payment.refunded_amount
    if refundable <= 0:
        raise BillingError(f"Payment {payment.pk} was refunded in full already.")
    amount = refundable if amount is None else positive_amount(amount, what="A refund")
    if amount > refundable:
        raise BillingError(f"A refund of payment {payment.pk} is between 0.01 and {refundable}.")
    if credit_note is not None:
        return _price_refund(payment, invoice, amount=amount, credit_note=credit_note, now=now)
    from_credit = Decimal(0)
    credit = _overpayment_credit(payment)
    if credit is not None:
        credit = Credit.objects.select_for_update().get(pk=credit.pk)
        from_credit = min(amount, credit.remaining_amount)
        credit.remaining_amount -= from_credit
        credit.save(update_fields=["remaining_amount"])
    from_invoice = amount - from_credit
    if from_invoice and invoice.status == InvoiceStatus.CANCELLED:
        # invoice_cancel already turned what was paid on it into a REFUND credit: never give it twice.
        raise BillingError(
            f"Invoice {invoice} was cancelled: what was paid on it is already a credit of the customer."
        )
    if from_invoice > invoice.amount_paid:
        raise BillingError(f"Only {invoice.amount_paid + from_credit} of payment {payment.pk} can still be refunded.")
    payment.refunded_amount += amount
    payment.status = PaymentStatus.REFUNDED
    payment.save(update_fields=["refunded_amount", "status"])
    if from_invoice:
        invoice.amount_paid -= from_invoice
        invoice.amount_due += from_invoice
        fields = ["amount_paid", "amount_due"]
        if invoice.status == InvoiceStatus.PAID:
            # Money handed back makes the invoice due again: the one move back out of PAID.
            overdue = invoice.due_date is not None and invoice.due_date < local_date(now)
            invoice.status = InvoiceStatus.OVERDUE if overdue else InvoiceStatus.SENT
            invoice.paid_at = None
            fields += ["status", "paid_at"]
        invoice.save(update_fields=fields)
        if invoice.status == InvoiceStatus.OVERDUE:
            overdue_alert_raise(invoice, now=now)
    audit_log_record(action="payment.refund", obj=payment, changes={"amount": str(amount)})
    customer_cache_invalidate(payment.user_id)
    return payment


def _price_refund(
    payment: Payment, invoice: Invoice, *, amount: Decimal, credit_note: CreditNoteRequest, now: datetime.datetime
) -> Payment:
    """Refund `amount` of what `payment` paid of the locked invoice's price, with the partial credit note that
    takes it off the price (audited with the refund)."""
    if amount > invoice.amount_paid:
        raise BillingError(f"Only {invoice.amount_paid} of invoice {invoice} was paid: a refund of its price is at "
                           "most that.")
    payment.refunded_amount += amount
    payment.status = PaymentStatus.REFUNDED
    payment.save(update_fields=["refunded_amount", "status"])
    issued = credit_note_partial_issue(
        invoice=invoice, lines=credit_note.lines or None,
        amount=None if credit_note.lines else credit_note.amount or amount, reason_code=credit_note.reason_code,
        reason=credit_note.reason, refunded=amount, now=now,
    )
    audit_log_record(
        action="payment.refund", obj=payment, changes={"amount": str(amount), "credit_note": issued.number}
    )
    customer_cache_invalidate(payment.user_id)
    return payment
