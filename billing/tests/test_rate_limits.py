"""Every endpoint of the API is rate limited by the plan (billing.metering.throttles.PlanRateThrottle, the API's default
throttle) and labels its answers with the RateLimit-* headers (accounts.ratelimit), on real Redis.

The docs API's own limits (quota, spend cap) and its rate: test_throttles.py."""
from dataclasses import dataclass

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import API_KEY_SCOPES
from accounts.services import api_key_create
from accounts.tests.factories import UserFactory
from billing.metering.throttles import PlanRateThrottle
from billing.models import Subscription, SubscriptionStatus
from billing.periods import local_date, period_containing
from billing.tests.factories import PlanFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

NOW = 1_800_000_010.0  # 10 seconds into a minute window: the window resets in 50
INVOICES = "/api/billing/invoices/"
CUSTOMER_SCOPES = [scope for scope in API_KEY_SCOPES if scope != "usage:write"]  # the documentation server's


@pytest.fixture(autouse=True)
def _pinned_clock(time_machine):
    time_machine.move_to(NOW, tick=False)


def subscribe(user, *, requests_per_minute: int, code: str = "pro") -> Subscription:
    period = period_containing(local_date(timezone.now()))
    plan = PlanFactory(code=code, requests_per_minute=requests_per_minute)
    return SubscriptionFactory(user=user, plan=plan, current_period_start=period.start, current_period_end=period.end)


def key_client(user, scopes=CUSTOMER_SCOPES) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=user, name='Key', scopes=scopes).token}")
    return client


def session_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def labels(response) -> tuple[str, str, str]:
    return response["RateLimit-Limit"], response["RateLimit-Remaining"], response["RateLimit-Reset"]


@dataclass(frozen=True)
class Family:
    """A representative endpoint of a family of the API; `paths` are called in turn."""

    method: str
    paths: tuple[str, ...]
    body: dict | None = None
    service: bool = False  # called by the documentation server's `usage:write` key

    def call(self, client, n: int):
        return getattr(client, self.method)(self.paths[n % len(self.paths)], self.body, format="json")


FAMILIES = {
    "billing reads": Family("get", (INVOICES,)),
    "subscription moves": Family("post", ("/api/billing/subscription/pause/", "/api/billing/subscription/resume/")),
    "api keys": Family("get", ("/api/account/api-keys/",)),
    "gdpr export": Family("get", ("/api/account/export/",)),
    "docs": Family("get", ("/api/libraries/acme/widgets/docs/",)),
    "usage ingestion": Family("post", ("/api/usage/events/",), body={"events": []}, service=True),
}


class TestEveryEndpoint:
    @pytest.mark.parametrize("family", FAMILIES.values(), ids=FAMILIES.keys())
    def test_answers_carry_the_plans_rate_and_the_call_past_it_is_refused(
        self, family, customer, library_version, monkeypatch
    ):
        subscribe(customer, requests_per_minute=3)
        if family.service:  # the documentation server's key has the service rate, not a plan's
            monkeypatch.setattr(PlanRateThrottle, "service_requests_per_minute", 3)
            client = key_client(UserFactory(), scopes=["usage:write"])
        else:
            client = key_client(customer)

        answers = [family.call(client, n) for n in range(4)]

        assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
        assert [labels(answer) for answer in answers] == [("3", "2", "50"), ("3", "1", "50"), ("3", "0", "50"),
                                                          ("3", "0", "50")]
        refused = answers[-1]
        assert refused.json()["error"]["code"] == "throttled"
        assert refused["Retry-After"] == "50"

    def test_a_refused_move_changes_nothing(self, customer):
        subscription = subscribe(customer, requests_per_minute=1)
        client = key_client(customer)
        assert client.post("/api/billing/subscription/pause/").status_code == 200

        refused = client.post("/api/billing/subscription/resume/")

        assert refused.status_code == 429
        subscription.refresh_from_db()
        assert subscription.status == SubscriptionStatus.PAUSED


class TestWhoseWindow:
    def test_each_key_of_a_customer_has_its_own_window(self, customer):
        subscribe(customer, requests_per_minute=2)
        laptop, ci = key_client(customer), key_client(customer)
        assert [laptop.get(INVOICES).status_code for _ in range(3)] == [200, 200, 429]

        answer = ci.get(INVOICES)

        assert answer.status_code == 200
        assert labels(answer) == ("2", "1", "50")

    def test_a_browser_session_is_limited_per_user(self, customer):
        subscribe(customer, requests_per_minute=2)
        laptop, phone = session_client(customer), session_client(customer)
        other = UserFactory()
        subscribe(other, requests_per_minute=2, code="pro-other")

        statuses = [laptop.get(INVOICES).status_code, phone.get(INVOICES).status_code, laptop.get(INVOICES).status_code]
        others = session_client(other).get(INVOICES)

        assert statuses == [200, 200, 429]  # two sessions of one customer share one window
        assert (others.status_code, labels(others)) == (200, ("2", "1", "50"))

    def test_a_customer_without_a_subscription_gets_the_default_rate(self, customer):
        answer = key_client(customer).get(INVOICES)

        assert labels(answer) == (str(PlanRateThrottle.default_requests_per_minute),
                                  str(PlanRateThrottle.default_requests_per_minute - 1), "50")

    def test_a_new_plan_rate_applies_from_the_next_minute(self, customer, time_machine):
        subscription = subscribe(customer, requests_per_minute=2)
        client = key_client(customer)
        assert labels(client.get(INVOICES)) == ("2", "1", "50")
        Subscription.objects.filter(pk=subscription.pk).update(
            plan=PlanFactory(code="team", requests_per_minute=10)
        )

        same_minute = client.get(INVOICES)
        time_machine.move_to(NOW + 60, tick=False)
        next_minute = client.get(INVOICES)

        assert labels(same_minute) == ("2", "0", "50")
        assert labels(next_minute) == ("10", "9", "50")


class TestWithoutRedis:
    @override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}})
    def test_development_on_local_memory_counts_the_rate_too(self, customer):
        subscribe(customer, requests_per_minute=2)
        client = key_client(customer)

        answers = [client.get(INVOICES) for _ in range(3)]

        assert [answer.status_code for answer in answers] == [200, 200, 429]
        assert [labels(answer) for answer in answers] == [("2", "1", "50"), ("2", "0", "50"), ("2", "0", "50")]


class TestRefusedBeforeThrottling:
    def test_an_anonymous_401_carries_the_addresss_window_without_counting(self, customer):
        answers = [APIClient().get(INVOICES) for _ in range(2)]

        anonymous = str(PlanRateThrottle.anonymous_requests_per_minute)
        assert [answer.status_code for answer in answers] == [401, 401]
        assert [labels(answer) for answer in answers] == [(anonymous, anonymous, "50")] * 2


class TestSchemaEndpoints:
    def test_the_schema_and_its_page_are_limited_per_address_even_for_a_customer(self, customer):
        subscribe(customer, requests_per_minute=100)
        anonymous = PlanRateThrottle.anonymous_requests_per_minute

        signed_in = session_client(customer).get("/api/schema/")
        page = APIClient().get("/api/docs/")

        assert (signed_in.status_code, page.status_code) == (200, 200)
        assert labels(signed_in) == (str(anonymous), str(anonymous - 1), "50")
        assert labels(page) == (str(anonymous), str(anonymous - 2), "50")  # the same address's window

    def test_the_schema_documents_the_limit_of_every_operation(self):
        schema = APIClient().get("/api/schema/", {"format": "json"}).json()

        operations = [operation for path in schema["paths"].values() for operation in path.values()]
        assert operations
        for operation in operations:
            assert "429" in operation["responses"], operation["operationId"]
            for response in operation["responses"].values():
                assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(response["headers"])
            assert "Retry-After" in operation["responses"]["429"]["headers"]
