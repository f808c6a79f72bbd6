"""Progressive billing: an interim invoice bills a period's usage as soon as what is not billed yet reaches the
plan's `progressive_threshold`, instead of waiting for the period's end.

The interim invoice holds the period's USAGE lines so far, less what earlier interim invoices billed; the period's
final invoice takes off everything they billed (`billing.pricing.invoice_draft`), so the same tokens are never
billed twice. Both lock the subscription row and read the usage and the interim invoices under the lock: an
interim check and the monthly run take their turns.

Triggers: the quota throttle, on a metered call of a customer whose plan has a threshold, asks for a check once
the period's usage charge reaches the next amount due (`interim_check_request`: a cache read, a task queued at
most once per amount and minute); a sweep every five minutes catches usage that came in any other way (batches
of usage events). Plans without a threshold cost the throttle nothing.
"""
import datetime
from decimal import Decimal

from django.core.cache import cache
from django.db import transaction

from billing import clock
from billing.invoicing.invoices import invoices_create, invoices_finalize
from billing.models import Invoice, Subscription
from billing.periods import Period
from billing.pricing import interim_billed_of
from billing.selectors import interim_drafts, load_subscriptions
from core.enqueue import enqueue_after_commit

CHECK_TASK = "billing.tasks.invoicing.interim_invoice_check_task"
CHECK_DEDUPLICATION_SECONDS = 60


def _due_key(user_id: int, period: Period) -> str:
    return f"interim-due:{user_id}:{period.start:%Y%m%d}"


def interim_check_request(*, subscription: Subscription, period: Period, charge: Decimal) -> None:
    """Queue an interim check (after commit) when `charge`, the period's usage charge so far, reaches the amount
    from which an interim invoice is due: the threshold, or what the interim invoices billed plus the threshold
    (remembered in the cache by the last check). Once per such amount and minute: a counter a little ahead of the
    database cannot queue a check on every call."""
    threshold = subscription.plan.progressive_threshold
    if threshold is None or charge < threshold:
        return
    due = cache.get(_due_key(subscription.user_id, period))
    due = threshold if due is None else due
    if charge < due:
        return
    check_key = f"interim-check:{subscription.user_id}:{period.start:%Y%m%d}:{due}"
    if cache.add(check_key, 1, timeout=CHECK_DEDUPLICATION_SECONDS):
        enqueue_after_commit(CHECK_TASK, subscription_id=subscription.pk)


def _due_remember(subscription: Subscription, period: Period, *, billed: Decimal, now: datetime.datetime) -> None:
    """After commit: the usage charge from which the next interim invoice of the period is due, until its end."""
    timeout = max(1, int((period.end_at - now).total_seconds()))
    due = billed + subscription.plan.progressive_threshold
    transaction.on_commit(lambda: cache.set(_due_key(subscription.user_id, period), due, timeout=timeout), robust=True)


def interim_invoice_issue(*, subscription_id: int, now: datetime.datetime | None = None) -> Invoice | None:
    """Issue the interim invoice of the subscription's current period when its usage not billed yet reached the
    plan's progressive threshold (numbered, credits, PDF and email, card charge, webhooks: the one issue path);
    None when nothing is due, the plan has no threshold, or the period has ended (the invoice run bills it).

    The subscription row is locked first and everything is read again under the lock, so concurrent checks issue
    one invoice, and a check racing the monthly run bills what the run does not."""
    now = now or clock.now()
    with transaction.atomic():
        locked = list(Subscription.objects.select_for_update().filter(pk=subscription_id).values_list("pk", flat=True))
        if not locked:
            return None
        [subscription] = load_subscriptions(locked)
        if subscription.plan.progressive_threshold is None:
            return None
        drafts = interim_drafts([subscription], now=now)
        period = Period(subscription.current_period_start, subscription.current_period_end)
        billed = interim_billed_of(subscription, period).amount
        invoice = None
        if drafts:
            [invoice] = invoices_create(drafts, now=now)
            invoices_finalize([invoice], now=now)
            billed += invoice.subtotal
        _due_remember(subscription, period, billed=billed, now=now)
    return invoice
