"""Credit a customer may spend on future invoices, and where it was spent."""
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.models.fields import MONEY
from billing.models.invoices import Invoice
from billing.models.payments import Payment


class CreditType(models.TextChoices):
    PROMOTIONAL = "PROMOTIONAL", _("Promotional")
    REFUND = "REFUND", _("Refund")
    COMPENSATION = "COMPENSATION", _("Compensation")
    ADJUSTMENT = "ADJUSTMENT", _("Adjustment")


class Credit(models.Model):
    """An amount a customer may spend on future invoices; `remaining_amount` is a balance, locked to change."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="credits")
    type = models.CharField(max_length=12, choices=CreditType.choices)
    amount = models.DecimalField(**MONEY)
    remaining_amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, default="EUR")
    reason = models.TextField()
    expires_at = models.DateTimeField(null=True, blank=True)
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The payment whose excess became this credit.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A grant made from a form (the admin's "Grant a credit") carries its key: the same form posted again grants
    # nothing more. Credits the services make themselves (overpayments, cancellations) have none; the database
    # default serves bulk loads that leave the column out.
    idempotency_key = models.CharField(max_length=200, blank=True, default="", db_default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["expires_at", "created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="credit_amount_positive"),
            models.CheckConstraint(
                condition=Q(remaining_amount__gte=0) & Q(remaining_amount__lte=F("amount")),
                name="credit_remaining_within_amount",
            ),
            models.UniqueConstraint(
                fields=["idempotency_key"], condition=~Q(idempotency_key=""), name="credit_idempotency_key_unique"
            ),
        ]
        indexes = [models.Index(fields=["user", "expires_at"], name="credit_user_expiry_idx")]

    def __str__(self):
        return f"{self.get_type_display()} credit {self.remaining_amount}/{self.amount} {self.currency}"


class CreditApplication(models.Model):
    """How much of a credit paid an invoice; reversed (not deleted) when the invoice is cancelled."""

    credit = models.ForeignKey(Credit, on_delete=models.PROTECT, related_name="applications")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_applications")
    amount = models.DecimalField(**MONEY)
    created_at = models.DateTimeField(default=timezone.now)
    reversed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="credit_application_amount_positive"),
            models.UniqueConstraint(fields=["credit", "invoice"], name="credit_application_once_per_invoice"),
        ]

    def __str__(self):
        return f"{self.amount} of {self.credit} on {self.invoice}"
