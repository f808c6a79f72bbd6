"""Reads for billing: usage per subscription window, plans in force, usable credits."""
import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, Prefetch, Q, Sum
from django.db.models.functions import TruncDate, TruncMonth
from django.utils.translation import gettext
from stdnum.exceptions import ValidationError
from stdnum.fr import tva as fr_tva

from accounts.fields import EncryptedTextField
from accounts.models import UserProfile, ViesStatus
from accounts.selectors import customer_language, customer_language_code, saved_profile
from billing.models import (
    ISSUED_INVOICE_STATUSES,
    LIVE_SUBSCRIPTION_STATUSES,
    BillingAlert,
    CouponRedemption,
    Credit,
    CreditNote,
    CreditNoteKind,
    CreditNoteLine,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
    OneOffCharge,
    Payment,
    PaymentProviderCustomer,
    PaymentProviderName,
    Plan,
    Subscription,
    SubscriptionPause,
    SubscriptionPlanChange,
)
from billing.money import ZERO
from billing.periods import Period, add_months, billing_zone, local_date, period_containing
from billing.pricing import (
    InvoiceDraft,
    LineDraft,
    UsageSegment,
    credit_line,
    credits_spend,
    interim_billed_load,
    interim_draft,
    interval_months,
    invoice_draft,
    invoice_totals,
    pending_charges,
    usage_charge,
    usage_segments,
)
from billing.tax import buyer_country, tax_treatment
from libraries.models import UsageLog

SUBSCRIPTION_RELATED = ("plan", "user__profile")
ENCRYPTED_PROFILE_FIELDS = tuple(
    field.name for field in UserProfile._meta.concrete_fields if isinstance(field, EncryptedTextField)
)

UsageWindow = tuple[datetime.datetime, datetime.datetime]


def usage_tokens_by_window(windows: dict[int, tuple[int, UsageWindow]]) -> dict[int, int]:
    """Tokens used per key of `windows` ({key: (user_id, (start_at, end_at))}), end excluded: one query.

    On PostgreSQL each window is summed from the covering (user, created_at, tokens) index of the months it
    spans (a LATERAL subquery per window: a range of the index each, never a scan of the month per chunk);
    elsewhere, keys sharing a window are summed by one grouped query.
    """
    if not windows:
        return {}
    if connection.vendor == "postgresql":
        return _usage_tokens_lateral(windows)
    users_by_window: dict[UsageWindow, set[int]] = defaultdict(set)
    for user_id, window in windows.values():
        users_by_window[window].add(user_id)
    tokens: dict[tuple[int, UsageWindow], int] = {}
    for window, user_ids in users_by_window.items():
        start_at, end_at = window
        rows = (
            UsageLog.objects.filter(user_id__in=user_ids, created_at__gte=start_at, created_at__lt=end_at)
            .values("user_id")
            .annotate(tokens=Sum("tokens"))
            .order_by()
        )
        for row in rows:
            tokens[(row["user_id"], window)] = row["tokens"]
    return {key: tokens.get((user_id, window), 0) for key, (user_id, window) in windows.items()}


def _usage_tokens_lateral(windows: dict[int, tuple[int, UsageWindow]]) -> dict[int, int]:
    # The windows go as four arrays, one parameter each: the statement stays short whatever their number.
    keys, user_ids, starts, ends = (
        list(column) for column in zip(*((key, user, *window) for key, (user, window) in windows.items()), strict=True)
    )
    # The literal bounds let the planner read only the partitions of these months.
    bounds = (min(starts), max(ends))
    table = connection.ops.quote_name(UsageLog._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT w.key, used.tokens FROM unnest(%s::bigint[], %s::bigint[], %s::timestamptz[], %s::timestamptz[]) "
            "AS w(key, user_id, start_at, end_at) "
            f"CROSS JOIN LATERAL (SELECT sum(u.tokens) AS tokens FROM {table} AS u WHERE u.user_id = w.user_id "
            "AND u.created_at >= w.start_at AND u.created_at < w.end_at "
            "AND u.created_at >= %s AND u.created_at < %s) AS used",
            [keys, user_ids, starts, ends, *bounds],
        )
        return {key: int(tokens or 0) for key, tokens in cursor.fetchall()}


def usable_credits(*, user_ids: Iterable[int], currency: str, now: datetime.datetime):
    """Credits with a balance, not expired: oldest-expiring first (never-expiring last), then oldest."""
    return (
        Credit.objects.filter(user_id__any=list(user_ids), currency=currency, remaining_amount__gt=0)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by("user_id", F("expires_at").asc(nulls_last=True), "created_at", "id")
    )


def profile_secrets_deferred(queryset, *, profile: str = "user__profile"):
    """`queryset` with its `profile` loaded but for its encrypted fields: invoicing takes the buyer from their
    snapshot and reads no encrypted field (decrypting is most of what loading a profile costs)."""
    return queryset.select_related(profile).defer(*(f"{profile}__{name}" for name in ENCRYPTED_PROFILE_FIELDS))


def load_subscriptions(ids, *, lock_charges: bool = False) -> list[Subscription]:
    """Subscriptions with their plan, customer and profile, and what pricing reads loaded (plan changes, pauses,
    what interim invoices billed, the running coupon: one query each, whatever their number); invoicing
    (`lock_charges`) also loads and locks the pending one-off charges it will bill (see `plan_histories_load`), and
    leaves the profiles' encrypted fields unread: it takes the buyer from their snapshot."""
    subscriptions = Subscription.objects.filter(pk__any=list(ids)).select_related(*SUBSCRIPTION_RELATED)
    if lock_charges:
        subscriptions = profile_secrets_deferred(subscriptions)
    subscriptions = list(subscriptions.order_by("pk"))
    _histories_load(subscriptions, lock_charges=lock_charges)
    return subscriptions


@dataclass(eq=False)
class SubscriptionRow:
    """A subscription as the monthly run reads it: the columns that pricing and rolling read, its plan (one instance
    per plan for a whole chunk), its customer's profile version (which buyer snapshot invoices take) and language,
    then what pricing reads beside the row (`history_prefill`). Pricing reads it as it reads a `Subscription`; no
    model instance is made per subscription, customer or profile (making them was a fifth of the run)."""

    pk: int
    user_id: int
    plan: Plan
    status: str
    cancel_at_period_end: bool
    started_at: datetime.datetime
    trial_end: datetime.date | None
    ended_at: datetime.datetime | None
    current_period_start: datetime.date
    current_period_end: datetime.date
    profile_version: int  # 0: no profile saved
    loaded_language: str

    @property
    def plan_id(self) -> int:
        return self.plan.pk


def subscription_rows(ids) -> list[SubscriptionRow]:
    """The subscriptions of `ids` as rows (`SubscriptionRow`), in primary-key order: one query for the rows and one
    for their plans, then their histories as `load_subscriptions(lock_charges=True)` loads them, pending one-off
    charges locked."""
    rows = list(
        Subscription.objects.filter(pk__any=list(ids)).order_by("pk").values_list(
            "pk", "user_id", "plan_id", "status", "cancel_at_period_end", "started_at", "trial_end", "ended_at",
            "current_period_start", "current_period_end", "user__profile__version", "user__profile__language",
        )
    )
    plans = Plan.objects.in_bulk({row[2] for row in rows})
    subscriptions = [
        SubscriptionRow(pk, user_id, plans[plan_id], *columns, version or 0, customer_language_code(language))
        for pk, user_id, plan_id, *columns, version, language in rows
    ]
    _histories_load(subscriptions, lock_charges=True)
    return subscriptions


def _histories_load(subscriptions: list, *, lock_charges: bool) -> None:
    pks = [subscription.pk for subscription in subscriptions]
    plan_histories_load(subscriptions, lock_charges=lock_charges)
    interim_billed = interim_billed_load(subscriptions)
    coupons = {
        redemption.subscription_id: [redemption]
        for redemption in CouponRedemption.objects.filter(subscription__any=pks, ended_at__isnull=True)
        .select_related("coupon")
    }
    for subscription in subscriptions:
        history_prefill(
            subscription, interim_billed=interim_billed[subscription.pk],
            coupon_redemptions=coupons.get(subscription.pk, []),
        )


def _charges_by_carrier(subscriptions: list[Subscription]) -> dict[int, list[OneOffCharge]]:
    """The customers' pending one-off charges, locked, by the subscription that bills them: each customer's newest
    of the list, so that a customer with two subscriptions to invoice is charged once."""
    by_user = defaultdict(list)
    for charge in pending_charges(user_ids={s.user_id for s in subscriptions}, lock=True):
        by_user[charge.user_id].append(charge)
    carriers = {s.user_id: s.pk for s in sorted(subscriptions, key=lambda s: s.pk)}
    return {pk: by_user[user_id] for user_id, pk in carriers.items()}


def plan_histories_load(subscriptions: list[Subscription], *, lock_charges: bool = False) -> None:
    """Load the plan changes (with their plans) and pauses of `subscriptions` onto them: two queries. With
    `lock_charges` (invoicing), a third loads their customers' pending one-off charges, locked; pricing reads them
    itself otherwise (the upcoming estimate: one query for its one subscription)."""
    charges = _charges_by_carrier(subscriptions) if lock_charges else {}
    changes, pauses = defaultdict(list), defaultdict(list)
    pks = [subscription.pk for subscription in subscriptions]
    # Each subscription's history in its own order, without the join to subscriptions that their default
    # ordering (by subscription, as subscriptions are ordered) costs.
    for change in SubscriptionPlanChange.objects.filter(subscription__any=pks).select_related(
        "from_plan", "to_plan"
    ).order_by("subscription_id", "changed_at", "id"):
        changes[change.subscription_id].append(change)
    for pause in SubscriptionPause.objects.filter(subscription__any=pks).order_by(
        "subscription_id", "start_date", "id"
    ):
        pauses[pause.subscription_id].append(pause)
    for subscription in subscriptions:
        history_prefill(
            subscription, plan_changes=changes[subscription.pk], pauses=pauses[subscription.pk],
            charges=charges.get(subscription.pk, []) if lock_charges else None,
        )


def history_prefill(
    subscription: Subscription, *, plan_changes: Iterable | None = None, pauses: Iterable | None = None,
    charges: Iterable | None = None, coupon_redemptions: Iterable | None = None, interim_billed: dict | None = None,
) -> None:
    """Give `subscription` what pricing reads beside its row (`billing.pricing._loaded`: plan changes, pauses,
    pending one-off charges, the running coupon, what interim invoices billed by period start) instead of reading
    it; those not given stay as they were.

    Plain attributes rather than a prefetch cache (Django's private `_prefetched_objects_cache`): a what-if copy
    holds an unsaved change in them too. `prefetch_related_objects` with `to_attr` would run the same two queries
    but skip the subscriptions loaded before, where `plan_histories_load` reads the history afresh."""
    if plan_changes is not None:
        subscription.loaded_plan_changes = list(plan_changes)
    if pauses is not None:
        subscription.loaded_pauses = list(pauses)
    if charges is not None:
        subscription.loaded_charges = list(charges)
    if coupon_redemptions is not None:  # the running one, if any
        subscription.loaded_coupon_redemption = next(iter(coupon_redemptions), None)
    if interim_billed is not None:
        subscription.loaded_interim_billed = interim_billed


def usage_window(subscription: Subscription, billed: Period) -> tuple[datetime.datetime, datetime.datetime]:
    """Usage counts from the first billed day until the period's end, or an immediate cancellation."""
    end_at = billed.end_at
    if subscription.ended_at is not None:
        end_at = max(billed.start_at, min(end_at, subscription.ended_at))
    return billed.start_at, end_at


def segment_windows(
    subscription: Subscription, billed: Period, *, until: datetime.datetime | None = None
) -> list[UsageWindow]:
    """The usage window of each plan segment of `billed` (see `usage_segments`), cut at `until` when given.

    A plan change splits the period's window at the change day: usage belongs to the plan in force then.
    """
    start_at, end_at = usage_window(subscription, billed)
    if until is not None:
        end_at = max(start_at, min(end_at, until))
    windows = []
    for segment in usage_segments(subscription, billed):
        window_start = min(max(start_at, segment.period.start_at), end_at)
        windows.append((window_start, max(window_start, min(end_at, segment.period.end_at))))
    return windows


def segment_tokens_by_subscription(
    windows_by_subscription: dict[Subscription, list[UsageWindow]],
) -> dict[Subscription, list[int]]:
    """Tokens used in each window of each subscription, summed by one query whatever their number."""
    keys, windows = [], {}
    for subscription, sub_windows in windows_by_subscription.items():
        for window in sub_windows:
            windows[len(keys)] = (subscription.user_id, window)
            keys.append(subscription)
    tokens = usage_tokens_by_window(windows)
    used = defaultdict(list)
    for index, subscription in enumerate(keys):
        used[subscription].append(tokens[index])
    return {subscription: used[subscription] for subscription in windows_by_subscription}


@dataclass(frozen=True)
class QuotaUsage:
    """A period's usage against the quota in force on a day of it. On one plan: the whole quota and every token of
    the period. After a plan change: the segment of the plan in force, its share of the quota, and only the
    tokens used since the change; the earlier segments are already billed by their own quotas."""

    period: Period
    segments: tuple[UsageSegment, ...]
    segment_tokens: tuple[int, ...]
    index: int  # of the segment in force

    @property
    def segment(self) -> UsageSegment:
        return self.segments[self.index]

    @property
    def tokens_used(self) -> int:
        return self.segment_tokens[self.index]

    @property
    def included_tokens(self) -> int:
        return self.segment.included_tokens

    @property
    def tokens_before(self) -> int:
        """The period's tokens before the segment in force."""
        return sum(self.segment_tokens[: self.index])

    @property
    def earlier_charge(self) -> Decimal:
        """What the usage of the period's earlier segments is billed so far."""
        pairs = zip(self.segments[: self.index], self.segment_tokens, strict=False)
        return sum((usage_charge(segment=segment, tokens_used=tokens) for segment, tokens in pairs), ZERO)

    @property
    def occasion(self) -> str:
        """What a usage alert is raised once for: the period (`2026-12`) on one plan; after a change, the days of
        the plan in force (`2026-12-15:team`), so that a segment never shares an alert with its period."""
        if len(self.segments) == 1:
            return f"{self.period.start:%Y-%m}"
        return f"{self.segment.period.start.isoformat()}:{self.segment.plan.code}"


def quota_usages(
    periods: dict[Subscription, Period], *, now: datetime.datetime, until: datetime.datetime | None = None
) -> dict[Subscription, QuotaUsage]:
    """The usage against the quota in force at `now` of each subscription's period (plan history loaded, see
    `load_subscriptions`), with the tokens up to `until` when given; one usage query."""
    windows = {sub: segment_windows(sub, billed, until=until) for sub, billed in periods.items()}
    tokens = segment_tokens_by_subscription(windows)
    today = local_date(now)
    usages = {}
    for sub, billed in periods.items():
        segments = tuple(usage_segments(sub, billed))
        index = max((i for i, segment in enumerate(segments) if segment.period.start <= today), default=0)
        usages[sub] = QuotaUsage(billed, segments, tuple(tokens[sub]), index)
    return usages


def invoice_drafts(billed_periods: dict[Subscription, Period]) -> list[InvoiceDraft]:
    """Price each subscription's period; usage per plan segment comes from one query, not one per customer."""
    tokens = segment_tokens_by_subscription(
        {sub: segment_windows(sub, billed) for sub, billed in billed_periods.items()}
    )
    return [
        invoice_draft(subscription=sub, period=billed, segment_tokens=tokens[sub])
        for sub, billed in billed_periods.items()
    ]


def interim_drafts(subscriptions: Iterable[Subscription], *, now: datetime.datetime) -> list[InvoiceDraft]:
    """The interim invoices due at `now` (`billing.pricing.interim_draft`) of `subscriptions` (history loaded, see
    `load_subscriptions`): live ones on a plan with a progressive threshold, in a current period that has not
    ended (the invoice run bills one that has). Usage up to `now`, one query."""
    today = local_date(now)
    periods = {
        sub: Period(sub.current_period_start, sub.current_period_end)
        for sub in subscriptions
        if sub.plan.progressive_threshold is not None and sub.status in LIVE_SUBSCRIPTION_STATUSES
        and sub.current_period_start <= today < sub.current_period_end
    }
    tokens = segment_tokens_by_subscription(
        {sub: segment_windows(sub, billed, until=now) for sub, billed in periods.items()}
    )
    drafts = (
        interim_draft(subscription=sub, period=billed, segment_tokens=tokens[sub]) for sub, billed in periods.items()
    )
    return [draft for draft in drafts if draft is not None]


def seller_snapshot() -> dict:
    return dict(settings.SELLER, vat_on_debits=settings.SELLER_VAT_ON_DEBITS)


def buyer_siren(profile) -> str:
    """The buyer's SIREN as its profile gives it, or else, for a French business that gave only its VAT number,
    digits 3 to 11 of that number (FRkk + SIREN; Monaco's FRkk000… numbers have none)."""
    if profile.siren or buyer_country(profile.country) != "FR" or not profile.vat_number.upper().startswith("FR"):
        return profile.siren
    try:
        return fr_tva.to_siren(fr_tva.validate(profile.vat_number))
    except ValidationError:
        return ""


def buyer_snapshot(user) -> dict:
    profile = saved_profile(user)
    return {
        "email": profile.invoice_email if profile else user.email,
        "name": (profile.full_name if profile else "") or user.get_full_name() or user.email,
        "company_name": profile.company_name if profile else "",
        "vat_number": profile.vat_number if profile else "",
        "siren": buyer_siren(profile) if profile else "",
        "address_line1": profile.address_line1 if profile else "",
        "address_line2": profile.address_line2 if profile else "",
        "postal_code": profile.postal_code if profile else "",
        "city": profile.city if profile else "",
        "country": buyer_country(profile.country if profile else ""),
        "language": customer_language(profile),
        "vies_status": profile.vies_status if profile else ViesStatus.UNCHECKED.value,
        # VIES's reference for the check of the number: the proof, kept with each invoice that reverse-charges it
        "vies_consultation_reference": profile.vies_consultation_reference if profile else "",
    }


def buyer_tax_vat_number(buyer: dict) -> str:
    """The VAT number that sets the buyer's tax: none once VIES rejected it, so that they pay VAT instead of being
    reverse-charged (the invoice still prints the number they gave)."""
    return "" if buyer["vies_status"] == ViesStatus.INVALID else buyer["vat_number"]


@dataclass(frozen=True)
class UpcomingInvoice:
    """What the current period would be invoiced so far, if it ended now; never stored."""

    period: Period
    currency: str
    tokens_used: int
    included_tokens: int
    lines: tuple[LineDraft, ...]
    subtotal: Decimal
    tax_rate: Decimal
    tax_amount: Decimal
    total: Decimal
    credit_applied: Decimal
    amount_due: Decimal
    reverse_charge: bool
    tax_mention: str


def invoice_upcoming(*, subscription: Subscription, now: datetime.datetime) -> UpcomingInvoice | None:
    """The invoice of the current period, priced like generation with the usage up to `now`."""
    [subscription] = load_subscriptions([subscription.pk])
    if subscription.status not in LIVE_SUBSCRIPTION_STATUSES:
        return None
    return upcoming_priced(subscription, now=now)


def upcoming_priced(subscription: Subscription, *, now: datetime.datetime) -> UpcomingInvoice:
    """The current period of `subscription` (its history loaded, or a what-if copy) priced with the usage up to
    `now`: one usage query, no write."""
    billed = Period(subscription.current_period_start, subscription.current_period_end)
    windows = {subscription: segment_windows(subscription, billed, until=now)}
    draft = invoice_draft(
        subscription=subscription, period=billed, segment_tokens=segment_tokens_by_subscription(windows)[subscription]
    )
    buyer = buyer_snapshot(subscription.user)
    treatment = tax_treatment(
        country=buyer["country"], vat_number=buyer_tax_vat_number(buyer), company_name=buyer["company_name"],
        tax_point=local_date(now),
    )
    # The credits are spent as the issue will spend them: promotional and compensation ones as CREDIT lines.
    spending = credits_spend(
        totals=invoice_totals(subtotal=draft.subtotal, treatment=treatment), settled=ZERO,
        credits=usable_credits(user_ids=[subscription.user_id], currency=draft.plan.currency, now=now),
    )
    totals = spending.totals
    credit_lines = tuple(
        credit_line(spent, language=buyer["language"]) for spent in spending.spent if spent.reduction
    )
    return UpcomingInvoice(
        period=billed,
        currency=draft.plan.currency,
        tokens_used=draft.tokens_used,
        included_tokens=draft.plan.included_tokens,
        lines=draft.lines + credit_lines,
        subtotal=totals.subtotal,
        tax_rate=totals.tax_rate,
        tax_amount=totals.tax_amount,
        total=totals.total,
        credit_applied=spending.credit_applied,
        amount_due=totals.total - spending.credit_applied,
        reverse_charge=treatment.reverse_charge,
        tax_mention=treatment.mention,
    )


def invoices_missing_documents() -> list[int]:
    """Issued invoices whose PDF was never stored (a worker lost after commit), cancelled ones included: every
    number issued has its document. The daily sweep retries them."""
    return list(Invoice.objects.filter(number__isnull=False, pdf="").order_by("pk").values_list("pk", flat=True))


def credit_notes_missing_documents() -> list[int]:
    """Credit notes whose PDF was never stored (their task lost after commit): the daily sweep retries them."""
    return list(CreditNote.objects.filter(pdf="").order_by("pk").values_list("pk", flat=True))


def invoice_run_chunks(*, period_end: datetime.date, chunk_size: int, customer=None) -> list[list[int]]:
    """Subscriptions whose current period ends on `period_end`, in primary-key order, cut in chunks."""
    subscriptions = Subscription.objects.filter(current_period_end=period_end)
    if customer is not None:
        subscriptions = subscriptions.filter(user=customer)
    ids = list(subscriptions.order_by("pk").values_list("pk", flat=True))
    return [ids[offset : offset + chunk_size] for offset in range(0, len(ids), chunk_size)]


# Customer reads: what a customer sees of their own billing (API and pages). Nobody sees another's rows.

CUSTOMER_INVOICE_STATUSES = (*ISSUED_INVOICE_STATUSES, InvoiceStatus.CANCELLED)


def customer_invoices(*, user):
    """The customer's issued invoices, newest period first; a DRAFT is the invoice run's, not yet theirs."""
    return Invoice.objects.filter(user=user, number__isnull=False).order_by("-period_start", "-id")


# Every reader of an invoice's credit notes prefetches them so, and reads them through the two accessors below.
CREDIT_NOTES = Prefetch(
    "credit_notes",
    queryset=CreditNote.objects.order_by("issue_date", "id").prefetch_related(
        Prefetch("lines", queryset=CreditNoteLine.objects.order_by("position"))
    ),
)


def customer_invoice_detail(*, user):
    """The customer's issued invoices with what a detail shows: lines, payments, credit notes."""
    return customer_invoices(user=user).prefetch_related(
        Prefetch("lines", queryset=InvoiceLine.objects.order_by("position")),
        Prefetch("payments", queryset=Payment.objects.order_by("created_at", "id")),
        CREDIT_NOTES,
    )


def invoice_credit_notes(invoice: Invoice) -> list[CreditNote]:
    """Every credit note of `invoice`, full or partial, oldest first (from the CREDIT_NOTES prefetch when made)."""
    return sorted(invoice.credit_notes.all(), key=lambda credit_note: (credit_note.issue_date, credit_note.pk))


# A coupon's discount and a credit spent before tax are reductions, not something billed that can be credited.
NOT_CREDITABLE_LINE_KINDS = (LineKind.DISCOUNT, LineKind.CREDIT)


def invoice_lines_left_to_credit(invoice: Invoice) -> list[tuple[InvoiceLine, Decimal]]:
    """The lines of `invoice` a partial credit note may credit, each with what is left to credit on it before VAT
    (its amount less what its credit notes credited of it), in their order."""
    credited = dict(
        CreditNoteLine.objects.filter(credit_note__invoice=invoice, invoice_line__isnull=False)
        .values_list("invoice_line").annotate(Sum("amount")).order_by()
    )
    return [
        (line, line.amount - credited.get(line.pk, ZERO))
        for line in invoice.lines.exclude(kind__in=NOT_CREDITABLE_LINE_KINDS).order_by("position")
    ]


def price_refunds_pending(invoice: Invoice) -> Decimal:
    """What card refunds of part of `invoice`'s price still wait for Stripe to confirm (billing.payments.refunds
    keeps each on its payment's `refund_references`, "pending" until then): their credit notes will credit it."""
    return sum(
        (
            Decimal(entry["amount"])
            for payment in Payment.objects.filter(invoice=invoice).exclude(refund_references={}).order_by("pk")
            for entry in payment.refund_references.values()
            if entry.get("credit_note") and entry.get("status") == "pending"
        ),
        ZERO,
    )


def customer_credit_notes(*, user):
    """The credit notes of the customer's invoices; nobody sees another's."""
    return CreditNote.objects.filter(invoice__user=user, invoice__number__isnull=False)


def credit_note_of(invoice: Invoice) -> CreditNote | None:
    """The credit note that cancelled `invoice` (the full one), or None."""
    return next(
        (credit_note for credit_note in invoice_credit_notes(invoice) if credit_note.kind == CreditNoteKind.FULL),
        None,
    )


def customer_payments(*, user):
    """Payments of the customer's issued invoices, newest first."""
    return (
        Payment.objects.filter(user=user, invoice__number__isnull=False)
        .select_related("invoice")
        .order_by("-created_at", "-id")
    )


def suspending_invoices(*, today: datetime.date):
    """Issued invoices that suspend their customer's metered access on `today` (a date in BILLING_TIME_ZONE):
    still owing money (SENT or OVERDUE, amount due > 0) more than ACCESS_SUSPEND_AFTER_DAYS days past their due
    date, and not lifted by finance. The last of those days is still served: due 1 December with 14 days, calls
    are served through 15 December and refused from 16 December. Paid or cancelled, an invoice suspends nothing.
    """
    last_day_served = datetime.timedelta(days=settings.ACCESS_SUSPEND_AFTER_DAYS)
    return Invoice.objects.filter(
        status__in=(InvoiceStatus.SENT, InvoiceStatus.OVERDUE),
        amount_due__gt=0,
        due_date__lt=today - last_day_served,
        access_suspension_lift__isnull=True,
    )


def access_suspended_by(*, user, today: datetime.date) -> Invoice | None:
    """The invoice that suspends the customer's metered access on `today` (the oldest due, when several do), or
    None while their access is open."""
    return suspending_invoices(today=today).filter(user=user).order_by("due_date", "id").first()


def customer_live_subscription(*, user) -> Subscription | None:
    """The subscription being billed (ACTIVE or PAUSED): a customer has one at most."""
    return (
        Subscription.objects.filter(user=user, status__in=LIVE_SUBSCRIPTION_STATUSES)
        .select_related("plan")
        .order_by("-started_at", "-id")
        .first()
    )


# What happens when a free trial ends: billed from then on, or cancelled on that day.
TRIAL_CONVERTS = "convert"
TRIAL_CANCELLED_BY_CUSTOMER = "cancelled"
TRIAL_NO_PAYMENT_METHOD = "no_payment_method"


def trial_end_outcome(subscription: Subscription) -> str:
    """At its trial's end a subscription is billed normally, unless the customer cancelled it during the trial
    (it ends with the trial, free), or, with Stripe, its plan is paid and no card is on file to charge."""
    if subscription.cancel_at_period_end:
        return TRIAL_CANCELLED_BY_CUSTOMER
    if settings.PAYMENT_PROVIDER != PaymentProviderName.STRIPE or subscription.plan.price == 0:
        return TRIAL_CONVERTS
    has_card = PaymentProviderCustomer.objects.filter(
        user_id=subscription.user_id, provider=PaymentProviderName.STRIPE
    ).exclude(default_payment_method_id="").exists()
    return TRIAL_CONVERTS if has_card else TRIAL_NO_PAYMENT_METHOD


@dataclass(frozen=True)
class TrialStatus:
    """A free trial under way, as the customer sees it."""

    plan: Plan  # the plan the trial is on
    end: datetime.date  # the first day billed (excluded from the trial)
    days_left: int  # today included
    outcome: str  # TRIAL_CONVERTS, TRIAL_CANCELLED_BY_CUSTOMER or TRIAL_NO_PAYMENT_METHOD

    @property
    def last_day(self) -> datetime.date:
        return self.end - datetime.timedelta(days=1)


def trial_status(subscription: Subscription | None, *, today: datetime.date) -> TrialStatus | None:
    """The live subscription's free trial on `today`, or None when it is not in one."""
    if subscription is None or subscription.trial_end is None or subscription.trial_end <= today:
        return None
    if subscription.status not in LIVE_SUBSCRIPTION_STATUSES:
        return None
    return TrialStatus(
        subscription.trial_plan, subscription.trial_end, (subscription.trial_end - today).days,
        trial_end_outcome(subscription),
    )


def current_period(subscription: Subscription, *, now: datetime.datetime) -> Period:
    """The subscription's billing period holding `now`, as the limits and the customer's usage count it; rolled
    forward when the invoice run has not moved the subscription on yet (between midnight and the run)."""
    period = Period(subscription.current_period_start, subscription.current_period_end)
    today = local_date(now)
    if today < period.end:
        return period
    return period_containing(today, months=interval_months(subscription.plan), anchor=period.start)


def customer_credits(*, user):
    """Every credit of the customer, the next to be spent first (oldest-expiring, then oldest)."""
    return Credit.objects.filter(user=user).order_by(F("expires_at").asc(nulls_last=True), "created_at", "id")


def customer_alerts(*, user):
    return BillingAlert.objects.filter(user=user).order_by("-created_at", "-id")


def plans_offered():
    """Plans a customer may subscribe to, cheapest first."""
    return Plan.objects.filter(is_active=True).order_by("price", "code")


def plan_in_force(subscription: Subscription, day: datetime.date) -> Plan:
    """The plan of `subscription` on `day`, from its plan-change history."""
    changes = list(
        subscription.plan_changes.select_related("from_plan", "to_plan").order_by("effective_date", "changed_at", "id")
    )
    plan = changes[0].from_plan if changes else subscription.plan
    for change in changes:
        if change.effective_date > day:
            break
        plan = change.to_plan
    return plan


# Plan changes that wait for the end of their subscription's current period: downgrades (and moves to a plan's
# new version), until the invoice run rolls the subscription. An upgrade made on the day a period ends is on the
# new plan already, so it is not one.
_SCHEDULED = Q(effective_date__gte=F("subscription__current_period_end")) & ~Q(to_plan_id=F("subscription__plan_id"))


def scheduled_plan_changes(subscription: Subscription):
    """The plan changes of `subscription` waiting for the end of its current period."""
    return SubscriptionPlanChange.objects.filter(_SCHEDULED, subscription=subscription)


def scheduled_plan_change(subscription: Subscription) -> SubscriptionPlanChange | None:
    """The change to come at the end of the current period, if any (a new choice replaces the previous one)."""
    return scheduled_plan_changes(subscription).select_related("to_plan").order_by("-changed_at", "-id").first()


def scheduled_plan_change_by_subscription(subscriptions: Iterable[Subscription]) -> dict[int, SubscriptionPlanChange]:
    """`scheduled_plan_change` of each of `subscriptions` that has one, by subscription id: one query."""
    changes = (
        SubscriptionPlanChange.objects.filter(_SCHEDULED, subscription__in=list(subscriptions))
        .select_related("to_plan")
        .order_by("subscription_id", "changed_at", "id")
    )
    return {change.subscription_id: change for change in changes}  # the latest of each wins


PERCENT = Decimal("0.01")


@dataclass(frozen=True)
class DailyUsage:
    date: datetime.date
    tokens: int


@dataclass(frozen=True)
class UsageSummary:
    """Tokens used in a period against the quota in force, day by day (BILLING_TIME_ZONE).

    After a plan change the quota is the plan's share for its days (`counted`, from the change to the period's
    end) and only the tokens used since the change count against it; `daily` still covers the whole period."""

    period: Period
    counted: Period  # the days whose tokens count against the quota: the period, or the current plan's segment
    plan: Plan | None
    tokens_used: int
    included_tokens: int | None
    percent_used: Decimal | None
    daily: tuple[DailyUsage, ...]
    trial: bool = False  # `counted` are free-trial days: their usage is not billed, their quota refuses calls
    after_trial: bool = False  # `counted` starts at the end of a free trial, with the whole quota


def _tokens_by(*, user, period: Period, truncate) -> list[tuple]:
    """(day or month, tokens) of the customer's usage in `period`, cut by `truncate` (TruncDate, TruncMonth) in
    BILLING_TIME_ZONE; one grouped query."""
    return list(
        UsageLog.objects.filter(user=user, created_at__gte=period.start_at, created_at__lt=period.end_at)
        .annotate(bucket=truncate("created_at", tzinfo=billing_zone()))
        .values("bucket")
        .annotate(tokens=Sum("tokens"))
        .order_by()
        .values_list("bucket", "tokens")
    )


def _days_so_far(period: Period, today: datetime.date) -> list[datetime.date]:
    """The days of `period` up to `today`, oldest first."""
    last = min(period.end, today + datetime.timedelta(days=1))
    return [period.start + datetime.timedelta(days=n) for n in range((last - period.start).days)]


def usage_daily(*, user, period: Period, today: datetime.date) -> tuple[DailyUsage, ...]:
    """Tokens per local day of `period`, up to `today`; days without calls count 0."""
    rows = dict(_tokens_by(user=user, period=period, truncate=TruncDate))
    return tuple(DailyUsage(day, rows.get(day, 0)) for day in _days_so_far(period, today))


def usage_summary(*, user, now: datetime.datetime, month: Period | None = None) -> UsageSummary:
    """Usage of the customer's current billing period, or of the billing period holding `month`.

    The quota is the one in force now (at its end for an earlier period), as the limits count it (see
    `QuotaUsage`): the plan's whole quota on one plan (for a yearly plan it covers twelve months), the current
    plan's share since its change otherwise. Without a live subscription the period is the calendar month and
    there is no quota.
    """
    today = local_date(now)
    subscription = customer_live_subscription(user=user)
    if subscription is None:
        period = month or period_containing(today)
        tokens = usage_tokens_by_window({user.pk: (user.pk, (period.start_at, period.end_at))})[user.pk]
        daily = usage_daily(user=user, period=period, today=today)
        return UsageSummary(period, period, None, tokens, None, None, daily)
    [subscription] = load_subscriptions([subscription.pk])
    current = current_period(subscription, now=now)
    period = current if month is None else _billing_period_holding(month, subscription=subscription, current=current)
    quota = quota_usages({subscription: period}, now=now)[subscription]
    included = quota.included_tokens
    percent = None
    if included:
        percent = (Decimal(quota.tokens_used) * 100 / included).quantize(PERCENT, rounding=ROUND_HALF_UP)
    return UsageSummary(
        period, quota.segment.period, quota.segment.plan, quota.tokens_used, included, percent,
        usage_daily(user=user, period=period, today=today), trial=quota.segment.trial,
        after_trial=not quota.segment.trial and quota.segment.period.start == subscription.trial_end,
    )


def _billing_period_holding(month: Period, *, subscription: Subscription | None, current: Period) -> Period:
    """The customer's billing period holding the calendar `month`, `current` being the period holding today: the
    month itself without a subscription, a period of the plan's interval anchored on the current one otherwise."""
    if subscription is None:
        return month
    if current.clip(month.start, month.end) is not None:
        return current
    return period_containing(month.start, months=interval_months(subscription.plan), anchor=current.start)


def usage_by_month(*, user) -> list[dict]:
    """Calls and tokens of the customer per month of BILLING_TIME_ZONE, oldest first."""
    return list(
        UsageLog.objects.filter(user=user)
        .annotate(month=TruncMonth("created_at", tzinfo=billing_zone()))
        .values("month")
        .annotate(calls=Count("id"), tokens=Sum("tokens"))
        .order_by("month")
    )


@dataclass(frozen=True)
class MonthlyUsage:
    month: datetime.date  # the first day of the month
    tokens: int


CHART_MONTHS = 12


def usage_last_months(*, user, now: datetime.datetime, months: int = CHART_MONTHS) -> tuple[MonthlyUsage, ...]:
    """Tokens per calendar month of BILLING_TIME_ZONE for the last `months` months, the current one included,
    oldest first; months without calls count 0. One query."""
    current = period_containing(local_date(now))
    first = Period(add_months(current.start, 1 - months), current.end)
    tokens = {local_date(month): total for month, total in _tokens_by(user=user, period=first, truncate=TruncMonth)}
    starts = (add_months(first.start, offset) for offset in range(months))
    return tuple(MonthlyUsage(start, tokens.get(start, 0)) for start in starts)


@dataclass(frozen=True)
class UsageForecast:
    """Where the period's usage ends at today's pace: tokens so far ÷ elapsed days × the period's days."""

    tokens_used: int
    elapsed_days: Decimal
    period_days: int
    projected_tokens: int
    included_tokens: int | None
    quota_reached_date: datetime.date | None  # None: not reached within the period at this pace


MICROSECONDS_A_DAY = 86_400_000_000


def usage_forecast(*, usage: UsageSummary, now: datetime.datetime) -> UsageForecast:
    """The forecast of `usage` (a period holding `now`) over the days its quota counts (from a plan change, when
    there was one); elapsed time counts fractional days from their start, so a forecast made in the morning is
    not thrown off by a day barely begun."""
    counted = usage.counted
    elapsed = Decimal((now - counted.start_at) // datetime.timedelta(microseconds=1)) / MICROSECONDS_A_DAY
    elapsed = min(max(elapsed, Decimal(0)), Decimal(counted.days))
    pace = Decimal(usage.tokens_used) / elapsed if elapsed else Decimal(0)
    projected = int((pace * counted.days).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    reached = None
    if usage.included_tokens and pace:
        days_to_quota = Decimal(usage.included_tokens) / pace
        if days_to_quota < counted.days:
            to_quota = datetime.timedelta(microseconds=int(days_to_quota * MICROSECONDS_A_DAY))
            reached = local_date(counted.start_at + to_quota)
    return UsageForecast(usage.tokens_used, elapsed, counted.days, projected, usage.included_tokens, reached)


USAGE_GROUPINGS = ("day", "api_key", "library")


@dataclass(frozen=True)
class UsageGroup:
    """The tokens and calls of one day, API key or library. `key` names it (the ISO day, the key's prefix, the
    library's slug), None for calls without a key (the browser) or without a library."""

    key: str | None
    label: str
    tokens: int
    calls: int
    day: datetime.date | None = None  # of a group by day


@dataclass(frozen=True)
class UsageBreakdown:
    period: Period
    group_by: str
    groups: tuple[UsageGroup, ...]

    @property
    def tokens(self) -> int:
        return sum(group.tokens for group in self.groups)

    @property
    def calls(self) -> int:
        return sum(group.calls for group in self.groups)


# What each grouping groups the usage rows by: the columns read beside the sums (the first one names the group).
BREAKDOWN_COLUMNS = {
    "api_key": ("api_key__prefix", "api_key__name"),
    "library": ("library__slug", "library__name"),
}


def usage_breakdown(*, user, period: Period, group_by: str, now: datetime.datetime) -> UsageBreakdown:
    """The customer's tokens and calls of `period` by local day (every day up to today, days without calls
    included, oldest first), by API key or by library (the docs API's calls and the MCP server's alike: both log
    the library they read), the most used first. One grouped query on the (user, created_at) index."""
    rows = UsageLog.objects.filter(user=user, created_at__gte=period.start_at, created_at__lt=period.end_at)
    if group_by == "day":
        rows = rows.annotate(day=TruncDate("created_at", tzinfo=billing_zone())).values_list("day")
        sums = {day: (tokens, calls) for day, tokens, calls in _sums(rows)}
        days = _days_so_far(period, local_date(now))
        groups = [UsageGroup(day.isoformat(), day.isoformat(), *sums.get(day, (0, 0)), day=day) for day in days]
        return UsageBreakdown(period, group_by, tuple(groups))
    # A revoked key keeps its row, so its calls stay under its name; a deleted one or a library gone leaves NULL.
    none_label = gettext("Browser session (no API key)") if group_by == "api_key" else gettext("No library")
    groups = [
        UsageGroup(key, name if key is not None else none_label, tokens, calls)
        for key, name, tokens, calls in _sums(rows.values_list(*BREAKDOWN_COLUMNS[group_by]))
    ]
    groups.sort(key=lambda group: (-group.tokens, group.label.casefold(), group.key or ""))
    return UsageBreakdown(period, group_by, tuple(groups))


def _sums(rows) -> list[tuple]:
    """`rows` (a values_list of the grouping columns) with the tokens and the calls of each group appended."""
    return list(rows.annotate(tokens=Sum("tokens"), calls=Count("id")).order_by())


def usage_periods(*, user, now: datetime.datetime) -> list[Period]:
    """The billing periods the usage page offers, newest first: the current one, then every earlier one in which
    the customer used tokens or was invoiced for a period (a one-off charge's invoice is for no period of usage)."""
    subscription = customer_live_subscription(user=user)
    today = local_date(now)
    current = current_period(subscription, now=now) if subscription else period_containing(today)
    used = UsageLog.objects.filter(user=user, created_at__lt=current.start_at).datetimes(
        "created_at", "month", tzinfo=billing_zone()
    )
    invoiced = customer_invoices(user=user).filter(period_start__lt=current.start).exclude(kind=InvoiceKind.ONE_OFF)
    months = {local_date(moment) for moment in used} | {
        start.replace(day=1) for start in invoiced.values_list("period_start", flat=True)
    }
    earlier = {
        _billing_period_holding(period_containing(day), subscription=subscription, current=current) for day in months
    }
    return sorted(earlier | {current}, reverse=True)


# The customer pages (billing/views.py).


def customer_invoice_years(*, user) -> list[int]:
    """Years in which the customer was issued an invoice, newest first: the choices of the year filter."""
    return [day.year for day in customer_invoices(user=user).dates("issue_date", "year", order="DESC")]


@dataclass(frozen=True)
class CustomerDashboard:
    """The dashboard: the plan and its period, a scheduled plan change, usage against the quota, the upcoming
    invoice, unread alerts, a free trial under way."""

    subscription: Subscription | None
    scheduled_change: SubscriptionPlanChange | None
    usage: UsageSummary
    upcoming: UpcomingInvoice | None
    unread_alerts: tuple[BillingAlert, ...]
    unread_alert_count: int
    trial: TrialStatus | None = None


DASHBOARD_ALERTS = 5


def customer_dashboard(*, user, now: datetime.datetime) -> CustomerDashboard:
    subscription = customer_live_subscription(user=user)
    unread = customer_alerts(user=user).filter(read_at__isnull=True)
    return CustomerDashboard(
        subscription=subscription,
        scheduled_change=scheduled_plan_change(subscription) if subscription else None,
        usage=usage_summary(user=user, now=now),
        upcoming=invoice_upcoming(subscription=subscription, now=now) if subscription else None,
        unread_alerts=tuple(unread[:DASHBOARD_ALERTS]),
        unread_alert_count=unread.count(),
        trial=trial_status(subscription, today=local_date(now)),
    )


def customer_credit_balance(*, user, now: datetime.datetime) -> list[tuple[str, Decimal]]:
    """What the customer's usable credits add up to, per currency: what the next invoices may still draw on."""
    rows = (
        Credit.objects.filter(user=user, remaining_amount__gt=0)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .values("currency")
        .annotate(total=Sum("remaining_amount"))
        .order_by("currency")
    )
    return [(row["currency"], row["total"]) for row in rows]
