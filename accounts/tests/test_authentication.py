"""API key authentication: the key and its user read from PostgreSQL on every call, so that a key revoked,
expired or whose owner is deactivated is refused on the very next call; `last_used_at` written once a minute."""
import datetime

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiKey, User
from accounts.selectors import api_key_with_user
from accounts.services import api_key_authenticate, api_key_create, api_key_revoke
from accounts.tests.factories import UserFactory

UTC = datetime.UTC
KEYS_URL = "/api/account/api-keys/"


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.mark.django_db
class TestRefusedOnTheNextCall:
    @pytest.fixture
    def issued(self):
        return api_key_create(user=UserFactory(), name="CI", scopes=["docs:read"])

    def test_a_revoked_key(self, issued):
        client = bearer(issued.token)
        assert client.get(KEYS_URL).status_code == 200

        api_key_revoke(api_key=issued.api_key)

        assert client.get(KEYS_URL).status_code == 401

    def test_a_key_revoked_behind_the_services_back(self, issued):
        client = bearer(issued.token)
        assert client.get(KEYS_URL).status_code == 200

        ApiKey.objects.filter(pk=issued.api_key.pk).update(revoked_at=datetime.datetime(2026, 1, 1, tzinfo=UTC))

        assert client.get(KEYS_URL).status_code == 401

    def test_a_key_that_expired_since(self, issued):
        client = bearer(issued.token)
        assert client.get(KEYS_URL).status_code == 200

        ApiKey.objects.filter(pk=issued.api_key.pk).update(expires_at=datetime.datetime(2026, 1, 1, tzinfo=UTC))

        assert client.get(KEYS_URL).status_code == 401

    def test_a_key_whose_owner_was_deactivated(self, issued):
        client = bearer(issued.token)
        assert client.get(KEYS_URL).status_code == 200

        User.objects.filter(pk=issued.api_key.user_id).update(is_active=False)

        assert client.get(KEYS_URL).status_code == 401

    def test_a_deleted_key(self, issued):
        client = bearer(issued.token)
        assert client.get(KEYS_URL).status_code == 200

        ApiKey.objects.filter(pk=issued.api_key.pk).delete()

        assert client.get(KEYS_URL).status_code == 401


@pytest.mark.django_db
class TestLookup:
    def test_loads_the_key_and_its_user_as_the_orm_does(self):
        user = UserFactory(first_name="Camille")
        issued = api_key_create(user=user, name="CI", scopes=["usage:write", "docs:read"],
                                expires_at=datetime.datetime(2099, 1, 1, tzinfo=UTC))

        api_key = api_key_with_user(prefix=issued.api_key.prefix)

        expected = ApiKey.objects.select_related("user").get(pk=issued.api_key.pk)
        fields = [field.attname for field in ApiKey._meta.concrete_fields]
        assert [getattr(api_key, name) for name in fields] == [getattr(expected, name) for name in fields]
        assert api_key.scopes == ["docs:read", "usage:write"]  # the JSON list, not its text
        assert api_key.expires_at == datetime.datetime(2099, 1, 1, tzinfo=UTC)
        user_fields = [field.attname for field in User._meta.concrete_fields]
        assert [getattr(api_key.user, name) for name in user_fields] == [getattr(user, name) for name in user_fields]
        assert api_key.user.first_name == "Camille"
        assert not api_key._state.adding and not api_key.user._state.adding

    def test_an_unknown_prefix_is_none(self):
        assert api_key_with_user(prefix="00000000") is None

    def test_one_query_when_last_used_at_is_fresh(self, django_assert_num_queries):
        issued = api_key_create(user=UserFactory(), name="CI", scopes=["docs:read"])
        now = datetime.datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
        api_key_authenticate(issued.token, now=now)

        with django_assert_num_queries(1):
            assert api_key_authenticate(issued.token, now=now + datetime.timedelta(seconds=30)) == issued.api_key


@pytest.mark.django_db
class TestLastUsed:
    def test_written_at_first_use_then_once_a_minute(self, django_assert_num_queries):
        issued = api_key_create(user=UserFactory(), name="CI", scopes=["docs:read"])
        first = datetime.datetime(2026, 11, 25, 10, 0, tzinfo=UTC)

        def last_used_at():
            return ApiKey.objects.get(pk=issued.api_key.pk).last_used_at

        with django_assert_num_queries(2):  # the lookup, and the write
            api_key_authenticate(issued.token, now=first)
        assert last_used_at() == first

        with django_assert_num_queries(1):
            api_key_authenticate(issued.token, now=first + datetime.timedelta(seconds=59))
        assert last_used_at() == first

        with django_assert_num_queries(2):
            api_key_authenticate(issued.token, now=first + datetime.timedelta(seconds=60))
        assert last_used_at() == first + datetime.timedelta(seconds=60)

    def test_a_refused_key_is_not_marked_used(self):
        issued = api_key_create(user=UserFactory(), name="CI", scopes=["docs:read"])
        api_key_revoke(api_key=issued.api_key)

        assert api_key_authenticate(issued.token) is None
        assert api_key_authenticate(issued.token[:-2] + "xx") is None

        assert ApiKey.objects.get(pk=issued.api_key.pk).last_used_at is None

