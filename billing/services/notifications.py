"""Emails the schedule sends: payment reminders on the dunning calendar, and alerts not yet emailed."""
import datetime

from django.db import transaction
from django.db.models import Q

from billing import clock
from billing.models import (
    LIVE_SUBSCRIPTION_STATUSES,
    AlertType,
    BillingAlert,
    EmailKind,
    EmailNotification,
    EmailStatus,
    Invoice,
    InvoiceStatus,
    Subscription,
)
from billing.periods import Period, local_date
from billing.selectors import usage_tokens_by_window, usage_window

from .emails import email_queue

# Days from the due date on which a reminder goes out: 3 days before, then 1, 7 and 15 days after.
REMINDER_OFFSETS = (-3, 1, 7, 15)
EMAILED_ALERTS = {
    AlertType.USAGE_THRESHOLD: EmailKind.USAGE_THRESHOLD,
    AlertType.SUBSCRIPTION_EXPIRING: EmailKind.SUBSCRIPTION_EXPIRING,
}


def reminder_offset_due(*, due_date: datetime.date, today: datetime.date) -> int | None:
    """The latest reminder whose day has come; a day missed by the scheduler is caught up, once."""
    reached = [offset for offset in REMINDER_OFFSETS if today >= due_date + datetime.timedelta(days=offset)]
    if not reached or (reached[-1] < 0 and today >= due_date):
        return None  # not yet, or the "before due" reminder is no longer true on the due day
    return reached[-1]


def payment_reminders_send(*, now: datetime.datetime | None = None) -> int:
    """Queue each reminder of each unpaid invoice once (the email key makes a repeat a no-op)."""
    today = local_date(now or clock.now())
    unpaid = Invoice.objects.filter(
        status__in=(InvoiceStatus.SENT, InvoiceStatus.OVERDUE), amount_due__gt=0,
        due_date__lte=today + datetime.timedelta(days=-REMINDER_OFFSETS[0]),
    ).select_related("user__profile")
    queued = 0
    for invoice in unpaid.order_by("pk"):
        offset = reminder_offset_due(due_date=invoice.due_date, today=today)
        if offset is None:
            continue
        email_queue(
            kind=EmailKind.PAYMENT_REMINDER, key=f"reminder:{invoice.pk}:{offset:+d}", user=invoice.user,
            invoice=invoice, context={"days_from_due": offset},
        )
        queued += 1
    return queued


def _alert_email_context(alert: BillingAlert, subscription: Subscription | None, *, now) -> dict | None:
    """The figures an alert email shows, read again now; None when the subscription is gone."""
    if subscription is None:
        return None
    if alert.type == AlertType.SUBSCRIPTION_EXPIRING:
        return {"plan_name": subscription.plan.name, "end_date": subscription.current_period_end.isoformat()}
    period = Period(subscription.current_period_start, subscription.current_period_end)
    start_at, end_at = usage_window(subscription, period)
    window = (start_at, max(start_at, min(end_at, now)))
    tokens = usage_tokens_by_window({subscription.pk: (subscription.user_id, window)})[subscription.pk]
    return {
        "percent": int(alert.occasion.rsplit(":", 1)[1]),
        "tokens_used": tokens,
        "included_tokens": subscription.plan.included_tokens,
        "period_start_date": period.start.isoformat(),
        "period_end_date": period.end.isoformat(),
    }


@transaction.atomic
def alert_emails_send(*, now: datetime.datetime | None = None) -> int:
    """Email the usage-threshold and expiry alerts that have not been emailed yet, once each."""
    now = now or clock.now()
    pending = list(
        BillingAlert.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(type__in=EMAILED_ALERTS, emailed_at__isnull=True)
        .select_related("user__profile")
        .order_by("pk")
    )
    subscriptions = {
        subscription.user_id: subscription
        for subscription in Subscription.objects.filter(
            user_id__in={alert.user_id for alert in pending}, status__in=LIVE_SUBSCRIPTION_STATUSES
        ).select_related("plan")
    }
    for alert in pending:
        context = _alert_email_context(alert, subscriptions.get(alert.user_id), now=now)
        if context is not None:
            email_queue(kind=EMAILED_ALERTS[alert.type], key=f"alert:{alert.pk}", user=alert.user, context=context)
        alert.emailed_at = now  # an alert whose subscription ended is not worth an email any more
    BillingAlert.objects.bulk_update(pending, ["emailed_at"])
    return len(pending)


# An email still PENDING this long after it was queued lost its task (a broker down at commit time).
UNSENT_GRACE = datetime.timedelta(minutes=15)
MAX_DELIVERY_ATTEMPTS = 8


def unsent_emails_retry(*, now: datetime.datetime | None = None) -> int:
    """Hand emails that were never delivered, or failed fewer than 8 times, to a worker again."""
    from billing.tasks.emails import email_deliver_task  # the task module imports the services

    now = now or clock.now()
    unsent = EmailNotification.objects.filter(
        Q(status=EmailStatus.PENDING, created_at__lt=now - UNSENT_GRACE)
        | Q(status=EmailStatus.FAILED, attempts__lt=MAX_DELIVERY_ATTEMPTS)
    ).order_by("pk").values_list("pk", flat=True)
    ids = list(unsent)
    for notification_id in ids:
        email_deliver_task.delay(notification_id=notification_id)
    return len(ids)
