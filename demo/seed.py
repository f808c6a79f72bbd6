"""Builds the demo world of `manage.py seed_demo`: plans, staff, customers, keys, catalogue, and a year of usage
and billing history (invoices, payments, credits, alerts, consents, a scheduled downgrade). The plans and the
catalogue are made here, the people in `people.py` and their history in `history.py`, from the plain data of
`customers.py` and `catalogue.py`.

Every row is found again by a natural key (plan code, email, key prefix, library slug, usage event id, a
subscription's period, a payment's or credit's idempotency key, an alert's occasion), so a second run adds
nothing. Random choices come from generators seeded by what they describe, never from the order of the run, so
that two runs on the same day build the same data. History goes through the billing services, month after
month, as the scheduler would have run them, so that numbers, balances and the audit chain hold.
"""
import datetime
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.db import transaction

from billing.models import Interval, Plan, UsagePricing
from billing.periods import add_months, local_date
from libraries.docs_import import count_tokens, documents_read, library_version_import, release_moment
from libraries.models import DocumentationChunk, Library, LibraryVersion

from .catalogue import LIBRARIES, LibrarySeed
from .customers import CUSTOMERS, DEMO_CUSTOMER
from .history import seed_api_key_use, seed_billing_history, seed_scheduled_downgrades, seed_usage
from .people import seed_consents, seed_customer, seed_staff

DOCS_FOLDER = Path(__file__).resolve().parent / "docs"
# The history starts this many months before the current one: January of this year at the latest, and the charts
# show a year with the current month.
HISTORY_MONTHS = 11

PLANS = (
    {
        "code": "free", "name": "Free", "price": Decimal("0.00"), "interval": Interval.MONTH,
        "included_tokens": 100_000, "overage_price_per_million": Decimal("0.00"), "requests_per_minute": 10,
    },
    {
        "code": "pro", "name": "Pro", "price": Decimal("19.00"), "interval": Interval.MONTH,
        "included_tokens": 5_000_000, "overage_price_per_million": Decimal("2.00"), "requests_per_minute": 60,
        "trial_days": 14,
    },
    {
        # Graduated: the tokens beyond the quota cost less, tier after tier (DESIGN "Pricing catalogue").
        "code": "scale", "name": "Scale", "price": Decimal("49.00"), "interval": Interval.MONTH,
        "included_tokens": 10_000_000, "overage_price_per_million": Decimal("0.00"), "requests_per_minute": 120,
        "usage_pricing": UsagePricing.GRADUATED, "usage_tiers": [
            {"up_to": 10_000_000, "price_per_million": "2.00"},
            {"up_to": 50_000_000, "price_per_million": "1.50"},
            {"up_to": None, "price_per_million": "1.00"},
        ],
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
class SeedSummary:
    # The demo customer's first key, only on the run that created it: the secret is never stored.
    demo_api_token: str | None
    demo_api_key_prefix: str


@transaction.atomic
def seed_demo(*, now: datetime.datetime) -> SeedSummary:
    """Loads the demo world as it stands at `now`, with a history from the first of the month 11 months back."""
    today = local_date(now)
    history_from = add_months(today, -HISTORY_MONTHS)
    plans = {plan.code: plan for plan in _seed_plans()}
    seed_staff(today=today)
    catalogue = _seed_catalogue()
    demo, demo_tokens = seed_customer(
        DEMO_CUSTOMER, plan=plans[DEMO_CUSTOMER.plan_code], history_from=history_from, today=today
    )
    customers = [demo] + [
        seed_customer(customer_seed, plan=plans[customer_seed.plan_code], history_from=history_from, today=today)[0]
        for customer_seed in CUSTOMERS
    ]
    seed_consents(customers, now=now)
    seed_usage(customers, catalogue=catalogue, now=now, today=today)
    seed_api_key_use(customers)
    seed_billing_history(customers, history_from=history_from, now=now, today=today)
    seed_scheduled_downgrades(customers, plans=plans, now=now)
    return SeedSummary(
        demo_api_token=demo_tokens[0],
        demo_api_key_prefix=demo.api_keys[0].prefix,
    )


# Plans and the catalogue


def _seed_plans() -> list[Plan]:
    return [
        Plan.objects.update_or_create(
            code=plan["code"], defaults={**plan, "currency": "EUR", "is_active": True}
        )[0]
        for plan in PLANS
    ]


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
    if library_seed.docs_folder:
        # As `manage.py import_docs` would; a rerun finds the same chunks there and writes nothing.
        imported = library_version_import(
            slug=library.slug, version=latest_version[0], released_on=latest_version[1],
            documents=documents_read(DOCS_FOLDER / library_seed.docs_folder), source_url_base=library_seed.docs_url,
        )
        return library, imported.version
    latest = _seed_version(library, version=latest_version[0], released_on=latest_version[1], is_latest=True)
    for position, chunk in enumerate(library_seed.chunks):
        DocumentationChunk.objects.update_or_create(
            version=latest,
            position=position,
            defaults={
                "title": chunk.title,
                "content": chunk.content,
                "tokens": count_tokens(chunk.content),
                "source_url": library_seed.docs_url + chunk.path,
            },
        )
    return library, latest


def _seed_version(library: Library, *, version: str, released_on: datetime.date, is_latest: bool) -> LibraryVersion:
    return LibraryVersion.objects.update_or_create(
        library=library, version=version, defaults={"released_at": release_moment(released_on), "is_latest": is_latest}
    )[0]
