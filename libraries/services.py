"""Writes of the docs API: serving documentation (one UsageLog per call) and ingesting usage events.

Ingestion is set-based, for batches of up to 1,000 events at a high rate: the batch is validated in one pass of
plain Python, then (PostgreSQL) written by one statement that takes the batch as one bound array per column,
looks its customers, libraries and versions up, registers the event ids of the events it can store in
UsageEventId with `ON CONFLICT DO NOTHING` and inserts the events registered, so that the duplicates counted are
exact even when two copies of a batch arrive at once: duplicates = valid events naming known customers,
libraries and versions − rows this statement inserted.
"""
import datetime
import functools
import time
from dataclasses import dataclass, field
from functools import partial

import psycopg
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import connection, connections, router, transaction
from django.db.models.functions import Lower
from django.http import Http404
from django.utils import timezone

from accounts.models import User
from core.db import columns, insert_statement, row_loader

from .models import DocumentationChunk, Library, LibraryVersion, UsageEventId, UsageLog, new_event_id
from .partitions import usage_partitions_drop_before
from .selectors import (
    VERSION_LOOKUP_SQL,
    chunks_spent_ctes,
    clean_text,
    documentation_chunks_best,
    library_version_get,
)
from .throttling import MeteredUsage, metered_usage_notify

MAX_EVENTS_PER_BATCH = 1000
MAX_FUTURE_SKEW = datetime.timedelta(minutes=5)
INT_MAX = 2_147_483_647  # PostgreSQL integer
ENDPOINT_MAX_LENGTH = UsageLog._meta.get_field("endpoint").max_length
EVENT_ID_MAX_LENGTH = UsageLog._meta.get_field("event_id").max_length
SLUG_MAX_LENGTH = Library._meta.get_field("slug").max_length
VERSION_MAX_LENGTH = LibraryVersion._meta.get_field("version").max_length
EMAIL_MAX_LENGTH = 254


# --- Serving documentation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DocsAnswer:
    library: Library
    version: LibraryVersion
    topic: str
    tokens: int
    chunks: list[DocumentationChunk]


def docs_serve(
    *, user, api_key, slug: str, topic: str | None, token_budget: int, version: str | None = None,
    endpoint: str, now: datetime.datetime | None = None,
) -> DocsAnswer:
    """The best chunks of a library version for `topic` within `token_budget`; writes one UsageLog
    with the tokens returned (404 for an unknown library or version, and then nothing is written).

    On PostgreSQL the version, its chunks and the usage row are one statement written once (`_docs_statement`):
    every docs call runs it, and each statement is a round trip and a query's Python on the call's path. Not
    atomic on purpose: the only write is that statement, atomic by itself, and BEGIN and COMMIT around it would
    be two more round trips on every metered call. The throttles hear of the usage once it is committed (at once
    here, or when a caller's own transaction commits).
    """
    started = time.perf_counter()
    created_at = now or timezone.now()
    if connections[router.db_for_write(UsageLog)].vendor == "postgresql":
        library_version, chunks, tokens = _docs_served(
            user=user, api_key=api_key, slug=slug, topic=topic, token_budget=token_budget, version=version,
            endpoint=endpoint, created_at=created_at, started=started,
        )
    else:
        library_version = library_version_get(slug=slug, version=version)
        chunks = documentation_chunks_best(version=library_version, topic=topic, token_budget=token_budget)
        tokens = sum(chunk.tokens for chunk in chunks)
        _usage_log_write(UsageLog(
            user=user,
            api_key=api_key,
            library=library_version.library,
            library_version=library_version,
            endpoint=endpoint[:ENDPOINT_MAX_LENGTH],
            tokens=tokens,
            status_code=200,
            duration_ms=round((time.perf_counter() - started) * 1000),
            created_at=created_at,
        ))
    usage = MeteredUsage(user_id=user.pk, tokens=tokens, created_at=created_at)
    transaction.on_commit(partial(metered_usage_notify, [usage]))
    return DocsAnswer(
        library=library_version.library, version=library_version, topic=topic or "", tokens=tokens, chunks=chunks
    )


@functools.cache
def _docs_statement(*, by_name: bool, by_topic: bool) -> str:
    """The version asked for (`library_version_get`'s choice), its best chunks within the budget
    (`documentation_chunks_best`'s) and the INSERT of the call's UsageLog, in one statement: a row per chosen
    chunk (one with NULL chunk columns when none fits), each with the version and its library; no row, and
    nothing written, when there is no such version.

    The log's `duration_ms` is the time spent finding the documentation: the Python before the statement
    (`%(elapsed_ms)s`) and the statement's own until its chunks were chosen. Every column of the model has a
    value here, or building the statement fails."""
    quote = connection.ops.quote_name
    values = {
        "user_id": "%(user_id)s",
        "api_key_id": "%(api_key_id)s",
        "library_id": "found.found_library_id",
        "library_version_id": "found.found_id",
        "endpoint": "%(endpoint)s",
        "tokens": "%(budget)s - total.remaining",
        "status_code": "200",
        "duration_ms": "round(%(elapsed_ms)s + 1000 * extract(epoch FROM total.chosen_at - statement_timestamp()))",
        "event_id": "%(event_id)s",
        "created_at": "%(created_at)s",
    }
    fields = [field for field in UsageLog._meta.concrete_fields if not field.primary_key]
    if sorted(field.attname for field in fields) != sorted(values):
        raise ImproperlyConfigured("UsageLog's columns changed: give each one a value in _docs_statement")
    # The version with its library, and its two ids under names of their own (the found row has two `id`s).
    found = VERSION_LOOKUP_SQL.format(
        select=f"v.id AS found_id, v.library_id AS found_library_id, {columns(LibraryVersion, 'v')}, "
        f"{columns(Library, 'l')}",
        slug="%(slug)s", by_name="AND v.version = %(version)s" if by_name else "",
    )
    return f"""
WITH RECURSIVE found AS MATERIALIZED ({found}),
{chunks_spent_ctes(by_topic=by_topic, version="(SELECT found_id FROM found)")},
total AS (SELECT MIN(remaining) AS remaining, clock_timestamp() AS chosen_at FROM spent),
logged AS (
    INSERT INTO {quote(UsageLog._meta.db_table)} ({", ".join(quote(field.column) for field in fields)})
    SELECT {", ".join(values[field.attname] for field in fields)} FROM found, total
)
SELECT found.*, {columns(DocumentationChunk, "c")}
FROM found LEFT JOIN (spent s JOIN libraries_documentationchunk c ON c.id = s.chosen) ON true
ORDER BY s.step
"""


@functools.cache
def _docs_row_loaders(alias: str):
    return row_loader(LibraryVersion, alias), row_loader(Library, alias), row_loader(DocumentationChunk, alias)


def _docs_served(
    *, user, api_key, slug: str, topic: str | None, token_budget: int, version: str | None, endpoint: str,
    created_at: datetime.datetime, started: float,
) -> tuple[LibraryVersion, list[DocumentationChunk], int]:
    """`docs_serve` on PostgreSQL: the version, its chosen chunks and their tokens, the usage row written."""
    if not slug or "\x00" in slug or (version and "\x00" in version):
        raise Http404("No such library.")
    topic = clean_text(topic)
    alias = router.db_for_write(UsageLog)
    database = connections[alias]
    params = {
        "slug": slug, "version": version, "topic": topic, "budget": token_budget, "user_id": user.pk,
        "api_key_id": api_key.pk if api_key is not None else None, "endpoint": endpoint[:ENDPOINT_MAX_LENGTH],
        "event_id": new_event_id(),
        "created_at": UsageLog._meta.get_field("created_at").get_db_prep_save(created_at, database),
        "elapsed_ms": (time.perf_counter() - started) * 1000,
    }
    with database.cursor() as cursor:
        cursor.execute(_docs_statement(by_name=bool(version), by_topic=bool(topic)), params)
        rows = cursor.fetchall()
    if not rows:
        raise Http404("No such library or version.")
    load_version, load_library, load_chunk = _docs_row_loaders(alias)
    # Each row: found_id, found_library_id, the version's columns, the library's, the chunk's.
    library_start = 2 + len(LibraryVersion._meta.concrete_fields)
    chunk_start = library_start + len(Library._meta.concrete_fields)
    library_version = load_version(rows[0][2:library_start])
    library_version.library = load_library(rows[0][library_start:chunk_start])
    chunks = [load_chunk(row[chunk_start:]) for row in rows if row[chunk_start] is not None]
    return library_version, chunks, sum(chunk.tokens for chunk in chunks)


@functools.cache
def _usage_log_insert() -> tuple[str, tuple]:
    """The INSERT of one UsageLog, built once from the model: every column but the primary key."""
    return insert_statement(UsageLog)


def _usage_log_write(log: UsageLog) -> None:
    """`log.save()` without compiling an INSERT on every metered call: the ORM took longer to compile it than
    PostgreSQL takes to store the row. Each value is prepared by its field, as the ORM does; the log's primary
    key is left unset (nothing reads it)."""
    database = connections[router.db_for_write(UsageLog)]
    sql, fields = _usage_log_insert()
    with database.cursor() as cursor:
        cursor.execute(sql, [column.get_db_prep_save(column.pre_save(log, add=True), database) for column in fields])


# --- Ingesting usage events ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Event:
    index: int
    event_id: str
    customer: str
    library: str | None
    version: str | None
    endpoint: str
    tokens: int
    created_at: datetime.datetime
    status_code: int
    duration_ms: int
    user_id: int | None = None
    library_id: int | None = None
    library_version_id: int | None = None


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int
    rejected: list[dict] = field(default_factory=list)  # [{"index": i, "errors": {field: [message]}}]


def _text_error(value, *, max_length: int, required: bool = True) -> str | None:
    if type(value) is str and 0 < len(value) <= max_length and value.isascii() and "\x00" not in value:
        return None  # nearly every value: plain ASCII text of an allowed length
    if value is None or (value == "" and not required):
        return "This field is required." if required else None
    if not isinstance(value, str):
        return "Must be a string."
    if not value:
        return "Must not be empty."
    if len(value) > max_length:
        return f"At most {max_length} characters."
    if "\x00" in value:
        return "Must not contain NUL characters."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Must be valid Unicode text."
    return None


def _integer_error(value, *, minimum: int, maximum: int) -> str | None:
    if type(value) is not int:  # JSON integers only: no booleans, floats or strings
        return "Must be an integer."
    if not minimum <= value <= maximum:
        return f"Must be between {minimum} and {maximum}."
    return None


def _timestamp(value, *, now: datetime.datetime) -> tuple[datetime.datetime | None, str | None]:
    if not isinstance(value, str):
        return None, "This field is required: an ISO 8601 date-time with an offset." if value is None else (
            "Must be an ISO 8601 date-time string with an offset."
        )
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None, "Not an ISO 8601 date-time, e.g. 2026-10-05T14:30:00+02:00."
    if moment.tzinfo is None or moment.utcoffset() is None:
        return None, "Give the offset, e.g. 2026-10-05T14:30:00+02:00 or …Z."
    try:
        moment = moment.astimezone(datetime.UTC)
    except (OverflowError, ValueError):
        return None, "Out of range."
    if moment > now + MAX_FUTURE_SKEW:
        return None, "In the future."
    return moment, None


def _event_clean(raw, *, index: int, now: datetime.datetime) -> tuple[_Event | None, dict[str, list[str]]]:
    if not isinstance(raw, dict):
        return None, {"non_field_errors": ["An event is a JSON object."]}
    get = raw.get
    event_id, customer, library, version, endpoint, tokens = (
        get("event_id"), get("customer"), get("library"), get("version"), get("endpoint"), get("tokens")
    )
    status_code, duration_ms = get("status_code", 200), get("duration_ms", 0)
    created_at, timestamp_error = _timestamp(get("timestamp"), now=now)
    errors = (
        ("event_id", _text_error(event_id, max_length=EVENT_ID_MAX_LENGTH)),
        ("customer", _text_error(customer, max_length=EMAIL_MAX_LENGTH)),
        ("library", _text_error(library, max_length=SLUG_MAX_LENGTH, required=False)),
        ("version", _text_error(version, max_length=VERSION_MAX_LENGTH, required=False)
         or ("A version needs its library." if version and not library else None)),
        ("endpoint", _text_error(endpoint, max_length=ENDPOINT_MAX_LENGTH)),
        ("tokens", _integer_error(tokens, minimum=0, maximum=INT_MAX)),
        ("status_code", None if status_code is None else _integer_error(status_code, minimum=100, maximum=599)),
        ("duration_ms", None if duration_ms is None else _integer_error(duration_ms, minimum=0, maximum=INT_MAX)),
        ("timestamp", timestamp_error),
    )
    if any(message for _, message in errors):
        return None, {name: [message] for name, message in errors if message}
    return _Event(
        index, event_id, customer.lower(), library or None, version or None, endpoint, tokens, created_at,
        200 if status_code is None else status_code, 0 if duration_ms is None else duration_ms,
    ), {}


UNKNOWN = {
    "customer": "No customer with this email address.",
    "library": "No library with this slug.",
    "version": "No such version of this library.",
}
USAGE_LOG_TABLE = UsageLog._meta.db_table
USAGE_EVENT_ID_TABLE = UsageEventId._meta.db_table
INSERT_COLUMNS = (
    "user_id", "library_id", "library_version_id", "endpoint", "tokens", "status_code", "duration_ms",
    "event_id", "created_at",
)
# One bound array per column, in binary (`%b`: a third of the time of text arrays, a sixth of quoting 10,000 values
# into the statement's text as Django's cursor does); the references looked up on their unique indexes (a customer by
# one probe of the case-blind email index per event, LIMIT 1 keeping it one: hashing the whole user table took a fifth
# more of the statement's time at 10,000 customers, and grows with them), and the events naming an unknown one set
# aside. The batch's event ids are registered (ON CONFLICT DO NOTHING: a copy stored before, or by a concurrent batch,
# which this one waits for, is skipped; of two copies in the batch, the first is kept) and only the events registered
# are inserted. Back come the events set aside, by position with the fields naming nothing, and the new rows summed
# per customer: exact counts, a few rows to read instead of a thousand. The statement trigger that registers the ids
# of other inserts is told, for this statement only, that they are registered.
POSTGRESQL_INGEST = f"""
WITH batch AS (
    SELECT * FROM unnest(
        %b::integer[], %b::varchar[], %b::varchar[], %b::varchar[], %b::varchar[], %b::varchar[], %b::integer[],
        %b::smallint[], %b::integer[], %b::timestamptz[]
    ) AS batch(position, event_id, customer, library, version, endpoint, tokens, status_code, duration_ms,
               created_at)
), resolved AS (
    SELECT batch.*, customer.id AS user_id, library.id AS library_id, version.id AS library_version_id,
           customer.id IS NOT NULL AND (batch.library IS NULL OR library.id IS NOT NULL)
           AND (batch.version IS NULL OR version.id IS NOT NULL) AS known
    FROM batch
    LEFT JOIN LATERAL (SELECT id FROM {User._meta.db_table} WHERE lower(email) = batch.customer LIMIT 1) customer
        ON TRUE
    LEFT JOIN {Library._meta.db_table} library ON library.slug = batch.library
    LEFT JOIN {LibraryVersion._meta.db_table} version
        ON version.library_id = library.id AND version.version = batch.version
), stored AS (
    SELECT DISTINCT ON (event_id) * FROM resolved WHERE known ORDER BY event_id, position
), registered AS (
    INSERT INTO {USAGE_EVENT_ID_TABLE} (event_id, created_at) SELECT event_id, created_at FROM stored
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
), inserted AS (
    INSERT INTO {USAGE_LOG_TABLE} (api_key_id, {", ".join(INSERT_COLUMNS)})
    SELECT NULL, {", ".join(f"stored.{column}" for column in INSERT_COLUMNS)}
    FROM stored JOIN registered USING (event_id)
    RETURNING user_id, tokens, created_at
)
SELECT NULL::integer, NULL::text[], user_id, COUNT(*), SUM(tokens), MAX(created_at) FROM inserted GROUP BY user_id
UNION ALL
SELECT position, array_remove(ARRAY[
    CASE WHEN user_id IS NULL THEN 'customer' END,
    CASE WHEN library IS NOT NULL AND library_id IS NULL THEN 'library' END,
    CASE WHEN version IS NOT NULL AND library_id IS NOT NULL AND library_version_id IS NULL THEN 'version' END
], NULL), NULL, NULL, NULL, NULL
FROM resolved WHERE NOT known
"""
REGISTERED_FLAG = "SELECT set_config('twinmcp.usage_event_ids_registered', %s, true)"
GENERIC_INSERT = f"""
INSERT INTO {USAGE_LOG_TABLE} (api_key_id, {", ".join(INSERT_COLUMNS)})
VALUES (NULL, {", ".join(["%s"] * len(INSERT_COLUMNS))})
ON CONFLICT (event_id) DO NOTHING
"""


@dataclass(frozen=True)
class _Written:
    inserted: int
    usages: list[MeteredUsage]
    unknown: dict[int, dict[str, list[str]]]  # by position in the batch: the fields that name nothing


def _postgresql_write(events: list[_Event]) -> _Written:
    columns = [
        [getattr(event, name) for event in events]
        for name in ("index", "event_id", "customer", "library", "version", "endpoint", "tokens", "status_code",
                     "duration_ms", "created_at")
    ]
    # A cursor of psycopg's own, binding the arrays server-side: Django's quotes each value into the text.
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(REGISTERED_FLAG, ["on"])
        cursor.execute(POSTGRESQL_INGEST, columns, binary=True)  # binary rows: a seventh of the time to read
        rows = cursor.fetchall()
        cursor.execute(REGISTERED_FLAG, ["off"])
    usages = [MeteredUsage(user_id, int(tokens), last_at) for position, _, user_id, _, tokens, last_at in rows
              if position is None]
    return _Written(
        inserted=sum(count for position, _, _, count, _, _ in rows if position is None),
        usages=usages,
        unknown={position: {name: [UNKNOWN[name]] for name in names}
                 for position, names, *_ in rows if position is not None},
    )


def _resolve(events: list[_Event]) -> dict[int, dict[str, list[str]]]:
    """Customers, libraries and versions by one query each; the events naming unknown ones are rejected."""
    users = dict(
        User.objects.annotate(email_lower=Lower("email"))
        .filter(email_lower__in={event.customer for event in events})
        .values_list("email_lower", "id")
    )
    slugs = {event.library for event in events if event.library}
    libraries = dict(Library.objects.filter(slug__in=slugs).values_list("slug", "id")) if slugs else {}
    versions_asked = {event.version for event in events if event.version and event.library in libraries}
    versions = {}
    if versions_asked:
        rows = LibraryVersion.objects.filter(library_id__in=libraries.values(), version__in=versions_asked)
        versions = {(library_id, name): pk for library_id, name, pk in rows.values_list("library_id", "version", "id")}
    errors: dict[int, dict[str, list[str]]] = {}
    for event in events:
        problems = []
        event.user_id = users.get(event.customer)
        if event.user_id is None:
            problems.append("customer")
        if event.library:
            event.library_id = libraries.get(event.library)
            if event.library_id is None:
                problems.append("library")
            elif event.version:
                event.library_version_id = versions.get((event.library_id, event.version))
                if event.library_version_id is None:
                    problems.append("version")
        if problems:
            errors[event.index] = {name: [UNKNOWN[name]] for name in problems}
    return errors


def _generic_write(events: list[_Event]) -> _Written:
    """SQLite (development): references by the ORM, one statement per row, rowcount says whether it was new."""
    unknown = _resolve(events)
    inserted = []
    with connection.cursor() as cursor:
        for event in events:
            if event.index in unknown:
                continue
            cursor.execute(GENERIC_INSERT, (
                event.user_id, event.library_id, event.library_version_id, event.endpoint, event.tokens,
                event.status_code, event.duration_ms, event.event_id, event.created_at,
            ))
            if cursor.rowcount == 1:
                inserted.append(MeteredUsage(event.user_id, event.tokens, event.created_at))
    return _Written(inserted=len(inserted), usages=inserted, unknown=unknown)


def usage_events_ingest(*, events, now: datetime.datetime | None = None) -> IngestResult:
    """Record a batch of usage events from the documentation server, idempotent by `event_id`.

    A batch that is not a list, or holds more than 1,000 events, is refused whole (ValidationError on
    `events`); otherwise each bad event is reported by index and the others are recorded. An event_id
    already recorded (earlier, concurrently, or twice in this batch) counts as a duplicate.
    """
    if not isinstance(events, list):
        raise ValidationError({"events": "Send the events as a JSON list."})
    if len(events) > MAX_EVENTS_PER_BATCH:
        raise ValidationError(
            {"events": f"At most {MAX_EVENTS_PER_BATCH} events per batch; this one has {len(events)}."}
        )
    now = now or timezone.now()
    valid: list[_Event] = []
    rejected: dict[int, dict[str, list[str]]] = {}
    for index, raw in enumerate(events):
        event, problems = _event_clean(raw, index=index, now=now)
        if event is None:
            rejected[index] = problems
        else:
            valid.append(event)
    written = _Written(inserted=0, usages=[], unknown={})
    if valid:
        with transaction.atomic():
            written = (_postgresql_write if connection.vendor == "postgresql" else _generic_write)(valid)
            transaction.on_commit(partial(metered_usage_notify, written.usages))
    rejected.update(written.unknown)
    return IngestResult(
        accepted=written.inserted,
        duplicates=len(valid) - len(written.unknown) - written.inserted,
        rejected=[{"index": index, "errors": rejected[index]} for index in sorted(rejected)],
    )


USAGE_PURGE_BATCH = 10_000


def usage_logs_purge(*, now: datetime.datetime | None = None) -> int:
    """Remove usage logs older than USAGE_RETENTION_DAYS: the rows purged.

    Whole months past the cutoff go by dropping their partition (PostgreSQL); the rows left before it (in
    the month the cutoff falls in, or elsewhere than PostgreSQL) and the event ids of all of them are deleted
    in short batches, so that ingestion never waits long. Invoices keep what was billed.
    """
    cutoff = (now or timezone.now()) - datetime.timedelta(days=settings.USAGE_RETENTION_DAYS)
    purged = sum(usage_partitions_drop_before(cutoff).values())
    purged += _delete_in_batches(UsageLog.objects.filter(created_at__lt=cutoff))
    _delete_in_batches(UsageEventId.objects.filter(created_at__lt=cutoff))
    return purged


def _delete_in_batches(rows) -> int:
    deleted = 0
    while keys := list(rows.order_by("pk").values_list("pk", flat=True)[:USAGE_PURGE_BATCH]):
        with transaction.atomic():
            deleted += rows.model.objects.filter(pk__in=keys).delete()[0]
    return deleted
