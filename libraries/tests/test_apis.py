"""The docs API: search, detail, docs within a token budget, metering, and the throttling hook.

The plan-based throttles are billing's (billing/tests/test_throttles.py); here a small throttle named in
settings stands in for them, which is the whole contract between the two apps.
"""
import pytest
from django.core.cache import cache
from django.test import override_settings
from rest_framework.test import APIClient
from rest_framework.throttling import BaseThrottle

from accounts.ratelimit import RateLimit, rate_limit_record
from accounts.services import api_key_create
from libraries.models import UsageLog
from libraries.serializers import DocsOutputSerializer
from libraries.services import docs_serve
from libraries.tests.factories import DocumentationChunkFactory, LibraryFactory, LibraryVersionFactory

pytestmark = pytest.mark.django_db

THROTTLE = "libraries.tests.test_apis.TenPerTestThrottle"


class TenPerTestThrottle(BaseThrottle):
    """Ten requests per caller, counted in the cache; records what the hook told it."""

    limit = 10
    recorded: list = []

    def _key(self, request):
        return f"test-throttle:{request.user.pk if request.user.is_authenticated else 'anonymous'}"

    def allow_request(self, request, view):
        key = self._key(request)
        cache.add(key, 0)
        count = cache.incr(key)
        rate_limit_record(request, RateLimit(limit=self.limit, remaining=self.limit - count, reset=42))
        return count <= self.limit

    def wait(self):
        return 42

    def rate_limit_peek(self, request):
        return RateLimit(limit=self.limit, remaining=self.limit - (cache.get(self._key(request)) or 0), reset=42)

    @classmethod
    def usage_recorded(cls, usages):
        cls.recorded.extend(usages)


@pytest.fixture(autouse=True)
def _test_throttle(settings):
    settings.DOCS_API_THROTTLE_CLASSES = [THROTTLE]
    TenPerTestThrottle.recorded = []


@pytest.fixture
def client(customer):
    token = api_key_create(user=customer, name="Laptop", scopes=["docs:read"]).token
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def nextjs():
    library = LibraryFactory(slug="vercel/next.js", name="Next.js", description="The React framework for the web.")
    old = LibraryVersionFactory(library=library, version="14.2.0")
    latest = LibraryVersionFactory(library=library, version="15.0.0", is_latest=True)
    DocumentationChunkFactory(version=old, title="Pages router", content="Routing with the pages directory.",
                              tokens=800, position=0)
    DocumentationChunkFactory(version=latest, title="Installation", content="Run create-next-app to start.",
                              tokens=600, position=0)
    DocumentationChunkFactory(version=latest, title="Routing", content="The app router maps folders to routes. "
                              "Dynamic routes use brackets.", tokens=1500, position=1,
                              source_url="https://nextjs.org/docs/app/routing")
    DocumentationChunkFactory(version=latest, title="Data fetching", content="Fetch data in server components; "
                              "routes can be static or dynamic.", tokens=3000, position=2)
    DocumentationChunkFactory(version=latest, title="Deploying", content="Deploy anywhere Node runs.",
                              tokens=900, position=3)
    return library


def docs_url(slug="vercel/next.js"):
    return f"/api/libraries/{slug}/docs/"


class TestLibrarySearch:
    def test_lists_every_library_by_slug_without_a_query(self, client, nextjs):
        LibraryFactory(slug="django/django", name="Django")

        response = client.get("/api/libraries/")

        assert response.status_code == 200
        assert [row["slug"] for row in response.json()["results"]] == ["django/django", "vercel/next.js"]
        assert response.json()["results"][1]["latest_version"] == "15.0.0"

    def test_finds_libraries_by_their_documentation_and_ranks_names_first(self, client, nextjs):
        router = LibraryFactory(slug="remix-run/react-router", name="React Router",
                                description="Declarative routing for React.")
        LibraryFactory(slug="pallets/flask", name="Flask", description="A micro web framework.")

        response = client.get("/api/libraries/", {"q": "routing"})

        assert response.status_code == 200
        slugs = [row["slug"] for row in response.json()["results"]]
        assert slugs[0] == router.slug  # in its name and description
        assert "vercel/next.js" in slugs  # in its chunks only
        assert "pallets/flask" not in slugs

    def test_matches_a_slug_with_its_punctuation(self, client, nextjs):
        response = client.get("/api/libraries/", {"q": "next.js"})

        assert [row["slug"] for row in response.json()["results"]] == ["vercel/next.js"]

    def test_search_results_are_cached(self, client, nextjs):
        first = client.get("/api/libraries/", {"q": "framework"})
        LibraryFactory(slug="pallets/flask", name="Flask", description="A micro web framework.")

        cached = client.get("/api/libraries/", {"q": "framework"})
        cache.clear()
        fresh = client.get("/api/libraries/", {"q": "framework"})

        assert [row["slug"] for row in first.json()["results"]] == ["vercel/next.js"]
        assert cached.json()["results"] == first.json()["results"]
        assert {row["slug"] for row in fresh.json()["results"]} == {"vercel/next.js", "pallets/flask"}

    def test_results_are_paginated_in_rank_order(self, client):
        for n in range(30):
            LibraryFactory(slug=f"acme/widget-{n:02d}", name=f"Widget {n:02d}", description="Widgets.")

        first = client.get("/api/libraries/", {"q": "widget"}).json()
        second = client.get("/api/libraries/", {"q": "widget", "page": 2}).json()

        assert first["count"] == second["count"] == 30
        slugs = [row["slug"] for row in first["results"] + second["results"]]
        assert slugs == sorted(slugs)  # equal ranks: by slug
        assert len(set(slugs)) == 30

    def test_a_query_too_long_is_refused_naming_q(self, client):
        response = client.get("/api/libraries/", {"q": "x" * 201})

        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == ["q"]

    def test_needs_credentials(self, nextjs):
        response = APIClient().get("/api/libraries/")

        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"


class TestLibraryDetail:
    def test_a_slug_with_a_slash(self, client, nextjs):
        response = client.get("/api/libraries/vercel/next.js/")

        assert response.status_code == 200
        body = response.json()
        assert body["slug"] == "vercel/next.js"
        assert body["latest_version"] == "15.0.0"
        assert {version["version"] for version in body["versions"]} == {"14.2.0", "15.0.0"}

    def test_an_unknown_slug_is_404_in_the_error_shape(self, client):
        response = client.get("/api/libraries/nobody/nothing/")

        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


class TestDocs:
    def test_best_chunks_of_the_latest_version_within_the_budget(self, client, customer, nextjs):
        response = client.get(docs_url(), {"topic": "routes", "tokens": 2000})

        assert response.status_code == 200
        body = response.json()
        assert body["library"] == "vercel/next.js"
        assert body["version"] == "15.0.0"
        assert body["topic"] == "routes"
        # Routing (1,500) is the best match; Data fetching (3,000) would not fit in what is left.
        assert [chunk["title"] for chunk in body["chunks"]] == ["Routing"]
        assert body["chunks"][0]["source_url"] == "https://nextjs.org/docs/app/routing"
        assert body["tokens"] == 1500

    def test_the_answer_is_what_its_documented_serializer_writes(self, client, customer, nextjs):
        body = client.get(docs_url()).json()

        answer = docs_serve(user=customer, api_key=None, slug="vercel/next.js", topic=None, token_budget=5000,
                            endpoint="test")
        assert body == DocsOutputSerializer(answer).data
        assert {chunk["source_url"] for chunk in body["chunks"]} >= {"https://nextjs.org/docs/app/routing"}

    def test_each_call_writes_one_usage_log_with_the_tokens_returned(self, client, customer, nextjs):
        response = client.get(docs_url(), {"topic": "routes", "tokens": 5000})

        [log] = UsageLog.objects.all()
        assert log.user == customer
        assert log.api_key.user == customer
        assert log.library == nextjs
        assert log.library_version.version == "15.0.0"
        assert log.tokens == response.json()["tokens"] == 4500
        assert log.endpoint == "/api/libraries/vercel/next.js/docs/"
        assert log.status_code == 200
        assert log.event_id

    def test_without_a_topic_chunks_come_in_order_up_to_the_default_budget(self, client, nextjs):
        body = client.get(docs_url()).json()

        # 600 + 1,500 + 3,000 = 5,100 > 5,000: Data fetching is skipped, Deploying still fits.
        assert [chunk["title"] for chunk in body["chunks"]] == ["Installation", "Routing", "Deploying"]
        assert body["tokens"] == 3000

    def test_an_older_version_on_request(self, client, nextjs):
        body = client.get(docs_url(), {"version": "14.2.0"}).json()

        assert body["version"] == "14.2.0"
        assert [chunk["title"] for chunk in body["chunks"]] == ["Pages router"]

    def test_the_hook_hears_of_the_metered_tokens(self, client, customer, nextjs, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            client.get(docs_url(), {"topic": "routes", "tokens": 2000})

        [usage] = TenPerTestThrottle.recorded
        assert (usage.user_id, usage.tokens) == (customer.pk, 1500)

    def test_a_browser_session_may_read_the_docs(self, customer, nextjs):
        client = APIClient()
        client.force_login(customer)

        assert client.get(docs_url()).status_code == 200
        assert UsageLog.objects.get().api_key is None

    @pytest.mark.parametrize(
        "params",
        [{"tokens": 999}, {"tokens": 50_001}, {"tokens": "lots"}, {"tokens": ""}],
    )
    def test_a_bad_budget_is_400_naming_tokens_and_nothing_is_written(self, client, nextjs, params):
        response = client.get(docs_url(), params)

        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == ["tokens"]
        assert not UsageLog.objects.exists()

    @pytest.mark.parametrize("url", [docs_url("vercel/nope"), docs_url() + "?version=99.0.0"])
    def test_an_unknown_library_or_version_is_404_and_nothing_is_written(self, client, nextjs, url):
        response = client.get(url)

        assert response.status_code == 404
        assert not UsageLog.objects.exists()

    def test_401_without_a_key(self, nextjs):
        response = APIClient().get(docs_url())

        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert not UsageLog.objects.exists()

    def test_401_with_a_revoked_or_made_up_key(self, nextjs):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Bearer tmcp_deadbeef_not-a-secret")

        assert client.get(docs_url()).status_code == 401

    def test_a_key_without_docs_read_is_403(self, customer, nextjs):
        token = api_key_create(user=customer, name="Server", scopes=["usage:write"]).token
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

        assert client.get(docs_url()).status_code == 403
        assert not UsageLog.objects.exists()

    def test_nul_characters_in_the_input_match_nothing_rather_than_fail(self, client, nextjs):
        assert client.get(docs_url(), {"topic": "rou\x00tes"}).status_code == 200
        assert client.get(docs_url(), {"version": "15.0.0\x00"}).status_code == 404
        assert client.get(docs_url("vercel/next\x00.js")).status_code == 404
        assert client.get("/api/libraries/", {"q": "next\x00"}).status_code == 200


class TestThrottlingHook:
    def test_every_answer_carries_the_rate_limit_headers(self, client, nextjs):
        for response in (
            client.get("/api/libraries/"),
            client.get("/api/libraries/vercel/next.js/"),
            client.get(docs_url()),
            client.get(docs_url(), {"tokens": 1}),  # 400
            client.get(docs_url("nobody/nothing")),  # 404
        ):
            assert response["RateLimit-Limit"] == "10", response.status_code
            assert int(response["RateLimit-Remaining"]) >= 0
            assert response["RateLimit-Reset"] == "42"

    def test_an_answer_refused_before_the_throttles_carries_the_api_wide_window(self, nextjs):
        response = APIClient().get(docs_url())

        assert response.status_code == 401
        assert int(response["RateLimit-Remaining"]) == int(response["RateLimit-Limit"]) > 0  # peeked, not counted

    def test_a_refusal_is_429_with_retry_after_and_nothing_is_written(self, client, nextjs):
        for _ in range(10):
            assert client.get(docs_url()).status_code == 200

        response = client.get(docs_url())

        assert response.status_code == 429
        assert response.json()["error"]["code"] == "throttled"
        assert response["Retry-After"] == "42"
        assert response["RateLimit-Remaining"] == "0"
        assert UsageLog.objects.count() == 10

    @override_settings(DOCS_API_THROTTLE_CLASSES=[])
    def test_without_throttles_of_its_own_the_docs_api_has_the_api_wide_rate(self, client, nextjs):
        response = client.get(docs_url())

        assert response.status_code == 200
        assert response["RateLimit-Limit"] != "10"
        assert int(response["RateLimit-Remaining"]) == int(response["RateLimit-Limit"]) - 1


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


class TestWithoutRedis:
    def test_search_and_docs_answer_uncached(self, client, nextjs):
        with override_settings(CACHES=REDIS_DOWN, DOCS_API_THROTTLE_CLASSES=[]):
            search = client.get("/api/libraries/", {"q": "routing"})
            docs = client.get(docs_url(), {"topic": "routes"})

        assert search.status_code == 200
        assert [row["slug"] for row in search.json()["results"]] == ["vercel/next.js"]
        assert docs.status_code == 200
        assert UsageLog.objects.count() == 1


class TestPagination:
    @pytest.mark.parametrize("page", ["", "last", "0", "2", "two"])
    def test_a_page_that_is_not_a_page_number_in_range_is_404(self, client, nextjs, page):
        response = client.get("/api/libraries/", {"page": page})

        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"

    def test_page_one(self, client, nextjs):
        assert client.get("/api/libraries/", {"page": "1"}).json()["count"] == 1
