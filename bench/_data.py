"""Generated data of the database benchmarks: plans, customers with their subscriptions, libraries, usage.

Private (`_data`): `python -m bench` does not list it as a benchmark. Rows in bulk go in with COPY (users,
profiles, subscriptions, plan changes, pauses, credits) or with one server-side `INSERT … SELECT FROM
generate_series` (usage logs, far faster than streaming ten million rows from Python), into tables whose
indexes and constraints are rebuilt after the load. A handful of rows (plans, libraries) go through the ORM.
"""
import datetime
import itertools
import random
import time
from decimal import Decimal

from bench import progress, rate
from bench._common import copy_rows, execute, indexes_dropped

UNUSABLE_PASSWORD = "!bench-unusable"
# (code, name, price, included tokens, overage per million, requests per minute): free is hard-capped.
PLANS = (
    ("free", "Free", Decimal("0.00"), 100_000, Decimal("0"), 60),
    ("pro", "Pro", Decimal("19.00"), 5_000_000, Decimal("2.00"), 600),
    ("team", "Team", Decimal("99.00"), 50_000_000, Decimal("1.50"), 3000),
)
PLAN_SHARES = {"free": 0.10, "pro": 0.70, "team": 0.20}
# Buyers: (country, language, company, VAT number, SIREN): French VAT, EU reverse charge, export.
BUYERS = (
    ("FR", "fr", "", "", ""),
    ("FR", "fr", "Atelier Numérique SARL", "FR44732829320", "732829320"),
    ("DE", "en", "Weber Software GmbH", "DE136695976", ""),
    ("", "en", "", "", ""),  # no country: counts as France
    ("US", "en", "Analytical Engines Inc.", "", ""),
)
BUYER_SHARES = (0.70, 0.12, 0.08, 0.05, 0.05)
CITIES = {"FR": "Paris", "DE": "Berlin", "US": "San Francisco", "": ""}


def plans_create() -> dict:
    from billing.models import Plan

    plans = Plan.objects.bulk_create(
        Plan(code=code, name=name, price=price, included_tokens=included, overage_price_per_million=overage,
             requests_per_minute=per_minute)
        for code, name, price, included, overage, per_minute in PLANS
    )
    return {plan.code: plan for plan in plans}


def _picker(rng: random.Random, items, weights):
    """Draws from `items` with `weights`."""
    cumulative = list(itertools.accumulate(weights))
    return lambda: rng.choices(items, cum_weights=cumulative)[0]


def _sequence_reset(table: str) -> None:
    execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 1)) FROM {table}")


def customer_email(number: int) -> str:
    return f"customer{number}@bench.example"


def customers_load(*, count: int, seed: int, plans: dict, period_start: datetime.date,
                   period_end: datetime.date) -> dict:
    """`count` customers (user, billing profile, one subscription whose period is [period_start, period_end)),
    ids 1..count. Some started during the period (prorated), 3% changed plan in it, 1% paused, 2% cancel at its
    end, 5% hold a credit. Returns what was written, by kind."""
    from accounts.encryption import encrypt_text

    rng = random.Random(seed)
    started = time.perf_counter()
    # Encryption at rest as the ORM writes it: a few Fernet tokens, reused (each decrypts like any other).
    sealed = {text: encrypt_text(text) for text in
              ("12 rue de la Paix", "Torstraße 1", "1 Market Street", "Bâtiment B", "75002", "10119", "94105",
               "FR44732829320", "DE136695976", "+33 1 23 45 67 89")}
    postal = {"FR": "75002", "DE": "10119", "US": "94105", "": ""}
    address = {"FR": "12 rue de la Paix", "DE": "Torstraße 1", "US": "1 Market Street", "": ""}
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    users = ((n, UNUSABLE_PASSWORD, False, "", "", False, True, now, customer_email(n)) for n in range(1, count + 1))
    copy_rows("accounts_user", ("id", "password", "is_superuser", "first_name", "last_name", "is_staff", "is_active",
                                "date_joined", "email"), users)

    buyer = _picker(rng, BUYERS, BUYER_SHARES)

    def profiles():
        for n in range(1, count + 1):
            country, language, company, vat, siren = buyer()
            yield (
                n, n, f"Customer {n}", company, sealed.get(vat, ""), siren,
                sealed.get(address[country], ""), sealed["Bâtiment B"] if n % 7 == 0 else "",
                sealed.get(postal[country], ""), CITIES[country], country, "", sealed["+33 1 23 45 67 89"] if
                n % 3 == 0 else "", language, None, now, now,
            )

    copy_rows("accounts_userprofile", ("id", "user_id", "full_name", "company_name", "vat_number", "siren",
                                       "address_line1", "address_line2", "postal_code", "city", "country",
                                       "billing_email", "phone", "language", "monthly_spend_cap", "created_at",
                                       "updated_at"), profiles())
    changes, pauses, credits, cancelling = [], [], [], 0
    subscriptions = []
    period_days = (period_end - period_start).days
    plan_code = _picker(rng, list(PLAN_SHARES), list(PLAN_SHARES.values()))
    for n in range(1, count + 1):
        code = plan_code()
        plan = plans[code]
        start = period_start
        started_at = datetime.datetime(2025, 1, 1, 9, tzinfo=datetime.UTC) + datetime.timedelta(days=rng.randrange(600))
        if rng.random() < 0.05:  # started during the period: a prorated first invoice
            start = period_start + datetime.timedelta(days=rng.randrange(1, period_days))
            started_at = datetime.datetime.combine(start, datetime.time(10), tzinfo=datetime.UTC)
        cancel = rng.random() < 0.02
        cancelling += cancel
        subscriptions.append((n, n, plan.pk, "ACTIVE", start, period_end, cancel, started_at))
        if code != "free" and start == period_start and rng.random() < 0.03:
            other = plans["team" if code == "pro" else "pro"]
            changes.append((n, n, other.pk, plan.pk, period_start + datetime.timedelta(days=14),
                            datetime.datetime.combine(period_start, datetime.time(12), tzinfo=datetime.UTC)))
        if start == period_start and rng.random() < 0.01:
            pauses.append((n, n, period_start + datetime.timedelta(days=9), period_start + datetime.timedelta(days=19)))
        if rng.random() < 0.05:
            credits.append((n, n, "PROMOTIONAL", Decimal("10.00"), Decimal("10.00"), "EUR", "Welcome credit", None,
                            now))
    copy_rows("billing_subscription", ("id", "user_id", "plan_id", "status", "current_period_start",
                                       "current_period_end", "cancel_at_period_end", "started_at"), subscriptions)
    copy_rows("billing_subscriptionplanchange", ("id", "subscription_id", "from_plan_id", "to_plan_id",
                                                 "effective_date", "changed_at"), changes)
    copy_rows("billing_subscriptionpause", ("id", "subscription_id", "start_date", "end_date"), pauses)
    copy_rows("billing_credit", ("id", "user_id", "type", "amount", "remaining_amount", "currency", "reason",
                                 "expires_at", "created_at"), credits)
    for table in ("accounts_user", "accounts_userprofile", "billing_subscription", "billing_subscriptionplanchange",
                  "billing_subscriptionpause", "billing_credit"):
        _sequence_reset(table)
        execute(f"VACUUM ANALYZE {table}")
    seconds = time.perf_counter() - started
    progress(f"{count:,} customers with profile and subscription, {len(changes):,} plan changes, "
             f"{len(pauses):,} pauses, {len(credits):,} credits, {cancelling:,} cancelling: COPY in {seconds:.1f}s")
    return {"customers": count, "plan_changes": len(changes), "pauses": len(pauses), "credits": len(credits),
            "cancelling": cancelling}


def libraries_create(*, count: int, chunks_per_library: int = 0) -> list:
    """`count` libraries with one version each (the latest); `chunks_per_library` documentation chunks each, of
    about 1,000 characters, each about one of eight topics."""
    from libraries.models import DocumentationChunk, Library, LibraryVersion

    libraries = Library.objects.bulk_create(
        Library(slug=f"bench/lib-{n}", name=f"Bench library {n}", description=f"Library {n} of the benchmark.")
        for n in range(1, count + 1)
    )
    versions = LibraryVersion.objects.bulk_create(
        LibraryVersion(library=library, version="1.0.0", is_latest=True,
                       released_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))
        for library in libraries
    )
    topics = ("routing", "caching", "authentication", "middleware", "testing", "deployment", "forms", "streaming")
    DocumentationChunk.objects.bulk_create(
        DocumentationChunk(
            version=version, position=position, tokens=120 + (position * 37) % 400,
            title=f"{topics[position % len(topics)].title()}: part {position}",
            content=" ".join(  # about one topic: a topic matches one chunk in eight
                f"How {topics[position % len(topics)]} works in {version.library.name}, step {k}: set the options "
                f"of part {position}, then call the handler and check what it returns." for k in range(12)
            ),
            source_url=f"https://docs.example/{version.library.slug}/{position}",
        )
        for version in versions
        for position in range(chunks_per_library)
    )
    for table in ("libraries_library", "libraries_libraryversion", "libraries_documentationchunk"):
        execute(f"VACUUM ANALYZE {table}")  # as autovacuum would have by the time the data is read
    return versions


USAGE_INSERT = """
INSERT INTO libraries_usagelog (user_id, api_key_id, library_id, library_version_id, endpoint, tokens,
                                status_code, duration_ms, event_id, created_at)
SELECT row.user_id, NULL, version.library_id, version.id, '/api/libraries/' || library.slug || '/docs/',
       row.tokens, 200, row.duration_ms, md5(%(seed)s || ':' || g), row.created_at
FROM generate_series(1, %(rows)s) AS g
CROSS JOIN LATERAL (
    SELECT 1 + floor(power(random(), 2) * %(customers)s)::bigint AS user_id,  -- a few customers use a lot
           100 + floor(power(random(), 3) * 100000)::integer AS tokens,
           floor(random() * 900)::integer AS duration_ms,
           %(start_at)s::timestamptz + (g - 1 + random()) / %(rows)s * (%(end_at)s::timestamptz - %(start_at)s) AS
               created_at,  -- in arrival order, customers interleaved, as ingestion writes them
           1 + g %% %(versions)s AS version_index
) AS row
JOIN (SELECT id, library_id, row_number() OVER (ORDER BY id) AS index FROM libraries_libraryversion) AS version
    ON version.index = row.version_index
JOIN libraries_library AS library ON library.id = version.library_id
"""


def usage_load(*, rows: int, customers: int, start_at: datetime.datetime, end_at: datetime.datetime,
               seed: int) -> None:
    """`rows` usage logs spread over [start_at, end_at) among customers 1..`customers` (skewed: the first ones
    use most), generated by PostgreSQL; the table's indexes and constraints are rebuilt after the load."""
    from libraries.models import LibraryVersion
    from libraries.partitions import usage_partitions_cover

    versions = LibraryVersion.objects.count()
    started = time.perf_counter()
    execute("SET maintenance_work_mem = '512MB'")
    execute("SET synchronous_commit = off")
    execute("SELECT setseed(%s)", [(seed % 1000) / 1000])
    usage_partitions_cover(start_at, end_at - datetime.timedelta(microseconds=1))  # as the daily task would have
    # The event-id trigger is off for the load and the ids registered after it, with that table's indexes
    # rebuilt too (both tables as production has them once loaded).
    execute("ALTER TABLE libraries_usagelog DISABLE TRIGGER usage_events_register")
    with indexes_dropped("libraries_usagelog"):
        execute(USAGE_INSERT, {"rows": rows, "customers": customers, "start_at": start_at, "end_at": end_at,
                               "versions": versions, "seed": str(seed)})
        progress(f"{rows:,} usage logs inserted by generate_series in {time.perf_counter() - started:.1f}s")
    execute("ALTER TABLE libraries_usagelog ENABLE TRIGGER usage_events_register")
    with indexes_dropped("libraries_usageeventid"):
        execute("INSERT INTO libraries_usageeventid (event_id, created_at) SELECT event_id, created_at "
                "FROM libraries_usagelog")
    execute("RESET maintenance_work_mem")
    execute("RESET synchronous_commit")
    seconds = time.perf_counter() - started
    progress(f"usage logs loaded in {seconds:.1f}s ({rate(rows, seconds):,.0f} rows/s)")
