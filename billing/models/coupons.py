"""Coupons (promotion codes) and their redemptions: a reduction of a subscription's period invoices."""
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import pgettext_lazy

from billing.models.fields import MONEY
from billing.models.subscriptions import Subscription


class CouponDuration(models.TextChoices):
    # In context: French agrees these with "remise" (a coupon's reduction).
    ONCE = "once", pgettext_lazy("coupon duration", "Once")  # the next period invoice
    REPEATING = "repeating", pgettext_lazy("coupon duration", "Repeating")  # `duration_months` months of periods
    FOREVER = "forever", pgettext_lazy("coupon duration", "Forever")


class Coupon(models.Model):
    """A reduction a customer enters by its code (or finance grants): a percentage or an amount off the lines of
    the period invoices issued after its redemption, before tax.

    `code` is stored upper-case (entered in any case); `times_redeemed` counts redemptions and never passes
    `max_redemptions` (a database check, so two customers redeeming the last one at once cannot both get it).
    """

    code = models.CharField(max_length=40, unique=True, help_text="What customers enter; kept upper-case.")
    name = models.CharField(max_length=100, help_text="Printed on the invoice's discount line.")
    percent_off = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    amount_off = models.DecimalField(**MONEY, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True, help_text="Of `amount_off`; empty for a percentage.")
    duration = models.CharField(max_length=9, choices=CouponDuration.choices, default=CouponDuration.ONCE)
    duration_months = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Repeating only: the months of billed periods it applies to."
    )
    max_redemptions = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: unlimited.")
    times_redeemed = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Last moment it can be redeemed.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(code=Upper("code")) & ~Q(code=""), name="coupon_code_upper",
                violation_error_message="A code is upper-case and not empty.",
            ),
            # A percentage, or an amount in a currency: exactly one.
            models.CheckConstraint(
                condition=(
                    Q(percent_off__gt=0, percent_off__lte=100, amount_off__isnull=True, currency="")
                    | (Q(percent_off__isnull=True, amount_off__gt=0) & ~Q(currency=""))
                ),
                name="coupon_percent_or_amount_off",
                violation_error_message="Give a percentage (above 0, at most 100) or an amount off with its currency: "
                "exactly one.",
            ),
            models.CheckConstraint(
                condition=Q(duration=CouponDuration.REPEATING, duration_months__gt=0)
                | (~Q(duration=CouponDuration.REPEATING) & Q(duration_months__isnull=True)),
                name="coupon_duration_months_when_repeating",
                violation_error_message="A repeating coupon needs its months; once and forever take none.",
            ),
            models.CheckConstraint(
                condition=Q(max_redemptions__isnull=True)
                | Q(max_redemptions__gt=0, times_redeemed__lte=F("max_redemptions")),
                name="coupon_redemptions_within_max",
                violation_error_message="The maximum of redemptions is at least 1 and at least the times redeemed.",
            ),
        ]

    def __str__(self):
        return self.code


class CouponRedemption(models.Model):
    """A coupon applied to a customer's subscription: it discounts the period invoices issued while it runs
    (`ended_at` null) and ends once its duration is used up (`periods_applied`, `months_applied`)."""

    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="redemptions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="coupon_redemptions")
    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="coupon_redemptions")
    redeemed_at = models.DateTimeField(default=timezone.now)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The finance user who granted it; empty when the customer entered the code.",
    )
    periods_applied = models.PositiveIntegerField(default=0, help_text="Period invoices it discounted.")
    months_applied = models.PositiveIntegerField(default=0, help_text="Months of those periods (a year counts 12).")
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-redeemed_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["coupon", "user"], name="coupon_redemption_once_per_customer"),
            models.UniqueConstraint(
                fields=["subscription"], condition=Q(ended_at__isnull=True), name="coupon_redemption_one_running"
            ),
        ]

    def __str__(self):
        return f"{self.coupon} for {self.user}"
