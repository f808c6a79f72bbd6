"""`docs_serve`: one usage log per call, written by a statement built once from the model, as the ORM would."""
import datetime

import pytest
from django.http import Http404

from accounts.services import api_key_create
from accounts.tests.factories import UserFactory
from libraries.models import UsageLog
from libraries.services import docs_serve
from libraries.tests.factories import DocumentationChunkFactory, LibraryVersionFactory

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 11, 24, 9, 30, tzinfo=datetime.UTC)


@pytest.fixture
def version():
    version = LibraryVersionFactory(library__slug="acme/widgets", version="2.0.0", is_latest=True)
    DocumentationChunkFactory(version=version, title="Widgets", content="Widgets render themselves.", tokens=700)
    DocumentationChunkFactory(version=version, title="Gadgets", content="Gadgets hold widgets.", tokens=400)
    return version


def serve(user, **kwargs):
    return docs_serve(**{"user": user, "api_key": None, "slug": "acme/widgets", "topic": "widgets",
                         "token_budget": 1000, "endpoint": "/api/libraries/acme/widgets/docs/", "now": NOW, **kwargs})


class TestUsageLogWritten:
    def test_every_field_as_the_model_would_store_it(self, version):
        user = UserFactory()
        key = api_key_create(user=user, name="Laptop", scopes=["docs:read"]).api_key

        answer = serve(user, api_key=key, endpoint="/api/libraries/acme/widgets/docs/" + "x" * 300)

        [log] = UsageLog.objects.all()
        assert (log.user, log.api_key, log.library, log.library_version) == (user, key, version.library, version)
        assert log.tokens == answer.tokens == 700
        assert log.endpoint == ("/api/libraries/acme/widgets/docs/" + "x" * 300)[:200]
        assert (log.status_code, log.created_at) == (200, NOW)
        assert log.duration_ms >= 0
        assert len(log.event_id) == 32

    def test_each_call_is_a_new_event(self, version):
        user = UserFactory()

        serve(user)
        serve(user, topic=None)

        assert UsageLog.objects.values("event_id").distinct().count() == 2
        assert sorted(UsageLog.objects.values_list("tokens", flat=True)) == [700, 700]

    def test_an_unknown_version_writes_nothing(self, version):
        with pytest.raises(Http404):
            serve(UserFactory(), version="9.9.9")

        assert not UsageLog.objects.exists()

    def test_the_throttles_hear_of_the_usage_only_once_it_is_committed(
        self, version, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks() as callbacks:
            serve(UserFactory())

        assert len(callbacks) == 1


class TestOneStatement:
    """A docs call reads the version, chooses its chunks and writes its usage row in one SQL statement."""

    def test_the_version_the_chunks_and_the_usage_row_are_one_statement(self, version, django_assert_num_queries):
        user = UserFactory()

        with django_assert_num_queries(1):
            answer = serve(user)

        assert (answer.version, answer.library) == (version, version.library)
        assert [chunk.title for chunk in answer.chunks] == ["Widgets"]
        assert UsageLog.objects.get().tokens == answer.tokens == 700

    def test_a_budget_nothing_fits_in_answers_the_version_and_logs_zero_tokens(self, version):
        answer = serve(UserFactory(), token_budget=100)

        assert (answer.version, answer.chunks, answer.tokens) == (version, [], 0)
        assert UsageLog.objects.get().tokens == 0

    def test_a_version_by_name_without_a_topic(self, version):
        older = LibraryVersionFactory(library=version.library, version="1.0.0", is_latest=False)
        DocumentationChunkFactory(version=older, title="Old", content="Old widgets.", tokens=300, position=1)
        DocumentationChunkFactory(version=older, title="Older", content="Older widgets.", tokens=200, position=2)

        answer = serve(UserFactory(), version="1.0.0", topic=None, token_budget=450)

        assert answer.version == older
        assert [chunk.title for chunk in answer.chunks] == ["Old"]
        log = UsageLog.objects.get()
        assert (log.library_version, log.library, log.tokens) == (older, version.library, 300)
