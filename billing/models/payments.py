"""Money received against an invoice, and what was refunded of it."""
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.models.fields import MONEY
from billing.models.invoices import Invoice


class PaymentStatus(models.TextChoices):
    PENDING = "PENDING", _("Pending")
    PROCESSING = "PROCESSING", _("Processing")
    COMPLETED = "COMPLETED", _("Completed")
    FAILED = "FAILED", _("Failed")
    REFUNDED = "REFUNDED", _("Refunded")


class PaymentMethod(models.TextChoices):
    CARD = "CARD", _("Card")
    SEPA_DEBIT = "SEPA_DEBIT", _("SEPA direct debit")
    BANK_TRANSFER = "BANK_TRANSFER", _("Bank transfer")
    CHECK = "CHECK", _("Cheque")
    OTHER = "OTHER", _("Other")


class Payment(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(**MONEY)
    refunded_amount = models.DecimalField(**MONEY, default=0)
    currency = models.CharField(max_length=3, default="EUR")
    status = models.CharField(max_length=10, choices=PaymentStatus.choices, default=PaymentStatus.PENDING)
    method = models.CharField(max_length=13, choices=PaymentMethod.choices, default=PaymentMethod.BANK_TRANSFER)
    provider_reference = models.CharField(max_length=200, blank=True)
    idempotency_key = models.CharField(max_length=200, unique=True)
    failure_reason = models.TextField(blank=True)
    # The provider's refunds of this payment, by refund id: {"amount", "sequence", "status", "request"}. A refund
    # is counted in refunded_amount once, when its status first becomes "succeeded": a later answer or webhook
    # event about the same id finds it applied.
    refund_references = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=F("amount")),
                name="payment_refund_within_amount",
            ),
        ]

    def __str__(self):
        return f"{self.amount} {self.currency} for {self.invoice}"
