"""Usage charts of the dashboard: tokens per Paris month over the last 12 months, and the forecast to the period's
end at today's pace, each with a table of the same figures.

Time is pinned: December 2026 is a 31-day month without a clock change, so a day is 24 hours throughout.
"""
import datetime

import pytest
from django.urls import reverse

from accounts.tests.factories import UserFactory
from billing.selectors import MonthlyUsage, usage_forecast, usage_last_months, usage_summary
from billing.tests.factories import PARIS, PlanFactory, SubscriptionFactory
from libraries.tests.factories import UsageLogFactory

UTC = datetime.UTC
MID_DECEMBER = datetime.datetime(2026, 12, 11, 12, 0, tzinfo=PARIS)  # 10.5 days into December


@pytest.fixture
def customer(db):
    """A customer without a billing profile, unlike the root conftest's: the charts speak the browser's language."""
    return UserFactory(email="ada@example.com")


@pytest.fixture
def subscription(customer):
    return SubscriptionFactory(
        user=customer, plan=PlanFactory(), current_period_start=datetime.date(2026, 12, 1),
        current_period_end=datetime.date(2027, 1, 1), started_at=datetime.datetime(2026, 11, 1, tzinfo=PARIS),
    )


def used(customer, tokens, at):
    UsageLogFactory(user=customer, tokens=tokens, created_at=at)


@pytest.mark.django_db
class TestUsageOfTheLastTwelveMonths:
    def test_each_paris_month_holds_its_tokens_in_one_query(self, customer, django_assert_num_queries):
        # 23:30 UTC on 31 October is 00:30 on 1 November in Paris: November, the current month.
        now = datetime.datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
        used(customer, 1_234, now)
        used(customer, 20_000, datetime.datetime(2026, 10, 31, 22, 30, tzinfo=UTC))  # 23:30 in Paris: October
        used(customer, 300, datetime.datetime(2026, 10, 1, 8, 0, tzinfo=UTC))
        used(customer, 7, datetime.datetime(2025, 11, 30, 23, 30, tzinfo=UTC))  # 1 December 2025 in Paris: oldest
        used(customer, 999_999, datetime.datetime(2025, 11, 30, 22, 30, tzinfo=UTC))  # November 2025: too old
        used(UserFactory(), 55_555, now)  # someone else's

        with django_assert_num_queries(1):
            months = usage_last_months(user=customer, now=now)

        assert months[0] == MonthlyUsage(datetime.date(2025, 12, 1), 7)
        assert months[-2:] == (
            MonthlyUsage(datetime.date(2026, 10, 1), 20_300), MonthlyUsage(datetime.date(2026, 11, 1), 1_234)
        )
        assert len(months) == 12
        assert [month.tokens for month in months[1:-2]] == [0] * 9


@pytest.mark.django_db
class TestForecast:
    def test_the_pace_so_far_runs_to_the_end_of_a_31_day_month(self, customer, subscription):
        used(customer, 2_100_000, datetime.datetime(2026, 12, 5, 9, 0, tzinfo=PARIS))

        forecast = usage_forecast(usage=usage_summary(user=customer, now=MID_DECEMBER), now=MID_DECEMBER)

        # 2,100,000 tokens in 10.5 days: 200,000 a day, 6,200,000 in 31 days; Pro's 5,000,000 after 25 days.
        assert forecast.elapsed_days == 10.5 and forecast.period_days == 31
        assert forecast.projected_tokens == 6_200_000
        assert forecast.quota_reached_date == datetime.date(2026, 12, 26)

    def test_a_slow_pace_does_not_reach_the_quota_this_period(self, customer, subscription):
        used(customer, 1_050_000, datetime.datetime(2026, 12, 5, 9, 0, tzinfo=PARIS))

        forecast = usage_forecast(usage=usage_summary(user=customer, now=MID_DECEMBER), now=MID_DECEMBER)

        assert forecast.projected_tokens == 3_100_000
        assert forecast.quota_reached_date is None


@pytest.fixture
def dashboard(client, customer, subscription, time_machine):
    time_machine.move_to(MID_DECEMBER, tick=False)
    client.force_login(customer)

    def get(**headers):
        response = client.get(reverse("billing:dashboard"), **headers)
        assert response.status_code == 200
        return response.content.decode()

    return get


def table(html: str, testid: str) -> str:
    start = html.index(f'data-testid="{testid}"')
    return html[start : html.index("</table>", start)]


@pytest.mark.django_db
class TestDashboardCharts:
    def test_the_monthly_chart_and_its_table_show_each_month(self, dashboard, customer):
        used(customer, 1_500_000, datetime.datetime(2026, 11, 20, 9, 0, tzinfo=PARIS))
        used(customer, 2_100_000, datetime.datetime(2026, 12, 5, 9, 0, tzinfo=PARIS))

        html = dashboard()

        assert 'class="usage-chart monthly-chart"' in html and 'aria-labelledby="monthly-chart-title' in html
        assert "Tokens used per month, Jan 2026 to Dec 2026" in html
        months = table(html, "monthly-table")
        assert months.count('<th scope="row">') == 12
        assert '<th scope="row">Nov 2026</th><td class="num">1,500,000</td>' in months
        assert '<th scope="row">Dec 2026</th><td class="num">2,100,000</td>' in months
        assert '<th scope="row">Jan 2026</th><td class="num">0</td>' in months

    def test_the_forecast_chart_and_its_table_give_the_pace_and_the_quota_date(self, dashboard, customer):
        used(customer, 2_100_000, datetime.datetime(2026, 12, 5, 9, 0, tzinfo=PARIS))

        html = dashboard()

        assert 'class="usage-chart forecast-chart"' in html and 'role="img"' in html
        figures = table(html, "forecast-table")
        for row in (
            ("Used so far", "2,100,000"), ("Days elapsed", "10.5 of 31"), ("Forecast at period end", "6,200,000"),
            ("Included in your plan", "5,000,000"), ("Quota reached", "26 December 2026"),
        ):
            assert '<th scope="row">{}</th><td class="num">{}</td>'.format(*row) in figures

    def test_at_a_slow_pace_the_quota_is_not_reached_this_period(self, dashboard, customer):
        used(customer, 1_050_000, datetime.datetime(2026, 12, 5, 9, 0, tzinfo=PARIS))

        figures = table(dashboard(), "forecast-table")

        assert '<td class="num">3,100,000</td>' in figures and "not this period" in figures

    def test_beyond_the_quota_it_is_already_reached(self, dashboard, customer):
        used(customer, 6_000_000, datetime.datetime(2026, 12, 5, 9, 0, tzinfo=PARIS))

        figures = table(dashboard(), "forecast-table")

        assert '<th scope="row">Quota reached</th><td class="num">already reached</td>' in figures

    def test_in_french_the_charts_speak_french(self, dashboard, customer):
        used(customer, 2_100_000, datetime.datetime(2026, 12, 5, 9, 0, tzinfo=PARIS))

        html = dashboard(HTTP_ACCEPT_LANGUAGE="fr")

        assert "Prévision jusqu’à la fin de la période" in html
        assert "26 décembre 2026" in table(html, "forecast-table")
