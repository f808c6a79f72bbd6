"""Rate-limit headers on every answer of the API, whoever's limits they are.

The throttles of every DRF view come from settings (`REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]`: billing's plan
rate), so this bottom layer labels the answers of every app without importing the one that sets the limits:

- a throttle records how much of its window the request used with `rate_limit_record`;
- `RateLimitHeadersMiddleware` writes it on the answer as `RateLimit-Limit`, `RateLimit-Remaining` and
  `RateLimit-Reset` (seconds until the window resets). An answer of a DRF view decided before its throttles ran
  (401, 403) asks those of them that define `rate_limit_peek(request)` for the caller's window instead, which
  counts nothing. A 429 carries `Retry-After` (DRF sets it from the throttle's `wait()`);
- `rate_limit_schema` documents both in the OpenAPI schema, on every operation.

And the sign-up page's own throttle, `signup_attempt_allowed` (per client address and per email).
"""
import copy
import hashlib
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

RATE_LIMIT_ATTRIBUTE = "_rate_limit"


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


def rate_limit_record(request, rate_limit: RateLimit) -> None:
    """Called by a throttle: the rate limit that labels this request's answer."""
    # Kept on the HttpRequest beneath DRF's Request, the one the middleware sees.
    setattr(getattr(request, "_request", request), RATE_LIMIT_ATTRIBUTE, rate_limit)


def _rate_limit_peek(request) -> RateLimit | None:
    """The caller's window by the throttles of the DRF view that answered, without counting the request."""
    match = getattr(request, "resolver_match", None)
    view_class = getattr(match.func, "cls", None) if match is not None else None  # only DRF's views have `cls`
    for throttle in (throttle_class() for throttle_class in getattr(view_class, "throttle_classes", ())):
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


class RateLimitHeadersMiddleware:
    """Labels the answers of rate-limited views with the window their throttles recorded (or peeked at)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        rate_limit = getattr(request, RATE_LIMIT_ATTRIBUTE, None) or _rate_limit_peek(request)
        if rate_limit is not None:
            for header, value in rate_limit.headers().items():
                response[header] = value
        return response


HEADER_DESCRIPTIONS = {
    "RateLimit-Limit": "Requests allowed in the current one-minute window (for a key: its plan's requests per minute).",
    "RateLimit-Remaining": "Requests left in the current window.",
    "RateLimit-Reset": "Seconds until the current window resets.",
    "Retry-After": "Seconds to wait before calling again.",
}
THROTTLED = {
    "description": "throttled: the caller's requests per minute are used up (per API key, per user for a browser "
    "session, per address when anonymous); see Retry-After.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def rate_limit_schema(result, generator, request, public):
    """drf-spectacular postprocessing hook: every operation of the API is rate limited, so each documents its
    429 and the RateLimit-* headers of all its answers (and Retry-After on the 429)."""
    result.setdefault("components", {}).setdefault("headers", {}).update({
        name: {"description": description, "schema": {"type": "integer", "minimum": 0}}
        for name, description in HEADER_DESCRIPTIONS.items()
    })
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            operation["responses"].setdefault("429", copy.deepcopy(THROTTLED))
            for status, response in operation["responses"].items():
                names = [name for name in HEADER_DESCRIPTIONS if name != "Retry-After" or status == "429"]
                response.setdefault("headers", {}).update(
                    {name: {"$ref": f"#/components/headers/{name}"} for name in names}
                )
    return result


# Sign-up throttling: every POST of /account/signup/ counts, against its client address (many accounts from one
# place) and against the email it names (someone flooding an address with confirmation or notice emails), in
# fixed windows as long as the login's cool-off. Counted in the cache (Redis), like DRF's throttles: the counter
# only slows callers down and guards no money, so a Redis that is down lets sign-ups through rather than
# refusing them.
SIGNUP_THROTTLE_KEY = "accounts:signup-attempts:{kind}:{digest}"


def signup_attempt_allowed(*, ip_address: str | None, email: str) -> bool:
    """Count one sign-up attempt; False once the address or the email went over `SIGNUP_ATTEMPT_LIMIT`."""
    window = int(settings.AXES_COOLOFF_TIME.total_seconds())
    allowed = True
    subjects = [("ip", ip_address or ""), ("email", (email or "").strip().lower())]
    for kind, subject in subjects:
        if not subject:
            continue
        # Hashed: the cache holds no address or email in clear.
        key = SIGNUP_THROTTLE_KEY.format(kind=kind, digest=hashlib.sha256(subject.encode()).hexdigest())
        cache.add(key, 0, timeout=window)
        try:
            attempts = cache.incr(key)
        except ValueError:  # expired between add and incr, or the cache is unreachable
            attempts = 1
        if attempts is not None and attempts > settings.SIGNUP_ATTEMPT_LIMIT:
            allowed = False
    return allowed
