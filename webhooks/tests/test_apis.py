"""The webhooks API: an endpoint's secret in the creation answer only, bad input 400 naming the field with nothing
written, another customer's endpoints and deliveries 404, deliveries listed and sent again."""
import pytest
from rest_framework.test import APIClient

from accounts.models import AuditLog
from accounts.services import api_key_create
from accounts.tests.factories import make_customer
from webhooks.models import DeliveryStatus, WebhookEndpoint, WebhookEventType
from webhooks.services import webhook_event_publish
from webhooks.tests.factories import WebhookEndpointFactory

ENDPOINTS = "/api/account/webhooks/"


def client_for(user, scopes=("account:admin",)) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=user, name='tests', scopes=scopes).token}")
    return client


def error_of(response) -> dict:
    return response.json()["error"]


@pytest.fixture
def ada():
    return make_customer(user__email="ada@example.com")


@pytest.mark.django_db
class TestEndpoints:
    def test_creates_an_endpoint_whose_secret_is_shown_once(self, ada):
        client = client_for(ada)

        created = client.post(ENDPOINTS, {"url": "https://93.184.215.14/hooks", "events": ["invoice.paid"],
                                          "description": "Accounting"}, format="json")

        assert created.status_code == 201
        body = created.json()
        assert body["secret"].startswith("whsec_") and len(body["secret"]) == len("whsec_") + 32
        assert (body["url"], body["events"], body["is_active"]) == ("https://93.184.215.14/hooks", ["invoice.paid"],
                                                                    True)
        endpoint = WebhookEndpoint.objects.get()
        assert endpoint.secret == body["secret"]
        for answer in (client.get(ENDPOINTS).json()["results"][0], client.get(f"{ENDPOINTS}{endpoint.pk}/").json()):
            assert "secret" not in answer and answer["id"] == endpoint.pk
        assert AuditLog.objects.filter(action="webhook_endpoint.create", object_id=str(endpoint.pk)).exists()

    @pytest.mark.parametrize(("body", "field", "message"), [
        ({"url": "https://10.0.0.1/hooks", "events": ["invoice.paid"]}, "url", "Address not allowed"),
        ({"url": "https://[::ffff:127.0.0.1]/", "events": ["invoice.paid"]}, "url", "Address not allowed"),
        ({"url": "http://93.184.215.14/hooks", "events": ["invoice.paid"]}, "url", "Use an https:// URL."),
        ({"url": "https://u:p@93.184.215.14/", "events": ["invoice.paid"]}, "url", "The URL must not hold"),
        ({"url": "not a url", "events": ["invoice.paid"]}, "url", "Enter a valid URL."),
        ({"url": "https://93.184.215.14/", "events": ["invoice.lost"]}, "events", "“invoice.lost” is not an event"),
        ({"url": "https://93.184.215.14/", "events": []}, "events", ""),
        ({"url": "https://93.184.215.14/"}, "events", "This field is required."),
    ])
    def test_bad_input_answers_400_naming_the_field_and_writes_nothing(self, ada, body, field, message):
        response = client_for(ada).post(ENDPOINTS, body, format="json")

        assert response.status_code == 400
        error = error_of(response)
        assert list(error["fields"]) == [field] and error["fields"][field][0].startswith(message)
        assert error["message"].startswith(f"{field}: ")
        assert not WebhookEndpoint.objects.exists()

    def test_patch_disables_then_changes_the_events(self, ada):
        endpoint = WebhookEndpointFactory(user=ada)
        client = client_for(ada)

        disabled = client.patch(f"{ENDPOINTS}{endpoint.pk}/", {"is_active": False}, format="json")
        changed = client.patch(f"{ENDPOINTS}{endpoint.pk}/", {"events": ["payment.failed"]}, format="json")

        assert (disabled.status_code, disabled.json()["is_active"]) == (200, False)
        assert disabled.json()["disabled_at"] is not None
        assert changed.json()["events"] == ["payment.failed"]
        refused = client.patch(f"{ENDPOINTS}{endpoint.pk}/", {"url": "https://169.254.169.254/"}, format="json")
        assert refused.status_code == 400 and list(error_of(refused)["fields"]) == ["url"]
        endpoint.refresh_from_db()
        assert endpoint.url == "https://93.184.215.14/hooks/twinmcp"

    def test_another_customers_endpoint_answers_404_and_stays(self, ada):
        theirs = WebhookEndpointFactory()
        client = client_for(ada)

        for method in ("get", "patch", "delete"):
            assert getattr(client, method)(f"{ENDPOINTS}{theirs.pk}/", {}, format="json").status_code == 404
        assert client.get(f"{ENDPOINTS}{theirs.pk}/deliveries/").status_code == 404
        assert client.get(ENDPOINTS).json()["results"] == []
        assert WebhookEndpoint.objects.filter(pk=theirs.pk).exists()

    def test_delete_removes_it(self, ada):
        endpoint = WebhookEndpointFactory(user=ada)
        assert client_for(ada).delete(f"{ENDPOINTS}{endpoint.pk}/").status_code == 204
        assert not WebhookEndpoint.objects.exists()

    def test_a_key_without_account_admin_answers_403(self, ada):
        response = client_for(ada, scopes=("billing:read",)).get(ENDPOINTS)
        assert response.status_code == 403 and "account:admin" in error_of(response)["message"]

    def test_answers_401_without_a_key(self):
        assert APIClient().get(ENDPOINTS).status_code == 401


@pytest.mark.django_db
class TestDeliveries:
    def test_lists_the_deliveries_with_their_log_and_sends_one_again(
        self, ada, receiver, django_capture_on_commit_callbacks
    ):
        receiver.statuses = [500]
        endpoint = WebhookEndpointFactory(user=ada, url=receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            message = webhook_event_publish(user=ada, type=WebhookEventType.INVOICE_PAID, data={"id": 7})
        client = client_for(ada)

        [listed] = client.get(f"{ENDPOINTS}{endpoint.pk}/deliveries/").json()["results"]
        assert (listed["message_id"], listed["event"], listed["status"], listed["last_status_code"]) == (
            message.public_id, "invoice.paid", "PENDING", 500,
        )
        assert listed["payload"]["data"] == {"id": 7} and [entry["status_code"] for entry in listed["log"]] == [500]

        with django_capture_on_commit_callbacks(execute=True):
            resent = client.post(f"{ENDPOINTS}{endpoint.pk}/deliveries/{listed['id']}/resend/")

        assert resent.status_code == 202
        [listed] = client.get(f"{ENDPOINTS}{endpoint.pk}/deliveries/").json()["results"]
        assert (listed["status"], listed["attempts"]) == (DeliveryStatus.SUCCEEDED, 2)
        assert [request.headers["webhook-id"] for request in receiver.requests] == [message.public_id] * 2

    def test_another_customers_delivery_cannot_be_sent_again(self, ada):
        endpoint = WebhookEndpointFactory()
        delivery = webhook_event_publish(user=endpoint.user, type="invoice.paid", data={}).deliveries.get()
        own = WebhookEndpointFactory(user=ada)
        client = client_for(ada)

        assert client.post(f"{ENDPOINTS}{endpoint.pk}/deliveries/{delivery.pk}/resend/").status_code == 404
        assert client.post(f"{ENDPOINTS}{own.pk}/deliveries/{delivery.pk}/resend/").status_code == 404
        assert not AuditLog.objects.filter(action="webhook_delivery.resend").exists()
