import datetime

import pytest

from webhooks.models import WebhookDelivery, WebhookMessage
from webhooks.selectors import recent_deliveries
from webhooks.tests.factories import WebhookEndpointFactory

START = datetime.datetime(2026, 11, 2, 9, 0, tzinfo=datetime.UTC)


@pytest.mark.django_db
def test_the_latest_deliveries_of_every_endpoint_in_one_query(django_assert_num_queries):
    first = WebhookEndpointFactory()
    second = WebhookEndpointFactory(user=first.user)
    quiet = WebhookEndpointFactory(user=first.user)
    for minute in range(3):
        message = WebhookMessage.objects.create(
            public_id=f"msg_{minute}", user=first.user, type="invoice.paid", payload={},
            created_at=START + datetime.timedelta(minutes=minute),
        )
        for endpoint in (first, second):
            at = START + datetime.timedelta(minutes=minute)
            WebhookDelivery.objects.create(message=message, endpoint=endpoint, created_at=at, next_attempt_at=at)

    with django_assert_num_queries(1):
        recent = recent_deliveries(endpoints=[first, second, quiet], per_endpoint=2)
        shown = {pk: [delivery.message.public_id for delivery in deliveries] for pk, deliveries in recent.items()}

    assert shown == {first.pk: ["msg_2", "msg_1"], second.pk: ["msg_2", "msg_1"], quiet.pk: []}
