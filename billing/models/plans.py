"""What is sold: a plan's fee, its included tokens and the price of the tokens beyond them."""
from django.db import models
from django.utils.translation import gettext_lazy as _

from billing.models.fields import MONEY, UNIT_PRICE, non_negative


class Interval(models.TextChoices):
    MONTH = "MONTH", _("Monthly")
    YEAR = "YEAR", _("Yearly")


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
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["price", "code"]
        constraints = non_negative("price", "overage_price_per_million", prefix="plan")

    def __str__(self):
        return self.name

    @property
    def has_hard_cap(self) -> bool:
        return self.overage_price_per_million == 0
