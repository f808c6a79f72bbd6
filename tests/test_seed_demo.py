import datetime
import hashlib
import re
import sqlite3
from contextlib import contextmanager
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.contrib.auth import authenticate
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import Max, Min, Sum
from stdnum.eu import vat

from accounts.models import ApiKey, AuditLog, ConsentPurpose, ConsentRecord, User, UserProfile
from billing.backoffice.dashboard import receivables
from billing.backoffice.roles import finance_permission_names
from billing.models import (
    AlertType,
    BillingAlert,
    Credit,
    Invoice,
    InvoiceStatus,
    LineKind,
    Payment,
    PaymentStatus,
    Plan,
    Subscription,
    SubscriptionPlanChange,
    SubscriptionStatus,
)
from billing.periods import local_date
from billing.tests.factories import PARIS
from demo.seed import seed_demo
from libraries.docs_import import MAX_CHUNK_TOKENS, count_tokens
from libraries.models import DocumentationChunk, Library, LibraryVersion, UsageLog
from libraries.partitions import DEFAULT_PARTITION, partition_name, usage_partitions
from tests.helpers import clean_environment, run_manage

EU_COUNTRIES = {
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT", "LU",
    "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
}
SEEDED_MODELS = (
    Group, User, UserProfile, ConsentRecord, Plan, Subscription, SubscriptionPlanChange, ApiKey, AuditLog, Invoice,
    Payment, Credit, BillingAlert, Library, LibraryVersion, DocumentationChunk, UsageLog,
)
TOKEN_PATTERN = re.compile(r"tmcp_([a-z0-9]{8})_([A-Za-z0-9]+)")


# The command seeds the world as it stands at the moment it runs: the tests run it at this one.
COMMAND_TIME = datetime.datetime(2026, 3, 10, 9, 15, tzinfo=datetime.UTC)


def run_seed_demo() -> str:
    out = StringIO()
    with time_machine.travel(COMMAND_TIME, tick=False):
        call_command("seed_demo", stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in SEEDED_MODELS}


@contextmanager
def rolled_back_afterwards(django_db_blocker):
    """Rows shared by a whole test class, rolled back after its last test; each test runs in its own savepoint."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield
        transaction.set_rollback(True)


@pytest.fixture(scope="class")
def seeded_by_the_command(django_db_setup, django_db_blocker):
    with rolled_back_afterwards(django_db_blocker):
        yield run_seed_demo()


@pytest.mark.django_db
class TestSeedDemoReruns:
    def test_a_second_run_adds_nothing(self):
        run_seed_demo()
        first_counts = row_counts()

        run_seed_demo()

        assert row_counts() == first_counts
        assert first_counts["Plan"] == 5
        assert first_counts["Library"] == 13
        assert 26 <= first_counts["LibraryVersion"] <= 38
        # A few pages written for each library, and HTTPX's and Flask's real documentation imported.
        assert 200 <= first_counts["DocumentationChunk"] <= 300
        assert first_counts["UserProfile"] == first_counts["User"]
        # A year of usage in a few events a day per customer.
        assert 5_000 <= first_counts["UsageLog"] <= 30_000
        # One row per subscription and key created, then the invoice runs' and payments' own rows.
        assert first_counts["AuditLog"] > first_counts["Subscription"] + first_counts["ApiKey"]
        assert first_counts["Invoice"] > 10 * first_counts["Subscription"] // 2  # a year invoiced, Free owes nothing
        assert 0 < first_counts["Payment"] < first_counts["Invoice"]  # the latest partly unpaid, some overdue
        assert first_counts["ConsentRecord"] >= 3 * first_counts["Subscription"]
        assert first_counts["Credit"] >= 3
        assert first_counts["BillingAlert"] > 0
        assert first_counts["SubscriptionPlanChange"] == 1

    def test_a_rerun_keeps_changed_passwords(self):
        run_seed_demo()
        demo = User.objects.get(email="demo@twinmcp.dev")
        demo.set_password("a-new-password-of-mine")
        demo.save()

        run_seed_demo()

        assert authenticate(email="demo@twinmcp.dev", password="a-new-password-of-mine") is not None
        assert authenticate(email="demo@twinmcp.dev", password="demo-password") is None

    def test_the_demo_api_token_is_printed_once_and_only_its_hash_is_stored(self):
        first_output = run_seed_demo()
        prefix, secret = TOKEN_PATTERN.search(first_output).groups()

        second_output = run_seed_demo()

        key = ApiKey.objects.get(prefix=prefix)
        assert key.user.email == "demo@twinmcp.dev"
        assert key.scopes == ["docs:read"]
        assert key.key_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in second_output
        assert f"tmcp_{prefix}_" in second_output


@pytest.mark.django_db
@pytest.mark.usefixtures("seeded_by_the_command")
class TestSeededWorld:
    def test_plans_carry_the_published_figures(self):
        plans = {
            plan.code: (
                plan.name, plan.price, plan.currency, plan.interval, plan.included_tokens,
                plan.overage_price_per_million, plan.requests_per_minute, plan.is_active,
            )
            for plan in Plan.objects.all()
        }

        assert plans == {
            "free": ("Free", Decimal("0.00"), "EUR", "MONTH", 100_000, Decimal("0.0000"), 10, True),
            "pro": ("Pro", Decimal("19.00"), "EUR", "MONTH", 5_000_000, Decimal("2.0000"), 60, True),
            "scale": ("Scale", Decimal("49.00"), "EUR", "MONTH", 10_000_000, Decimal("0.0000"), 120, True),
            "team": ("Team", Decimal("99.00"), "EUR", "MONTH", 50_000_000, Decimal("1.5000"), 300, True),
            "enterprise": (
                "Enterprise", Decimal("9900.00"), "EUR", "YEAR", 1_000_000_000, Decimal("1.0000"), 1000, True,
            ),
        }

    def test_every_customer_has_one_active_subscription_on_a_mix_of_plans(self):
        customers = User.objects.filter(is_staff=False)
        subscriptions = Subscription.objects.filter(user__in=customers)
        assert customers.count() >= 25
        assert subscriptions.count() == customers.count()
        assert set(subscriptions.values_list("status", flat=True)) == {SubscriptionStatus.ACTIVE}
        assert set(subscriptions.values_list("plan__code", flat=True)) == {
            "free", "pro", "scale", "team", "enterprise"
        }

    def test_customers_come_from_france_the_eu_and_beyond(self):
        profiles = list(UserProfile.objects.filter(user__is_staff=False))
        french = [profile for profile in profiles if profile.country == "FR"]
        eu_businesses = [p for p in profiles if p.country in EU_COUNTRIES - {"FR"} and p.vat_number]
        eu_consumers = [p for p in profiles if p.country in EU_COUNTRIES - {"FR"} and not p.vat_number]
        outside_eu = {profile.country for profile in profiles} - EU_COUNTRIES
        assert len(french) >= 3
        assert {profile.language for profile in french} == {"fr"}
        assert {profile.language for profile in profiles if profile.country != "FR"} == {"en"}
        assert len(eu_businesses) >= 5
        assert len(eu_consumers) >= 2
        assert {"US", "GB", "CH", "CA", "JP"} <= outside_eu
        assert all(
            profile.full_name and profile.address_line1 and profile.postal_code and profile.city and profile.phone
            for profile in profiles
        )

    def test_vat_numbers_are_valid_for_their_country(self):
        numbered = [profile for profile in UserProfile.objects.all() if profile.vat_number]

        assert len(numbered) >= 8
        for profile in numbered:
            assert vat.is_valid(profile.vat_number), profile.vat_number
            assert profile.country.lower() in vat.guess_country(profile.vat_number), profile.vat_number

    def test_demo_customer_logs_in_with_the_printed_password(self, client, seeded_by_the_command):
        assert "Demo customer: demo@twinmcp.dev / demo-password" in seeded_by_the_command
        assert client.login(email="demo@twinmcp.dev", password="demo-password")
        demo = User.objects.get(email="demo@twinmcp.dev")
        assert demo.profile.country == "FR"
        assert demo.profile.company_name
        assert demo.profile.vat_number
        assert demo.subscriptions.get().plan.code == "pro"

    def test_finance_is_staff_in_the_finance_group_only(self):
        finance = authenticate(email="finance@twinmcp.dev", password="finance-password")

        assert finance is not None
        assert finance.is_staff and not finance.is_superuser
        assert list(finance.groups.values_list("name", flat=True)) == ["Finance"]
        assert finance.get_all_permissions() == finance_permission_names()
        assert finance.has_perms(["billing.view_invoice", "billing.change_invoice", "billing.add_payment"])
        assert finance.has_perm("libraries.view_usagelog")
        assert not any(permission.split(".")[1].startswith("delete_") for permission in finance.get_all_permissions())

    def test_admin_is_a_superuser_holding_the_documentation_server_key(self):
        admin = authenticate(email="admin@twinmcp.dev", password="admin-password")

        assert admin is not None and admin.is_superuser
        assert list(admin.api_keys.values_list("scopes", flat=True)) == [["usage:write"]]

    def test_httpx_and_flask_have_real_pages_of_their_documentation(self):
        flask = LibraryVersion.objects.get(library__slug="pallets/flask", is_latest=True)
        httpx = LibraryVersion.objects.get(library__slug="encode/httpx", is_latest=True)

        assert (flask.version, httpx.version) == ("3.1.1", "0.28.1")
        variable_rules = flask.chunks.get(title="Quickstart › Routing › Variable Rules")
        assert variable_rules.content.startswith("Variable Rules\n``````````````\n\nYou can add variable sections")
        assert variable_rules.source_url == "https://github.com/pallets/flask/blob/3.1.1/docs/quickstart.rst#variable-rules"
        timeouts = httpx.chunks.get(title="advanced/timeouts › Setting and disabling timeouts")
        assert "httpx.get('http://example.com/api/v1/example', timeout=10.0)" in timeouts.content
        assert timeouts.source_url == (
            "https://github.com/encode/httpx/blob/0.28.1/docs/advanced/timeouts.md#setting-and-disabling-timeouts"
        )
        for chunk in DocumentationChunk.objects.filter(version__in=[flask, httpx]):
            assert chunk.tokens == count_tokens(chunk.content) <= MAX_CHUNK_TOKENS, chunk.title
        assert {version.version for version in LibraryVersion.objects.filter(library__slug="encode/httpx")} == {
            "0.27.2", "0.28.1"
        }

    def test_every_customer_has_one_or_two_read_keys(self):
        for customer in User.objects.filter(is_staff=False):
            keys = list(customer.api_keys.all())
            assert 1 <= len(keys) <= 2
            assert all(key.scopes == ["docs:read"] and len(key.prefix) == 8 for key in keys)


# 23:30 UTC on 31 October is already November in Paris.
HALLOWEEN_NIGHT = datetime.datetime(2026, 10, 31, 23, 30, tzinfo=datetime.UTC)


@pytest.fixture(scope="class")
def seeded_on_halloween_night(django_db_setup, django_db_blocker):
    with rolled_back_afterwards(django_db_blocker):
        seed_demo(now=HALLOWEEN_NIGHT)
        yield


@pytest.mark.django_db
@pytest.mark.usefixtures("seeded_on_halloween_night")
class TestSeedDemoAtAGivenTime:
    def test_periods_are_the_current_month_in_the_billing_time_zone(self):
        monthly = Subscription.objects.exclude(plan__code="enterprise")
        assert set(monthly.values_list("current_period_start", "current_period_end")) == {
            (datetime.date(2026, 11, 1), datetime.date(2026, 12, 1))
        }
        yearly = Subscription.objects.get(plan__code="enterprise")
        assert yearly.current_period_start <= datetime.date(2026, 11, 1) < yearly.current_period_end
        assert yearly.current_period_start.day == 1
        assert yearly.current_period_end == yearly.current_period_start.replace(
            year=yearly.current_period_start.year + 1
        )
        assert yearly.started_at.astimezone(PARIS).month == yearly.current_period_start.month

    def test_usage_covers_a_year_from_the_demo_customers_first_day(self):
        logs = UsageLog.objects.all()
        first_at, last_at = logs.aggregate(Min("created_at"), Max("created_at")).values()
        # The demo customer subscribed on 14 November 2025; the others' history starts on 1 December 2025.
        demo_started_at = Subscription.objects.get(user__email="demo@twinmcp.dev").started_at
        assert demo_started_at.astimezone(PARIS).date() == datetime.date(2025, 11, 14)
        assert demo_started_at <= first_at < datetime.datetime(2025, 11, 15, tzinfo=PARIS)
        others = logs.exclude(user__email="demo@twinmcp.dev")
        others_first_at = others.aggregate(Min("created_at"))["created_at__min"]
        assert datetime.date(2025, 12, 1) == others_first_at.astimezone(PARIS).date()
        assert datetime.datetime(2026, 11, 1, tzinfo=PARIS) <= last_at <= HALLOWEEN_NIGHT
        assert not logs.filter(api_key__isnull=True).exists()
        assert not logs.exclude(status_code=200).exists()

    def test_some_pro_customer_went_over_the_quota_in_a_past_month(self):
        october_tokens = (
            UsageLog.objects.filter(
                user__subscriptions__plan__code="pro",
                created_at__gte=datetime.datetime(2026, 10, 1, tzinfo=PARIS),
                created_at__lt=datetime.datetime(2026, 11, 1, tzinfo=PARIS),
            )
            .values("user")
            .annotate(tokens=Sum("tokens"))
        )
        assert any(row["tokens"] > 5_000_000 for row in october_tokens)

    def test_nothing_is_invoiced_or_paid_after_the_seed_time(self):
        # Just after midnight on 1 November: October's run and its payments cannot wait for 02:00 or the days after.
        latest = Payment.objects.filter(invoice__issue_date=datetime.date(2026, 11, 1))
        assert latest.exists()
        assert set(latest.values_list("created_at", flat=True)) == {HALLOWEEN_NIGHT}
        assert not Payment.objects.filter(created_at__gt=HALLOWEEN_NIGHT).exists()
        assert not Payment.objects.filter(processed_at__gt=HALLOWEEN_NIGHT).exists()
        assert not Invoice.objects.filter(paid_at__gt=HALLOWEEN_NIGHT).exists()
        assert not Invoice.objects.filter(sent_at__gt=HALLOWEEN_NIGHT).exists()

    def test_the_scale_customer_pays_two_tiers_of_graduated_usage(self):
        invoice = Invoice.objects.get(
            user__email="hugo.lefebvre@vauban-robotique.example", period_start=datetime.date(2026, 10, 1)
        )

        usage = list(invoice.lines.filter(kind=LineKind.USAGE).order_by("position"))
        assert [line.unit_price for line in usage] == [Decimal("2.0000"), Decimal("1.5000")]
        assert usage[0].quantity == 10_000_000
        assert "10\u202f000\u202f001" in usage[1].description  # tier 2's first token, written in French

    def test_free_customers_stay_under_their_hard_cap(self):
        monthly_tokens = (
            UsageLog.objects.filter(
                user__subscriptions__plan__code="free",
                created_at__gte=datetime.datetime(2026, 9, 1, tzinfo=PARIS),
                created_at__lt=datetime.datetime(2026, 10, 1, tzinfo=PARIS),
            )
            .values("user")
            .annotate(tokens=Sum("tokens"))
        )
        assert monthly_tokens
        assert all(row["tokens"] <= 100_000 for row in monthly_tokens)


HALLOWEEN_TODAY = datetime.date(2026, 11, 1)  # in Paris


@pytest.mark.django_db
@pytest.mark.usefixtures("seeded_on_halloween_night")
class TestYearOfHistory:
    def test_the_demo_customer_has_twelve_months_of_invoices_the_first_pro_rata(self):
        invoices = list(Invoice.objects.filter(user__email="demo@twinmcp.dev").order_by("period_start"))

        periods = [(invoice.period_start, invoice.period_end) for invoice in invoices]
        assert periods[0] == (datetime.date(2025, 11, 14), datetime.date(2025, 12, 1))
        assert periods[1:] == [
            (datetime.date(2025 + (month - 1) // 12, (month - 1) % 12 + 1, 1),
             datetime.date(2025 + month // 12, month % 12 + 1, 1))
            for month in range(12, 23)
        ]
        # 17 of November's 30 days of Pro's 19.00.
        assert invoices[0].subtotal == Decimal("10.77")
        # what each month billed before the credits the demo spends as price reductions (CREDIT lines)
        billed = [
            sum(line.amount for line in invoice.lines.all() if line.kind != LineKind.CREDIT) for invoice in invoices
        ]
        assert all(amount >= Decimal("19.00") for amount in billed[1:])
        assert {invoice.issue_date for invoice in invoices} == {period_end for _, period_end in periods}

    def test_unpaid_invoices_are_overdue_in_the_aging_buckets_with_their_alerts(self):
        overdue = Invoice.objects.filter(status=InvoiceStatus.OVERDUE)

        figures = receivables(today=HALLOWEEN_TODAY, currency="EUR")
        assert overdue.count() == figures["overdue_count"] >= 2
        not_yet_due, *past_due = figures["aging"]
        assert sum(bucket.count for bucket in past_due) == overdue.count()
        assert not_yet_due.count == figures["outstanding_count"] - overdue.count()
        assert len([bucket for bucket in past_due if bucket.count]) >= 2  # aged differently
        assert all(invoice.due_date < HALLOWEEN_TODAY and invoice.amount_due > 0 for invoice in overdue)
        assert set(
            BillingAlert.objects.filter(type=AlertType.INVOICE_OVERDUE).values_list("occasion", flat=True)
        ) == {f"invoice:{invoice.number}" for invoice in overdue}
        # Each was left unpaid by a direct debit the bank returned.
        failed = Payment.objects.filter(status=PaymentStatus.FAILED)
        assert sorted(failed.values_list("invoice", flat=True)) == sorted(overdue.values_list("pk", flat=True))
        assert set(
            BillingAlert.objects.filter(type=AlertType.PAYMENT_FAILED).values_list("occasion", flat=True)
        ) == {f"payment:{payment.pk}" for payment in failed}
        # Everything else issued before this month was paid.
        assert not Invoice.objects.filter(status=InvoiceStatus.SENT, issue_date__lt=HALLOWEEN_TODAY).exists()

    def test_invoice_numbers_are_gapless_and_follow_the_issue_dates(self):
        issued = list(Invoice.objects.exclude(number=None).order_by("number").values_list("number", "issue_date"))

        by_year = {}
        for number, issue_date in issued:
            by_year.setdefault(number.split("-")[1], []).append((int(number.split("-")[2]), issue_date))
        assert set(by_year) == {"2025", "2026"}
        for year, rows in by_year.items():
            assert [sequence for sequence, _ in rows] == list(range(1, len(rows) + 1))
            assert [issue_date for _, issue_date in rows] == sorted(issue_date for _, issue_date in rows)
            assert {issue_date.year for _, issue_date in rows} == {int(year)}

    def test_nothing_is_dated_after_the_seed_time(self):
        assert not UsageLog.objects.filter(created_at__gt=HALLOWEEN_NIGHT).exists()
        assert not Invoice.objects.filter(issue_date__gt=HALLOWEEN_TODAY).exists()
        assert not Credit.objects.filter(created_at__gt=HALLOWEEN_NIGHT).exists()
        assert not BillingAlert.objects.filter(created_at__gt=HALLOWEEN_NIGHT).exists()
        assert not BillingAlert.objects.filter(read_at__gt=HALLOWEEN_NIGHT).exists()
        assert not ConsentRecord.objects.filter(created_at__gt=HALLOWEEN_NIGHT).exists()
        assert not ApiKey.objects.filter(last_used_at__gt=HALLOWEEN_NIGHT).exists()
        assert not SubscriptionPlanChange.objects.filter(changed_at__gt=HALLOWEEN_NIGHT).exists()

    def test_credits_were_spent_on_the_invoices_after_them(self):
        credits = Credit.objects.all()

        assert credits.count() >= 3
        assert len(set(credits.values_list("type", flat=True))) >= 3
        for credit in credits:
            spent = credit.amount - credit.remaining_amount
            assert spent > 0
            # spent at issue, as a price reduction or a prepaid amount alike, on invoices issued after it was granted
            applications = credit.applications.filter(
                reversed_at=None, invoice__issue_date__gt=credit.created_at.date()
            )
            assert applications.aggregate(Sum("amount"))["amount__sum"] == spent

    def test_usage_alerts_were_raised_and_the_past_ones_read(self):
        usage_alerts = BillingAlert.objects.filter(type=AlertType.USAGE_THRESHOLD)

        assert usage_alerts.filter(occasion__endswith=":100").exists()
        assert usage_alerts.filter(occasion__endswith=":80").exists()
        past = BillingAlert.objects.filter(created_at__lt=datetime.datetime(2026, 11, 1, tzinfo=PARIS))
        assert past.exists() and not past.filter(read_at=None).exists()
        assert not BillingAlert.objects.filter(type=AlertType.INVOICE_OVERDUE).exclude(read_at=None).exists()

    def test_every_customer_accepted_the_terms_when_signing_up(self):
        for customer in User.objects.filter(is_staff=False):
            terms = customer.consents.get(purpose=ConsentPurpose.TERMS)
            assert terms.granted
            assert terms.created_at == customer.date_joined
            assert terms.ip_address and terms.user_agent

    def test_each_key_was_last_used_at_its_latest_call(self):
        keys = ApiKey.objects.filter(user__is_staff=False)

        for key in keys:
            latest_call_at = UsageLog.objects.filter(api_key=key).aggregate(Max("created_at"))["created_at__max"]
            assert key.last_used_at == latest_call_at
            assert key.created_at <= UsageLog.objects.filter(api_key=key).aggregate(Min("created_at"))[
                "created_at__min"
            ]
        assert not keys.filter(last_used_at=None).exists()

    def test_a_downgrade_is_scheduled_for_the_end_of_the_period(self, client):
        customer = User.objects.get(email="haruto.sato@sakura-devtools.example")
        client.force_login(customer)

        response = client.get("/api/billing/subscription/")

        assert response.status_code == 200
        assert response.json()["plan"]["code"] == "team"
        assert response.json()["scheduled_change"] == {
            "plan": "pro", "effective_date": "2026-12-01", "cancellable": True,
        }
        assert customer.subscriptions.get().plan.code == "team"

    def test_a_customer_is_in_the_pro_plans_free_trial_with_nothing_invoiced(self, client):
        customer = User.objects.get(email="lea.martin@bretagne-data.example")
        client.force_login(customer)

        body = client.get("/api/billing/subscription/").json()

        subscription = customer.subscriptions.get()
        started_on = local_date(subscription.started_at)
        assert (body["plan"]["code"], body["plan"]["trial_days"]) == ("pro", 14)
        assert body["trial_end"] == (started_on + datetime.timedelta(days=14)).isoformat()
        assert subscription.trial_plan.code == "pro"
        assert not customer.invoices.exists()

    def test_each_month_of_usage_is_in_its_own_partition(self):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {DEFAULT_PARTITION}")
            (left_in_default,) = cursor.fetchone()

        assert left_in_default == 0
        months = [(2025, 11), (2025, 12)] + [(2026, month) for month in range(1, 12)]
        assert {partition_name(year, month) for year, month in months} <= set(usage_partitions())

    def test_the_audit_log_verifies(self):
        out = StringIO()

        call_command("verify_audit_log", stdout=out)

        assert "audit log intact" in out.getvalue()


@pytest.mark.slow
def test_seed_demo_runs_on_embedded_sqlite_without_redis(tmp_path):
    database, outbox = tmp_path / "db.sqlite3", tmp_path / "outbox"
    env = clean_environment(
        DJANGO_SETTINGS_MODULE="twinmcp.settings.local", DATABASE_URL=f"sqlite:///{database}",
        EMAIL_FILE_PATH=str(outbox),
    )
    assert "REDIS_URL" not in env

    migrate = run_manage("migrate", "--noinput", env=env)
    seed = run_manage("seed_demo", env=env)

    assert migrate.returncode == 0, migrate.stderr
    assert seed.returncode == 0, seed.stderr
    # The logins, the key and where to go, nothing else: no email, no task log, no broker warning.
    token = TOKEN_PATTERN.search(seed.stdout).group(0)
    assert seed.stdout.splitlines() == [
        "Demo data ready. Sign in:",
        "  Demo customer: demo@twinmcp.dev / demo-password  http://127.0.0.1:8000/account/login/",
        "  Finance: finance@twinmcp.dev / finance-password  http://127.0.0.1:8000/admin/",
        "  Admin: admin@twinmcp.dev / admin-password  http://127.0.0.1:8000/admin/",
        f"Demo customer API key (shown once, keep it now): {token}",
        "  Try it on http://127.0.0.1:8000/api/docs/ (Authorize: Bearer <key>)",
        f"Emails the application sends are written to {outbox}",
    ]
    assert seed.stderr == ""
    # The payments' receipts were sent all the same, to files.
    assert any("Payment received" in path.read_text() for path in outbox.iterdir())
    with sqlite3.connect(database) as connection:
        plan_codes = {code for (code,) in connection.execute("SELECT code FROM billing_plan")}
        (usage_logs,) = connection.execute("SELECT COUNT(*) FROM libraries_usagelog").fetchone()
    assert plan_codes == {"free", "pro", "scale", "team", "enterprise"}
    assert usage_logs > 1_000


@pytest.mark.django_db
def test_seed_demo_is_refused_where_demo_data_is_not_allowed(settings):
    settings.DEMO_DATA_ALLOWED = False

    with pytest.raises(CommandError, match="Demo data creates users with known passwords"):
        call_command("seed_demo")

    assert not User.objects.exists()
