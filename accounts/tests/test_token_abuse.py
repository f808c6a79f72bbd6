"""Tokens that name no key cost us nothing: a malformed one is refused before any lookup, and a well-formed one
naming no key leaves nothing in Redis (which also carries the Celery queue) that does not expire soon."""
import secrets

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.services import API_KEY_GENERATION_TIMEOUT, api_key_authenticate, api_key_create
from accounts.tests.factories import UserFactory

LIBRARIES_URL = "/api/libraries/"


def redis_keys_of_api_key_lookups() -> dict[bytes, int]:
    """Every Redis key of this run's API key lookups, with its time to live in seconds (-1: never expires)."""
    client = cache.client.get_client(write=True)
    pattern = cache.client.make_key("api-key:*")
    return {key: client.ttl(key) for key in client.scan_iter(match=pattern)}


def call(token: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get(LIBRARIES_URL)


@pytest.fixture(autouse=True)
def no_lookup_cached_before():
    assert redis_keys_of_api_key_lookups() == {}


@pytest.mark.django_db
class TestMalformedTokens:
    @pytest.mark.parametrize(
        "token",
        [
            "tmcp_" + "a" * 2000,
            f"tmcp_{secrets.token_hex(1000)}_{secrets.token_urlsafe(32)}",  # a prefix of 2,000 characters
            f"tmcp_ABCDEF12_{secrets.token_urlsafe(32)}",  # upper case: no prefix is
            "tmcp_abcd1234_short",
            "tmcp__" + secrets.token_urlsafe(32),
            "tmcp_abcd1234_" + "é" * 40,
            "tmcp_abcd1234_" + secrets.token_urlsafe(32) + "\x00",
        ],
        ids=["2000-characters", "2000-character-prefix", "upper-case-prefix", "short-secret", "no-prefix",
             "not-ascii", "nul-byte"],
    )
    def test_are_refused_without_a_query_nor_a_redis_key(self, token):
        with CaptureQueriesContext(connection) as queries:
            assert api_key_authenticate(token) is None

        assert len(queries) == 0
        assert redis_keys_of_api_key_lookups() == {}

    def test_answer_401_over_http(self):
        response = call("tmcp_" + secrets.token_hex(1000))

        assert response.status_code == 401
        assert response.json()["error"]["code"] == "authentication_failed"
        assert redis_keys_of_api_key_lookups() == {}


@pytest.mark.django_db
class TestTokensNamingNoKey:
    def test_five_hundred_random_prefixes_leave_only_keys_that_expire_soon(self):
        for _ in range(500):
            assert call(f"tmcp_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}").status_code == 401

        ttls = redis_keys_of_api_key_lookups()
        assert ttls, "the generations drawn before each lookup are in Redis"
        assert all(0 < ttl <= API_KEY_GENERATION_TIMEOUT for ttl in ttls.values()), sorted(set(ttls.values()))

    def test_a_real_key_still_authenticates_and_its_lookup_expires_too(self):
        issued = api_key_create(user=UserFactory(), name="CI", scopes=["docs:read"])

        assert call(issued.token).status_code == 200
        assert call(issued.token).status_code == 200

        ttls = redis_keys_of_api_key_lookups()
        assert len(ttls) == 2  # the key's generation and its cached lookup
        assert all(0 < ttl <= API_KEY_GENERATION_TIMEOUT for ttl in ttls.values())
