"""What a metered docs call asks of Redis: its key's lookup, then one round trip for its rate window, its quota
counter and state and its cached suspension together; the answers are the same as when each was read apart."""
import datetime
from decimal import Decimal

import pytest
import time_machine
from django.test import override_settings

from accounts.tests.factories import UserFactory
from billing.tests.test_suspension import FIRST_DAY_REFUSED, call, december_customer, pay
from billing.tests.test_throttles import DOCS, key_client, subscribe, use
from libraries.models import UsageLog

pytestmark = pytest.mark.django_db

NOW = 1_800_000_010.0  # 10 seconds into a minute window


@pytest.fixture
def customer():
    return UserFactory()


@pytest.mark.usefixtures("library_version")
class TestOneRoundTripForTheThrottles:
    def test_a_warm_call_reads_its_rate_quota_and_suspension_in_one_round_trip(self, customer, redis_commands):
        with time_machine.travel(NOW, tick=False):
            subscribe(customer, requests_per_minute=5)
            client = key_client(customer)
            assert client.get(DOCS).status_code == 200  # the key, the quota and the suspension cached
            redis_commands.clear()

            response = client.get(DOCS)

        assert response.status_code == 200
        # The key's lookup (with its generation); then the window, the counter, its quota state and the suspension.
        # The counter's increment waits for the usage row's commit, which a test's transaction never makes.
        assert redis_commands == ["MGET", "EVALSHA"]
        assert (response["RateLimit-Limit"], response["RateLimit-Remaining"]) == ("5", "3")

    def test_the_rate_still_refuses_and_the_quota_is_not_charged(self, customer):
        with time_machine.travel(NOW, tick=False):
            subscribe(customer, requests_per_minute=2)
            client = key_client(customer)

            statuses = [client.get(DOCS).status_code for _ in range(3)]

        assert statuses == [200, 200, 429]
        assert UsageLog.objects.count() == 2

    def test_a_hard_cap_read_with_the_window_is_still_confirmed_before_refusing(
        self, customer, django_capture_on_commit_callbacks
    ):
        with time_machine.travel(NOW, tick=False):
            subscribe(customer, code="free", included_tokens=2000, overage_price_per_million=Decimal("0"))
            client = key_client(customer)
            with django_capture_on_commit_callbacks(execute=True):
                assert client.get(DOCS).status_code == 200  # 0 → 1,200: counter and state cached
            UsageLog.objects.all().delete()  # the database says nothing was used; the counter still says 1,200
            use(customer, 500)

            with django_capture_on_commit_callbacks(execute=True):
                served = client.get(DOCS)  # counter 1,200 < 2,000: served, counter now 2,400
            confirmed = client.get(DOCS)  # the counter says over; PostgreSQL says 1,700 < 2,000

        assert served.status_code == 200
        assert confirmed.status_code == 200


@pytest.mark.usefixtures("library_version")
class TestSuspensionReadWithTheWindow:
    def test_a_cached_suspension_is_served_from_the_same_round_trip(self, redis_commands):
        user, november = december_customer()
        client = key_client(user)
        assert call(client, FIRST_DAY_REFUSED).status_code == 402  # the suspension is cached now
        redis_commands.clear()

        refused = call(client, FIRST_DAY_REFUSED + datetime.timedelta(seconds=1))

        assert refused.status_code == 402
        assert november.number in refused.json()["error"]["message"]
        assert redis_commands == ["MGET", "EVALSHA"]

    def test_a_suspension_not_cached_yet_is_read_from_the_database_without_asking_the_cache_again(
        self, redis_commands
    ):
        user, november = december_customer()
        client = key_client(user)
        assert call(client, FIRST_DAY_REFUSED - datetime.timedelta(days=1)).status_code == 200  # the day before
        redis_commands.clear()

        refused = call(client, FIRST_DAY_REFUSED)  # a new day: a new suspension entry, computed and stored

        assert refused.status_code == 402 and november.number in refused.json()["error"]["message"]
        # The key's lookup; the window with what the quota throttle reads; the suspension stored (no second read).
        assert redis_commands == ["MGET", "EVALSHA", "SET"]

    def test_paying_serves_the_next_call_at_once(self):
        user, november = december_customer()
        client = key_client(user)
        assert call(client, FIRST_DAY_REFUSED).status_code == 402
        assert call(client, FIRST_DAY_REFUSED + datetime.timedelta(seconds=1)).status_code == 402

        pay(november)

        assert call(client, FIRST_DAY_REFUSED + datetime.timedelta(seconds=2)).status_code == 200


@pytest.mark.usefixtures("library_version")
class TestOnLocalMemory:
    @override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}})
    def test_development_without_redis_counts_the_rate_and_holds_the_quota(
        self, customer, django_capture_on_commit_callbacks
    ):
        with time_machine.travel(NOW, tick=False):
            subscribe(customer, code="free", requests_per_minute=3, included_tokens=2000,
                      overage_price_per_million=Decimal("0"))
            client = key_client(customer)
            answers = []
            for _ in range(3):
                with django_capture_on_commit_callbacks(execute=True):
                    answers.append(client.get(DOCS))

        assert [answer.status_code for answer in answers] == [200, 200, 429]  # 0 → 1,200 → 2,400: over
        assert answers[2].json()["error"]["code"] == "quota_exceeded"
        assert [answer["RateLimit-Remaining"] for answer in answers] == ["2", "1", "0"]
