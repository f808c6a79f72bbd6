"""Reads of the catalogue: library search, one library, the version asked for and its best chunks.

Search and topic matching use PostgreSQL full-text search (`websearch_to_tsquery`, ranked with `ts_rank`)
over the chunks' stored `search_vector` column and its GIN index (migration 0004), and fall back to
`icontains` elsewhere (SQLite).
"""
import functools
import hashlib
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection, connections, router
from django.db.models import Case, F, Prefetch, Q, QuerySet, When
from django.http import Http404

from core.db import columns, row_loader

from .models import DocumentationChunk, Library, LibraryVersion

SEARCH_CACHE_SECONDS = 15 * 60
SEARCH_MAX_RESULTS = 500
# Part of every search's cache key: a catalogue import replaces it, and every cached search is forgotten at once.
SEARCH_GENERATION_KEY = "library-search:generation"

# The vector PostgreSQL stores with each chunk (a generated column, migration 0004): never computed at query time.
CHUNK_DOCUMENT = "c.search_vector"
LIBRARY_DOCUMENT = (
    "setweight(to_tsvector('english', l.name), 'A') || setweight(to_tsvector('english', l.description), 'B')"
)

LIBRARY_SEARCH_SQL = f"""
WITH search AS (SELECT websearch_to_tsquery('english', %(text)s) AS query),
chunk_hits AS (
    SELECT v.library_id, MAX(ts_rank({CHUNK_DOCUMENT}, search.query)) AS rank
    FROM libraries_documentationchunk c
    JOIN libraries_libraryversion v ON v.id = c.version_id
    CROSS JOIN search
    WHERE {CHUNK_DOCUMENT} @@ search.query
    GROUP BY v.library_id
),
library_hits AS (
    SELECT l.id AS library_id,
           ts_rank({LIBRARY_DOCUMENT}, search.query)
           + CASE WHEN lower(l.slug) = %(exact)s OR lower(l.name) = %(exact)s THEN 10
                  WHEN l.slug ILIKE %(like)s OR l.name ILIKE %(like)s THEN 1
                  ELSE 0 END AS rank
    FROM libraries_library l CROSS JOIN search
    WHERE {LIBRARY_DOCUMENT} @@ search.query OR l.slug ILIKE %(like)s OR l.name ILIKE %(like)s
),
hits AS (SELECT * FROM library_hits UNION ALL SELECT * FROM chunk_hits)
SELECT hits.library_id
FROM hits JOIN libraries_library l ON l.id = hits.library_id
GROUP BY hits.library_id, l.slug
ORDER BY SUM(hits.rank) DESC, l.slug
LIMIT %(limit)s
"""

# A version's chunks about a topic, with what orders them (best first: rank, then position and id). `{version}`
# is the version's id: a parameter here, the version found by the same statement in `docs_serve`'s.
CHUNK_TOPIC_CANDIDATES = f"""
SELECT c.id, c.tokens, c.position, ts_rank({CHUNK_DOCUMENT}, query) AS rank
FROM libraries_documentationchunk c, websearch_to_tsquery('english', %(topic)s) AS query
WHERE c.version_id = {{version}} AND {CHUNK_DOCUMENT} @@ query
"""
CHUNK_TOPIC_SQL = CHUNK_TOPIC_CANDIDATES.format(version="%(version_id)s")
# Without a topic, every chunk of the version in order.
CHUNK_ALL_CANDIDATES = """
SELECT c.id, c.tokens, c.position, 0 AS rank FROM libraries_documentationchunk c WHERE c.version_id = {version}
"""
# The candidates best first as two arrays, then the budget spent along them: a candidate that does not fit is
# skipped and smaller ones after it may still fit, until nothing is left. The chosen ids are `spent.chosen` in
# order of `spent.step`; what is left of the budget is the least `spent.remaining`.
CHUNKS_SPENT_CTES = """
candidates AS MATERIALIZED (
    SELECT array_agg(id ORDER BY rank DESC, position, id) AS ids,
           array_agg(tokens ORDER BY rank DESC, position, id) AS tokens
    FROM ({candidates}) hits
),
spent (step, remaining, chosen) AS (
    SELECT 0, %(budget)s::{tokens_type}, NULL::{id_type}
    UNION ALL
    SELECT s.step + 1,
           CASE WHEN k.tokens[s.step + 1] <= s.remaining THEN s.remaining - k.tokens[s.step + 1] ELSE s.remaining END,
           CASE WHEN k.tokens[s.step + 1] <= s.remaining THEN k.ids[s.step + 1] END
    FROM spent s, candidates k
    WHERE s.remaining > 0 AND s.step < cardinality(k.ids)
)
"""
# The version of a library by slug: the one named, else the latest, else the newest (NULLs last on either
# database: `released_at IS NULL` sorts the released ones, false, first). `{select}` is what to read of it.
VERSION_LOOKUP_SQL = (
    "SELECT {select} FROM libraries_libraryversion v JOIN libraries_library l ON l.id = v.library_id "
    "WHERE l.slug = {slug} {by_name} "
    "ORDER BY v.is_latest DESC, v.released_at IS NULL, v.released_at DESC, v.id DESC LIMIT 1"
)


def _is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def clean_text(text: str | None) -> str:
    """Whitespace collapsed; NUL removed (PostgreSQL text cannot hold it)."""
    return " ".join((text or "").replace("\x00", " ").split())


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _search_ids(text: str) -> list[int]:
    if _is_postgresql():
        with connection.cursor() as cursor:
            cursor.execute(
                LIBRARY_SEARCH_SQL,
                {"text": text, "exact": text.lower(), "like": _like_pattern(text), "limit": SEARCH_MAX_RESULTS},
            )
            return [row[0] for row in cursor.fetchall()]
    matches = (
        Q(slug__icontains=text) | Q(name__icontains=text) | Q(description__icontains=text)
        | Q(versions__chunks__title__icontains=text) | Q(versions__chunks__content__icontains=text)
    )
    named = Case(When(Q(slug__icontains=text) | Q(name__icontains=text), then=0), default=1)
    rows = Library.objects.filter(matches).annotate(named=named).order_by("named", "slug").values_list("id", flat=True)
    return list(dict.fromkeys(rows))[:SEARCH_MAX_RESULTS]


def _with_latest_version(libraries):
    latest = Prefetch("versions", queryset=LibraryVersion.objects.filter(is_latest=True), to_attr="latest_versions")
    return libraries.prefetch_related(latest)


class RankedLibraries:
    """Search results in rank order, for a paginator: only the libraries of the page asked for are read."""

    def __init__(self, ids: list[int]):
        self.ids = ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index):
        if not isinstance(index, slice):
            return self[index : index + 1][0]
        ids = self.ids[index]
        libraries = _with_latest_version(Library.objects.filter(pk__in=ids)).in_bulk()
        return [libraries[pk] for pk in ids if pk in libraries]


def library_search(*, query: str | None) -> "RankedLibraries | QuerySet[Library]":
    """Libraries matching `query`, best first, or every library by slug without one.

    The ranked ids of a search are cached 15 minutes, or until the catalogue's next import; the rows of a page
    are read fresh.
    """
    text = clean_text(query)[:200]
    if not text:
        return _with_latest_version(Library.objects.order_by("slug"))
    generation = cache.get(SEARCH_GENERATION_KEY, "")
    key = f"library-search:{generation}:" + hashlib.sha256(text.lower().encode()).hexdigest()
    ids = cache.get(key)
    if ids is None:
        ids = _search_ids(text)
        cache.set(key, ids, timeout=SEARCH_CACHE_SECONDS)
    return RankedLibraries(ids)


def library_get(*, slug: str) -> Library:
    if not slug or "\x00" in slug:
        raise Http404("No such library.")
    versions = LibraryVersion.objects.order_by(F("released_at").desc(nulls_last=True), "-id")
    library = Library.objects.prefetch_related(Prefetch("versions", queryset=versions)).filter(slug=slug).first()
    if library is None:
        raise Http404("No such library.")
    return library


# Built once per model and database: the converters depend on nothing else.
_row_loader = functools.cache(row_loader)


@functools.cache
def _version_lookup_sql(*, by_name: bool) -> str:
    """The version of a library by slug with its library: the one named, else the latest, else the newest."""
    return VERSION_LOOKUP_SQL.format(
        select=f"{columns(LibraryVersion, 'v')}, {columns(Library, 'l')}", slug="%s",
        by_name="AND v.version = %s" if by_name else "",
    )


def library_version_get(*, slug: str, version: str | None = None) -> LibraryVersion:
    """The version asked for, else the one marked latest, else the newest released; 404 when none.

    Every docs call runs it, so it is one SQL statement written once: the ORM took longer to compile this join
    than PostgreSQL takes to run it.
    """
    if not slug or "\x00" in slug or (version and "\x00" in version):
        raise Http404("No such library.")
    alias = router.db_for_read(LibraryVersion)
    with connections[alias].cursor() as cursor:
        cursor.execute(_version_lookup_sql(by_name=bool(version)), [slug, version] if version else [slug])
        row = cursor.fetchone()
    if row is None:
        raise Http404("No such library or version.")
    width = len(LibraryVersion._meta.concrete_fields)
    found = _row_loader(LibraryVersion, alias)(row[:width])
    found.library = _row_loader(Library, alias)(row[width:])
    return found


@dataclass(frozen=True)
class ChunkCandidate:
    id: int
    tokens: int


def _topic_candidates(*, version: LibraryVersion, topic: str) -> list[ChunkCandidate]:
    rows = (
        DocumentationChunk.objects.filter(version=version)
        .filter(Q(title__icontains=topic) | Q(content__icontains=topic))
        .annotate(in_title=Case(When(title__icontains=topic, then=0), default=1))
        .order_by("in_title", "position", "id")
        .values_list("id", "tokens")
    )
    return [ChunkCandidate(pk, tokens) for pk, tokens in rows]


def documentation_chunks_best(*, version: LibraryVersion, topic: str | None, token_budget: int):
    """The best chunks for `topic` (all in order when there is none) whose tokens fit in `token_budget`.

    Candidates are taken best first; one that does not fit is skipped and smaller ones may still fit. On
    PostgreSQL the ranking, the budget and the chosen rows are one statement written once (every docs call runs
    it); elsewhere the same choice is made here.
    """
    topic = clean_text(topic)
    if _is_postgresql():
        return _chunks_best_sql(version=version, topic=topic, token_budget=token_budget)
    if topic:
        candidates = _topic_candidates(version=version, topic=topic)
    else:
        rows = DocumentationChunk.objects.filter(version=version).order_by("position", "id").values_list("id", "tokens")
        candidates = [ChunkCandidate(pk, tokens) for pk, tokens in rows]
    chosen, remaining = [], token_budget
    for candidate in candidates:
        if candidate.tokens <= remaining:
            chosen.append(candidate.id)
            remaining -= candidate.tokens
            if remaining == 0:
                break
    # Without the model's ordering, which would join the version and the library to sort rows reordered here.
    chunks = DocumentationChunk.objects.order_by().in_bulk(chosen) if chosen else {}
    return [chunks[pk] for pk in chosen]


def chunks_spent_ctes(*, by_topic: bool, version: str) -> str:
    """The CTEs `candidates` and `spent` (see CHUNKS_SPENT_CTES) for the version whose id is the SQL `version`,
    with the parameters `%(budget)s` and, `by_topic`, `%(topic)s`."""
    meta = DocumentationChunk._meta
    candidates = CHUNK_TOPIC_CANDIDATES if by_topic else CHUNK_ALL_CANDIDATES
    return CHUNKS_SPENT_CTES.format(
        candidates=candidates.format(version=version),
        tokens_type=meta.get_field("tokens").db_type(connection), id_type=meta.pk.rel_db_type(connection),
    )


@functools.cache
def _chunks_best_statement(*, by_topic: bool) -> str:
    return (
        "WITH RECURSIVE " + chunks_spent_ctes(by_topic=by_topic, version="%(version_id)s")
        + f"SELECT {columns(DocumentationChunk, 'c')} FROM spent s "
        "JOIN libraries_documentationchunk c ON c.id = s.chosen ORDER BY s.step"
    )


def _chunks_best_sql(*, version: LibraryVersion, topic: str, token_budget: int) -> list[DocumentationChunk]:
    alias = router.db_for_read(DocumentationChunk)
    with connections[alias].cursor() as cursor:
        cursor.execute(_chunks_best_statement(by_topic=bool(topic)),
                       {"topic": topic, "version_id": version.pk, "budget": token_budget})
        return list(map(_row_loader(DocumentationChunk, alias), cursor.fetchall()))
