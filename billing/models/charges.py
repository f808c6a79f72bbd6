"""One-off charges: an amount finance bills a customer once, on their next period invoice or on an invoice of its
own."""
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from billing.models.fields import MONEY
from billing.models.invoices import Invoice

PENDING_CHARGE = Q(invoice__isnull=True, cancelled_at__isnull=True)


class OneOffCharge(models.Model):
    """A charge finance adds: pending until an invoice bills it (`invoice`, set once) or finance cancels it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="one_off_charges")
    description = models.CharField(max_length=300, help_text="Printed as the invoice line, as written.")
    amount = models.DecimalField(**MONEY, help_text="Before tax; the invoice adds the customer's VAT.")
    currency = models.CharField(max_length=3, default="EUR")
    invoice = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="one_off_charges",
        help_text="The invoice that bills it; empty while pending.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # The admin form's submission key: the same form posted twice adds one charge.
    idempotency_key = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="one_off_charge_amount_positive"),
            models.CheckConstraint(condition=~Q(description=""), name="one_off_charge_description_given"),
            # Billed or cancelled, never both.
            models.CheckConstraint(
                condition=Q(invoice__isnull=True) | Q(cancelled_at__isnull=True),
                name="one_off_charge_billed_or_cancelled",
            ),
            models.UniqueConstraint(
                fields=["idempotency_key"], condition=~Q(idempotency_key=""),
                name="one_off_charge_idempotency_key_unique",
            ),
        ]
        indexes = [
            # What invoicing reads: the pending charges of the customers of a chunk.
            models.Index(fields=["user"], condition=PENDING_CHARGE, name="one_off_charge_pending_idx"),
        ]

    def __str__(self):
        return f"{self.description} ({self.amount} {self.currency})"

    @property
    def is_pending(self) -> bool:
        return self.invoice_id is None and self.cancelled_at is None
