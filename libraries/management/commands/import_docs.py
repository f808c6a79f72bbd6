import argparse
import datetime
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from libraries.docs_import import MAX_CHUNK_TOKENS, documents_read, library_version_import


def _day(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2025-06-10.") from error


class Command(BaseCommand):
    help = (
        "Imports a library version's documentation from a folder of Markdown (.md, .mdx, .markdown) and "
        "reStructuredText (.rst, .txt) files, read at any depth in path order and split into chunks at their "
        f"headings (at most {MAX_CHUNK_TOKENS} tokens each). The version's chunks are all replaced, and it "
        "becomes the library's latest unless --not-latest; the library is created if need be."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The library, owner/name: pallets/flask.")
        parser.add_argument("version", help="The version the documentation describes: 3.1.1.")
        parser.add_argument("folder", type=Path, help="The folder of documentation files.")
        parser.add_argument("--name", help="The library's name (a new library is named after its slug).")
        parser.add_argument("--description", help="What the library is for, in a sentence or two.")
        parser.add_argument("--homepage-url", help="The library's home page.")
        parser.add_argument("--repository-url", help="The library's source repository.")
        parser.add_argument("--released-at", type=_day, help="The version's release date, YYYY-MM-DD.")
        parser.add_argument(
            "--not-latest", action="store_true", help="Leave the library's latest version as it is (an older one)."
        )
        parser.add_argument(
            "--source-url-base", default="",
            help="Each chunk links to this URL followed by its file's path and the heading's anchor, e.g. "
            "https://github.com/pallets/flask/blob/3.1.1/docs/ (no link without it).",
        )

    def handle(self, *args, slug, version, folder, not_latest, released_at, source_url_base, **options):
        try:
            result = library_version_import(
                slug=slug, version=version, documents=documents_read(folder), name=options["name"],
                description=options["description"], homepage_url=options["homepage_url"],
                repository_url=options["repository_url"], released_on=released_at, make_latest=not not_latest,
                source_url_base=source_url_base,
            )
        except ValidationError as error:
            raise CommandError(
                "; ".join(f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items())
            ) from error
        self.stdout.write(
            f"{result.library.slug} {result.version.version}: {result.files} files read, {result.chunks} chunks, "
            f"{result.tokens} tokens; latest version: {'yes' if result.version.is_latest else 'no'}"
            + ("" if result.changed else " (unchanged: the same documentation was there already)")
        )
