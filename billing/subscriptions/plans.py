"""Plans: a plan in use keeps its price; a new price is a new version of the plan, offered to new subscriptions."""
import datetime
import re

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction

from accounts.services import audit_log_record
from billing import clock
from billing.exceptions import BillingError
from billing.models import Interval, Plan, Subscription, SubscriptionPlanChange, usage_pricing_checked
from billing.money import non_negative_decimal
from billing.periods import local_date

USAGE_PRICING_FIELDS = ("usage_pricing", "usage_tiers", "package_tokens", "package_price")
# What a new version may change; the code is given apart, `is_active` is the service's to set.
PLAN_VERSION_FIELDS = (
    "name", "price", "currency", "interval", "included_tokens", "overage_price_per_million", "requests_per_minute",
    "trial_days", "progressive_threshold", *USAGE_PRICING_FIELDS,
)
# Fields that set what a subscriber pays or gets: frozen once the plan is used.
PLAN_TERMS_FIELDS = (
    "code", "price", "currency", "interval", "included_tokens", "overage_price_per_million", "requests_per_minute",
    *USAGE_PRICING_FIELDS,
)
VERSION_SUFFIX = re.compile(r"-\d{4}(-\d+)?$")


def plan_is_used(plan: Plan) -> bool:
    """A plan is used once a subscription holds it, or held it before a plan change."""
    return (
        Subscription.objects.filter(plan=plan).exists()
        or SubscriptionPlanChange.objects.filter(from_plan=plan).exists()
        or SubscriptionPlanChange.objects.filter(to_plan=plan).exists()
    )


def plan_version_code(plan: Plan, *, year: int) -> str:
    """`pro` → `pro-2027` (`pro-2027-2` when that is taken); the version suffix of `plan` is replaced."""
    base = VERSION_SUFFIX.sub("", plan.code)
    code, counter = f"{base}-{year}", 1
    while Plan.objects.filter(code=code).exists():
        counter += 1
        code = f"{base}-{year}-{counter}"
    return code


def _checked(values: dict) -> dict:
    values["price"] = non_negative_decimal(values["price"], what="The price", places=2)
    values["overage_price_per_million"] = non_negative_decimal(
        values["overage_price_per_million"], what="The overage price per million tokens", places=4
    )
    if values["interval"] not in Interval.values:
        raise BillingError(f"'{values['interval']}' is not an interval: use one of {', '.join(Interval.values)}.")
    for field in ("included_tokens", "requests_per_minute", "trial_days"):
        if not isinstance(values[field], int) or values[field] < 0:
            raise BillingError(f"{field.replace('_', ' ').capitalize()} must be a whole number, zero or more.")
    if values["requests_per_minute"] == 0:
        raise BillingError("Requests per minute must be at least 1.")
    if values["progressive_threshold"] is not None:
        values["progressive_threshold"] = non_negative_decimal(
            values["progressive_threshold"], what="The progressive billing threshold", places=2
        )
        if values["progressive_threshold"] == 0:
            raise BillingError("The progressive billing threshold must be above 0 (empty: no interim invoices).")
    if not str(values["name"]).strip():
        raise BillingError("A plan needs a name.")
    if not re.fullmatch(r"[A-Z]{3}", str(values["currency"])):
        raise BillingError(f"'{values['currency']}' is not an ISO 4217 currency code.")
    return values | usage_pricing_checked(**{field: values[field] for field in USAGE_PRICING_FIELDS})


@transaction.atomic
def plan_new_version(
    *, plan: Plan, code: str | None = None, now: datetime.datetime | None = None, **changes
) -> Plan:
    """A copy of `plan` with `changes`, under a new code (`pro-2027` by default), offered from now on.

    `plan` is no longer offered to new subscriptions; those it has keep it, and its price, until they change
    plan. Raises BillingError for an unknown field, a bad value or a code already taken.
    """
    unknown = sorted(set(changes) - set(PLAN_VERSION_FIELDS))
    if unknown:
        raise BillingError(f"A plan version cannot change {', '.join(unknown)}.")
    now = now or clock.now()
    plan = Plan.objects.select_for_update().get(pk=plan.pk)
    code = (code or plan_version_code(plan, year=local_date(now).year)).strip()
    try:
        validate_slug(code)
    except ValidationError:
        raise BillingError(f"'{code}' is not a plan code: use letters, digits, '-' and '_'.") from None
    values = _checked({field: getattr(plan, field) for field in PLAN_VERSION_FIELDS} | changes)
    try:
        with transaction.atomic():
            new_plan = Plan.objects.create(code=code, is_active=True, previous_version=plan, **values)
    except IntegrityError:
        raise BillingError(f"The plan code '{code}' is taken.") from None
    changed = {field: str(values[field]) for field in PLAN_VERSION_FIELDS if values[field] != getattr(plan, field)}
    audit_log_record(action="plan.new_version", obj=new_plan, changes={"from": plan.code, **changed})
    if plan.is_active:
        plan.is_active = False
        plan.save(update_fields=["is_active"])
        audit_log_record(action="plan.deactivate", obj=plan, changes={"replaced_by": code})
    return new_plan
