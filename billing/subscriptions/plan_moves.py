"""Moving the subscribers of a plan to its newer version, each at the start of their next period.

`plan_new_version` leaves the subscribers of the old version on their price. Finance moves them with
`plan_version_move`: every live subscriber gets the scheduled plan change a downgrade gets (the monthly run applies
it as the subscription enters its next period, so the ending period is billed at the old price), marked as part of
the move, and an email ahead of it. `plan_version_move_preview` shows first what each subscriber and the revenue
would become, with the usage of their last billed period priced on both plans by `billing.pricing`.

The customer cannot cancel such a change (`subscription_scheduled_change_cancel` refuses it: a new price is not
theirs to refuse), but may still change plan, which replaces it, or cancel the subscription.
"""
import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import TextChoices

from accounts.services import audit_entry, audit_log_record, audit_log_record_many
from billing import clock
from billing.cache import customer_cache_invalidate
from billing.exceptions import BillingError
from billing.models import (
    LIVE_SUBSCRIPTION_STATUSES,
    EmailKind,
    Plan,
    PlanVersionMove,
    Subscription,
    SubscriptionPlanChange,
)
from billing.money import ZERO, round_money
from billing.notifications.customer_webhooks import subscriptions_updated_publish
from billing.notifications.emails import email_queue
from billing.periods import Period, local_date
from billing.pricing import UsageSegment, billing_period, interval_months, usage_charge
from billing.selectors import scheduled_plan_change_by_subscription, usage_tokens_by_window


class MoveOutcome(TextChoices):
    MOVES = "MOVES", "Moves at its next period"
    ALREADY_MOVING = "ALREADY_MOVING", "Already moving to this version"
    OTHER_CHANGE = "OTHER_CHANGE", "Skipped: another plan change is scheduled"
    ENDING = "ENDING", "Skipped: ends at its period's end"


@dataclass(frozen=True)
class VersionMoveRow:
    """One subscriber of the old version: its fee per period on each plan, and the usage of its last billed period
    (None when it has none yet) priced on each plan."""

    subscription: Subscription
    outcome: str
    effective_date: datetime.date  # the first day on the new version: the end of the current period
    current_fee: Decimal
    new_fee: Decimal
    billed_period: Period | None
    tokens: int
    current_usage: Decimal
    new_usage: Decimal

    @property
    def current_total(self) -> Decimal:
        return self.current_fee + self.current_usage

    @property
    def new_total(self) -> Decimal:
        return self.new_fee + self.new_usage

    @property
    def change(self) -> Decimal:
        return self.new_total - self.current_total

    @property
    def outcome_label(self) -> str:
        return MoveOutcome(self.outcome).label


@dataclass(frozen=True)
class VersionMovePreview:
    """What `plan_version_move` would do: a row per live subscriber, and the monthly revenue (before tax) of those
    it moves, on the old version and on the new one, their last billed usage priced on each."""

    from_plan: Plan
    to_plan: Plan
    rows: tuple[VersionMoveRow, ...]

    @property
    def currency(self) -> str:
        return self.to_plan.currency

    @property
    def moving(self) -> tuple[VersionMoveRow, ...]:
        return tuple(row for row in self.rows if row.outcome == MoveOutcome.MOVES)

    @property
    def skipped(self) -> tuple[VersionMoveRow, ...]:
        return tuple(row for row in self.rows if row.outcome != MoveOutcome.MOVES)

    def _monthly(self, amount: Decimal) -> Decimal:
        return round_money(amount / interval_months(self.from_plan))

    @property
    def monthly_revenue_before(self) -> Decimal:
        return self._monthly(sum((row.current_total for row in self.moving), ZERO))

    @property
    def monthly_revenue_after(self) -> Decimal:
        return self._monthly(sum((row.new_total for row in self.moving), ZERO))

    @property
    def monthly_revenue_change(self) -> Decimal:
        return self.monthly_revenue_after - self.monthly_revenue_before


def _check_target(from_plan: Plan, to_plan: Plan) -> None:
    """`to_plan` must be a newer version of `from_plan` (following `previous_version`), offered, billed alike."""
    version, seen = to_plan, set()
    while version.previous_version_id is not None and version.pk not in seen:
        seen.add(version.pk)
        version = version.previous_version
        if version.pk == from_plan.pk:
            break
    else:
        raise BillingError(
            f"{to_plan.code} is not a newer version of {from_plan.code}: subscribers move only to a version made "
            f"from theirs (“Copy as a new plan version”)."
        )
    if not to_plan.is_active:
        raise BillingError(f"{to_plan.code} is no longer offered: move the subscribers to the version offered now.")
    if (to_plan.currency, to_plan.interval) != (from_plan.currency, from_plan.interval):
        raise BillingError(
            f"{to_plan.code} is billed {to_plan.get_interval_display().lower()} in {to_plan.currency} and "
            f"{from_plan.code} {from_plan.get_interval_display().lower()} in {from_plan.currency}: a move keeps "
            "the interval and the currency."
        )


def plan_newer_versions(plan: Plan) -> list[Plan]:
    """The versions made from `plan`, directly or from one of them, newest first: one query per generation."""
    found, generation = [], [plan.pk]
    while generation:
        newer = list(Plan.objects.filter(previous_version_id__in=generation).exclude(pk__in=[p.pk for p in found]))
        found += newer
        generation = [p.pk for p in newer]
    return sorted(found, key=lambda p: (p.created_at, p.pk), reverse=True)


def _live_subscribers(from_plan: Plan, *, lock: bool) -> list[Subscription]:
    subscriptions = Subscription.objects.filter(plan=from_plan, status__in=LIVE_SUBSCRIPTION_STATUSES)
    if lock:
        subscriptions = subscriptions.select_for_update(of=("self",))
    return list(subscriptions.select_related("plan", "user__profile").order_by("pk"))


def _outcome(subscription: Subscription, scheduled: SubscriptionPlanChange | None, to_plan: Plan) -> str:
    if subscription.cancel_at_period_end:
        return MoveOutcome.ENDING
    if scheduled is None:
        return MoveOutcome.MOVES
    return MoveOutcome.ALREADY_MOVING if scheduled.to_plan_id == to_plan.pk else MoveOutcome.OTHER_CHANGE


def _last_billed_period(subscription: Subscription) -> Period | None:
    """The period before the current one, from the subscription's first day: None in its first period."""
    if local_date(subscription.started_at) >= subscription.current_period_start:
        return None
    return billing_period(subscription, subscription.current_period_start)


def _rows(subscriptions: list[Subscription], *, from_plan: Plan, to_plan: Plan) -> tuple[VersionMoveRow, ...]:
    """One row per subscriber; the usage of every last billed period summed by one query."""
    scheduled = scheduled_plan_change_by_subscription(subscriptions)
    periods = {subscription.pk: _last_billed_period(subscription) for subscription in subscriptions}
    tokens = usage_tokens_by_window({
        subscription.pk: (subscription.user_id, (period.start_at, period.end_at))
        for subscription in subscriptions
        if (period := periods[subscription.pk]) is not None
    })
    rows = []
    for subscription in subscriptions:
        period, used = periods[subscription.pk], tokens.get(subscription.pk, 0)
        rows.append(VersionMoveRow(
            subscription=subscription,
            outcome=_outcome(subscription, scheduled.get(subscription.pk), to_plan),
            effective_date=subscription.current_period_end,
            current_fee=from_plan.price,
            new_fee=to_plan.price,
            billed_period=period,
            tokens=used,
            current_usage=_usage_priced(from_plan, period=period, tokens=used),
            new_usage=_usage_priced(to_plan, period=period, tokens=used),
        ))
    return tuple(rows)


def _usage_priced(plan: Plan, *, period: Period | None, tokens: int) -> Decimal:
    """What `tokens` used over `period` cost on `plan`, with its whole quota (a period on one plan has it)."""
    if period is None:
        return ZERO
    return usage_charge(segment=UsageSegment(plan, period, plan.included_tokens), tokens_used=tokens)


def plan_version_move_preview(*, from_plan: Plan, to_plan: Plan, now: datetime.datetime) -> VersionMovePreview:
    """What moving the live subscribers of `from_plan` to `to_plan` would do; writes nothing. Refuses what
    `plan_version_move` refuses, with the same errors."""
    _check_target(from_plan, to_plan)
    subscribers = _live_subscribers(from_plan, lock=False)
    return VersionMovePreview(from_plan, to_plan, _rows(subscribers, from_plan=from_plan, to_plan=to_plan))


def _notify(change: SubscriptionPlanChange) -> None:
    """The customer's email, once per subscription and version, delivered after commit."""
    subscription, old, new = change.subscription, change.from_plan, change.to_plan
    email_queue(
        kind=EmailKind.PLAN_VERSION_MOVE,
        key=f"plan-version-move:{subscription.pk}:{new.pk}",
        user=subscription.user,
        context={
            "plan_name": old.name,
            "new_plan_name": new.name,
            "currency": new.currency,
            "interval": new.interval,
            "old_price": old.price,
            "new_price": new.price,
            "old_included_tokens": old.included_tokens,
            "new_included_tokens": new.included_tokens,
            "effective_date": change.effective_date,
        },
    )


@transaction.atomic
def plan_version_move(
    *, from_plan: Plan, to_plan: Plan, by, now: datetime.datetime | None = None
) -> VersionMovePreview:
    """Schedule the move of every live subscriber of `from_plan` to `to_plan` at the end of its current period,
    and email each customer ahead of it. Returns the preview of what was done (`moving`: scheduled now;
    `skipped`: another change scheduled, moving already, or ending).

    The plan row is locked first and the subscriptions in primary-key order, so a move run twice, or at the same
    time as a customer's own plan change, schedules one change per subscriber and sends one email.
    """
    now = now or clock.now()
    from_plan = Plan.objects.select_for_update().get(pk=from_plan.pk)
    to_plan = Plan.objects.select_related("previous_version").get(pk=to_plan.pk)
    _check_target(from_plan, to_plan)
    preview = VersionMovePreview(
        from_plan, to_plan, _rows(_live_subscribers(from_plan, lock=True), from_plan=from_plan, to_plan=to_plan)
    )
    move = PlanVersionMove.objects.create(
        from_plan=from_plan, to_plan=to_plan, created_by=by, created_at=now,
        scheduled_count=len(preview.moving), skipped_count=len(preview.skipped),
    )
    changes = SubscriptionPlanChange.objects.bulk_create([
        SubscriptionPlanChange(
            subscription=row.subscription, from_plan=from_plan, to_plan=to_plan, effective_date=row.effective_date,
            changed_at=now, version_move=move,
        )
        for row in preview.moving
    ])
    audit_log_record(
        action="plan.version_move", obj=move, actor=by,
        changes={
            "from": from_plan.code, "to": to_plan.code, "scheduled": move.scheduled_count,
            "skipped": move.skipped_count,
            "monthly_revenue": [str(preview.monthly_revenue_before), str(preview.monthly_revenue_after)],
        },
    )
    audit_log_record_many(
        audit_entry(
            action="subscription.schedule_plan_change", obj=change.subscription, actor=by,
            changes={
                "plan": [from_plan.code, to_plan.code], "effective_date": change.effective_date.isoformat(),
                "version_move": move.pk,
            },
        )
        for change in changes
    )
    for change in changes:
        _notify(change)
    moved = [change.subscription for change in changes]
    customer_cache_invalidate(subscription.user_id for subscription in moved)
    subscriptions_updated_publish(moved, now=now)
    return preview
