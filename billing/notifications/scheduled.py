"""Emails the schedule sends: payment reminders on the dunning calendar, and alerts not yet emailed."""
import datetime
import logging
from decimal import Decimal

from django.db import transaction
from django.db.models import Q

from accounts.models import UserProfile
from billing import clock
from billing.models import (
    AlertType,
    BillingAlert,
    EmailKind,
    EmailNotification,
    EmailStatus,
    Invoice,
    InvoiceStatus,
    Subscription,
)
from billing.notifications.emails import email_queue
from billing.periods import Period, local_date
from billing.selectors import customer_live_subscription, plan_histories_load, quota_usages, trial_end_outcome
from core.enqueue import enqueue

logger = logging.getLogger(__name__)

# Days from the due date on which a reminder goes out, and its tone: 3 days before, then a reminder 1 day
# after, a second reminder stating the late fees 7 days after, and a final notice 15 days after (metered access
# may be suspended).
REMINDER_STAGES = {-3: "upcoming", 1: "first", 7: "second", 15: "final"}
REMINDER_OFFSETS = tuple(REMINDER_STAGES)
EMAILED_ALERTS = {
    AlertType.USAGE_THRESHOLD: EmailKind.USAGE_THRESHOLD,
    AlertType.SUBSCRIPTION_EXPIRING: EmailKind.SUBSCRIPTION_EXPIRING,
    AlertType.TRIAL_ENDING: EmailKind.TRIAL_ENDING,
}
# The usage alert the docs API raises when the overage reaches the customer's spend cap (`YYYY-MM:spend-cap`, see
# billing/metering/throttles.py), where a usage threshold's occasion ends in its percentage.
SPEND_CAP_OCCASION = "spend-cap"


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
            invoice=invoice, context={"days_from_due": offset, "stage": REMINDER_STAGES[offset]},
        )
        queued += 1
    return queued


def _is_spend_cap(alert: BillingAlert) -> bool:
    return alert.type == AlertType.USAGE_THRESHOLD and alert.occasion.endswith(f":{SPEND_CAP_OCCASION}")


def _spend_cap(alert: BillingAlert) -> Decimal | None:
    try:
        return alert.user.profile.monthly_spend_cap
    except UserProfile.DoesNotExist:
        return None


def _alert_email_context(alert: BillingAlert, subscription: Subscription | None, *, now) -> dict | None:
    """The figures an alert email shows, read again now; None when there is nothing left to tell."""
    if subscription is None:
        return None
    if alert.type == AlertType.SUBSCRIPTION_EXPIRING:
        return {"plan_name": subscription.plan.name, "end_date": subscription.current_period_end.isoformat()}
    if alert.type == AlertType.TRIAL_ENDING:
        if subscription.trial_end is None or subscription.trial_concluded_at is not None:
            return None  # the trial is over already: its end's own email tells what happened
        return {
            "plan_name": subscription.plan.name, "end_date": subscription.trial_end.isoformat(),
            "outcome": trial_end_outcome(subscription), "amount": str(subscription.plan.price),
            "currency": subscription.plan.currency,
        }
    period = Period(subscription.current_period_start, subscription.current_period_end)
    period_dates = {"period_start_date": period.start.isoformat(), "period_end_date": period.end.isoformat()}
    if _is_spend_cap(alert):
        spend_cap = _spend_cap(alert)
        if spend_cap is None:
            return None  # the customer removed the cap since: calls have resumed already
        return {"spend_cap": str(spend_cap), "currency": subscription.plan.currency, **period_dates}
    plan_histories_load([subscription])
    quota = quota_usages({subscription: period}, now=now, until=now)[subscription]
    return {
        "percent": int(alert.occasion.rsplit(":", 1)[1]),
        "tokens_used": quota.tokens_used,
        "included_tokens": quota.included_tokens,
        "overage_price_per_million": str(subscription.plan.overage_price_per_million),
        "usage_pricing": subscription.plan.usage_pricing,
        "currency": subscription.plan.currency,
        **period_dates,
        # In a free trial the quota is a hard cap until the trial's days in this period are over.
        **({"trial_until": quota.segment.period.end.isoformat()} if quota.segment.trial else {}),
    }


@transaction.atomic
def _alert_email_send(*, alert_id: int, now: datetime.datetime) -> bool:
    """Queue the email of one alert and mark it emailed; False when another sweep holds or has done it."""
    alert = (
        BillingAlert.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(pk=alert_id, emailed_at__isnull=True)
        .select_related("user__profile")
        .first()
    )
    if alert is None:
        return False
    context = _alert_email_context(alert, customer_live_subscription(user=alert.user), now=now)
    if context is not None:
        kind = EmailKind.SPEND_CAP_REACHED if _is_spend_cap(alert) else EMAILED_ALERTS[alert.type]
        email_queue(kind=kind, key=f"alert:{alert.pk}", user=alert.user, context=context)
    alert.emailed_at, alert.email_error = now, ""  # an alert with nothing left to tell is not worth an email
    alert.save(update_fields=["emailed_at", "email_error"])
    return True


def alert_emails_send(*, now: datetime.datetime | None = None) -> int:
    """Email the usage-threshold, spend-cap, expiry and trial alerts that have not been emailed yet, once each.

    Each alert is its own transaction: one whose email cannot be made is logged, its error kept on it for the
    next sweep to try again, and the others go out all the same. Returns the number of alerts emailed.
    """
    now = now or clock.now()
    pending = BillingAlert.objects.filter(type__in=EMAILED_ALERTS, emailed_at__isnull=True).order_by("pk")
    emailed = 0
    for alert_id in list(pending.values_list("pk", flat=True)):
        try:
            emailed += _alert_email_send(alert_id=alert_id, now=now)
        except Exception as error:  # whatever went wrong with this alert must not hold back the others
            logger.exception("Billing alert %s could not be emailed", alert_id)
            BillingAlert.objects.filter(pk=alert_id).update(email_error=f"{type(error).__name__}: {error}")
    return emailed


# An email still PENDING this long after it was queued lost its task (a broker down at commit time).
UNSENT_GRACE = datetime.timedelta(minutes=15)
MAX_DELIVERY_ATTEMPTS = 8


def unsent_emails_retry(*, now: datetime.datetime | None = None) -> int:
    """Hand emails that were never delivered, or failed fewer than 8 times, to a worker again."""
    now = now or clock.now()
    unsent = EmailNotification.objects.filter(
        Q(status=EmailStatus.PENDING, created_at__lt=now - UNSENT_GRACE)
        | Q(status=EmailStatus.FAILED, attempts__lt=MAX_DELIVERY_ATTEMPTS)
    ).order_by("pk").values_list("pk", flat=True)
    ids = list(unsent)
    for notification_id in ids:
        enqueue("billing.tasks.emails.email_deliver_task", notification_id=notification_id)
    return len(ids)
