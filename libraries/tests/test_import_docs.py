"""Filling the catalogue: `manage.py import_docs`, its splitter and its token count."""
import datetime
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import AuditLog
from accounts.services import api_key_create
from libraries.docs_import import Document, count_tokens, document_split, documents_read, library_version_import
from libraries.models import DocumentationChunk, Library, LibraryVersion
from libraries.selectors import library_search

MARKDOWN = """\
# Routing

The router maps files to routes.

## Dynamic routes

Use brackets: `[slug]`.

```python
# a comment, not a heading
route = "/blog/[slug]"
```

Catch-all segments
------------------

Three dots: `[...slug]`.

Deploying
=========

Anywhere Node runs.

### Nothing here

## Edge functions
Run close to the user.
"""

RESTRUCTUREDTEXT = """\
=======
 Guide
=======

Read this first.

Installation
============

Install it with pip::

    Not a title
    -----------

Details
-------

Wheels are built for every platform.

Extras
~~~~~~

Optional dependencies.

Usage
=====

Import it.
"""


def titles_and_contents(drafts):
    return [(draft.title, draft.content) for draft in drafts]


class TestCountingTokens:
    @pytest.mark.parametrize(
        ("text", "tokens"),
        [
            ("", 0),
            ("   ", 0),
            # Install 2 (7 letters), the 1, package 2, "," 1, then 1, import 1, it 1, "." 1.
            ("Install the package, then import it.", 10),
            # In 1, 2026 is 202|6: 2, "," 1, "`" 1, httpx 1, "." 1, get 1, "()`" 1, sent 1, 12345 is 123|45: 2,
            # requests 2 (8 letters), the line breaks 1.
            ("In 2026, `httpx.get()` sent 12345 requests\n\n", 15),
            # snake 1, "_" 1, case 1, "_" 1, name 1.
            ("snake_case_name", 5),
            # Ten "=" are two runs of up to 6 characters; each line break with its indentation is 1.
            ("Title\n==========\n    indented", 1 + 1 + 2 + 1 + 2),
            # Letters of any script: café 1, déjà 1, "…" 1.
            ("café déjà…", 3),
        ],
    )
    def test_counts_known_strings(self, text, tokens):
        assert count_tokens(text) == tokens


class TestSplittingMarkdown:
    def test_atx_and_setext_headings_make_heading_path_titles_in_document_order(self):
        drafts = document_split(Document(path="guide/routing.md", text=MARKDOWN))

        assert [(draft.title, draft.anchor) for draft in drafts] == [
            ("Routing", ""),
            ("Routing › Dynamic routes", "dynamic-routes"),
            ("Routing › Catch-all segments", "catch-all-segments"),
            ("Deploying", "deploying"),
            ("Deploying › Edge functions", "edge-functions"),  # "Nothing here", without text, is dropped
        ]
        assert drafts[0].content == "# Routing\n\nThe router maps files to routes."
        assert drafts[2].content == "Catch-all segments\n------------------\n\nThree dots: `[...slug]`."
        assert drafts[4].content == "## Edge functions\nRun close to the user."
        assert all(draft.tokens == count_tokens(draft.content) for draft in drafts)

    def test_a_heading_inside_a_code_fence_is_code(self):
        drafts = document_split(Document(path="routing.md", text=MARKDOWN))

        assert drafts[1].content == (
            "## Dynamic routes\n\nUse brackets: `[slug]`.\n\n"
            "```python\n# a comment, not a heading\nroute = \"/blog/[slug]\"\n```"
        )

    def test_a_document_opening_without_its_title_is_named_by_its_path(self):
        text = "!!! hint\n    Read the quickstart first.\n\n## Why use a client?\n\nPooling.\n"

        drafts = document_split(Document(path="advanced/clients.mdx", text=text))

        assert titles_and_contents(drafts) == [
            ("advanced/clients", "!!! hint\n    Read the quickstart first."),
            ("advanced/clients › Why use a client?", "## Why use a client?\n\nPooling."),
        ]

    def test_a_rule_under_a_list_item_is_not_a_heading(self):
        text = "# Steps\n\n- install it\n---\n\nThen run it.\n"

        drafts = document_split(Document(path="steps.md", text=text))

        assert titles_and_contents(drafts) == [("Steps", "# Steps\n\n- install it\n---\n\nThen run it.")]

    def test_front_matter_is_left_out_and_repeated_headings_get_numbered_anchors(self):
        text = "---\ntitle: Notes\n---\n# Notes\n\n## Example\n\nOne.\n\n## Example\n\nTwo.\n"

        drafts = document_split(Document(path="notes.markdown", text=text))

        assert [(draft.title, draft.anchor, draft.content) for draft in drafts] == [
            ("Notes › Example", "example", "## Example\n\nOne."),
            ("Notes › Example", "example-1", "## Example\n\nTwo."),
        ]


class TestSplittingRestructuredText:
    def test_overlined_and_underlined_titles_take_their_levels_in_order_of_appearance(self):
        drafts = document_split(Document(path="guide.rst", text=RESTRUCTUREDTEXT))

        assert [(draft.title, draft.anchor) for draft in drafts] == [
            ("Guide", ""),
            ("Guide › Installation", "installation"),
            ("Guide › Installation › Details", "details"),
            ("Guide › Installation › Details › Extras", "extras"),
            ("Guide › Usage", "usage"),
        ]
        assert drafts[0].content == "=======\n Guide\n=======\n\nRead this first."

    def test_an_underline_inside_a_literal_block_is_text(self):
        drafts = document_split(Document(path="guide.txt", text=RESTRUCTUREDTEXT))

        assert drafts[1].content == (
            "Installation\n============\n\nInstall it with pip::\n\n    Not a title\n    -----------"
        )


class TestSplittingLongSections:
    def test_a_long_section_is_cut_at_blank_lines_into_chunks_that_fit(self):
        # "# T" 2 tokens, each paragraph of six short words 6, "thirteen" 2, each blank line between them 1.
        text = "# T\n\none two three four five six\n\nseven eight nine ten eleven twelve\n\nthirteen\n"

        drafts = document_split(Document(path="t.md", text=text), max_tokens=10)

        assert [(draft.title, draft.content, draft.tokens) for draft in drafts] == [
            ("T", "# T\n\none two three four five six", 9),
            ("T", "seven eight nine ten eleven twelve\n\nthirteen", 9),
        ]

    def test_a_paragraph_longer_than_a_chunk_is_cut_at_lines_then_words(self):
        words = " ".join(f"w{n}" for n in range(25))  # w 1 + digits 1: 2 tokens a word
        text = f"# T\n\n{words}\nlast line\n"

        drafts = document_split(Document(path="t.md", text=text), max_tokens=10)

        assert [draft.content for draft in drafts] == [
            "# T",
            *(" ".join(f"w{n}" for n in range(start, min(start + 5, 25))) for start in range(0, 25, 5)),
            "last line",
        ]
        assert all(draft.tokens <= 10 for draft in drafts)


@pytest.fixture
def docs_folder(tmp_path):
    folder = tmp_path / "docs"
    (folder / "guide").mkdir(parents=True)
    (folder / "index.md").write_text("# Widgets\n\nWidgets draw dashboards.\n", encoding="utf-8")
    (folder / "guide" / "routing.md").write_text(MARKDOWN, encoding="utf-8")
    (folder / "guide" / "setup.rst").write_text(RESTRUCTUREDTEXT, encoding="utf-8")
    (folder / "LICENSE").write_text("BSD-3-Clause", encoding="utf-8")  # not documentation: left out
    (folder / ".cache").mkdir()
    (folder / ".cache" / "draft.md").write_text("# Draft\n\nNot published.\n", encoding="utf-8")
    return folder


def import_docs(*args) -> str:
    out = StringIO()
    call_command("import_docs", *map(str, args), stdout=out)
    return out.getvalue()


def chunks_of(slug, version):
    return list(
        DocumentationChunk.objects.filter(version__library__slug=slug, version__version=version)
        .order_by("position")
        .values_list("position", "title", "source_url")
    )


def latest_version(slug):
    return LibraryVersion.objects.get(library__slug=slug, is_latest=True).version


@pytest.mark.django_db
class TestImportCommand:
    def test_imports_every_file_in_path_order_and_prints_a_summary(self, docs_folder):
        output = import_docs(
            "acme/widgets", "1.0", docs_folder, "--name", "Widgets", "--description", "Dashboards for Python.",
            "--homepage-url", "https://widgets.example", "--released-at", "2025-06-10",
            "--source-url-base", "https://github.com/acme/widgets/blob/v1.0/docs/",
        )

        base = "https://github.com/acme/widgets/blob/v1.0/docs/"
        assert chunks_of("acme/widgets", "1.0") == [
            (0, "Routing", f"{base}guide/routing.md"),
            (1, "Routing › Dynamic routes", f"{base}guide/routing.md#dynamic-routes"),
            (2, "Routing › Catch-all segments", f"{base}guide/routing.md#catch-all-segments"),
            (3, "Deploying", f"{base}guide/routing.md#deploying"),
            (4, "Deploying › Edge functions", f"{base}guide/routing.md#edge-functions"),
            (5, "Guide", f"{base}guide/setup.rst"),
            (6, "Guide › Installation", f"{base}guide/setup.rst#installation"),
            (7, "Guide › Installation › Details", f"{base}guide/setup.rst#details"),
            (8, "Guide › Installation › Details › Extras", f"{base}guide/setup.rst#extras"),
            (9, "Guide › Usage", f"{base}guide/setup.rst#usage"),
            (10, "Widgets", f"{base}index.md"),
        ]
        library = Library.objects.get(slug="acme/widgets")
        assert (library.name, library.description, library.homepage_url) == (
            "Widgets", "Dashboards for Python.", "https://widgets.example",
        )
        version = library.versions.get()
        assert version.is_latest
        assert version.released_at == datetime.datetime(2025, 6, 10, 12, tzinfo=datetime.UTC)
        tokens = sum(version.chunks.values_list("tokens", flat=True))
        assert output == f"acme/widgets 1.0: 3 files read, 11 chunks, {tokens} tokens; latest version: yes\n"

    def test_a_reimport_replaces_every_chunk_and_a_new_version_takes_latest(self, docs_folder):
        import_docs("acme/widgets", "1.0", docs_folder)
        (docs_folder / "guide" / "routing.md").unlink()
        (docs_folder / "index.md").write_text("# Widgets\n\nWidgets draw charts now.\n", encoding="utf-8")

        import_docs("acme/widgets", "1.0", docs_folder)
        output = import_docs("acme/widgets", "2.0", docs_folder)

        assert [title for _, title, _ in chunks_of("acme/widgets", "1.0")] == [
            "Guide", "Guide › Installation", "Guide › Installation › Details",
            "Guide › Installation › Details › Extras", "Guide › Usage", "Widgets",
        ]
        assert DocumentationChunk.objects.get(version__version="1.0", title="Widgets").content == (
            "# Widgets\n\nWidgets draw charts now."
        )
        assert chunks_of("acme/widgets", "2.0") == chunks_of("acme/widgets", "1.0")
        assert latest_version("acme/widgets") == "2.0"
        assert output.endswith("latest version: yes\n")
        # No link without a base.
        assert set(DocumentationChunk.objects.values_list("source_url", flat=True)) == {""}

    def test_an_older_version_imported_not_latest_leaves_latest_alone(self, docs_folder):
        import_docs("acme/widgets", "2.0", docs_folder)

        output = import_docs("acme/widgets", "1.0", docs_folder, "--not-latest", "--released-at", "2024-01-31")

        assert latest_version("acme/widgets") == "2.0"
        assert len(chunks_of("acme/widgets", "1.0")) == 11
        assert output.endswith("latest version: no\n")

    def test_the_same_documentation_again_writes_nothing_and_is_audited_once(self, docs_folder):
        import_docs("acme/widgets", "1.0", docs_folder)
        ids = list(DocumentationChunk.objects.order_by("position").values_list("id", flat=True))

        output = import_docs("acme/widgets", "1.0", docs_folder)

        assert list(DocumentationChunk.objects.order_by("position").values_list("id", flat=True)) == ids
        assert "unchanged" in output
        audit = AuditLog.objects.get(action="library_version.import")
        version = LibraryVersion.objects.get()
        assert (audit.actor, audit.object_type, audit.object_id) == (None, "libraries.LibraryVersion", str(version.pk))
        assert audit.changes["chunks"] == {"old": 0, "new": 11}
        assert audit.changes["is_latest"] == {"old": False, "new": True}
        assert (audit.changes["slug"], audit.changes["version"], audit.changes["files"]) == ("acme/widgets", "1.0", 3)


@pytest.mark.django_db
class TestImportRefusals:
    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (("acme/widgets", "1.0", "{folder}/missing"), "folder: {folder}/missing is not a folder."),
            (("acme/widgets", "1.0", "{folder}/guide/empty"), "folder: No Markdown or reStructuredText file"),
            (("widgets", "1.0", "{folder}"), "slug: A slug is owner/name, like vercel/next.js"),
            (("acme/wid gets", "1.0", "{folder}"), "slug: A slug is owner/name"),
            (("acme/" + "w" * 200, "1.0", "{folder}"), "slug: Ensure this value has at most 200 characters"),
            (("acme/widgets", "1" * 51, "{folder}"), "version: Ensure this value has at most 50 characters"),
            (("acme/widgets", "1.0", "{folder}", "--homepage-url", "widgets"), "homepage_url: Enter a valid URL."),
            (("acme/widgets", "1.0", "{folder}", "--source-url-base", "github"), "source_url_base: Enter a valid URL"),
            (
                ("acme/widgets", "1.0", "{folder}", "--released-at", "10/06/2025"),
                "Error: argument --released-at: '10/06/2025' is not a date like 2025-06-10.",
            ),
        ],
    )
    def test_bad_input_exits_with_a_message_naming_it_and_writes_nothing(self, docs_folder, args, message):
        (docs_folder / "guide" / "empty").mkdir()
        (docs_folder / "guide" / "empty" / "notes.py").write_text("# Not documentation\n", encoding="utf-8")

        with pytest.raises(CommandError) as refusal:
            import_docs(*(arg.format(folder=docs_folder) for arg in args))

        assert str(refusal.value).startswith(message.format(folder=docs_folder))
        assert not Library.objects.exists()
        assert not AuditLog.objects.exists()

    def test_a_file_that_is_not_utf8_is_named_and_the_previous_chunks_stay(self, docs_folder):
        import_docs("acme/widgets", "1.0", docs_folder)
        before = chunks_of("acme/widgets", "1.0")
        (docs_folder / "guide" / "routing.md").write_text("# Routing\n\nNew text.\n", encoding="utf-8")
        (docs_folder / "guide" / "legacy.md").write_bytes("# Café\n".encode("latin-1"))

        with pytest.raises(CommandError, match=r"^folder: guide/legacy.md is not UTF-8 text \(byte 5\)\.$"):
            import_docs("acme/widgets", "2.0", docs_folder)

        assert chunks_of("acme/widgets", "1.0") == before
        assert list(LibraryVersion.objects.values_list("version", "is_latest")) == [("1.0", True)]

    def test_a_link_too_long_for_a_chunk_refuses_the_import_and_the_previous_chunks_stay(self, docs_folder):
        import_docs("acme/widgets", "1.0", docs_folder)
        before = chunks_of("acme/widgets", "1.0")
        (docs_folder / "index.md").write_text("# Widgets\n\nWidgets draw charts now.\n", encoding="utf-8")
        base = "https://example.com/" + "d" * 170 + "/"

        with pytest.raises(CommandError, match=r"^source_url_base: The link to guide/routing.md is over 200"):
            import_docs("acme/widgets", "1.0", docs_folder, "--source-url-base", base)

        assert chunks_of("acme/widgets", "1.0") == before
        assert DocumentationChunk.objects.get(title="Widgets").content == "# Widgets\n\nWidgets draw dashboards."


@pytest.mark.django_db
class TestImportedDocsAreServed:
    def test_the_docs_api_answers_a_topic_with_the_imported_chunk(self, docs_folder, customer, settings):
        settings.DOCS_API_THROTTLE_CLASSES = []
        import_docs("acme/widgets", "1.0", docs_folder)
        client = APIClient()
        client.credentials(
            HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=customer, name='CI', scopes=['docs:read']).token}"
        )

        response = client.get("/api/libraries/acme/widgets/docs/", {"topic": "wheels"})

        assert response.status_code == 200
        assert [(chunk["title"], chunk["content"]) for chunk in response.json()["chunks"]] == [
            ("Guide › Installation › Details", "Details\n-------\n\nWheels are built for every platform."),
        ]

    def test_an_import_forgets_the_cached_library_searches(self, docs_folder, django_capture_on_commit_callbacks):
        assert library_search(query="dashboards").ids == []

        with django_capture_on_commit_callbacks(execute=True):
            import_docs("acme/widgets", "1.0", docs_folder)

        assert library_search(query="dashboards").ids == [Library.objects.get(slug="acme/widgets").pk]


@pytest.mark.django_db(transaction=True)
class TestConcurrentImports:
    def test_imports_of_one_library_run_one_after_the_other(self, docs_folder):
        if connection.vendor != "postgresql":
            pytest.skip("SQLite serialises writers by locking the table")
        documents = documents_read(docs_folder)
        imports = [("1.0", documents), ("1.0", documents[:1]), ("2.0", documents), ("3.0", documents[1:])]
        barrier, failures = threading.Barrier(len(imports)), []

        def run(version, files):
            try:
                barrier.wait()
                library_version_import(slug="acme/widgets", version=version, documents=files)
            except Exception as error:  # noqa: BLE001 - the test reports any
                failures.append(error)
            finally:
                connection.close()

        threads = [threading.Thread(target=run, args=arguments) for arguments in imports]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert failures == []
        assert Library.objects.count() == 1
        assert LibraryVersion.objects.filter(is_latest=True).count() == 1
        # Version 1.0 holds the chunks of one of its two imports, whole: 11 of all three files, or 5 of routing.md.
        assert len(chunks_of("acme/widgets", "1.0")) in (11, 5)
        assert [position for position, _, _ in chunks_of("acme/widgets", "3.0")] == list(range(6))
        assert AuditLog.objects.filter(action="library_version.import").count() == 4
