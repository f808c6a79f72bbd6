"""Finance's view of webhooks to customers: endpoints (never their secret), events, and each delivery with the
log of its attempts, all read-only; "Send again" re-queues deliveries through the service (audited)."""
from django.contrib import admin

from accounts.admin_mixins import ReadOnlyAdminMixin, run_for_each
from core.exceptions import Conflict

from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookMessage
from .services import webhook_delivery_resend


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("url", "user", "events", "is_active", "created_at", "disabled_at")
    list_select_related = ("user",)
    list_filter = ("is_active",)
    search_fields = ("url", "user__email", "description")
    fields = ("user", "url", "description", "events", "is_active", "created_at", "disabled_at")  # never the secret
    date_hierarchy = "created_at"


class WebhookDeliveryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = WebhookDelivery
    fields = ("endpoint", "status", "attempts", "last_status_code", "next_attempt_at", "delivered_at")
    show_change_link = True


@admin.register(WebhookMessage)
class WebhookMessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("public_id", "type", "user", "created_at")
    list_select_related = ("user",)
    list_filter = ("type",)
    search_fields = ("=public_id", "user__email")
    inlines = (WebhookDeliveryInline,)
    date_hierarchy = "created_at"


class WebhookAttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = WebhookAttempt
    fields = ("created_at", "status_code", "duration_ms", "error", "response_body")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("message", "event", "endpoint", "status", "attempts", "last_status_code", "next_attempt_at",
                    "created_at")
    list_select_related = ("message", "endpoint")
    list_filter = ("status", "message__type")
    search_fields = ("=message__public_id", "endpoint__url", "endpoint__user__email")
    inlines = (WebhookAttemptInline,)
    date_hierarchy = "created_at"
    actions = ("send_again",)

    @admin.display(description="event", ordering="message__type")
    def event(self, delivery):
        return delivery.message.type

    def has_send_again_permission(self, request):
        return request.user.has_perm("webhooks.change_webhookdelivery")

    @admin.action(description="Send the selected deliveries again", permissions=["send_again"])
    def send_again(self, request, queryset):
        run_for_each(self, request, queryset.select_related("message", "endpoint"),
                     lambda delivery: webhook_delivery_resend(delivery=delivery), done="Sent again",
                     refused=(Conflict,))
