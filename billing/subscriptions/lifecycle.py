"""Subscriptions: subscribe, change plan, pause, resume, cancel, expire. Each move is guarded."""
import copy
import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils.translation import gettext

from accounts.models import AuditLog
from accounts.services import audit_entry, audit_log_record, audit_log_record_many
from billing import clock
from billing.cache import customer_cache_invalidate
from billing.exceptions import BillingError, InvalidTransition
from billing.models import (
    LIVE_SUBSCRIPTION_STATUSES,
    LineKind,
    Plan,
    Subscription,
    SubscriptionPause,
    SubscriptionPlanChange,
    SubscriptionStatus,
)
from billing.money import ZERO
from billing.notifications.customer_webhooks import subscriptions_updated_publish
from billing.periods import Period, add_months, format_long_date, local_date, start_of_day
from billing.pricing import LineDraft, interval_months, invoice_draft, plan_changes_of, usage_segments
from billing.selectors import (
    UpcomingInvoice,
    history_prefill,
    load_subscriptions,
    scheduled_plan_change,
    scheduled_plan_changes,
    upcoming_priced,
)
from billing.transitions import transition_check
from core.db import rows_update

Status = SubscriptionStatus


def _lock(subscription: Subscription) -> Subscription:
    return Subscription.objects.select_for_update().select_related("plan").get(pk=subscription.pk)


def _require_live(subscription: Subscription) -> None:
    """Only a live subscription changes plan: its status does not move."""
    if subscription.status not in LIVE_SUBSCRIPTION_STATUSES:
        raise InvalidTransition(gettext("Subscription %(reference)s is %(status)s: its plan cannot change.") % {
            "reference": subscription.pk, "status": subscription.status,
        })


@transaction.atomic
def subscription_create(*, user, plan: Plan, now: datetime.datetime | None = None) -> Subscription:
    """Start `plan` today; the first period runs to the end of the month (or of the twelfth month)
    and pays its days pro rata. A plan with trial days starts with a free trial, the customer's first on it."""
    now = now or clock.now()
    if not plan.is_active:
        raise BillingError(_no_longer_offered(plan))
    start = local_date(now)
    end = add_months(start, interval_months(plan))
    fields = {
        "user": user, "plan": plan, "status": Status.ACTIVE, "current_period_start": start,
        "current_period_end": end, "started_at": now,
    }
    trial = {"trial_plan": plan, "trial_end": start + datetime.timedelta(days=plan.trial_days)}
    subscription = _subscription_insert(fields | trial) if plan.trial_days else None
    if subscription is None:  # no trial on this plan, or the customer had theirs: billed from today
        subscription = _subscription_insert(fields)
    if subscription is None:
        raise BillingError(gettext("You already have a live subscription: change its plan instead."))
    changes = {"plan": plan.code}
    if subscription.trial_end:
        changes["trial_end"] = subscription.trial_end.isoformat()
    audit_log_record(action="subscription.create", obj=subscription, changes=changes)
    customer_cache_invalidate(subscription.user_id)
    return subscription


def _subscription_insert(fields: dict) -> Subscription | None:
    """The new subscription, or None when a constraint refuses it: a live one exists already, or the customer
    had their trial on this plan (one per customer and plan, however many subscribe at once)."""
    try:
        with transaction.atomic():
            return Subscription.objects.create(**fields)
    except IntegrityError:
        return None


def _check_plan_change(subscription: Subscription, plan: Plan) -> None:
    _require_live(subscription)
    if plan.pk == subscription.plan_id:
        raise BillingError(gettext("The subscription is already on %(plan)s.") % {"plan": plan.name})
    if not plan.is_active:
        raise BillingError(_no_longer_offered(plan))
    if plan.interval != subscription.plan.interval or plan.currency != subscription.plan.currency:
        raise BillingError(gettext(
            "Cannot switch from %(current)s to %(new)s within a period: they are billed on different intervals "
            "or currencies. Cancel at period end and subscribe again."
        ) % {"current": subscription.plan.name, "new": plan.name})


def _no_longer_offered(plan: Plan) -> str:
    return gettext("The plan %(plan)s (%(code)s) is no longer offered.") % {"plan": plan.name, "code": plan.code}


def plan_change_is_upgrade(current: Plan, new: Plan) -> bool:
    """A higher monthly-equivalent price (a yearly price counts as price / 12), or at equal price more tokens."""
    current_monthly = current.price / interval_months(current)
    new_monthly = new.price / interval_months(new)
    if new_monthly != current_monthly:
        return new_monthly > current_monthly
    return new.included_tokens > current.included_tokens


def _planned_change(subscription: Subscription, plan: Plan, now: datetime.datetime) -> SubscriptionPlanChange:
    """The unsaved change to `plan`: an upgrade from today, anything else from the end of the current period.

    A downgrade waits for the period's end so that the plan paid for this period, its quota included, stays
    the one its usage is measured against.
    """
    if plan_change_is_upgrade(subscription.plan, plan):
        effective_date = max(local_date(now), subscription.current_period_start)
    else:
        effective_date = subscription.current_period_end
    return SubscriptionPlanChange(
        subscription=subscription, from_plan=subscription.plan, to_plan=plan, effective_date=effective_date,
        changed_at=now,
    )


@transaction.atomic
def subscription_change_plan(
    *, subscription: Subscription, plan: Plan, now: datetime.datetime | None = None
) -> Subscription:
    """Upgrade from today (this period's fee is split by days between the two plans), or schedule a downgrade
    for the end of the period. A new choice replaces a change still scheduled."""
    now = now or clock.now()
    subscription = _lock(subscription)
    _check_plan_change(subscription, plan)
    replaced = scheduled_plan_change(subscription)
    scheduled_plan_changes(subscription).delete()
    change = _planned_change(subscription, plan, now)
    change.save()
    previous = subscription.plan
    changes = {"plan": [previous.code, plan.code]}
    if replaced is not None:
        changes["replaces_scheduled"] = replaced.to_plan.code
    if plan_change_is_upgrade(previous, plan):
        subscription.plan = plan
        subscription.save(update_fields=["plan"])
        audit_log_record(action="subscription.change_plan", obj=subscription, changes=changes)
    else:
        audit_log_record(
            action="subscription.schedule_plan_change", obj=subscription,
            changes={**changes, "effective_date": change.effective_date.isoformat()},
        )
    customer_cache_invalidate(subscription.user_id)
    subscriptions_updated_publish([subscription], now=now)
    return subscription


def _scheduled_change_or_error(subscription: Subscription) -> SubscriptionPlanChange:
    change = scheduled_plan_change(subscription)
    if change is None:
        raise InvalidTransition(gettext("The subscription has no plan change scheduled."))
    return change


@transaction.atomic
def subscription_scheduled_change_cancel(*, subscription: Subscription) -> Subscription:
    """The scheduled downgrade is dropped: the subscription renews on its plan. It never took effect, so it
    leaves the plan history; the audit trail keeps it. A move to the plan's new version is refused."""
    subscription = _lock(subscription)
    change = _scheduled_change_or_error(subscription)
    if change.version_move_id is not None:
        # A new price is not the customer's to refuse; another plan, or a cancellation, stays theirs to choose.
        raise InvalidTransition(gettext(
            "Your plan moves to its new version, %(plan)s, on %(date)s: this change cannot be cancelled. You may "
            "choose another plan or cancel your subscription."
        ) % {"plan": change.to_plan.name, "date": format_long_date(change.effective_date)})
    change.delete()
    audit_log_record(
        action="subscription.cancel_scheduled_change", obj=subscription,
        changes={"plan": [subscription.plan.code, change.to_plan.code]},
    )
    customer_cache_invalidate(subscription.user_id)
    subscriptions_updated_publish([subscription])
    return subscription


@transaction.atomic
def subscription_scheduled_change_apply(
    *, subscription: Subscription, now: datetime.datetime | None = None
) -> Subscription:
    """Finance applies a scheduled downgrade at once: from today, split by days like an upgrade."""
    now = now or clock.now()
    subscription = _lock(subscription)
    _require_live(subscription)
    change = _scheduled_change_or_error(subscription)
    change.effective_date, change.changed_at = max(local_date(now), subscription.current_period_start), now
    change.save(update_fields=["effective_date", "changed_at"])
    previous = subscription.plan
    subscription.plan = change.to_plan
    subscription.save(update_fields=["plan"])
    audit_log_record(
        action="subscription.change_plan", obj=subscription,
        changes={"plan": [previous.code, change.to_plan.code], "scheduled_change_applied_at_once": True},
    )
    customer_cache_invalidate(subscription.user_id)
    subscriptions_updated_publish([subscription], now=now)
    return subscription


@transaction.atomic
def subscription_pause(*, subscription: Subscription, now: datetime.datetime | None = None) -> Subscription:
    """No fee from today until resumed."""
    now = now or clock.now()
    subscription = _lock(subscription)
    transition_check(subscription, to=Status.PAUSED)
    SubscriptionPause.objects.create(subscription=subscription, start_date=local_date(now))
    subscription.status, subscription.paused_at = Status.PAUSED, now
    subscription.save(update_fields=["status", "paused_at"])
    audit_log_record(action="subscription.pause", obj=subscription, changes={"status": Status.PAUSED})
    customer_cache_invalidate(subscription.user_id)
    subscriptions_updated_publish([subscription], now=now)
    return subscription


def _close_pause(subscription: Subscription, *, now: datetime.datetime) -> None:
    SubscriptionPause.objects.filter(subscription=subscription, end_date__isnull=True).update(end_date=local_date(now))


@transaction.atomic
def subscription_resume(*, subscription: Subscription, now: datetime.datetime | None = None) -> Subscription:
    """The fee runs again from today."""
    now = now or clock.now()
    subscription = _lock(subscription)
    transition_check(subscription, to=Status.ACTIVE)
    _close_pause(subscription, now=now)
    subscription.status, subscription.paused_at = Status.ACTIVE, None
    subscription.save(update_fields=["status", "paused_at"])
    audit_log_record(action="subscription.resume", obj=subscription, changes={"status": Status.ACTIVE})
    customer_cache_invalidate(subscription.user_id)
    subscriptions_updated_publish([subscription], now=now)
    return subscription


@transaction.atomic
def subscription_cancel(
    *, subscription: Subscription, at_period_end: bool, now: datetime.datetime | None = None
) -> Subscription:
    """Cancel now (the fee stops today, the last period is still invoiced) or at the period's end."""
    now = now or clock.now()
    subscription = _lock(subscription)
    if at_period_end:
        transition_check(subscription, to=Status.EXPIRED)  # it expires when the period ends
        if subscription.cancel_at_period_end:
            raise BillingError(gettext("The subscription already ends after %(last_day)s.") % {
                "last_day": format_long_date(subscription.current_period_end - datetime.timedelta(days=1)),
            })
        subscription.cancel_at_period_end, subscription.cancelled_at = True, now
        subscription.save(update_fields=["cancel_at_period_end", "cancelled_at"])
        audit_log_record(
            action="subscription.cancel_at_period_end", obj=subscription,
            changes={"ends_on": subscription.current_period_end.isoformat()},
        )
        customer_cache_invalidate(subscription.user_id)
        subscriptions_updated_publish([subscription], now=now)
        return subscription
    subscription_end_at(subscription, ended_at=now, now=now)
    audit_log_record(action="subscription.cancel", obj=subscription, changes={"status": Status.CANCELLED})
    customer_cache_invalidate(subscription.user_id)
    subscriptions_updated_publish([subscription], now=now)
    return subscription


def subscription_end_at(subscription: Subscription, *, ended_at: datetime.datetime, now: datetime.datetime) -> None:
    """CANCELLED, its service (and a pause) ending at `ended_at`: no fee nor usage billed after it. The caller holds
    the row locked and records the audit entry."""
    transition_check(subscription, to=Status.CANCELLED)
    _close_pause(subscription, now=ended_at)
    subscription.status, subscription.cancelled_at, subscription.ended_at = Status.CANCELLED, now, ended_at
    subscription.save(update_fields=["status", "cancelled_at", "ended_at"])


@transaction.atomic
def subscription_expire(*, subscription: Subscription, now: datetime.datetime | None = None) -> Subscription:
    """A subscription cancelled at period end becomes EXPIRED once that period is over."""
    now = now or clock.now()
    subscription = _lock(subscription)
    transition_check(subscription, to=Status.EXPIRED)
    if not subscription.cancel_at_period_end:
        raise InvalidTransition(f"Subscription {subscription.pk} was not cancelled: it does not expire.")
    if subscription.current_period_end > local_date(now):
        raise InvalidTransition(
            f"Subscription {subscription.pk} runs until {subscription.current_period_end}: it has not expired yet."
        )
    subscription_end(subscription)
    return subscription


def subscription_end(subscription: Subscription) -> None:
    """EXPIRED at the end of its current period; the caller holds the row locked."""
    audit_log_record_many(subscriptions_end([subscription]))


def subscriptions_end(subscriptions: list[Subscription]) -> list[AuditLog]:
    """EXPIRED at the end of their current periods, in a few statements whatever their number; the caller
    holds the rows locked and records the audit entries returned (the monthly run records a chunk's at once)."""
    if not subscriptions:
        return []
    for subscription in subscriptions:
        subscription.status = Status.EXPIRED
        subscription.ended_at = start_of_day(subscription.current_period_end)
    ends = {subscription.pk: local_date(subscription.ended_at) for subscription in subscriptions}
    pauses = list(SubscriptionPause.objects.filter(subscription__in=subscriptions, end_date__isnull=True))
    for pause in pauses:
        pause.end_date = ends[pause.subscription_id]
    rows_update(SubscriptionPause, pauses, ["end_date"])
    rows_update(Subscription, subscriptions, ["status", "ended_at"])
    customer_cache_invalidate(subscription.user_id for subscription in subscriptions)
    subscriptions_updated_publish(subscriptions)
    return [
        audit_entry(action="subscription.expire", obj=subscription, changes={"status": Status.EXPIRED})
        for subscription in subscriptions
    ]


@dataclass(frozen=True)
class PlanChangePreview:
    """What a plan change would do to the current period: its fee with and without the change (before VAT and
    usage), and its invoice so far with the change (usage up to now, each day on its plan, VAT, total)."""

    period: Period
    effective_date: datetime.date
    current_plan: Plan
    new_plan: Plan
    current_lines: tuple[LineDraft, ...]
    new_lines: tuple[LineDraft, ...]
    is_scheduled: bool  # a downgrade: it waits for the end of the period, whose fee stays as it is
    invoice: UpcomingInvoice
    invoice_without_change: UpcomingInvoice

    @property
    def currency(self) -> str:
        return self.new_plan.currency

    @property
    def current_fee(self) -> Decimal:
        return sum((line.amount for line in self.current_lines), ZERO)

    @property
    def new_fee(self) -> Decimal:
        return sum((line.amount for line in self.new_lines), ZERO)

    @property
    def difference(self) -> Decimal:
        return self.new_fee - self.current_fee


def subscription_change_preview(
    *, subscription: Subscription, plan: Plan, now: datetime.datetime | None = None
) -> PlanChangePreview:
    """What `subscription_change_plan` would do to this period, priced by the invoice code; writes nothing.

    Refuses the same changes as `subscription_change_plan`, with the same errors.
    """
    now = now or clock.now()
    [current] = load_subscriptions([subscription.pk])
    _check_plan_change(current, plan)
    billed = Period(current.current_period_start, current.current_period_end)
    change = _planned_change(current, plan, now)
    changed = _with_plan_change(current, change)
    return PlanChangePreview(
        period=billed,
        effective_date=change.effective_date,
        current_plan=current.plan,
        new_plan=plan,
        current_lines=_fee_lines(current, billed),
        new_lines=_fee_lines(changed, billed),
        is_scheduled=not plan_change_is_upgrade(current.plan, plan),
        invoice=upcoming_priced(changed, now=now),
        invoice_without_change=upcoming_priced(current, now=now),
    )


def _fee_lines(subscription: Subscription, billed: Period) -> tuple[LineDraft, ...]:
    """The period's fee lines, priced without usage (nor the usage that interim invoices billed already)."""
    no_usage = [0] * len(usage_segments(subscription, billed))
    lines = invoice_draft(subscription=subscription, period=billed, segment_tokens=no_usage).lines
    return tuple(line for line in lines if line.kind != LineKind.USAGE)


def _with_plan_change(subscription: Subscription, change: SubscriptionPlanChange) -> Subscription:
    """An unsaved copy of `subscription` (its history loaded) as if `change` were stored.

    Pricing reads the loaded history (`plan_changes_of`): the copy's holds the history plus `change`, and the
    same pauses, so pricing runs without a write or a query.
    """
    changed = copy.copy(subscription)
    changed.plan = change.to_plan
    history_prefill(changed, plan_changes=[*plan_changes_of(subscription), change])
    return changed
