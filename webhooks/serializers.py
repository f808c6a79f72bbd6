"""Serializers of the webhooks API: an endpoint never shows its secret but in the answer that creates it (or
rotates it); a delivery shows its status and the log of its attempts."""
from rest_framework import serializers

from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEventType

EVENTS_HELP = " ".join(f"`{value}`: {label}." for value, label in WebhookEventType.choices)


def events_field(**kwargs) -> serializers.MultipleChoiceField:
    return serializers.MultipleChoiceField(
        choices=WebhookEventType.choices, allow_empty=False, help_text=EVENTS_HELP,
        error_messages={"invalid_choice": "“{input}” is not an event type."}, **kwargs,
    )


class WebhookEndpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "description", "events", "is_active", "created_at", "disabled_at"]
        read_only_fields = fields


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(help_text="`whsec_…`: signs every delivery; shown in this answer only.")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookEndpointCreateInputSerializer(serializers.Serializer):
    url = serializers.URLField(
        max_length=2000,
        help_text="https:// on a public address (never a private, loopback or link-local one); any port.",
    )
    events = events_field()
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class WebhookEndpointUpdateInputSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=2000, required=False)
    events = events_field(required=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False, help_text="false: nothing is sent until true again.")


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["status_code", "error", "response_body", "duration_ms", "created_at"]
        read_only_fields = fields


class WebhookDeliverySerializer(serializers.ModelSerializer):
    message_id = serializers.CharField(source="message.public_id", help_text="The `webhook-id` header.")
    event = serializers.ChoiceField(source="message.type", choices=WebhookEventType.choices)
    payload = serializers.JSONField(source="message.payload", help_text="The body POSTed: type, timestamp, data.")
    log = WebhookAttemptSerializer(source="attempts_log", many=True, help_text="Every attempt, newest first.")

    class Meta:
        model = WebhookDelivery
        fields = ["id", "message_id", "event", "status", "attempts", "next_attempt_at", "last_status_code",
                  "last_error", "created_at", "delivered_at", "payload", "log"]
        read_only_fields = fields
