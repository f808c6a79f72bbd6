"""Finance's lift of the suspension an unpaid invoice puts on a customer's metered access."""
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from billing.models.invoices import Invoice


class AccessSuspensionLift(models.Model):
    """Finance decided this unpaid invoice no longer suspends the customer's access (it stays due).

    One per invoice: a lift is not undone, and another late invoice suspends on its own.
    """

    invoice = models.OneToOneField(Invoice, on_delete=models.PROTECT, related_name="access_suspension_lift")
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Finance says why; the audit trail is no use without it.
            models.CheckConstraint(condition=~Q(reason=""), name="access_suspension_lift_reason_given"),
        ]

    def __str__(self):
        return f"Suspension lifted for {self.invoice}"
