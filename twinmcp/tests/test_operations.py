import copy
import io
import json
import logging.config
import os
import socket

import pytest

from accounts.tests.factories import UserFactory
from billing.models import InvoiceStatus
from billing.tests.factories import InvoiceFactory
from twinmcp.celery import _serve_worker_metrics

METRICS_TOKEN = "metrics-token-0123456789abcdef"


@pytest.fixture
def _metrics_token(settings):
    settings.METRICS_TOKEN = METRICS_TOKEN


@pytest.mark.django_db
@pytest.mark.usefixtures("_metrics_token")
class TestMetrics:
    def test_metrics_expose_requests_database_and_billing_figures(self, client):
        InvoiceFactory(total="22.80", subtotal="19.00", tax_amount="3.80", amount_due="22.80")
        InvoiceFactory(status=InvoiceStatus.CANCELLED, subtotal="10.00", tax_amount="2.00", total="12.00",
                       amount_due="12.00")
        client.get("/health/")

        body = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}").content.decode()

        assert 'twinmcp_invoices{currency="EUR",status="DRAFT"} 1.0' in body
        assert 'twinmcp_invoiced_amount{currency="EUR",status="DRAFT"} 22.8' in body
        assert 'twinmcp_invoices{currency="EUR",status="CANCELLED"} 1.0' in body
        assert "django_http_requests_total_by_method_total" in body
        assert "django_db_execute_total" in body
        assert "twinmcp_invoice_run_chunk_seconds_bucket" in body


@pytest.mark.django_db
class TestMetricsAreNotPublic:
    """Invoice amounts by status are business figures: only the scraper's token or a staff login reads them."""

    @pytest.mark.usefixtures("_metrics_token")
    @pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", f"Basic {METRICS_TOKEN}", "Bearer "],
                             ids=["none", "wrong token", "not a bearer", "empty bearer"])
    def test_without_the_token_the_answer_is_401_without_figures(self, client, authorization):
        InvoiceFactory()
        headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}

        response = client.get("/metrics", **headers)

        assert response.status_code == 401
        assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert "twinmcp_invoice" not in response.content.decode()

    @pytest.mark.usefixtures("_metrics_token")
    def test_a_customer_login_is_refused(self, client):
        client.force_login(UserFactory())

        response = client.get("/metrics")

        assert response.status_code == 403
        assert "twinmcp_invoice" not in response.content.decode()

    def test_a_staff_login_reads_them_even_without_a_token_set(self, client, settings):
        settings.METRICS_TOKEN = ""
        InvoiceFactory()
        client.force_login(UserFactory(is_staff=True))

        response = client.get("/metrics")

        assert response.status_code == 200
        assert "twinmcp_invoices{" in response.content.decode()

    def test_with_no_token_set_no_bearer_opens_them(self, client, settings):
        settings.METRICS_TOKEN = ""

        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


class TestWorkerMetrics:
    def test_a_worker_serves_its_counters_on_loopback_only(self, settings):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        settings.WORKER_METRICS_PORT = port - os.getpid() % 100  # the worker adds pid % 100

        _serve_worker_metrics()  # as Celery does in each new worker process

        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        # Another address of this host (all of 127/8 reaches it) finds nothing listening: the port is not open to
        # the network, where anyone could read the task counters.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.2", port), timeout=5)


@pytest.mark.django_db
class TestRequestId:
    def test_every_answer_carries_a_request_id(self, client):
        first, second = client.get("/health/"), client.get("/health/")

        assert len(first["X-Request-ID"]) == 32
        assert first["X-Request-ID"] != second["X-Request-ID"]

    def test_a_proxys_request_id_is_kept(self, client):
        assert client.get("/health/", HTTP_X_REQUEST_ID="edge-7f3a9c21")["X-Request-ID"] == "edge-7f3a9c21"

    def test_a_malformed_request_id_is_replaced(self, client):
        assert client.get("/health/", HTTP_X_REQUEST_ID="bad id\nwith newline")["X-Request-ID"] != "bad id"

    def test_log_lines_are_json_with_the_request_id(self, client, settings):
        stream = io.StringIO()
        config = copy.deepcopy(settings.LOGGING)
        config["handlers"]["console"]["stream"] = stream
        logging.config.dictConfig(config)
        try:
            client.get("/no-such-page/", HTTP_X_REQUEST_ID="req-12345678")
        finally:
            logging.config.dictConfig(settings.LOGGING)

        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        not_found = next(line for line in lines if "/no-such-page/" in line["message"])
        assert not_found["request_id"] == "req-12345678"
        assert (not_found["level"], not_found["logger"]) == ("WARNING", "django.request")
