"""Webhooks to customers, every write: endpoints (register, change, rotate the secret, delete), events published
inside the caller's transaction, and each delivery attempt (claimed, sent outside any transaction, recorded).

A delivery's state lives in its row (`next_attempt_at`), so retries survive a worker restart: the task sent
after commit tries at once, the sweep every minute sends whatever is due, and a claim (row lock, skip locked,
then a lease) lets one worker only make each attempt.
"""
import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.services import audit_log_record
from core.enqueue import enqueue, enqueue_after_commit
from core.exceptions import ApplicationError, Conflict

from . import delivery as http
from .models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventType,
    WebhookMessage,
)
from .selectors import deliveries_due, subscribed_cache_key, subscribed_endpoints
from .signing import body_of, message_id_generate, secret_generate, signed_headers

SEND_TASK = "webhooks.tasks.webhook_delivery_send_task"
# After the first try: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 24 h (the last one 55.6 h after the first try).
RETRY_DELAYS = tuple(
    datetime.timedelta(seconds=seconds)
    for seconds in (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 14 * 3600, 24 * 3600)
)
# No automatic attempt later than this after the event (a retry sent again by hand included).
RETRY_WINDOW = datetime.timedelta(days=3)
# A retry due this soon is queued with a countdown; later ones are sent by the sweep.
SHORT_RETRY = datetime.timedelta(minutes=1)
DUE_BATCH_SIZE = 1000


def _lease() -> datetime.timedelta:
    """How long a claimed attempt is a worker's: past it (a lost worker), the sweep claims it again."""
    return datetime.timedelta(seconds=settings.WEBHOOKS_TIMEOUT_SECONDS + 60)


def _send_after_commit(delivery_ids: list[int], *, countdown: float = 0) -> None:
    """Queue one attempt of each delivery once the caller commits (never if it rolls back). A broker that is
    down fails nothing: the deliveries are due in the database and the sweep sends them."""
    for delivery_id in delivery_ids:
        enqueue_after_commit(SEND_TASK, countdown=countdown, delivery_id=delivery_id)


# Endpoints

@dataclass(frozen=True)
class IssuedEndpoint:
    """An endpoint with its signing secret in clear: returned once, when created or rotated."""

    endpoint: WebhookEndpoint
    secret: str


def endpoint_url_check(url: str) -> None:
    """ValidationError naming `url` unless webhooks may be sent there (https, no credentials, a public address)."""
    try:
        http.addresses_checked(http.target_of(url))
    except ApplicationError as error:
        raise ValidationError({"url": str(error)}) from None


def _events_checked(events: Iterable[str]) -> list[str]:
    events = list(events)
    unknown = sorted(set(events) - set(WebhookEventType.values))
    if unknown:
        raise ValidationError({"events": _("“%(event)s” is not an event type.") % {"event": unknown[0]}})
    if not events:
        raise ValidationError({"events": _("Choose at least one event.")})
    return sorted(set(events))


def _subscriptions_changed(user_id: int) -> None:
    """The customer's cached endpoints are dropped now and again at commit, so that no publish keeps using them."""
    key = subscribed_cache_key(user_id)
    cache.delete(key)
    transaction.on_commit(lambda: cache.delete(key), robust=True)


@transaction.atomic
def webhook_endpoint_create(
    *, user, url: str, events: Iterable[str], description: str = "", now: datetime.datetime | None = None
) -> IssuedEndpoint:
    events = _events_checked(events)
    endpoint_url_check(url)
    secret = secret_generate()
    endpoint = WebhookEndpoint.objects.create(
        user=user, url=url, events=events, description=description, secret=secret, created_at=now or timezone.now(),
    )
    audit_log_record(action="webhook_endpoint.create", obj=endpoint, changes={"url": url, "events": events})
    _subscriptions_changed(endpoint.user_id)
    return IssuedEndpoint(endpoint=endpoint, secret=secret)


def _lock(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    return WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)


@transaction.atomic
def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    events: Iterable[str] | None = None,
    description: str | None = None,
    is_active: bool | None = None,
    now: datetime.datetime | None = None,
) -> WebhookEndpoint:
    """Change what is given; a disabled endpoint receives nothing until enabled again."""
    endpoint = _lock(endpoint)
    changes = {}
    if url is not None and url != endpoint.url:
        endpoint_url_check(url)
        changes["url"] = [endpoint.url, url]
        endpoint.url = url
    if events is not None and (events := _events_checked(events)) != endpoint.events:
        changes["events"] = [endpoint.events, events]
        endpoint.events = events
    if description is not None and description != endpoint.description:
        changes["description"] = [endpoint.description, description]
        endpoint.description = description
    if is_active is not None and is_active != endpoint.is_active:
        changes["is_active"] = [endpoint.is_active, is_active]
        endpoint.is_active, endpoint.disabled_at = is_active, None if is_active else (now or timezone.now())
    if changes:
        endpoint.save(update_fields=["url", "events", "description", "is_active", "disabled_at"])
        audit_log_record(action="webhook_endpoint.update", obj=endpoint, changes=changes)
        _subscriptions_changed(endpoint.user_id)
    return endpoint


@transaction.atomic
def webhook_endpoint_secret_rotate(*, endpoint: WebhookEndpoint) -> IssuedEndpoint:
    """A new secret signs every attempt from now on, retries of earlier events included; the old one is gone."""
    endpoint = _lock(endpoint)
    endpoint.secret = secret_generate()
    endpoint.save(update_fields=["secret"])
    audit_log_record(action="webhook_endpoint.rotate_secret", obj=endpoint)
    return IssuedEndpoint(endpoint=endpoint, secret=endpoint.secret)


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """The endpoint and its deliveries' log go; the events stay (other endpoints may have received them)."""
    endpoint = _lock(endpoint)
    audit_log_record(action="webhook_endpoint.delete", obj=endpoint, changes={"url": endpoint.url})
    endpoint.delete()
    _subscriptions_changed(endpoint.user_id)


@transaction.atomic
def webhook_endpoints_erase(*, user) -> None:
    """An erased account's endpoints (their URLs may name the customer) and the events kept for them go; nothing
    is sent to them any more, not even the erasure's own subscription.updated."""
    WebhookEndpoint.objects.filter(user=user).delete()
    WebhookMessage.objects.filter(user=user).delete()
    _subscriptions_changed(user.pk)


# Events

@dataclass(frozen=True)
class WebhookEvent:
    """One event to publish: `data` is plain JSON (amounts as strings); `occasion`, when set, publishes it once per
    customer however often the caller runs (a usage threshold of a period)."""

    user_id: int
    type: str
    data: dict
    occasion: str = ""


def webhook_event_publish(
    *, user, type: str, data: dict, occasion: str = "", now: datetime.datetime | None = None
) -> WebhookMessage | None:
    """Publish one event inside the caller's transaction (see webhook_events_publish)."""
    published = webhook_events_publish(events=[WebhookEvent(user.pk, type, data, occasion)], now=now)
    return published[0] if published else None


def webhook_events_publish(
    *, events: Iterable[WebhookEvent], now: datetime.datetime | None = None
) -> list[WebhookMessage]:
    """A message per event for a customer with an active endpoint wanting its type, and one PENDING delivery per
    such endpoint, sent after the caller commits. For customers without endpoints, one cache read and nothing
    written. An event whose occasion was already published is skipped."""
    events = list(events)
    for event in events:
        if event.type not in WebhookEventType.values:
            raise ValueError(f"{event.type!r} is not a webhook event type")
    subscribed = subscribed_endpoints(user_ids=(event.user_id for event in events))
    wanted = [
        (event, endpoint_ids) for event in events
        if (endpoint_ids := [pk for pk, types in subscribed.get(event.user_id, ()) if event.type in types])
    ]
    if not wanted:
        return []
    return _messages_store(wanted, now=now or timezone.now())


@transaction.atomic
def _messages_store(wanted: list[tuple[WebhookEvent, list[int]]], *, now: datetime.datetime) -> list[WebhookMessage]:
    timestamp = now.astimezone(datetime.UTC).isoformat()
    messages = [
        WebhookMessage(
            public_id=message_id_generate(), user_id=event.user_id, type=event.type, occasion=event.occasion,
            payload={"type": event.type, "timestamp": timestamp, "data": event.data}, created_at=now,
        )
        for event, _endpoints in wanted
    ]
    WebhookMessage.objects.bulk_create(messages, ignore_conflicts=True)
    # The occasion's unique constraint skipped what was published before, even concurrently: read back what went in.
    stored = dict(
        WebhookMessage.objects.filter(public_id__in=[message.public_id for message in messages])
        .values_list("public_id", "pk")
    )
    deliveries = []
    for message, (_event, endpoint_ids) in zip(messages, wanted, strict=True):
        if message.public_id in stored:
            message.pk, message._state.adding = stored[message.public_id], False
            deliveries += [
                WebhookDelivery(message_id=message.pk, endpoint_id=endpoint_id, next_attempt_at=now, created_at=now)
                for endpoint_id in endpoint_ids
            ]
    WebhookDelivery.objects.bulk_create(deliveries)
    _send_after_commit([delivery.pk for delivery in deliveries])
    return [message for message in messages if message.pk]


# Deliveries

@dataclass(frozen=True)
class Claim:
    """What one attempt sends, read while the delivery was claimed."""

    delivery_id: int
    url: str
    secret: str
    message_id: str
    body: bytes


@transaction.atomic
def _claim(*, delivery_id: int, now: datetime.datetime) -> Claim | None:
    """The delivery for this worker if it is due and no other worker holds it; None otherwise."""
    delivery = (
        WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("endpoint", "message")
        .exclude(status__in=(DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED))
        .filter(pk=delivery_id, next_attempt_at__lte=now)
        .first()
    )
    if delivery is None:
        return None
    if not delivery.endpoint.is_active:
        delivery.status, delivery.next_attempt_at, delivery.last_error = (
            DeliveryStatus.FAILED, None, "Endpoint disabled: not sent.",
        )
        delivery.save(update_fields=["status", "next_attempt_at", "last_error"])
        return None
    delivery.status, delivery.attempts = DeliveryStatus.DELIVERING, delivery.attempts + 1
    delivery.next_attempt_at = now + _lease()
    delivery.save(update_fields=["status", "attempts", "next_attempt_at"])
    return Claim(
        delivery_id=delivery.pk, url=delivery.endpoint.url, secret=delivery.endpoint.secret,
        message_id=delivery.message.public_id, body=body_of(delivery.message.payload),
    )


def next_retry_at(delivery: WebhookDelivery, *, now: datetime.datetime) -> datetime.datetime | None:
    """When a failed attempt is tried again: RETRY_DELAYS after it, never past RETRY_WINDOW after the event;
    None once given up."""
    if delivery.attempts > len(RETRY_DELAYS):
        return None
    retry_at = now + RETRY_DELAYS[delivery.attempts - 1]
    return retry_at if retry_at <= delivery.created_at + RETRY_WINDOW else None


@transaction.atomic
def _attempt_record(*, claim: Claim, answer: http.Answer, refused: bool, now: datetime.datetime) -> WebhookDelivery:
    delivery = WebhookDelivery.objects.select_for_update().get(pk=claim.delivery_id)
    WebhookAttempt.objects.create(
        delivery=delivery, status_code=answer.status_code, response_body=answer.body, error=answer.error,
        duration_ms=answer.duration_ms, created_at=now,
    )
    delivery.last_status_code, delivery.last_error = answer.status_code, answer.error
    if answer.succeeded:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DeliveryStatus.SUCCEEDED, now, None
    elif refused or (retry_at := next_retry_at(delivery, now=now)) is None:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
    else:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.PENDING, retry_at
        if retry_at - now <= SHORT_RETRY:
            _send_after_commit([delivery.pk], countdown=(retry_at - now).total_seconds())
    delivery.save(update_fields=["status", "delivered_at", "next_attempt_at", "last_status_code", "last_error"])
    return delivery


def webhook_delivery_send(*, delivery_id: int, now: datetime.datetime | None = None) -> WebhookDelivery | None:
    """One attempt of a due delivery: claimed in a short transaction, POSTed with no transaction open, its outcome
    recorded. 2xx delivers it; an address refused (SSRF) fails it at once; anything else is retried with backoff
    until given up. None when it was not due or another worker holds it: running twice sends once."""
    now = now or timezone.now()
    claim = _claim(delivery_id=delivery_id, now=now)
    if claim is None:
        return None
    headers = signed_headers(secret=claim.secret, message_id=claim.message_id, body=claim.body, now=now)
    refused = False
    try:
        answer = http.post(url=claim.url, body=claim.body, headers=headers)
    except http.AddressNotAllowed as error:
        answer, refused = http.Answer(status_code=None, body="", error=str(error)[:500], duration_ms=0), True
    except http.HostNotFound as error:
        answer = http.Answer(status_code=None, body="", error=str(error)[:500], duration_ms=0)
    return _attempt_record(claim=claim, answer=answer, refused=refused, now=now)


def webhook_deliveries_due_send(*, now: datetime.datetime | None = None) -> int:
    """The sweep: one attempt queued for each delivery due (retries, and any whose task was lost)."""
    due = deliveries_due(now=now or timezone.now(), limit=DUE_BATCH_SIZE)
    for delivery_id in due:
        enqueue(SEND_TASK, delivery_id=delivery_id)
    return len(due)


@transaction.atomic
def webhook_delivery_resend(*, delivery: WebhookDelivery, now: datetime.datetime | None = None) -> WebhookDelivery:
    """Send a delivery again now, whatever its status: a new attempt with the same message id (audited). A
    failure after it is retried while the event is under three days old."""
    now = now or timezone.now()
    delivery = WebhookDelivery.objects.select_for_update(of=("self",)).select_related("message").get(pk=delivery.pk)
    if delivery.status == DeliveryStatus.DELIVERING and delivery.next_attempt_at > now:
        raise Conflict(_("This delivery is being sent right now: look again in a minute."))
    delivery.status, delivery.next_attempt_at, delivery.delivered_at = DeliveryStatus.PENDING, now, None
    delivery.save(update_fields=["status", "next_attempt_at", "delivered_at"])
    audit_log_record(action="webhook_delivery.resend", obj=delivery, changes={"message": delivery.message.public_id})
    _send_after_commit([delivery.pk])
    return delivery
