"""Usage ingestion: `/api/usage/events/`, batches from the documentation server, idempotent by event_id."""
import datetime
import json
import threading

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import api_key_create
from accounts.tests.factories import UserFactory
from libraries.models import UsageLog
from libraries.services import usage_events_ingest
from libraries.tests.factories import LibraryFactory, LibraryVersionFactory
from libraries.throttling import MeteredUsage

URL = "/api/usage/events/"


class RecordingThrottle:
    """Stands in for billing's throttles: hears which tokens were recorded."""

    recorded: list[MeteredUsage] = []

    def allow_request(self, request, view):
        return True

    @classmethod
    def usage_recorded(cls, usages):
        cls.recorded.extend(usages)


@pytest.fixture(autouse=True)
def _recording_throttle(settings):
    settings.DOCS_API_THROTTLE_CLASSES = ["libraries.tests.test_ingestion.RecordingThrottle"]
    RecordingThrottle.recorded = []


@pytest.fixture
def server_client():
    service = UserFactory(email="docs-server@twinmcp.dev", is_staff=True)
    token = api_key_create(user=service, name="Documentation server", scopes=["usage:write"]).token
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def alice():
    return UserFactory(email="alice@example.com")


@pytest.fixture
def nextjs():
    library = LibraryFactory(slug="vercel/next.js")
    LibraryVersionFactory(library=library, version="15.0.0", is_latest=True)
    return library


AT = "2026-10-05T14:30:00+02:00"


def event(n=0, **overrides):
    return {
        "event_id": f"evt-{n}",
        "customer": "alice@example.com",
        "library": "vercel/next.js",
        "version": "15.0.0",
        "endpoint": "/docs/query",
        "tokens": 1000 + n,
        "timestamp": AT,
        **overrides,
    }


def post(client, events):
    return client.post(URL, {"events": events}, format="json")


@pytest.mark.django_db
class TestAccepted:
    def test_a_batch_is_recorded(self, server_client, alice, nextjs):
        response = post(server_client, [event(0), event(1, library=None, version=None, status_code=500,
                                                         duration_ms=12)])

        assert response.status_code == 200
        assert response.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
        first, second = UsageLog.objects.order_by("event_id")
        assert first.user == alice
        assert first.library == nextjs
        assert first.library_version.version == "15.0.0"
        assert first.api_key is None  # the customer's key is not known to the documentation server's report
        assert (first.tokens, first.endpoint, first.status_code, first.duration_ms) == (1000, "/docs/query", 200, 0)
        assert first.created_at == datetime.datetime(2026, 10, 5, 12, 30, tzinfo=datetime.UTC)
        assert second.library is None
        assert (second.status_code, second.duration_ms) == (500, 12)

    def test_the_customer_email_is_compared_without_case(self, server_client, alice, nextjs):
        response = post(server_client, [event(customer="Alice@Example.COM")])

        assert response.json()["accepted"] == 1

    def test_an_empty_batch_records_nothing(self, server_client):
        assert post(server_client, []).json() == {"accepted": 0, "duplicates": 0, "rejected": []}

    def test_a_batch_of_1000_is_accepted(self, server_client, alice, nextjs):
        response = post(server_client, [event(n) for n in range(1000)])

        assert response.json() == {"accepted": 1000, "duplicates": 0, "rejected": []}
        assert UsageLog.objects.count() == 1000

    def test_the_quota_hook_hears_of_what_was_recorded(
        self, server_client, alice, nextjs, django_capture_on_commit_callbacks
    ):
        post(server_client, [event(0)])
        with django_capture_on_commit_callbacks(execute=True):
            post(server_client, [event(0), event(1)])

        assert [(usage.user_id, usage.tokens) for usage in RecordingThrottle.recorded] == [(alice.pk, 1001)]


@pytest.mark.django_db
class TestDuplicates:
    def test_a_batch_sent_twice_is_counted_once(self, server_client, alice, nextjs):
        post(server_client, [event(0), event(1)])

        response = post(server_client, [event(0), event(1), event(2)])

        assert response.json() == {"accepted": 1, "duplicates": 2, "rejected": []}
        assert UsageLog.objects.count() == 3

    def test_an_event_twice_in_one_batch_is_one_duplicate(self, server_client, alice, nextjs):
        response = post(server_client, [event(0), event(0, tokens=5)])

        assert response.json() == {"accepted": 1, "duplicates": 1, "rejected": []}
        assert UsageLog.objects.get().tokens == 1000

    def test_of_two_copies_in_one_batch_the_first_is_recorded(self, server_client, alice, nextjs):
        events = [copy for n in range(500) for copy in (event(n, tokens=1), event(n, tokens=2))]

        response = post(server_client, events)

        assert response.json() == {"accepted": 500, "duplicates": 500, "rejected": []}
        assert set(UsageLog.objects.values_list("tokens", flat=True)) == {1}

    def test_a_docs_call_event_id_is_never_reused(self, server_client, alice, nextjs):
        post(server_client, [event(0)])
        UsageLog.objects.update(tokens=7)

        post(server_client, [event(0, tokens=99)])

        assert UsageLog.objects.get().tokens == 7


@pytest.mark.django_db
class TestRejected:
    def test_a_bad_event_is_reported_by_index_and_the_others_recorded(self, server_client, alice, nextjs):
        response = post(server_client, [event(0), event(1, tokens=-5), event(2), event(3, customer="bob@example.com")])

        assert response.status_code == 200
        assert response.json() == {
            "accepted": 2,
            "duplicates": 0,
            "rejected": [
                {"index": 1, "errors": {"tokens": ["Must be between 0 and 2147483647."]}},
                {"index": 3, "errors": {"customer": ["No customer with this email address."]}},
            ],
        }
        assert set(UsageLog.objects.values_list("event_id", flat=True)) == {"evt-0", "evt-2"}

    @pytest.mark.parametrize(
        ("bad", "field"),
        [
            ({"event_id": ""}, "event_id"),
            ({"event_id": "x" * 101}, "event_id"),
            ({"event_id": 12}, "event_id"),
            ({"event_id": "nul\x00"}, "event_id"),
            ({"customer": None}, "customer"),
            ({"tokens": True}, "tokens"),
            ({"tokens": 1.5}, "tokens"),
            ({"tokens": "10"}, "tokens"),
            ({"tokens": 2**31}, "tokens"),
            ({"timestamp": "2026-10-05T14:30:00"}, "timestamp"),  # no offset
            ({"timestamp": "yesterday"}, "timestamp"),
            ({"timestamp": "2999-01-01T00:00:00Z"}, "timestamp"),  # in the future
            ({"timestamp": "0001-01-01T00:00:00+05:00"}, "timestamp"),  # out of range in UTC
            ({"endpoint": None}, "endpoint"),
            ({"status_code": 42}, "status_code"),
            ({"duration_ms": -1}, "duration_ms"),
            ({"library": "nobody/nothing"}, "library"),
            ({"version": "99.0.0"}, "version"),
            ({"library": None, "version": "15.0.0"}, "version"),
        ],
    )
    def test_each_rule_names_its_field(self, server_client, alice, nextjs, bad, field):
        response = post(server_client, [event(0), event(1, **bad)])

        assert response.json()["accepted"] == 1
        [rejected] = response.json()["rejected"]
        assert rejected["index"] == 1
        assert list(rejected["errors"]) == [field]

    def test_an_event_that_is_not_an_object(self, server_client, alice, nextjs):
        response = post(server_client, [event(0), "evt-1", None])

        assert response.json()["accepted"] == 1
        assert [item["index"] for item in response.json()["rejected"]] == [1, 2]

    def test_text_that_is_not_unicode_rejects_its_event_alone(self, server_client, alice, nextjs):
        body = json.dumps({"events": [event(0), event(1, endpoint="/docs/\ud800")]})  # a lone surrogate

        response = server_client.post(URL, body, content_type="application/json")

        assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": [
            {"index": 1, "errors": {"endpoint": ["Must be valid Unicode text."]}},
        ]}

    def test_z_stands_for_utc(self, server_client, alice, nextjs):
        post(server_client, [event(0, timestamp="2026-10-05T12:30:00Z")])

        assert UsageLog.objects.get().created_at == datetime.datetime(2026, 10, 5, 12, 30, tzinfo=datetime.UTC)


@pytest.mark.django_db
class TestRefusedWhole:
    def test_more_than_1000_events_is_400_and_nothing_is_written(self, server_client, alice, nextjs):
        response = post(server_client, [event(n) for n in range(1001)])

        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == ["events"]
        assert not UsageLog.objects.exists()

    @pytest.mark.parametrize("body", [{"events": "evt-0"}, {"events": None}, {}, [{"event_id": "evt-0"}]])
    def test_a_body_without_a_list_of_events_is_400(self, server_client, alice, nextjs, body):
        response = server_client.post(URL, body, format="json")

        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == ["events"]
        assert not UsageLog.objects.exists()

    def test_a_body_that_is_not_json_is_400(self, server_client):
        response = server_client.post(URL, "{not json", content_type="application/json")

        assert response.status_code == 400
        assert response.json()["error"]["code"] == "parse_error"


@pytest.mark.django_db
class TestAccess:
    def test_401_without_a_key(self, alice, nextjs):
        response = APIClient().post(URL, {"events": [event(0)]}, format="json")

        assert response.status_code == 401
        assert not UsageLog.objects.exists()

    def test_a_customer_key_is_403(self, alice, nextjs):
        token = api_key_create(user=alice, name="Laptop", scopes=["docs:read"]).token
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

        assert post(client, [event(0)]).status_code == 403
        assert not UsageLog.objects.exists()

    def test_a_browser_session_is_403_even_for_staff(self, alice, nextjs):
        client = APIClient()
        client.force_login(UserFactory(is_staff=True, is_superuser=True))

        assert post(client, [event(0)]).status_code == 403


@pytest.mark.django_db(transaction=True)
class TestConcurrency:
    def test_two_copies_of_a_batch_at_once_count_each_event_once(self, alice, nextjs):
        if connection.vendor != "postgresql":
            pytest.skip("SQLite serialises writers by locking the table")
        events = [event(n) for n in range(500)]
        results, barrier = [], threading.Barrier(2)

        def ingest():
            try:
                barrier.wait()
                results.append(usage_events_ingest(events=events, now=timezone.now()))
            finally:
                connection.close()

        threads = [threading.Thread(target=ingest) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert len(results) == 2
        assert sum(result.accepted for result in results) == 500
        assert sum(result.duplicates for result in results) == 500
        assert UsageLog.objects.count() == 500
