"""The webhooks page of the account: add an endpoint (its secret shown once), rotate, disable, delete, the recent
deliveries with "Send again"; another customer's endpoints answer 404."""
import pytest

from accounts.models import AuditLog
from webhooks.models import DeliveryStatus, WebhookEndpoint
from webhooks.services import webhook_event_publish
from webhooks.tests.factories import WebhookEndpointFactory

PAGE = "/account/webhooks/"


@pytest.mark.django_db
class TestEndpointsPage:
    def test_adding_an_endpoint_shows_its_secret_once(self, logged_in, customer):
        response = logged_in.post(PAGE, {"url": "https://93.184.215.14/hooks", "events": ["invoice.paid",
                                                                                          "payment.failed"]})

        assert response.status_code == 302
        endpoint = WebhookEndpoint.objects.get(user=customer)
        assert endpoint.events == ["invoice.paid", "payment.failed"]
        shown = logged_in.get(PAGE).content.decode()
        assert endpoint.secret in shown and "it is shown only this once" in shown
        again = logged_in.get(PAGE).content.decode()
        assert endpoint.secret not in again and "https://93.184.215.14/hooks" in again

    def test_a_private_address_is_a_form_error_on_the_url_and_nothing_is_written(self, logged_in):
        response = logged_in.post(PAGE, {"url": "https://169.254.169.254/latest", "events": ["invoice.paid"]})

        assert response.status_code == 400
        assert response.context["form"].errors["url"][0].startswith("Address not allowed")
        assert not WebhookEndpoint.objects.exists()

    def test_no_event_chosen_is_a_form_error(self, logged_in):
        response = logged_in.post(PAGE, {"url": "https://93.184.215.14/hooks"})
        assert response.status_code == 400 and "events" in response.context["form"].errors

    def test_rotating_shows_the_new_secret_once(self, logged_in, customer):
        endpoint = WebhookEndpointFactory(user=customer)
        old = endpoint.secret

        logged_in.post(f"{PAGE}{endpoint.pk}/rotate-secret/")

        endpoint.refresh_from_db()
        assert endpoint.secret != old and endpoint.secret in logged_in.get(PAGE).content.decode()

    def test_disable_enable_and_delete(self, logged_in, customer):
        endpoint = WebhookEndpointFactory(user=customer)

        logged_in.post(f"{PAGE}{endpoint.pk}/toggle/", {"active": "0"})
        endpoint.refresh_from_db()
        assert (endpoint.is_active, endpoint.disabled_at is not None) == (False, True)
        logged_in.post(f"{PAGE}{endpoint.pk}/toggle/", {"active": "1"})
        endpoint.refresh_from_db()
        assert (endpoint.is_active, endpoint.disabled_at) == (True, None)

        assert "Delete the endpoint" in logged_in.get(f"{PAGE}{endpoint.pk}/delete/").content.decode()
        logged_in.post(f"{PAGE}{endpoint.pk}/delete/")
        assert not WebhookEndpoint.objects.exists()
        assert list(AuditLog.objects.filter(object_id=str(endpoint.pk), object_type="webhooks.WebhookEndpoint")
                    .order_by("id").values_list("action", flat=True)) == [
            "webhook_endpoint.update", "webhook_endpoint.update", "webhook_endpoint.delete",
        ]

    def test_recent_deliveries_are_listed_and_sent_again(
        self, logged_in, customer, receiver, django_capture_on_commit_callbacks
    ):
        receiver.statuses = [500]
        endpoint = WebhookEndpointFactory(user=customer, url=receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            message = webhook_event_publish(user=customer, type="invoice.paid", data={"id": 1})
        delivery = message.deliveries.get()

        page = logged_in.get(PAGE).content.decode()
        assert message.public_id in page and "HTTP 500" in page and "Send again" in page

        with django_capture_on_commit_callbacks(execute=True):
            logged_in.post(f"{PAGE}{endpoint.pk}/deliveries/{delivery.pk}/resend/")

        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 2)
        assert f"The event {message.public_id} is being sent again." in logged_in.get(PAGE).content.decode()

    def test_another_customers_endpoint_answers_404(self, logged_in):
        theirs = WebhookEndpointFactory()
        delivery = webhook_event_publish(user=theirs.user, type="invoice.paid", data={}).deliveries.get()

        assert logged_in.post(f"{PAGE}{theirs.pk}/rotate-secret/").status_code == 404
        assert logged_in.post(f"{PAGE}{theirs.pk}/toggle/", {"active": "0"}).status_code == 404
        assert logged_in.get(f"{PAGE}{theirs.pk}/delete/").status_code == 404
        assert logged_in.post(f"{PAGE}{theirs.pk}/deliveries/{delivery.pk}/resend/").status_code == 404
        theirs.refresh_from_db()
        assert theirs.is_active and theirs.url not in logged_in.get(PAGE).content.decode()

    def test_needs_a_login(self, client):
        response = client.get(PAGE)
        assert response.status_code == 302 and response.url.startswith("/account/login/")
