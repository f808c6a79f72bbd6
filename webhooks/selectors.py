"""Reads: who wants which events (cached per customer: publishing is on billing's hot paths), a customer's
endpoints and their deliveries."""
from collections.abc import Iterable

from django.core.cache import cache
from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber

from core.cache import cache_set_many

from .models import FINISHED_DELIVERY_STATUSES, WebhookDelivery, WebhookEndpoint

SUBSCRIBED_CACHE_SECONDS = 300  # user data: 5 minutes, and dropped whenever an endpoint changes


def subscribed_cache_key(user_id: int) -> str:
    return f"webhooks:subscribed:{user_id}"


def subscribed_endpoints(*, user_ids: Iterable[int]) -> dict[int, list[tuple[int, list[str]]]]:
    """Each customer's active endpoints as (endpoint id, event types): one cache read for them all, one query for
    those not cached (a customer with none is cached too, so the usual answer costs no query)."""
    keys = {user_id: subscribed_cache_key(user_id) for user_id in set(user_ids)}
    if not keys:
        return {}
    cached = cache.get_many(list(keys.values()))
    found = {user_id: cached[key] for user_id, key in keys.items() if key in cached}
    missing = [user_id for user_id in keys if user_id not in found]
    if missing:
        loaded = {user_id: [] for user_id in missing}
        active = WebhookEndpoint.objects.filter(user_id__any=missing, is_active=True).order_by("pk")
        for endpoint_id, user_id, events in active.values_list("pk", "user_id", "events"):
            loaded[user_id].append((endpoint_id, events))
        cache_set_many(
            {keys[user_id]: endpoints for user_id, endpoints in loaded.items()}, timeout=SUBSCRIBED_CACHE_SECONDS
        )
        found.update(loaded)
    return found


def subscribed_users(*, user_ids: Iterable[int], types: Iterable[str]) -> set[int]:
    """The customers among `user_ids` with an active endpoint for one of `types`: callers build an event's data
    only for them."""
    types = set(types)
    return {
        user_id for user_id, endpoints in subscribed_endpoints(user_ids=user_ids).items()
        if any(types.intersection(events) for _, events in endpoints)
    }


def endpoints_of(*, user) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(user=user).order_by("-created_at", "-id")


def deliveries_of(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(endpoint=endpoint).select_related("message").order_by("-created_at", "-id")


def recent_deliveries(*, endpoints: list[WebhookEndpoint], per_endpoint: int = 10) -> dict[int, list]:
    """The latest deliveries of each endpoint, for the account page: one query however many endpoints."""
    rows = (
        WebhookDelivery.objects.filter(endpoint__in=endpoints).select_related("message")
        .annotate(rank=Window(RowNumber(), partition_by=F("endpoint_id"),
                              order_by=[F("created_at").desc(), F("id").desc()]))
        .filter(rank__lte=per_endpoint)
        .order_by("endpoint_id", "-created_at", "-id")
    )
    recent: dict[int, list] = {endpoint.pk: [] for endpoint in endpoints}
    for delivery in rows:
        recent[delivery.endpoint_id].append(delivery)
    return recent


def deliveries_due(*, now, limit: int) -> list[int]:
    """Deliveries whose next attempt is due, or whose worker's lease ran out: oldest first."""
    return list(
        WebhookDelivery.objects.exclude(status__in=FINISHED_DELIVERY_STATUSES)
        .filter(next_attempt_at__lte=now)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
