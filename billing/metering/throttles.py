"""The API's limits by plan; the settings name these classes, so that `accounts` and `libraries` enforce
billing's rules without importing billing.

- `PlanRateThrottle` (`REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]`: every view of the API): requests per minute
  per API key (per user for a browser session, per address when anonymous), from the plan of the customer's
  live subscription; a fixed one-minute window counted in Redis. The window's limit is read when the window
  opens and kept beside its count, so a call within it costs one round trip and no query; a plan change
  applies from the next minute. Refused → 429 `throttled` with `Retry-After`. The signed payment webhook is a
  plain Django view, not DRF's: its signature guards it, not a rate.
- `PlanQuotaThrottle` (`DOCS_API_THROTTLE_CLASSES`, after the rate): on metered views only. Needs an ACTIVE
  subscription (403 `subscription_required`). The quota is the one in force: the plan's on a period with one
  plan; after a plan change, the current plan's share for its days, against the tokens used since the change
  (`QuotaUsage`). Once it is reached, a plan with a hard cap (overage price 0) refuses calls (429
  `quota_exceeded`, `Retry-After` = the period's end), and so does a free trial whatever the plan
  (`Retry-After` = the trial's end, when tokens beyond the quota start to be billed); otherwise, once the
  overage this period would be billed so far (every plan's segment, priced as the invoice prices it) reaches
  the customer's monthly spend cap,
  calls are refused (402 `spend_cap_reached`) and a USAGE_THRESHOLD alert says so, once per period. Before the
  quota: an invoice unpaid `ACCESS_SUSPEND_AFTER_DAYS` past its due date refuses calls (402 `payment_required`,
  naming the invoice and where to pay it) until it is paid or finance lifts the suspension (`access_suspension`).
  On a plan with a progressive threshold, the same figures ask for an interim invoice once the period's usage
  charge reaches the next amount due (`billing.invoicing.progressive.interim_check_request`).

Tokens used this period come from a per-user counter in the cache: seeded from PostgreSQL on a miss,
incremented after each metered call or ingested batch (`usage_recorded`), expiring at the end of the period
and at the latest after `COUNTER_RESYNC_SECONDS`, so any drift (an increment racing a seed, a late event)
lasts minutes at most. Beside it, seeded at the same time and read in the same round trip, the quota it counts
against (`QuotaState`): the segment in force and the period's tokens before it, keyed by plan so that a plan
change takes effect on the next call. The quota throttle reads the counter, its state and the customer's cached
suspension in one round trip; on a metered docs view (`libraries.throttling.metered_call_expected`) the rate
throttle reads them with its window's count, in its own round trip, and the quota throttle makes none. A refusal
is never decided on the cache alone: it is confirmed against PostgreSQL (at most once a minute per customer).
When Redis is down, the quota is read from PostgreSQL on every call and the rate is not enforced: the API keeps
answering. Without Redis at all (development), both live in the local-memory cache.
"""
import datetime
import functools
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import connections, router
from django.utils.translation import gettext as _
from redis.exceptions import RedisError
from rest_framework import exceptions, status
from rest_framework.throttling import BaseThrottle

from accounts.models import ApiKey, UserProfile
from accounts.ratelimit import RateLimit, rate_limit_record
from billing import clock
from billing.cache import USER_DATA_TIMEOUT, customer_cache_keys, customer_cached
from billing.invoicing.progressive import interim_check_request
from billing.models import LIVE_SUBSCRIPTION_STATUSES, AlertType, Plan, Subscription, SubscriptionStatus
from billing.money import format_number
from billing.notifications.alerts import alert_raise, alert_text
from billing.periods import Period, format_long_date, local_date
from billing.pricing import UsageSegment, usage_charge
from billing.selectors import access_suspended_by, current_period, plan_histories_load, quota_usages, usage_window
from core.db import columns, row_converter, row_loader
from libraries.throttling import MeteredUsage, metered_call_expected

logger = logging.getLogger(__name__)

SERVICE_SCOPE = "usage:write"
COUNTER_RESYNC_SECONDS = 300
REFUSAL_CONFIRM_SECONDS = 60

# Increment the keys that exist, leave the others absent: a missing counter is seeded from the database.
INCREMENT_EXISTING = """
for index, key in ipairs(KEYS) do
    if redis.call('EXISTS', key) == 1 then
        redis.call('INCRBY', key, ARGV[index])
    end
end
return 0
"""

# Count one request in a window whose limit is set when it opens (KEYS[1] the count, KEYS[2] the limit; ARGV[1]
# the limit to open it with, ARGV[2] its lifetime): false, counting nothing, when it is not open and ARGV[1] is
# empty, so that the limit is read from the database only when a window opens. A metered call, whose limit is known
# (the quota throttle reads the account anyway), also reads in the same round trip the values of KEYS[3] onwards:
# what the quota throttle reads after it (see `_quota_read_keys`).
WINDOW_HIT = """
local limit = redis.call('GET', KEYS[2])
if not limit then
    if ARGV[1] == '' then
        return false
    end
    limit = ARGV[1]
    redis.call('SET', KEYS[2], limit, 'EX', ARGV[2])
end
local count = redis.call('INCR', KEYS[1])
if count == 1 then
    redis.call('EXPIRE', KEYS[1], ARGV[2])
end
if #KEYS > 2 then
    return {count, tonumber(limit), redis.call('MGET', unpack(KEYS, 3))}
end
return {count, tonumber(limit)}
"""

# Where a rate throttle leaves, on the request, what it read for the quota throttle: {cache key: value or None}.
QUOTA_READS_ATTRIBUTE = "_quota_reads"


class QuotaExceeded(exceptions.APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "quota_exceeded"
    default_detail = "The tokens included in your plan are used up for this period."

    def __init__(self, detail=None, *, wait: int):
        super().__init__(detail)
        self.wait = max(1, wait)  # DRF turns it into Retry-After


class SpendCapReached(exceptions.APIException):
    status_code = status.HTTP_402_PAYMENT_REQUIRED
    default_code = "spend_cap_reached"
    default_detail = "Your overage this period reached your monthly spend cap."


class PaymentRequired(exceptions.APIException):
    status_code = status.HTTP_402_PAYMENT_REQUIRED
    default_code = "payment_required"
    default_detail = "An unpaid invoice suspends your metered calls: pay it on /billing/."


class SubscriptionRequired(exceptions.APIException):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "subscription_required"
    default_detail = "Metered calls need an active subscription: choose a plan on /billing/."


@dataclass(frozen=True)
class Account:
    """What the limits of one request need, read once per request."""

    subscription: Subscription | None
    spend_cap: Decimal | None


@functools.cache
def _account_lookup(alias: str):
    """The statement of `request_account` and how to read its row, built once per database: the customer's first
    live subscription, every column of it and of its plan, then the profile's spend cap alone (a whole profile
    would decrypt its encrypted fields on every call)."""
    spend_cap = UserProfile._meta.get_field("monthly_spend_cap")
    sql = (
        f'SELECT {columns(Subscription, "s")}, {columns(Plan, "p")}, pr."{spend_cap.column}" '
        f'FROM "{Subscription._meta.db_table}" s '
        f'JOIN "{Plan._meta.db_table}" p ON p."id" = s."plan_id" '
        f'LEFT JOIN "{UserProfile._meta.db_table}" pr ON pr."user_id" = s."user_id" '
        f'WHERE s."user_id" = %s AND s."status" IN ({", ".join(["%s"] * len(LIVE_SUBSCRIPTION_STATUSES))}) '
        'ORDER BY s."id" LIMIT 1'
    )
    return sql, row_loader(Subscription, alias), row_loader(Plan, alias), row_converter([spend_cap], alias)


def request_account(request) -> Account:
    """Read once per request, by one SQL statement written once: the ORM took several times longer to compile
    this join than PostgreSQL takes to run it, on every metered call."""
    account = getattr(request, "_billing_account", None)
    if account is None:
        alias = router.db_for_read(Subscription)
        sql, load_subscription, load_plan, convert_spend_cap = _account_lookup(alias)
        with connections[alias].cursor() as cursor:
            cursor.execute(sql, [request.user.pk, *LIVE_SUBSCRIPTION_STATUSES])
            row = cursor.fetchone()
        if row is None:
            account = Account(subscription=None, spend_cap=None)
        else:
            width = len(Subscription._meta.concrete_fields)
            subscription = load_subscription(row[:width])
            subscription.plan = load_plan(row[width:-1])
            [spend_cap] = convert_spend_cap(row[-1:])
            account = Account(subscription=subscription, spend_cap=spend_cap)
        request._billing_account = account
    return account


def _api_key(request) -> ApiKey | None:
    auth = getattr(request, "auth", None)  # absent from a request DRF did not authenticate (a peek)
    return auth if isinstance(auth, ApiKey) else None


# --- Requests per minute -------------------------------------------------------------------------------


class PlanRateThrottle(BaseThrottle):
    """Requests per minute by plan, in fixed one-minute windows counted atomically in the cache."""

    window_seconds = 60
    default_requests_per_minute = 60  # a customer without a live subscription
    anonymous_requests_per_minute = 30  # by address
    service_requests_per_minute = 6000  # a `usage:write` key: the documentation server's batches
    cache_prefix = "ratelimit"

    def timer(self) -> float:
        return time.time()

    def _window_of(self, request, *, now: float) -> tuple[str, Callable[[], int]]:
        """The cache key of the caller's window holding `now`, and how to read the caller's limit."""
        api_key = _api_key(request)
        user = getattr(request, "user", None)
        if api_key is not None and SERVICE_SCOPE in (api_key.scopes or []):
            ident, limit_of = f"key:{api_key.pk}", lambda: self.service_requests_per_minute
        elif user is None or not user.is_authenticated:
            ident, limit_of = f"ip:{self.get_ident(request)}", lambda: self.anonymous_requests_per_minute
        else:
            # Per key, not per customer: each of a customer's keys gets the plan's rate.
            ident = f"key:{api_key.pk}" if api_key else f"user:{user.pk}"
            limit_of = functools.partial(self._plan_limit, request)
        return f"{self.cache_prefix}:{ident}:{int(now // self.window_seconds)}", limit_of

    def _plan_limit(self, request) -> int:
        subscription = request_account(request).subscription
        return subscription.plan.requests_per_minute if subscription else self.default_requests_per_minute

    def _reset(self, *, now: float) -> int:
        """Seconds until the window holding `now` ends."""
        return max(1, math.ceil((now // self.window_seconds + 1) * self.window_seconds - now))

    def allow_request(self, request, view) -> bool:
        now = self.timer()
        key, limit_of = self._window_of(request, now=now)
        self._wait = reset = self._reset(now=now)
        reads = _quota_reads_ahead(request)
        if reads:
            counted = _metered_window_hit(key, limit=limit_of(), timeout=self.window_seconds + 1, reads=reads)
            if counted is not None:
                count, limit, values = counted
                setattr(request, QUOTA_READS_ATTRIBUTE, dict(zip(reads, values, strict=True)))
        else:
            counted = _window_hit(key, limit_of=limit_of, timeout=self.window_seconds + 1)
            if counted is not None:
                count, limit = counted
        if counted is None:  # the cache is down: serve, unlimited, rather than refuse everyone
            limit = limit_of()
            rate_limit_record(request, RateLimit(limit=limit, remaining=limit - 1, reset=reset))
            return True
        rate_limit_record(request, RateLimit(limit=limit, remaining=limit - count, reset=reset))
        return count <= limit

    def wait(self) -> int:
        return getattr(self, "_wait", self.window_seconds)

    def rate_limit_peek(self, request) -> RateLimit:
        """The current window without counting: labels answers decided before throttling (401, 403)."""
        now = self.timer()
        key, limit_of = self._window_of(request, now=now)
        found = cache.get_many([key, _limit_key(key)])
        limit = found.get(_limit_key(key))
        if limit is None:
            limit = limit_of()
        return RateLimit(limit=limit, remaining=limit - found.get(key, 0), reset=self._reset(now=now))


def _limit_key(window_key: str) -> str:
    return f"{window_key}:limit"


def _redis_client():
    """django-redis's client of the cache (it makes the keys and holds the connections); None on local memory."""
    client = getattr(cache, "client", None)
    return client if client is not None and hasattr(client, "get_client") else None


def _window_hit(key: str, *, limit_of: Callable[[], int], timeout: int) -> tuple[int, int] | None:
    """Count one request in the window `key`: its count and limit, `limit_of()` read only when it opens; None
    when Redis is unavailable."""
    client = _redis_client()
    if client is None:  # local memory: development without Redis
        limit = cache.get_or_set(_limit_key(key), limit_of, timeout=timeout)
        cache.add(key, 0, timeout=timeout)
        return cache.incr(key), limit
    script = client.get_client(write=True).register_script(WINDOW_HIT)
    keys = [client.make_key(key), client.make_key(_limit_key(key))]
    try:
        counted = script(keys=keys, args=["", timeout])
        if counted is None:
            counted = script(keys=keys, args=[limit_of(), timeout])
    except RedisError:
        return None
    return counted[0], counted[1]


def _metered_window_hit(key: str, *, limit: int, timeout: int, reads: list[str]) -> tuple[int, int, list] | None:
    """`_window_hit` with the limit known, and the values of the cache keys `reads` (None when absent) read in the
    same round trip; None when Redis is unavailable."""
    client = _redis_client()
    script = client.get_client(write=True).register_script(WINDOW_HIT)
    keys = [client.make_key(key), client.make_key(_limit_key(key)), *(client.make_key(read) for read in reads)]
    try:
        count, limit, values = script(keys=keys, args=[limit, timeout])
        return count, limit, [None if value is None else client.decode(value) for value in values]
    except RedisError:
        return None


# --- Suspension for an unpaid invoice -------------------------------------------------------------------


@dataclass(frozen=True)
class Suspension:
    """The invoice that suspends a customer's metered calls, as the 402 answer names it (cached: no personal
    data, only the invoice's own figures)."""

    invoice_id: int
    number: str
    amount_due: Decimal
    currency: str
    due_date: datetime.date

    def message(self) -> str:
        return (
            f"Invoice {self.number} ({self.amount_due} {self.currency}, due {self.due_date.isoformat()}) is unpaid: "
            f"metered calls are suspended until it is paid. Pay it on /billing/invoices/{self.invoice_id}/."
        )


def access_suspension(*, user, now: datetime.datetime, found: dict | None = None) -> Suspension | None:
    """What suspends the customer's metered calls at `now`, or None.

    Cached per customer under their cache version (billing.cache), so a warm call reads no database: every write
    that ends a suspension (a payment, a refund, a cancellation, finance's lift) calls `customer_cache_invalidate`,
    and the next call is served at once. One that begins without any write, when a day passes, is covered by the
    key: it names the day in BILLING_TIME_ZONE (and the grace in force), so the first call after midnight reads
    the database again. USER_DATA_TIMEOUT bounds what a change made outside the services could leave stale.

    `found`: the cache's values already read for this call (`_quota_reads`), so that the cache is not read again.
    """
    today = local_date(now)

    def compute() -> Suspension | None:
        invoice = access_suspended_by(user=user, today=today)
        if invoice is None:
            return None
        return Suspension(invoice.pk, invoice.number, invoice.amount_due, invoice.currency, invoice.due_date)

    return customer_cached(
        user_id=user.pk, name=SUSPENSION_CACHE_NAME, key=_suspension_cache_entry(today),
        timeout=USER_DATA_TIMEOUT, compute=compute, found=found,
    )


SUSPENSION_CACHE_NAME = "access-suspension"


def _suspension_cache_entry(today: datetime.date) -> str:
    return f"{today.isoformat()}:{settings.ACCESS_SUSPEND_AFTER_DAYS}"


def _suspension_cache_keys(user_id: int, *, today: datetime.date) -> tuple[str, str]:
    """The cache keys under which `customer_cached` (billing.cache) keeps the suspension: the customer's version,
    then the entry. Read with the quota's in one round trip."""
    return customer_cache_keys(user_id=user_id, name=SUSPENSION_CACHE_NAME, key=_suspension_cache_entry(today))


# --- Quota and spend cap -------------------------------------------------------------------------------


def _counter_key(user_id: int) -> str:
    return f"usage-tokens:{user_id}"


def _quota_key(subscription: Subscription, period: Period) -> str:
    # The plan is part of the key: a plan change opens a new segment, and its quota is read afresh at once.
    return f"usage-quota:{subscription.user_id}:{period.start:%Y%m%d}:{subscription.plan_id}"


def _confirmed_key(user_id: int) -> str:
    return f"usage-tokens-confirmed:{user_id}"


@dataclass(frozen=True)
class QuotaState:
    """What the period's counter is measured against, cached beside it (see `QuotaUsage`): the plan segment in
    force (the whole period on one plan), the period's tokens before it, and what the usage of the earlier
    segments is billed so far."""

    segment: UsageSegment
    tokens_before: int
    earlier_charge: Decimal

    def segment_tokens(self, period_tokens: int) -> int:
        return period_tokens - self.tokens_before

    def period_charge(self, period_tokens: int) -> Decimal:
        """What the period's usage is billed so far, every plan's segment priced as the invoice prices it."""
        return self.earlier_charge + usage_charge(segment=self.segment, tokens_used=self.segment_tokens(period_tokens))


def _quota_read_keys(subscription: Subscription, period: Period, *, now) -> list[str]:
    """What the quota throttle reads from the cache on every call, in one round trip: the customer's cached
    suspension (its version and entry), the period's counter and its quota state."""
    return [
        *_suspension_cache_keys(subscription.user_id, today=local_date(now)),
        _counter_key(subscription.user_id), _quota_key(subscription, period),
    ]


def _quota_reads_ahead(request) -> list[str]:
    """The keys a rate throttle reads for the quota throttle that follows it on a metered docs call with an active
    subscription, on Redis; none otherwise (the quota throttle then reads them itself)."""
    if not metered_call_expected(request) or not request.user.is_authenticated or _redis_client() is None:
        return []
    subscription = request_account(request).subscription
    if subscription is None or subscription.status != SubscriptionStatus.ACTIVE:
        return []
    now = clock.now()
    return _quota_read_keys(subscription, current_period(subscription, now=now), now=now)


def _quota_reads(request, subscription: Subscription, period: Period, *, now) -> dict:
    """The values of `_quota_read_keys` that the cache holds: as the rate throttle read them for this call when it
    read them all, else in one round trip."""
    keys = _quota_read_keys(subscription, period, now=now)
    ahead = getattr(request, QUOTA_READS_ATTRIBUTE, None)
    if ahead is not None and all(key in ahead for key in keys):
        return {key: ahead[key] for key in keys if ahead[key] is not None}
    return cache.get_many(keys)


def _quota_cached(
    subscription: Subscription, period: Period, found: dict | None = None
) -> tuple[int, QuotaState] | None:
    """The period's counter and its quota state from the cache in one round trip (or from `found`, the values
    already read for this call), when both are there."""
    counter_key, quota_key = _counter_key(subscription.user_id), _quota_key(subscription, period)
    cached = cache.get_many([counter_key, quota_key]) if found is None else found
    if counter_key in cached and quota_key in cached:
        return int(cached[counter_key]), cached[quota_key]
    return None


def _quota_from_database(subscription: Subscription, period: Period, *, now, confirmed: bool) -> tuple[int, QuotaState]:
    """The period's tokens and the quota they count against (the plan history, then one usage query), cached.

    A `confirmed` figure overwrites the counter; otherwise it is only added, since a counter seeded meanwhile by
    another request may already hold newer increments."""
    plan_histories_load([subscription])
    quota = quota_usages({subscription: period}, now=now)[subscription]
    tokens, state = sum(quota.segment_tokens), QuotaState(quota.segment, quota.tokens_before, quota.earlier_charge)
    counter_key, quota_key = _counter_key(subscription.user_id), _quota_key(subscription, period)
    timeout = _counter_timeout(window=usage_window(subscription, period), now=now)
    if confirmed:
        cache.set(counter_key, tokens, timeout=timeout)
        cache.set(_confirmed_key(subscription.user_id), 1, timeout=REFUSAL_CONFIRM_SECONDS)
    else:
        cache.add(counter_key, tokens, timeout=timeout)
    cache.set(quota_key, state, timeout=timeout)
    return tokens, state


def _counter_timeout(*, window, now) -> int:
    until_period_end = math.ceil((window[1] - now).total_seconds())
    return max(1, min(COUNTER_RESYNC_SECONDS, until_period_end))


def quota_tokens_used(
    *, subscription: Subscription, period: Period, now, found: dict | None = None
) -> tuple[int, QuotaState, bool]:
    """The period's tokens, the quota they count against, and whether they come fresh from the database. Warm,
    both come from the cache in one round trip (none with `found`, the values already read) and no query."""
    cached = _quota_cached(subscription, period, found)
    if cached is not None:
        return (*cached, False)
    return (*_quota_from_database(subscription, period, now=now, confirmed=False), True)


def _quota_confirmed(*, subscription: Subscription, period: Period, now) -> tuple[int, QuotaState]:
    """Before refusing: the database's figures, unless they were confirmed less than a minute ago."""
    if cache.get(_confirmed_key(subscription.user_id)):
        cached = _quota_cached(subscription, period)
        if cached is not None:
            return cached
    return _quota_from_database(subscription, period, now=now, confirmed=True)


def _refusal(state: QuotaState, spend_cap: Decimal | None, period_tokens: int) -> str | None:
    segment = state.segment
    tokens = state.segment_tokens(period_tokens)
    if tokens < segment.included_tokens:
        return None  # within the quota in force a call adds nothing to the bill, whatever earlier days cost
    if segment.trial:
        return "trial"  # a free trial bills no overage: its quota is a hard cap, whatever the plan
    if segment.plan.has_hard_cap:
        return "quota"
    if spend_cap is not None and state.period_charge(period_tokens) >= spend_cap:
        return "spend_cap"
    return None


def _increment_existing(deltas: dict[str, int]) -> None:
    """Add to the counters that exist, in one round trip on Redis."""
    client = _redis_client()
    if client is None:  # local memory: development without Redis
        for key, delta in deltas.items():
            try:
                cache.incr(key, delta)
            except ValueError:
                pass
        return
    redis = client.get_client(write=True)
    keys = [client.make_key(key) for key in deltas]
    redis.eval(INCREMENT_EXISTING, len(keys), *keys, *deltas.values())


def _spend_cap_text(spend_cap: Decimal, currency: str, period: Period) -> str:
    return _(
        "Your overage this period reached your monthly spend cap of %(cap)s: metered calls are refused until "
        "%(end)s, or until you raise the cap on your account page."
    ) % {"cap": format_number(spend_cap, currency=currency), "end": format_long_date(period.end)}


class PlanQuotaThrottle(BaseThrottle):
    """The plan's quota (hard cap) and the customer's spend cap, on views with `metered = True`."""

    def allow_request(self, request, view) -> bool:
        if not getattr(view, "metered", False) or not request.user.is_authenticated:
            return True
        now = clock.now()
        account = request_account(request)
        subscription = account.subscription
        if subscription is None or subscription.status != SubscriptionStatus.ACTIVE:
            raise SubscriptionRequired()
        period = current_period(subscription, now=now)
        found = _quota_reads(request, subscription, period, now=now)
        suspension = access_suspension(user=request.user, now=now, found=found)
        if suspension is not None:
            raise PaymentRequired(suspension.message())
        tokens, state, fresh = quota_tokens_used(subscription=subscription, period=period, now=now, found=found)
        if subscription.plan.progressive_threshold is not None:
            interim_check_request(subscription=subscription, period=period, charge=state.period_charge(tokens))
        refusal = _refusal(state, account.spend_cap, tokens)
        if refusal is not None and not fresh:
            tokens, state = _quota_confirmed(subscription=subscription, period=period, now=now)
            refusal = _refusal(state, account.spend_cap, tokens)
        if refusal == "quota":
            plan = state.segment.plan
            raise QuotaExceeded(
                f"You have used the {state.segment.included_tokens:,} tokens included in your {plan.name} plan "
                f"this period; calls resume on {period.end.isoformat()}, or upgrade your plan on /billing/.",
                wait=math.ceil((usage_window(subscription, period)[1] - now).total_seconds()),
            )
        if refusal == "trial":
            trial = state.segment
            raise QuotaExceeded(
                f"You have used the {trial.included_tokens:,} tokens included in your free trial of the "
                f"{trial.plan.name} plan; calls resume on {trial.period.end.isoformat()}. Tokens beyond the quota "
                "are billed once the trial is over.",
                wait=math.ceil((trial.period.end_at - now).total_seconds()),
            )
        if refusal == "spend_cap":
            self._spend_cap_reached(request.user, subscription, account.spend_cap, period, now=now)
        return True

    def _spend_cap_reached(self, user, subscription, spend_cap, period: Period, *, now) -> None:
        currency = subscription.plan.currency
        alert_raise(
            user=user, type=AlertType.USAGE_THRESHOLD, occasion=f"{period.start:%Y-%m}:spend-cap", now=now,
            message=alert_text(_spend_cap_text, spend_cap, currency, period),
        )
        raise SpendCapReached(
            f"Your overage this period reached your monthly spend cap of {spend_cap} {currency}: metered calls "
            f"are refused until {period.end.isoformat()}, or until you raise the cap on /account/."
        )

    def wait(self):
        return None

    @classmethod
    def usage_recorded(cls, usages: Sequence[MeteredUsage]) -> None:
        """Keep the counters current after metered calls or an ingested batch; absent counters stay absent."""
        deltas: dict[str, int] = defaultdict(int)
        for usage in usages:
            deltas[_counter_key(usage.user_id)] += usage.tokens
        if not deltas:
            return
        try:
            _increment_existing(dict(deltas))
        except Exception:  # Redis down or slow: counters expire and resync from the database
            logger.warning("Could not update %d usage counter(s)", len(deltas), exc_info=True)
