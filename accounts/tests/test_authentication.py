"""API key authentication: a key that authenticated is cached with its user for a minute and forgotten as soon as
the key or its user is saved or deleted, so that a revoked, edited, deleted or deactivated key is refused on the
very next call; the expiry is checked on every call; `last_used_at` is written about once a minute."""
import datetime

import pytest
import redis.client
from django.core.cache import cache
from django.db import connections
from rest_framework.test import APIClient

from accounts.models import ApiKey, User
from accounts.selectors import api_key_with_user
from accounts.services import API_KEY_CACHE_TIMEOUT, api_key_authenticate, api_key_create, api_key_revoke
from accounts.tests.factories import UserFactory
from core.db_router import replica_reads

UTC = datetime.UTC
KEYS_URL = "/api/account/api-keys/"
NOW = datetime.datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def cached_lookup_key(api_key: ApiKey) -> str:
    return f"api-key:{api_key.prefix}"


@pytest.fixture
def issued(db):
    return api_key_create(user=UserFactory(), name="CI", scopes=["account:admin"])  # KEYS_URL needs it


@pytest.fixture
def used(issued):
    """A key that has just answered a call: its lookup is cached."""
    client = bearer(issued.token)
    assert client.get(KEYS_URL).status_code == 200
    return issued, client


@pytest.fixture
def redis_commands(monkeypatch):
    """The commands sent to Redis, one per round trip."""
    sent = []
    execute_command = redis.client.Redis.execute_command

    def command(self, *args, **options):
        sent.append(args[0])
        return execute_command(self, *args, **options)

    monkeypatch.setattr(redis.client.Redis, "execute_command", command)
    return sent


@pytest.mark.django_db
class TestRefusedOnTheNextCall:
    def test_a_revoked_key(self, used):
        issued, client = used

        api_key_revoke(api_key=issued.api_key)

        assert client.get(KEYS_URL).status_code == 401

    def test_a_key_revoked_by_saving_its_row(self, used):
        issued, client = used
        api_key = ApiKey.objects.get(pk=issued.api_key.pk)

        api_key.revoked_at = datetime.datetime(2026, 1, 1, tzinfo=UTC)
        api_key.save()  # the admin's change form, a shell

        assert client.get(KEYS_URL).status_code == 401

    def test_a_key_given_an_expiry_now_past(self, used):
        issued, client = used
        api_key = ApiKey.objects.get(pk=issued.api_key.pk)

        api_key.expires_at = datetime.datetime(2026, 1, 1, tzinfo=UTC)
        api_key.save(update_fields=["expires_at"])

        assert client.get(KEYS_URL).status_code == 401

    def test_a_deleted_key(self, used):
        issued, client = used

        ApiKey.objects.filter(pk=issued.api_key.pk).delete()

        assert client.get(KEYS_URL).status_code == 401

    def test_a_key_whose_owner_was_deactivated(self, used):
        issued, client = used
        user = User.objects.get(pk=issued.api_key.user_id)

        user.is_active = False
        user.save()

        assert client.get(KEYS_URL).status_code == 401

    def test_a_key_whose_owner_was_deleted(self, used):
        issued, client = used

        User.objects.filter(pk=issued.api_key.user_id).delete()

        assert client.get(KEYS_URL).status_code == 401

    def test_a_login_of_the_owner_keeps_the_cached_lookup(self, used, client, django_assert_num_queries):
        issued, _ = used
        client.force_login(User.objects.get(pk=issued.api_key.user_id))  # stamps last_login

        with django_assert_num_queries(0):
            assert api_key_authenticate(issued.token) == issued.api_key


@pytest.mark.django_db
class TestCachedLookup:
    def test_a_cached_call_makes_no_query_and_one_redis_round_trip(self, issued, django_assert_num_queries,
                                                                     redis_commands):
        assert api_key_authenticate(issued.token, now=NOW) == issued.api_key
        redis_commands.clear()

        with django_assert_num_queries(0):
            api_key = api_key_authenticate(issued.token, now=NOW)

        assert redis_commands == ["MGET"]  # the key's lookup and its generation, together
        assert (api_key, api_key.user, api_key.scopes) == (issued.api_key, issued.api_key.user, ["account:admin"])

    def test_the_expiry_is_checked_on_every_call(self, django_assert_num_queries, time_machine):
        time_machine.move_to(NOW, tick=False)  # the key is created with an expiry still to come
        issued = api_key_create(user=UserFactory(), name="CI", scopes=["docs:read"],
                                expires_at=NOW + datetime.timedelta(hours=1))
        assert api_key_authenticate(issued.token, now=NOW) == issued.api_key

        with django_assert_num_queries(0):
            assert api_key_authenticate(issued.token, now=NOW + datetime.timedelta(hours=1)) is None

    def test_a_wrong_secret_is_refused_even_when_the_key_is_cached(self, issued):
        assert api_key_authenticate(issued.token, now=NOW) == issued.api_key

        assert api_key_authenticate(issued.token[:-4] + ("AAAA" if not issued.token.endswith("AAAA") else "BBBB"),
                                    now=NOW) is None

    def test_a_change_made_without_the_orms_save_is_seen_within_the_cache_timeout(self, used):
        """A bulk update or SQL sends no signal: the cached lookup expires on its own, a minute at most."""
        issued, client = used
        ApiKey.objects.filter(pk=issued.api_key.pk).update(revoked_at=datetime.datetime(2026, 1, 1, tzinfo=UTC))

        assert 0 < cache.ttl(cached_lookup_key(issued.api_key)) <= API_KEY_CACHE_TIMEOUT == 60
        cache.delete(cached_lookup_key(issued.api_key))  # as it expires

        assert client.get(KEYS_URL).status_code == 401

    def test_the_password_hash_is_neither_loaded_nor_cached(self, issued):
        api_key_authenticate(issued.token, now=NOW)

        _, cached = cache.get(cached_lookup_key(issued.api_key))
        assert "password" not in cached.user.__dict__
        assert cached.user.get_deferred_fields() == {"password"}


@pytest.mark.django_db
class TestLookup:
    def test_loads_the_key_and_its_user(self, issued):
        api_key = api_key_with_user(prefix=issued.api_key.prefix)

        assert (api_key, api_key.user, api_key.scopes) == (issued.api_key, issued.api_key.user, ["account:admin"])
        assert api_key.user.get_deferred_fields() == {"password"}

    @pytest.fixture
    def replica_reads_on(self, settings):
        settings.DATABASE_REPLICA_READS = True
        yield
        connections["replica"].close()  # else the test database cannot be dropped at the end of the run

    @pytest.mark.django_db(databases=["default", "replica"])
    def test_reads_the_primary_even_among_replica_reads(self, issued, replica_reads_on):
        with replica_reads():
            assert api_key_with_user(prefix=issued.api_key.prefix)._state.db == "default"

    def test_an_unknown_prefix_is_none(self):
        assert api_key_with_user(prefix="00000000") is None


@pytest.mark.django_db
class TestLastUsed:
    def test_written_when_the_key_is_read_from_the_database_and_its_value_is_a_minute_old(
        self, issued, django_assert_num_queries
    ):
        def last_used_at():
            return ApiKey.objects.get(pk=issued.api_key.pk).last_used_at

        def read_again_from_the_database():
            cache.delete(cached_lookup_key(issued.api_key))  # as the cached lookup expires, after a minute

        with django_assert_num_queries(2):  # the lookup, and the write
            api_key_authenticate(issued.token, now=NOW)
        assert last_used_at() == NOW

        with django_assert_num_queries(0):  # cached
            api_key_authenticate(issued.token, now=NOW + datetime.timedelta(seconds=30))

        read_again_from_the_database()
        with django_assert_num_queries(1):
            api_key_authenticate(issued.token, now=NOW + datetime.timedelta(seconds=59))
        assert last_used_at() == NOW

        read_again_from_the_database()
        with django_assert_num_queries(2):
            api_key_authenticate(issued.token, now=NOW + datetime.timedelta(seconds=60))
        assert last_used_at() == NOW + datetime.timedelta(seconds=60)

    def test_a_refused_key_is_neither_marked_used_nor_cached(self, issued):
        api_key_revoke(api_key=issued.api_key)

        assert api_key_authenticate(issued.token) is None
        assert api_key_authenticate(issued.token[:-2] + "xx") is None

        assert ApiKey.objects.get(pk=issued.api_key.pk).last_used_at is None
        assert cache.get(cached_lookup_key(issued.api_key)) is None
