"""A customer on a plan, period after period, with its plan changes and pauses."""
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import pgettext_lazy

from billing.models.plans import Plan, PlanVersionMove


class SubscriptionStatus(models.TextChoices):
    # In context: French agrees these with "abonnement", an invoice's "Cancelled" with "facture".
    ACTIVE = "ACTIVE", pgettext_lazy("subscription status", "Active")
    PAUSED = "PAUSED", pgettext_lazy("subscription status", "Paused")
    CANCELLED = "CANCELLED", pgettext_lazy("subscription status", "Cancelled")
    EXPIRED = "EXPIRED", pgettext_lazy("subscription status", "Expired")


LIVE_SUBSCRIPTION_STATUSES = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAUSED)


class Subscription(models.Model):
    """A customer's plan. Its current period is a half-open date pair in BILLING_TIME_ZONE."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="subscriptions")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(max_length=10, choices=SubscriptionStatus.choices, default=SubscriptionStatus.ACTIVE)
    current_period_start = models.DateField()
    current_period_end = models.DateField()
    cancel_at_period_end = models.BooleanField(default=False)
    started_at = models.DateTimeField(default=timezone.now)
    paused_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # A free trial: its days are not billed; `trial_end` is the first day billed (half-open, like periods).
    trial_end = models.DateField(null=True, blank=True)
    trial_plan = models.ForeignKey(Plan, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    trial_concluded_at = models.DateTimeField(
        null=True, blank=True, help_text="When the trial's end was handled: converted, or cancelled."
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(current_period_end__gt=F("current_period_start")), name="subscription_period_not_empty"
            ),
            # A customer has at most one subscription being billed at a time.
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(status__in=LIVE_SUBSCRIPTION_STATUSES),
                name="subscription_one_live_per_user",
            ),
            # One free trial per customer and plan, whatever happened to the subscription that had it.
            models.UniqueConstraint(
                fields=["user", "trial_plan"],
                condition=Q(trial_plan__isnull=False),
                name="subscription_one_trial_per_user_plan",
            ),
            models.CheckConstraint(
                condition=Q(trial_end__isnull=True, trial_plan__isnull=True)
                | Q(trial_end__isnull=False, trial_plan__isnull=False),
                name="subscription_trial_end_with_plan",
            ),
        ]
        indexes = [models.Index(fields=["status", "current_period_end"], name="subscription_due_idx")]

    def __str__(self):
        return f"{self.user} on {self.plan}"


class SubscriptionPlanChange(models.Model):
    """History of plan changes: `to_plan` is in force from `effective_date` (a day in BILLING_TIME_ZONE)."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="plan_changes")
    from_plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    to_plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    effective_date = models.DateField()
    changed_at = models.DateTimeField(default=timezone.now)
    # Set when finance moved the subscribers of a plan to its newer version: a price change, not the customer's.
    version_move = models.ForeignKey(
        PlanVersionMove, on_delete=models.PROTECT, null=True, blank=True, related_name="plan_changes"
    )

    class Meta:
        ordering = ["subscription", "changed_at", "id"]

    def __str__(self):
        return f"{self.from_plan} → {self.to_plan} from {self.effective_date}"


class SubscriptionPause(models.Model):
    """Days [start_date, end_date) on which a subscription was paused and pays no fee; open while paused."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="pauses")
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["subscription", "start_date", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")), name="pause_end_after_start"
            ),
            models.UniqueConstraint(
                fields=["subscription"], condition=Q(end_date__isnull=True), name="pause_one_open_per_subscription"
            ),
        ]

    def __str__(self):
        return f"paused {self.start_date} → {self.end_date or '…'}"
