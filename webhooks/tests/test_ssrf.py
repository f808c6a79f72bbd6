"""No webhook to a private network (SSRF): refused when an endpoint is registered, and again at each delivery,
where the host is resolved anew and the POST goes to the address that was checked."""
import datetime
import socket

import pytest
import time_machine
from django.core.exceptions import ValidationError

from accounts.tests.factories import UserFactory
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEventType
from webhooks.services import webhook_endpoint_create, webhook_event_publish
from webhooks.tests.factories import WebhookEndpointFactory
from webhooks.tests.receiver import Receiver, self_signed_tls_context

NOT_ALLOWED = "Address not allowed"
REFUSED = [
    ("https://10.0.0.1/hook", NOT_ALLOWED),
    ("https://192.168.1.20/hook", NOT_ALLOWED),
    ("https://127.0.0.1:8443/hook", NOT_ALLOWED),
    ("https://169.254.169.254/latest/meta-data/", NOT_ALLOWED),
    ("https://[::1]/hook", NOT_ALLOWED),
    ("https://[::ffff:127.0.0.1]/hook", NOT_ALLOWED),
    ("https://[::ffff:10.1.2.3]/hook", NOT_ALLOWED),
    ("https://[fe80::1]/hook", NOT_ALLOWED),
    ("https://100.64.0.7/hook", NOT_ALLOWED),
    ("https://0.0.0.0/hook", NOT_ALLOWED),
    ("https://224.0.0.1/hook", NOT_ALLOWED),
    ("https://localhost:9000/hook", NOT_ALLOWED),
    ("http://93.184.215.14/hook", "Use an https:// URL."),
    ("ftp://93.184.215.14/hook", "Use an https:// URL."),
    ("https://ops:hunter2@93.184.215.14/hook", "The URL must not hold a user name or password."),
]


@pytest.mark.django_db
class TestRegistration:
    @pytest.mark.parametrize(("url", "reason"), REFUSED)
    def test_a_private_or_unsafe_url_is_refused_naming_url_and_nothing_is_written(self, url, reason):
        with pytest.raises(ValidationError) as refused:
            webhook_endpoint_create(user=UserFactory(), url=url, events=["invoice.paid"])

        [message] = refused.value.message_dict["url"]
        assert message.startswith(reason)
        assert not WebhookEndpoint.objects.exists()

    def test_a_public_https_address_on_any_port_is_accepted(self):
        issued = webhook_endpoint_create(user=UserFactory(), url="https://93.184.215.14:8443/hook",
                                         events=["invoice.paid", "invoice.paid"])
        assert issued.endpoint.events == ["invoice.paid"]

    def test_loopback_over_http_only_with_the_setting(self, settings):
        url = "http://127.0.0.1:8123/hook"
        with pytest.raises(ValidationError):
            webhook_endpoint_create(user=UserFactory(), url=url, events=["invoice.paid"])

        settings.WEBHOOKS_ALLOW_LOOPBACK = True
        assert webhook_endpoint_create(user=UserFactory(), url=url, events=["invoice.paid"]).endpoint.url == url
        with pytest.raises(ValidationError, match="private"):  # the setting opens loopback, nothing else
            webhook_endpoint_create(user=UserFactory(), url="https://10.0.0.1/", events=["invoice.paid"])

    def test_a_host_that_does_not_resolve_is_refused(self):
        with pytest.raises(ValidationError, match="could not be found"):
            webhook_endpoint_create(user=UserFactory(), url="https://nowhere.invalid/hook", events=["invoice.paid"])


@pytest.mark.django_db
class TestDelivery:
    @pytest.mark.parametrize("url", [url for url, reason in REFUSED if reason == NOT_ALLOWED])
    def test_an_endpoint_whose_address_is_refused_at_delivery_fails_at_once(
        self, url, django_capture_on_commit_callbacks
    ):
        # Registered when it was allowed (or its name resolved elsewhere): checked again at every attempt.
        endpoint = WebhookEndpointFactory(url=url)
        now = datetime.datetime(2026, 11, 5, 9, 0, tzinfo=datetime.UTC)
        with time_machine.travel(now, tick=False), django_capture_on_commit_callbacks(execute=True):
            webhook_event_publish(user=endpoint.user, type=WebhookEventType.INVOICE_PAID, data={}, now=now)

        delivery = WebhookDelivery.objects.get()
        assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (DeliveryStatus.FAILED, 1, None)
        assert delivery.last_error.startswith(NOT_ALLOWED)
        assert delivery.attempts_log.get().status_code is None

    def test_the_receiver_on_loopback_gets_nothing_once_the_setting_is_off(
        self, receiver, settings, django_capture_on_commit_callbacks
    ):
        endpoint = WebhookEndpointFactory(url=receiver.url)
        settings.WEBHOOKS_ALLOW_LOOPBACK = False
        with django_capture_on_commit_callbacks(execute=True):
            webhook_event_publish(user=endpoint.user, type=WebhookEventType.INVOICE_PAID, data={})

        assert receiver.requests == []
        assert WebhookDelivery.objects.get().status == DeliveryStatus.FAILED


def resolving(monkeypatch, host: str, *answers: list[str]):
    """`host` resolves to each list of addresses in turn (the last one from then on), as DNS may answer; every
    other name as the system resolves it. Returns the list of the names looked up."""
    looked_up, real = [], socket.getaddrinfo
    remaining = list(answers)

    def getaddrinfo(name, port, *args, **kwargs):
        looked_up.append(name)
        if name != host:
            return real(name, port, *args, **kwargs)
        addresses = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port)) for address in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return looked_up


@pytest.mark.django_db
class TestPinnedAddress:
    def test_the_post_goes_to_the_address_checked_even_if_dns_then_answers_a_private_one(
        self, receiver, monkeypatch, django_capture_on_commit_callbacks
    ):
        port = receiver.server.server_address[1]
        endpoint = WebhookEndpointFactory(url=f"http://hooks.rebind.test:{port}/in")
        looked_up = resolving(monkeypatch, "hooks.rebind.test", ["127.0.0.1"], ["10.0.0.1"])

        with django_capture_on_commit_callbacks(execute=True):
            webhook_event_publish(user=endpoint.user, type=WebhookEventType.INVOICE_PAID, data={})

        [request] = receiver.requests
        assert request.headers["host"] == f"hooks.rebind.test:{port}" and request.path == "/in"
        assert looked_up.count("hooks.rebind.test") == 1  # resolved once, for the check; connected to its answer
        assert WebhookDelivery.objects.get().status == DeliveryStatus.SUCCEEDED

    def test_an_address_that_cannot_be_reached_gives_way_to_the_next_one_checked(
        self, receiver, monkeypatch, django_capture_on_commit_callbacks
    ):
        port = receiver.server.server_address[1]
        endpoint = WebhookEndpointFactory(url=f"http://hooks.two.test:{port}/in")
        resolving(monkeypatch, "hooks.two.test", ["127.0.0.2", "127.0.0.1"])  # nothing listens on 127.0.0.2

        with django_capture_on_commit_callbacks(execute=True):
            webhook_event_publish(user=endpoint.user, type=WebhookEventType.INVOICE_PAID, data={})

        assert len(receiver.requests) == 1
        assert WebhookDelivery.objects.get().status == DeliveryStatus.SUCCEEDED


@pytest.mark.django_db
def test_over_https_a_certificate_no_authority_signed_is_refused_and_retried(
    settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    receiver = Receiver(tls_context=self_signed_tls_context(tmp_path)).start()
    try:
        endpoint = WebhookEndpointFactory(url=receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            webhook_event_publish(user=endpoint.user, type=WebhookEventType.INVOICE_PAID, data={})
    finally:
        receiver.stop()

    assert receiver.requests == []
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
    assert "CERTIFICATE_VERIFY_FAILED" in delivery.last_error
