"""What is sold: a plan's fee, its included tokens and the price of the tokens beyond them."""
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.exceptions import BillingError
from billing.models.fields import MONEY, UNIT_PRICE, non_negative
from billing.money import non_negative_decimal


class Interval(models.TextChoices):
    MONTH = "MONTH", _("Monthly")
    YEAR = "YEAR", _("Yearly")


class UsagePricing(models.TextChoices):
    """How the tokens beyond the included ones are priced (DESIGN "Pricing catalogue")."""

    PER_UNIT = "per_unit", _("Per unit")
    GRADUATED = "graduated", _("Graduated")
    VOLUME = "volume", _("Volume")
    PACKAGE = "package", _("Package")


TIERED_PRICINGS = (UsagePricing.GRADUATED, UsagePricing.VOLUME)


@dataclass(frozen=True)
class UsageTier:
    """Tokens beyond the included ones up to `up_to` (None: without end) at `price_per_million`."""

    up_to: int | None
    price_per_million: Decimal


def _checked_tiers(tiers) -> list[dict]:
    if not isinstance(tiers, list | tuple) or not tiers:
        raise BillingError("Graduated and volume pricing need at least one tier.")
    checked, previous = [], 0
    for number, tier in enumerate(tiers, start=1):
        if not isinstance(tier, dict) or set(tier) != {"up_to", "price_per_million"}:
            raise BillingError(f"Tier {number}: give exactly up_to (tokens, or null) and price_per_million.")
        up_to, last = tier["up_to"], number == len(tiers)
        if last and up_to is not None:
            raise BillingError(f"Tier {number}: the last tier has no upper bound (up_to null).")
        if not last and (isinstance(up_to, bool) or not isinstance(up_to, int)):
            raise BillingError(f"Tier {number}: up_to must be a whole number of tokens; only the last tier is open.")
        if not last and up_to <= previous:
            raise BillingError(f"Tier {number}: up_to must be above {previous:,} tokens (the bounds go up).")
        price = non_negative_decimal(tier["price_per_million"], what=f"Tier {number}: the price per million", places=4)
        checked.append({"up_to": up_to, "price_per_million": str(price)})
        previous = up_to
    return checked


def usage_pricing_checked(*, usage_pricing, usage_tiers, package_tokens, package_price) -> dict:
    """The usage price model of a plan, checked: the one validation the admin form (through `Plan.clean`),
    plan versions and the model share. Returns the values to store (tier prices as decimal strings);
    raises BillingError saying which tier or field is wrong.

    Tiers count the tokens beyond the included ones; their `up_to` go strictly up and only the last one is
    open (null). Prices per million have at most four decimals, the package price two; none is negative.
    """
    if usage_pricing not in UsagePricing.values:
        raise BillingError(f"'{usage_pricing}' is not a usage pricing: use one of {', '.join(UsagePricing.values)}.")
    values = {"usage_pricing": usage_pricing, "usage_tiers": [], "package_tokens": None, "package_price": None}
    if usage_pricing in TIERED_PRICINGS:
        values["usage_tiers"] = _checked_tiers(usage_tiers)
    elif usage_tiers:
        raise BillingError("Tiers apply to graduated and volume pricing only.")
    if usage_pricing == UsagePricing.PACKAGE:
        if isinstance(package_tokens, bool) or not isinstance(package_tokens, int) or package_tokens < 1:
            raise BillingError("Package pricing needs a block of at least 1 token (package tokens).")
        if package_price is None:
            raise BillingError("Package pricing needs the price of a block (package price).")
        values["package_tokens"] = package_tokens
        values["package_price"] = non_negative_decimal(package_price, what="The package price", places=2)
    elif package_tokens is not None or package_price is not None:
        raise BillingError("Package tokens and package price apply to package pricing only.")
    return values


class Plan(models.Model):
    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    price = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, default="EUR")
    interval = models.CharField(max_length=5, choices=Interval.choices, default=Interval.MONTH)
    included_tokens = models.PositiveBigIntegerField()
    overage_price_per_million = models.DecimalField(
        **UNIT_PRICE, help_text="0 means a hard cap: calls beyond the quota are refused with 429."
    )
    requests_per_minute = models.PositiveIntegerField(default=60)
    usage_pricing = models.CharField(
        max_length=9, choices=UsagePricing.choices, default=UsagePricing.PER_UNIT,
        help_text="How tokens beyond the included ones are priced: per unit at the overage price, by tiers "
                  "(graduated, volume) or by blocks (package).",
    )
    usage_tiers = models.JSONField(
        default=list, blank=True,
        help_text='Graduated and volume: [{"up_to": tokens beyond the included ones, or null for the last tier, '
                  '"price_per_million": "2.00"}, …].',
    )
    package_tokens = models.PositiveBigIntegerField(null=True, blank=True, help_text="Package: tokens in a block.")
    package_price = models.DecimalField(**MONEY, null=True, blank=True, help_text="Package: the price of a block.")
    progressive_threshold = models.DecimalField(
        **MONEY, null=True, blank=True, validators=[MinValueValidator(Decimal("0.01"))],
        help_text="Progressive billing: once the period's usage not yet billed reaches this amount (before tax), an "
                  "interim invoice bills it at once; empty: usage is billed at the period's end only.",
    )
    trial_days = models.PositiveIntegerField(
        default=0, help_text="Days a new customer uses the plan free, once per customer; 0: no trial."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The plan this one is a new version of (`pro` for `pro-2027`): its subscribers may be moved here.
    previous_version = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="next_versions"
    )

    class Meta:
        ordering = ["price", "code"]
        constraints = [
            *non_negative("price", "overage_price_per_million", "package_price", prefix="plan"),
            models.CheckConstraint(condition=Q(usage_pricing__in=UsagePricing.values), name="plan_usage_pricing_valid"),
            models.CheckConstraint(
                condition=Q(progressive_threshold__isnull=True) | Q(progressive_threshold__gt=0),
                name="plan_progressive_threshold_positive",
            ),
            # Tiers exactly for the tiered models (at least one), block size and price exactly for package.
            models.CheckConstraint(
                condition=Q(usage_pricing__in=TIERED_PRICINGS) & ~Q(usage_tiers=[])
                | ~Q(usage_pricing__in=TIERED_PRICINGS) & Q(usage_tiers=[]),
                name="plan_usage_tiers_for_tiered_pricing",
            ),
            models.CheckConstraint(
                condition=Q(usage_pricing=UsagePricing.PACKAGE, package_tokens__gte=1, package_tokens__isnull=False,
                            package_price__isnull=False)
                | ~Q(usage_pricing=UsagePricing.PACKAGE) & Q(package_tokens__isnull=True, package_price__isnull=True),
                name="plan_package_fields_for_package_pricing",
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        try:
            usage_pricing_checked(
                usage_pricing=self.usage_pricing, usage_tiers=self.usage_tiers,
                package_tokens=self.package_tokens, package_price=self.package_price,
            )
        except BillingError as error:
            raise ValidationError(str(error)) from None

    @property
    def tiers(self) -> tuple[UsageTier, ...]:
        # Through str: a price written into the JSON as a number (1.1) is read as the decimal it shows, not as the
        # binary float nearest to it.
        return tuple(UsageTier(tier["up_to"], Decimal(str(tier["price_per_million"]))) for tier in self.usage_tiers)

    @property
    def has_hard_cap(self) -> bool:
        """Calls beyond the quota are refused: per unit at no overage price. The other models bill them."""
        return self.usage_pricing == UsagePricing.PER_UNIT and self.overage_price_per_million == 0


class PlanVersionMove(models.Model):
    """Finance moved the subscribers of `from_plan` to its newer version `to_plan`, each at the start of their next
    period: one scheduled plan change per subscriber (`SubscriptionPlanChange.version_move`)."""

    from_plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="version_moves_out")
    to_plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="version_moves_in")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    scheduled_count = models.PositiveIntegerField(help_text="Subscribers whose move this scheduled.")
    skipped_count = models.PositiveIntegerField(
        help_text="Subscribers left on the plan: another plan change scheduled, or ending at their period's end."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(from_plan=F("to_plan")), name="plan_version_move_to_another_plan"),
        ]

    def __str__(self):
        return f"{self.from_plan.code} → {self.to_plan.code} ({self.created_at:%Y-%m-%d})"
