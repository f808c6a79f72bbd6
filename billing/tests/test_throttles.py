"""The docs API's limits by plan (billing.metering.throttles), through the API as customers meet them, on real Redis.

The rate of the other endpoints of the API: test_rate_limits.py."""
import datetime
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import api_key_create
from accounts.tests.factories import UserFactory, UserProfileFactory
from billing.metering.throttles import PlanRateThrottle
from billing.models import AlertType, BillingAlert, Subscription, SubscriptionStatus
from billing.periods import Period, local_date, period_containing
from billing.tests.factories import PlanFactory, SubscriptionFactory
from libraries.models import UsageLog
from libraries.tests.factories import UsageLogFactory

pytestmark = pytest.mark.django_db

NOW = 1_800_000_010.0  # 10 seconds into a minute window
DOCS = "/api/libraries/acme/widgets/docs/"


@pytest.fixture(autouse=True)
def _pinned_clock(time_machine):
    time_machine.move_to(NOW, tick=False)


def this_period() -> Period:
    return period_containing(local_date(timezone.now()))


def subscribe(user, **plan):
    period = this_period()
    plan = PlanFactory(code=plan.pop("code", "pro"), **plan)
    return SubscriptionFactory(user=user, plan=plan, current_period_start=period.start, current_period_end=period.end)


def key_client(user, scopes=("docs:read",)) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=user, name='Key', scopes=list(scopes)).token}")
    return client


@pytest.fixture
def customer():
    return UserFactory()


def use(user, tokens, *, at=None):
    UsageLogFactory(user=user, tokens=tokens, created_at=at or timezone.now())


def counter(user) -> int | None:
    return cache.get(f"usage-tokens:{user.pk}")


class TestRequestsPerMinute:
    def test_the_plan_rate_answers_429_with_retry_after_and_the_headers(self, customer, library_version):
        subscribe(customer, requests_per_minute=2)
        client = key_client(customer)

        first, second, third = (client.get(DOCS) for _ in range(3))

        assert [first.status_code, second.status_code, third.status_code] == [200, 200, 429]
        assert [first["RateLimit-Remaining"], second["RateLimit-Remaining"]] == ["1", "0"]
        assert third.json()["error"]["code"] == "throttled"
        assert third["Retry-After"] == "50"
        assert (third["RateLimit-Limit"], third["RateLimit-Remaining"], third["RateLimit-Reset"]) == ("2", "0", "50")
        assert UsageLog.objects.count() == 2

    def test_the_window_resets_each_minute(self, customer, library_version, time_machine):
        subscribe(customer, requests_per_minute=1)
        client = key_client(customer)
        assert client.get(DOCS).status_code == 200
        assert client.get(DOCS).status_code == 429

        time_machine.move_to(NOW + 60, tick=False)

        assert client.get(DOCS).status_code == 200

    def test_each_key_has_its_own_window(self, customer, library_version):
        subscribe(customer, requests_per_minute=1)
        laptop, ci = key_client(customer), key_client(customer)

        assert laptop.get(DOCS).status_code == 200
        assert laptop.get(DOCS).status_code == 429
        assert ci.get(DOCS).status_code == 200

    def test_search_and_detail_count_too(self, customer, library_version):
        subscribe(customer, requests_per_minute=2)
        client = key_client(customer)

        assert client.get("/api/libraries/").status_code == 200
        assert client.get("/api/libraries/acme/widgets/").status_code == 200
        assert client.get("/api/libraries/", {"q": "widgets"}).status_code == 429

    def test_401_and_403_answers_carry_the_headers_too(self, customer, library_version):
        anonymous = APIClient().get(DOCS)
        server = key_client(customer, scopes=["usage:write"]).get(DOCS)

        assert anonymous.status_code == 401
        assert anonymous["RateLimit-Limit"] == str(PlanRateThrottle.anonymous_requests_per_minute)
        assert server.status_code == 403
        assert server["RateLimit-Limit"] == str(PlanRateThrottle.service_requests_per_minute)
        assert server["RateLimit-Reset"] == "50"

    def test_the_documentation_server_has_its_own_rate(self, customer):
        response = key_client(customer, scopes=["usage:write"]).post("/api/usage/events/", {"events": []},
                                                                      format="json")

        assert response.status_code == 200
        assert response["RateLimit-Limit"] == str(PlanRateThrottle.service_requests_per_minute)


class TestHardCap:
    def test_a_hard_capped_plan_refuses_calls_once_its_tokens_are_used(self, customer, library_version):
        subscribe(customer, code="free", included_tokens=100_000, overage_price_per_million=Decimal("0"))
        use(customer, 100_000)

        response = key_client(customer).get(DOCS)

        assert response.status_code == 429
        assert response.json()["error"]["code"] == "quota_exceeded"
        end = this_period().end_at
        assert abs(int(response["Retry-After"]) - (end - timezone.now()).total_seconds()) < 5
        assert response["RateLimit-Limit"] == "60"
        assert UsageLog.objects.count() == 1

    def test_calls_go_through_below_the_quota_and_the_counter_follows(
        self, customer, library_version, django_capture_on_commit_callbacks
    ):
        subscribe(customer, code="free", included_tokens=100_000, overage_price_per_million=Decimal("0"))
        use(customer, 98_000)
        client = key_client(customer)

        with django_capture_on_commit_callbacks(execute=True):
            assert client.get(DOCS).status_code == 200  # 98,000 + 1,200
        assert counter(customer) == 99_200
        with django_capture_on_commit_callbacks(execute=True):
            assert client.get(DOCS).status_code == 200  # 99,200 < 100,000: served, now over
        assert counter(customer) == 100_400

        assert client.get(DOCS).json()["error"]["code"] == "quota_exceeded"

    def test_usage_of_an_earlier_period_does_not_count(self, customer, library_version):
        subscribe(customer, code="free", included_tokens=1000, overage_price_per_million=Decimal("0"))
        use(customer, 5000, at=this_period().start_at - datetime.timedelta(minutes=1))

        assert key_client(customer).get(DOCS).status_code == 200

    def test_a_subscription_not_yet_rolled_counts_from_the_new_period(self, customer, library_version):
        period = this_period()
        previous = period_containing(period.start - datetime.timedelta(days=1))
        plan = PlanFactory(code="free", included_tokens=1000, overage_price_per_million=Decimal("0"))
        SubscriptionFactory(user=customer, plan=plan, current_period_start=previous.start,
                            current_period_end=previous.end)
        use(customer, 5000, at=previous.end_at - datetime.timedelta(hours=1))

        assert key_client(customer).get(DOCS).status_code == 200

    def test_a_counter_ahead_of_the_database_never_refuses_a_call(self, customer, library_version):
        subscribe(customer, code="free", included_tokens=100_000, overage_price_per_million=Decimal("0"))
        use(customer, 10_000)
        client = key_client(customer)
        assert client.get(DOCS).status_code == 200  # seeds the counter and its quota; 1,200 tokens more
        cache.set(f"usage-tokens:{customer.pk}", 999_999)

        assert client.get(DOCS).status_code == 200
        assert counter(customer) == 11_200  # resynced from PostgreSQL before deciding

    def test_ingested_events_move_the_counter(self, customer, library_version, django_capture_on_commit_callbacks):
        subscribe(customer, code="free", included_tokens=100_000, overage_price_per_million=Decimal("0"))
        key_client(customer).get(DOCS)
        assert counter(customer) == 0  # seeded before the call; the call itself ran in the test transaction
        server = key_client(UserFactory(), scopes=["usage:write"])
        event = {"event_id": "e-1", "customer": customer.email, "endpoint": "/mcp", "tokens": 150_000,
                 "timestamp": timezone.now().isoformat()}

        with django_capture_on_commit_callbacks(execute=True):
            assert server.post("/api/usage/events/", {"events": [event]}, format="json").json()["accepted"] == 1

        assert counter(customer) == 150_000
        assert key_client(customer).get(DOCS).json()["error"]["code"] == "quota_exceeded"


class TestSpendCap:
    def test_reaching_the_cap_answers_402_and_raises_one_alert(self, customer, library_version):
        subscribe(customer, included_tokens=1000, overage_price_per_million=Decimal("2.00"))
        UserProfileFactory(user=customer, monthly_spend_cap=Decimal("10.00"))
        use(customer, 1000 + 5_000_000)  # 10.00 EUR of overage
        client = key_client(customer)

        first, second = client.get(DOCS), client.get(DOCS)

        assert first.status_code == second.status_code == 402
        assert first.json()["error"]["code"] == "spend_cap_reached"
        [alert] = BillingAlert.objects.filter(user=customer)
        assert alert.type == AlertType.USAGE_THRESHOLD
        assert alert.occasion == f"{this_period().start:%Y-%m}:spend-cap"
        assert "10.00" in alert.message
        assert UsageLog.objects.count() == 1

    def test_a_higher_cap_lets_calls_through_again(self, customer, library_version):
        subscribe(customer, included_tokens=1000, overage_price_per_million=Decimal("2.00"))
        profile = UserProfileFactory(user=customer, monthly_spend_cap=Decimal("10.00"))
        use(customer, 1000 + 5_000_000)
        client = key_client(customer)
        assert client.get(DOCS).status_code == 402

        profile.monthly_spend_cap = Decimal("25.00")
        profile.save()

        assert client.get(DOCS).status_code == 200

    def test_below_the_cap_and_without_one_overage_is_served(self, customer, library_version):
        subscribe(customer, included_tokens=1000, overage_price_per_million=Decimal("2.00"))
        UserProfileFactory(user=customer, monthly_spend_cap=None)
        use(customer, 50_000_000)

        assert key_client(customer).get(DOCS).status_code == 200

    def test_a_cap_of_zero_stops_calls_at_the_quota(
        self, customer, library_version, django_capture_on_commit_callbacks
    ):
        subscribe(customer, included_tokens=1000, overage_price_per_million=Decimal("2.00"))
        UserProfileFactory(user=customer, monthly_spend_cap=Decimal("0.00"))
        client = key_client(customer)
        use(customer, 999)
        with django_capture_on_commit_callbacks(execute=True):
            assert client.get(DOCS).status_code == 200

        assert client.get(DOCS).status_code == 402


class TestSubscriptionRequired:
    def test_metered_calls_need_an_active_subscription(self, customer, library_version):
        response = key_client(customer).get(DOCS)

        assert response.status_code == 403
        assert response.json()["error"]["code"] == "subscription_required"
        assert not UsageLog.objects.exists()

    def test_a_paused_subscription_serves_no_metered_calls(self, customer, library_version):
        subscription = subscribe(customer)
        Subscription.objects.filter(pk=subscription.pk).update(status=SubscriptionStatus.PAUSED)

        assert key_client(customer).get(DOCS).json()["error"]["code"] == "subscription_required"

    def test_the_catalogue_needs_no_subscription(self, customer, library_version):
        response = key_client(customer).get("/api/libraries/acme/widgets/")

        assert response.status_code == 200
        assert response["RateLimit-Limit"] == str(PlanRateThrottle.default_requests_per_minute)


REDIS_DOWN = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient", "IGNORE_EXCEPTIONS": True},
    }
}


class TestWithoutRedis:
    def test_calls_are_served_and_the_quota_still_holds(self, customer, library_version):
        subscribe(customer, code="free", included_tokens=2000, overage_price_per_million=Decimal("0"))
        client = key_client(customer)

        with override_settings(CACHES=REDIS_DOWN):
            served = client.get(DOCS)  # 0 → 1,200
            also_served = client.get(DOCS)  # 1,200 < 2,000 → 2,400
            refused = client.get(DOCS)

        assert served.status_code == also_served.status_code == 200
        assert served["RateLimit-Limit"] == "60"
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "quota_exceeded"
