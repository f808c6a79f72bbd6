"""Builds the demo world of `manage.py seed_demo`: plans, staff, customers, keys, catalogue, and a year of usage
and billing history (invoices, payments, credits, alerts, consents, a scheduled downgrade).

Every row is found again by a natural key (plan code, email, key prefix, library slug, usage event id, a
subscription's period, a payment's or credit's idempotency key, an alert's occasion), so a second run adds
nothing. Random choices come from generators seeded by what they describe, never from the order of the run, so
that two runs on the same day build the same data. History goes through the billing services, month after
month, as the scheduler would have run them, so that numbers, balances and the audit chain hold.
"""
import calendar
import datetime
import hashlib
import random
import secrets
import string
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Max, Q

from accounts.models import ApiKey, ConsentPurpose, Language, User, UserProfile
from accounts.services import audit_log_record, consent_record
from billing.models import (
    LIVE_SUBSCRIPTION_STATUSES,
    BillingAlert,
    Interval,
    Invoice,
    InvoiceStatus,
    PaymentMethod,
    PaymentStatus,
    Plan,
    Subscription,
    SubscriptionPlanChange,
    SubscriptionStatus,
)
from billing.periods import Period, add_months, local_date, period_containing, start_of_day
from billing.pricing import interval_months
from billing.roles import FINANCE_GROUP, finance_group_ensure
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
from libraries.models import DocumentationChunk, Library, LibraryVersion, UsageLog
from libraries.partitions import usage_partitions_cover

from .catalogue import LIBRARIES, LibrarySeed
from .customers import CREDITS, CUSTOMERS, DEMO_CUSTOMER, CreditSeed, CustomerSeed

SEED = "twinmcp-demo"
# The history starts this many months before the current one: January of this year at the latest, and the charts
# show a year with the current month.
HISTORY_MONTHS = 11
PAID_SHARE_OF_LATEST = 0.6  # the rest of last month's invoices are still to pay
USAGE_BATCH_SIZE = 1000
CREDIT_VALIDITY = datetime.timedelta(days=365)
# Addresses (RFC 5737 documentation range) and browsers the customers accepted the terms from.
CONSENT_NETWORK = "203.0.113."
CONSENT_USER_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
    "Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
)

DEMO_PASSWORD = "demo-password"
FINANCE_EMAIL = "finance@twinmcp.dev"
FINANCE_PASSWORD = "finance-password"
ADMIN_EMAIL = "admin@twinmcp.dev"
ADMIN_PASSWORD = "admin-password"
# Who signs in, and the page where each begins, as URL names.
LOGINS = (
    ("Demo customer", DEMO_CUSTOMER.email, DEMO_PASSWORD, "accounts:login"),
    ("Finance", FINANCE_EMAIL, FINANCE_PASSWORD, "admin:index"),
    ("Admin", ADMIN_EMAIL, ADMIN_PASSWORD, "admin:index"),
)

KEY_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
KEY_SECRET_ALPHABET = string.ascii_letters + string.digits
CUSTOMER_KEY_NAMES = ("Production", "CI pipeline")
DOCS_READ = ["docs:read"]
USAGE_WRITE = ["usage:write"]

PLANS = (
    {
        "code": "free", "name": "Free", "price": Decimal("0.00"), "interval": Interval.MONTH,
        "included_tokens": 100_000, "overage_price_per_million": Decimal("0.00"), "requests_per_minute": 10,
    },
    {
        "code": "pro", "name": "Pro", "price": Decimal("19.00"), "interval": Interval.MONTH,
        "included_tokens": 5_000_000, "overage_price_per_million": Decimal("2.00"), "requests_per_minute": 60,
    },
    {
        "code": "team", "name": "Team", "price": Decimal("99.00"), "interval": Interval.MONTH,
        "included_tokens": 50_000_000, "overage_price_per_million": Decimal("1.50"), "requests_per_minute": 300,
    },
    {
        "code": "enterprise", "name": "Enterprise", "price": Decimal("9900.00"), "interval": Interval.YEAR,
        "included_tokens": 1_000_000_000, "overage_price_per_million": Decimal("1.00"),
        "requests_per_minute": 1000,
    },
)


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
    "team": UsageProfile(calls_per_day=(2, 5), share_of_quota=(0.06, 0.18)),
    "enterprise": UsageProfile(calls_per_day=(3, 6), share_of_quota=(0.1, 0.18)),
}
# Far enough above 1 that the month's total exceeds the quota whatever the draws.
OVER_QUOTA_PROFILE = UsageProfile(calls_per_day=(4, 8), share_of_quota=(1.2, 1.4))


@dataclass(frozen=True)
class SeedSummary:
    # The demo customer's first key, only on the run that created it: the secret is never stored.
    demo_api_token: str | None
    demo_api_key_prefix: str


@dataclass(frozen=True)
class SeededCustomer:
    seed: CustomerSeed
    user: User
    plan: Plan
    subscription: Subscription
    api_keys: list[ApiKey]
    favourite_slugs: list[str]
    usage_from: datetime.date  # the first day billed in the demo's history


@transaction.atomic
def seed_demo(*, now: datetime.datetime) -> SeedSummary:
    """Loads the demo world as it stands at `now`, with a history from the first of the month 11 months back."""
    today = local_date(now)
    history_from = add_months(today, -HISTORY_MONTHS)
    plans = {plan.code: plan for plan in _seed_plans()}
    _seed_staff(today=today)
    catalogue = _seed_catalogue()
    demo, demo_tokens = _seed_customer(
        DEMO_CUSTOMER, plan=plans[DEMO_CUSTOMER.plan_code], history_from=history_from
    )
    customers = [demo] + [
        _seed_customer(customer_seed, plan=plans[customer_seed.plan_code], history_from=history_from)[0]
        for customer_seed in CUSTOMERS
    ]
    _seed_consents(customers, now=now)
    _seed_usage(customers, catalogue=catalogue, now=now, today=today)
    _seed_api_key_use(customers)
    _seed_billing_history(customers, history_from=history_from, now=now, today=today)
    _seed_scheduled_downgrades(customers, plans=plans, now=now)
    return SeedSummary(
        demo_api_token=demo_tokens[0],
        demo_api_key_prefix=demo.api_keys[0].prefix,
    )


# Plans, staff and the catalogue


def _seed_plans() -> list[Plan]:
    return [
        Plan.objects.update_or_create(
            code=plan["code"], defaults={**plan, "currency": "EUR", "is_active": True}
        )[0]
        for plan in PLANS
    ]


def _seed_staff(*, today: datetime.date) -> None:
    joined_at = start_of_day(add_months(today, -24)) + datetime.timedelta(hours=9)
    finance, _ = _get_or_create_user(
        email=FINANCE_EMAIL, password=FINANCE_PASSWORD, full_name="Claire Fontaine", joined_at=joined_at,
        is_staff=True,
    )
    finance.groups.add(_finance_group())
    admin, _ = _get_or_create_user(
        email=ADMIN_EMAIL, password=ADMIN_PASSWORD, full_name="Hugo Lefèvre", joined_at=joined_at,
        is_staff=True, is_superuser=True,
    )
    for user in (finance, admin):
        UserProfile.objects.get_or_create(
            user=user,
            defaults={
                "full_name": user.get_full_name(), "company_name": settings.SELLER["name"], "country": "FR",
                "language": Language.FRENCH, "billing_email": user.email,
            },
        )
    _get_or_create_api_key(
        user=admin, name="Documentation server", scopes=USAGE_WRITE,
        prefix=_key_prefix("documentation-server"), created_at=joined_at,
    )


def _finance_group() -> Group:
    """The group migration billing.0004 created, its permissions as finance left them; made again only on a
    database emptied since its migrations ran (a flushed test database)."""
    try:
        return Group.objects.get(name=FINANCE_GROUP)
    except Group.DoesNotExist:
        return finance_group_ensure()


def _seed_catalogue() -> dict[str, tuple[Library, LibraryVersion]]:
    """Each library with its latest version, by slug."""
    return {library_seed.slug: _seed_library(library_seed) for library_seed in LIBRARIES}


def _seed_library(library_seed: LibrarySeed) -> tuple[Library, LibraryVersion]:
    library, _ = Library.objects.update_or_create(
        slug=library_seed.slug,
        defaults={
            "name": library_seed.name,
            "description": library_seed.description,
            "homepage_url": library_seed.homepage_url,
            "repository_url": library_seed.repository_url,
        },
    )
    *older_versions, latest_version = library_seed.versions
    # The older versions give up "latest" first: only one version of a library may hold it.
    for version, released_on in older_versions:
        _seed_version(library, version=version, released_on=released_on, is_latest=False)
    latest = _seed_version(library, version=latest_version[0], released_on=latest_version[1], is_latest=True)
    for position, chunk in enumerate(library_seed.chunks):
        DocumentationChunk.objects.update_or_create(
            version=latest,
            position=position,
            defaults={
                "title": chunk.title,
                "content": chunk.content,
                "tokens": len(chunk.content) // 4,
                "source_url": library_seed.docs_url + chunk.path,
            },
        )
    return library, latest


def _seed_version(library: Library, *, version: str, released_on: datetime.date, is_latest: bool) -> LibraryVersion:
    released_at = datetime.datetime.combine(released_on, datetime.time(12), tzinfo=datetime.UTC)
    return LibraryVersion.objects.update_or_create(
        library=library, version=version, defaults={"released_at": released_at, "is_latest": is_latest}
    )[0]


# Customers


def _seed_customer(
    customer_seed: CustomerSeed, *, plan: Plan, history_from: datetime.date
) -> tuple[SeededCustomer, list[str | None]]:
    """The customer, profile, live subscription and API keys; with each key's token when this run created it."""
    rng = random.Random(f"{SEED}:customer:{customer_seed.email}")
    if customer_seed.subscribed_on_day:
        started_on = add_months(history_from, -1).replace(day=customer_seed.subscribed_on_day)
        usage_from = started_on
    else:
        started_on = add_months(history_from, -rng.randint(0, 12))
        usage_from = history_from
    started_at = start_of_day(started_on) + datetime.timedelta(hours=rng.randint(8, 18), minutes=rng.randint(0, 59))
    is_demo = customer_seed is DEMO_CUSTOMER
    user, _ = _get_or_create_user(
        email=customer_seed.email,
        password=DEMO_PASSWORD if is_demo else None,
        full_name=customer_seed.full_name,
        joined_at=started_at - datetime.timedelta(days=rng.randint(0, 20)),
    )
    _seed_profile(user, customer_seed)
    subscription = _seed_subscription(user, plan=plan, started_at=started_at, billed_from=usage_from)
    key_count = 2 if is_demo else rng.randint(1, len(CUSTOMER_KEY_NAMES))
    keys_and_tokens = [
        _get_or_create_api_key(
            user=user, name=name, scopes=DOCS_READ, prefix=_key_prefix(f"{customer_seed.email}:{index}"),
            created_at=started_at + datetime.timedelta(days=index * rng.randint(1, 30)),
        )
        for index, name in enumerate(CUSTOMER_KEY_NAMES[:key_count])
    ]
    favourite_slugs = rng.sample([library.slug for library in LIBRARIES], k=rng.randint(2, 4))
    customer = SeededCustomer(
        seed=customer_seed,
        user=user,
        plan=plan,
        subscription=subscription,
        api_keys=[key for key, _ in keys_and_tokens],
        favourite_slugs=favourite_slugs,
        usage_from=usage_from,
    )
    return customer, [token for _, token in keys_and_tokens]


def _get_or_create_user(
    *, email: str, password: str | None, full_name: str, joined_at: datetime.datetime, **flags: bool
) -> tuple[User, bool]:
    """Only a new user gets a password (none usable when `password` is None): a rerun keeps changed ones."""
    try:
        return User.objects.get(email=email), False
    except User.DoesNotExist:
        first_name, _, last_name = full_name.partition(" ")
        user = User.objects.create_user(
            email=email, password=password, first_name=first_name, last_name=last_name, date_joined=joined_at,
            **flags,
        )
        return user, True


def _seed_profile(user: User, customer_seed: CustomerSeed) -> None:
    UserProfile.objects.get_or_create(
        user=user,
        defaults={
            "full_name": customer_seed.full_name,
            "company_name": customer_seed.company_name,
            "vat_number": customer_seed.vat_number,
            "address_line1": customer_seed.address_line1,
            "address_line2": customer_seed.address_line2,
            "postal_code": customer_seed.postal_code,
            "city": customer_seed.city,
            "country": customer_seed.country,
            "billing_email": customer_seed.billing_email or customer_seed.email,
            "phone": customer_seed.phone,
            "language": Language.FRENCH if customer_seed.country == "FR" else Language.ENGLISH,
        },
    )


def _seed_subscription(
    user: User, *, plan: Plan, started_at: datetime.datetime, billed_from: datetime.date
) -> Subscription:
    """The live subscription; a new one stands in the period holding `billed_from`, for the invoice runs of the
    history to roll it to today's. A subscription that began within that period has its first days only."""
    try:  # a user holds one live subscription at most (a unique constraint)
        return Subscription.objects.get(user=user, status__in=LIVE_SUBSCRIPTION_STATUSES)
    except Subscription.DoesNotExist:
        pass
    started_on = local_date(started_at)
    period = period_containing(billed_from, months=interval_months(plan), anchor=started_on)
    subscription = Subscription.objects.create(
        user=user,
        plan=plan,
        status=SubscriptionStatus.ACTIVE,
        current_period_start=max(period.start, started_on),
        current_period_end=period.end,
        started_at=started_at,
    )
    audit_log_record(action="subscription.create", obj=subscription, changes={"plan": plan.code, "by": "seed_demo"})
    return subscription


def _key_prefix(label: str) -> str:
    return "".join(random.Random(f"{SEED}:api-key:{label}").choices(KEY_PREFIX_ALPHABET, k=8))


def _get_or_create_api_key(
    *, user: User, name: str, scopes: list[str], prefix: str, created_at: datetime.datetime
) -> tuple[ApiKey, str | None]:
    """The key with this prefix; when it is new, also its token `tmcp_<prefix>_<secret>`, never to be seen again."""
    try:
        return ApiKey.objects.get(prefix=prefix), None
    except ApiKey.DoesNotExist:
        secret = "".join(secrets.choice(KEY_SECRET_ALPHABET) for _ in range(40))
        key = ApiKey.objects.create(
            user=user,
            name=name,
            prefix=prefix,
            key_hash=hashlib.sha256(secret.encode()).hexdigest(),
            scopes=scopes,
            created_at=created_at,
        )
        audit_log_record(
            action="api_key.create", obj=key, changes={"name": name, "scopes": scopes, "by": "seed_demo"}
        )
        return key, f"tmcp_{prefix}_{secret}"


# Usage


def _seed_usage(
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


def _seed_api_key_use(customers: list[SeededCustomer]) -> None:
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


# Consents


def _seed_consents(customers: list[SeededCustomer], *, now: datetime.datetime) -> None:
    """Every customer accepted the terms as they signed up, and chose about marketing emails and usage analytics;
    some withdrew the marketing emails later. A customer holding any consent record already is left as is."""
    for customer in customers:
        user = customer.user
        if user.consents.exists():
            continue
        rng = random.Random(f"{SEED}:consent:{customer.seed.email}")
        signed_up_at = user.date_joined
        where = {"ip_address": f"{CONSENT_NETWORK}{rng.randint(1, 254)}", "user_agent": rng.choice(CONSENT_USER_AGENTS)}
        consent_record(user=user, purpose=ConsentPurpose.TERMS, granted=True, now=signed_up_at, **where)
        consent_record(
            user=user, purpose=ConsentPurpose.USAGE_ANALYTICS, granted=rng.random() < 0.7, now=signed_up_at, **where
        )
        wants_marketing = rng.random() < 0.5
        consent_record(
            user=user, purpose=ConsentPurpose.MARKETING_EMAIL, granted=wants_marketing, now=signed_up_at, **where
        )
        if wants_marketing and rng.random() < 0.3:
            withdrawn_at = min(signed_up_at + datetime.timedelta(days=rng.randint(30, 200)), now)
            consent_record(
                user=user, purpose=ConsentPurpose.MARKETING_EMAIL, granted=False, now=withdrawn_at, **where
            )


# Billing history


def _seed_billing_history(
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


# Scheduled downgrade


def _seed_scheduled_downgrades(
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
