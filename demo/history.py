"""A year of the demo customers' history: their calls to the documentation API, then their billing month after
month through the billing services, as the scheduler would have run them (usage alerts, credits, invoice runs,
payments, overdue invoices), and the downgrades they chose this period.
"""
import calendar
import datetime
import random
from dataclasses import dataclass

from django.db.models import Max, Q

from accounts.models import ApiKey, User
from billing.models import (
    BillingAlert,
    Invoice,
    InvoiceStatus,
    PaymentMethod,
    PaymentStatus,
    Plan,
    Subscription,
    SubscriptionPlanChange,
)
from billing.periods import Period, add_months, start_of_day
from billing.pricing import interval_months
from billing.services import (
    alert_mark_read,
    credit_grant,
    invoice_run,
    invoices_mark_overdue_due,
    payment_fail,
    payment_record,
    subscription_change_plan,
    usage_threshold_alerts_raise,
)
from libraries.models import Library, LibraryVersion, UsageLog
from libraries.partitions import usage_partitions_cover

from .customers import CREDITS, CreditSeed
from .people import SEED, SeededCustomer

PAID_SHARE_OF_LATEST = 0.6  # the rest of last month's invoices are still to pay
USAGE_BATCH_SIZE = 1000
CREDIT_VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class UsageProfile:
    calls_per_day: tuple[int, int]
    # Tokens used in a month, as a share of a month's worth of the plan's quota.
    share_of_quota: tuple[float, float]


# A few events a day, each standing for a batch of calls (the documentation server reports usage in batches):
# a year of it stays quick to load, even on SQLite.
USAGE_PROFILES = {
    # Free stays well under its hard cap: calls beyond it would have been refused.
    "free": UsageProfile(calls_per_day=(1, 2), share_of_quota=(0.35, 0.8)),
    "pro": UsageProfile(calls_per_day=(1, 4), share_of_quota=(0.25, 0.8)),
    # Scale (graduated) is used past its quota every month, by more than its first tier: its invoices show the
    # tokens of two tiers on two lines.
    "scale": UsageProfile(calls_per_day=(3, 6), share_of_quota=(2.3, 2.7)),
    "team": UsageProfile(calls_per_day=(2, 5), share_of_quota=(0.06, 0.18)),
    "enterprise": UsageProfile(calls_per_day=(3, 6), share_of_quota=(0.1, 0.18)),
}
# Far enough above 1 that the month's total exceeds the quota whatever the draws.
OVER_QUOTA_PROFILE = UsageProfile(calls_per_day=(4, 8), share_of_quota=(1.2, 1.4))


# Usage


def seed_usage(
    customers: list[SeededCustomer],
    *,
    catalogue: dict[str, tuple[Library, LibraryVersion]],
    now: datetime.datetime,
    today: datetime.date,
) -> None:
    logs = [
        log
        for customer in customers
        for offset in range((today - customer.usage_from).days + 1)
        for log in _usage_of_day(
            customer, day=customer.usage_from + datetime.timedelta(days=offset), catalogue=catalogue, now=now,
            today=today,
        )
    ]
    # Each month of the history in its own partition on PostgreSQL, as the invoice run and retention expect, rather
    # than in the DEFAULT partition that the daily task only empties for the months ahead.
    usage_partitions_cover(start_of_day(min(customer.usage_from for customer in customers)), now)
    # A re-run finds its events there: only the new ones go in (PostgreSQL keeps event ids unique by a trigger
    # on the partitioned table, which ON CONFLICT cannot absorb).
    seeded = set(UsageLog.objects.filter(event_id__startswith="seed-").values_list("event_id", flat=True))
    UsageLog.objects.bulk_create([log for log in logs if log.event_id not in seeded], batch_size=USAGE_BATCH_SIZE)


def _usage_of_day(
    customer: SeededCustomer,
    *,
    day: datetime.date,
    catalogue: dict[str, tuple[Library, LibraryVersion]],
    now: datetime.datetime,
    today: datetime.date,
) -> list[UsageLog]:
    profile, daily_tokens = _usage_of_month(customer, month=day.replace(day=1), today=today)
    rng = random.Random(f"{SEED}:usage:{customer.seed.email}:{day.isoformat()}")
    calls = rng.randint(*profile.calls_per_day)
    tokens_per_call = daily_tokens / calls
    # No call before the subscription began, nor with a key not made yet (the first key comes with the subscription).
    day_start = max(start_of_day(day), customer.subscription.started_at)
    keys = [key for key in customer.api_keys if key.created_at <= day_start] or customer.api_keys[:1]
    # Today's calls all happened before `now`; their number does not depend on the hour, so reruns find them.
    day_end = now if day == today else start_of_day(day + datetime.timedelta(days=1))
    logs = []
    for number in range(calls):
        library, version = catalogue[rng.choice(customer.favourite_slugs)]
        tokens = max(200, round(tokens_per_call * rng.uniform(0.6, 1.4)))
        logs.append(
            UsageLog(
                user=customer.user,
                api_key=rng.choice(keys),
                library=library,
                library_version=version,
                endpoint=f"/api/libraries/{library.slug}/docs/",
                tokens=tokens,
                status_code=200,
                duration_ms=rng.randint(40, 250) + tokens // 200,
                event_id=f"seed-{customer.user.pk}-{day.isoformat()}-{number}",
                created_at=day_start + (day_end - day_start) * rng.random(),
            )
        )
    return logs


def _usage_of_month(
    customer: SeededCustomer, *, month: datetime.date, today: datetime.date
) -> tuple[UsageProfile, float]:
    """How the customer used the API in `month`: its profile, and the tokens of an average day."""
    months_ago = (today.year - month.year) * 12 + today.month - month.month
    if months_ago and months_ago == customer.seed.over_quota_months_ago:
        profile = OVER_QUOTA_PROFILE
    else:
        profile = USAGE_PROFILES[customer.plan.code]
    share = random.Random(f"{SEED}:month:{customer.seed.email}:{month.isoformat()}").uniform(*profile.share_of_quota)
    monthly_quota = customer.plan.included_tokens / interval_months(customer.plan)
    return profile, monthly_quota * share / calendar.monthrange(month.year, month.month)[1]


def seed_api_key_use(customers: list[SeededCustomer]) -> None:
    """Each key was last used at its latest call (the product writes `last_used_at` the same way, as it
    authenticates); a key used since the seed keeps its later use."""
    keys = [key.pk for customer in customers for key in customer.api_keys]
    latest_calls = (
        UsageLog.objects.filter(api_key__in=keys).values("api_key").annotate(last_call_at=Max("created_at"))
    )
    for row in latest_calls.order_by("api_key"):
        ApiKey.objects.filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=row["last_call_at"]), pk=row["api_key"]
        ).update(last_used_at=row["last_call_at"])


# Billing history


def seed_billing_history(
    customers: list[SeededCustomer], *, history_from: datetime.date, now: datetime.datetime, today: datetime.date
) -> None:
    """Month after month from `history_from`, as the scheduler would have done it: the usage alerts of the month's
    last day, the credits granted in the month, the invoice run that ends it, then that run's payments. Today, the
    alerts of this period so far and the daily overdue sweep.

    Invoices are paid within three weeks, but for the months customers left unpaid (OVERDUE by now) and some of the
    latest run's, still due. Documents are left to be rendered when first downloaded; the payments' receipts are
    emailed. Nothing happens after `now`: a seed just after midnight on the 1st runs that month's invoices at once,
    and a payment whose day is still to come is made at `now`. A rerun finds every period invoiced, every credit and
    payment by its idempotency key, every alert by its occasion.
    """
    this_month = today.replace(day=1)
    users = {customer.seed.email: customer.user for customer in customers}
    unpaid = {
        (customer.user.pk, add_months(this_month, 1 - months_ago))
        for customer in customers
        for months_ago in customer.seed.unpaid_months_ago
    }
    period_end = history_from
    while period_end <= this_month:
        month = Period(add_months(period_end, -1), period_end)
        usage_threshold_alerts_raise(now=min(month.end_at - datetime.timedelta(minutes=5), now))
        for credit_seed in CREDITS:
            if add_months(this_month, -credit_seed.months_ago) == month.start:
                _grant_credit(credit_seed, user=users[credit_seed.email], month=month)
        run_at = min(month.end_at + datetime.timedelta(hours=2), now)
        invoice_run(period_end=period_end, now=run_at, issue_documents=False)
        _pay_invoices(period_end=period_end, unpaid=unpaid, now=now, latest=period_end == this_month)
        period_end = add_months(period_end, 1)
    usage_threshold_alerts_raise(now=now)
    _read_alerts(before=start_of_day(this_month), now=now)
    invoices_mark_overdue_due(now=now)


def _grant_credit(credit_seed: CreditSeed, *, user: User, month: Period) -> None:
    granted_at = month.start_at + datetime.timedelta(days=9, hours=11)
    credit_grant(
        user=user, type=credit_seed.type, amount=credit_seed.amount, reason=credit_seed.reason,
        expires_at=granted_at + CREDIT_VALIDITY,
        idempotency_key=f"seed:credit:{credit_seed.email}:{month.start:%Y-%m}", now=granted_at,
    )


def _pay_invoices(
    *, period_end: datetime.date, unpaid: set[tuple[int, datetime.date]], now: datetime.datetime, latest: bool
) -> None:
    """Pays the invoices of the periods that ended on `period_end` (those credits did not settle at issue), but for
    the unpaid ones, whose direct debit failed, and, of the latest run, those whose draw says they are still to pay."""
    due = Invoice.objects.filter(status=InvoiceStatus.SENT, period_end=period_end).order_by("number")
    for invoice in due:
        rng = random.Random(f"{SEED}:payment:{invoice.number}")
        if (invoice.user_id, period_end) in unpaid:
            _fail_direct_debit(invoice, now=now)
            continue
        if latest and rng.random() > PAID_SHARE_OF_LATEST:
            continue
        paid_at = min(start_of_day(invoice.issue_date) + datetime.timedelta(days=rng.randint(2, 20), hours=10), now)
        payment_record(
            invoice=invoice, amount=invoice.amount_due, idempotency_key=f"seed:payment:{invoice.number}",
            method=PaymentMethod.BANK_TRANSFER if rng.random() < 0.5 else PaymentMethod.SEPA_DEBIT,
            provider_reference=f"seed-{invoice.number}", now=paid_at,
        )


def _fail_direct_debit(invoice: Invoice, *, now: datetime.datetime) -> None:
    """A SEPA debit of the invoice, returned by the bank a few days later: a PAYMENT_FAILED alert, and the invoice
    stays due."""
    debited_at = min(start_of_day(invoice.issue_date) + datetime.timedelta(days=5, hours=6), now)
    payment = payment_record(
        invoice=invoice, amount=invoice.amount_due, idempotency_key=f"seed:payment:{invoice.number}",
        method=PaymentMethod.SEPA_DEBIT, provider_reference=f"seed-{invoice.number}", status=PaymentStatus.PENDING,
        now=debited_at,
    )
    if payment.status == PaymentStatus.PENDING:
        payment_fail(
            payment=payment, reason="Insufficient funds (SEPA return code AM04)",
            now=min(debited_at + datetime.timedelta(days=3), now),
        )


def _read_alerts(*, before: datetime.datetime, now: datetime.datetime) -> None:
    """The customers read their alerts of the past months the day after; this month's are still unread."""
    for alert in BillingAlert.objects.filter(created_at__lt=before, read_at__isnull=True).order_by("pk"):
        alert_mark_read(alert=alert, now=min(alert.created_at + datetime.timedelta(days=1), now))


# Scheduled downgrades


def seed_scheduled_downgrades(
    customers: list[SeededCustomer], *, plans: dict[str, Plan], now: datetime.datetime
) -> None:
    """Customers who chose a smaller plan a few days ago: it waits for the end of their current period. A
    subscription with any plan change in its history is left as it is (a rerun, or the downgrade taken since)."""
    for customer in customers:
        code = customer.seed.downgrade_to_plan_code
        if not code or SubscriptionPlanChange.objects.filter(subscription=customer.subscription).exists():
            continue
        subscription = Subscription.objects.get(pk=customer.subscription.pk)
        chosen_at = max(start_of_day(subscription.current_period_start), now - datetime.timedelta(days=3))
        subscription_change_plan(subscription=subscription, plan=plans[code], now=chosen_at)
