"""Builds the demo world of `manage.py seed_demo`: plans, staff, customers, keys, catalogue and usage.

Every row is found again by a natural key (plan code, email, key prefix, library slug, usage event id), so a
second run adds nothing. Random choices come from generators seeded by what they describe, never from the
order of the run, so that two runs on the same day build the same data.
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

from accounts.models import ApiKey, Language, User, UserProfile
from accounts.services import audit_log_record
from billing.models import (
    LIVE_SUBSCRIPTION_STATUSES,
    Interval,
    Invoice,
    InvoiceStatus,
    PaymentMethod,
    Plan,
    Subscription,
    SubscriptionStatus,
)
from billing.periods import add_months, local_date, period_containing, start_of_day
from billing.pricing import interval_months
from billing.roles import FINANCE_GROUP, finance_group_ensure
from billing.services import invoice_run, payment_record
from libraries.models import DocumentationChunk, Library, LibraryVersion, UsageLog

from .demo_data import CUSTOMERS, DEMO_CUSTOMER, LIBRARIES, CustomerSeed, LibrarySeed

SEED = "twinmcp-demo"
USAGE_MONTHS = 3
BILLED_MONTHS = USAGE_MONTHS - 1  # the past months invoiced by the demo
PAID_SHARE_OF_LATEST = 0.6  # the rest of last month's invoices are still to pay
USAGE_BATCH_SIZE = 1000

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


USAGE_PROFILES = {
    # Free stays well under its hard cap: calls beyond it would have been refused.
    "free": UsageProfile(calls_per_day=(1, 3), share_of_quota=(0.35, 0.8)),
    "pro": UsageProfile(calls_per_day=(3, 8), share_of_quota=(0.25, 0.8)),
    "team": UsageProfile(calls_per_day=(8, 16), share_of_quota=(0.06, 0.18)),
    "enterprise": UsageProfile(calls_per_day=(12, 20), share_of_quota=(0.1, 0.18)),
}
# Far enough above 1 that the month's total exceeds the quota whatever the draws.
OVER_QUOTA_PROFILE = UsageProfile(calls_per_day=(10, 16), share_of_quota=(1.2, 1.4))


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
    api_keys: list[ApiKey]
    favourite_slugs: list[str]


@transaction.atomic
def seed_demo(*, now: datetime.datetime) -> SeedSummary:
    """Loads the demo world as it stands at `now`; usage covers this month so far and the two before."""
    today = local_date(now)
    plans = {plan.code: plan for plan in _seed_plans()}
    _seed_staff(today=today)
    catalogue = _seed_catalogue()
    demo, demo_tokens = _seed_customer(DEMO_CUSTOMER, plan=plans[DEMO_CUSTOMER.plan_code], today=today)
    customers = [demo] + [
        _seed_customer(customer_seed, plan=plans[customer_seed.plan_code], today=today)[0]
        for customer_seed in CUSTOMERS
    ]
    _seed_usage(customers, catalogue=catalogue, now=now, today=today)
    _seed_billing_history(now=now, today=today)
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
    customer_seed: CustomerSeed, *, plan: Plan, today: datetime.date
) -> tuple[SeededCustomer, list[str | None]]:
    """The customer, profile, live subscription and API keys; with each key's token when this run created it."""
    rng = random.Random(f"{SEED}:customer:{customer_seed.email}")
    started_on = add_months(today, -rng.randint(USAGE_MONTHS, 18))
    started_at = start_of_day(started_on) + datetime.timedelta(hours=rng.randint(8, 18), minutes=rng.randint(0, 59))
    is_demo = customer_seed is DEMO_CUSTOMER
    user, _ = _get_or_create_user(
        email=customer_seed.email,
        password=DEMO_PASSWORD if is_demo else None,
        full_name=customer_seed.full_name,
        joined_at=started_at - datetime.timedelta(days=rng.randint(0, 20)),
    )
    _seed_profile(user, customer_seed)
    _seed_subscription(user, plan=plan, started_at=started_at, today=today)
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
        api_keys=[key for key, _ in keys_and_tokens],
        favourite_slugs=favourite_slugs,
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


def _seed_subscription(user: User, *, plan: Plan, started_at: datetime.datetime, today: datetime.date) -> None:
    if Subscription.objects.filter(user=user, status__in=LIVE_SUBSCRIPTION_STATUSES).exists():
        return
    # Monthly customers start the demo two periods back, so that the invoice runs below give them history.
    months = interval_months(plan)
    billed_from = today if months > 1 else add_months(today, -BILLED_MONTHS)
    period = period_containing(billed_from, months=months, anchor=local_date(started_at))
    subscription = Subscription.objects.create(
        user=user,
        plan=plan,
        status=SubscriptionStatus.ACTIVE,
        current_period_start=period.start,
        current_period_end=period.end,
        started_at=started_at,
    )
    audit_log_record(action="subscription.create", obj=subscription, changes={"plan": plan.code, "by": "seed_demo"})


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
    first_day = add_months(today, -(USAGE_MONTHS - 1))
    days = [first_day + datetime.timedelta(days=offset) for offset in range((today - first_day).days + 1)]
    logs = [
        log
        for customer in customers
        for day in days
        for log in _usage_of_day(customer, day=day, catalogue=catalogue, now=now, today=today)
    ]
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
    day_start = start_of_day(day)
    # Today's calls all happened before `now`; their number does not depend on the hour, so reruns find them.
    day_end = now if day == today else start_of_day(day + datetime.timedelta(days=1))
    logs = []
    for number in range(calls):
        library, version = catalogue[rng.choice(customer.favourite_slugs)]
        tokens = max(200, round(tokens_per_call * rng.uniform(0.6, 1.4)))
        logs.append(
            UsageLog(
                user=customer.user,
                api_key=rng.choice(customer.api_keys),
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


def _seed_billing_history(*, now: datetime.datetime, today: datetime.date) -> None:
    """The invoice runs of the past months, as the scheduler would have made them, then the payments.

    Older invoices are paid; of the latest run's, some are paid and the rest still due. Documents are left to be
    rendered when first downloaded; the payments' receipts are emailed. Nothing happens after `now`: a seed just
    after midnight on the 1st runs that month's invoices at once, and a payment whose day is still to come is
    made at `now`. A rerun finds every period invoiced and pays nothing twice.
    """
    this_month = today.replace(day=1)
    for months_back in range(BILLED_MONTHS - 1, -1, -1):
        period_end = add_months(this_month, -months_back)
        run_at = min(start_of_day(period_end) + datetime.timedelta(hours=2), now)
        invoice_run(period_end=period_end, now=run_at, issue_documents=False)
    unpaid = Invoice.objects.filter(status=InvoiceStatus.SENT, number__isnull=False).order_by("number")
    for invoice in unpaid:
        rng = random.Random(f"{SEED}:payment:{invoice.number}")
        if invoice.issue_date >= this_month and rng.random() > PAID_SHARE_OF_LATEST:
            continue
        paid_at = min(start_of_day(invoice.issue_date) + datetime.timedelta(days=rng.randint(2, 20), hours=10), now)
        payment_record(
            invoice=invoice, amount=invoice.amount_due, idempotency_key=f"seed:payment:{invoice.number}",
            method=PaymentMethod.BANK_TRANSFER if rng.random() < 0.5 else PaymentMethod.SEPA_DEBIT,
            provider_reference=f"seed-{invoice.number}", now=paid_at,
        )
