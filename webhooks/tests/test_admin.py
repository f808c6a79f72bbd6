"""Finance's back-office for webhooks: read-only lists, never a secret, and "Send again" (audited)."""
import pytest

from accounts.models import AuditLog
from webhooks.models import DeliveryStatus
from webhooks.services import webhook_event_publish
from webhooks.tests.factories import WebhookEndpointFactory


@pytest.mark.django_db
class TestWebhooksAdmin:
    def test_the_endpoint_page_never_shows_the_secret(self, admin_client):
        endpoint = WebhookEndpointFactory()

        page = admin_client.get(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/").content.decode()

        assert endpoint.url in page and endpoint.secret not in page

    def test_a_delivery_shows_its_attempts_and_is_sent_again_by_the_action(
        self, admin_client, admin_user, receiver, django_capture_on_commit_callbacks
    ):
        receiver.statuses = [502]
        endpoint = WebhookEndpointFactory(url=receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            delivery = webhook_event_publish(user=endpoint.user, type="invoice.paid", data={}).deliveries.get()
        assert "502" in admin_client.get(f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/").content.decode()

        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post("/admin/webhooks/webhookdelivery/", {
                "action": "send_again", "_selected_action": [delivery.pk],
            }, follow=True)

        assert "Sent again (1)" in response.content.decode()
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 2)
        entry = AuditLog.objects.get(action="webhook_delivery.resend")
        assert entry.actor_id == admin_user.pk

    def test_lists_filter_by_status_and_type(self, admin_client):
        endpoint = WebhookEndpointFactory()
        webhook_event_publish(user=endpoint.user, type="payment.failed", data={})

        listed = admin_client.get("/admin/webhooks/webhookdelivery/?status__exact=PENDING&message__type=payment.failed")
        assert listed.status_code == 200 and "payment.failed" in listed.content.decode()
        assert admin_client.get("/admin/webhooks/webhookmessage/?type=payment.failed").status_code == 200
