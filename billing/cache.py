"""Per-customer cache of billing reads (DESIGN, "Caching and limits").

Every cached read of a customer is stored with that customer's *version* when it was computed, a random
token kept in the cache, and is served only while that is still the customer's version: the version and the
entry are read together, in one round trip. Billing services call `customer_cache_invalidate(...)` whenever
they change an invoice, a payment, a credit, a subscription or an alert of a customer: the customer gets a new
version, and again once the transaction commits, so no entry stored under an older one is served again (the
next read computes it anew, or it expires on its own). A read that raced with the change can only have stored
its stale copy under an older version, the one it read before computing.

The cache is a speed-up, never a source of truth: Redis is configured to ignore its errors, and every
function here then falls back to computing the value, so the API keeps answering, uncached.
"""
import hashlib
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.core.cache import cache
from django.db import transaction

from core.cache import cache_set_many

INVOICE_LIST_TIMEOUT = 15 * 60  # invoice lists (and the invoice and payment reads beside them)
USER_DATA_TIMEOUT = 5 * 60  # the rest of a customer's billing data: subscription, usage, credits, alerts


def _version_key(user_id: int) -> str:
    return f"billing:customer:{user_id}:version"


def _version_start(user_id: int) -> str:
    """A version for a customer who has none (first read, evicted, or Redis down)."""
    key = _version_key(user_id)
    version = uuid.uuid4().hex
    if cache.add(key, version, timeout=None) is False:  # another request set one first: use theirs
        version = cache.get(key) or version
    return version


def customer_cache_invalidate(user_ids: int | Iterable[int]) -> None:
    """Forget the customers' cached reads: now, and again once the current transaction commits.

    The second bump is the one that counts: a read made between the first and the commit still saw
    the old rows and may have cached them under the first new version. The first one makes the change
    visible at once to the writer's own transaction (and to tests, which never commit).
    """
    ids = sorted({user_ids} if isinstance(user_ids, int) else {user_id for user_id in user_ids if user_id})

    def bump():
        # One round trip for a whole chunk of customers (the monthly run invalidates thousands at once).
        cache_set_many({_version_key(user_id): uuid.uuid4().hex for user_id in ids}, timeout=None)

    if ids:
        bump()
        transaction.on_commit(bump, robust=True)


def customer_cache_keys(*, user_id: int, name: str, key: str) -> tuple[str, str]:
    """The cache keys of a customer's cached read: their version, then the entry of `name` and `key` (a caller
    reading them in a round trip of its own reads these)."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return _version_key(user_id), f"billing:customer:{user_id}:{name}:{digest}"


def customer_cached(
    *, user_id: int, name: str, key: str, timeout: int, compute: Callable[[], Any], found: dict | None = None
) -> Any:
    """`compute()`, cached for the customer under `name` and `key` (e.g. the full request URL).

    `found`: what the cache held under `customer_cache_keys`, when the caller read it in a round trip of its own
    (a key it lacks is not in the cache)."""
    version_key, entry_key = customer_cache_keys(user_id=user_id, name=name, key=key)
    if found is None:
        found = cache.get_many([version_key, entry_key])
    version, entry = found.get(version_key), found.get(entry_key)
    if version is not None and entry is not None and entry[0] == version:
        return entry[1]
    if version is None:
        version = _version_start(user_id)
    value = compute()
    cache.set(entry_key, (version, value), timeout=timeout)
    return value
