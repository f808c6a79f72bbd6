"""Hostile bodies answer 400 naming the field, never 500, and write nothing.

Python's JSON decoder recurses once per nesting level: before the API's parser (accounts.parsers) a deep
body was a server error on every endpoint that reads JSON. PostgreSQL cannot compare text holding a NUL
character or a lone surrogate: a lookup made with one was a server error too.
"""
import json

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.services import api_key_create
from accounts.tests.factories import UserFactory
from billing.tests.factories import SubscriptionFactory
from libraries.models import UsageLog

TOO_DEEP = "The JSON is nested more than 32 levels deep."
API_KEYS, USAGE_EVENTS = "/api/account/api-keys/", "/api/usage/events/"


@pytest.fixture
def clients(customer):
    """A customer's browser session for their keys, the documentation server's key for usage events."""
    session = APIClient()
    session.force_login(customer)
    server = APIClient()
    service = UserFactory(email="docs-server@twinmcp.dev", is_staff=True)
    token = api_key_create(user=service, name="Documentation server", scopes=["usage:write"]).token
    server.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return {API_KEYS: session, USAGE_EVENTS: server}


def written(customer) -> tuple[int, int]:
    return ApiKey.objects.filter(user=customer).count(), UsageLog.objects.count()


def event(**fields) -> dict:
    return {"event_id": "evt-1", "customer": "ada@example.com", "endpoint": "/api/libraries/", "tokens": 120,
            "timestamp": "2026-10-05T14:30:00+02:00", **fields}


@pytest.mark.django_db
class TestDeeplyNestedJson:
    @pytest.mark.parametrize("url", [API_KEYS, USAGE_EVENTS])
    @pytest.mark.parametrize("body", ["[" * 100_000, '{"a":' * 10_000 + "1" + "}" * 10_000],
                             ids=["100,000 brackets", "10,000 nested objects"])
    def test_a_body_deeper_than_the_stack_is_refused(self, clients, customer, url, body):
        response = clients[url].post(url, body, content_type="application/json")

        assert response.status_code == 400
        assert response.json() == {
            "error": {"code": "invalid", "message": TOO_DEEP, "fields": {"non_field_errors": [TOO_DEEP]}}
        }
        assert written(customer) == (0, 0)

    @pytest.mark.parametrize(
        ("url", "body", "field"),
        [
            (API_KEYS, {"name": "CI", "scopes": json.loads("[" * 32 + "]" * 32)}, "scopes"),
            (USAGE_EVENTS, {"events": [event(extra=json.loads("[" * 31 + "]" * 31))]}, "events"),
        ],
        ids=["key scopes 33 levels deep", "usage events 33 levels deep"],
    )
    def test_a_field_nested_past_the_limit_is_named(self, clients, customer, url, body, field):
        response = clients[url].post(url, body, format="json")

        assert response.status_code == 400
        assert response.json()["error"]["fields"] == {field: [TOO_DEEP]}
        assert written(customer) == (0, 0)



@pytest.mark.django_db
class TestTextPostgreSQLCannotHold:
    @pytest.mark.parametrize(("code", "message"), [("pro\x00", "Null characters are not allowed."),
                                                   ("pro\ud800", "Surrogate characters are not allowed: U+D800.")],
                             ids=["NUL", "lone surrogate"])
    def test_a_plan_code_is_refused_before_it_is_looked_up(self, clients, customer, code, message):
        subscription = SubscriptionFactory(user=customer)
        plan = subscription.plan_id

        # json.dumps writes them as \u0000 and \ud800, as a client would send them.
        response = clients[API_KEYS].post("/api/billing/subscription/change-plan/", json.dumps({"plan": code}),
                                          content_type="application/json")

        assert response.status_code == 400
        assert response.json()["error"]["fields"] == {"plan": [message]}
        subscription.refresh_from_db()
        assert subscription.plan_id == plan
