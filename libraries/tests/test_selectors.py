"""Reads of the docs API: the version asked for (one SQL statement), and the full-text search of documentation
chunks on PostgreSQL: the stored `search_vector` column (migration 0004) stays current with each write, the
queries read it instead of computing `to_tsvector`, and ranks hold."""
import datetime

import pytest
from django.db import connection
from django.http import Http404

from libraries.models import DocumentationChunk, LibraryVersion
from libraries.selectors import (
    CHUNK_TOPIC_SQL,
    LIBRARY_SEARCH_SQL,
    documentation_chunks_best,
    library_search,
    library_version_get,
)
from libraries.tests.factories import DocumentationChunkFactory, LibraryFactory, LibraryVersionFactory

pytestmark = pytest.mark.django_db

SEARCH_INDEX = "libraries_chunk_search_vector_idx"
TOPICS = ("routing", "caching", "authentication", "middleware", "testing", "deployment", "forms", "streaming")


def stored_lexemes(chunk) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tsvector_to_array(search_vector) FROM libraries_documentationchunk WHERE id = %s",
                       [chunk.pk])
        return set(cursor.fetchone()[0])


def plan_of(sql: str, params: dict) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.fixture
def catalogue() -> list[LibraryVersion]:
    """The benchmark's shape: 20 versions of 200 chunks of about 1,000 characters, one topic in eight each; one
    chunk of the first version also mentions a rare word. Analyzed and the search index's pending list merged,
    as autovacuum would have by then (VACUUM itself cannot run in the test's transaction)."""
    versions = [LibraryVersionFactory(library=LibraryFactory(), version="1.0.0", is_latest=True) for _ in range(20)]
    DocumentationChunk.objects.bulk_create(
        DocumentationChunk(
            version=version, position=position, tokens=120 + (position * 37) % 400,
            title=f"{TOPICS[position % len(TOPICS)].title()}: part {position}",
            content=" ".join(
                f"How {TOPICS[position % len(TOPICS)]} works, step {k}: set the options of part {position}, then "
                "call the handler and check what it returns." for k in range(12)
            ) + (" Mind the hydration mismatch." if (version, position) == (versions[0], 7) else ""),
        )
        for version in versions
        for position in range(200)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE libraries_documentationchunk")
        cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [SEARCH_INDEX])
    return versions


def released(day: int) -> datetime.datetime:
    return datetime.datetime(2026, 1, day, tzinfo=datetime.UTC)


class TestLibraryVersionGet:
    def test_the_version_named_with_its_library_loaded(self):
        library = LibraryFactory(slug="vercel/next.js", name="Next.js")
        LibraryVersionFactory(library=library, version="15.0.0", is_latest=True, released_at=released(2))
        old = LibraryVersionFactory(library=library, version="14.2.0", released_at=released(1))

        found = library_version_get(slug="vercel/next.js", version="14.2.0")

        assert found == old
        assert (found.version, found.is_latest, found.released_at) == ("14.2.0", False, released(1))
        assert (found.library.slug, found.library.name) == ("vercel/next.js", "Next.js")

    def test_without_a_name_the_latest_wins_over_a_newer_release(self):
        library = LibraryFactory()
        latest = LibraryVersionFactory(library=library, is_latest=True, released_at=released(1))
        LibraryVersionFactory(library=library, released_at=released(9))

        assert library_version_get(slug=library.slug) == latest

    def test_without_a_latest_the_newest_release_then_the_newest_row(self):
        library = LibraryFactory()
        LibraryVersionFactory(library=library, released_at=released(1))
        newest = LibraryVersionFactory(library=library, released_at=released(5))
        LibraryVersionFactory(library=library, released_at=None)  # unreleased: after every released one

        assert library_version_get(slug=library.slug) == newest

        other = LibraryFactory()
        first, second = LibraryVersionFactory(library=other), LibraryVersionFactory(library=other)
        assert first.pk < second.pk
        assert library_version_get(slug=other.slug) == second

    @pytest.mark.parametrize("version", ["9.9.9", None])
    def test_an_unknown_library_or_version_is_404(self, version):
        LibraryVersionFactory(library=LibraryFactory(slug="acme/known"), version="1.0.0")

        with pytest.raises(Http404):
            library_version_get(slug="acme/known" if version else "acme/unknown", version=version)


class TestStoredVector:
    def test_a_new_chunk_is_indexed_on_insert(self):
        chunk = DocumentationChunkFactory(title="Routing", content="Dynamic segments use brackets.")

        assert {"rout", "dynam", "segment", "bracket"} <= stored_lexemes(chunk)

    def test_a_chunk_whose_content_changes_is_indexed_again(self):
        chunk = DocumentationChunkFactory(title="Routing", content="Dynamic segments use brackets.")

        chunk.title, chunk.content = "Caching", "Revalidate the fetch cache."
        chunk.save()
        DocumentationChunk.objects.filter(pk=chunk.pk).update(content="Streaming with suspense.")

        lexemes = stored_lexemes(chunk)
        assert {"cach", "stream", "suspens"} <= lexemes
        assert not lexemes & {"rout", "bracket", "revalid"}
        assert documentation_chunks_best(version=chunk.version, topic="suspense", token_budget=100) == [chunk]
        assert documentation_chunks_best(version=chunk.version, topic="brackets", token_budget=100) == []


class TestQueryPlans:
    def test_the_topic_query_filters_the_version_and_reads_the_stored_vector(self, catalogue):
        plan = plan_of(CHUNK_TOPIC_SQL, {"topic": "routing", "version_id": catalogue[0].pk})

        assert "to_tsvector" not in plan
        assert "search_vector @@" in plan
        assert "Seq Scan" not in plan  # the version's rows by index, not the whole table

    def test_a_rare_topic_is_found_with_the_search_index_and_the_version_filter(self, catalogue):
        plan = plan_of(CHUNK_TOPIC_SQL, {"topic": "hydration", "version_id": catalogue[0].pk})

        assert SEARCH_INDEX in plan
        assert "version_id =" in plan
        assert "to_tsvector" not in plan

    def test_the_library_search_finds_chunks_with_the_search_index(self, catalogue):
        plan = plan_of(LIBRARY_SEARCH_SQL, {"text": "hydration", "exact": "hydration", "like": "%hydration%",
                                            "limit": 500})

        assert SEARCH_INDEX in plan
        assert "to_tsvector('english'::regconfig, (((c.title" not in plan


class TestRanking:
    def test_chunks_that_say_more_about_the_topic_come_first(self):
        version = LibraryVersionFactory()
        passing = DocumentationChunkFactory(version=version, title="Overview", content="Caching is mentioned once.",
                                            position=0, tokens=10)
        focused = DocumentationChunkFactory(version=version, title="Caching", position=1, tokens=10,
                                            content="Caching: the cache keeps pages; cached pages skip rendering.")
        DocumentationChunkFactory(version=version, title="Forms", content="Forms post to actions.", position=2,
                                  tokens=10)

        assert documentation_chunks_best(version=version, topic="caching", token_budget=100) == [focused, passing]

    def test_only_the_version_asked_for_is_searched(self, catalogue):
        chunks = documentation_chunks_best(version=catalogue[1], topic="routing", token_budget=100_000)

        assert len(chunks) == 25
        assert {chunk.version_id for chunk in chunks} == {catalogue[1].pk}
        assert documentation_chunks_best(version=catalogue[1], topic="hydration", token_budget=1000) == []

    def test_the_library_search_still_finds_libraries_by_their_chunks(self, catalogue):
        named = LibraryFactory(slug="acme/hydration", name="Hydration", description="Hydration helpers.")

        ids = library_search(query="hydration").ids

        assert ids == [named.pk, catalogue[0].library_id]
