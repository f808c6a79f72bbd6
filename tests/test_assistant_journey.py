"""An assistant configured as the README says (the official MCP SDK's Streamable HTTP client, the customer's key
as a bearer header) reads documentation through `/mcp` under gunicorn; the customer then sees those calls on the
usage page, receives signed `usage.threshold_reached` webhooks at 80 % and 100 % of the quota, and is billed
the overage on the period's invoice, figures worked out by hand.

Builder plan: 19.00 a month, 10,000 tokens included, 100.00 per million beyond. Three calls of one 4,500-token
chunk: 9,000 tokens (90 %, past 80 %), then 13,500 (past 100 %). Invoice: fee 19.00 + overage 3,500 tokens ×
100.00 / 1,000,000 = 0.35; subtotal 19.35, French VAT 20 % 3.87, total 23.22.
"""
import asyncio
import datetime
from decimal import Decimal

import httpx2
import pytest
import time_machine
from django.utils import timezone
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from standardwebhooks import Webhook

from accounts.services import api_key_create
from accounts.tests.factories import UserProfileFactory
from billing.models import Invoice, LineKind
from billing.periods import local_date, period_containing, start_of_day
from billing.services import invoice_run, usage_threshold_alerts_raise
from billing.tests.factories import PlanFactory, SubscriptionFactory
from libraries.tests.factories import DocumentationChunkFactory, LibraryFactory, LibraryVersionFactory
from libraries.tests.live_server import mcp_serving
from webhooks.services import webhook_endpoint_create

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def mcp_url(django_db_setup, django_db_blocker):
    with mcp_serving(django_db_blocker) as url:
        yield url


def assistant_calls(url: str, token: str, *calls: tuple[str, dict]):
    """What an assistant's MCP client does with the README's configuration: connect, list the tools, call them."""
    async def session():
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        async with Client(streamable_http_client(url, http_client=http), read_timeout_seconds=30) as client:
            tools = await client.list_tools()
            return [tool.name for tool in tools.tools], [await client.call_tool(name, args) for name, args in calls]
    return asyncio.run(session())


def thresholds_received(receiver, secret) -> list[int]:
    """The usage thresholds the receiver was told of, each request's signature verified first."""
    payloads = [Webhook(secret).verify(request.body, request.headers) for request in receiver.requests]
    return [payload["data"]["threshold_percent"] for payload in payloads
            if payload["type"] == "usage.threshold_reached"]


def test_docs_read_through_mcp_are_seen_signalled_and_billed(mcp_url, receiver, client,
                                                             django_capture_on_commit_callbacks):
    period = period_containing(local_date(timezone.now()))
    user = UserProfileFactory(country="FR", company_name="Lovelace Labs").user
    plan = PlanFactory(code="builder", name="Builder", price=Decimal("19.00"), included_tokens=10_000,
                       overage_price_per_million=Decimal("100.00"))
    SubscriptionFactory(user=user, plan=plan, current_period_start=period.start, current_period_end=period.end,
                        started_at=start_of_day(period.start))
    token = api_key_create(user=user, name="Claude Code", scopes=["docs:read"]).token
    secret = webhook_endpoint_create(user=user, url=receiver.url, events=["usage.threshold_reached"]).secret
    library = LibraryFactory(slug="tiangolo/fastapi", name="FastAPI", description="Web APIs with Python type hints.")
    version = LibraryVersionFactory(library=library, version="0.115.0", is_latest=True)
    DocumentationChunkFactory(version=version, title="Dependencies", content="Declare a dependency with Depends().",
                              tokens=4_500, position=0)

    tools, (found, first, second) = assistant_calls(
        mcp_url, token,
        ("resolve-library-id", {"libraryName": "fastapi"}),
        ("query-docs", {"libraryId": "/tiangolo/fastapi", "query": "dependencies"}),
        ("get-library-docs", {"context7CompatibleLibraryID": "/tiangolo/fastapi", "topic": "dependencies"}),
    )
    assert tools == ["resolve-library-id", "query-docs", "get-library-docs"]
    assert "id: /tiangolo/fastapi" in found.content[0].text
    assert [call.is_error for call in (first, second)] == [False, False]
    assert "Declare a dependency with Depends()." in first.content[0].text

    with django_capture_on_commit_callbacks(execute=True):
        usage_threshold_alerts_raise(now=timezone.now())
    assert thresholds_received(receiver, secret) == [80]

    _, (third,) = assistant_calls(
        mcp_url, token, ("query-docs", {"libraryId": "/tiangolo/fastapi", "query": "Depends"})
    )
    assert (third.is_error, third.structured_content["tokens"]) == (False, 4_500)
    with django_capture_on_commit_callbacks(execute=True):
        usage_threshold_alerts_raise(now=timezone.now())
    assert thresholds_received(receiver, secret) == [80, 100]

    client.force_login(user)
    page = client.get("/billing/usage/?group_by=library").content.decode()
    assert "FastAPI" in page and "13,500" in page
    by_library = client.get("/api/billing/usage/?group_by=library").json()
    assert [(group["key"], group["tokens"], group["calls"]) for group in by_library["groups"]] == [
        ("tiangolo/fastapi", 13_500, 3)
    ]

    with time_machine.travel(start_of_day(period.end) + datetime.timedelta(hours=1), tick=False):
        invoice_run(period_end=period.end, issue_documents=False)
    invoice = Invoice.objects.get(user=user)
    usage = invoice.lines.get(kind=LineKind.USAGE)
    assert (usage.quantity, usage.unit_price, usage.amount) == (Decimal("3500"), Decimal("100.00"), Decimal("0.35"))
    assert (invoice.subtotal, invoice.tax_amount, invoice.total) == (
        Decimal("19.35"), Decimal("3.87"), Decimal("23.22")
    )
