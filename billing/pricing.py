"""What a subscription owes for a period: pure computation over rows already loaded, no writes.

Invoice generation, the monthly run and the upcoming-invoice estimate all price through here, so
they agree to the cent.
"""
import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext

from accounts.selectors import customer_language, saved_profile
from billing.models import Interval, LineKind, Plan, Subscription, SubscriptionPause, SubscriptionPlanChange
from billing.money import TOKENS_PER_MILLION, ZERO, format_number, round_money
from billing.periods import Period, add_months, local_date, period_name
from billing.tax import TaxTreatment


def _language(subscription: Subscription) -> str:
    """The buyer's language: line descriptions are written once, in it, and printed as written on every document."""
    return customer_language(saved_profile(subscription.user)) if subscription.user_id else settings.LANGUAGE_CODE


@dataclass(frozen=True)
class LineDraft:
    kind: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    price_base_quantity: int = 1  # the quantity `unit_price` is the price of: a million tokens on a USAGE line


@dataclass(frozen=True)
class InvoiceDraft:
    subscription: Subscription
    period: Period
    plan: Plan  # in force at the period's end: its currency is the invoice's
    tokens_used: int
    lines: tuple[LineDraft, ...]

    @property
    def subtotal(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal
    tax_rate: Decimal
    tax_amount: Decimal
    total: Decimal


def invoice_totals(*, subtotal: Decimal, treatment: TaxTreatment) -> Totals:
    """Tax is rounded once, on the subtotal."""
    tax_amount = round_money(subtotal * treatment.rate)
    return Totals(subtotal, treatment.rate, tax_amount, subtotal + tax_amount)


def interval_months(plan: Plan) -> int:
    return 12 if plan.interval == Interval.YEAR else 1


def calendar_period(subscription: Subscription, billed: Period) -> Period:
    """The whole calendar period that `billed` lies in: a month, or twelve months for a yearly plan.

    A partial first or last period pays days of `billed` over the days of this one.
    """
    return Period(add_months(billed.end, -interval_months(subscription.plan)), billed.end)


def billing_period(subscription: Subscription, period_end: datetime.date) -> Period:
    """The days of the subscription's period ending on `period_end` (half-open).

    The current period is the subscription's own; an earlier one is the calendar period, cut at
    the day the subscription started.
    """
    if subscription.current_period_end == period_end:
        return Period(subscription.current_period_start, period_end)
    whole = Period(add_months(period_end, -interval_months(subscription.plan)), period_end)
    started = local_date(subscription.started_at)
    return whole.clip(started, whole.end) or whole


def plan_changes_of(subscription: Subscription) -> list[SubscriptionPlanChange]:
    """The plan-change history pricing reads: the one `billing.selectors.history_prefill` gave the subscription
    (loaded for a whole chunk in one query, or a what-if copy's), else its rows (prefetched, or one query)."""
    loaded = getattr(subscription, "loaded_plan_changes", None)
    return list(subscription.plan_changes.all()) if loaded is None else loaded


def pauses_of(subscription: Subscription) -> list[SubscriptionPause]:
    """The pauses pricing reads, as `plan_changes_of`."""
    loaded = getattr(subscription, "loaded_pauses", None)
    return list(subscription.pauses.all()) if loaded is None else loaded


def _plan_segments(subscription: Subscription, billed: Period) -> list[tuple[Plan, Period]]:
    """Which plan was in force on which days of `billed`, from the plan-change history.

    Days on the same plan form one segment, even when the plan was left and taken again the same day.
    """
    changes = sorted(plan_changes_of(subscription), key=lambda change: (change.effective_date, change.changed_at))
    plan = changes[0].from_plan if changes else subscription.plan
    segments, start = [], billed.start
    for change in changes:
        if change.effective_date > start:
            piece = billed.clip(start, change.effective_date)
            if piece:
                segments.append((plan, piece))
            start = max(start, change.effective_date)
        plan = change.to_plan
    piece = billed.clip(start, billed.end)
    if piece:
        segments.append((plan, piece))
    merged = segments[:1]
    for plan, piece in segments[1:]:
        if plan.pk == merged[-1][0].pk:
            merged[-1] = (plan, Period(merged[-1][1].start, piece.end))
        else:
            merged.append((plan, piece))
    return merged


def plan_on(subscription: Subscription, day: datetime.date) -> Plan:
    """The plan in force on `day` from the (loaded) plan-change history, scheduled changes included."""
    [(plan, _)] = _plan_segments(subscription, Period(day, day + datetime.timedelta(days=1)))
    return plan


@dataclass(frozen=True)
class UsageSegment:
    """Days of a billed period on one plan: the usage of these days is billed at this plan's price."""

    plan: Plan
    period: Period
    included_tokens: int


def usage_segments(subscription: Subscription, billed: Period) -> list[UsageSegment]:
    """The plans in force over `billed`, each with its quota.

    On one plan the period keeps the whole quota (partial periods too, as before). With several, each
    segment has its share by days, rounded down: switching plan never adds tokens to a period's quotas,
    so usage done on one plan cannot be moved under another plan's whole quota.
    """
    segments = _plan_segments(subscription, billed)
    if len(segments) == 1:
        [(plan, piece)] = segments
        return [UsageSegment(plan, piece, plan.included_tokens)]
    return [UsageSegment(plan, piece, plan.included_tokens * piece.days // billed.days) for plan, piece in segments]


def _without_pauses(piece: Period, pauses: list[Period]) -> list[Period]:
    pieces = [piece]
    for pause in pauses:
        remaining = []
        for part in pieces:
            remaining += [p for p in (part.clip(part.start, pause.start), part.clip(pause.end, part.end)) if p]
        pieces = remaining
    return pieces


def _service_end(subscription: Subscription, billed: Period) -> datetime.date:
    """An immediate cancellation stops the fee on the day it happened (that day excluded)."""
    if subscription.ended_at is None:
        return billed.end
    return min(billed.end, max(billed.start, local_date(subscription.ended_at)))


def fee_days(subscription: Subscription, billed: Period) -> list[tuple[Plan, int]]:
    """Days charged per plan in `billed`, in order: pauses and days after an immediate cancellation excluded."""
    served = billed.clip(billed.start, _service_end(subscription, billed))
    if served is None:
        return []
    pauses = [Period(p.start_date, p.end_date or datetime.date.max) for p in pauses_of(subscription) if
              (p.end_date or datetime.date.max) > p.start_date]
    charged = []
    for plan, piece in _plan_segments(subscription, served):
        days = sum(part.days for part in _without_pauses(piece, pauses))
        if days:
            charged.append((plan, days))
    return charged


def _fee_line(*, kind: str, plan: Plan, days: int, whole: Period) -> LineDraft:
    period = period_name(whole)
    if days == whole.days:
        description = gettext("%(plan)s plan, %(period)s") % {"plan": plan.name, "period": period}
        return LineDraft(kind, description, Decimal(1), plan.price, round_money(plan.price))
    amount = round_money(plan.price * days / whole.days)
    description = gettext("%(plan)s plan, %(days)s/%(period_days)s days of %(period)s") % {
        "plan": plan.name, "days": days, "period_days": whole.days, "period": period,
    }
    return LineDraft(kind, description, Decimal(1), amount, amount)


def _usage_line(*, segment: UsageSegment, tokens_used: int, billed: Period) -> LineDraft | None:
    """The overage in tokens at the plan's price per million (quantity in tokens, price base one million)."""
    plan = segment.plan
    overage = max(0, tokens_used - segment.included_tokens)
    amount = round_money(overage * plan.overage_price_per_million / TOKENS_PER_MILLION)
    if amount == 0:
        return None
    included = format_number(segment.included_tokens, places=0)
    if segment.period == billed:
        description = gettext("Usage above the %(included)s included tokens") % {"included": included}
    else:
        description = gettext("%(plan)s plan, %(days)s/%(period_days)s days: usage above the %(included)s included "
                              "tokens") % {
            "plan": plan.name, "days": segment.period.days, "period_days": billed.days, "included": included,
        }
    return LineDraft(
        LineKind.USAGE, description, Decimal(overage), plan.overage_price_per_million, amount, TOKENS_PER_MILLION
    )


def invoice_draft(*, subscription: Subscription, period: Period, segment_tokens: Sequence[int]) -> InvoiceDraft:
    """The lines owed for `period`: the fee (split by plan and day when it changed) and the overage.

    `segment_tokens` are the tokens used in each of `usage_segments(subscription, period)`, in order. The
    plan in force at the period's end bills the SUBSCRIPTION line, the days spent on earlier plans are
    PRORATION lines; each segment over its quota has its own USAGE line at its plan's price.
    """
    whole = calendar_period(subscription, period)
    charged = fee_days(subscription, period)
    segments = usage_segments(subscription, period)
    with translation.override(_language(subscription)):
        lines = [
            _fee_line(
                kind=LineKind.SUBSCRIPTION if index == len(charged) - 1 else LineKind.PRORATION,
                plan=plan, days=days, whole=whole,
            )
            for index, (plan, days) in enumerate(charged)
        ]
        for segment, tokens in zip(segments, segment_tokens, strict=True):
            usage = _usage_line(segment=segment, tokens_used=tokens, billed=period)
            if usage:
                lines.append(usage)
    return InvoiceDraft(
        subscription, period, segments[-1].plan, sum(segment_tokens), tuple(line for line in lines if line.amount)
    )


def usage_charge(*, segment: UsageSegment, tokens_used: int) -> Decimal:
    """What the USAGE line of `segment` bills for `tokens_used` (0 within its quota): the spend cap weighs a
    period's usage by the invoice's own rule."""
    line = _usage_line(segment=segment, tokens_used=tokens_used, billed=segment.period)
    return line.amount if line else ZERO
