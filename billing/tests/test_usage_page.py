"""The customer's usage in detail: `usage_breakdown` by day, API key and library, the page /billing/usage/, its CSV
and GET /api/billing/usage/?group_by=….

Ada's October 2026 (Paris), on Pro (5,000,000 tokens included), read on 20 October at noon; worked out by hand:

    when (Paris)            key              library            endpoint            tokens
    1 Oct 01:30 (*)         CI key           Next.js            docs                 1,000
    1 Oct 10:00             (browser)        React              docs                 2,500
    5 Oct 09:00             Laptop (revoked) Next.js            mcp:query-docs       4,000
    5 Oct 18:00             CI key           React              docs                   300
    20 Oct 11:00            CI key           (none: a search)   search                  50
    (*) 23:30 UTC on 30 September: October in Paris. 23:30 in Paris on 30 September (7,000 tokens) is September's.

    by day:     1 Oct 3,500 (2 calls), 5 Oct 4,300 (2), 20 Oct 50 (1), the 17 other days 0: 7,850 tokens, 5 calls
    by key:     Laptop 4,000 (1), browser 2,500 (1), CI key 1,350 (3)
    by library: Next.js 5,000 (2, the MCP call included), React 2,800 (2), no library 50 (1)

Bob's 9,000,000 tokens on 5 October, with his own key, are never shown to Ada.
"""
import csv
import datetime
import io

import pytest
from rest_framework.test import APIClient

from accounts.tests.factories import ApiKeyFactory, make_customer
from billing import clock
from billing.periods import month
from billing.selectors import usage_breakdown, usage_periods
from billing.tests.factories import InvoiceFactory, PlanFactory, SubscriptionFactory, paris
from billing.tests.test_apis import client_for, error_of
from libraries.tests.factories import LibraryFactory, UsageLogFactory

UTC = datetime.UTC
NOW = paris(2026, 10, 20, 12, 0)
OCTOBER = month(2026, 10)


@pytest.fixture
def pinned_clock(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)
    return NOW


@pytest.fixture
def ada(customer):
    """`customer` (Ada) on Pro for October 2026, with the usage of the table above, and Bob beside her."""
    SubscriptionFactory(user=customer, plan=PlanFactory())
    ci = ApiKeyFactory(user=customer, name="CI key", prefix="ci000001")
    laptop = ApiKeyFactory(user=customer, name="Laptop", prefix="lap00001", revoked_at=paris(2026, 10, 10, 9, 0))
    next_js = LibraryFactory(slug="vercel/next.js", name="Next.js")
    react = LibraryFactory(slug="facebook/react", name="React")
    used = UsageLogFactory
    used(user=customer, api_key=ci, library=next_js, tokens=1_000, created_at=datetime.datetime(2026, 9, 30, 23, 30,
                                                                                                  tzinfo=UTC))
    used(user=customer, api_key=None, library=react, tokens=2_500, created_at=paris(2026, 10, 1, 10, 0))
    used(user=customer, api_key=laptop, library=next_js, tokens=4_000, endpoint="mcp:query-docs",
         created_at=paris(2026, 10, 5, 9, 0))
    used(user=customer, api_key=ci, library=react, tokens=300, created_at=paris(2026, 10, 5, 18, 0))
    used(user=customer, api_key=ci, library=None, tokens=50, endpoint="/api/libraries/",
         created_at=paris(2026, 10, 20, 11, 0))
    used(user=customer, api_key=ci, library=next_js, tokens=7_000, created_at=paris(2026, 9, 30, 23, 30))
    bob = make_customer(user__email="bob@example.com")
    used(user=bob, api_key=ApiKeyFactory(user=bob, name="Bob key", prefix="bob00001"), library=next_js,
         tokens=9_000_000, created_at=paris(2026, 10, 5, 10, 0))
    return customer


def figures(breakdown) -> list[tuple]:
    return [(group.key, group.label, group.tokens, group.calls) for group in breakdown.groups]


@pytest.mark.django_db
class TestUsageBreakdown:
    def test_by_day_every_day_up_to_today_in_paris_in_one_query(self, ada, django_assert_num_queries):
        with django_assert_num_queries(1):
            breakdown = usage_breakdown(user=ada, period=OCTOBER, group_by="day", now=NOW)

        days = {group.key: (group.tokens, group.calls) for group in breakdown.groups}
        assert [group.key for group in breakdown.groups] == [f"2026-10-{day:02d}" for day in range(1, 21)]
        assert days["2026-10-01"] == (3_500, 2)  # the call of 23:30 UTC on 30 September included
        assert days["2026-10-05"] == (4_300, 2)
        assert days["2026-10-20"] == (50, 1)
        assert sum(tokens for tokens, _calls in days.values()) == 7_850
        assert [day for day, (tokens, _calls) in days.items() if tokens == 0] == [
            f"2026-10-{day:02d}" for day in (2, 3, 4, *range(6, 20))
        ]
        assert (breakdown.tokens, breakdown.calls) == (7_850, 5)

    def test_by_api_key_the_most_used_first_a_revoked_key_by_its_name(self, ada, django_assert_num_queries):
        with django_assert_num_queries(1):
            breakdown = usage_breakdown(user=ada, period=OCTOBER, group_by="api_key", now=NOW)

        assert figures(breakdown) == [
            ("lap00001", "Laptop", 4_000, 1),
            (None, "Browser session (no API key)", 2_500, 1),
            ("ci000001", "CI key", 1_350, 3),
        ]

    def test_by_library_the_mcp_calls_counted_under_their_library(self, ada, django_assert_num_queries):
        with django_assert_num_queries(1):
            breakdown = usage_breakdown(user=ada, period=OCTOBER, group_by="library", now=NOW)

        assert figures(breakdown) == [
            ("vercel/next.js", "Next.js", 5_000, 2), ("facebook/react", "React", 2_800, 2), (None, "No library", 50, 1),
        ]

    def test_equal_tokens_are_sorted_by_name(self, customer):
        for name, prefix in (("Zeta", "z0000001"), ("alpha", "a0000001"), ("Mid", "m0000001")):
            key = ApiKeyFactory(user=customer, name=name, prefix=prefix)
            UsageLogFactory(user=customer, api_key=key, tokens=100 if name != "Mid" else 900,
                            created_at=paris(2026, 10, 2, 9, 0))

        breakdown = usage_breakdown(user=customer, period=OCTOBER, group_by="api_key", now=NOW)

        assert [group.label for group in breakdown.groups] == ["Mid", "alpha", "Zeta"]

    def test_a_past_period_has_all_its_days(self, ada):
        september = usage_breakdown(user=ada, period=month(2026, 9), group_by="day", now=NOW)

        assert len(september.groups) == 30
        assert (september.groups[-1].key, september.groups[-1].tokens) == ("2026-09-30", 7_000)
        assert (september.tokens, september.calls) == (7_000, 1)

    def test_the_periods_offered_are_the_current_one_then_those_used_or_invoiced(self, ada):
        august = InvoiceFactory(
            subscription=ada.subscriptions.get(), period_start=datetime.date(2026, 8, 1),
            period_end=datetime.date(2026, 9, 1), number="TMCP-2026-000001", status="SENT",
        )
        InvoiceFactory(subscription=SubscriptionFactory(plan=PlanFactory(code="other")),
                       period_start=datetime.date(2026, 6, 1), period_end=datetime.date(2026, 7, 1),
                       number="TMCP-2026-000002", status="SENT")  # someone else's

        periods = usage_periods(user=ada, now=NOW)

        assert [period.label for period in periods] == ["2026-10", "2026-09", "2026-08"]
        assert august.user == ada


@pytest.mark.django_db
@pytest.mark.usefixtures("pinned_clock")
class TestUsagePage:
    def test_login_is_required(self, client):
        response = client.get("/billing/usage/")

        assert response.status_code == 302
        assert response["Location"].startswith("/account/login/")

    def test_by_day_this_period_with_the_quota_and_the_total(self, ada, logged_in):
        response = logged_in.get("/billing/usage/")

        assert response.status_code == 200
        page = response.content.decode()
        assert "7,850 of the 5,000,000 tokens included in your plan used: 0.16&nbsp;%." in page
        assert '<td class="num" data-testid="usage-total-tokens">7,850</td>' in page
        assert '<td class="num" data-testid="usage-total-calls">5</td>' in page
        cells = '<th scope="row">Thu 1 Oct</th>', '<td class="num">3,500</td>', '<td class="num">2</td>'
        assert "\n          ".join(cells) in page  # the first day: its tokens, then its calls
        assert 'class="usage-chart daily-chart"' in page
        assert "9,000,000" not in page and "Bob key" not in page
        assert '<option value="2026-10" selected>October 2026 (current)</option>' in page
        assert '<option value="2026-09">September 2026</option>' in page
        assert 'href="/billing/usage/export.csv?period=2026-10&amp;group_by=day"' in page

    def test_by_api_key_and_by_library(self, ada, logged_in):
        by_key = logged_in.get("/billing/usage/?group_by=api_key&period=2026-10").content.decode()
        by_library = logged_in.get("/billing/usage/?group_by=library").content.decode()

        assert by_key.index("Laptop") < by_key.index("Browser session (no API key)") < by_key.index("CI key")
        assert "tmcp_lap00001_…" in by_key and "Bob key" not in by_key
        assert 'class="usage-chart breakdown-chart"' in by_key
        assert '<a href="/billing/usage/?period=2026-10&amp;group_by=api_key" aria-current="page">' in by_key
        assert by_library.index("Next.js") < by_library.index("React") < by_library.index("No library")
        assert "Next.js: 5,000" in by_library and "9,005,000" not in by_library

    def test_a_past_period_has_no_quota_line(self, ada, logged_in):
        page = logged_in.get("/billing/usage/?period=2026-09").content.decode()

        assert '<td class="num" data-testid="usage-total-tokens">7,000</td>' in page
        assert 'data-testid="quota-line"' not in page
        assert '<option value="2026-09" selected>' in page

    @pytest.mark.parametrize("query", ["period=2026-13", "group_by=month", "period=%00", "group_by=day&period=0000-01"])
    def test_a_bad_query_shows_the_current_period_by_day_with_a_message(self, ada, logged_in, query):
        response = logged_in.get(f"/billing/usage/?{query}")

        assert response.status_code == 200
        page = response.content.decode()
        assert "There is no such period or grouping: here is your current period by day." in page
        assert '<td class="num" data-testid="usage-total-tokens">7,850</td>' in page

    def test_the_dashboard_links_to_the_page(self, ada, logged_in):
        page = logged_in.get("/billing/").content.decode()

        assert '<a href="/billing/usage/">See usage in detail</a>' in page


def csv_lines(response) -> list[list[str]]:
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


@pytest.mark.django_db
@pytest.mark.usefixtures("pinned_clock")
class TestUsageCsv:
    def test_by_library(self, ada, logged_in):
        response = logged_in.get("/billing/usage/export.csv?period=2026-10&group_by=library")

        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"] == 'attachment; filename="usage-2026-10-library.csv"'
        assert csv_lines(response) == [
            ["library_slug", "library_name", "tokens", "calls"],
            ["vercel/next.js", "Next.js", "5000", "2"],
            ["facebook/react", "React", "2800", "2"],
            ["", "No library", "50", "1"],
        ]

    def test_by_api_key(self, ada, logged_in):
        response = logged_in.get("/billing/usage/export.csv?group_by=api_key")

        assert response["Content-Disposition"] == 'attachment; filename="usage-2026-10-api_key.csv"'
        assert csv_lines(response) == [
            ["api_key_prefix", "api_key_name", "tokens", "calls"],
            ["lap00001", "Laptop", "4000", "1"],
            ["", "Browser session (no API key)", "2500", "1"],
            ["ci000001", "CI key", "1350", "3"],
        ]

    def test_by_day_of_a_past_period(self, ada, logged_in):
        response = logged_in.get("/billing/usage/export.csv?period=2026-09")

        assert response["Content-Disposition"] == 'attachment; filename="usage-2026-09-day.csv"'
        lines = csv_lines(response)
        assert lines[0] == ["date", "tokens", "calls"]
        assert lines[1] == ["2026-09-01", "0", "0"]
        assert lines[-1] == ["2026-09-30", "7000", "1"]
        assert len(lines) == 31

    def test_a_key_name_never_runs_as_a_formula(self, customer, logged_in):
        key = ApiKeyFactory(user=customer, name="=HYPERLINK(\"http://evil\")", prefix="evil0001")
        UsageLogFactory(user=customer, api_key=key, tokens=10, created_at=paris(2026, 10, 2, 9, 0))

        lines = csv_lines(logged_in.get("/billing/usage/export.csv?group_by=api_key"))

        assert lines[1] == ["evil0001", "'=HYPERLINK(\"http://evil\")", "10", "1"]

    @pytest.mark.parametrize(("query", "field"), [("group_by=week", "group_by"), ("period=2026-1", "period")])
    def test_a_bad_query_answers_400_naming_the_field(self, ada, logged_in, query, field):
        response = logged_in.get(f"/billing/usage/export.csv?{query}")

        assert response.status_code == 400
        assert response.content.decode().startswith(f"{field}: ")


@pytest.mark.django_db
@pytest.mark.usefixtures("pinned_clock")
class TestUsageApi:
    def test_keeps_todays_fields_and_groups_by_day_by_default(self, ada):
        body = client_for(ada).get("/api/billing/usage/").json()

        assert set(body) == {"period_start", "period_end", "plan", "tokens_used", "included_tokens", "percent_used",
                             "daily", "group_by", "groups"}
        assert (body["tokens_used"], body["percent_used"], body["group_by"]) == (7_850, "0.16", "day")
        assert len(body["groups"]) == 20
        assert body["groups"][0] == {"key": "2026-10-01", "label": "2026-10-01", "tokens": 3_500, "calls": 2}
        assert body["daily"][0] == {"date": "2026-10-01", "tokens": 3_500}

    def test_by_api_key_and_by_library_each_cached_apart(self, ada):
        client = client_for(ada)

        by_key = client.get("/api/billing/usage/?group_by=api_key").json()
        by_library = client.get("/api/billing/usage/?group_by=library").json()
        september = client.get("/api/billing/usage/?group_by=library&period=2026-09").json()

        assert (by_key["group_by"], by_key["groups"]) == ("api_key", [
            {"key": "lap00001", "label": "Laptop", "tokens": 4_000, "calls": 1},
            {"key": None, "label": "Browser session (no API key)", "tokens": 2_500, "calls": 1},
            {"key": "ci000001", "label": "CI key", "tokens": 1_350, "calls": 3},
        ])
        assert (by_library["group_by"], by_library["groups"]) == ("library", [
            {"key": "vercel/next.js", "label": "Next.js", "tokens": 5_000, "calls": 2},
            {"key": "facebook/react", "label": "React", "tokens": 2_800, "calls": 2},
            {"key": None, "label": "No library", "tokens": 50, "calls": 1},
        ])
        assert september["groups"] == [{"key": "vercel/next.js", "label": "Next.js", "tokens": 7_000, "calls": 1}]

    def test_another_customer_sees_only_their_own(self, ada):
        bob = ada.__class__.objects.get(email="bob@example.com")

        body = client_for(bob).get("/api/billing/usage/?group_by=api_key").json()

        assert body["groups"] == [{"key": "bob00001", "label": "Bob key", "tokens": 9_000_000, "calls": 1}]

    @pytest.mark.parametrize(("query", "field"), [
        ("group_by=week", "group_by"), ("group_by=DAY", "group_by"), ("period=2026-13&group_by=day", "period"),
    ])
    def test_a_bad_query_answers_400_naming_the_field(self, query, field):
        response = client_for(make_customer()).get(f"/api/billing/usage/?{query}")

        assert response.status_code == 400
        assert list(error_of(response)["fields"]) == [field]

    def test_the_schema_names_the_groupings(self, db):
        schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

        parameters = {param["name"]: param for param in schema["paths"]["/api/billing/usage/"]["get"]["parameters"]}
        assert parameters["group_by"]["schema"]["enum"] == ["day", "api_key", "library"]
        assert parameters["group_by"]["schema"]["default"] == "day"
