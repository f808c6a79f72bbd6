"""The people of the demo: staff, customers with their profile, live subscription and API keys, and the consents
they gave when they signed up. Each is found again by an email or a key prefix, so a second run adds no one.
"""
import datetime
import hashlib
import random
import secrets
import string
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import Group

from accounts.models import ApiKey, ConsentPurpose, Language, User, UserProfile
from accounts.services import audit_log_record, consent_record
from billing.backoffice.roles import FINANCE_GROUP, finance_group_ensure
from billing.models import LIVE_SUBSCRIPTION_STATUSES, Plan, Subscription, SubscriptionStatus
from billing.periods import add_months, local_date, period_containing, start_of_day
from billing.pricing import interval_months

from .catalogue import LIBRARIES
from .customers import DEMO_CUSTOMER, CustomerSeed

# Every random generator of the demo is seeded with this and what its draws describe.
SEED = "twinmcp-demo"

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


@dataclass(frozen=True)
class SeededCustomer:
    seed: CustomerSeed
    user: User
    plan: Plan
    subscription: Subscription
    api_keys: list[ApiKey]
    favourite_slugs: list[str]
    usage_from: datetime.date  # the first day billed in the demo's history


def seed_staff(*, today: datetime.date) -> None:
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


# Customers


def seed_customer(
    customer_seed: CustomerSeed, *, plan: Plan, history_from: datetime.date, today: datetime.date
) -> tuple[SeededCustomer, list[str | None]]:
    """The customer, profile, live subscription and API keys; with each key's token when this run created it."""
    rng = random.Random(f"{SEED}:customer:{customer_seed.email}")
    trial_end = None
    if customer_seed.trial_started_days_ago is not None:
        started_on = today - datetime.timedelta(days=customer_seed.trial_started_days_ago)
        usage_from, trial_end = started_on, started_on + datetime.timedelta(days=plan.trial_days)
    elif customer_seed.subscribed_on_day:
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
    subscription = _seed_subscription(
        user, plan=plan, started_at=started_at, billed_from=usage_from, trial_end=trial_end
    )
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
    user: User, *, plan: Plan, started_at: datetime.datetime, billed_from: datetime.date,
    trial_end: datetime.date | None = None,
) -> Subscription:
    """The live subscription; a new one stands in the period holding `billed_from`, for the invoice runs of the
    history to roll it to today's. A subscription that began within that period has its first days only; one with
    a `trial_end` is in the plan's free trial until then."""
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
        trial_plan=plan if trial_end else None,
        trial_end=trial_end,
    )
    changes = {"plan": plan.code, "by": "seed_demo"} | ({"trial_end": trial_end.isoformat()} if trial_end else {})
    audit_log_record(action="subscription.create", obj=subscription, changes=changes)
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


# Consents


def seed_consents(customers: list[SeededCustomer], *, now: datetime.datetime) -> None:
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
