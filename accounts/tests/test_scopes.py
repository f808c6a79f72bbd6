"""API key scopes on every `/api/` endpoint: a key lacking the endpoint's scope is refused with 403
insufficient_scope naming it, a key holding only that scope gets through, and a browser session holds every
customer scope but `usage:write`.

Every customer is in France on Pro, in the middle of October 2026, with an issued invoice and an alert.
"""
import datetime

import pytest
import time_machine
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from accounts.models import API_KEY_SCOPES, CUSTOMER_API_KEY_SCOPES, ApiKey, AuditLog
from accounts.services import api_key_create
from accounts.tests.factories import UserProfileFactory
from billing.models import AlertType, BillingAlert, Subscription, SubscriptionStatus
from billing.services import alert_raise, invoice_finalize
from billing.tests.factories import InvoiceFactory, PlanFactory, SubscriptionFactory, paris
from libraries.models import UsageLog
from libraries.tests.factories import DocumentationChunkFactory, LibraryVersionFactory
from webhooks.services import webhook_event_publish
from webhooks.tests.factories import WebhookEndpointFactory

NOW = paris(2026, 10, 20, 12, 0)

# (method, path as the schema names it, scope it needs, request body, status when the key holds that scope).
ENDPOINTS = [
    ("GET", "/api/billing/invoices/", "billing:read", None, 200),
    ("GET", "/api/billing/invoices/{id}/", "billing:read", None, 200),
    ("GET", "/api/billing/invoices/{id}/pdf/", "billing:read", None, 200),
    ("GET", "/api/billing/invoices/{id}/ubl/", "billing:read", None, 200),
    ("POST", "/api/billing/invoices/{id}/pay/", "billing:write", None, 400),  # no card: paid by bank transfer
    ("GET", "/api/billing/invoices/upcoming/", "billing:read", None, 200),
    ("GET", "/api/billing/payments/", "billing:read", None, 200),
    ("GET", "/api/billing/subscription/", "billing:read", None, 200),
    ("POST", "/api/billing/subscription/", "billing:write", {"plan": "team"}, 400),  # has one already
    ("POST", "/api/billing/subscription/change-plan/", "billing:write", {"plan": "team"}, 200),
    ("POST", "/api/billing/subscription/change-plan/preview/", "billing:read", {"plan": "team"}, 200),
    ("POST", "/api/billing/subscription/scheduled-change/cancel/", "billing:write", None, 409),  # none scheduled
    ("POST", "/api/billing/subscription/coupon/", "billing:write", {"code": "NO-SUCH-CODE"}, 400),  # unknown code
    ("POST", "/api/billing/subscription/pause/", "billing:write", None, 200),
    ("POST", "/api/billing/subscription/resume/", "billing:write", None, 409),  # not paused
    ("POST", "/api/billing/subscription/cancel/", "billing:write", {"at_period_end": True}, 200),
    ("GET", "/api/billing/plans/", "billing:read", None, 200),
    ("GET", "/api/billing/credits/", "billing:read", None, 200),
    ("GET", "/api/billing/alerts/", "billing:read", None, 200),
    ("POST", "/api/billing/alerts/{id}/read/", "billing:write", None, 200),
    ("GET", "/api/billing/usage/", "billing:read", None, 200),
    ("GET", "/api/account/api-keys/", "account:admin", None, 200),
    ("POST", "/api/account/api-keys/", "account:admin", {"name": "CI", "scopes": ["account:admin"]}, 201),
    ("DELETE", "/api/account/api-keys/{id}/", "account:admin", None, 204),
    ("GET", "/api/account/export/", "account:admin", None, 200),
    ("GET", "/api/account/webhooks/", "account:admin", None, 200),
    ("POST", "/api/account/webhooks/", "account:admin", {"url": "https://93.184.215.14/", "events": ["invoice.paid"]},
     201),
    ("GET", "/api/account/webhooks/{id}/", "account:admin", None, 200),
    ("PATCH", "/api/account/webhooks/{id}/", "account:admin", {"description": "Accounting"}, 200),
    ("DELETE", "/api/account/webhooks/{id}/", "account:admin", None, 204),
    ("GET", "/api/account/webhooks/{id}/deliveries/", "account:admin", None, 200),
    ("POST", "/api/account/webhooks/{id}/deliveries/{delivery_pk}/resend/", "account:admin", None, 202),
    ("GET", "/api/libraries/", "docs:read", None, 200),
    ("GET", "/api/libraries/{slug}/", "docs:read", None, 200),
    ("GET", "/api/libraries/{slug}/docs/", "docs:read", None, 200),
    ("POST", "/api/usage/events/", "usage:write", {"events": []}, 200),
]
# Which object of the world each path with an id names.
ID_OF = {
    "/api/billing/invoices/{id}/": "invoice",
    "/api/billing/invoices/{id}/pdf/": "invoice",
    "/api/billing/invoices/{id}/ubl/": "invoice",
    "/api/billing/invoices/{id}/pay/": "invoice",
    "/api/billing/alerts/{id}/read/": "alert",
    "/api/account/api-keys/{id}/": "api_key",
    "/api/account/webhooks/{id}/": "webhook_endpoint",
    "/api/account/webhooks/{id}/deliveries/": "webhook_endpoint",
    "/api/account/webhooks/{id}/deliveries/{delivery_pk}/resend/": "webhook_endpoint",
}


def ids(endpoint) -> str:
    return f"{endpoint[0]} {endpoint[1]}"


@pytest.fixture
def world(db):
    """A customer on Pro with an issued invoice, an alert, a second key, and a library to read."""
    user = UserProfileFactory(country="FR").user
    PlanFactory(code="team", name="Team", price="99.00", included_tokens=50_000_000)
    subscription = SubscriptionFactory(user=user, plan=PlanFactory())
    invoice = invoice_finalize(
        invoice=InvoiceFactory(subscription=subscription, period_start=datetime.date(2026, 9, 1),
                               period_end=datetime.date(2026, 10, 1)),
        now=paris(2026, 10, 2, 9, 0),
    )
    alert, _ = alert_raise(user=user, type=AlertType.USAGE_THRESHOLD, occasion="2026-10:80", message="80 % used",
                           now=NOW)
    other_key = api_key_create(user=user, name="Phone", scopes=["docs:read"]).api_key
    webhook_endpoint = WebhookEndpointFactory(user=user)
    delivery = webhook_event_publish(user=user, type="invoice.paid", data={}, now=NOW).deliveries.get()
    version = LibraryVersionFactory(library__slug="vercel/next.js", version="15.0.0", is_latest=True)
    DocumentationChunkFactory(version=version, title="Routing", content="The app router maps folders to routes.")
    return {"user": user, "invoice": invoice.pk, "alert": alert.pk, "api_key": other_key.pk,
            "webhook_endpoint": webhook_endpoint.pk, "webhook_delivery": delivery.pk}


def url(world, path: str) -> str:
    """The path with the world's own ids in it."""
    return path.format(id=world.get(ID_OF.get(path)), slug="vercel/next.js", delivery_pk=world["webhook_delivery"])


def key_client(user, scopes) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=user, name='Key', scopes=scopes).token}")
    return client


def call(client, method: str, path: str, body=None):
    send = getattr(client, method.lower())
    with time_machine.travel(NOW, tick=False):
        return send(path, body, format="json") if body is not None else send(path)


def assert_refused(response, scope: str):
    error = response.json()["error"]
    assert (response.status_code, error["code"], error["fields"]) == (403, "insufficient_scope", {})
    assert scope in error["message"]


def written() -> tuple:
    """What a call could have written: keys, audit rows, subscriptions, alerts read, metered calls."""
    return (
        ApiKey.objects.count(), AuditLog.objects.count(), UsageLog.objects.count(),
        list(Subscription.objects.values_list("status", "plan__code", "cancel_at_period_end")),
        list(BillingAlert.objects.values_list("read_at", flat=True)),
    )


@pytest.mark.django_db
class TestEveryEndpoint:
    def test_the_table_names_every_operation_of_the_api_and_each_documents_the_403(self):
        schema = SchemaGenerator().get_schema(request=None, public=True)
        operations = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}

        assert operations == {(method, path) for method, path, *_ in ENDPOINTS}
        undocumented = {(method, path) for path, item in schema["paths"].items() for method, operation in item.items()
                        if "403" not in operation["responses"]}
        assert not undocumented

    @pytest.mark.parametrize(("method", "path", "scope", "body", "ok"), ENDPOINTS, ids=list(map(ids, ENDPOINTS)))
    def test_a_key_lacking_the_scope_is_refused_naming_it_and_nothing_is_written(
        self, world, method, path, scope, body, ok
    ):
        every_other = [other for other in API_KEY_SCOPES if other != scope]
        client = key_client(world["user"], every_other)
        before = written()

        response = call(client, method, url(world, path), body)

        assert_refused(response, scope)
        assert f"This API key lacks the {scope} scope." == response.json()["error"]["message"]
        assert written() == before

    @pytest.mark.parametrize(("method", "path", "scope", "body", "ok"), ENDPOINTS, ids=list(map(ids, ENDPOINTS)))
    def test_a_key_holding_only_that_scope_gets_through(self, world, method, path, scope, body, ok):
        client = key_client(world["user"], [scope])

        response = call(client, method, url(world, path), body)

        assert response.status_code == ok, response.content

    def test_the_check_reads_the_key_the_request_already_holds(self, world, django_assert_num_queries):
        client = key_client(world["user"], ["docs:read"])
        call(client, "GET", "/api/libraries/")  # caches the key's lookup and marks it used

        with django_assert_num_queries(0):
            response = call(client, "GET", "/api/billing/invoices/")

        assert_refused(response, "billing:read")

    @pytest.mark.parametrize(("scopes", "status"), [(["billing:read"], 200), (["docs:read"], 403)])
    def test_head_needs_what_get_needs(self, world, scopes, status):
        assert call(key_client(world["user"], scopes), "HEAD", "/api/billing/plans/").status_code == status

    def test_a_method_no_scope_opens_is_refused_even_to_a_key_holding_every_scope(self, world):
        client = key_client(world["user"], list(API_KEY_SCOPES))

        response = call(client, "OPTIONS", "/api/account/api-keys/")

        assert response.status_code == 403
        assert response.json()["error"]["code"] == "insufficient_scope"
        assert response.json()["error"]["message"] == "No API key scope opens OPTIONS on this endpoint."


@pytest.mark.django_db
class TestBrowserSession:
    @pytest.mark.parametrize(
        ("method", "path", "scope", "body", "ok"),
        [endpoint for endpoint in ENDPOINTS if endpoint[2] in CUSTOMER_API_KEY_SCOPES],
        ids=[ids(endpoint) for endpoint in ENDPOINTS if endpoint[2] in CUSTOMER_API_KEY_SCOPES],
    )
    def test_holds_every_customer_scope(self, world, method, path, scope, body, ok):
        client = APIClient()
        client.force_login(world["user"])
        if body and "scopes" in body:
            body = {**body, "scopes": list(CUSTOMER_API_KEY_SCOPES)}  # a session may give every customer scope

        assert call(client, method, url(world, path), body).status_code == ok

    def test_never_reports_usage(self, world):
        client = APIClient()
        client.force_login(world["user"])

        response = call(client, "POST", "/api/usage/events/", {"events": []})

        assert_refused(response, "usage:write")
        assert response.json()["error"]["message"] == (
            "A browser session lacks the usage:write scope: only an API key issued by staff holds it."
        )


@pytest.mark.django_db
class TestKeysHoldingSeveralScopes:
    def test_reads_but_does_not_move_the_subscription_with_billing_read_alone(self, world):
        client = key_client(world["user"], ["docs:read", "billing:read"])

        assert call(client, "GET", "/api/billing/subscription/").status_code == 200
        assert_refused(call(client, "POST", "/api/billing/subscription/pause/"), "billing:write")
        assert Subscription.objects.get(user=world["user"]).status == SubscriptionStatus.ACTIVE
