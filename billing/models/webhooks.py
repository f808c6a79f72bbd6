"""Events received from the payment provider, each answered once."""
from django.db import models
from django.db.models import Q
from django.utils import timezone

from billing.models.payments import Payment


class WebhookEventStatus(models.TextChoices):
    PROCESSED = "PROCESSED", "Processed"
    REJECTED = "REJECTED", "Rejected"


class WebhookEvent(models.Model):
    """A payment provider's event, answered once: its id is unique, so a redelivery finds it here.

    A REJECTED event was refused for its content (or could not apply): nothing of it was applied, `rejection`
    holds the refusal it was answered, and every redelivery of its id gets that same answer.
    """

    event_id = models.CharField(max_length=200, unique=True)
    type = models.CharField(max_length=50)
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=WebhookEventStatus.choices, default=WebhookEventStatus.PROCESSED,
        db_default=WebhookEventStatus.PROCESSED,
    )
    rejection = models.JSONField(
        null=True, blank=True, help_text="The refusal answered: HTTP status, code, message and fields."
    )
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status=WebhookEventStatus.PROCESSED, rejection__isnull=True)
                | Q(status=WebhookEventStatus.REJECTED, rejection__isnull=False),
                name="webhook_event_rejection_iff_rejected",
            ),
        ]

    def __str__(self):
        return f"{self.type} {self.event_id}"
