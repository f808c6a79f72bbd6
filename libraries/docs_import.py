"""Filling the catalogue: a library version's documentation imported from a folder of Markdown and
reStructuredText files, split into chunks by headings (`manage.py import_docs`, and the demo's `seed_demo`).

Each file is cut at its headings (Markdown ATX `#` … `######` and setext underlines; reStructuredText section
titles, underlined or over- and underlined, their levels in the order the file first uses each adornment);
headings inside fenced code blocks, and reStructuredText's indented literal blocks, are text. A chunk's title is
its heading path ("Configuration Handling › Configuration Basics"), its content the section's source text,
heading included; a section holding no text under its heading is dropped, and one longer than
MAX_CHUNK_TOKENS is cut at blank lines (then lines, then words) into chunks that fit.

Token counts follow `count_tokens`, the catalogue's one rule.
"""
import datetime
import math
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction

from accounts.services import audit_log_record

from .models import DocumentationChunk, Library, LibraryVersion
from .selectors import SEARCH_GENERATION_KEY

# Below the docs API's smallest token budget (1,000), so that any chunk can be served on its own.
MAX_CHUNK_TOKENS = 800
MARKDOWN_SUFFIXES = (".md", ".mdx", ".markdown")
RESTRUCTUREDTEXT_SUFFIXES = (".rst", ".txt")
TITLE_SEPARATOR = " › "
TITLE_MAX_LENGTH = DocumentationChunk._meta.get_field("title").max_length
SOURCE_URL_MAX_LENGTH = DocumentationChunk._meta.get_field("source_url").max_length
# owner/name, as on GitHub: the shape of every slug in the catalogue (vercel/next.js).
SLUG_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9._-]+")


# --- Counting tokens -----------------------------------------------------------------------------------

TOKEN_PIECES = re.compile(
    r"(?P<digits>\d{1,3})|(?P<letters>[^\W\d_]+)|(?P<symbols>(?:[^\w\s]|_)+)|(?P<breaks>\s*\n\s*)"
)
CHARACTERS_PER_TOKEN = 6


def count_tokens(text: str) -> int:
    """About the tokens an LLM tokenizer (GPT's cl100k) makes of `text`, without its vocabulary: deterministic,
    and no download.

    The text is cut as GPT's pre-tokenizer cuts it, and each piece counts:
    - a run of letters, or of other visible characters (punctuation, symbols, `_`): one token per 6 characters
      started ("the" 1, "package" 2, "))" 1), since common words are one token and long or rare ones split;
    - a number: one token per group of up to 3 digits ("2026" is 2);
    - a line break, with the blank space around it: 1; spaces between words: nothing.
    """
    tokens = 0
    for piece in TOKEN_PIECES.finditer(text):
        if piece.lastgroup in ("letters", "symbols"):
            tokens += math.ceil(len(piece.group()) / CHARACTERS_PER_TOKEN)
        else:
            tokens += 1
    return tokens


# --- Splitting documents into chunks -------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    path: str  # relative to the folder imported, with "/" separators: "advanced/clients.md"
    text: str


@dataclass(frozen=True)
class ChunkDraft:
    title: str
    content: str
    tokens: int
    anchor: str  # "" for the top of the document


@dataclass
class _Section:
    headings: tuple[str, ...]
    anchor: str
    lines: list[str]
    heading_lines: int  # how many of `lines` are the heading (0 before the first one)


FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
# A list item or a quote: a line of "---" under it is a rule, not a heading's underline.
LIST_OR_QUOTE = re.compile(r"^ {0,3}(?:[-*+]|\d{1,9}[.)]|>)(?:[ \t]|$)")
# One punctuation character repeated from the first column: a reStructuredText adornment.
ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1+[ \t]*$")


class _Outline:
    """Sections in document order, each with the path of headings above it."""

    def __init__(self):
        self.sections = [_Section(headings=(), anchor="", lines=[], heading_lines=0)]
        self._open: list[tuple[int, str]] = []  # (level, heading) from the top down
        self._anchors: dict[str, int] = {}

    @property
    def current(self) -> _Section:
        return self.sections[-1]

    def heading(self, *, level: int, text: str, lines: list[str]) -> None:
        while self._open and self._open[-1][0] >= level:
            self._open.pop()
        self._open.append((level, text))
        # The document's own title, at its top, is the document itself: its link needs no anchor.
        first = len(self.sections) == 1 and not any(line.strip() for line in self.current.lines)
        anchor = self._unique_anchor(text)
        self.sections.append(
            _Section(
                headings=tuple(heading for _, heading in self._open),
                anchor="" if first else anchor,
                lines=list(lines),
                heading_lines=len(lines),
            )
        )

    def _unique_anchor(self, text: str) -> str:
        """As GitHub names a heading's anchor: lower case, punctuation dropped, spaces as hyphens, "-1"… for
        repeats."""
        anchor = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
        seen = self._anchors.get(anchor, 0)
        self._anchors[anchor] = seen + 1
        return f"{anchor}-{seen}" if seen else anchor


def _markdown_outline(lines: list[str]) -> _Outline:
    outline = _Outline()
    if lines and lines[0].strip() == "---":  # YAML front matter: metadata, not text
        end = next((index for index, line in enumerate(lines[1:], 1) if line.strip() in ("---", "...")), None)
        if end is not None:
            lines = lines[end + 1 :]
    fence: str | None = None
    paragraph = 0  # lines of the paragraph being read, at the end of the current section
    for line in lines:
        if fence:
            outline.current.lines.append(line)
            closing = FENCE.match(line)
            if closing and closing.group(1)[0] == fence[0] and len(closing.group(1)) >= len(fence) and (
                not line.strip().strip(fence[0])
            ):
                fence = None
            continue
        if opening := FENCE.match(line):
            fence, paragraph = opening.group(1), 0
            outline.current.lines.append(line)
        elif heading := ATX_HEADING.match(line):
            outline.heading(level=len(heading.group(1)), text=(heading.group(2) or "").strip(), lines=[line])
            paragraph = 0
        elif paragraph and SETEXT_UNDERLINE.match(line) and not LIST_OR_QUOTE.match(
            outline.current.lines[-paragraph]
        ):
            text_lines = outline.current.lines[-paragraph:]
            del outline.current.lines[-paragraph:]
            level = 1 if line.strip().startswith("=") else 2
            outline.heading(level=level, text=" ".join(part.strip() for part in text_lines), lines=[*text_lines, line])
            paragraph = 0
        else:
            outline.current.lines.append(line)
            if not line.strip():
                paragraph = 0
            elif paragraph or not line.startswith(("    ", "\t")):  # an indented line after a blank one is code
                paragraph += 1
    return outline


def _restructuredtext_outline(lines: list[str]) -> _Outline:
    """Titles start in the first column after a blank line: indented literal blocks and directive bodies are text."""
    outline = _Outline()
    styles: list[tuple[str, bool]] = []  # (adornment character, overlined), in the order the file uses them
    index = 0
    while index < len(lines):
        line = lines[index]
        after_blank = index == 0 or not lines[index - 1].strip()
        title = None
        if after_blank and index + 2 < len(lines) and (over := ADORNMENT.match(line)):
            text, under = lines[index + 1], ADORNMENT.match(lines[index + 2])
            if text.strip() and under and under.group().rstrip() == over.group().rstrip():
                title, style, taken = text.strip(), (over.group(1), True), 3
        if title is None and after_blank and index + 1 < len(lines) and line.strip() and not line[0].isspace():
            under = ADORNMENT.match(lines[index + 1])
            if under and not ADORNMENT.match(line) and len(under.group().rstrip()) >= min(len(line.rstrip()), 4):
                title, style, taken = line.strip(), (under.group(1), False), 2
        if title is None:
            outline.current.lines.append(line)
            index += 1
            continue
        if style not in styles:
            styles.append(style)
        outline.heading(level=styles.index(style) + 1, text=title, lines=lines[index : index + taken])
        index += taken
    return outline


def _blocks(text: str) -> list[str]:
    """Paragraphs: runs of lines between blank lines, a fenced code block kept whole."""
    blocks, current, fence = [], [], None
    for line in text.split("\n"):
        if fence is None and not line.strip():
            if current:
                blocks.append("\n".join(current))
                current = []
            continue
        current.append(line)
        if marker := FENCE.match(line):
            if fence is None:
                fence = marker.group(1)
            elif marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence):
                fence = None
    if current:
        blocks.append("\n".join(current))
    return blocks


# How a text too long for one chunk is cut: at blank lines, then at line breaks, then between words.
SEPARATORS = ("\n\n", "\n", " ")


def _split_to_fit(text: str, *, max_tokens: int, level: int = 0) -> list[str]:
    if count_tokens(text) <= max_tokens:
        return [text]
    if level == len(SEPARATORS):  # one "word" longer than a chunk: no piece of it counts more than its characters
        return [text[start : start + max_tokens] for start in range(0, len(text), max_tokens)]
    separator = SEPARATORS[level]
    # The pieces hold no blank space at their ends: joined by a line break they count one token more, by a space
    # none (see count_tokens).
    joining_tokens = 1 if "\n" in separator else 0
    pieces = _blocks(text) if level == 0 else [piece for piece in text.split(separator) if piece.strip()]
    parts: list[str] = []
    current, current_tokens = "", 0
    for piece in pieces:
        for fitting in _split_to_fit(piece, max_tokens=max_tokens, level=level + 1):
            tokens = count_tokens(fitting)
            if current and current_tokens + joining_tokens + tokens <= max_tokens:
                current, current_tokens = f"{current}{separator}{fitting}", current_tokens + joining_tokens + tokens
            else:
                if current:
                    parts.append(current)
                current, current_tokens = fitting, tokens
    if current:
        parts.append(current)
    return parts


def _document_stem(path: str) -> str:
    for suffix in MARKDOWN_SUFFIXES + RESTRUCTUREDTEXT_SUFFIXES:
        if path.lower().endswith(suffix):
            return path[: -len(suffix)]
    return path


def _title(headings: tuple[str, ...]) -> str:
    title = TITLE_SEPARATOR.join(headings)
    return title if len(title) <= TITLE_MAX_LENGTH else title[: TITLE_MAX_LENGTH - 1] + "…"


def document_split(document: Document, *, max_tokens: int = MAX_CHUNK_TOKENS) -> list[ChunkDraft]:
    """The chunks of one document in order: one per section with text, more for a section over `max_tokens`."""
    lines = document.text.splitlines()
    if document.path.lower().endswith(RESTRUCTUREDTEXT_SUFFIXES):
        outline = _restructuredtext_outline(lines)
    else:
        outline = _markdown_outline(lines)
    # A document that does not open with its title is named by its path in every title: "advanced/ssl › …".
    opens_with_text = any(line.strip() for line in outline.sections[0].lines)
    root = (_document_stem(document.path),) if opens_with_text else ()
    drafts = []
    for section in outline.sections:
        if not any(line.strip() for line in section.lines[section.heading_lines :]):
            continue  # a heading with nothing under it before the next one
        content = "\n".join(section.lines).strip("\n").rstrip()
        title = _title(root + section.headings)
        for part in _split_to_fit(content, max_tokens=max_tokens):
            drafts.append(ChunkDraft(title=title, content=part, tokens=count_tokens(part), anchor=section.anchor))
    return drafts


# --- Reading a folder ----------------------------------------------------------------------------------


def documents_read(folder: Path) -> list[Document]:
    """The Markdown and reStructuredText files under `folder`, at any depth, by path; hidden ones left out.

    ValidationError on `folder` when it is missing, holds no such file, or one of them is not UTF-8 text.
    """
    if not folder.is_dir():
        raise ValidationError({"folder": f"{folder} is not a folder."})
    suffixes = MARKDOWN_SUFFIXES + RESTRUCTUREDTEXT_SUFFIXES
    paths = sorted(
        (path.relative_to(folder).as_posix(), path)
        for path in folder.rglob("*")
        if path.is_file() and path.suffix.lower() in suffixes
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )
    if not paths:
        raise ValidationError(
            {"folder": f"No Markdown or reStructuredText file ({', '.join(suffixes)}) in {folder}."}
        )
    documents = []
    for relative, path in paths:
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ValidationError({"folder": f"{relative} is not UTF-8 text (byte {error.start})."}) from error
        if "\x00" in text:
            raise ValidationError({"folder": f"{relative} holds NUL characters: it is not text."})
        documents.append(Document(path=relative, text=text))
    return documents


# --- Importing ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    library: Library
    version: LibraryVersion
    files: int
    chunks: int
    tokens: int
    changed: bool  # False when the version already held these very chunks and details: nothing was written


def release_moment(day: datetime.date) -> datetime.datetime:
    """A release date as stored: noon UTC, the same calendar day in every time zone from UTC-11 to UTC+11."""
    return datetime.datetime.combine(day, datetime.time(12), tzinfo=datetime.UTC)


def _source_url(base: str, document: Document, anchor: str) -> str:
    if not base:
        return ""
    url = base + quote(document.path) + (f"#{anchor}" if anchor else "")
    if len(url) > SOURCE_URL_MAX_LENGTH:
        raise ValidationError(
            {"source_url_base": f"The link to {document.path} is over {SOURCE_URL_MAX_LENGTH} characters: {url}"}
        )
    return url


def _validated(*, slug: str, version: str, library_fields: dict, source_url_base: str) -> None:
    errors: dict[str, list[str]] = {}
    try:  # the model's own rules on each field, as the admin applies them
        Library(**{"slug": slug, "name": "-", **library_fields}).clean_fields()
    except ValidationError as error:
        errors.update(error.message_dict)
    if "slug" not in errors and not SLUG_PATTERN.fullmatch(slug):
        errors["slug"] = ["A slug is owner/name, like vercel/next.js: letters, digits, '.', '_' and '-'."]
    try:
        LibraryVersion(version=version).clean_fields(exclude=["library"])
    except ValidationError as error:
        errors.update(error.message_dict)
    if source_url_base:
        try:
            URLValidator()(source_url_base)
        except ValidationError:
            errors["source_url_base"] = ["Enter a valid URL, like https://github.com/owner/name/blob/v1.0/docs/."]
    if errors:
        raise ValidationError(errors)


def library_version_import(
    *,
    slug: str,
    version: str,
    documents: list[Document],
    name: str | None = None,
    description: str | None = None,
    homepage_url: str | None = None,
    repository_url: str | None = None,
    released_on: datetime.date | None = None,
    make_latest: bool = True,
    source_url_base: str = "",
    max_tokens: int = MAX_CHUNK_TOKENS,
) -> ImportResult:
    """Create or update the library and its version, whose chunks become those of `documents`, all at once.

    The library's details given replace its own (a new library is named after its slug unless `name` says
    otherwise). The version's chunks are all replaced (none is kept from an earlier import), and the version
    becomes the library's latest unless `make_latest` is False. Two imports of one library run one after the
    other (its row is locked). Importing the same documents again writes nothing. ValidationError naming the
    field for a bad slug, version or URL, or documents without text; then nothing is written.
    """
    library_fields = {
        field: value
        for field, value in (
            ("name", name), ("description", description), ("homepage_url", homepage_url),
            ("repository_url", repository_url),
        )
        if value is not None
    }
    _validated(slug=slug, version=version, library_fields=library_fields, source_url_base=source_url_base)
    chunks = [
        DocumentationChunk(
            title=draft.title, content=draft.content, tokens=draft.tokens,
            source_url=_source_url(source_url_base, document, draft.anchor),
        )
        for document in documents
        for draft in document_split(document, max_tokens=max_tokens)
    ]
    if not chunks:
        raise ValidationError({"documents": "The files hold no text to import."})
    for position, chunk in enumerate(chunks):
        chunk.position = position
    with transaction.atomic():
        return _import(
            slug=slug, version=version, library_fields=library_fields, chunks=chunks, files=len(documents),
            released_at=release_moment(released_on) if released_on else None, make_latest=make_latest,
        )


def _chunk_row(chunk: DocumentationChunk) -> tuple:
    return chunk.position, chunk.title, chunk.content, chunk.tokens, chunk.source_url


def _import(
    *, slug: str, version: str, library_fields: dict, chunks: list[DocumentationChunk], files: int,
    released_at: datetime.datetime | None, make_latest: bool,
) -> ImportResult:
    Library.objects.get_or_create(slug=slug, defaults={"name": slug.rsplit("/", 1)[-1], **library_fields})
    # The library first, then its versions: imports of any of its versions wait here, so "latest" moves once.
    library = Library.objects.select_for_update().get(slug=slug)
    changes: dict[str, dict] = {}
    for field, value in library_fields.items():
        if getattr(library, field) != value:
            changes[field] = {"old": getattr(library, field), "new": value}
            setattr(library, field, value)
    if changes:
        library.save(update_fields=list(changes))
    LibraryVersion.objects.get_or_create(library=library, version=version)
    library_version = LibraryVersion.objects.select_for_update().get(library=library, version=version)
    if released_at is not None and library_version.released_at != released_at:
        changes["released_at"] = {"old": library_version.released_at, "new": released_at}
        library_version.released_at = released_at
        library_version.save(update_fields=["released_at"])
    if make_latest and not library_version.is_latest:
        # Before this one takes it: one latest version per library (a constraint).
        library.versions.filter(is_latest=True).update(is_latest=False)
        library_version.is_latest = True
        library_version.save(update_fields=["is_latest"])
        changes["is_latest"] = {"old": False, "new": True}
    stored = [_chunk_row(chunk) for chunk in library_version.chunks.order_by("position")]
    if stored != [_chunk_row(chunk) for chunk in chunks]:
        library_version.chunks.all().delete()
        for chunk in chunks:
            chunk.version = library_version
        DocumentationChunk.objects.bulk_create(chunks)
        changes["chunks"] = {"old": len(stored), "new": len(chunks)}
    tokens = sum(chunk.tokens for chunk in chunks)
    if changes:
        audit_log_record(
            action="library_version.import", obj=library_version,
            changes={
                "slug": library.slug, "version": library_version.version, "files": files, "tokens": tokens,
                **{field: {"old": _plain(change["old"]), "new": _plain(change["new"])}
                   for field, change in changes.items()},
            },
        )
        # New text to find: every cached library search is forgotten once this is committed.
        transaction.on_commit(lambda: cache.set(SEARCH_GENERATION_KEY, uuid.uuid4().hex, timeout=None))
    return ImportResult(
        library=library, version=library_version, files=files, chunks=len(chunks), tokens=tokens,
        changed=bool(changes),
    )


def _plain(value):
    return value.isoformat() if isinstance(value, datetime.datetime) else value
