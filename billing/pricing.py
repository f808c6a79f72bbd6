"""What a subscription owes for a period: pure computation over rows already loaded, no writes.

Invoice generation, the monthly run and the upcoming-invoice estimate all price through here, so
they agree to the cent.
"""
import datetime
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from django.conf import settings
from django.db.models import Sum
from django.utils import translation
from django.utils.translation import gettext, gettext_noop, ngettext

from accounts.selectors import customer_language, saved_profile
from billing.models import (
    ISSUED_INVOICE_STATUSES,
    PENDING_CHARGE,
    Coupon,
    CouponRedemption,
    Credit,
    CreditType,
    Interval,
    InvoiceKind,
    InvoiceLine,
    LineKind,
    OneOffCharge,
    Plan,
    Subscription,
    SubscriptionPause,
    SubscriptionPlanChange,
    UsagePricing,
)
from billing.money import CENT, TOKENS_PER_MILLION, ZERO, format_number, round_money
from billing.periods import Period, add_months, local_date, period_name
from billing.tax import TaxTreatment


def _language(subscription: Subscription) -> str:
    """The buyer's language: line descriptions are written once, in it, and printed as written on every document.
    A subscription read as a row (`billing.selectors.SubscriptionRow`) has it loaded."""
    loaded = getattr(subscription, "loaded_language", None)
    if loaded is not None:
        return loaded
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
    # None: a one-off charge of a customer without a subscription; the monthly run prices a `SubscriptionRow`.
    subscription: Subscription | None
    period: Period
    plan: Plan | None  # in force at the period's end: its currency is the invoice's
    tokens_used: int
    lines: tuple[LineDraft, ...]
    kind: str = InvoiceKind.PERIOD
    charges: tuple[OneOffCharge, ...] = ()  # the one-off charges its ADJUSTMENT lines bill, marked billed at issue
    coupon_redemption: CouponRedemption | None = None  # the coupon its DISCOUNT line applies, counted at issue

    @property
    def subtotal(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    @property
    def is_billed(self) -> bool:
        """Whether an invoice is issued: something is owed, or a coupon took it all (then it is issued at 0, PAID,
        so that the period counts on the coupon)."""
        return self.subtotal > 0 or self.coupon_redemption is not None

    @property
    def user(self):
        """The customer billed: the subscription's, or the one-off charge's."""
        return self.subscription.user if self.subscription is not None else self.charges[0].user

    @property
    def user_id(self) -> int:
        return self.subscription.user_id if self.subscription is not None else self.charges[0].user_id

    @property
    def currency(self) -> str:
        return self.plan.currency if self.plan is not None else self.charges[0].currency


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal
    tax_rate: Decimal
    tax_amount: Decimal
    total: Decimal


def invoice_totals(*, subtotal: Decimal, treatment: TaxTreatment) -> Totals:
    return totals_at_rate(subtotal=subtotal, tax_rate=treatment.rate)


def totals_at_rate(*, subtotal: Decimal, tax_rate: Decimal) -> Totals:
    """Tax is rounded once, on the subtotal."""
    tax_amount = round_money(subtotal * tax_rate)
    return Totals(subtotal, tax_rate, tax_amount, subtotal + tax_amount)


# Credits the seller gave are price reductions, taken before tax; credits of money the customer paid (a refund, an
# overpayment) are prepaid amounts, taken off the total after tax.
PRICE_REDUCTION_CREDITS = frozenset({CreditType.PROMOTIONAL, CreditType.COMPENSATION})
CREDIT_LINE_TEXTS = {
    CreditType.PROMOTIONAL: gettext_noop("Promotional credit: %(reason)s"),
    CreditType.COMPENSATION: gettext_noop("Compensation credit: %(reason)s"),
}


@dataclass(frozen=True)
class CreditSpent:
    """What one credit takes off an invoice: `amount` is what the credit is charged, what the customer pays less
    (VAT included); `reduction` is the part taken before tax (a CREDIT line of −reduction), zero when prepaid."""

    credit: Credit
    amount: Decimal
    reduction: Decimal = ZERO


@dataclass(frozen=True)
class CreditedTotals:
    """An invoice's totals once credits are spent: reduced by the price reductions, and the prepaid part."""

    totals: Totals
    credit_applied: Decimal
    spent: tuple[CreditSpent, ...]


def _price_reduction(*, totals: Totals, available: Decimal) -> tuple[Decimal, Decimal]:
    """The largest reduction of the subtotal, to the cent, that lowers the total by at most `available`: (the
    reduction, what the total falls by). The VAT of the reduced subtotal rounds by up to a cent either way, so the
    search starts two cents above the exact share and steps down."""
    reduction = min(totals.subtotal, round_money(available / (1 + totals.tax_rate)) + 2 * CENT)
    while reduction > 0:
        saved = totals.total - totals_at_rate(subtotal=totals.subtotal - reduction, tax_rate=totals.tax_rate).total
        if saved <= available:
            return reduction, saved
        reduction -= CENT
    return ZERO, ZERO


def credits_spend(*, totals: Totals, settled: Decimal, credits: Iterable[Credit]) -> CreditedTotals:
    """What `credits` (oldest-expiring first) take off an invoice of `totals` of which `settled` is already paid:
    price reductions first, then prepaid credits on what is left to pay. Nothing is written; no credit is charged
    more than its `remaining_amount`."""
    credits = [credit for credit in credits if credit.remaining_amount > 0]
    spent = []
    for credit in credits:
        if credit.type in PRICE_REDUCTION_CREDITS:
            reduction, saved = _price_reduction(totals=totals, available=credit.remaining_amount)
            if saved > 0:
                spent.append(CreditSpent(credit=credit, amount=saved, reduction=reduction))
                totals = totals_at_rate(subtotal=totals.subtotal - reduction, tax_rate=totals.tax_rate)
    credit_applied = ZERO
    for credit in credits:
        if credit.type not in PRICE_REDUCTION_CREDITS:
            amount = min(credit.remaining_amount, totals.total - settled - credit_applied)
            if amount > 0:
                spent.append(CreditSpent(credit=credit, amount=amount))
                credit_applied += amount
    return CreditedTotals(totals=totals, credit_applied=credit_applied, spent=tuple(spent))


def credit_line(spent: CreditSpent, *, language: str) -> LineDraft:
    """The negative CREDIT line of a credit spent as a price reduction, written in the buyer's language."""
    with translation.override(language):
        description = gettext(CREDIT_LINE_TEXTS[spent.credit.type]) % {"reason": spent.credit.reason}
    return LineDraft(  # a long reason is cut to what a line's description holds (300 characters)
        kind=LineKind.CREDIT, description=description[:300], quantity=Decimal(1), unit_price=-spent.reduction,
        amount=-spent.reduction,
    )


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


T = TypeVar("T")
_NOT_LOADED = object()


def _loaded(subscription: Subscription, name: str, read: Callable[[], T], *, unsaved: T) -> T:
    """What pricing reads of `subscription` beside its row: what `billing.selectors.history_prefill` gave it as
    `loaded_<name>` (a whole chunk's, loaded in one query, or a what-if copy's), else `read()` (one query); an unsaved
    subscription with nothing given (a what-if) has no rows of its own: `unsaved`."""
    loaded = getattr(subscription, f"loaded_{name}", _NOT_LOADED)
    if loaded is not _NOT_LOADED:
        return loaded
    return unsaved if subscription._state.adding else read()


def plan_changes_of(subscription: Subscription) -> list[SubscriptionPlanChange]:
    """The plan-change history pricing reads (`_loaded`)."""
    return _loaded(subscription, "plan_changes", lambda: list(subscription.plan_changes.all()), unsaved=[])


def pauses_of(subscription: Subscription) -> list[SubscriptionPause]:
    """The pauses pricing reads (`_loaded`)."""
    return _loaded(subscription, "pauses", lambda: list(subscription.pauses.all()), unsaved=[])


def pending_charges(*, user_ids: Iterable[int], lock: bool = False) -> list[OneOffCharge]:
    """The customers' pending one-off charges, oldest first; with `lock`, locked (in primary-key order) until the
    transaction ends: a charge being invoiced cannot be cancelled or billed by another invoice meanwhile, and one
    billed or cancelled while it waited for the lock is no longer pending when read."""
    charges = OneOffCharge.objects.filter(PENDING_CHARGE, user_id__any=list(user_ids))
    if lock:
        charges = charges.select_for_update().order_by("pk")
    return sorted(charges, key=lambda charge: (charge.created_at, charge.pk))


def charges_of(subscription: Subscription) -> list[OneOffCharge]:
    """The customer's pending one-off charges its next period invoice bills, oldest first (`_loaded`)."""
    return _loaded(
        subscription, "charges", lambda: pending_charges(user_ids=[subscription.user_id]), unsaved=[]
    )


@dataclass(frozen=True)
class InterimBilled:
    """What the issued interim invoices of one period billed for its usage (their USAGE lines), and their numbers."""

    amount: Decimal = ZERO
    numbers: tuple[str, ...] = ()


def interim_billed_load(subscriptions: Iterable[Subscription]) -> dict[int, dict[datetime.date, InterimBilled]]:
    """What the issued (not cancelled) interim invoices of `subscriptions` billed for usage, by subscription and
    period start, in the order they were numbered: one query."""
    subscriptions = list(subscriptions)
    rows = (
        InvoiceLine.objects.filter(
            kind=LineKind.USAGE, invoice__kind=InvoiceKind.INTERIM, invoice__status__in=ISSUED_INVOICE_STATUSES,
            invoice__subscription__any=[subscription.pk for subscription in subscriptions],
        )
        .values_list("invoice__subscription_id", "invoice__period_start", "invoice__number")
        .annotate(amount=Sum("amount"))
        .order_by("invoice__number")
    )
    billed = defaultdict(dict)
    for subscription_id, period_start, number, amount in rows:
        before = billed[subscription_id].get(period_start, InterimBilled())
        billed[subscription_id][period_start] = InterimBilled(before.amount + amount, (*before.numbers, number))
    return {subscription.pk: billed[subscription.pk] for subscription in subscriptions}


def interim_billed_of(subscription: Subscription, period: Period) -> InterimBilled:
    """What interim invoices already billed for the usage of `period` (`_loaded`)."""
    billed = _loaded(
        subscription, "interim_billed", lambda: interim_billed_load([subscription])[subscription.pk], unsaved={}
    )
    return billed.get(period.start, InterimBilled())


def _interim_deduction_line(subscription: Subscription, period: Period) -> LineDraft | None:
    """The usage that interim invoices billed already, taken off the period's USAGE lines: quantity -1 at a price
    that is not negative (EN 16931 forbids negative prices, not negative quantities)."""
    billed = interim_billed_of(subscription, period)
    if not billed.amount:
        return None
    description = ngettext(
        "Usage already billed on interim invoice %(numbers)s",
        "Usage already billed on interim invoices %(numbers)s",
        len(billed.numbers),
    ) % {"numbers": ", ".join(billed.numbers)}
    return LineDraft(LineKind.USAGE, description, Decimal(-1), billed.amount, -billed.amount)


def charge_line(charge: OneOffCharge) -> LineDraft:
    """A one-off charge as an invoice line: its description as written, once, at its amount."""
    return LineDraft(LineKind.ADJUSTMENT, charge.description, Decimal(1), charge.amount, charge.amount)


def charge_draft(*, charge: OneOffCharge, subscription: Subscription | None, day: datetime.date) -> InvoiceDraft:
    """The ONE_OFF invoice of `charge` billed at once: its one line, over `day` (the customer's live subscription
    named when they have one)."""
    period = Period(day, day + datetime.timedelta(days=1))
    return InvoiceDraft(subscription, period, None, 0, (charge_line(charge),), InvoiceKind.ONE_OFF, (charge,))


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
    """Days of a billed period on one plan: the usage of these days is billed at this plan's price, or not at all
    in a free trial (`trial`), whose quota still limits the calls."""

    plan: Plan
    period: Period
    included_tokens: int
    trial: bool = False


def trial_split(subscription: Subscription, billed: Period) -> tuple[Period | None, Period | None]:
    """The days of `billed` in the subscription's free trial and those after it (either may be None)."""
    if subscription.trial_end is None:
        return None, billed
    return billed.clip(billed.start, subscription.trial_end), billed.clip(subscription.trial_end, billed.end)


def usage_segments(subscription: Subscription, billed: Period) -> list[UsageSegment]:
    """The plans in force over `billed`, each with its quota.

    On one plan the period keeps the whole quota (partial periods too, as before). With several, each
    segment has its share by days, rounded down: switching plan never adds tokens to a period's quotas,
    so usage done on one plan cannot be moved under another plan's whole quota. A free trial's days and the
    days after it count as two periods of their own, like a partial first period: each has the whole quota.
    """
    segments = []
    for part, trial in zip(trial_split(subscription, billed), (True, False), strict=True):
        pieces = _plan_segments(subscription, part) if part else []
        for plan, piece in pieces:
            quota = plan.included_tokens if len(pieces) == 1 else plan.included_tokens * piece.days // part.days
            segments.append(UsageSegment(plan, piece, quota, trial))
    return segments


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
    """Days charged per plan in `billed`, in order: free-trial days, pauses and days after an immediate
    cancellation excluded."""
    _, after_trial = trial_split(subscription, billed)
    served = after_trial and after_trial.clip(after_trial.start, _service_end(subscription, billed))
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


@dataclass(frozen=True)
class UsageCharge:
    """The figures of one USAGE line: `quantity` tokens (or blocks, for a package) at `unit_price` per
    `price_base_quantity`, and the tier they are priced by (first and last token beyond the included ones)."""

    quantity: int
    unit_price: Decimal
    price_base_quantity: int
    tier: tuple[int, int, int | None] | None = None  # (number, first token, last token or None: without end)

    @property
    def amount(self) -> Decimal:
        return round_money(self.quantity * self.unit_price / self.price_base_quantity)


def _tier_bounds(plan: Plan) -> list[tuple[int, int, int | None, Decimal]]:
    """Each tier as (number, first token, last token or None, price per million), counted beyond the quota."""
    bounds, previous = [], 0
    for number, tier in enumerate(plan.tiers, start=1):
        bounds.append((number, previous + 1, tier.up_to, tier.price_per_million))
        previous = tier.up_to
    return bounds


def usage_charges(*, plan: Plan, overage: int) -> list[UsageCharge]:
    """The USAGE lines' figures for `overage` tokens beyond the quota, by the plan's usage price model.

    per_unit: every token at the overage price; graduated: each tier's tokens at its own price; volume: all of
    them at the price of the tier their total reaches; package: each started block at the package price.
    """
    if overage <= 0:
        return []
    match plan.usage_pricing:
        case UsagePricing.GRADUATED:
            return [
                UsageCharge(min(overage, last or overage) - first + 1, price, TOKENS_PER_MILLION, (number, first, last))
                for number, first, last, price in _tier_bounds(plan) if first <= overage
            ]
        case UsagePricing.VOLUME:
            number, first, last, price = next(
                tier for tier in _tier_bounds(plan) if tier[2] is None or overage <= tier[2]
            )
            return [UsageCharge(overage, price, TOKENS_PER_MILLION, (number, first, last))]
        case UsagePricing.PACKAGE:
            return [UsageCharge(-(-overage // plan.package_tokens), plan.package_price, 1)]
    return [UsageCharge(overage, plan.overage_price_per_million, TOKENS_PER_MILLION)]


def tier_text(first: int, last: int | None) -> str:
    """A tier's tokens beyond the included ones, e.g. `tokens 10,000,001 to 100,000,000`."""
    if last is not None:
        return gettext("tokens %(first)s to %(last)s") % {
            "first": format_number(first, places=0), "last": format_number(last, places=0),
        }
    if first == 1:
        return gettext("every token")
    return gettext("tokens above %(bound)s") % {"bound": format_number(first - 1, places=0)}


def usage_price_rows(plan: Plan) -> list[tuple[str, str]]:
    """How the plan prices the tokens beyond its included ones, as a customer reads it: (which tokens, at what
    price) rows, e.g. ("First 10,000,000 tokens beyond the included ones", "2.00 EUR per million")."""
    def per_million(price: Decimal) -> str:
        return gettext("%(price)s per million") % {"price": format_number(price, max_places=4, currency=plan.currency)}

    if plan.has_hard_cap:
        return [(gettext("Beyond the included tokens"), gettext("calls are refused"))]
    if plan.usage_pricing == UsagePricing.PER_UNIT:
        return [(gettext("Every token beyond the included ones"), per_million(plan.overage_price_per_million))]
    if plan.usage_pricing == UsagePricing.PACKAGE:
        size = format_number(plan.package_tokens, places=0)
        return [(
            gettext("Each started block of %(size)s tokens beyond the included ones") % {"size": size},
            format_number(plan.package_price, currency=plan.currency),
        )]
    rows = []
    for _, first, last, price in _tier_bounds(plan):
        bound = format_number(first - 1, places=0)
        if last is None:
            which = (gettext("Every token beyond the included ones") if first == 1 else
                     gettext("Above %(bound)s tokens beyond the included ones") % {"bound": bound})
        elif plan.usage_pricing == UsagePricing.VOLUME:
            which = gettext("Up to %(last)s tokens beyond the included ones") % {
                "last": format_number(last, places=0)}
        elif first == 1:
            which = gettext("First %(count)s tokens beyond the included ones") % {
                "count": format_number(last, places=0)}
        else:
            which = gettext("Next %(count)s tokens") % {"count": format_number(last - first + 1, places=0)}
        if plan.usage_pricing == UsagePricing.VOLUME:
            rows.append((which, gettext("all of them at %(price)s") % {"price": per_million(price)}))
        else:
            rows.append((which, per_million(price)))
    return rows


def _usage_description(*, charge: UsageCharge, plan: Plan, usage: str, overage: int) -> str:
    """`usage` (what the tokens are: above which quota, on which plan's days) and how this line prices them."""
    price = format_number(charge.unit_price, max_places=4, currency=plan.currency)
    if charge.tier is None:
        if plan.usage_pricing != UsagePricing.PACKAGE:
            return usage
        return gettext("%(usage)s: %(tokens)s tokens in started blocks of %(size)s tokens, %(price)s a block") % {
            "usage": usage, "tokens": format_number(overage, places=0),
            "size": format_number(plan.package_tokens, places=0), "price": price,
        }
    number, first, last = charge.tier
    values = {"usage": usage, "number": number, "tier": tier_text(first, last), "price": price}
    if plan.usage_pricing == UsagePricing.VOLUME:
        return gettext("%(usage)s, all at the price of tier %(number)s (%(tier)s): %(price)s per million") % values
    return gettext("%(usage)s, tier %(number)s (%(tier)s): %(price)s per million") % values


def _usage_lines(*, segment: UsageSegment, tokens_used: int, billed: Period) -> list[LineDraft]:
    """The overage of `segment` priced by its plan's model: one USAGE line per charge (tokens or blocks)."""
    plan = segment.plan
    overage = max(0, tokens_used - segment.included_tokens)
    charges = [charge for charge in usage_charges(plan=plan, overage=overage) if charge.amount]
    if not charges:
        return []
    included = format_number(segment.included_tokens, places=0)
    if segment.period == billed:
        usage = gettext("Usage above the %(included)s included tokens") % {"included": included}
    else:
        usage = gettext("%(plan)s plan, %(days)s/%(period_days)s days: usage above the %(included)s included "
                        "tokens") % {
            "plan": plan.name, "days": segment.period.days, "period_days": billed.days, "included": included,
        }
    return [
        LineDraft(
            LineKind.USAGE, _usage_description(charge=charge, plan=plan, usage=usage, overage=overage),
            Decimal(charge.quantity), charge.unit_price, charge.amount, charge.price_base_quantity,
        )
        for charge in charges
    ]


def running_coupon(subscription: Subscription) -> CouponRedemption | None:
    """The coupon redemption (with its coupon) that discounts the subscription's next period invoice, if any."""
    running = CouponRedemption.objects.filter(subscription=subscription, ended_at__isnull=True)
    return running.select_related("coupon").order_by("pk").first()


def coupon_redemption_of(subscription: Subscription) -> CouponRedemption | None:
    """The subscription's running coupon that pricing reads (`_loaded`)."""
    return _loaded(subscription, "coupon_redemption", lambda: running_coupon(subscription), unsaved=None)


def coupon_discount(*, coupon: Coupon, base: Decimal) -> Decimal:
    """What `coupon` takes off `base` (the sum of an invoice's other lines): its percentage, rounded half-up to
    the cent, or its amount capped at `base`, so that an invoice never goes below zero."""
    if coupon.percent_off is not None:
        return round_money(base * coupon.percent_off / 100)
    return min(coupon.amount_off, base)


def coupon_terms(coupon: Coupon) -> str:
    """What the coupon takes off, in the active language: `20 %`, `5.00 EUR`."""
    if coupon.percent_off is not None:
        return gettext("%(percent)s%%") % {"percent": format_number(coupon.percent_off, places=0, max_places=2)}
    return format_number(coupon.amount_off, currency=coupon.currency)


def _discount_line(*, coupon: Coupon, base: Decimal) -> LineDraft | None:
    """The DISCOUNT line of `coupon` on lines adding up to `base`: negative, quantity 1; None when it takes nothing."""
    amount = coupon_discount(coupon=coupon, base=base)
    if amount <= 0:
        return None
    description = gettext("%(name)s (coupon %(code)s): %(terms)s off") % {
        "name": coupon.name, "code": coupon.code, "terms": coupon_terms(coupon),
    }
    return LineDraft(LineKind.DISCOUNT, description, Decimal(1), -amount, -amount)


def invoice_draft(*, subscription: Subscription, period: Period, segment_tokens: Sequence[int]) -> InvoiceDraft:
    """The lines owed for `period`: the fee (split by plan and day when it changed), the usage, the customer's
    pending one-off charges and a running coupon's discount.

    `segment_tokens` are the tokens used in each of `usage_segments(subscription, period)`, in order. The
    plan in force at the period's end bills the SUBSCRIPTION line, the days spent on earlier plans are
    PRORATION lines; each segment over its quota has its own USAGE lines, priced by its plan's usage model (a
    trial's days bill nothing); then a negative USAGE line takes off what the period's interim invoices billed
    already (progressive billing), ADJUSTMENT lines bill the pending one-off charges, and a DISCOUNT line takes
    the coupon's share off all of them, before tax.
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
            if not segment.trial:
                lines += _usage_lines(segment=segment, tokens_used=tokens, billed=period)
        deduction = _interim_deduction_line(subscription, period)
        if deduction:
            lines.append(deduction)
        # A charge in another currency than the invoice's waits (finance invoices it at once instead).
        charges = tuple(charge for charge in charges_of(subscription) if charge.currency == segments[-1].plan.currency)
        lines += [charge_line(charge) for charge in charges]
        # Last: a running coupon takes its share off every other line, before tax.
        redemption = coupon_redemption_of(subscription)
        discount = redemption and _discount_line(coupon=redemption.coupon, base=sum((li.amount for li in lines), ZERO))
        if discount:
            lines.append(discount)
    return InvoiceDraft(
        subscription, period, segments[-1].plan, sum(segment_tokens), tuple(line for line in lines if line.amount),
        charges=charges, coupon_redemption=redemption if discount else None,
    )


def interim_draft(*, subscription: Subscription, period: Period, segment_tokens: Sequence[int]) -> InvoiceDraft | None:
    """The interim invoice owed for the current `period` with `segment_tokens` used so far (see `invoice_draft`),
    or None: when the plan has a progressive threshold and the usage not billed yet reaches it. Its lines are the
    period's USAGE lines as its final invoice prints them, less what earlier interim invoices billed; no fee."""
    threshold = subscription.plan.progressive_threshold
    if threshold is None:
        return None
    draft = invoice_draft(subscription=subscription, period=period, segment_tokens=segment_tokens)
    lines = tuple(line for line in draft.lines if line.kind == LineKind.USAGE)
    interim = InvoiceDraft(subscription, period, draft.plan, draft.tokens_used, lines, kind=InvoiceKind.INTERIM)
    return interim if interim.subtotal >= threshold else None


def usage_charge(*, segment: UsageSegment, tokens_used: int) -> Decimal:
    """What the USAGE lines of `segment` bill for `tokens_used` (0 within its quota): the spend cap weighs a
    period's usage by the invoice's own rule. A free trial's usage is never billed."""
    if segment.trial:
        return ZERO
    return _usage_amount(plan=segment.plan, overage=tokens_used - segment.included_tokens)


def _usage_amount(*, plan: Plan, overage: int) -> Decimal:
    return sum((charge.amount for charge in usage_charges(plan=plan, overage=overage)), ZERO)


def plan_period_cost(*, plan: Plan, tokens_used: int) -> Decimal:
    """A whole period on `plan` with `tokens_used` tokens, before tax: its fee and its usage lines (the admin's
    preview of a price)."""
    return round_money(plan.price) + _usage_amount(plan=plan, overage=tokens_used - plan.included_tokens)
