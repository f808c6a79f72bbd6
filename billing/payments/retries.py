"""Failed card charges tried again on the PAYMENT_RETRY_DAYS after the invoice's issue, each once.

An attempt is a CARD Payment keyed stripe:invoice:<id>:attempt:<n> (see charging.py). The next retry day is
the first retry day after the day of the last attempt (BILLING_TIME_ZONE): a sweep run twice the same day, or on
the day of a "Pay now", charges nothing new, and a retry day the sweep missed is caught up the day after,
up to the last retry day.
"""
import datetime

from django.conf import settings

from billing import clock
from billing.models import Invoice, Payment, PaymentMethod, PaymentProviderName, PaymentStatus
from billing.payments.charging import CHARGE_TASK, CHARGEABLE_STATUSES, attempt_number, charge_attempts
from billing.periods import card_retry_day, local_date
from core.enqueue import enqueue_after_commit


def last_attempt(invoice: Invoice) -> Payment | None:
    """The invoice's card charge with the highest attempt number."""
    attempts = charge_attempts(invoice)
    return attempts[-1] if attempts else None


def retry_days(invoice: Invoice) -> list[datetime.date]:
    return [invoice.issue_date + datetime.timedelta(days=days) for days in settings.PAYMENT_RETRY_DAYS]


def next_retry_day(invoice: Invoice, *, last: Payment) -> datetime.date | None:
    """The first retry day after the day of the last attempt; None when no retry is left."""
    return card_retry_day(issue_date=invoice.issue_date, attempted_on=local_date(last.created_at))


def payment_retries_due(*, now: datetime.datetime | None = None) -> int:
    """Queue, after commit, the next charge of each open invoice whose last attempt failed and whose next retry
    day is today or past, but not beyond the last retry day. Returns how many were queued."""
    now = now or clock.now()
    if settings.PAYMENT_PROVIDER != PaymentProviderName.STRIPE:
        return 0
    today = local_date(now)
    earliest_issue = today - datetime.timedelta(days=max(settings.PAYMENT_RETRY_DAYS))
    invoices = Invoice.objects.filter(
        status__in=CHARGEABLE_STATUSES, amount_due__gt=0, issue_date__gte=earliest_issue,
        payments__method=PaymentMethod.CARD, payments__status=PaymentStatus.FAILED,
    ).distinct()
    queued = 0
    for invoice in invoices:
        last = last_attempt(invoice)
        if last is None or last.status != PaymentStatus.FAILED:
            continue  # paid, or an attempt still in progress: its outcome decides
        retry_on = next_retry_day(invoice, last=last)
        if retry_on is None or retry_on > today or today > retry_days(invoice)[-1]:
            continue
        enqueue_after_commit(CHARGE_TASK, invoice_id=invoice.pk, attempt=attempt_number(last) + 1)
        queued += 1
    return queued
