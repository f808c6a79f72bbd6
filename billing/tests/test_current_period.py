"""`current_period`: one answer to "which period is the customer in now?" for the limits, the customer's usage
page and finance's customer page. Between midnight on the 1st and the monthly run, the subscription still holds
the month that just ended; all three count the new month already, so none of them shows October's tokens against
November's quota, nor one of them refuses calls the others call allowed."""
import datetime
from decimal import Decimal

import pytest

from accounts.tests.factories import make_customer
from billing.backoffice.dashboard import customer_usage
from billing.periods import Period, month
from billing.selectors import current_period, load_subscriptions, usage_summary
from billing.tests.factories import PARIS, PlanFactory, SubscriptionFactory
from libraries.tests.factories import UsageLogFactory

pytestmark = pytest.mark.django_db

OCTOBER, NOVEMBER = month(2026, 10), month(2026, 11)
# 00:30 on 1 November in Paris: October has ended, the monthly run (02:00) has not rolled the subscription yet.
BEFORE_THE_RUN = datetime.datetime(2026, 11, 1, 0, 30, tzinfo=PARIS)


@pytest.fixture
def october_customer():
    """A Pro customer (5,000,000 tokens included) whose subscription still holds October, with 4,200,000 tokens
    used in October and 300,000 in the first half hour of November."""
    user = make_customer()
    plan = PlanFactory(price=Decimal("19.00"), included_tokens=5_000_000, overage_price_per_million=Decimal("2.00"))
    subscription = SubscriptionFactory(
        user=user, plan=plan, current_period_start=OCTOBER.start, current_period_end=OCTOBER.end
    )
    UsageLogFactory(user=user, tokens=4_200_000, created_at=datetime.datetime(2026, 10, 20, 12, tzinfo=PARIS))
    UsageLogFactory(user=user, tokens=300_000, created_at=datetime.datetime(2026, 11, 1, 0, 10, tzinfo=PARIS))
    return subscription


class TestCurrentPeriod:
    def test_is_the_subscriptions_period_while_it_lasts(self, october_customer):
        now = datetime.datetime(2026, 10, 31, 23, 59, tzinfo=PARIS)
        assert current_period(october_customer, now=now) == Period(OCTOBER.start, OCTOBER.end)

    def test_rolls_forward_before_the_run_has_moved_the_subscription(self, october_customer):
        assert current_period(october_customer, now=BEFORE_THE_RUN) == Period(NOVEMBER.start, NOVEMBER.end)

    def test_a_yearly_plan_rolls_forward_by_a_year(self):
        plan = PlanFactory(interval="YEAR", price=Decimal("190.00"))
        subscription = SubscriptionFactory(
            plan=plan, current_period_start=datetime.date(2025, 11, 1), current_period_end=datetime.date(2026, 11, 1)
        )
        [loaded] = load_subscriptions([subscription.pk])
        assert current_period(loaded, now=BEFORE_THE_RUN) == Period(
            datetime.date(2026, 11, 1), datetime.date(2027, 11, 1)
        )


class TestEveryPageCountsTheSamePeriod:
    def test_the_usage_page_counts_november_only(self, october_customer):
        usage = usage_summary(user=october_customer.user, now=BEFORE_THE_RUN)
        assert usage.period == Period(NOVEMBER.start, NOVEMBER.end)
        assert usage.tokens_used == 300_000
        assert usage.percent_used == Decimal("6.0")

    def test_finance_sees_november_and_october_as_the_one_before(self, october_customer):
        current, previous = customer_usage(user=october_customer.user, today=BEFORE_THE_RUN.date())
        assert (current.period, current.tokens, current.included_tokens) == (
            Period(NOVEMBER.start, NOVEMBER.end), 300_000, 5_000_000
        )
        assert (previous.period, previous.tokens) == (Period(OCTOBER.start, OCTOBER.end), 4_200_000)
