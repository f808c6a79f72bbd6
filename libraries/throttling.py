"""The docs API's own throttles: their classes come from settings, never from an import of `billing`.

Every API view is rate limited by the throttles of `REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]`, its answers
labelled by `accounts.ratelimit`. The views of the docs API mix in `DocsApiThrottling`, which adds after those
the throttles of `settings.DOCS_API_THROTTLE_CLASSES` (billing names its quota throttle) and stops at the first
refusal (a throttle may also raise its own `APIException`, a 402 or a 429 with its own code).

Before running them all, a metered view marks its request (`metered_call_expected`): a throttle that runs first may
then read what those after it need in its own round trip to the cache.

Throttles may also define a classmethod `usage_recorded(usages)`; `metered_usage_notify` calls it after
usage was written (a docs call, an ingested batch), so that a quota counter kept in a cache stays current.
"""
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

METERED_CALL_ATTRIBUTE = "_metered_call"


@dataclass(frozen=True)
class MeteredUsage:
    """Tokens just recorded for a customer: what a quota counter needs to stay current."""

    user_id: int
    tokens: int
    created_at: datetime


@lru_cache(maxsize=8)
def _import_all(paths: tuple[str, ...]) -> tuple[type, ...]:
    return tuple(import_string(path) for path in paths)


def docs_api_throttle_classes() -> tuple[type, ...]:
    return _import_all(tuple(getattr(settings, "DOCS_API_THROTTLE_CLASSES", ())))


def metered_call_expected(request) -> bool:
    """Whether the throttles of `DOCS_API_THROTTLE_CLASSES` run on this request after the API-wide ones."""
    return getattr(request, METERED_CALL_ATTRIBUTE, False)


def metered_usage_notify(usages: Sequence[MeteredUsage]) -> None:
    """Tell every configured throttle about usage just recorded; a failing hook never fails the call."""
    usages = [usage for usage in usages if usage.user_id is not None and usage.tokens]
    if not usages:
        return
    for throttle_class in docs_api_throttle_classes():
        hook = getattr(throttle_class, "usage_recorded", None)
        if hook is None:
            continue
        try:
            hook(usages)
        except Exception:  # the usage is stored; a stale counter resyncs from the database
            logger.exception("%s.usage_recorded failed", throttle_class.__name__)


class DocsApiThrottling:
    """Mixin for DRF views of the docs API. Set `metered = True` on views whose calls are billed in tokens."""

    metered = False

    def get_throttles(self):
        return [*super().get_throttles(), *(throttle_class() for throttle_class in docs_api_throttle_classes())]

    def check_throttles(self, request):
        throttles = self.get_throttles()
        setattr(request, METERED_CALL_ATTRIBUTE, self.metered and bool(docs_api_throttle_classes()))
        # Stop at the first refusal: a request over its rate is not also charged against the quota.
        for throttle in throttles:
            if not throttle.allow_request(request, self):
                self.throttled(request, throttle.wait())
