"""A customer's webhooks in their GDPR export (never the secret), and gone with an erased account."""
import json

import pytest

from accounts.services import account_erase, user_data_export
from accounts.tests.factories import make_customer
from webhooks.models import WebhookEndpoint, WebhookMessage
from webhooks.services import webhook_endpoint_create, webhook_event_publish


@pytest.mark.django_db
class TestPersonalData:
    def test_the_export_holds_the_endpoints_and_events_but_no_secret_and_nobody_elses(self):
        ada, grace = make_customer(), make_customer()
        issued = webhook_endpoint_create(user=ada, url="https://93.184.215.14/ada", events=["invoice.paid"])
        webhook_endpoint_create(user=grace, url="https://93.184.215.14/grace", events=["invoice.paid"])
        message = webhook_event_publish(user=ada, type="invoice.paid", data={"id": 3})

        data = user_data_export(user=ada)

        [endpoint] = data["webhook_endpoints"]
        assert (endpoint["url"], endpoint["events"]) == ("https://93.184.215.14/ada", ["invoice.paid"])
        assert [(event["id"], event["payload"]["data"]) for event in data["webhook_events"]] == [
            (message.public_id, {"id": 3}),
        ]
        assert ("webhook_endpoint.create", str(issued.endpoint.pk)) in {
            (entry["action"], entry["object_id"]) for entry in data["audit_log"]
        }
        dump = json.dumps(data, default=str)
        assert issued.secret not in dump and "/grace" not in dump

    def test_erasing_the_account_deletes_its_endpoints_and_events_and_publishes_nothing_more(self):
        ada, grace = make_customer(), make_customer()
        webhook_endpoint_create(user=ada, url="https://93.184.215.14/ada", events=["invoice.paid"])
        theirs = webhook_endpoint_create(user=grace, url="https://93.184.215.14/grace", events=["invoice.paid"])
        webhook_event_publish(user=ada, type="invoice.paid", data={})

        account_erase(user=ada)

        assert list(WebhookEndpoint.objects.all()) == [theirs.endpoint]
        assert not WebhookMessage.objects.filter(user=ada).exists()
        assert webhook_event_publish(user=ada, type="invoice.paid", data={}) is None
