"""Writing many cache entries at once, in one Redis command."""
import logging

from django.core.cache import cache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# SET each KEYS[i] to ARGV[i], expiring in ARGV[#KEYS + 1] milliseconds when that is positive, else never.
SET_MANY = """
local expire_ms = tonumber(ARGV[#KEYS + 1])
for index, key in ipairs(KEYS) do
    if expire_ms > 0 then
        redis.call('SET', key, ARGV[index], 'PX', expire_ms)
    else
        redis.call('SET', key, ARGV[index])
    end
end
return #KEYS
"""


def cache_set_many(values: dict[str, object], *, timeout: int | None) -> None:
    """`cache.set_many(values, timeout)` (seconds, None for no expiry), in one command on Redis: django-redis sends
    a SET per key through a MULTI pipeline, whose Python costs far more than Redis spends when a chunk of the
    monthly run sets thousands of keys. Values are encoded as the cache encodes them, so the cache reads them
    back. A Redis error is logged and ignored, as the cache ignores its own (`IGNORE_EXCEPTIONS`): the cache is
    never a source of truth. Other backends (local memory) keep `set_many`."""
    if not values:
        return
    client = getattr(cache, "client", None)
    if not hasattr(client, "get_client"):
        cache.set_many(values, timeout)
        return
    keys = [client.make_key(key) for key in values]
    arguments = [client.encode(value) for value in values.values()]
    try:
        client.get_client(write=True).eval(SET_MANY, len(keys), *keys, *arguments, int((timeout or 0) * 1000))
    except RedisError:
        logger.warning("Redis refused %s cache entries: they are left unset", len(keys), exc_info=True)
