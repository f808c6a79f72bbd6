import copy
import io
import json
import logging.config

import pytest

from billing.models import InvoiceStatus
from billing.tests.factories import InvoiceFactory


@pytest.mark.django_db
class TestMetrics:
    def test_metrics_expose_requests_database_and_billing_figures(self, client):
        InvoiceFactory(total="22.80", subtotal="19.00", tax_amount="3.80", amount_due="22.80")
        InvoiceFactory(status=InvoiceStatus.CANCELLED, subtotal="10.00", tax_amount="2.00", total="12.00",
                       amount_due="12.00")
        client.get("/health/")

        body = client.get("/metrics").content.decode()

        assert 'twinmcp_invoices{currency="EUR",status="DRAFT"} 1.0' in body
        assert 'twinmcp_invoiced_amount{currency="EUR",status="DRAFT"} 22.8' in body
        assert 'twinmcp_invoices{currency="EUR",status="CANCELLED"} 1.0' in body
        assert "django_http_requests_total_by_method_total" in body
        assert "django_db_execute_total" in body
        assert "twinmcp_invoice_run_chunk_seconds_bucket" in body


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
