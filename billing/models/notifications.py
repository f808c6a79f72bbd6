"""What a customer is told: alerts on the dashboard and the emails sent."""
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.models.invoices import Invoice


class AlertType(models.TextChoices):
    USAGE_THRESHOLD = "USAGE_THRESHOLD", _("Usage threshold")
    PAYMENT_FAILED = "PAYMENT_FAILED", _("Payment failed")
    INVOICE_OVERDUE = "INVOICE_OVERDUE", _("Invoice overdue")
    SUBSCRIPTION_EXPIRING = "SUBSCRIPTION_EXPIRING", _("Subscription expiring")
    TRIAL_ENDING = "TRIAL_ENDING", _("Trial ending")


class BillingAlert(models.Model):
    """Told once: unique per user, type and occasion (e.g. `2026-10:80`)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="billing_alerts")
    type = models.CharField(max_length=25, choices=AlertType.choices)
    occasion = models.CharField(max_length=100)
    message = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_error = models.TextField(
        blank=True, help_text="Why its email could not be sent; the next sweep tries again and clears it."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "type", "occasion"], name="billing_alert_once_per_occasion")
        ]

    def __str__(self):
        return f"{self.get_type_display()} ({self.occasion})"


class EmailKind(models.TextChoices):
    INVOICE_ISSUED = "INVOICE_ISSUED", "Invoice issued"
    CREDIT_NOTE_ISSUED = "CREDIT_NOTE_ISSUED", "Credit note issued"
    PAYMENT_RECEIVED = "PAYMENT_RECEIVED", "Payment received"
    PAYMENT_FAILED = "PAYMENT_FAILED", "Payment failed"
    PAYMENT_REMINDER = "PAYMENT_REMINDER", "Payment reminder"
    USAGE_THRESHOLD = "USAGE_THRESHOLD", "Usage threshold"
    SPEND_CAP_REACHED = "SPEND_CAP_REACHED", "Spend cap reached"
    SUBSCRIPTION_EXPIRING = "SUBSCRIPTION_EXPIRING", "Subscription expiring"
    PLAN_VERSION_MOVE = "PLAN_VERSION_MOVE", "Plan moving to a new version"
    TRIAL_ENDING = "TRIAL_ENDING", "Trial ending"
    TRIAL_ENDED = "TRIAL_ENDED", "Trial ended"


class EmailStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    SENT = "SENT", "Sent"
    FAILED = "FAILED", "Failed"


class EmailNotification(models.Model):
    """One email to a customer, keyed so that it is never sent twice (e.g. `reminder:42:+7`)."""

    key = models.CharField(max_length=150, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="email_notifications")
    kind = models.CharField(max_length=25, choices=EmailKind.choices)
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.CASCADE, related_name="emails")
    recipient = models.EmailField(blank=True)
    subject = models.CharField(max_length=300, blank=True)
    language = models.CharField(max_length=2, default="en")
    context = models.JSONField(default=dict, blank=True, help_text="Plain values the templates render.")
    status = models.CharField(max_length=10, choices=EmailStatus.choices, default=EmailStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"], name="email_status_idx")]

    def __str__(self):
        return f"{self.get_kind_display()} to {self.recipient or self.user}"
