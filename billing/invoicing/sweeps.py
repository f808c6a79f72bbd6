"""Sweeps the scheduler runs: usage thresholds, expiring and expired subscriptions, overdue invoices, interim
invoices.

Each is safe to run again: alerts are unique per occasion, and rows already moved are not selected.
"""
import datetime

from django.utils.translation import gettext as _

from billing import clock
from billing.cache import customer_cache_invalidate
from billing.invoicing.invoices import invoice_mark_overdue
from billing.invoicing.progressive import interim_invoice_issue
from billing.models import (
    LIVE_SUBSCRIPTION_STATUSES,
    AlertType,
    BillingAlert,
    Invoice,
    InvoiceStatus,
    Subscription,
)
from billing.money import format_number
from billing.notifications.alerts import alert_message, alert_text
from billing.notifications.customer_webhooks import usage_thresholds_publish
from billing.periods import Period, format_long_date, last_day, local_date
from billing.selectors import QuotaUsage, interim_drafts, load_subscriptions, quota_usages
from billing.subscriptions.lifecycle import subscription_expire

USAGE_THRESHOLDS = (80, 100)
EXPIRY_NOTICE_DAYS = 7
BATCH_SIZE = 1000


def _batches(queryset, size: int = BATCH_SIZE):
    ids = list(queryset.order_by("pk").values_list("pk", flat=True))
    for offset in range(0, len(ids), size):
        yield ids[offset : offset + size]


def _usage_threshold_text(quota: QuotaUsage, threshold: int) -> str:
    figures = {
        "used": format_number(quota.tokens_used, places=0), "included": format_number(quota.included_tokens, places=0),
        "plan": quota.segment.plan.name, "threshold": threshold,
    }
    if quota.segment.trial:
        return _("You have used %(used)s of the %(included)s tokens included in your free trial of the %(plan)s plan "
                 "(%(threshold)s %%); during the trial, calls beyond them are refused.") % figures
    if len({segment.plan.pk for segment in quota.segments}) == 1:  # one plan, a free trial before it or not
        return _("You have used %(used)s of the %(included)s tokens included in your %(plan)s plan this period "
                 "(%(threshold)s %%).") % figures
    return _("Since your change to the %(plan)s plan on %(start)s you have used %(used)s of the %(included)s tokens "
             "included for its days this period (%(threshold)s %%).") % {
        **figures, "start": format_long_date(quota.segment.period.start),
    }


def usage_threshold_alerts_raise(*, now: datetime.datetime | None = None) -> None:
    """USAGE_THRESHOLD at 80 % and 100 % of the quota in force, once per subscription period, or once per plan
    segment of a period after a plan change (its share of the quota against the tokens used since the change)."""
    now = now or clock.now()
    live = Subscription.objects.filter(status__in=LIVE_SUBSCRIPTION_STATUSES, plan__included_tokens__gt=0)
    for ids in _batches(live):
        subscriptions = load_subscriptions(ids)
        quotas = quota_usages(
            {sub: Period(sub.current_period_start, sub.current_period_end) for sub in subscriptions}, now=now, until=now
        )
        reached = [
            (sub, quota, threshold)
            for sub, quota in quotas.items()
            for threshold in USAGE_THRESHOLDS
            if quota.included_tokens and quota.tokens_used * 100 >= quota.included_tokens * threshold
        ]
        alerts = [
            BillingAlert(
                user_id=sub.user_id,
                type=AlertType.USAGE_THRESHOLD,
                occasion=f"{quota.occasion}:{threshold}",
                message=alert_message(user=sub.user, message=alert_text(_usage_threshold_text, quota, threshold)),
                created_at=now,
            )
            for sub, quota, threshold in reached
        ]
        # The unique (user, type, occasion) constraint keeps each alert to one row, whoever runs first.
        BillingAlert.objects.bulk_create(alerts, ignore_conflicts=True)
        customer_cache_invalidate(alert.user_id for alert in alerts)
        usage_thresholds_publish(reached, now=now)  # once per occasion too


def expiring_subscription_alerts_raise(*, now: datetime.datetime | None = None) -> None:
    """SUBSCRIPTION_EXPIRING for subscriptions cancelled at period end whose period ends within 7 days."""
    now = now or clock.now()
    today = local_date(now)
    expiring = Subscription.objects.filter(
        status__in=LIVE_SUBSCRIPTION_STATUSES,
        cancel_at_period_end=True,
        current_period_end__gt=today,
        current_period_end__lte=today + datetime.timedelta(days=EXPIRY_NOTICE_DAYS),
    ).select_related("plan", "user__profile")
    alerts = [
        BillingAlert(
            user_id=sub.user_id,
            type=AlertType.SUBSCRIPTION_EXPIRING,
            occasion=f"expires:{sub.current_period_end.isoformat()}",
            message=alert_message(user=sub.user, message=alert_text(_expiry_text, sub)),
            created_at=now,
        )
        for sub in expiring
    ]
    BillingAlert.objects.bulk_create(alerts, ignore_conflicts=True)
    customer_cache_invalidate(alert.user_id for alert in alerts)


def _expiry_text(subscription: Subscription) -> str:
    return _("Your %(plan)s subscription ends on %(last_day)s.") % {
        "plan": subscription.plan.name, "last_day": format_long_date(last_day(subscription.current_period_end)),
    }


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


def interim_invoices_issue_due(*, now: datetime.datetime | None = None) -> int:
    """Every subscription whose usage not billed yet reached its plan's progressive threshold gets its interim
    invoice: the usage that no metered call checked (events ingested in batches). A batch is priced without locks;
    each one due is then issued under its subscription's lock, which reads it all again. Returns how many."""
    now = now or clock.now()
    today = local_date(now)
    candidates = Subscription.objects.filter(
        status__in=LIVE_SUBSCRIPTION_STATUSES, plan__progressive_threshold__isnull=False,
        current_period_start__lte=today, current_period_end__gt=today,
    )
    issued = 0
    for ids in _batches(candidates):
        for draft in interim_drafts(load_subscriptions(ids), now=now):
            issued += interim_invoice_issue(subscription_id=draft.subscription.pk, now=now) is not None
    return issued
