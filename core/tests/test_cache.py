"""`cache_set_many`: many entries in one Redis command, read back by the cache as it reads its own."""
import pytest
from django.core.cache import cache

from core.cache import cache_set_many

REDIS_DOWN = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient", "SOCKET_CONNECT_TIMEOUT": 1,
                    "IGNORE_EXCEPTIONS": True},
    }
}


def test_entries_are_read_back_as_the_cache_wrote_them_with_their_expiry():
    values = {f"entry:{index}": ("version", [index, {"amount": "12.30"}]) for index in range(1000)}
    values["counter"] = 7  # django-redis keeps integers unpickled: still read back as one

    cache_set_many(values, timeout=300)

    assert cache.get_many(list(values)) == values
    assert 290 < cache.ttl("entry:999") <= 300


def test_without_a_timeout_entries_never_expire():
    cache_set_many({"billing:version": "a1b2"}, timeout=None)

    assert cache.get("billing:version") == "a1b2"
    assert cache.ttl("billing:version") is None


def test_a_redis_that_is_down_leaves_the_entries_unset_and_the_caller_going(settings, caplog):
    settings.CACHES = REDIS_DOWN

    cache_set_many({"entry": 1}, timeout=60)

    assert cache.get("entry") is None
    assert "Redis refused 1 cache entries" in caplog.text


@pytest.mark.parametrize("timeout", [60, None])
def test_the_local_memory_cache_of_development_keeps_set_many(settings, timeout):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

    cache_set_many({"entry": [1, 2]}, timeout=timeout)

    assert cache.get("entry") == [1, 2]
