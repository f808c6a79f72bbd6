"""Sweeps the scheduler runs: usage thresholds, expiring and expired subscriptions, overdue invoices.

Each is safe to run again: alerts are unique per occasion, and rows already moved are not selected.
"""
import datetime

from billing import clock
from billing.cache import customer_cache_invalidate
from billing.models import (
    LIVE_SUBSCRIPTION_STATUSES,
    AlertType,
    BillingAlert,
    Invoice,
    InvoiceStatus,
    Subscription,
)
from billing.periods import Period, local_date
from billing.selectors import usage_tokens_by_window, usage_window

from .invoices import invoice_mark_overdue
from .subscriptions import subscription_expire

USAGE_THRESHOLDS = (80, 100)
EXPIRY_NOTICE_DAYS = 7
BATCH_SIZE = 1000


def _batches(queryset, size: int = BATCH_SIZE):
    ids = list(queryset.order_by("pk").values_list("pk", flat=True))
    for offset in range(0, len(ids), size):
        yield ids[offset : offset + size]


def usage_threshold_alerts_raise(*, now: datetime.datetime | None = None) -> None:
    """USAGE_THRESHOLD at 80 % and 100 % of the included tokens, once per subscription period."""
    now = now or clock.now()
    live = Subscription.objects.filter(status__in=LIVE_SUBSCRIPTION_STATUSES, plan__included_tokens__gt=0)
    for ids in _batches(live):
        subscriptions = list(Subscription.objects.filter(pk__in=ids).select_related("plan"))
        windows = {}
        for sub in subscriptions:
            start_at, end_at = usage_window(sub, Period(sub.current_period_start, sub.current_period_end))
            windows[sub.pk] = (sub.user_id, (start_at, max(start_at, min(end_at, now))))
        tokens = usage_tokens_by_window(windows)
        alerts = [
            BillingAlert(
                user_id=sub.user_id,
                type=AlertType.USAGE_THRESHOLD,
                occasion=f"{sub.current_period_start:%Y-%m}:{threshold}",
                message=(
                    f"You have used {tokens[sub.pk]:,} of the {sub.plan.included_tokens:,} tokens included in your "
                    f"{sub.plan.name} plan this period ({threshold} %)."
                ),
                created_at=now,
            )
            for sub in subscriptions
            for threshold in USAGE_THRESHOLDS
            if tokens[sub.pk] * 100 >= sub.plan.included_tokens * threshold
        ]
        # The unique (user, type, occasion) constraint keeps each alert to one row, whoever runs first.
        BillingAlert.objects.bulk_create(alerts, ignore_conflicts=True)
        customer_cache_invalidate(alert.user_id for alert in alerts)


def expiring_subscription_alerts_raise(*, now: datetime.datetime | None = None) -> None:
    """SUBSCRIPTION_EXPIRING for subscriptions cancelled at period end whose period ends within 7 days."""
    now = now or clock.now()
    today = local_date(now)
    expiring = Subscription.objects.filter(
        status__in=LIVE_SUBSCRIPTION_STATUSES,
        cancel_at_period_end=True,
        current_period_end__gt=today,
        current_period_end__lte=today + datetime.timedelta(days=EXPIRY_NOTICE_DAYS),
    ).select_related("plan")
    alerts = [
        BillingAlert(
            user_id=sub.user_id,
            type=AlertType.SUBSCRIPTION_EXPIRING,
            occasion=f"expires:{sub.current_period_end.isoformat()}",
            message=f"Your {sub.plan.name} subscription ends on {sub.current_period_end:%d %B %Y}.",
            created_at=now,
        )
        for sub in expiring
    ]
    BillingAlert.objects.bulk_create(alerts, ignore_conflicts=True)
    customer_cache_invalidate(alert.user_id for alert in alerts)


def subscriptions_expire_due(*, now: datetime.datetime | None = None) -> int:
    """Subscriptions cancelled at period end whose period is over become EXPIRED."""
    now = now or clock.now()
    due = Subscription.objects.filter(
        status__in=LIVE_SUBSCRIPTION_STATUSES, cancel_at_period_end=True, current_period_end__lte=local_date(now)
    )
    expired = 0
    for subscription in due.order_by("pk"):
        subscription_expire(subscription=subscription, now=now)
        expired += 1
    return expired


def invoices_mark_overdue_due(*, now: datetime.datetime | None = None) -> int:
    """SENT invoices past their due date become OVERDUE, each with an INVOICE_OVERDUE alert."""
    now = now or clock.now()
    due = Invoice.objects.filter(status=InvoiceStatus.SENT, due_date__lt=local_date(now))
    marked = 0
    for invoice in due.order_by("pk"):
        invoice_mark_overdue(invoice=invoice, now=now)
        marked += 1
    return marked
