"""Deliveries to a real receiver on loopback: signed as Standard Webhooks says, retried on the schedule, once
per attempt however often the task runs, given up after three days, sent again by hand."""
import datetime
import json
import threading

import pytest
import time_machine
from django.db import connection, transaction
from standardwebhooks import Webhook

from accounts.models import AuditLog
from accounts.tests.factories import UserFactory
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEventType, WebhookMessage
from webhooks.services import (
    RETRY_DELAYS,
    webhook_deliveries_due_send,
    webhook_delivery_resend,
    webhook_delivery_send,
    webhook_event_publish,
)
from webhooks.tests.factories import WebhookEndpointFactory

T0 = datetime.datetime(2026, 11, 5, 9, 0, tzinfo=datetime.UTC)
DATA = {"id": 42, "number": "2026-000042", "total": "24.00"}


def publish(user, *, type=WebhookEventType.INVOICE_FINALIZED, data=DATA):
    return webhook_event_publish(user=user, type=type, data=data, now=datetime.datetime.now(datetime.UTC))


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.mark.django_db
class TestSignedDelivery:
    def test_the_receiver_gets_the_event_signed_and_verifiable_with_standardwebhooks(
        self, receiver, clock, django_capture_on_commit_callbacks
    ):
        endpoint = WebhookEndpointFactory(url=receiver.url)

        with django_capture_on_commit_callbacks(execute=True):
            message = publish(endpoint.user)

        [request] = receiver.requests
        assert request.path == "/hooks/twinmcp?source=test"
        assert request.headers["webhook-id"] == message.public_id and message.public_id.startswith("msg_")
        assert request.headers["webhook-timestamp"] == str(int(T0.timestamp()))
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"].startswith("TwinMCP-Webhooks/")
        verified = Webhook(endpoint.secret).verify(request.body, request.headers)
        assert verified == {"type": "invoice.finalized", "timestamp": "2026-11-05T09:00:00+00:00", "data": DATA}
        delivery = WebhookDelivery.objects.get()
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.SUCCEEDED, 1, 200)
        assert delivery.delivered_at == T0 and delivery.next_attempt_at is None
        assert delivery.attempts_log.get().response_body == "ok"

    def test_a_wrong_secret_does_not_verify(self, receiver, clock, django_capture_on_commit_callbacks):
        endpoint = WebhookEndpointFactory(url=receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            publish(endpoint.user)
        [request] = receiver.requests
        with pytest.raises(Exception, match="No matching signature"):
            Webhook(WebhookEndpointFactory.build().secret).verify(request.body, request.headers)

    def test_only_the_endpoints_wanting_the_type_and_active_receive_it(
        self, receiver, clock, django_capture_on_commit_callbacks
    ):
        user = UserFactory()
        wanting = WebhookEndpointFactory(user=user, url=receiver.url, events=["invoice.paid"])
        WebhookEndpointFactory(user=user, url=receiver.url, events=["payment.failed"])
        WebhookEndpointFactory(user=user, url=receiver.url, is_active=False, disabled_at=T0)

        with django_capture_on_commit_callbacks(execute=True):
            publish(user, type=WebhookEventType.INVOICE_PAID)

        assert len(receiver.requests) == 1
        assert list(WebhookDelivery.objects.values_list("endpoint", flat=True)) == [wanting.pk]

    def test_a_customer_without_endpoints_costs_one_cache_read_and_writes_nothing(
        self, django_assert_num_queries, clock
    ):
        user = UserFactory()
        assert publish(user) is None  # the first publish reads the database once, and caches "none"
        with django_assert_num_queries(0):
            assert publish(user) is None
        assert not WebhookMessage.objects.exists()

    def test_publishing_inside_a_transaction_that_rolls_back_sends_nothing(
        self, receiver, clock, django_capture_on_commit_callbacks
    ):
        endpoint = WebhookEndpointFactory(url=receiver.url)
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
            with transaction.atomic():
                publish(endpoint.user)
                raise RuntimeError("the invoice run failed")

        assert receiver.requests == []
        assert not WebhookMessage.objects.exists() and not WebhookDelivery.objects.exists()


@pytest.mark.django_db
class TestRetries:
    def test_500_then_200_is_two_attempts_five_seconds_apart_with_the_same_id(
        self, receiver, clock, django_capture_on_commit_callbacks
    ):
        receiver.statuses = [500]
        endpoint = WebhookEndpointFactory(url=receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            publish(endpoint.user)
        delivery = WebhookDelivery.objects.get()
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.PENDING, 1, 500)
        assert delivery.next_attempt_at == T0 + datetime.timedelta(seconds=5)
        assert len(delivery.attempts_log.get().response_body) == 1024  # the receiver's 2 KB answer, cut

        clock.move_to(T0 + datetime.timedelta(seconds=4))
        assert webhook_deliveries_due_send() == 0  # not due yet
        clock.move_to(T0 + datetime.timedelta(seconds=5))
        with django_capture_on_commit_callbacks(execute=True):
            assert webhook_deliveries_due_send() == 1

        first, second = receiver.requests
        assert first.headers["webhook-id"] == second.headers["webhook-id"]
        assert int(second.headers["webhook-timestamp"]) - int(first.headers["webhook-timestamp"]) == 5
        Webhook(endpoint.secret).verify(second.body, second.headers)
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.SUCCEEDED, 2, 200)
        assert [a.status_code for a in delivery.attempts_log.order_by("created_at")] == [500, 200]

    def test_the_backoff_schedule_then_failed_within_three_days(
        self, receiver, clock, django_capture_on_commit_callbacks
    ):
        receiver.statuses = [503] * 20
        endpoint = WebhookEndpointFactory(url=receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            publish(endpoint.user)
        delivery = WebhookDelivery.objects.get()
        tried_at = [T0]
        while delivery.status == DeliveryStatus.PENDING:
            clock.move_to(delivery.next_attempt_at)
            tried_at.append(delivery.next_attempt_at)
            webhook_deliveries_due_send()
            delivery.refresh_from_db()

        gaps = [later - earlier for earlier, later in zip(tried_at, tried_at[1:], strict=False)]
        assert gaps == list(RETRY_DELAYS)
        assert [str(gap) for gap in gaps] == [
            "0:00:05", "0:05:00", "0:30:00", "2:00:00", "5:00:00", "10:00:00", "14:00:00", "1 day, 0:00:00",
        ]
        assert tried_at[-1] - T0 <= datetime.timedelta(days=3)
        assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (DeliveryStatus.FAILED, 9, None)
        assert len(receiver.requests) == 9

    def test_the_task_run_twice_for_one_attempt_sends_once(self, receiver, clock):
        endpoint = WebhookEndpointFactory(url=receiver.url)
        message = publish(endpoint.user)  # its task is not run: the callbacks are not executed
        delivery = message.deliveries.get()

        assert webhook_delivery_send(delivery_id=delivery.pk).status == DeliveryStatus.SUCCEEDED
        assert webhook_delivery_send(delivery_id=delivery.pk) is None
        assert webhook_deliveries_due_send() == 0
        assert len(receiver.requests) == 1

    def test_an_attempt_a_lost_worker_left_is_taken_again_when_its_lease_runs_out(self, receiver, clock, settings):
        endpoint = WebhookEndpointFactory(url=receiver.url)
        delivery = publish(endpoint.user).deliveries.get()
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.DELIVERING, attempts=1, next_attempt_at=T0 + datetime.timedelta(seconds=70),
        )
        assert webhook_deliveries_due_send() == 0
        clock.move_to(T0 + datetime.timedelta(seconds=70))
        assert webhook_deliveries_due_send() == 1
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 2)

    def test_a_disabled_endpoint_gets_nothing_more(self, receiver, clock):
        endpoint = WebhookEndpointFactory(url=receiver.url)
        delivery = publish(endpoint.user).deliveries.get()
        endpoint.is_active, endpoint.disabled_at = False, T0
        endpoint.save()

        assert webhook_delivery_send(delivery_id=delivery.pk) is None
        delivery.refresh_from_db()
        assert (delivery.status, delivery.last_error) == (DeliveryStatus.FAILED, "Endpoint disabled: not sent.")
        assert receiver.requests == []


@pytest.mark.django_db
class TestSendAgain:
    def test_a_delivered_event_is_sent_again_with_the_same_id_and_audited(
        self, receiver, clock, django_capture_on_commit_callbacks
    ):
        endpoint = WebhookEndpointFactory(url=receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            message = publish(endpoint.user)
        delivery = message.deliveries.get()
        clock.move_to(T0 + datetime.timedelta(hours=1))

        with django_capture_on_commit_callbacks(execute=True):
            webhook_delivery_resend(delivery=delivery)

        first, again = receiver.requests
        assert first.headers["webhook-id"] == again.headers["webhook-id"] == message.public_id
        assert json.loads(again.body) == json.loads(first.body)
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 2)
        entry = AuditLog.objects.get(action="webhook_delivery.resend")
        assert (entry.object_id, entry.changes) == (str(delivery.pk), {"message": message.public_id})

    def test_a_failed_retry_sent_again_after_three_days_fails_at_once(
        self, receiver, clock, django_capture_on_commit_callbacks
    ):
        receiver.statuses = [500, 500]
        endpoint = WebhookEndpointFactory(url=receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            delivery = publish(endpoint.user).deliveries.get()
        clock.move_to(T0 + datetime.timedelta(days=3, seconds=1))

        with django_capture_on_commit_callbacks(execute=True):
            webhook_delivery_resend(delivery=delivery)

        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (DeliveryStatus.FAILED, 2, None)


@pytest.mark.django_db(transaction=True)
def test_workers_racing_for_one_attempt_send_it_once(receiver):
    receiver.delay = 0.3  # the attempt is still being sent while the other workers look
    endpoint = WebhookEndpointFactory(url=receiver.url)
    message = WebhookMessage.objects.create(public_id="msg_race", user=endpoint.user, type="invoice.paid",
                                            payload={"type": "invoice.paid", "timestamp": "…", "data": {}})
    delivery = WebhookDelivery.objects.create(message=message, endpoint=endpoint,
                                              next_attempt_at=datetime.datetime.now(datetime.UTC))
    start = threading.Barrier(4)
    outcomes = []

    def worker():
        start.wait()
        try:
            outcomes.append(webhook_delivery_send(delivery_id=delivery.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(receiver.requests) == 1
    assert sorted(outcome is None for outcome in outcomes) == [False, True, True, True]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.attempts_log.count()) == (DeliveryStatus.SUCCEEDED, 1, 1)
