"""The whole API against its own OpenAPI schema (schemathesis, in process through WSGI).

Every operation of /api/schema/ (billing, account, and the documentation and usage endpoints) gets a
bounded number of generated requests, valid and invalid, sent with a real API key of a seeded customer
holding every customer scope: none may answer 5xx, and every answer must be one the schema declares, in its
status code, content type and body. Deterministic (derandomized), no shrinking, no example database.
"""
import datetime
from decimal import Decimal

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import CUSTOMER_API_KEY_SCOPES
from accounts.services import api_key_create
from accounts.tests.factories import UserProfileFactory
from billing.models import AlertType
from billing.services import alert_raise, credit_grant, invoice_finalize, payment_record
from billing.tests.factories import InvoiceFactory, PlanFactory, SubscriptionFactory
from libraries.tests.factories import UsageLogFactory

MAX_EXAMPLES = 15
UTC = datetime.UTC


def _load_schema():
    """The schema the running application serves (building it touches no database)."""
    from twinmcp.wsgi import application

    # A fixed seed, and no crash cache on disk: every run sends the same requests.
    config = SchemathesisConfig.from_dict({"seed": 20261124, "cache": {"enabled": False}})
    return schemathesis.openapi.from_wsgi("/api/schema/", application, config=config)


schema = _load_schema()


@pytest.fixture(autouse=True)
def _keep_the_test_transaction():
    """Django closes "old" connections at each request's start and end; the test's own connection, inside
    its transaction, must survive the requests schemathesis sends (Django's test client does the same)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def customer_token(db) -> str:
    """A customer with a little of everything (so that some generated ids exist), and their API key."""
    user = UserProfileFactory(country="FR").user
    PlanFactory(code="team", name="Team", price=Decimal("49.00"))
    # A rate no generated series reaches: every request is checked, none throttled (429 is documented anyway).
    subscription = SubscriptionFactory(user=user, plan=PlanFactory(requests_per_minute=1_000_000))
    for month in (8, 9):
        start = datetime.date(2026, month, 1)
        draft = InvoiceFactory(subscription=subscription, period_start=start,
                               period_end=datetime.date(2026, month + 1, 1))
        invoice = invoice_finalize(invoice=draft, now=datetime.datetime(2026, month + 1, 2, 8, tzinfo=UTC))
    payment_record(invoice=invoice, amount=Decimal("22.80"), idempotency_key="seed-payment")
    credit_grant(user=user, type="PROMOTIONAL", amount=Decimal("5.00"), reason="Welcome")
    alert_raise(user=user, type=AlertType.USAGE_THRESHOLD, occasion="2026-10:80", message="80 % used")
    UsageLogFactory(user=user, tokens=1500)
    return api_key_create(user=user, name="schemathesis", scopes=list(CUSTOMER_API_KEY_SCOPES)).token


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_the_api_honours_its_schema(case, customer_token):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {customer_token}"},
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
