"""Reads of the MCP tools: the catalogue's libraries matching a name, with their versions and chunk counts."""
from dataclasses import dataclass

from django.db.models import Count, F

from ..models import Library, LibraryVersion
from ..selectors import library_search


@dataclass(frozen=True)
class VersionSummary:
    version: str
    is_latest: bool
    chunks: int


@dataclass(frozen=True)
class LibraryMatch:
    library: Library
    versions: list[VersionSummary]  # newest first

    @property
    def id(self) -> str:
        """The id assistants pass back to query-docs: the slug behind a slash, as Context7 writes it."""
        return f"/{self.library.slug}"

    @property
    def served(self) -> VersionSummary | None:
        """The version query-docs serves without one named: the latest, else the newest."""
        return next((version for version in self.versions if version.is_latest), None) or next(
            iter(self.versions), None
        )


def library_matches(*, name: str, limit: int) -> list[LibraryMatch]:
    """The libraries best matching `name` (the docs API's search, best first), at most `limit`, each with its
    versions and their chunk counts: three queries whatever the count."""
    libraries = list(library_search(query=name)[:limit]) if name.strip() else []
    if not libraries:
        return []
    rows = (
        LibraryVersion.objects.filter(library__in=libraries)
        .annotate(chunk_count=Count("chunks"))
        .order_by(F("released_at").desc(nulls_last=True), "-id")
        .values_list("library_id", "version", "is_latest", "chunk_count")
    )
    versions: dict[int, list[VersionSummary]] = {library.pk: [] for library in libraries}
    for library_id, version, is_latest, chunks in rows:
        versions[library_id].append(VersionSummary(version, is_latest, chunks))
    return [LibraryMatch(library, versions[library.pk]) for library in libraries]
