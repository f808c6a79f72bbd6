"""The docs API's throttling hook: the throttle classes come from settings, never from an import of `billing`.

`settings.DOCS_API_THROTTLE_CLASSES` is a list of dotted paths to DRF throttle classes (billing names its
plan-based ones). Views of the docs API mix in `DocsApiThrottling`, which

- checks those throttles in order and stops at the first refusal (a throttle may also raise its own
  `APIException`, a 402 or a 429 with its own code);
- labels every answer with `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds until the
  window resets), from the `RateLimit` a throttle recorded on the request with `rate_limit_record`; an answer
  decided before the throttles ran (401, 403) asks throttles that define `rate_limit_peek(request)` instead.
  A 429 carries `Retry-After` (DRF sets it from the exception's `wait`).

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

RATE_LIMIT_ATTRIBUTE = "_docs_api_rate_limit"


@dataclass(frozen=True)
class RateLimit:
    limit: int
    remaining: int
    reset: int  # seconds until the window resets

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(0, self.remaining)),
            "RateLimit-Reset": str(max(0, self.reset)),
        }


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


def rate_limit_record(request, rate_limit: RateLimit) -> None:
    """Called by a throttle: the rate limit that labels this request's answer."""
    setattr(request, RATE_LIMIT_ATTRIBUTE, rate_limit)


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
        return [throttle_class() for throttle_class in docs_api_throttle_classes()]

    def check_throttles(self, request):
        # Stop at the first refusal: a request over its rate is not also charged against the quota.
        for throttle in self.get_throttles():
            if not throttle.allow_request(request, self):
                self.throttled(request, throttle.wait())

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        rate_limit = getattr(request, RATE_LIMIT_ATTRIBUTE, None) or self._rate_limit_peek(request)
        if rate_limit is not None:
            for header, value in rate_limit.headers().items():
                response[header] = value
        return response

    def _rate_limit_peek(self, request) -> RateLimit | None:
        for throttle in self.get_throttles():
            peek = getattr(throttle, "rate_limit_peek", None)
            if peek is None:
                continue
            try:
                rate_limit = peek(request)
            except Exception:  # labelling an answer must never break it
                logger.exception("%s.rate_limit_peek failed", type(throttle).__name__)
                continue
            if rate_limit is not None:
                return rate_limit
        return None
