"""Per-customer cache of billing reads (DESIGN, "Caching and limits").

Every cached read of a customer is keyed by that customer's current *version*, a random token kept in
the cache. Billing services call `customer_cache_invalidate(...)` whenever they change an invoice,
a payment, a credit, a subscription or an alert of a customer: the customer gets a new version, and again
once the transaction commits, so every entry cached under an older one is never read again (it expires on
its own). A read that raced with the change can only have stored its stale copy under an older version.

The cache is a speed-up, never a source of truth: Redis is configured to ignore its errors, and every
function here then falls back to computing the value, so the API keeps answering, uncached.
"""
import hashlib
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.core.cache import cache
from django.db import transaction

INVOICE_LIST_TIMEOUT = 15 * 60  # invoice lists (and the invoice and payment reads beside them)
USER_DATA_TIMEOUT = 5 * 60  # the rest of a customer's billing data: subscription, usage, credits, alerts


def _version_key(user_id: int) -> str:
    return f"billing:customer:{user_id}:version"


def customer_cache_version(user_id: int) -> str:
    """The customer's current version; a new one when none is known (first read, evicted, or Redis down)."""
    key = _version_key(user_id)
    version = cache.get(key)
    if version is not None:
        return version
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
        cache.set_many({_version_key(user_id): uuid.uuid4().hex for user_id in ids}, timeout=None)

    if ids:
        bump()
        transaction.on_commit(bump, robust=True)


def customer_cached(*, user_id: int, name: str, key: str, timeout: int, compute: Callable[[], Any]) -> Any:
    """`compute()`, cached for the customer under `name` and `key` (e.g. the full request URL)."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    cache_key = f"billing:customer:{user_id}:{customer_cache_version(user_id)}:{name}:{digest}"
    value = cache.get(cache_key)
    if value is None:
        value = compute()
        cache.set(cache_key, value, timeout=timeout)
    return value
