"""The finance dashboard's figures: a handful of aggregate queries, cached for five minutes.

Definitions (docs for finance, and what the tests check):

- **MRR** on a day: the sum, over the subscriptions in service that day, of the monthly equivalent of the
  plan in force that day (a MONTH plan's price, a YEAR plan's price / 12), before VAT and usage. In service:
  started on or before the day, not ended on or before it (an immediate cancellation stops the fee on its
  day, an expiry on the period's end), and not paused that day. The plan in force comes from the plan-change
  history, as for invoicing. Only subscriptions in the dashboard's currency count; rounded once, half-up.
- **MRR change**: MRR today minus MRR 30 days ago (same definition on that day), and its ratio to the latter.
- **Invoiced** in a month: totals (VAT included) of the invoices issued that month, less the credit notes
  issued that month. **Collected**: completed payments processed that month, less what was refunded of them.
  Months are calendar months in BILLING_TIME_ZONE; the twelve shown end with the current one.
- **Never the future**: every figure is taken at `now`: an invoice or credit note issued after today, a payment
  processed or tokens used after `now` are not counted yet (rows dated ahead, as imports and demo data may be).
- Every amount is rounded to the cent through `round_money`: SQLite sums through floats
  (`Decimal("377.600000000000")`), PostgreSQL in numeric; both read the same.
- **Outstanding**: amount due on SENT and OVERDUE invoices. **Overdue**: those whose due date has passed;
  aged by days past due: 0–30 (1 to 30 days), 31–60, 61–90, 90+ (91 days and more).
- **Top customers**: tokens used in the current calendar month.
- **Failed invoice emails**: invoice emails whose delivery failed and that no later invoice email for the
  same invoice delivered.
- **VAT by country** over a chosen period (this quarter so far by default, as the OSS return is quarterly): per
  member state whose VAT was charged and per rate, the taxable amount and the VAT of the invoices issued in the
  period less those of the credit notes issued in it (each credit note by what it credits). French VAT is FR
  whoever the buyer (an EU consumer without the One-Stop Shop pays it); another member state's is its own row,
  declared through the OSS. Invoices without VAT (reverse charge, outside the EU) are not in it.
"""
import datetime
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.core.cache import cache
from django.db.models import Count, DecimalField, Exists, F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce, TruncMonth

from billing.models import (
    LIVE_SUBSCRIPTION_STATUSES,
    CreditNote,
    EmailKind,
    EmailNotification,
    EmailStatus,
    Interval,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    Subscription,
    SubscriptionPause,
    SubscriptionPlanChange,
)
from billing.money import ZERO, round_money
from billing.periods import Period, add_months, billing_zone, local_date, period_containing, start_of_day
from billing.pricing import interval_months
from billing.selectors import (
    QuotaUsage,
    current_period,
    customer_live_subscription,
    plan_histories_load,
    quota_usages,
    usage_tokens_by_window,
)
from billing.tax import vat_country
from core.db_router import replica_reads
from libraries.models import UsageLog

CACHE_TIMEOUT = 5 * 60
MRR_LOOKBACK_DAYS = 30
REVENUE_MONTHS = 12
TOP_CUSTOMERS = 10
FAILED_EMAILS_SHOWN = 20
# label, first and last day past due (None: no end)
# Days past due, first and last included; None leaves a side open ("Not yet due": due today or later).
AGING_BUCKETS = (
    ("Not yet due", None, 0), ("1–30 days", 1, 30), ("31–60 days", 31, 60), ("61–90 days", 61, 90),
    ("90+ days", 91, None),
)
OUTSTANDING_STATUSES = (InvoiceStatus.SENT, InvoiceStatus.OVERDUE)
COLLECTED_STATUSES = (PaymentStatus.COMPLETED, PaymentStatus.REFUNDED)
MONEY_FIELD = DecimalField(max_digits=12, decimal_places=2)


@dataclass(frozen=True)
class MonthRevenue:
    month: datetime.date  # the first day
    invoiced: Decimal
    collected: Decimal


@dataclass(frozen=True)
class AgingBucket:
    label: str
    count: int
    amount: Decimal


@dataclass(frozen=True)
class TopCustomer:
    user_id: int
    email: str
    company_name: str
    tokens: int
    plan_name: str
    included_tokens: int | None


@dataclass(frozen=True)
class FailedInvoiceEmail:
    invoice_id: int
    invoice_number: str
    recipient: str
    attempts: int
    last_error: str
    created_at: datetime.datetime


@dataclass(frozen=True)
class CountryVat:
    country: str  # the member state whose VAT it is
    rate: Decimal  # a fraction, as invoices store it
    taxable: Decimal  # before VAT, invoiced less credited
    vat: Decimal


@dataclass(frozen=True)
class DashboardFigures:
    today: datetime.date
    currency: str
    mrr: Decimal
    mrr_before: Decimal  # MRR_LOOKBACK_DAYS ago
    revenue: tuple[MonthRevenue, ...]
    outstanding_amount: Decimal
    outstanding_count: int
    overdue_amount: Decimal
    overdue_count: int
    aging: tuple[AgingBucket, ...]
    top_customers: tuple[TopCustomer, ...]
    failed_emails: tuple[FailedInvoiceEmail, ...]
    failed_email_count: int
    computed_at: datetime.datetime

    @property
    def mrr_change(self) -> Decimal:
        return self.mrr - self.mrr_before

    @property
    def mrr_change_percent(self) -> Decimal | None:
        if not self.mrr_before:
            return None
        return (self.mrr_change * 100 / self.mrr_before).quantize(Decimal("0.1"))


def mrr_at(*, day: datetime.date, currency: str) -> Decimal:
    """MRR on `day` (see the module's definition): one aggregate query."""
    end_of_day = start_of_day(day + datetime.timedelta(days=1))
    changes = SubscriptionPlanChange.objects.filter(subscription=OuterRef("pk"))
    price_in_force = Coalesce(
        Subquery(
            changes.filter(effective_date__lte=day)
            .order_by("-effective_date", "-changed_at", "-id")
            .values("to_plan__price")[:1]
        ),
        Subquery(
            changes.filter(effective_date__gt=day).order_by("effective_date", "changed_at", "id").values(
                "from_plan__price"
            )[:1]
        ),
        F("plan__price"),
        output_field=MONEY_FIELD,
    )
    paused = SubscriptionPause.objects.filter(subscription=OuterRef("pk"), start_date__lte=day).filter(
        Q(end_date__isnull=True) | Q(end_date__gt=day)
    )
    sums = (
        Subscription.objects.filter(plan__currency=currency, started_at__lt=end_of_day)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gte=end_of_day))
        .exclude(Exists(paused))
        .annotate(price_in_force=price_in_force)
        .aggregate(
            monthly=Sum("price_in_force", filter=Q(plan__interval=Interval.MONTH)),
            yearly=Sum("price_in_force", filter=Q(plan__interval=Interval.YEAR)),
        )
    )
    return round_money((sums["monthly"] or ZERO) + (sums["yearly"] or ZERO) / 12)


def _money(total: Decimal | None) -> Decimal:
    """An aggregated amount, None when no row was summed, to the cent."""
    return round_money(ZERO if total is None else total)


def revenue_by_month(
    *, now: datetime.datetime, currency: str, months: int = REVENUE_MONTHS
) -> tuple[MonthRevenue, ...]:
    """Invoiced and collected per calendar month, the last `months` of them ending with this one, up to `now`."""
    today = local_date(now)
    first = add_months(today, -(months - 1))
    issued = (
        Invoice.objects.filter(number__isnull=False, currency=currency, issue_date__gte=first, issue_date__lte=today)
        .annotate(month=TruncMonth("issue_date"))
        .values("month")
        .annotate(amount=Sum("total"))
        .order_by()
    )
    credited = (
        CreditNote.objects.filter(invoice__currency=currency, issue_date__gte=first, issue_date__lte=today)
        .annotate(month=TruncMonth("issue_date"))
        .values("month")
        .annotate(amount=Sum("amount"))
        .order_by()
    )
    collected = (
        Payment.objects.filter(
            currency=currency, status__in=COLLECTED_STATUSES, processed_at__gte=start_of_day(first),
            processed_at__lte=now,
        )
        .annotate(month=TruncMonth("processed_at", tzinfo=billing_zone()))
        .values("month")
        .annotate(amount=Sum(F("amount") - F("refunded_amount")))
        .order_by()
    )

    def by_month(rows) -> dict[datetime.date, Decimal]:
        return {
            (row["month"].date() if isinstance(row["month"], datetime.datetime) else row["month"]): row["amount"]
            for row in rows
        }

    issued_by_month, credited_by_month, collected_by_month = by_month(issued), by_month(credited), by_month(collected)
    return tuple(
        MonthRevenue(
            month=month,
            invoiced=_money(issued_by_month.get(month, ZERO) - credited_by_month.get(month, ZERO)),
            collected=_money(collected_by_month.get(month)),
        )
        for month in (add_months(first, offset) for offset in range(months))
    )


def receivables(*, today: datetime.date, currency: str) -> dict:
    """Outstanding and overdue amounts and counts of the invoices issued so far, and the outstanding ones aged by
    days past due (not yet due first): one aggregate query."""
    overdue = Q(due_date__lt=today)
    aggregates = {
        "outstanding_amount": Sum("amount_due"),
        "outstanding_count": Count("pk"),
        "overdue_amount": Sum("amount_due", filter=overdue),
        "overdue_count": Count("pk", filter=overdue),
    }
    for index, (_, first_day, last_day) in enumerate(AGING_BUCKETS):
        bucket = Q()
        if first_day is not None:
            bucket &= Q(due_date__lte=today - datetime.timedelta(days=first_day))
        if last_day is not None:
            bucket &= Q(due_date__gte=today - datetime.timedelta(days=last_day))
        aggregates[f"bucket_{index}_amount"] = Sum("amount_due", filter=bucket)
        aggregates[f"bucket_{index}_count"] = Count("pk", filter=bucket)
    row = Invoice.objects.filter(
        status__in=OUTSTANDING_STATUSES, currency=currency, issue_date__lte=today
    ).aggregate(**aggregates)
    return {
        "outstanding_amount": _money(row["outstanding_amount"]),
        "outstanding_count": row["outstanding_count"],
        "overdue_amount": _money(row["overdue_amount"]),
        "overdue_count": row["overdue_count"],
        "aging": tuple(
            AgingBucket(label=label, count=row[f"bucket_{index}_count"], amount=_money(row[f"bucket_{index}_amount"]))
            for index, (label, _, _) in enumerate(AGING_BUCKETS)
        ),
    }


def top_customers_by_usage(*, now: datetime.datetime, limit: int = TOP_CUSTOMERS) -> tuple[TopCustomer, ...]:
    """The customers who used the most tokens this calendar month up to `now`, with their live plan."""
    month = period_containing(local_date(now))
    rows = list(
        UsageLog.objects.filter(created_at__gte=month.start_at, created_at__lte=now, user__isnull=False)
        .values("user_id", "user__email", "user__profile__company_name")
        .annotate(tokens=Sum("tokens"))
        .order_by("-tokens", "user_id")[:limit]
    )
    plans = {
        user_id: (name, included)
        for user_id, name, included in Subscription.objects.filter(
            user_id__in=[row["user_id"] for row in rows], status__in=LIVE_SUBSCRIPTION_STATUSES
        ).values_list("user_id", "plan__name", "plan__included_tokens")
    }
    return tuple(
        TopCustomer(
            user_id=row["user_id"],
            email=row["user__email"],
            company_name=row["user__profile__company_name"] or "",
            tokens=row["tokens"],
            plan_name=plans.get(row["user_id"], ("", None))[0],
            included_tokens=plans.get(row["user_id"], ("", None))[1],
        )
        for row in rows
    )


def failed_invoice_emails(*, limit: int = FAILED_EMAILS_SHOWN) -> tuple[int, tuple[FailedInvoiceEmail, ...]]:
    """How many invoice emails failed with no later delivery for the same invoice, and the newest of them."""
    delivered = EmailNotification.objects.filter(
        invoice=OuterRef("invoice"), kind=EmailKind.INVOICE_ISSUED, status=EmailStatus.SENT
    )
    failed = EmailNotification.objects.filter(
        kind=EmailKind.INVOICE_ISSUED, status=EmailStatus.FAILED, invoice__isnull=False
    ).exclude(Exists(delivered))
    rows = failed.select_related("invoice").order_by("-created_at", "-id")[:limit]
    return failed.count(), tuple(
        FailedInvoiceEmail(
            invoice_id=row.invoice_id,
            invoice_number=str(row.invoice),
            recipient=row.recipient,
            attempts=row.attempts,
            last_error=row.last_error,
            created_at=row.created_at,
        )
        for row in rows
    )


@replica_reads()
def vat_by_country(
    *, first_day: datetime.date, last_day: datetime.date, today: datetime.date, currency: str
) -> tuple[CountryVat, ...]:
    """VAT charged from `first_day` to `last_day` (included, never after `today`) per member state and rate, French
    VAT first (see the module's definition): two grouped queries."""
    days = {"issue_date__gte": first_day, "issue_date__lte": min(last_day, today)}
    issued = (
        Invoice.objects.filter(number__isnull=False, currency=currency, tax_rate__gt=0, **days)
        .values_list("buyer_country", "tax_rate", "tax_mention")
        .annotate(Sum("subtotal"), Sum("tax_amount"))
        .order_by()
    )
    credited = (
        CreditNote.objects.filter(invoice__currency=currency, tax_rate__gt=0, **days)
        .values_list("invoice__buyer_country", "tax_rate", "invoice__tax_mention")
        .annotate(Sum("subtotal"), Sum("tax_amount"))
        .order_by()
    )
    sums = defaultdict(lambda: [ZERO, ZERO])
    for rows, sign in ((issued, 1), (credited, -1)):
        for buyer_country, rate, mention, taxable, vat in rows:
            row = sums[vat_country(buyer_country=buyer_country, tax_rate=rate, tax_mention=mention), rate]
            row[0] += sign * taxable
            row[1] += sign * vat
    return tuple(
        CountryVat(country=country, rate=rate, taxable=_money(taxable), vat=_money(vat))
        for (country, rate), (taxable, vat) in sorted(sums.items(), key=lambda item: (item[0][0] != "FR", item[0]))
    )


@replica_reads()  # a back-office report: a replica a few seconds behind serves it and spares the primary
def dashboard_figures(*, now: datetime.datetime, currency: str) -> DashboardFigures:
    today = local_date(now)
    failed_count, failed = failed_invoice_emails()
    return DashboardFigures(
        today=today,
        currency=currency,
        mrr=mrr_at(day=today, currency=currency),
        mrr_before=mrr_at(day=today - datetime.timedelta(days=MRR_LOOKBACK_DAYS), currency=currency),
        revenue=revenue_by_month(now=now, currency=currency),
        **receivables(today=today, currency=currency),
        top_customers=top_customers_by_usage(now=now),
        failed_emails=failed,
        failed_email_count=failed_count,
        computed_at=now,
    )


def dashboard_figures_cached(*, now: datetime.datetime, currency: str, refresh: bool = False) -> DashboardFigures:
    """The figures, computed at most every CACHE_TIMEOUT seconds (per day and currency) unless `refresh`."""
    key = f"billing:admin-dashboard:{local_date(now).isoformat()}:{currency}"
    figures = None if refresh else cache.get(key)
    if figures is None:
        figures = dashboard_figures(now=now, currency=currency)
        cache.set(key, figures, timeout=CACHE_TIMEOUT)
    return figures


@dataclass(frozen=True)
class UsagePeriod:
    period: Period
    tokens: int  # the whole period's
    included_tokens: int | None  # the quota in force at the period's end (or today)
    counted_tokens: int = 0  # what counts against that quota: the whole period's, or since the last plan change
    counted_from: datetime.date | None = None  # the last plan change's day, when the period has several plans

    @property
    def percent(self) -> int | None:
        if not self.included_tokens:
            return None
        return round(self.counted_tokens * 100 / self.included_tokens)


def customer_usage(*, user, today: datetime.date) -> tuple[UsagePeriod, UsagePeriod]:
    """Tokens the customer used in their current billing period and in the one before (calendar months when
    they have no live subscription), each against the quota in force at its end as the limits count it: after
    a plan change, the new plan's share and the tokens since the change."""
    subscription = customer_live_subscription(user=user)
    if subscription is None:
        current = period_containing(today)
        previous = Period(add_months(current.start, -1), current.start)
        tokens = usage_tokens_by_window({
            index: (user.pk, (period.start_at, period.end_at)) for index, period in enumerate((current, previous))
        })
        return (
            UsagePeriod(period=current, tokens=tokens[0], included_tokens=None),
            UsagePeriod(period=previous, tokens=tokens[1], included_tokens=None),
        )
    plan_histories_load([subscription])
    now = start_of_day(today)
    current = current_period(subscription, now=now)
    previous = Period(add_months(current.start, -interval_months(subscription.plan)), current.start)
    return tuple(
        _usage_against_quota(quota_usages({subscription: period}, now=now)[subscription])
        for period in (current, previous)
    )


def _usage_against_quota(quota: QuotaUsage) -> UsagePeriod:
    segment_start = quota.segment.period.start
    return UsagePeriod(
        period=quota.period, tokens=sum(quota.segment_tokens), included_tokens=quota.included_tokens,
        counted_tokens=quota.tokens_used,
        counted_from=segment_start if segment_start != quota.period.start else None,
    )
