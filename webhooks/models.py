"""Webhooks to customers: the endpoints a customer registers, each event once (a message), its delivery to each
endpoint and every attempt of it (the log). Stripe's events received by billing are billing's WebhookEvent."""
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.fields import EncryptedTextField

# The most of a receiver's answer kept in the log.
RESPONSE_EXCERPT_BYTES = 1024


class WebhookEventType(models.TextChoices):
    INVOICE_FINALIZED = "invoice.finalized", _("An invoice is issued")
    INVOICE_PAID = "invoice.paid", _("An invoice is paid")
    INVOICE_OVERDUE = "invoice.overdue", _("An invoice is overdue")
    PAYMENT_FAILED = "payment.failed", _("A payment failed")
    USAGE_THRESHOLD_REACHED = "usage.threshold_reached", _("Usage reached 80 or 100 percent of the included tokens")
    SUBSCRIPTION_UPDATED = "subscription.updated", _("The subscription changed (plan, pause, cancellation, end)")


class WebhookEndpoint(models.Model):
    """Where a customer wants events POSTed; the signing secret is encrypted at rest and shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, help_text="The event types sent to this endpoint.")
    secret = EncryptedTextField(help_text="whsec_<base64>: signs every delivery (Standard Webhooks).")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    disabled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "webhook endpoint"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(is_active=True, disabled_at__isnull=True) | Q(is_active=False, disabled_at__isnull=False),
                name="webhook_endpoint_disabled_at_iff_inactive",
            ),
        ]

    def __str__(self):
        return self.url


class WebhookMessage(models.Model):
    """One event of one customer, sent with the same `webhook-id` to each endpoint and on every retry."""

    public_id = models.CharField(max_length=40, unique=True, help_text="msg_…: the webhook-id header.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_messages")
    type = models.CharField(max_length=40, choices=WebhookEventType.choices)
    payload = models.JSONField(encoder=DjangoJSONEncoder, help_text="The body sent: type, timestamp and data.")
    occasion = models.CharField(
        max_length=200, blank=True, help_text="Set when the event happens once per occasion (a usage threshold).",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "webhook message"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "occasion"], condition=~Q(occasion=""), name="webhook_message_once_per_occasion",
            ),
            models.CheckConstraint(condition=Q(type__in=WebhookEventType.values), name="webhook_message_type_valid"),
        ]

    def __str__(self):
        return f"{self.type} {self.public_id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "PENDING", _("Pending")
    DELIVERING = "DELIVERING", _("Sending")
    SUCCEEDED = "SUCCEEDED", _("Delivered")
    FAILED = "FAILED", _("Failed")


FINISHED_DELIVERY_STATUSES = (DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED)


class WebhookDelivery(models.Model):
    """A message to one endpoint: its state lives here, so retries survive a worker restart.

    PENDING waits for `next_attempt_at`; DELIVERING is claimed by a worker until `next_attempt_at` (a lease
    that a lost worker lets run out); SUCCEEDED and FAILED are done (no next attempt).
    """

    message = models.ForeignKey(WebhookMessage, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["message", "endpoint"], name="webhook_delivery_once_per_endpoint"),
            models.CheckConstraint(condition=Q(status__in=DeliveryStatus.values), name="webhook_delivery_status_valid"),
            models.CheckConstraint(
                condition=Q(status=DeliveryStatus.SUCCEEDED, delivered_at__isnull=False)
                | (~Q(status=DeliveryStatus.SUCCEEDED) & Q(delivered_at__isnull=True)),
                name="webhook_delivery_delivered_at_iff_succeeded",
            ),
            models.CheckConstraint(
                condition=Q(status__in=FINISHED_DELIVERY_STATUSES, next_attempt_at__isnull=True)
                | (~Q(status__in=FINISHED_DELIVERY_STATUSES) & Q(next_attempt_at__isnull=False)),
                name="webhook_delivery_next_attempt_iff_unfinished",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due_idx"),
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_endpoint_idx"),
        ]

    def __str__(self):
        return f"{self.message.public_id} → {self.endpoint.url}"


class WebhookAttempt(models.Model):
    """One POST of a delivery, as the receiver answered it (or why it could not be made): the log."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts_log")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The start of the receiver's answer (1 KB at most).")
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "webhook attempt"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("response_body"), RESPONSE_EXCERPT_BYTES),
                name="webhook_attempt_excerpt_short",
            ),
        ]

    def __str__(self):
        return f"{self.status_code or self.error} at {self.created_at:%Y-%m-%d %H:%M:%S}"
