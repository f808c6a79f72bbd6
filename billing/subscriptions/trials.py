"""Free trials: a reminder before a trial ends, and its end.

A trial's days are not billed (see `billing.pricing.usage_segments` and `fee_days`): the subscription is billed
from `trial_end` on, like a partial first period. A plan change during the trial keeps its end date: the fee
runs from that day on the plan then in force. A cancellation during the trial costs nothing: at once, nothing is
billed; at the period's end, the subscription ends with the trial. With Stripe, a paid plan without a card on
file is cancelled on the trial's end day, nothing billed.

Both sweeps are safe to run again or at once: the reminder is an alert unique per occasion; the end is handled
once per subscription, under a row lock, and marked (`trial_concluded_at`).
"""
import datetime

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.services import audit_log_record
from billing import clock
from billing.cache import customer_cache_invalidate
from billing.models import LIVE_SUBSCRIPTION_STATUSES, AlertType, EmailKind, Subscription
from billing.notifications.alerts import alert_raise, alert_text
from billing.notifications.customer_webhooks import subscriptions_updated_publish
from billing.notifications.emails import email_queue
from billing.periods import format_long_date, local_date, start_of_day
from billing.selectors import (
    TRIAL_CANCELLED_BY_CUSTOMER,
    TRIAL_CONVERTS,
    trial_end_outcome,
)
from billing.subscriptions.lifecycle import subscription_end_at

TRIAL_REMINDER_DAYS = 3


def _live_trials():
    return Subscription.objects.filter(
        status__in=LIVE_SUBSCRIPTION_STATUSES, trial_end__isnull=False, trial_concluded_at__isnull=True
    )


def _reminder_text(subscription: Subscription, outcome: str) -> str:
    figures = {
        "plan": subscription.plan.name,
        "last_day": format_long_date(subscription.trial_end - datetime.timedelta(days=1)),
        "first_day": format_long_date(subscription.trial_end),
    }
    if outcome == TRIAL_CONVERTS:
        return _("Your free trial of the %(plan)s plan runs until %(last_day)s: from %(first_day)s, your "
                 "subscription is billed.") % figures
    if outcome == TRIAL_CANCELLED_BY_CUSTOMER:
        return _("Your free trial of the %(plan)s plan runs until %(last_day)s: your subscription ends with it, as "
                 "you cancelled it.") % figures
    return _("Your free trial of the %(plan)s plan runs until %(last_day)s. Add a card on your billing page by "
             "then, or your subscription ends with the trial.") % figures


def trial_reminders_raise(*, now: datetime.datetime | None = None) -> int:
    """A TRIAL_ENDING alert (emailed by the alert sweep) for each trial ending within 3 days, once per trial:
    the customer had one trial on its plan, so the plan names the occasion. Returns the alerts raised."""
    now = now or clock.now()
    today = local_date(now)
    ending = _live_trials().filter(
        trial_end__gt=today, trial_end__lte=today + datetime.timedelta(days=TRIAL_REMINDER_DAYS)
    ).select_related("plan", "trial_plan", "user__profile")
    raised = 0
    for subscription in ending.order_by("pk"):
        _, created = alert_raise(
            user=subscription.user, type=AlertType.TRIAL_ENDING, occasion=f"trial:{subscription.trial_plan.code}",
            message=alert_text(_reminder_text, subscription, trial_end_outcome(subscription)), now=now,
        )
        raised += created
    return raised


def trials_conclude_due(*, now: datetime.datetime | None = None) -> int:
    """End every trial whose end day has come (see `trial_conclude`); returns how many this call ended."""
    now = now or clock.now()
    due = _live_trials().filter(trial_end__lte=local_date(now)).order_by("pk").values_list("pk", flat=True)
    return sum(trial_conclude(subscription_id=pk, now=now) for pk in list(due))


@transaction.atomic
def trial_conclude(*, subscription_id: int, now: datetime.datetime) -> bool:
    """The trial of the subscription is over: it is billed from its end on (converted), or cancelled on that day
    (see `trial_end_outcome`), audited, and the customer emailed why. False when it is not due, or was handled
    already, or another worker is handling it."""
    subscription = (
        _live_trials().select_for_update(skip_locked=True, of=("self",))
        .filter(pk=subscription_id, trial_end__lte=local_date(now)).select_related("plan", "user").first()
    )
    if subscription is None:
        return False
    outcome = trial_end_outcome(subscription)
    subscription.trial_concluded_at = now
    subscription.save(update_fields=["trial_concluded_at"])
    changes = {"trial_end": subscription.trial_end.isoformat(), "plan": subscription.plan.code, "outcome": outcome}
    if outcome == TRIAL_CONVERTS:
        audit_log_record(action="subscription.trial_convert", obj=subscription, changes=changes)
    else:
        subscription_end_at(subscription, ended_at=start_of_day(subscription.trial_end), now=now)
        audit_log_record(action="subscription.trial_cancel", obj=subscription, changes=changes)
    email_queue(
        kind=EmailKind.TRIAL_ENDED, key=f"trial-ended:{subscription.pk}", user=subscription.user,
        context={
            "plan_name": subscription.plan.name, "end_date": subscription.trial_end.isoformat(), "outcome": outcome,
            "amount": str(subscription.plan.price), "currency": subscription.plan.currency,
        },
    )
    customer_cache_invalidate(subscription.user_id)
    subscriptions_updated_publish([subscription], now=now)
    return True


def trials_sweep(*, now: datetime.datetime | None = None) -> tuple[int, int]:
    """The daily trials sweep: the trials that end today or earlier are ended, then those ending within three
    days reminded. Returns (ended, reminded)."""
    now = now or clock.now()
    return trials_conclude_due(now=now), trial_reminders_raise(now=now)
