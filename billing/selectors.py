"""Reads for billing: usage per subscription window, plans in force, usable credits."""
import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import F, Q, Sum

from accounts.models import UserProfile
from libraries.models import UsageLog

from .models import LIVE_SUBSCRIPTION_STATUSES, Credit, Invoice, InvoiceStatus, Subscription
from .money import ZERO
from .periods import Period
from .pricing import InvoiceDraft, LineDraft, invoice_draft, invoice_totals
from .tax import buyer_country, tax_treatment

SUBSCRIPTION_RELATED = ("plan", "user__profile")
SUBSCRIPTION_HISTORY = ("plan_changes__from_plan", "plan_changes__to_plan", "pauses")

UsageWindow = tuple[datetime.datetime, datetime.datetime]


def usage_tokens_by_window(windows: dict[int, tuple[int, UsageWindow]]) -> dict[int, int]:
    """Tokens used per key of `windows` ({key: (user_id, (start_at, end_at))}), end excluded.

    Keys sharing a window (the whole month, for most) are summed by one grouped query.
    """
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


def usable_credits(*, user_ids: Iterable[int], currency: str, now: datetime.datetime):
    """Credits with a balance, not expired: oldest-expiring first (never-expiring last), then oldest."""
    return (
        Credit.objects.filter(user_id__in=list(user_ids), currency=currency, remaining_amount__gt=0)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by("user_id", F("expires_at").asc(nulls_last=True), "created_at", "id")
    )


def load_subscriptions(ids) -> list[Subscription]:
    return list(
        Subscription.objects.filter(pk__in=list(ids))
        .select_related(*SUBSCRIPTION_RELATED)
        .prefetch_related(*SUBSCRIPTION_HISTORY)
        .order_by("pk")
    )


def usage_window(subscription: Subscription, billed: Period) -> tuple[datetime.datetime, datetime.datetime]:
    """Usage counts from the first billed day until the period's end, or an immediate cancellation."""
    end_at = billed.end_at
    if subscription.ended_at is not None:
        end_at = max(billed.start_at, min(end_at, subscription.ended_at))
    return billed.start_at, end_at


def invoice_drafts(billed_periods: dict[Subscription, Period]) -> list[InvoiceDraft]:
    """Price each subscription's period; usage comes from grouped queries, not one per customer."""
    windows = {sub.pk: (sub.user_id, usage_window(sub, billed)) for sub, billed in billed_periods.items()}
    tokens = usage_tokens_by_window(windows)
    return [
        invoice_draft(subscription=sub, period=billed, tokens_used=tokens[sub.pk])
        for sub, billed in billed_periods.items()
    ]


def seller_snapshot() -> dict:
    return dict(settings.SELLER)


def buyer_snapshot(user) -> dict:
    profile = _profile(user)
    return {
        "email": profile.invoice_email if profile else user.email,
        "name": (profile.full_name if profile else "") or user.get_full_name() or user.email,
        "company_name": profile.company_name if profile else "",
        "vat_number": profile.vat_number if profile else "",
        "siren": profile.siren if profile else "",
        "address_line1": profile.address_line1 if profile else "",
        "address_line2": profile.address_line2 if profile else "",
        "postal_code": profile.postal_code if profile else "",
        "city": profile.city if profile else "",
        "country": buyer_country(profile.country if profile else ""),
        "language": profile.language if profile else "en",
    }


def _profile(user) -> UserProfile | None:
    try:
        return user.profile
    except UserProfile.DoesNotExist:
        return None


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
    billed = Period(subscription.current_period_start, subscription.current_period_end)
    start_at, end_at = usage_window(subscription, billed)
    window = (start_at, max(start_at, min(end_at, now)))
    tokens = usage_tokens_by_window({subscription.pk: (subscription.user_id, window)})[subscription.pk]
    draft = invoice_draft(subscription=subscription, period=billed, tokens_used=tokens)
    buyer = buyer_snapshot(subscription.user)
    treatment = tax_treatment(country=buyer["country"], vat_number=buyer["vat_number"])
    totals = invoice_totals(subtotal=draft.subtotal, treatment=treatment)
    credits = usable_credits(user_ids=[subscription.user_id], currency=draft.plan.currency, now=now)
    credit_available = sum((credit.remaining_amount for credit in credits), ZERO)
    credit_applied = min(credit_available, totals.total)
    return UpcomingInvoice(
        period=billed,
        currency=draft.plan.currency,
        tokens_used=tokens,
        included_tokens=draft.plan.included_tokens,
        lines=draft.lines,
        subtotal=totals.subtotal,
        tax_rate=totals.tax_rate,
        tax_amount=totals.tax_amount,
        total=totals.total,
        credit_applied=credit_applied,
        amount_due=totals.total - credit_applied,
        reverse_charge=treatment.reverse_charge,
        tax_mention=treatment.mention,
    )


def invoices_missing_documents() -> list[int]:
    """Issued invoices whose PDF was never stored (a worker lost after commit): the daily sweep retries them."""
    return list(
        Invoice.objects.filter(number__isnull=False, pdf="")
        .exclude(status=InvoiceStatus.CANCELLED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def invoice_run_chunks(*, period_end: datetime.date, chunk_size: int, customer=None) -> list[list[int]]:
    """Subscriptions whose current period ends on `period_end`, in primary-key order, cut in chunks."""
    subscriptions = Subscription.objects.filter(current_period_end=period_end)
    if customer is not None:
        subscriptions = subscriptions.filter(user=customer)
    ids = list(subscriptions.order_by("pk").values_list("pk", flat=True))
    return [ids[offset : offset + chunk_size] for offset in range(0, len(ids), chunk_size)]
