"""The quota after a plan change within a period: each plan's segment has its share of its plan's quota by days,
and the live limits (hard cap, spend cap), the usage alerts and the dashboard's figure count only the tokens used
since the change against the share of the plan in force. A period on one plan keeps its whole quota."""
import datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
import time_machine

from accounts.tests.factories import UserProfileFactory
from billing.metering.throttles import PlanQuotaThrottle, request_account
from billing.models import AlertType, BillingAlert
from billing.periods import month
from billing.selectors import load_subscriptions, quota_usages, usage_summary
from billing.services import (
    subscription_change_plan,
    subscription_scheduled_change_apply,
    usage_threshold_alerts_raise,
)
from billing.tests.factories import PlanFactory, SubscriptionFactory, paris
from billing.tests.test_throttles import DOCS, key_client
from libraries.tests.factories import UsageLogFactory
from libraries.throttling import MeteredUsage

pytestmark = pytest.mark.django_db

DECEMBER = month(2026, 12)  # 31 days


def team():
    return PlanFactory(code="team", name="Team", price=Decimal("99.00"), included_tokens=50_000_000,
                       overage_price_per_million=Decimal("1.50"))


def free():
    return PlanFactory(code="free", name="Free", price=Decimal("0.00"), included_tokens=1_000_000,
                       overage_price_per_million=Decimal("0"))


def pro_customer_in_december(*, language="en", spend_cap=None):
    """DESIGN's Pro: 19.00, 5,000,000 tokens, 2.00 per million."""
    user = UserProfileFactory(country="FR", language=language, monthly_spend_cap=spend_cap).user
    subscription = SubscriptionFactory(user=user, plan=PlanFactory(), current_period_start=DECEMBER.start,
                                       current_period_end=DECEMBER.end)
    return user, subscription


def use(user, tokens, at):
    UsageLogFactory(user=user, tokens=tokens, created_at=at)


def quota_at(subscription, now):
    [loaded] = load_subscriptions([subscription.pk])
    return quota_usages({loaded: DECEMBER}, now=now, until=now)[loaded]


def docs_at(user, now):
    with time_machine.travel(now, tick=False):
        return key_client(user).get(DOCS)


class TestSegmentQuota:
    def test_the_worked_example_team_has_1_612_903_tokens_for_its_one_day(self):
        user, subscription = pro_customer_in_december()
        team()
        use(user, 40_000_000, paris(2026, 12, 3, 10))
        subscription_change_plan(subscription=subscription, plan=team(), now=paris(2026, 12, 31, 9))
        use(user, 1_000_000, paris(2026, 12, 31, 10))

        quota = quota_at(subscription, paris(2026, 12, 31, 12))

        assert [(s.plan.code, s.period.days, s.included_tokens) for s in quota.segments] == [
            ("pro", 30, 4_838_709), ("team", 1, 1_612_903)
        ]
        assert (quota.segment.plan.code, quota.included_tokens, quota.tokens_used) == ("team", 1_612_903, 1_000_000)
        assert quota.tokens_before == 40_000_000
        assert quota.earlier_charge == Decimal("70.32")  # 35,161,291 tokens at 2.00 per million, as invoiced
        assert quota.occasion == "2026-12-31:team"

    def test_a_period_on_one_plan_keeps_its_whole_quota_and_every_token(self):
        user, subscription = pro_customer_in_december()
        use(user, 4_000_000, paris(2026, 12, 3, 10))

        quota = quota_at(subscription, paris(2026, 12, 20))

        assert (quota.included_tokens, quota.tokens_used, quota.tokens_before) == (5_000_000, 4_000_000, 0)
        assert quota.earlier_charge == 0
        assert quota.occasion == "2026-12"


class TestHardCapAfterADowngradeAppliedAtOnce:
    """Pro until the 15th, then Free (hard cap, 1,000,000 tokens) applied at once by finance on the 16th: Free's
    16 days of 31 have 1,000,000 × 16 ÷ 31 = 516,129 tokens; Pro's usage before does not count against them."""

    @pytest.fixture
    def customer(self, library_version):
        user, subscription = pro_customer_in_december()
        use(user, 3_000_000, paris(2026, 12, 5, 10))
        subscription_change_plan(subscription=subscription, plan=free(), now=paris(2026, 12, 10, 9))
        subscription_scheduled_change_apply(subscription=subscription, now=paris(2026, 12, 16, 9))
        return user

    def test_calls_go_through_below_the_segment_quota_whatever_was_used_before(self, customer):
        use(customer, 516_128, paris(2026, 12, 16, 10))

        assert docs_at(customer, paris(2026, 12, 16, 12)).status_code == 200

    def test_calls_are_refused_at_the_segment_quota_not_at_the_whole_one(self, customer):
        use(customer, 516_129, paris(2026, 12, 16, 10))  # far below Free's whole 1,000,000

        response = docs_at(customer, paris(2026, 12, 16, 12))

        assert response.status_code == 429
        assert response.json()["error"]["code"] == "quota_exceeded"
        assert "516,129 tokens included in your Free plan" in response.json()["error"]["message"]


class TestAWarmCounter:
    def test_follows_a_plan_change_at_once(self, library_version):  # noqa: F811
        """The quota is cached under the plan in force: a counter seeded before the change does not carry the
        old plan's quota over."""
        user, subscription = pro_customer_in_december()
        client = key_client(user)
        with time_machine.travel(paris(2026, 12, 16, 8), tick=False):
            assert client.get(DOCS).status_code == 200  # seeds the counter and Pro's quota
        subscription_change_plan(subscription=subscription, plan=free(), now=paris(2026, 12, 16, 8, 30))
        subscription_scheduled_change_apply(subscription=subscription, now=paris(2026, 12, 16, 8, 30))
        use(user, 516_129, paris(2026, 12, 16, 8, 45))

        with time_machine.travel(paris(2026, 12, 16, 9), tick=False):
            assert client.get(DOCS).status_code == 429


    def test_once_warm_a_call_reads_no_database_after_a_change_either(self, django_assert_num_queries):
        user, subscription = pro_customer_in_december()
        subscription_change_plan(subscription=subscription, plan=team(), now=paris(2026, 12, 16, 9))
        request, view = SimpleNamespace(user=user), SimpleNamespace(metered=True)
        request_account(request)  # read once per request, by the request's own statement
        with time_machine.travel(paris(2026, 12, 16, 10), tick=False):
            assert PlanQuotaThrottle().allow_request(request, view)  # seeds the counter and the quota

            with django_assert_num_queries(0):
                assert PlanQuotaThrottle().allow_request(request, view)


class TestSpendCapAcrossSegments:
    """DESIGN's worked example: 40,000,000 tokens on Pro bill 70.32 of overage; Team from the 31st, 1,612,903
    tokens for its day at 1.50 per million."""

    def customer(self, spend_cap):
        user, subscription = pro_customer_in_december(spend_cap=Decimal(spend_cap))
        use(user, 40_000_000, paris(2026, 12, 3, 10))
        subscription_change_plan(subscription=subscription, plan=team(), now=paris(2026, 12, 31, 9))
        return user

    def test_within_the_new_plans_quota_calls_add_nothing_and_go_through(self, library_version):  # noqa: F811
        user = self.customer("50.00")  # already below the 70.32 that Pro's days cost
        use(user, 1_612_902, paris(2026, 12, 31, 10))

        assert docs_at(user, paris(2026, 12, 31, 12)).status_code == 200

    def test_the_cap_weighs_every_segment_as_the_invoice_prices_it(self, library_version):  # noqa: F811
        user = self.customer("76.32")
        use(user, 1_612_903 + 3_990_000, paris(2026, 12, 31, 10))  # Team: 5.985 → 5.99, 76.31 in all

        assert docs_at(user, paris(2026, 12, 31, 12)).status_code == 200
        use(user, 10_000, paris(2026, 12, 31, 12, 30))  # Team: 6.00 → 76.32
        PlanQuotaThrottle.usage_recorded([MeteredUsage(user.pk, 10_000 + 1_200, paris(2026, 12, 31, 12, 30))])

        response = docs_at(user, paris(2026, 12, 31, 13))

        assert response.status_code == 402
        assert response.json()["error"]["code"] == "spend_cap_reached"
        [alert] = BillingAlert.objects.filter(user=user)
        assert alert.occasion == "2026-12:spend-cap"
        assert alert.message == (
            "Your overage this period reached your monthly spend cap of 76.32\xa0EUR: metered calls are refused "
            "until 1 January 2027, or until you raise the cap on your account page."
        )


def threshold_occasions(user):
    alerts = BillingAlert.objects.filter(user=user, type=AlertType.USAGE_THRESHOLD)
    return sorted(alerts.values_list("occasion", flat=True))


class TestUsageAlertsAfterAnUpgrade:
    """Pro until the 15th, Team from the 16th: Team's 16 days of 31 have 50,000,000 × 16 ÷ 31 = 25,806,451 tokens,
    80 % of which is 20,645,160.8."""

    @pytest.fixture
    def customer(self):
        user, subscription = pro_customer_in_december()
        use(user, 4_500_000, paris(2026, 12, 10, 10))
        usage_threshold_alerts_raise(now=paris(2026, 12, 11))  # Pro's whole period: 90 %
        subscription_change_plan(subscription=subscription, plan=team(), now=paris(2026, 12, 16, 9))
        return user

    def test_80_percent_of_the_segment_quota_raises_the_segments_own_alert(self, customer):
        use(customer, 20_645_161, paris(2026, 12, 18, 10))

        usage_threshold_alerts_raise(now=paris(2026, 12, 20))

        assert threshold_occasions(customer) == ["2026-12-16:team:80", "2026-12:80"]
        alert = BillingAlert.objects.get(user=customer, occasion="2026-12-16:team:80")
        assert alert.message == (
            "Since your change to the Team plan on 16 December 2026 you have used 20,645,161 of the 25,806,451 "
            "tokens included for its days this period (80 %)."
        )

    def test_tokens_of_the_earlier_plan_do_not_count_and_an_alert_is_never_repeated(self, customer):
        use(customer, 20_645_160, paris(2026, 12, 18, 10))  # 80 % with Pro's 4,500,000, not without

        usage_threshold_alerts_raise(now=paris(2026, 12, 20))
        assert threshold_occasions(customer) == ["2026-12:80"]

        use(customer, 25_806_451 - 20_645_160, paris(2026, 12, 21, 10))
        usage_threshold_alerts_raise(now=paris(2026, 12, 22))
        usage_threshold_alerts_raise(now=paris(2026, 12, 23))

        assert threshold_occasions(customer) == ["2026-12-16:team:100", "2026-12-16:team:80", "2026-12:80"]


class TestDashboardFigure:
    def test_after_an_upgrade_the_gauge_counts_the_new_plans_days(self):
        user, subscription = pro_customer_in_december()
        use(user, 4_500_000, paris(2026, 12, 10, 10))
        subscription_change_plan(subscription=subscription, plan=team(), now=paris(2026, 12, 16, 9))
        use(user, 12_903_226, paris(2026, 12, 18, 10))

        usage = usage_summary(user=user, now=paris(2026, 12, 20))

        assert (usage.plan.code, usage.tokens_used, usage.included_tokens) == ("team", 12_903_226, 25_806_451)
        assert usage.percent_used == Decimal("50.00")
        assert (usage.period, usage.counted.start, usage.counted.end) == (
            DECEMBER, datetime.date(2026, 12, 16), DECEMBER.end
        )
        assert sum(day.tokens for day in usage.daily) == 4_500_000 + 12_903_226  # the chart keeps the whole period

    def test_a_period_on_one_plan_shows_the_whole_quota(self):
        user, _ = pro_customer_in_december()
        use(user, 4_500_000, paris(2026, 12, 10, 10))

        usage = usage_summary(user=user, now=paris(2026, 12, 20))

        assert (usage.tokens_used, usage.included_tokens, usage.percent_used) == (4_500_000, 5_000_000, Decimal("90"))
        assert usage.counted == DECEMBER
