"""The customer's billing API: figures, customer scoping, errors, pagination, filters and the cache.

Every customer is in France (20 % VAT) on Pro (19.00 a month, 5,000,000 tokens included, 2.00 per
million beyond): an October 2026 invoice is 19.00 + 3.80 = 22.80 EUR.
"""
import datetime
import hashlib
import json
from decimal import Decimal

import pytest
import time_machine
from django.core.paginator import EmptyPage, PageNotAnInteger
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AuditLog
from accounts.services import api_key_create, api_key_revoke
from accounts.tests.factories import UserProfileFactory, make_customer
from billing import clock
from billing.customer.apis import OneQueryPaginator
from billing.customer.serializers import InvoiceSerializer
from billing.models import (
    AlertType,
    BillingAlert,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    Subscription,
    SubscriptionPlanChange,
    SubscriptionStatus,
)
from billing.selectors import customer_invoices
from billing.services import alert_raise, credit_grant, invoice_cancel, invoice_finalize, payment_record
from billing.tests.factories import InvoiceFactory, PlanFactory, SubscriptionFactory, paris
from libraries.tests.factories import UsageLogFactory

ISSUED_AT = paris(2026, 11, 2, 9, 0)  # October invoices: issued 2 November 2026, due 2 December 2026
NOW = paris(2026, 10, 20, 12, 0)  # in the middle of October, for the current-period reads

REDIS_DOWN = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": 1,
            "SOCKET_TIMEOUT": 1,
            "IGNORE_EXCEPTIONS": True,
        },
    }
}


def client_for(user) -> APIClient:
    """A client holding a real key of `user`, created the way customers create theirs."""
    issued = api_key_create(user=user, name="tests", scopes=["billing:read", "billing:write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}")
    return client


def subscription_of(user, **fields) -> Subscription:
    return SubscriptionFactory(user=user, plan=PlanFactory(), **fields)


def sent_invoice(subscription, *, month: int = 10, year: int = 2026, now=None) -> Invoice:
    """The invoice of `subscription` for that month, finalised (SENT, numbered)."""
    start = datetime.date(year, month, 1)
    end = datetime.date(year + month // 12, month % 12 + 1, 1)
    draft = InvoiceFactory(subscription=subscription, period_start=start, period_end=end)
    return invoice_finalize(invoice=draft, now=now or paris(end.year, end.month, 2, 9, 0))


def customer_with_27_invoices():
    """A customer with 27 issued invoices, one a month from January 2024, numbered from TMCP-2026-000001."""
    user = make_customer()
    subscription = subscription_of(user)
    for index in range(27):
        start = datetime.date(2024 + index // 12, index % 12 + 1, 1)
        InvoiceFactory(subscription=subscription, period_start=start, period_end=start + datetime.timedelta(28),
                       status=InvoiceStatus.SENT, number=f"TMCP-2026-{index + 1:06d}")
    return user


def pay(invoice, amount="22.80", key=None) -> Payment:
    return payment_record(invoice=invoice, amount=Decimal(amount), idempotency_key=key or f"pay-{invoice.pk}",
                          now=paris(2026, 11, 5, 9, 0))


def error_of(response) -> dict:
    assert set(response.json()) == {"error"}
    return response.json()["error"]


@pytest.fixture
def pinned_clock(monkeypatch):
    """The API asks billing.clock for the time: pinned to NOW for the current-period reads."""
    monkeypatch.setattr(clock, "now", lambda: NOW)
    return NOW


GET_ENDPOINTS = [
    "/api/billing/invoices/",
    "/api/billing/invoices/1/",
    "/api/billing/invoices/1/pdf/",
    "/api/billing/invoices/upcoming/",
    "/api/billing/payments/",
    "/api/billing/subscription/",
    "/api/billing/plans/",
    "/api/billing/credits/",
    "/api/billing/alerts/",
    "/api/billing/usage/",
]
POST_ENDPOINTS = [
    "/api/billing/subscription/",
    "/api/billing/subscription/change-plan/",
    "/api/billing/subscription/pause/",
    "/api/billing/subscription/resume/",
    "/api/billing/subscription/cancel/",
    "/api/billing/alerts/1/read/",
]


@pytest.mark.django_db
class TestAuthentication:
    @pytest.mark.parametrize("url", GET_ENDPOINTS)
    def test_every_read_answers_401_without_a_key(self, url):
        response = APIClient().get(url)

        assert response.status_code == 401
        assert error_of(response)["code"] == "not_authenticated"
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'

    @pytest.mark.parametrize("url", POST_ENDPOINTS)
    def test_every_move_answers_401_without_a_key_and_writes_nothing(self, url):
        user = make_customer()
        subscription_of(user)
        audit_rows = AuditLog.objects.count()

        response = APIClient().post(url, {"plan": "pro", "at_period_end": False}, format="json")

        assert response.status_code == 401
        assert Subscription.objects.get().status == SubscriptionStatus.ACTIVE
        assert AuditLog.objects.count() == audit_rows

    def test_a_revoked_key_answers_401(self):
        user = make_customer()
        issued = api_key_create(user=user, name="old", scopes=["billing:read"])
        issued.api_key.revoked_at = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
        issued.api_key.save(update_fields=["revoked_at"])

        response = APIClient().get("/api/billing/invoices/", HTTP_AUTHORIZATION=f"Bearer {issued.token}")

        assert response.status_code == 401
        assert error_of(response) == {
            "code": "authentication_failed", "message": "Invalid, revoked or expired API key.", "fields": {},
        }

    def test_an_expired_key_answers_401(self):
        user = make_customer()
        issued = api_key_create(user=user, name="short-lived", scopes=["billing:read"],
                                expires_at=datetime.datetime(2099, 1, 1, tzinfo=datetime.UTC))
        issued.api_key.expires_at = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
        issued.api_key.save(update_fields=["expires_at"])

        response = APIClient().get("/api/billing/invoices/", HTTP_AUTHORIZATION=f"Bearer {issued.token}")

        assert response.status_code == 401

    def test_a_wrong_secret_answers_401(self):
        user = make_customer()
        issued = api_key_create(user=user, name="k", scopes=["billing:read"])
        forged = issued.token[:-4] + ("AAAA" if not issued.token.endswith("AAAA") else "BBBB")

        response = APIClient().get("/api/billing/invoices/", HTTP_AUTHORIZATION=f"Bearer {forged}")

        assert response.status_code == 401

    def test_a_logged_in_browser_session_works_too(self):
        user = make_customer()
        client = APIClient()
        client.force_login(user)

        assert client.get("/api/billing/invoices/").status_code == 200


@pytest.mark.django_db
class TestInvoiceList:
    def test_lists_the_customers_issued_invoices_newest_first_with_their_figures(self):
        user = make_customer()
        subscription = subscription_of(user)
        september = sent_invoice(subscription, month=9)
        october = sent_invoice(subscription, month=10)
        pay(september)
        InvoiceFactory(subscription=subscription, period_start=datetime.date(2026, 11, 1),
                       period_end=datetime.date(2026, 12, 1))  # a DRAFT: not the customer's to see yet
        sent_invoice(subscription_of(make_customer()))  # another customer's

        response = client_for(user).get("/api/billing/invoices/")

        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 2
        assert [row["id"] for row in body["results"]] == [october.pk, september.pk]
        first = body["results"][0]
        assert first == {
            "id": october.pk,
            "number": "TMCP-2026-000002",
            "kind": "PERIOD",
            "status": "SENT",
            "currency": "EUR",
            "period_start": "2026-10-01",
            "period_end": "2026-11-01",
            "issue_date": "2026-11-02",
            "due_date": "2026-12-02",
            "subtotal": "19.00",
            "tax_rate": "0.2000",
            "tax_amount": "3.80",
            "total": "22.80",
            "credit_applied": "0.00",
            "amount_paid": "0.00",
            "amount_due": "22.80",
            "sent_at": "2026-11-02T08:00:00Z",
            "paid_at": None,
            "cancelled_at": None,
            "url": f"http://testserver/api/billing/invoices/{october.pk}/",
            "pdf_url": f"http://testserver/api/billing/invoices/{october.pk}/pdf/",
        }
        assert body["results"][1]["status"] == "PAID"
        assert (body["results"][1]["amount_paid"], body["results"][1]["amount_due"]) == ("22.80", "0.00")

    def test_each_row_is_the_invoice_as_its_serializer_writes_it_paid_cancelled_or_sent(self):
        """The list writes its rows from the columns alone (no invoice decrypted per row): the same JSON."""
        user = make_customer()
        subscription = subscription_of(user)
        paid, cancelled, sent = (sent_invoice(subscription, month=month) for month in (8, 9, 10))
        pay(paid)
        invoice_cancel(invoice=cancelled, reason="Billed twice", now=paris(2026, 11, 3, 9, 0, 17))
        client = client_for(user)

        rows = client.get("/api/billing/invoices/").json()["results"]

        request = client.get("/api/billing/invoices/").wsgi_request
        expected = InvoiceSerializer(customer_invoices(user=user), many=True, context={"request": request}).data
        assert rows == expected
        assert [row["status"] for row in rows] == ["SENT", "CANCELLED", "PAID"]
        assert rows[1]["cancelled_at"] == "2026-11-03T08:00:17Z" and rows[2]["paid_at"] is not None
        with timezone.override("Europe/Paris"):  # date-times in the zone in force, as the serializer writes them
            cancel_instant = client.get("/api/billing/invoices/?status=CANCELLED").json()["results"][0]["cancelled_at"]
        assert cancel_instant == "2026-11-03T09:00:17+01:00"

    def test_is_paginated_by_25(self):
        user = customer_with_27_invoices()
        client = client_for(user)

        first = client.get("/api/billing/invoices/").json()
        second = client.get(first["next"]).json()

        assert (first["count"], len(first["results"]), first["previous"]) == (27, 25, None)
        assert first["next"] == "http://testserver/api/billing/invoices/?page=2"
        assert len(second["results"]) == 2 and second["next"] is None
        assert second["results"][-1]["number"] == "TMCP-2026-000001"  # the oldest period comes last
        assert client.get("/api/billing/invoices/?page=3").status_code == 404

    def test_a_page_and_the_count_of_all_are_read_by_one_statement(self, django_assert_num_queries):
        user = customer_with_27_invoices()
        rows = customer_invoices(user=user).values("number")

        with django_assert_num_queries(1):
            page = OneQueryPaginator(rows, 25).page("2")

        assert (page.paginator.count, page.paginator.num_pages, page.has_next()) == (27, 2, False)
        assert list(page) == [{"number": "TMCP-2026-000002"}, {"number": "TMCP-2026-000001"}]
        assert len(OneQueryPaginator(rows, 25).page(1)) == 25
        for number, refusal in [("3", EmptyPage), ("0", EmptyPage), ("last", PageNotAnInteger)]:
            with pytest.raises(refusal):
                OneQueryPaginator(rows, 25).page(number)
        empty = OneQueryPaginator(customer_invoices(user=make_customer()).values("number"), 25).page("1")
        assert (empty.paginator.count, list(empty)) == (0, [])

    def test_filters_by_status_year_period_and_number_and_orders(self):
        user = make_customer()
        subscription = subscription_of(user)
        september = sent_invoice(subscription, month=9)  # TMCP-2026-000001
        october = sent_invoice(subscription, month=10)  # TMCP-2026-000002
        december_2025 = sent_invoice(subscription, month=12, year=2025)  # TMCP-2026-000003
        pay(october)
        client = client_for(user)

        def ids(query):
            response = client.get(f"/api/billing/invoices/?{query}")
            assert response.status_code == 200, response.json()
            return [row["id"] for row in response.json()["results"]]

        assert ids("status=PAID") == [october.pk]
        assert ids("status=SENT") == [september.pk, december_2025.pk]
        assert ids("year=2025") == [december_2025.pk]
        assert ids("period_start_after=2026-09-01&period_start_before=2026-09-30") == [september.pk]
        assert ids("number=000003") == [december_2025.pk]
        assert ids("number=tmcp-2026-000002") == [october.pk]
        assert ids("ordering=period_start") == [december_2025.pk, september.pk, october.pk]
        assert ids("status=PAID&year=2025") == []

    @pytest.mark.parametrize(
        ("query", "field"),
        [("status=DRAFT", "status"), ("status=paid", "status"), ("year=twenty", "year"), ("year=99999", "year"),
         ("period_start_after=2026-13-01", "period_start"), ("ordering=user", "ordering")],
    )
    def test_a_bad_filter_answers_400_naming_it(self, query, field):
        user = make_customer()

        response = client_for(user).get(f"/api/billing/invoices/?{query}")

        assert response.status_code == 400
        error = error_of(response)
        assert error["code"] == "invalid"
        assert field in error["fields"]
        assert error["message"].startswith(f"{field}: ")


@pytest.mark.django_db
class TestInvoiceListCache:
    def test_a_cached_list_costs_no_query_and_three_redis_round_trips(
        self, django_assert_num_queries, redis_commands, time_machine
    ):
        time_machine.move_to(NOW, tick=False)  # both calls in one rate-limit window
        user = make_customer()
        sent_invoice(subscription_of(user))
        client = client_for(user)
        first = client.get("/api/billing/invoices/")  # caches the key's lookup and the page; marks the key used
        redis_commands.clear()

        with django_assert_num_queries(0):
            again = client.get("/api/billing/invoices/")

        # The key's lookup with its generation, its rate-limit window (its limit read when it opened), then the
        # customer's cache version with the page.
        assert redis_commands == ["MGET", "EVALSHA", "MGET"]
        assert (again.status_code, again["Content-Type"]) == (200, "application/json")
        assert again.content == first.content

    def test_a_key_revoked_after_the_list_was_cached_is_refused_at_once(self):
        user = make_customer()
        sent_invoice(subscription_of(user))
        issued = api_key_create(user=user, name="tests", scopes=["billing:read"])
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}")
        assert client.get("/api/billing/invoices/").status_code == 200
        assert client.get("/api/billing/invoices/").status_code == 200  # from the cache

        api_key_revoke(api_key=issued.api_key)

        assert client.get("/api/billing/invoices/").status_code == 401

    def test_a_cached_list_is_indented_or_browsable_on_request(self):
        user = make_customer()
        sent_invoice(subscription_of(user))
        client = client_for(user)
        compact = client.get("/api/billing/invoices/")

        indented = client.get("/api/billing/invoices/", HTTP_ACCEPT="application/json; indent=4")
        browsable = client.get("/api/billing/invoices/", HTTP_ACCEPT="text/html")

        assert indented.content.startswith(b'{\n    "count": 1,')
        assert json.loads(indented.content) == compact.json()
        assert browsable.status_code == 200
        assert browsable["Content-Type"].startswith("text/html")
        assert compact.json()["results"][0]["number"] in browsable.content.decode()

    def test_the_list_is_cached_then_invalidated_by_a_payment(self, django_capture_on_commit_callbacks):
        user = make_customer()
        invoice = sent_invoice(subscription_of(user))
        client = client_for(user)
        assert client.get("/api/billing/invoices/").json()["results"][0]["status"] == "SENT"

        # A change behind the services' back is not seen: the list comes from the cache.
        Invoice.objects.filter(pk=invoice.pk).update(currency="XXX")
        assert client.get("/api/billing/invoices/").json()["results"][0]["currency"] == "EUR"

        with django_capture_on_commit_callbacks(execute=True):
            pay(invoice)

        row = client.get("/api/billing/invoices/").json()["results"][0]
        assert (row["status"], row["amount_due"], row["currency"]) == ("PAID", "0.00", "XXX")

    def test_each_filter_and_page_is_cached_on_its_own(self):
        user = make_customer()
        subscription = subscription_of(user)
        sent_invoice(subscription, month=9)
        pay(sent_invoice(subscription, month=10))
        client = client_for(user)

        assert client.get("/api/billing/invoices/?status=PAID").json()["count"] == 1
        assert client.get("/api/billing/invoices/?status=SENT").json()["count"] == 1
        assert client.get("/api/billing/invoices/").json()["count"] == 2

    def test_a_change_of_another_customer_keeps_this_customers_cache(self):
        user, other = make_customer(), make_customer()
        invoice = sent_invoice(subscription_of(user))
        others = sent_invoice(subscription_of(other), month=10)
        client = client_for(user)
        client.get("/api/billing/invoices/")
        Invoice.objects.filter(pk=invoice.pk).update(currency="XXX")

        pay(others)

        assert client.get("/api/billing/invoices/").json()["results"][0]["currency"] == "EUR"

    def test_the_detail_and_payments_follow_a_cancellation_at_once(self):
        user = make_customer()
        invoice = sent_invoice(subscription_of(user))
        client = client_for(user)
        assert client.get(f"/api/billing/invoices/{invoice.pk}/").json()["credit_note"] is None

        invoice_cancel(invoice=invoice, reason="Billed twice", now=paris(2026, 11, 3, 9, 0))

        detail = client.get(f"/api/billing/invoices/{invoice.pk}/").json()
        assert detail["status"] == "CANCELLED"
        assert detail["credit_note"] == {
            "number": "AV-2026-000001", "kind": "FULL", "subtotal": "19.00", "tax_amount": "3.80", "amount": "22.80",
            "reason_code": "OTHER", "reason": "Billed twice", "reason_label": "Billed twice",
            "issue_date": "2026-11-03", "lines": [{
                "kind": "SUBSCRIPTION", "description": "Pro plan, 2026-10", "quantity": "1.000000",
                "unit_price": "19.0000", "price_base_quantity": 1, "amount": "19.00",
            }],
        }
        assert detail["credit_notes"] == [detail["credit_note"]]

    def test_the_credit_note_reason_reads_in_the_buyers_language_whatever_the_request(self):
        user = UserProfileFactory(country="FR", language="fr").user
        invoice = sent_invoice(subscription_of(user))
        invoice_cancel(invoice=invoice, reason_code="BILLING_ERROR", reason="TVA à 10 %", now=paris(2026, 11, 3, 9))

        credit_note = client_for(user).get(f"/api/billing/invoices/{invoice.pk}/", HTTP_ACCEPT_LANGUAGE="en").json()[
            "credit_note"
        ]

        assert (credit_note["reason_code"], credit_note["reason"]) == ("BILLING_ERROR", "TVA à 10 %")
        assert credit_note["reason_label"] == "Erreur de facturation — TVA à 10 %"

    @override_settings(CACHES=REDIS_DOWN)
    def test_the_api_answers_uncached_while_redis_is_down(self):
        user = make_customer()
        invoice = sent_invoice(subscription_of(user))
        client = client_for(user)

        first = client.get("/api/billing/invoices/")
        Invoice.objects.filter(pk=invoice.pk).update(currency="XXX")
        second = client.get("/api/billing/invoices/")

        assert first.status_code == second.status_code == 200
        assert first.json()["results"][0]["currency"] == "EUR"
        assert second.json()["results"][0]["currency"] == "XXX"  # nothing was cached
        assert client.get(f"/api/billing/invoices/{invoice.pk}/").status_code == 200
        assert client.get("/api/billing/subscription/").status_code == 200


@pytest.mark.django_db
class TestInvoiceDetail:
    def test_shows_lines_payments_and_no_credit_note(self):
        user = make_customer()
        invoice = sent_invoice(subscription_of(user))
        pay(invoice, amount="10.00", key="first")

        response = client_for(user).get(f"/api/billing/invoices/{invoice.pk}/")

        assert response.status_code == 200
        body = response.json()
        assert (body["number"], body["status"], body["total"], body["amount_paid"], body["amount_due"]) == (
            "TMCP-2026-000001", "SENT", "22.80", "10.00", "12.80",
        )
        assert body["lines"] == [{
            "kind": "SUBSCRIPTION", "description": "Pro plan, 2026-10", "quantity": "1.000000",
            "unit_price": "19.0000", "price_base_quantity": 1, "amount": "19.00",
        }]
        [payment] = body["payments"]
        assert (payment["amount"], payment["currency"], payment["status"], payment["method"]) == (
            "10.00", "EUR", "COMPLETED", "BANK_TRANSFER",
        )
        assert body["credit_note"] is None
        assert (body["reverse_charge"], body["tax_mention"]) == (False, "")

    def test_another_customers_invoice_answers_404(self):
        user = make_customer()
        others = sent_invoice(subscription_of(make_customer()))

        response = client_for(user).get(f"/api/billing/invoices/{others.pk}/")

        assert response.status_code == 404
        assert error_of(response) == {"code": "not_found", "message": "Not found.",
                                      "fields": {}}

    def test_a_draft_answers_404(self):
        user = make_customer()
        draft = InvoiceFactory(subscription=subscription_of(user))

        assert client_for(user).get(f"/api/billing/invoices/{draft.pk}/").status_code == 404

    def test_an_id_that_is_not_a_number_answers_the_json_404(self):
        response = client_for(make_customer()).get("/api/billing/invoices/abc/")

        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"


@pytest.mark.django_db
class TestInvoicePdf:
    def test_returns_the_stored_pdf_rendering_it_once(self):
        user = make_customer()
        invoice = sent_invoice(subscription_of(user))
        assert not invoice.pdf  # its document task never ran (nothing commits in a test)
        client = client_for(user)

        first = client.get(f"/api/billing/invoices/{invoice.pk}/pdf/")
        invoice.refresh_from_db()
        second = client.get(f"/api/billing/invoices/{invoice.pk}/pdf/", HTTP_ACCEPT="application/pdf")

        assert first.status_code == second.status_code == 200
        assert first["Content-Type"] == "application/pdf"
        assert first["Content-Disposition"] == 'attachment; filename="TMCP-2026-000001.pdf"'
        body = b"".join(first.streaming_content)
        assert body.startswith(b"%PDF")
        assert hashlib.sha256(body).hexdigest() == invoice.pdf_sha256
        assert b"".join(second.streaming_content) == body  # the stored file, not a new rendering

    def test_another_customers_pdf_answers_404_and_renders_nothing(self):
        others = sent_invoice(subscription_of(make_customer()))

        response = client_for(make_customer()).get(f"/api/billing/invoices/{others.pk}/pdf/")

        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        others.refresh_from_db()
        assert not others.pdf

    def test_a_draft_has_no_pdf(self):
        user = make_customer()
        draft = InvoiceFactory(subscription=subscription_of(user))

        response = client_for(user).get(f"/api/billing/invoices/{draft.pk}/pdf/", HTTP_ACCEPT="application/pdf")

        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"


@pytest.mark.django_db
@pytest.mark.usefixtures("pinned_clock")
class TestUpcomingInvoice:
    def test_prices_the_current_period_with_the_usage_so_far(self):
        user = make_customer()
        subscription_of(user)  # Pro, October 2026
        UsageLogFactory(user=user, tokens=4_000_000, created_at=paris(2026, 10, 5, 10, 0))
        UsageLogFactory(user=user, tokens=2_000_000, created_at=paris(2026, 10, 19, 10, 0))
        UsageLogFactory(user=make_customer(), tokens=9_000_000, created_at=paris(2026, 10, 6, 10, 0))
        credit_grant(user=user, type="PROMOTIONAL", amount=Decimal("5.00"), reason="Welcome", now=NOW)

        response = client_for(user).get("/api/billing/invoices/upcoming/")

        assert response.status_code == 200
        body = response.json()
        assert (body["period_start"], body["period_end"], body["currency"]) == ("2026-10-01", "2026-11-01", "EUR")
        assert (body["tokens_used"], body["included_tokens"]) == (6_000_000, 5_000_000)
        # The promotional credit is a price reduction, as the issue will spend it: 5.00 VAT included is 4.17 off.
        assert [(line["kind"], line["amount"]) for line in body["lines"]] == [
            ("SUBSCRIPTION", "19.00"), ("USAGE", "2.00"), ("CREDIT", "-4.17"),
        ]
        # a million tokens over the quota, at the price per million
        assert (body["lines"][1]["quantity"], body["lines"][1]["price_base_quantity"]) == ("1000000.000000", 1_000_000)
        assert (body["subtotal"], body["tax_rate"], body["tax_amount"], body["total"]) == (
            "16.83", "0.2000", "3.37", "20.20",
        )
        assert (body["credit_applied"], body["amount_due"]) == ("0.00", "20.20")

    def test_answers_404_without_a_live_subscription(self):
        user = make_customer()
        subscription_of(user, status=SubscriptionStatus.CANCELLED)

        response = client_for(user).get("/api/billing/invoices/upcoming/")

        assert response.status_code == 404
        assert error_of(response)["message"] == "You have no live subscription."


@pytest.mark.django_db
class TestPayments:
    def test_lists_the_customers_payments_and_filters_them(self):
        user = make_customer()
        subscription = subscription_of(user)
        september, october = sent_invoice(subscription, month=9), sent_invoice(subscription, month=10)
        paid = pay(september)
        pending = payment_record(invoice=october, amount=Decimal("22.80"), idempotency_key="card-1",
                                 method="CARD", status=PaymentStatus.PENDING, now=paris(2026, 11, 6, 9, 0))
        pay(sent_invoice(subscription_of(make_customer())), key="someone-else")
        client = client_for(user)

        body = client.get("/api/billing/payments/").json()

        assert body["count"] == 2
        assert [row["id"] for row in body["results"]] == [pending.pk, paid.pk]
        assert body["results"][1] == {
            "id": paid.pk, "invoice": september.pk, "invoice_number": "TMCP-2026-000001", "amount": "22.80",
            "refunded_amount": "0.00", "currency": "EUR", "status": "COMPLETED", "method": "BANK_TRANSFER",
            "failure_reason": "", "created_at": "2026-11-05T08:00:00Z", "processed_at": "2026-11-05T08:00:00Z",
        }
        assert [r["id"] for r in client.get("/api/billing/payments/?status=PENDING").json()["results"]] == [
            pending.pk
        ]
        assert [r["id"] for r in client.get(f"/api/billing/payments/?invoice={september.pk}").json()["results"]] == [
            paid.pk
        ]
        assert client.get("/api/billing/payments/?method=CARD").json()["count"] == 1

    @pytest.mark.parametrize(("query", "field"), [("invoice=abc", "invoice"), ("status=DONE", "status")])
    def test_a_bad_filter_answers_400(self, query, field):
        response = client_for(make_customer()).get(f"/api/billing/payments/?{query}")

        assert response.status_code == 400
        assert field in error_of(response)["fields"]


@pytest.fixture
def october_20():
    """Every call below happens on 20 October 2026, in the subscriptions' October period."""
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.mark.django_db
@pytest.mark.usefixtures("october_20")
class TestPlanChangeApi:
    def test_an_upgrade_applies_immediately(self):
        user = make_customer()
        subscription_of(user)
        PlanFactory(code="team", name="Team", price=Decimal("99.00"), included_tokens=50_000_000)

        response = client_for(user).post("/api/billing/subscription/change-plan/", {"plan": "team"}, format="json")

        assert response.status_code == 200
        body = response.json()
        assert (body["plan"]["code"], body["effective"], body["scheduled_change"]) == ("team", "immediately", None)

    def test_a_downgrade_is_scheduled_for_the_period_end_and_shown_on_the_subscription(self):
        user = make_customer()
        subscription_of(user)
        PlanFactory(code="free", name="Free", price=Decimal("0.00"), included_tokens=100_000)
        client = client_for(user)
        client.get("/api/billing/subscription/")  # cached before the change: the change must invalidate it

        response = client.post("/api/billing/subscription/change-plan/", {"plan": "free"}, format="json")

        assert response.status_code == 200
        scheduled = {"plan": "free", "effective_date": "2026-11-01", "cancellable": True}
        body = response.json()
        assert (body["plan"]["code"], body["effective"], body["scheduled_change"]) == ("pro", "period_end", scheduled)
        assert client.get("/api/billing/subscription/").json()["scheduled_change"] == scheduled

    def test_after_an_upgrade_the_usage_is_measured_against_the_quotas_invoiced(self):
        user = make_customer()
        subscription_of(user)
        PlanFactory(code="team", name="Team", price=Decimal("99.00"), included_tokens=50_000_000)
        UsageLogFactory(user=user, tokens=40_000_000, created_at=paris(2026, 10, 3, 10, 0))
        client = client_for(user)
        with time_machine.travel(paris(2026, 10, 31, 9, 0), tick=False):
            client.post("/api/billing/subscription/change-plan/", {"plan": "team"}, format="json")
            UsageLogFactory(user=user, tokens=806_452, created_at=paris(2026, 10, 31, 8, 30))

            body = client.get("/api/billing/usage/").json()

        # Team's 31st: 50M / 31 = 1,612,903, not Team's whole 50M; only the tokens of the 31st count against it.
        assert (body["plan"], body["tokens_used"], body["included_tokens"], body["percent_used"]) == (
            "team", 806_452, 1_612_903, "50.00"
        )

    def test_the_scheduled_change_can_be_cancelled_once(self):
        user = make_customer()
        subscription = subscription_of(user)
        PlanFactory(code="free", name="Free", price=Decimal("0.00"), included_tokens=100_000)
        client = client_for(user)
        client.post("/api/billing/subscription/change-plan/", {"plan": "free"}, format="json")

        cancelled = client.post("/api/billing/subscription/scheduled-change/cancel/")
        again = client.post("/api/billing/subscription/scheduled-change/cancel/")

        assert cancelled.status_code == 200
        assert (cancelled.json()["plan"]["code"], cancelled.json()["scheduled_change"]) == ("pro", None)
        assert client.get("/api/billing/subscription/").json()["scheduled_change"] is None
        assert not SubscriptionPlanChange.objects.filter(subscription=subscription).exists()
        assert again.status_code == 409
        assert "no plan change scheduled" in error_of(again)["message"]


def pro_customer_with_40_million_tokens_on_the_31st():
    """DESIGN's worked example, before the change: Pro in October, 40M tokens used by the 30th."""
    user = make_customer()
    subscription_of(user)
    PlanFactory(code="team", name="Team", price=Decimal("99.00"), included_tokens=50_000_000,
                overage_price_per_million=Decimal("1.50"))
    PlanFactory(code="free", name="Free", price=Decimal("0.00"), included_tokens=100_000)
    UsageLogFactory(user=user, tokens=40_000_000, created_at=paris(2026, 10, 3, 10, 0))
    return user


@pytest.mark.django_db
class TestPlanChangePreviewApi:
    def reader(self, user) -> APIClient:
        """A key that may only read the billing: enough for a preview."""
        issued = api_key_create(user=user, name="reader", scopes=["billing:read"])
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}")
        return client

    def preview(self, user, plan: str, client=None):
        with time_machine.travel(paris(2026, 10, 31, 9, 0), tick=False):
            return (client or self.reader(user)).post(
                "/api/billing/subscription/change-plan/preview/", {"plan": plan}, format="json"
            )

    def test_an_upgrade_on_the_31st_shows_the_worked_example_and_changes_nothing(self):
        user = pro_customer_with_40_million_tokens_on_the_31st()
        client = self.reader(user)
        audit_rows = AuditLog.objects.count()

        response = self.preview(user, "team", client)

        assert response.status_code == 200
        body = response.json()
        assert (body["plan"], body["effective"], body["effective_date"]) == ("team", "immediately", "2026-10-31")
        assert [(line["kind"], line["amount"]) for line in body["lines"]] == [
            ("PRORATION", "18.39"), ("SUBSCRIPTION", "3.19"), ("USAGE", "70.32")
        ]
        assert (body["subtotal"], body["tax_amount"], body["total"]) == ("91.90", "18.38", "110.28")
        # Staying on Pro: 19.00 + 35M over at 2.00 = 89.00, 106.80 with VAT. The change costs more, not less.
        assert body["total_without_change"] == "106.80"
        assert user.subscriptions.get().plan.code == "pro"
        assert not SubscriptionPlanChange.objects.exists()
        assert AuditLog.objects.count() == audit_rows

    def test_a_downgrade_leaves_this_period_as_it_is(self):
        user = pro_customer_with_40_million_tokens_on_the_31st()

        body = self.preview(user, "free").json()

        assert (body["effective"], body["effective_date"]) == ("period_end", "2026-11-01")
        assert body["total"] == body["total_without_change"] == "106.80"

    def test_the_current_or_an_unknown_plan_answers_400_naming_the_field(self):
        user = pro_customer_with_40_million_tokens_on_the_31st()

        same = self.preview(user, "pro")
        unknown = self.preview(user, "platinum")

        assert same.status_code == 400 and "already on Pro" in error_of(same)["message"]
        assert unknown.status_code == 400
        assert error_of(unknown)["fields"] == {"plan": ["Object with code=platinum does not exist."]}


@pytest.mark.django_db
class TestSubscription:
    def test_shows_the_live_subscription(self):
        user = make_customer()
        subscription = subscription_of(user)

        response = client_for(user).get("/api/billing/subscription/")

        assert response.status_code == 200
        body = response.json()
        assert body["id"] == subscription.pk
        assert body["plan"] == {
            "code": "pro", "name": "Pro", "price": "19.00", "currency": "EUR", "interval": "MONTH",
            "included_tokens": 5_000_000, "overage_price_per_million": "2.0000", "requests_per_minute": 60,
            "trial_days": 0, "usage_pricing": "per_unit", "usage_tiers": [], "package_tokens": None,
            "package_price": None,
        }
        assert (body["status"], body["current_period_start"], body["current_period_end"]) == (
            "ACTIVE", "2026-10-01", "2026-11-01",
        )
        assert body["cancel_at_period_end"] is False
        assert body["trial_end"] is None

    def test_answers_404_without_one(self):
        user = make_customer()
        subscription_of(make_customer())  # someone else's

        response = client_for(user).get("/api/billing/subscription/")

        assert response.status_code == 404

    def test_subscribes_to_a_plan(self):
        user = make_customer()
        PlanFactory()

        response = client_for(user).post("/api/billing/subscription/", {"plan": "pro"}, format="json")

        assert response.status_code == 201
        subscription = Subscription.objects.get(user=user)
        assert response.json()["id"] == subscription.pk
        assert (response.json()["status"], response.json()["plan"]["code"]) == ("ACTIVE", "pro")

    @pytest.mark.parametrize("body", [{}, {"plan": "platinum"}, {"plan": ""}, {"plan": ["pro"]}])
    def test_subscribing_to_an_unknown_plan_answers_400_and_writes_nothing(self, body):
        user = make_customer()
        PlanFactory()
        PlanFactory(code="legacy", is_active=False)
        client = client_for(user)
        audit_rows = AuditLog.objects.count()

        response = client.post("/api/billing/subscription/", body, format="json")

        assert response.status_code == 400
        assert list(error_of(response)["fields"]) == ["plan"]
        assert not Subscription.objects.exists()
        assert AuditLog.objects.count() == audit_rows

    def test_a_plan_no_longer_offered_answers_400(self):
        PlanFactory(code="legacy", is_active=False)

        response = client_for(make_customer()).post("/api/billing/subscription/", {"plan": "legacy"}, format="json")

        assert response.status_code == 400
        assert "plan" in error_of(response)["fields"]

    def test_subscribing_twice_answers_400(self):
        user = make_customer()
        subscription_of(user)

        response = client_for(user).post("/api/billing/subscription/", {"plan": "pro"}, format="json")

        assert response.status_code == 400
        assert "You already have a live subscription" in error_of(response)["message"]
        assert Subscription.objects.filter(user=user).count() == 1

    def test_changes_the_plan(self):
        user = make_customer()
        subscription = subscription_of(user)
        PlanFactory(code="team", name="Team", price=Decimal("49.00"))

        response = client_for(user).post("/api/billing/subscription/change-plan/", {"plan": "team"}, format="json")

        assert response.status_code == 200
        assert response.json()["plan"]["code"] == "team"
        change = SubscriptionPlanChange.objects.get(subscription=subscription)
        assert (change.from_plan.code, change.to_plan.code) == ("pro", "team")

    def test_changing_to_an_unknown_plan_answers_400_and_writes_nothing(self):
        user = make_customer()
        subscription = subscription_of(user)
        client = client_for(user)
        audit_rows = AuditLog.objects.count()

        response = client.post("/api/billing/subscription/change-plan/", {"plan": "platinum"}, format="json")

        assert response.status_code == 400
        assert error_of(response)["fields"] == {"plan": ["Object with code=platinum does not exist."]}
        subscription.refresh_from_db()
        assert subscription.plan.code == "pro"
        assert not SubscriptionPlanChange.objects.exists()
        assert AuditLog.objects.count() == audit_rows

    def test_changing_to_the_same_plan_answers_400(self):
        user = make_customer()
        subscription_of(user)

        response = client_for(user).post("/api/billing/subscription/change-plan/", {"plan": "pro"}, format="json")

        assert response.status_code == 400
        assert "already on Pro" in error_of(response)["message"]

    def test_pauses_then_resumes(self):
        user = make_customer()
        subscription = subscription_of(user)
        client = client_for(user)

        paused = client.post("/api/billing/subscription/pause/")
        resumed = client.post("/api/billing/subscription/resume/")

        assert (paused.status_code, paused.json()["status"]) == (200, "PAUSED")
        assert paused.json()["paused_at"] is not None
        assert (resumed.status_code, resumed.json()["status"]) == (200, "ACTIVE")
        subscription.refresh_from_db()
        assert subscription.status == SubscriptionStatus.ACTIVE

    def test_resuming_an_active_subscription_answers_409_and_writes_nothing(self):
        user = make_customer()
        subscription = subscription_of(user)
        client = client_for(user)
        audit_rows = AuditLog.objects.count()

        response = client.post("/api/billing/subscription/resume/")

        assert response.status_code == 409
        assert error_of(response) == {
            "code": "conflict", "message": f"Subscription {subscription.pk} cannot move from ACTIVE to ACTIVE.",
            "fields": {},
        }
        subscription.refresh_from_db()
        assert subscription.status == SubscriptionStatus.ACTIVE
        assert AuditLog.objects.count() == audit_rows

    def test_pausing_twice_answers_409(self):
        user = make_customer()
        subscription_of(user, status=SubscriptionStatus.PAUSED)

        response = client_for(user).post("/api/billing/subscription/pause/")

        assert response.status_code == 409

    def test_cancels_at_the_period_end_by_default(self):
        user = make_customer()
        subscription_of(user)

        response = client_for(user).post("/api/billing/subscription/cancel/", {}, format="json")

        assert response.status_code == 200
        assert (response.json()["status"], response.json()["cancel_at_period_end"]) == ("ACTIVE", True)

    def test_cancels_now_and_then_there_is_no_live_subscription(self):
        user = make_customer()
        subscription_of(user)
        client = client_for(user)
        assert client.get("/api/billing/subscription/").status_code == 200  # cached…

        response = client.post("/api/billing/subscription/cancel/", {"at_period_end": False}, format="json")

        assert (response.status_code, response.json()["status"]) == (200, "CANCELLED")
        assert client.get("/api/billing/subscription/").status_code == 404  # …and forgotten
        assert client.post("/api/billing/subscription/pause/").status_code == 404

    def test_a_bad_cancel_flag_answers_400(self):
        user = make_customer()
        subscription_of(user)

        response = client_for(user).post("/api/billing/subscription/cancel/", {"at_period_end": "maybe"},
                                         format="json")

        assert response.status_code == 400
        assert list(error_of(response)["fields"]) == ["at_period_end"]
        assert Subscription.objects.get(user=user).cancel_at_period_end is False

    @pytest.mark.parametrize("path", ["change-plan/", "pause/", "resume/", "cancel/"])
    def test_moves_answer_404_without_a_live_subscription(self, path):
        user = make_customer()
        subscription_of(make_customer())  # another customer's is never touched

        response = client_for(user).post(f"/api/billing/subscription/{path}", {"plan": "pro"}, format="json")

        assert response.status_code == 404
        assert Subscription.objects.get().status == SubscriptionStatus.ACTIVE

    def test_the_answer_follows_a_move_at_once(self):
        user = make_customer()
        subscription_of(user)
        client = client_for(user)
        assert client.get("/api/billing/subscription/").json()["status"] == "ACTIVE"

        client.post("/api/billing/subscription/pause/")

        assert client.get("/api/billing/subscription/").json()["status"] == "PAUSED"


@pytest.mark.django_db
class TestPlans:
    def test_lists_the_plans_offered_cheapest_first(self):
        PlanFactory(code="team", name="Team", price=Decimal("49.00"))
        PlanFactory()
        PlanFactory(code="legacy", name="Legacy", price=Decimal("5.00"), is_active=False)
        PlanFactory(code="pro-year", name="Pro yearly", price=Decimal("190.00"), interval="YEAR")
        client = client_for(make_customer())

        body = client.get("/api/billing/plans/").json()

        assert [plan["code"] for plan in body["results"]] == ["pro", "team", "pro-year"]
        assert body["results"][1]["price"] == "49.00"
        assert [p["code"] for p in client.get("/api/billing/plans/?interval=YEAR").json()["results"]] == ["pro-year"]


@pytest.mark.django_db
class TestCredits:
    def test_lists_the_customers_credits_next_spent_first(self):
        user = make_customer()
        later = credit_grant(user=user, type="COMPENSATION", amount=Decimal("3.50"), reason="Outage",
                             expires_at=paris(2027, 6, 1), now=paris(2026, 10, 1))
        sooner = credit_grant(user=user, type="PROMOTIONAL", amount=Decimal("10.00"), reason="Welcome",
                              expires_at=paris(2027, 1, 1), now=paris(2026, 10, 2))
        credit_grant(user=make_customer(), type="PROMOTIONAL", amount=Decimal("99.00"), reason="Not yours")
        client = client_for(user)

        body = client.get("/api/billing/credits/").json()

        assert [row["id"] for row in body["results"]] == [sooner.pk, later.pk]
        assert body["results"][0] == {
            "id": sooner.pk, "type": "PROMOTIONAL", "amount": "10.00", "remaining_amount": "10.00",
            "currency": "EUR", "reason": "Welcome", "expires_at": "2026-12-31T23:00:00Z",
            "created_at": "2026-10-01T22:00:00Z",
        }
        assert [r["id"] for r in client.get("/api/billing/credits/?type=COMPENSATION").json()["results"]] == [
            later.pk
        ]


@pytest.mark.django_db
class TestAlerts:
    def test_lists_the_customers_alerts_newest_first(self):
        user = make_customer()
        old, _ = alert_raise(user=user, type=AlertType.USAGE_THRESHOLD, occasion="2026-10:80",
                             message="80 % used", now=paris(2026, 10, 20))
        new, _ = alert_raise(user=user, type=AlertType.PAYMENT_FAILED, occasion="payment:1",
                             message="Your payment failed", now=paris(2026, 10, 21))
        alert_raise(user=make_customer(), type=AlertType.PAYMENT_FAILED, occasion="payment:2", message="Not yours")
        client = client_for(user)

        body = client.get("/api/billing/alerts/").json()

        assert [row["id"] for row in body["results"]] == [new.pk, old.pk]
        assert body["results"][1] == {
            "id": old.pk, "type": "USAGE_THRESHOLD", "occasion": "2026-10:80", "message": "80 % used",
            "created_at": "2026-10-19T22:00:00Z", "read_at": None,
        }
        assert client.get("/api/billing/alerts/?type=PAYMENT_FAILED").json()["count"] == 1

    def test_marks_an_alert_read_once(self, pinned_clock):
        user = make_customer()
        alert, _ = alert_raise(user=user, type=AlertType.USAGE_THRESHOLD, occasion="2026-10:80", message="80 %")
        client = client_for(user)
        assert client.get("/api/billing/alerts/?unread=true").json()["count"] == 1

        first = client.post(f"/api/billing/alerts/{alert.pk}/read/")
        again = client.post(f"/api/billing/alerts/{alert.pk}/read/")

        assert first.status_code == again.status_code == 200
        assert first.json()["read_at"] == again.json()["read_at"] == "2026-10-20T10:00:00Z"
        alert.refresh_from_db()
        assert alert.read_at == NOW
        assert client.get("/api/billing/alerts/?unread=true").json()["count"] == 0  # the cache followed

    def test_another_customers_alert_answers_404_and_stays_unread(self):
        others, _ = alert_raise(user=make_customer(), type=AlertType.PAYMENT_FAILED, occasion="p:1", message="x")

        response = client_for(make_customer()).post(f"/api/billing/alerts/{others.pk}/read/")

        assert response.status_code == 404
        assert BillingAlert.objects.get(pk=others.pk).read_at is None


@pytest.mark.django_db
@pytest.mark.usefixtures("pinned_clock")
class TestUsage:
    def test_shows_this_periods_usage_against_the_quota_day_by_day(self):
        user = make_customer()
        subscription_of(user)
        UsageLogFactory(user=user, tokens=1_000_000, created_at=paris(2026, 10, 1, 0, 30))
        UsageLogFactory(user=user, tokens=2_500_000, created_at=paris(2026, 10, 20, 9, 0))
        UsageLogFactory(user=user, tokens=7, created_at=paris(2026, 9, 30, 23, 59))  # September in Paris
        UsageLogFactory(user=make_customer(), tokens=9_000_000, created_at=paris(2026, 10, 2, 9, 0))

        response = client_for(user).get("/api/billing/usage/")

        assert response.status_code == 200
        body = response.json()
        assert (body["period_start"], body["period_end"], body["plan"]) == ("2026-10-01", "2026-11-01", "pro")
        assert (body["tokens_used"], body["included_tokens"], body["percent_used"]) == (3_500_000, 5_000_000, "70.00")
        assert len(body["daily"]) == 20  # 1 to 20 October: no day after today
        assert body["daily"][0] == {"date": "2026-10-01", "tokens": 1_000_000}
        assert body["daily"][1] == {"date": "2026-10-02", "tokens": 0}
        assert body["daily"][-1] == {"date": "2026-10-20", "tokens": 2_500_000}

    def test_shows_a_past_month(self):
        user = make_customer()
        subscription_of(user)
        UsageLogFactory(user=user, tokens=6_000_000, created_at=paris(2026, 9, 15, 12, 0))

        body = client_for(user).get("/api/billing/usage/?period=2026-09").json()

        assert (body["period_start"], body["period_end"]) == ("2026-09-01", "2026-10-01")
        assert (body["tokens_used"], body["percent_used"]) == (6_000_000, "120.00")
        assert len(body["daily"]) == 30

    def test_without_a_subscription_there_is_no_quota(self):
        user = make_customer()
        UsageLogFactory(user=user, tokens=1234, created_at=paris(2026, 10, 3, 12, 0))

        body = client_for(user).get("/api/billing/usage/").json()

        assert (body["period_start"], body["plan"], body["tokens_used"]) == ("2026-10-01", None, 1234)
        assert (body["included_tokens"], body["percent_used"]) == (None, None)

    @pytest.mark.parametrize("period", ["2026-13", "october", "0000-01", "9999-12", "2026-1"])
    def test_a_bad_period_answers_400(self, period):
        response = client_for(make_customer()).get(f"/api/billing/usage/?period={period}")

        assert response.status_code == 400
        assert list(error_of(response)["fields"]) == ["period"]


@pytest.mark.django_db
class TestSchemaAndDocs:
    def test_the_schema_describes_every_billing_endpoint(self):
        response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

        assert response.status_code == 200
        schema = response.json()
        for path in [
            "/api/billing/invoices/", "/api/billing/invoices/{id}/", "/api/billing/invoices/{id}/pdf/",
            "/api/billing/invoices/upcoming/", "/api/billing/payments/", "/api/billing/subscription/",
            "/api/billing/subscription/change-plan/", "/api/billing/plans/", "/api/billing/credits/",
            "/api/billing/alerts/", "/api/billing/alerts/{id}/read/", "/api/billing/usage/",
        ]:
            assert path in schema["paths"], path
        pdf = schema["paths"]["/api/billing/invoices/{id}/pdf/"]["get"]["responses"]
        assert pdf["200"]["content"] == {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}
        assert pdf["404"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        resume = schema["paths"]["/api/billing/subscription/resume/"]["post"]["responses"]
        assert {"200", "401", "404", "409"} <= set(resume)

    def test_the_docs_load_swagger_ui_from_local_static_files(self):
        response = APIClient().get("/api/docs/")

        assert response.status_code == 200
        page = response.content.decode()
        assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
        assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css" in page
        assert "cdn.jsdelivr.net" not in page
        bundle = APIClient().get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
        assert bundle.status_code == 200
