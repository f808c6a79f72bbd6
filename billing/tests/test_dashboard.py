"""The finance dashboard, opened by a Finance user: each figure equals the sum worked out here by hand.

The clock is pinned mid-month (NOW); rows are dated relative to it, far enough from month ends not to matter.
"""
import datetime
import re
from decimal import Decimal

import pytest
import time_machine
from django.test import Client
from django.test.utils import setup_test_environment
from django.urls import reverse
from django.utils.formats import date_format

from accounts.tests.factories import UserFactory, UserProfileFactory
from billing import clock
from billing.backoffice.dashboard import customer_usage
from billing.models import (
    EmailKind,
    EmailNotification,
    EmailStatus,
    Interval,
    InvoiceStatus,
    PaymentStatus,
    Subscription,
    SubscriptionPause,
    SubscriptionPlanChange,
    SubscriptionStatus,
)
from billing.periods import add_months, period_containing, start_of_day
from billing.services import invoice_cancel, subscription_change_plan
from billing.tests.admin_world import finance_user, staff_user
from billing.tests.factories import (
    CreditNoteFactory,
    InvoiceFactory,
    PaymentFactory,
    PlanFactory,
    SubscriptionFactory,
    paris,
)
from billing.tests.test_tax_cases import period_invoice
from libraries.tests.factories import UsageLogFactory
from tests.helpers import clean_environment, run_manage

DASHBOARD = reverse("admin:billing_dashboard")
DAY, HOUR = datetime.timedelta(days=1), datetime.timedelta(hours=1)
NOW = paris(2026, 11, 18, 10, 0)


@pytest.fixture(autouse=True)
def _pinned_clock(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def now():
    return clock.now()


@pytest.fixture
def today():
    return clock.today()


def figures(client, **params):
    response = client.get(DASHBOARD, params)
    assert response.status_code == 200
    return response.context["figures"]


def card_figure(content: str, card: str) -> str:
    """The big figure of the card `card` (mrr, outstanding, overdue...) as the page shows it."""
    [figure] = re.findall(rf'id="card-{card}".*?<div class="tmcp-figure[^"]*">(.*?)</div>', content, re.S)
    return figure


def revenue_column(content: str, name: str) -> list[str]:
    """The revenue table's column `name` (Invoiced or Collected), oldest month first: one row a month."""
    table = content[content.index('id="revenue"'):content.index('id="aging"')]
    column = {"Invoiced": 0, "Collected": 1}[name]
    rows = re.findall(r'<tr><th scope="row">[^<]*</th>((?:<td class="tmcp-number">.*?</td>)+)</tr>', table)
    return [re.findall(r'<td class="tmcp-number">(.*?)</td>', row)[column] for row in rows]


def issued_invoice(number: int, *, total: str, issue_date: datetime.date, paid: str = "0.00", **fields):
    """An issued invoice without VAT (a customer outside the EU) of `total`, `paid` of it settled."""
    total, paid = Decimal(total), Decimal(paid)
    return InvoiceFactory(
        status=InvoiceStatus.PAID if paid == total else InvoiceStatus.SENT, number=f"TMCP-2000-{number:06d}",
        issue_date=issue_date, due_date=issue_date + 30 * DAY, subtotal=total, tax_rate=Decimal("0"),
        tax_amount=Decimal("0.00"), total=total, amount_paid=paid, amount_due=total - paid, **fields,
    )


def subscription(plan, *, started_days_ago: int, now, **fields) -> Subscription:
    start = clock.today().replace(day=1)
    return SubscriptionFactory(
        plan=plan, started_at=now - started_days_ago * DAY, current_period_start=start,
        current_period_end=add_months(start, 1), **fields,
    )


@pytest.fixture
def plans(db):
    return {
        "pro": PlanFactory(code="pro", name="Pro", price=Decimal("19.00")),
        "team": PlanFactory(code="team", name="Team", price=Decimal("99.00")),
        "enterprise": PlanFactory(
            code="enterprise", name="Enterprise", price=Decimal("9900.00"), interval=Interval.YEAR
        ),
        "dollar": PlanFactory(code="pro-usd", name="Pro (USD)", price=Decimal("25.00"), currency="USD"),
    }


@pytest.mark.django_db
class TestMrr:
    def test_is_the_monthly_value_of_what_is_in_service_today_and_thirty_days_ago(
        self, finance_client, plans, now, today
    ):
        pro, team = plans["pro"], plans["team"]
        subscription(pro, started_days_ago=60, now=now)  # 19 then and now
        subscription(plans["enterprise"], started_days_ago=60, now=now)  # 9900 / 12 = 825 then and now
        subscription(pro, started_days_ago=5, now=now)  # 19 now only
        subscription(  # cancelled at once ten days ago: 19 then only
            pro, started_days_ago=60, now=now, status=SubscriptionStatus.CANCELLED, cancelled_at=now - 10 * DAY,
            ended_at=now - 10 * DAY,
        )
        paused = subscription(pro, started_days_ago=60, now=now, status=SubscriptionStatus.PAUSED)
        SubscriptionPause.objects.create(subscription=paused, start_date=today - 5 * DAY)  # 19 then only
        upgraded = subscription(team, started_days_ago=60, now=now)  # Pro 19 then, Team 99 now
        SubscriptionPlanChange.objects.create(
            subscription=upgraded, from_plan=pro, to_plan=team, effective_date=today - 10 * DAY
        )
        resumed = subscription(pro, started_days_ago=60, now=now)  # paused 30 days ago: 19 now only
        SubscriptionPause.objects.create(subscription=resumed, start_date=today - 40 * DAY, end_date=today - 20 * DAY)
        subscription(plans["dollar"], started_days_ago=60, now=now)  # another currency: not counted

        result = figures(finance_client)

        assert result.mrr == Decimal("19.00") + Decimal("825.00") + Decimal("19.00") + Decimal("99.00") * 1 + 19
        assert result.mrr_before == Decimal("19.00") + Decimal("825.00") + Decimal("19.00") * 3
        assert result.mrr_change == Decimal("80.00")
        assert result.mrr_change_percent == Decimal("8.9")  # 80 / 901

    def test_is_cached_five_minutes_unless_refreshed(self, finance_client, plans, now):
        subscription(plans["pro"], started_days_ago=60, now=now)
        assert figures(finance_client).mrr == Decimal("19.00")

        subscription(plans["team"], started_days_ago=60, now=now)

        assert figures(finance_client).mrr == Decimal("19.00")
        assert figures(finance_client, refresh=1).mrr == Decimal("118.00")


@pytest.mark.django_db
class TestRevenue:
    def test_invoiced_less_credit_notes_and_collected_per_month_for_twelve_months(self, finance_client, today, now):
        this_month, two_months_ago = today.replace(day=1), add_months(today, -2)
        issued = iter(range(1, 100))

        def invoice(issue_date, **fields):
            return InvoiceFactory(
                status=InvoiceStatus.SENT, number=f"TMCP-2000-{next(issued):06d}", issue_date=issue_date, **fields
            )

        invoice(this_month)  # 22.80
        invoice(this_month + DAY, subtotal=Decimal("99.00"), tax_amount=Decimal("19.80"), total=Decimal("118.80"),
                amount_due=Decimal("118.80"))
        credited = invoice(two_months_ago + 3 * DAY)  # 22.80, credited this month
        CreditNoteFactory(number="AV-2000-000001", invoice=credited, issue_date=this_month)
        invoice(add_months(today, -13))  # before the twelve months
        InvoiceFactory()  # a draft is not invoiced
        paid_now = now - min(now - start_of_day(this_month), 2 * DAY) / 2
        PaymentFactory(invoice=credited, amount=Decimal("50.00"), status=PaymentStatus.COMPLETED, processed_at=paid_now)
        last_month = start_of_day(add_months(today, -1)) + 5 * DAY
        PaymentFactory(
            invoice=credited, amount=Decimal("30.00"), refunded_amount=Decimal("10.00"),
            status=PaymentStatus.REFUNDED, processed_at=last_month,
        )
        PaymentFactory(invoice=credited, status=PaymentStatus.FAILED, processed_at=paid_now)
        PaymentFactory(invoice=credited, status=PaymentStatus.PENDING)

        result = figures(finance_client)

        months = {month.month: month for month in result.revenue}
        assert list(months) == [add_months(today, offset) for offset in range(-11, 1)]
        assert months[this_month].invoiced == Decimal("22.80") + Decimal("118.80") - Decimal("22.80")
        assert months[two_months_ago].invoiced == Decimal("22.80")
        assert months[this_month].collected == Decimal("50.00")
        assert months[add_months(today, -1)].collected == Decimal("20.00")
        assert sum(month.invoiced for month in result.revenue) == Decimal("141.60")

    def test_the_chart_is_an_svg_of_the_twelve_months(self, finance_client):
        response = finance_client.get(DASHBOARD)

        content = response.content.decode()
        assert content.count('class="tmcp-chart"') == 2  # revenue, then the aging
        revenue = content[content.index('id="revenue"'):content.index('id="aging"')]
        assert revenue.count('<rect x="') >= 24  # two bars a month, plus the legend
        assert "Invoiced" in content and "Collected" in content


@pytest.mark.django_db
class TestNeverCountsTheFuture:
    def test_a_payment_dated_later_today_or_tomorrow_is_not_collected_yet(self, finance_client, now, today):
        invoice = issued_invoice(1, total="22.80", issue_date=today - 3 * DAY, paid="10.00")
        for processed_at, amount in ((now - HOUR, "10.00"), (now + HOUR, "5.00"), (now + DAY, "7.80")):
            PaymentFactory(
                invoice=invoice, amount=Decimal(amount), status=PaymentStatus.COMPLETED, processed_at=processed_at
            )

        result = figures(finance_client)

        assert result.revenue[-1].month == today.replace(day=1)
        assert result.revenue[-1].collected == Decimal("10.00")

    def test_invoices_and_credit_notes_dated_tomorrow_are_not_counted_yet(self, finance_client, today):
        issued = issued_invoice(1, total="22.80", issue_date=today)
        issued_invoice(2, total="118.80", issue_date=today + DAY)
        CreditNoteFactory(number="AV-2000-000001", invoice=issued, issue_date=today + DAY)

        result = figures(finance_client)

        assert result.revenue[-1].invoiced == Decimal("22.80")
        assert (result.outstanding_count, result.outstanding_amount) == (1, Decimal("22.80"))

    def test_tokens_used_after_now_are_not_counted_yet(self, finance_client, now):
        customer = UserFactory()
        UsageLogFactory(user=customer, tokens=1_000, created_at=now - HOUR)
        UsageLogFactory(user=customer, tokens=10**6, created_at=now + DAY)

        result = figures(finance_client)

        assert [(row.email, row.tokens) for row in result.top_customers] == [(customer.email, 1_000)]


@pytest.mark.django_db
class TestAmountsOnThePage:
    def test_are_rounded_to_the_cent_and_carry_their_currency(self, finance_client, plans, now, today):
        pro = subscription(plans["pro"], started_days_ago=60, now=now)
        invoice = issued_invoice(1, total="22.80", issue_date=today - 3 * DAY, paid="10.50", subscription=pro)
        PaymentFactory(invoice=invoice, amount=Decimal("10.50"), status=PaymentStatus.COMPLETED, processed_at=now - DAY)

        content = finance_client.get(DASHBOARD).content.decode()

        assert card_figure(content, "mrr") == "19.00\u00a0EUR"
        assert card_figure(content, "outstanding") == "12.30\u00a0EUR"
        assert card_figure(content, "overdue") == "0.00\u00a0EUR"
        assert revenue_column(content, "Invoiced")[-1] == "22.80\u00a0EUR"
        assert revenue_column(content, "Collected")[-2:] == ["0.00\u00a0EUR", "10.50\u00a0EUR"]
        assert "Collected, " + date_format(today, "M y") + ": 10.50\u00a0EUR" in content  # the bar's hover text


def sqlite_dashboard_page() -> None:
    """Run in a process of its own on the embedded SQLite database (`manage.py shell`, local settings): books
    whose sums SQLite reads back through floats, then the figures and the dashboard page, printed."""
    setup_test_environment()  # the test client's host, and the context of the rendered template
    with time_machine.travel(NOW, tick=False):
        today = clock.today()
        for number, (total, paid) in enumerate(
            (("0.10", "0.00"), ("0.20", "0.00"), ("377.30", "0.00"), ("0.15", "0.15"), ("0.20", "0.20"),
             ("802.60", "802.60")),
            start=1,
        ):
            invoice = issued_invoice(number, total=total, issue_date=today, paid=paid)
            if invoice.amount_paid:
                PaymentFactory(
                    invoice=invoice, amount=invoice.amount_paid, status=PaymentStatus.COMPLETED,
                    processed_at=NOW - HOUR,
                )
        client = Client()
        client.force_login(finance_user())
        response = client.get(DASHBOARD)
    result = response.context["figures"]
    print(f"outstanding={result.outstanding_amount!r} this month={result.revenue[-1]!r}")
    print(response.content.decode())


@pytest.mark.slow
def test_on_embedded_sqlite_amounts_are_rounded_to_the_cent_with_their_currency(tmp_path):
    env = clean_environment(
        DJANGO_SETTINGS_MODULE="twinmcp.settings.local", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}"
    )
    migrate = run_manage("migrate", "--noinput", env=env)
    assert migrate.returncode == 0, migrate.stderr

    shown = run_manage(
        "shell", "-c", "from billing.tests.test_dashboard import sqlite_dashboard_page; sqlite_dashboard_page()",
        env=env,
    )

    assert shown.returncode == 0, shown.stderr
    assert "outstanding=Decimal('377.60') " in shown.stdout
    assert "invoiced=Decimal('1180.55'), collected=Decimal('802.95')" in shown.stdout
    assert card_figure(shown.stdout, "outstanding") == "377.60\u00a0EUR"
    assert revenue_column(shown.stdout, "Invoiced")[-1] == "1,180.55\u00a0EUR"
    assert revenue_column(shown.stdout, "Collected")[-1] == "802.95\u00a0EUR"


@pytest.mark.django_db
class TestReceivables:
    def test_outstanding_overdue_and_aging(self, finance_client, today):
        numbers = iter(range(1, 100))

        def unpaid(due_in_days, status=InvoiceStatus.SENT, **fields):
            return InvoiceFactory(
                status=status, number=f"TMCP-2000-{next(numbers):06d}", issue_date=today - 150 * DAY,
                due_date=today + due_in_days * DAY, **fields,
            )

        unpaid(5)  # not yet due: 22.80
        unpaid(0)  # due today, not overdue: 22.80
        unpaid(-10, status=InvoiceStatus.OVERDUE)  # 1–30: 22.80
        unpaid(-30)  # 1–30: 22.80
        unpaid(-45, amount_paid=Decimal("10.00"), amount_due=Decimal("12.80"))  # 31–60: 12.80
        unpaid(-75, subtotal=Decimal("99.00"), tax_amount=Decimal("19.80"), total=Decimal("118.80"),
               amount_due=Decimal("118.80"))  # 61–90: 118.80
        unpaid(-91)  # 90+: 22.80
        unpaid(-200, status=InvoiceStatus.PAID, amount_paid=Decimal("22.80"), amount_due=Decimal("0.00"))

        result = figures(finance_client)

        assert (result.outstanding_count, result.outstanding_amount) == (7, Decimal("245.60"))
        assert (result.overdue_count, result.overdue_amount) == (5, Decimal("200.00"))
        assert [(bucket.label, bucket.count, bucket.amount) for bucket in result.aging] == [
            ("Not yet due", 2, Decimal("45.60")),
            ("1–30 days", 2, Decimal("45.60")),
            ("31–60 days", 1, Decimal("12.80")),
            ("61–90 days", 1, Decimal("118.80")),
            ("90+ days", 1, Decimal("22.80")),
        ]


    def test_the_aging_chart_has_one_bar_per_bucket_beside_its_table(self, finance_client, today):
        for number, (due_in_days, total) in enumerate(((3, "22.80"), (-40, "118.80"), (-120, "1234.50")), 1):
            issued_invoice(number, total=total, issue_date=today + (due_in_days - 30) * DAY)  # due 30 days after

        content = finance_client.get(DASHBOARD).content.decode()

        aging = content[content.index('id="aging"'):content.index('id="top-customers"')]
        [chart] = re.findall(r'<svg .*?</svg>', aging, re.S)
        assert 'aria-label="Amount due by days past due"' in chart
        bars = re.findall(r'<rect x="[^"]*" y="[^"]*" width="[^"]*" height="([^"]*)" fill="[^"]*"><title>(.*?)</title>',
                          chart)
        assert [title for _, title in bars] == [
            "Amount due, Not yet due: 22.80\xa0EUR",
            "Amount due, 1–30 days: 0.00\xa0EUR",
            "Amount due, 31–60 days: 118.80\xa0EUR",
            "Amount due, 61–90 days: 0.00\xa0EUR",
            "Amount due, 90+ days: 1,234.50\xa0EUR",
        ]
        heights = [float(height) for height, _ in bars]
        assert heights[1] == heights[3] == 0 and 0 < heights[0] < heights[2] < heights[4]
        assert '<td>90+ days</td><td class="tmcp-number">1</td><td class="tmcp-number">1,234.50\xa0EUR</td>' in aging


@pytest.mark.django_db
class TestTopCustomersAndFailedEmails:
    def test_the_ten_heaviest_users_of_this_month(self, finance_client, plans, now, today):
        month = period_containing(today)
        during_month = month.start_at + (now - month.start_at) / 2
        customers = [UserProfileFactory(company_name=f"Company {index}").user for index in range(12)]
        for index, customer in enumerate(customers):
            UsageLogFactory(user=customer, tokens=1_000 * (index + 1), created_at=during_month)
            UsageLogFactory(user=customer, tokens=500, created_at=during_month)
        UsageLogFactory(user=customers[0], tokens=10**9, created_at=month.start_at - DAY)  # last month
        subscription(plans["team"], started_days_ago=60, now=now, user=customers[11])

        result = figures(finance_client)

        assert [(row.email, row.tokens) for row in result.top_customers] == [
            (customers[index].email, 1_000 * (index + 1) + 500) for index in range(11, 1, -1)
        ]
        top = result.top_customers[0]
        assert (top.plan_name, top.included_tokens) == ("Team", plans["team"].included_tokens)
        assert result.top_customers[1].plan_name == ""

    def test_invoices_whose_email_failed_and_was_not_delivered_since(self, finance_client):
        failed, resent = InvoiceFactory(), InvoiceFactory()
        for invoice in (failed, resent):
            EmailNotification.objects.create(
                key=f"invoice-issued:{invoice.pk}", user=invoice.user, kind=EmailKind.INVOICE_ISSUED, invoice=invoice,
                status=EmailStatus.FAILED, attempts=3, last_error="SMTPServerDisconnected",
            )
        EmailNotification.objects.create(
            key=f"invoice-resent:{resent.pk}:1", user=resent.user, kind=EmailKind.INVOICE_ISSUED, invoice=resent,
            status=EmailStatus.SENT,
        )
        EmailNotification.objects.create(
            key="reminder:1", user=UserFactory(), kind=EmailKind.PAYMENT_REMINDER, status=EmailStatus.FAILED
        )

        response = finance_client.get(DASHBOARD)

        result = response.context["figures"]
        assert result.failed_email_count == 1
        assert [email.invoice_id for email in result.failed_emails] == [failed.pk]
        assert "SMTPServerDisconnected" in response.content.decode()


@pytest.mark.django_db
def test_staff_outside_finance_are_refused(client):
    client.force_login(staff_user())

    assert client.get(DASHBOARD).status_code == 403


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_the_login(client):
    response = client.get(DASHBOARD)

    assert response.status_code == 302
    assert reverse("admin:login") in response.url


@pytest.mark.django_db
class TestCustomerUsageAfterAPlanChange:
    """The admin's customer page counts usage against the quota as the limits do (DESIGN "Plan changes")."""

    DECEMBER = datetime.date(2026, 12, 1)

    def noon(self, year: int, month: int, day: int) -> datetime.datetime:
        return paris(year, month, day, 12)

    def test_the_current_period_counts_the_new_plans_share_since_the_change(self, client):
        pro = PlanFactory(code="pro-usage", name="Pro", price=Decimal("19.00"), included_tokens=5_000_000)
        team = PlanFactory(code="team-usage", name="Team", price=Decimal("99.00"), included_tokens=50_000_000)
        customer = UserFactory()
        subscription = SubscriptionFactory(
            user=customer, plan=pro, current_period_start=self.DECEMBER, current_period_end=datetime.date(2027, 1, 1),
            started_at=paris(2026, 11, 1),
        )
        UsageLogFactory(user=customer, tokens=300_000, created_at=self.noon(2026, 11, 20))
        UsageLogFactory(user=customer, tokens=1_000_000, created_at=self.noon(2026, 12, 5))
        subscription_change_plan(
            subscription=subscription, plan=team, now=paris(2026, 12, 16, 10)
        )
        UsageLogFactory(user=customer, tokens=2_000_000, created_at=self.noon(2026, 12, 20))

        current, previous = customer_usage(user=customer, today=datetime.date(2026, 12, 20))

        # Team's 16 days of 31: 50,000,000 × 16 ÷ 31 = 25,806,451 tokens, against the 2,000,000 used since.
        assert (current.tokens, current.included_tokens, current.counted_tokens) == (3_000_000, 25_806_451, 2_000_000)
        assert (current.counted_from, current.percent) == (datetime.date(2026, 12, 16), 8)
        assert (previous.tokens, previous.included_tokens, previous.counted_tokens) == (300_000, 5_000_000, 300_000)
        assert (previous.counted_from, previous.percent) == (None, 6)
        with time_machine.travel(paris(2026, 12, 20, 12), tick=False):
            client.force_login(finance_user())
            page = client.get(reverse("admin:accounts_user_change", args=[customer.pk])).content.decode()
        assert "8 % of 25,806,451 since 2026-12-16" in page
        assert "6 % of 5,000,000<" in page


def vat_table(content: str) -> list[tuple[str, ...]]:
    """The rows of the VAT by country table as the page shows them: country, rate, taxable amount, VAT."""
    table = content[content.index('id="vat-by-country"'):content.index('id="top-customers"')]
    return [
        (country, *re.findall(r'<td class="tmcp-number">(.*?)</td>', cells))
        for country, cells in re.findall(r'<tr><th scope="row">(.*?)</th>(.*?)</tr>', table)
    ]


@pytest.mark.django_db
class TestVatByCountry:
    """October 2026 invoiced on 1 November (Pro, 6,500,000 tokens: 22.00 before VAT), seen on 18 November."""

    @pytest.fixture
    def invoices(self, settings):
        settings.OSS_REGISTERED = False
        below_threshold = period_invoice(company_name="", country="DE")  # French VAT, before registering
        settings.OSS_REGISTERED = True
        return {
            "below_threshold": below_threshold,
            "french": period_invoice(company_name=""),
            "german": period_invoice(company_name="", country="DE"),
            "finnish": period_invoice(company_name="", country="FI"),
            "reverse_charged": period_invoice(company_name="Acme GmbH", country="DE", vat_number="DE136695976"),
            "american": period_invoice(company_name="", country="US"),
        }

    def test_this_quarter_per_member_state_and_rate(self, finance_client, invoices):
        response = finance_client.get(DASHBOARD)

        assert [(row.country, row.rate, row.taxable, row.vat) for row in response.context["vat"]] == [
            ("FR", Decimal("0.2"), Decimal("44.00"), Decimal("8.80")),  # a German consumer's French VAT included
            ("DE", Decimal("0.19"), Decimal("22.00"), Decimal("4.18")),
            ("FI", Decimal("0.255"), Decimal("22.00"), Decimal("5.61")),
        ]
        assert response.context["vat_period"] == (datetime.date(2026, 10, 1), datetime.date(2026, 11, 18))
        assert vat_table(response.content.decode()) == [
            ("France (FR)", "20\u00a0%", "44.00\u00a0EUR", "8.80\u00a0EUR"),
            ("Germany (DE)", "19\u00a0%", "22.00\u00a0EUR", "4.18\u00a0EUR"),
            ("Finland (FI)", "25.5\u00a0%", "22.00\u00a0EUR", "5.61\u00a0EUR"),
        ]

    def test_a_credit_note_of_the_period_is_deducted_from_its_country(self, finance_client, invoices):
        invoice_cancel(invoice=invoices["finnish"], reason="Billed twice", now=paris(2026, 11, 10, 9, 0))

        response = finance_client.get(DASHBOARD, {"first_day": "2026-11-05", "last_day": "2026-11-30"})

        assert [(row.country, row.rate, row.taxable, row.vat) for row in response.context["vat"]] == [
            ("FI", Decimal("0.255"), Decimal("-22.00"), Decimal("-5.61")),  # the invoices were issued before
        ]
        assert response.context["vat_period"] == (datetime.date(2026, 11, 5), datetime.date(2026, 11, 30))

    def test_a_period_ending_before_it_starts_is_refused(self, finance_client, invoices):
        response = finance_client.get(DASHBOARD, {"first_day": "2026-11-30", "last_day": "2026-11-01"})

        assert response.context["vat"] is None
        content = response.content.decode()
        assert "The last day comes before the first." in content
        assert vat_table(content) == []
