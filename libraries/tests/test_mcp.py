"""The MCP server `/mcp` as an assistant's client meets it (Django's test client; the official SDK against a live
server is test_mcp_live.py): JSON-RPC framing and its errors, headers, authentication, the tools, and metering
exactly like the REST docs API, with billing's real throttles on real PostgreSQL and Redis."""
import datetime
import json
from decimal import Decimal

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from accounts.services import api_key_create, api_key_revoke
from accounts.tests.factories import UserFactory, UserProfileFactory, make_customer
from billing.periods import local_date, period_containing
from billing.services import invoice_finalize
from billing.tests.factories import InvoiceFactory, PlanFactory, SubscriptionFactory, paris
from libraries.mcp.protocol import SUPPORTED_VERSIONS
from libraries.models import UsageLog
from libraries.tests.factories import DocumentationChunkFactory, LibraryFactory, LibraryVersionFactory

pytestmark = pytest.mark.django_db

NOW = 1_800_000_010.0  # 15 January 2027, 08:00:10 UTC: 10 seconds into a minute window
JSON = "application/json"


@pytest.fixture(autouse=True)
def _pinned_clock(time_machine):
    time_machine.move_to(NOW, tick=False)


def subscribe(user, **plan):
    period = period_containing(local_date(timezone.now()))
    plan = PlanFactory(code=plan.pop("code", "pro"), **plan)
    return SubscriptionFactory(user=user, plan=plan, current_period_start=period.start, current_period_end=period.end)


def mcp_client(user, scopes=("docs:read",)) -> Client:
    token = api_key_create(user=user, name="Assistant", scopes=list(scopes)).token
    return Client(headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"})


def post(client, message, *, path="/mcp", **headers):
    body = message if isinstance(message, str | bytes) else json.dumps(message)
    return client.post(path, body, content_type=JSON, headers=headers)


def rpc(client, method, params=None, *, request_id=1, **headers):
    message = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return post(client, message, **headers)


def call(client, tool, arguments):
    response = rpc(client, "tools/call", {"name": tool, "arguments": arguments})
    assert response.status_code == 200, response.content
    return response.json()["result"]


def text_of(result) -> str:
    [content] = result["content"]
    assert content["type"] == "text"
    return content["text"]


@pytest.fixture
def customer():
    user = UserFactory()
    subscribe(user)
    return user


@pytest.fixture
def client(customer):
    return mcp_client(customer)


@pytest.fixture
def nextjs():
    library = LibraryFactory(slug="vercel/next.js", name="Next.js", description="The React framework for the web.")
    old = LibraryVersionFactory(library=library, version="14.2.0",
                                released_at=datetime.datetime(2024, 4, 1, tzinfo=datetime.UTC))
    latest = LibraryVersionFactory(library=library, version="15.0.0", is_latest=True,
                                   released_at=datetime.datetime(2024, 10, 21, tzinfo=datetime.UTC))
    DocumentationChunkFactory(version=old, title="Pages router", content="Routing with the pages directory.",
                              tokens=800, position=0, source_url="https://nextjs.org/docs/pages")
    DocumentationChunkFactory(version=latest, title="Installation", content="Run create-next-app to start.",
                              tokens=600, position=0)
    DocumentationChunkFactory(version=latest, title="Routing", content="The app router maps folders to routes. "
                              "Dynamic routes use brackets.", tokens=1500, position=1,
                              source_url="https://nextjs.org/docs/app/routing")
    DocumentationChunkFactory(version=latest, title="Data fetching", content="Fetch data in server components; "
                              "routes can be static or dynamic.", tokens=3000, position=2)
    LibraryFactory(slug="facebook/react", name="React", description="The library for web and native interfaces.")
    return library


class TestInitialize:
    def test_answers_the_clients_version_with_the_server_and_its_tools(self, client):
        response = rpc(client, "initialize", {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "claude-code", "version": "2"},
        })

        assert response.status_code == 200
        assert response["Content-Type"] == JSON
        assert "Mcp-Session-Id" not in response
        answer = response.json()
        assert answer["jsonrpc"] == "2.0" and answer["id"] == 1
        result = answer["result"]
        assert result["protocolVersion"] == "2025-06-18"
        assert result["serverInfo"]["name"] == "TwinMCP" and result["serverInfo"]["version"]
        assert result["capabilities"] == {"tools": {"listChanged": False}}
        instructions = result["instructions"]
        assert instructions.index("resolve-library-id") < instructions.index("query-docs")

    def test_a_version_it_does_not_speak_gets_the_latest_it_does(self, client):
        for asked in ("2024-11-05", "2099-01-01"):
            result = rpc(client, "initialize", {"protocolVersion": asked, "capabilities": {}}).json()["result"]
            assert result["protocolVersion"] == SUPPORTED_VERSIONS[-1] == "2025-11-25"
        assert SUPPORTED_VERSIONS[0] == "2025-06-18"

    def test_without_a_protocol_version_is_invalid_params_naming_it(self, client):
        error = rpc(client, "initialize", {"capabilities": {}}).json()["error"]

        assert error["code"] == -32602
        assert error["message"].startswith("protocolVersion:")

    def test_ping_answers_an_empty_result(self, client):
        assert rpc(client, "ping", request_id="p-1").json() == {"jsonrpc": "2.0", "id": "p-1", "result": {}}


class TestNotifications:
    def test_a_notification_is_accepted_without_a_body(self, client):
        response = post(client, {"jsonrpc": "2.0", "method": "notifications/initialized"})

        assert response.status_code == 202
        assert response.content == b""
        assert "Content-Type" not in response

    def test_a_clients_response_is_accepted_too(self, client):
        assert post(client, {"jsonrpc": "2.0", "id": 7, "result": {}}).status_code == 202


class TestJsonRpcErrors:
    def test_bad_json_is_a_parse_error(self, client):
        response = post(client, '{"jsonrpc": "2.0", "id": 1,')

        assert response.status_code == 400
        assert response.json() == {
            "jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error: the body is not JSON."},
        }

    def test_a_batch_is_an_invalid_request(self, client):
        response = post(client, [{"jsonrpc": "2.0", "id": 1, "method": "ping"}])

        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == -32600
        assert "batches are not supported" in error["message"]

    @pytest.mark.parametrize("body", ['"ping"', "3", "null"])
    def test_a_message_that_is_not_an_object_is_an_invalid_request(self, client, body):
        response = post(client, body)

        assert response.status_code == 400
        assert response.json()["error"]["code"] == -32600

    @pytest.mark.parametrize("message", [
        {"id": 4, "method": "ping"},
        {"jsonrpc": "1.0", "id": 4, "method": "ping"},
    ])
    def test_without_jsonrpc_2_0_is_an_invalid_request_naming_its_id(self, client, message):
        response = post(client, message)

        assert response.status_code == 400
        assert response.json()["id"] == 4
        assert response.json()["error"] == {"code": -32600, "message": 'Invalid request: "jsonrpc" must be "2.0".'}

    @pytest.mark.parametrize("message, says", [
        ({"jsonrpc": "2.0", "id": 4, "method": 12}, '"method" must be a string'),
        ({"jsonrpc": "2.0", "id": [1], "method": "ping"}, '"id" must be a string or an integer'),
        ({"jsonrpc": "2.0", "id": 4}, '"method" is required'),
    ])
    def test_a_malformed_request_is_an_invalid_request(self, client, message, says):
        response = post(client, message)

        assert response.status_code == 400
        assert response.json()["error"]["code"] == -32600
        assert says in response.json()["error"]["message"]

    def test_an_unknown_method_is_method_not_found(self, client):
        response = rpc(client, "resources/list", request_id=9)

        assert response.status_code == 200
        assert response.json() == {
            "jsonrpc": "2.0", "id": 9, "error": {"code": -32601, "message": "Method not found: resources/list."},
        }

    def test_params_that_are_not_an_object_are_invalid_params(self, client):
        error = rpc(client, "tools/list", [1, 2]).json()["error"]

        assert error == {"code": -32602, "message": "params: must be an object.",
                         "data": {"fields": {"params": ["must be an object."]}}}

    def test_an_unknown_tool_is_invalid_params_naming_the_tools(self, client):
        error = rpc(client, "tools/call", {"name": "search-web", "arguments": {}}).json()["error"]

        assert error["code"] == -32602
        assert error["message"] == (
            "name: unknown tool search-web; the tools are resolve-library-id, query-docs, get-library-docs."
        )

    @pytest.mark.parametrize("arguments, field, message", [
        ({"query": "routing"}, "libraryId", "required."),
        ({"libraryId": 42, "query": "routing"}, "libraryId", "must be a string."),
        ({"libraryId": "/vercel/next.js"}, "query", "required."),
        ({"libraryId": "/vercel/next.js", "question": "x" * 201}, "question", "at most 200 characters."),
        ({"libraryId": "/vercel/next.js", "query": "routing", "tokens": 999}, "tokens",
         "must be an integer from 1000 to 50000."),
        ({"libraryId": "/vercel/next.js", "query": "routing", "tokens": "5000"}, "tokens",
         "must be an integer from 1000 to 50000."),
        ({"libraryId": "/vercel/next.js", "query": "routing", "tokens": True}, "tokens",
         "must be an integer from 1000 to 50000."),
    ])
    def test_bad_arguments_are_invalid_params_naming_the_argument_and_nothing_is_metered(
        self, client, nextjs, arguments, field, message
    ):
        error = rpc(client, "tools/call", {"name": "query-docs", "arguments": arguments}).json()["error"]

        assert error == {"code": -32602, "message": f"{field}: {message}", "data": {"fields": {field: [message]}}}
        assert not UsageLog.objects.exists()

    def test_arguments_that_are_not_an_object_are_invalid_params(self, client):
        error = rpc(client, "tools/call", {"name": "query-docs", "arguments": "next.js"}).json()["error"]

        assert (error["code"], error["message"]) == (-32602, "arguments: must be an object.")


class TestHeadersAndMethods:
    def test_a_supported_protocol_version_header_is_served(self, client):
        for version in SUPPORTED_VERSIONS:
            assert rpc(client, "ping", **{"MCP-Protocol-Version": version}).status_code == 200

    def test_an_unsupported_protocol_version_header_is_400_saying_what_is_supported(self, client):
        response = rpc(client, "ping", **{"MCP-Protocol-Version": "2024-11-05"})

        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == -32022
        assert error["data"] == {"supported": ["2025-06-18", "2025-11-25"], "requested": "2024-11-05"}
        assert "2025-06-18, 2025-11-25" in error["message"]

    def test_a_session_id_is_never_issued_and_one_sent_is_ignored(self, client):
        response = rpc(client, "tools/list", **{"Mcp-Session-Id": "no-such-session"})

        assert response.status_code == 200
        assert "Mcp-Session-Id" not in response
        assert len(response.json()["result"]["tools"]) == 3

    def test_the_path_with_a_slash_is_served_too(self, client):
        response = post(client, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, path="/mcp/")

        assert response.status_code == 200 and response.json()["result"] == {}

    @pytest.mark.parametrize("method", ["get", "delete", "put"])
    def test_other_http_methods_answer_405_allowing_post_even_without_a_key(self, method):
        response = getattr(Client(), method)("/mcp")

        assert response.status_code == 405
        assert response["Allow"] == "POST"
        assert response.json()["error"]["code"] == -32600

    def test_answers_carry_the_rate_limit_headers(self, client):
        response = rpc(client, "ping")

        assert (response["RateLimit-Limit"], response["RateLimit-Remaining"]) == ("60", "59")


class TestAuthentication:
    def _assert_unauthorized(self, response, *, www_authenticate):
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == www_authenticate
        assert response.json()["error"]["code"] == -32010
        return response.json()["error"]["message"]

    def test_without_a_key(self):
        message = self._assert_unauthorized(rpc(Client(), "tools/list"), www_authenticate='Bearer realm="TwinMCP"')
        assert "Authorization: Bearer tmcp_" in message

    def test_with_a_wrong_key(self):
        client = Client(headers={"Authorization": "Bearer tmcp_nokey1234_abcdefghijklmnopqrstuvwxyz"})

        message = self._assert_unauthorized(rpc(client, "tools/list"),
                                            www_authenticate='Bearer realm="TwinMCP", error="invalid_token"')
        assert message == "Invalid, revoked or expired API key."

    def test_with_a_revoked_key(self, customer):
        issued = api_key_create(user=customer, name="Old", scopes=["docs:read"])
        api_key_revoke(api_key=issued.api_key)
        client = Client(headers={"Authorization": f"Bearer {issued.token}"})

        self._assert_unauthorized(rpc(client, "tools/list"),
                                  www_authenticate='Bearer realm="TwinMCP", error="invalid_token"')

    def test_with_a_key_lacking_docs_read(self, customer, nextjs):
        client = mcp_client(customer, scopes=["billing:read"])

        response = rpc(client, "tools/call", {"name": "query-docs", "arguments": {"libraryId": "/vercel/next.js",
                                                                                  "query": "routing"}})

        message = self._assert_unauthorized(
            response, www_authenticate='Bearer realm="TwinMCP", error="insufficient_scope", scope="docs:read"'
        )
        assert message == "This API key lacks the docs:read scope."
        assert not UsageLog.objects.exists()

    def test_a_browser_session_is_not_enough(self, customer):
        browser = Client()
        browser.force_login(customer)

        self._assert_unauthorized(rpc(browser, "tools/list"), www_authenticate='Bearer realm="TwinMCP"')


class TestToolsList:
    def test_lists_the_three_tools_with_their_schemas(self, client):
        tools = {tool["name"]: tool for tool in rpc(client, "tools/list").json()["result"]["tools"]}

        assert list(tools) == ["resolve-library-id", "query-docs", "get-library-docs"]
        for tool in tools.values():
            assert tool["title"] and len(tool["description"]) > 80
            assert tool["inputSchema"]["type"] == "object"
            assert tool["inputSchema"]["additionalProperties"] is True
            assert tool["annotations"]["readOnlyHint"] is True
        assert tools["resolve-library-id"]["inputSchema"]["required"] == ["libraryName"]
        assert set(tools["resolve-library-id"]["inputSchema"]["properties"]) == {"libraryName", "query"}
        query_docs = tools["query-docs"]["inputSchema"]
        assert query_docs["required"] == ["libraryId", "query"]
        assert query_docs["properties"]["tokens"] == {
            "type": "integer", "minimum": 1000, "maximum": 50000, "default": 5000,
            "description": "Token budget of the answer: the chunks returned never add up to more. Metered.",
        }
        alias = tools["get-library-docs"]
        assert alias["inputSchema"]["required"] == ["context7CompatibleLibraryID"]
        assert set(alias["inputSchema"]["properties"]) == {"context7CompatibleLibraryID", "topic", "tokens"}
        assert "older name of query-docs" in alias["description"]


class TestResolveLibraryId:
    def test_finds_the_library_with_its_id_versions_and_chunks_unmetered(self, client, nextjs):
        result = call(client, "resolve-library-id", {"libraryName": "next.js", "query": "How do I route?"})

        assert result["isError"] is False
        text = text_of(result)
        assert "- Next.js — id: /vercel/next.js" in text
        assert "The React framework for the web." in text
        assert "Versions: 15.0.0 (latest, 3 chunks), 14.2.0 (1 chunks)" in text
        found = result["structuredContent"]["libraries"][0]
        assert found == {
            "id": "/vercel/next.js", "name": "Next.js", "description": "The React framework for the web.",
            "versions": ["15.0.0", "14.2.0"], "latestVersion": "15.0.0", "chunks": 3,
        }
        assert not UsageLog.objects.exists()

    def test_no_match_says_so(self, client, nextjs):
        result = call(client, "resolve-library-id", {"libraryName": "zzzqqq"})

        assert result["isError"] is False
        assert text_of(result).startswith('No library matches "zzzqqq".')
        assert result["structuredContent"] == {"libraries": []}

    def test_the_name_is_required(self, client):
        error = rpc(client, "tools/call", {"name": "resolve-library-id", "arguments": {"query": "react"}}).json()

        assert error["error"]["message"] == "libraryName: required."


class TestQueryDocs:
    def test_serves_the_chunks_of_the_rest_endpoint_and_meters_one_call(self, client, customer, nextjs):
        rest = client.get("/api/libraries/vercel/next.js/docs/", {"topic": "routing", "tokens": 5000}).json()
        UsageLog.objects.all().delete()

        result = call(client, "query-docs", {"libraryId": "/vercel/next.js", "query": "routing", "tokens": 5000})

        assert result["isError"] is False
        text = text_of(result)
        assert text.startswith("# Next.js 15.0.0 (id /vercel/next.js/15.0.0): 4500 tokens")
        for chunk in rest["chunks"]:
            assert f"## {chunk['title']}\n\n{chunk['content']}" in text
        assert "Source: https://nextjs.org/docs/app/routing" in text
        structured = result["structuredContent"]
        assert [chunk["title"] for chunk in structured["chunks"]] == [chunk["title"] for chunk in rest["chunks"]]
        assert (structured["version"], structured["tokens"]) == ("15.0.0", rest["tokens"]) == ("15.0.0", 4500)
        [log] = UsageLog.objects.all()
        assert (log.endpoint, log.tokens, log.user, log.library, log.library_version.version, log.status_code) == (
            "mcp:query-docs", 4500, customer, nextjs, "15.0.0", 200,
        )
        assert log.api_key.name == "Assistant"

    def test_the_token_budget_bounds_the_chunks(self, client, nextjs):
        result = call(client, "query-docs", {"libraryId": "/vercel/next.js", "query": "routing", "tokens": 1000})

        assert result["structuredContent"]["tokens"] == 0
        assert "No documentation of /vercel/next.js matches \"routing\"" in text_of(result)
        assert UsageLog.objects.get().tokens == 0

    @pytest.mark.parametrize("library_id", [
        "/vercel/next.js/v14.2.0", "/vercel/next.js/14.2.0", "vercel/next.js/14.2.0",
    ])
    def test_a_version_in_the_id_with_or_without_its_v(self, client, nextjs, library_id):
        result = call(client, "query-docs", {"libraryId": library_id, "query": "routing"})

        assert result["structuredContent"]["version"] == "14.2.0"
        assert "## Pages router" in text_of(result)
        assert UsageLog.objects.get().library_version.version == "14.2.0"

    def test_a_version_stored_with_its_v(self, client):
        version = LibraryVersionFactory(library__slug="acme/widgets", version="v2.0.0")
        DocumentationChunkFactory(version=version, title="Widgets", content="Widgets widgets.", tokens=100)

        result = call(client, "query-docs", {"libraryId": "/acme/widgets/2.0.0", "query": "widgets"})

        assert result["structuredContent"]["version"] == "v2.0.0"

    @pytest.mark.parametrize("arguments", [
        {"context7CompatibleLibraryID": "/vercel/next.js", "topic": "routing"},
        {"libraryName": "/vercel/next.js", "userQuery": "routing"},
        {"libraryId": "/vercel/next.js", "question": "routing"},
    ])
    def test_accepts_the_argument_names_assistants_send(self, client, nextjs, arguments):
        result = call(client, "query-docs", arguments)

        assert [chunk["title"] for chunk in result["structuredContent"]["chunks"]] == ["Routing", "Data fetching"]
        assert UsageLog.objects.get().endpoint == "mcp:query-docs"

    def test_an_unknown_library_is_a_tool_error_pointing_to_resolve_library_id(self, client, nextjs):
        result = call(client, "query-docs", {"libraryId": "/vercel/nope", "query": "routing"})

        assert result["isError"] is True
        assert text_of(result) == (
            'No library or version "/vercel/nope" here. Call resolve-library-id with the library\'s name to find its '
            "id, then call query-docs with it."
        )
        assert not UsageLog.objects.exists()

    def test_an_unknown_version_is_one_too(self, client, nextjs):
        result = call(client, "query-docs", {"libraryId": "/vercel/next.js/v99", "query": "routing"})

        assert result["isError"] is True
        assert not UsageLog.objects.exists()


class TestGetLibraryDocs:
    def test_the_older_name_serves_the_same_and_is_metered_under_its_name(self, client, nextjs):
        result = call(client, "get-library-docs", {"context7CompatibleLibraryID": "/vercel/next.js",
                                                   "topic": "routing", "tokens": 2000})

        assert [chunk["title"] for chunk in result["structuredContent"]["chunks"]] == ["Routing"]
        [log] = UsageLog.objects.all()
        assert (log.endpoint, log.tokens) == ("mcp:get-library-docs", 1500)

    def test_without_a_topic_serves_the_chunks_in_order_within_the_default_budget(self, client, nextjs):
        result = call(client, "get-library-docs", {"libraryId": "/vercel/next.js"})

        # 600 + 1,500 tokens; the 3,000 of Data fetching would pass the 5,000 of the default budget.
        assert [chunk["title"] for chunk in result["structuredContent"]["chunks"]] == ["Installation", "Routing"]
        assert UsageLog.objects.get().tokens == 2100


def assert_refused(result, *, says: list[str]):
    assert result["isError"] is True
    text = text_of(result)
    for words in says:
        assert words in text, text
    assert "Upgrade your plan or pay on http://testserver/billing/." in text
    return text


DOCS_CALL = {"libraryId": "/vercel/next.js", "query": "routing"}


class TestRefusals:
    def test_a_hard_capped_plan_used_up_says_when_it_resets_and_where_to_upgrade(self, nextjs):
        user = UserFactory()
        subscribe(user, code="free", name="Free", included_tokens=100_000, overage_price_per_million=Decimal("0"))
        UsageLog.objects.create(user=user, endpoint="mcp:query-docs", tokens=100_000, created_at=timezone.now())

        result = call(mcp_client(user), "query-docs", DOCS_CALL)

        # The period ends on 1 February 2027 at 00:00 in Paris: 31 January, 23:00 UTC.
        assert_refused(result, says=[
            "Quota reached. You have used the 100,000 tokens included in your Free plan this period; calls resume on "
            "2027-02-01",
            "It resets in 1436390 seconds (Retry-After), at 2027-01-31 23:00 UTC.",
        ])
        error = result["structuredContent"]["error"]
        assert (error["code"], error["retryAfter"], error["resetsAt"]) == (
            "quota_exceeded", 1436390, "2027-01-31T23:00:00+00:00",
        )
        assert UsageLog.objects.count() == 1

    def test_the_spend_cap_reached(self, nextjs):
        user = UserFactory()
        subscribe(user, included_tokens=1000, overage_price_per_million=Decimal("2.00"))
        UserProfileFactory(user=user, monthly_spend_cap=Decimal("10.00"))
        UsageLog.objects.create(user=user, endpoint="mcp:query-docs", tokens=1000 + 5_000_000,
                                created_at=timezone.now())

        result = call(mcp_client(user), "query-docs", DOCS_CALL)

        assert_refused(result, says=["Spend cap reached. Your overage this period reached your monthly spend cap "
                                     "of 10.00 EUR: metered calls are refused until 2027-02-01"])
        assert result["structuredContent"]["error"]["code"] == "spend_cap_reached"
        assert UsageLog.objects.count() == 1

    def test_an_unpaid_invoice_suspends_calls(self, nextjs):
        user = make_customer()
        subscription = SubscriptionFactory(user=user, current_period_start=datetime.date(2026, 12, 1),
                                           current_period_end=datetime.date(2027, 1, 1))
        november = invoice_finalize(
            invoice=InvoiceFactory(subscription=subscription, period_start=datetime.date(2026, 11, 1),
                                   period_end=datetime.date(2026, 12, 1)),
            now=paris(2026, 11, 1, 9),
        )
        client = mcp_client(user)

        with time_machine.travel(paris(2026, 12, 16, 10), tick=False):
            result = call(client, "query-docs", DOCS_CALL)
            resolved = call(client, "resolve-library-id", {"libraryName": "next.js"})

        assert_refused(result, says=[
            f"Access suspended for an unpaid invoice. Invoice {november.number} (22.80 EUR, due 2026-12-01) is "
            f"unpaid: metered calls are suspended until it is paid. Pay it on /billing/invoices/{november.pk}/.",
        ])
        assert result["structuredContent"]["error"]["code"] == "payment_required"
        assert resolved["isError"] is False  # finding a library is not metered
        assert not UsageLog.objects.exists()

    def test_no_subscription(self, nextjs):
        result = call(mcp_client(UserFactory()), "query-docs", DOCS_CALL)

        assert_refused(result, says=["No active subscription. Metered calls need an active subscription"])
        assert result["structuredContent"]["error"]["code"] == "subscription_required"
        assert not UsageLog.objects.exists()


class TestRequestsPerMinute:
    def test_every_request_counts_a_tool_call_over_the_rate_is_a_tool_error_and_others_429(self, nextjs):
        user = UserFactory()
        subscribe(user, requests_per_minute=3)
        client = mcp_client(user)

        assert rpc(client, "initialize", {"protocolVersion": "2025-06-18"}).status_code == 200
        assert post(client, {"jsonrpc": "2.0", "method": "notifications/initialized"}).status_code == 202
        assert rpc(client, "tools/list").status_code == 200
        assert call(client, "query-docs", DOCS_CALL)["isError"] is False
        refused = call(client, "query-docs", DOCS_CALL)
        listed = rpc(client, "tools/list", request_id=5)

        assert_refused(refused, says=["Rate limit reached: this API key's requests per minute are used up. It resets "
                                      "in 50 seconds (Retry-After), at 2027-01-15 08:01 UTC."])
        assert refused["structuredContent"]["error"]["retryAfter"] == 50
        assert listed.status_code == 429
        assert listed["Retry-After"] == "50"
        assert listed.json() == {"jsonrpc": "2.0", "id": 5, "error": {
            "code": -32011, "message": "Rate limit reached: this API key's requests per minute are used up. Retry "
            "in 50 seconds.", "data": {"retryAfter": 50},
        }}
        assert UsageLog.objects.count() == 1
