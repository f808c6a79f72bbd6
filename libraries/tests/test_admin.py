import pytest
from django.apps import apps

from accounts.tests.admin_helpers import (
    admin_url,
    changelist_rows,
    every_model_is_browsable,
    unchanged_form_data,
)
from accounts.tests.factories import ApiKeyFactory
from libraries.models import DocumentationChunk, Library, LibraryVersion, UsageEventId, UsageLog
from libraries.tests.factories import (
    DocumentationChunkFactory,
    LibraryFactory,
    LibraryVersionFactory,
    UsageLogFactory,
)

MODELS = list(apps.get_app_config("libraries").get_models())


def make_libraries_rows() -> dict:
    """One row of every libraries model: a library, its latest version, a chunk, and a call that read it."""
    chunk = DocumentationChunkFactory(version=LibraryVersionFactory(is_latest=True))
    version = chunk.version
    api_key = ApiKeyFactory()
    usage = UsageLogFactory(user=api_key.user, api_key=api_key, library=version.library, library_version=version)
    # PostgreSQL registers the event id by trigger (libraries.partitions).
    event_id = UsageEventId.objects.get(event_id=usage.event_id)
    return {
        Library: version.library, LibraryVersion: version, DocumentationChunk: chunk, UsageLog: usage,
        UsageEventId: event_id,
    }


@pytest.fixture
def rows(db):
    return make_libraries_rows()


TestEveryModelIsBrowsable = every_model_is_browsable(MODELS, make_libraries_rows)


@pytest.mark.django_db
class TestSearch:
    def test_libraries_are_found_by_slug(self, admin_client):
        nextjs = LibraryFactory(slug="vercel/next.js", name="Next.js")
        LibraryFactory(slug="facebook/react", name="React")

        assert changelist_rows(admin_client, Library, q="next") == [nextjs]

    def test_versions_are_found_by_library(self, admin_client):
        nextjs = LibraryVersionFactory(library=LibraryFactory(slug="vercel/next.js"), version="15.0.0")
        LibraryVersionFactory(library=LibraryFactory(slug="facebook/react"), version="15.0.0")

        assert changelist_rows(admin_client, LibraryVersion, q="vercel") == [nextjs]

    def test_chunks_are_found_by_title(self, admin_client):
        routing = DocumentationChunkFactory(title="Routing")
        DocumentationChunkFactory(title="Caching")

        assert changelist_rows(admin_client, DocumentationChunk, q="rout") == [routing]

    def test_usage_is_found_by_exact_api_key_prefix(self, admin_client):
        wanted = UsageLogFactory(api_key=ApiKeyFactory(prefix="abc12345"))
        UsageLogFactory(api_key=ApiKeyFactory(prefix="abc123456"))

        assert changelist_rows(admin_client, UsageLog, q="abc12345") == [wanted]

    def test_usage_is_found_by_event_id(self, admin_client):
        wanted = UsageLogFactory(event_id="evt-1")
        UsageLogFactory(event_id="evt-10")

        assert changelist_rows(admin_client, UsageLog, q="evt-1") == [wanted]


@pytest.mark.django_db
class TestUsageLogIsALedger:
    def test_cannot_be_added_changed_or_deleted(self, admin_client, rows):
        usage = rows[UsageLog]

        assert admin_client.get(admin_url(UsageLog, "add")).status_code == 403
        assert admin_client.post(admin_url(usage, "change"), {"tokens": 1}).status_code == 403
        assert admin_client.post(admin_url(usage, "delete"), {"post": "yes"}).status_code == 403
        usage.refresh_from_db()
        assert usage.tokens == 1000

    def test_failed_calls_are_filtered_by_outcome(self, admin_client):
        UsageLogFactory(status_code=200)
        refused = UsageLogFactory(status_code=429)

        assert changelist_rows(admin_client, UsageLog, outcome="client_error") == [refused]


@pytest.mark.django_db
class TestVersionPage:
    def test_chunks_are_listed_but_edited_on_their_own_page(self, admin_client, rows):
        response = admin_client.get(admin_url(rows[LibraryVersion], "change"))

        inlines = response.context["inline_admin_formsets"]
        (chunks,) = [inline for inline in inlines if inline.opts.model is DocumentationChunk]
        assert not (chunks.has_add_permission or chunks.has_change_permission or chunks.has_delete_permission)
        assert admin_url(rows[DocumentationChunk], "change") in response.content.decode()

    def test_a_library_page_edits_its_versions(self, admin_client, rows):
        library = rows[Library]
        response = admin_client.get(admin_url(library, "change"))
        data = unchanged_form_data(response) | {"versions-0-version": "2.0.0"}

        assert admin_client.post(admin_url(library, "change"), data).status_code == 302
        assert library.versions.get().version == "2.0.0"
