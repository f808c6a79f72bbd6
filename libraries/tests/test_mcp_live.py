"""`/mcp` driven by the official MCP Python SDK (`mcp.Client` over its Streamable HTTP transport, in its default
`auto` mode: a `server/discover` probe at 2026-07-28, refused, then the initialize handshake), against the
application under gunicorn in a subprocess on a free loopback port, on the test database and Redis.

The server runs on the real clock (it is another process), so the subscription is built around today's period;
the data it reads is committed (transactional tests).
"""
import asyncio
from decimal import Decimal

import httpx2
import pytest
from django.utils import timezone
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from accounts.services import api_key_create
from accounts.tests.factories import UserFactory
from billing.periods import local_date, period_containing
from billing.tests.factories import PlanFactory, SubscriptionFactory
from libraries.models import UsageLog
from libraries.tests.factories import DocumentationChunkFactory, LibraryFactory, LibraryVersionFactory
from libraries.tests.live_server import mcp_serving

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def mcp_url(django_db_setup, django_db_blocker):
    with mcp_serving(django_db_blocker) as url:
        yield url


def subscribed_customer(**plan):
    """A customer subscribed for today's period, and the token of their docs:read key."""
    user = UserFactory()
    period = period_containing(local_date(timezone.now()))
    SubscriptionFactory(user=user, plan=PlanFactory(**plan), current_period_start=period.start,
                        current_period_end=period.end)
    return user, api_key_create(user=user, name="Claude Code", scopes=["docs:read"]).token


@pytest.fixture
def nextjs():
    library = LibraryFactory(slug="vercel/next.js", name="Next.js", description="The React framework for the web.")
    version = LibraryVersionFactory(library=library, version="15.0.0", is_latest=True)
    DocumentationChunkFactory(version=version, title="Routing", content="The app router maps folders to routes.",
                              tokens=1500, position=0, source_url="https://nextjs.org/docs/app/routing")
    DocumentationChunkFactory(version=version, title="Deploying", content="Deploy anywhere Node runs.",
                              tokens=900, position=1)
    return library


def session(url: str, token: str):
    """What an assistant's client does: the SDK's client, its Streamable HTTP transport, the key as a header."""
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return Client(streamable_http_client(url, http_client=http), read_timeout_seconds=30)


def test_an_assistant_finds_a_library_then_reads_its_docs_metered_once(mcp_url, nextjs):
    user, token = subscribed_customer()

    async def assistant():
        async with session(mcp_url, token) as client:
            tools = await client.list_tools()
            found = await client.call_tool("resolve-library-id", {"libraryName": "next.js"})
            docs = await client.call_tool("query-docs", {"libraryId": "/vercel/next.js", "query": "routing"})
            return (client.protocol_version, client.server_info.name, client.instructions), tools, found, docs

    (version, server, instructions), tools, found, docs = asyncio.run(assistant())

    assert (version, server) == ("2025-11-25", "TwinMCP")
    assert "resolve-library-id" in instructions
    assert [tool.name for tool in tools.tools] == ["resolve-library-id", "query-docs", "get-library-docs"]
    assert tools.tools[1].input_schema["required"] == ["libraryId", "query"]
    assert found.is_error is False
    assert "- Next.js — id: /vercel/next.js" in found.content[0].text
    assert docs.is_error is False
    text = docs.content[0].text
    assert text.startswith("# Next.js 15.0.0 (id /vercel/next.js/15.0.0): 1500 tokens")
    assert "## Routing\n\nThe app router maps folders to routes." in text
    assert docs.structured_content["tokens"] == 1500
    [log] = UsageLog.objects.filter(user=user)
    assert (log.endpoint, log.tokens) == ("mcp:query-docs", 1500)


def test_a_used_up_quota_is_a_tool_error_the_assistant_can_relay(mcp_url, nextjs):
    user, token = subscribed_customer(code="free", name="Free", included_tokens=1000,
                                      overage_price_per_million=Decimal("0"))
    UsageLog.objects.create(user=user, endpoint="mcp:query-docs", tokens=1000, created_at=timezone.now())

    async def assistant():
        async with session(mcp_url, token) as client:
            return await client.call_tool("query-docs", {"libraryId": "/vercel/next.js", "query": "routing"})

    result = asyncio.run(assistant())

    assert result.is_error is True
    text = result.content[0].text
    assert text.startswith("Quota reached. You have used the 1,000 tokens included in your Free plan this period")
    assert "(Retry-After)" in text
    assert text.endswith(f"Upgrade your plan or pay on {mcp_url.removesuffix('/mcp')}/billing/.")
    assert UsageLog.objects.filter(user=user).count() == 1


def test_a_wrong_key_is_refused(mcp_url):
    async def assistant():
        async with session(mcp_url, "tmcp_nokey1234_abcdefghijklmnopqrstuvwxyz"):
            pass

    # The SDK raises its MCPError, from within its task group.
    with pytest.raises(BaseExceptionGroup) as refused:
        asyncio.run(assistant())

    [error] = refused.value.split(MCPError)[0].exceptions
    while isinstance(error, BaseExceptionGroup):
        [error] = error.exceptions
    assert (error.error.code, error.error.message) == (-32010, "Invalid, revoked or expired API key.")
