"""Writes of the docs API: serving documentation (one UsageLog per call) and ingesting usage events.

Ingestion is set-based, for batches of up to 1,000 events at a high rate: the batch is validated in Python,
customers, libraries and versions are resolved with one query each, and the rows are written by one
statement (PostgreSQL) that registers the batch's event ids in UsageEventId with `ON CONFLICT DO NOTHING` and
inserts the events registered, so that the duplicates counted are exact even when two copies of a batch
arrive at once: duplicates = valid events − rows this statement inserted.
"""
import datetime
import functools
import time
from dataclasses import dataclass, field
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, connections, router, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import User
from core.db import insert_statement

from .models import DocumentationChunk, Library, LibraryVersion, UsageEventId, UsageLog
from .partitions import usage_partitions_drop_before
from .selectors import documentation_chunks_best, library_version_get
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

    Not atomic on purpose: the only write is one INSERT, atomic by itself, and BEGIN and COMMIT around the
    reads would be two more round trips on every metered call. The throttles hear of the usage once it is
    committed (at once here, or when a caller's own transaction commits).
    """
    started = time.perf_counter()
    library_version = library_version_get(slug=slug, version=version)
    chunks = documentation_chunks_best(version=library_version, topic=topic, token_budget=token_budget)
    tokens = sum(chunk.tokens for chunk in chunks)
    log = UsageLog(
        user=user,
        api_key=api_key,
        library=library_version.library,
        library_version=library_version,
        endpoint=endpoint[:ENDPOINT_MAX_LENGTH],
        tokens=tokens,
        status_code=200,
        duration_ms=round((time.perf_counter() - started) * 1000),
        created_at=now or timezone.now(),
    )
    _usage_log_write(log)
    usage = MeteredUsage(user_id=user.pk, tokens=tokens, created_at=log.created_at)
    transaction.on_commit(partial(metered_usage_notify, [usage]))
    return DocsAnswer(
        library=library_version.library, version=library_version, topic=topic or "", tokens=tokens, chunks=chunks
    )


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


@dataclass
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
    errors: dict[str, str | None] = {
        "event_id": _text_error(raw.get("event_id"), max_length=EVENT_ID_MAX_LENGTH),
        "customer": _text_error(raw.get("customer"), max_length=EMAIL_MAX_LENGTH),
        "library": _text_error(raw.get("library"), max_length=SLUG_MAX_LENGTH, required=False),
        "version": _text_error(raw.get("version"), max_length=VERSION_MAX_LENGTH, required=False),
        "endpoint": _text_error(raw.get("endpoint"), max_length=ENDPOINT_MAX_LENGTH),
        "tokens": _integer_error(raw.get("tokens"), minimum=0, maximum=INT_MAX),
    }
    status_code, duration_ms = raw.get("status_code", 200), raw.get("duration_ms", 0)
    if status_code is not None:
        errors["status_code"] = _integer_error(status_code, minimum=100, maximum=599)
    if duration_ms is not None:
        errors["duration_ms"] = _integer_error(duration_ms, minimum=0, maximum=INT_MAX)
    created_at, errors["timestamp"] = _timestamp(raw.get("timestamp"), now=now)
    if raw.get("version") and not raw.get("library") and not errors["version"]:
        errors["version"] = "A version needs its library."
    problems = {name: [message] for name, message in errors.items() if message}
    if problems:
        return None, problems
    return _Event(
        index=index,
        event_id=raw["event_id"],
        customer=raw["customer"].lower(),
        library=raw.get("library") or None,
        version=raw.get("version") or None,
        endpoint=raw["endpoint"],
        tokens=raw["tokens"],
        created_at=created_at,
        status_code=200 if status_code is None else status_code,
        duration_ms=0 if duration_ms is None else duration_ms,
    ), {}


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
        problems = {}
        event.user_id = users.get(event.customer)
        if event.user_id is None:
            problems["customer"] = ["No customer with this email address."]
        if event.library:
            event.library_id = libraries.get(event.library)
            if event.library_id is None:
                problems["library"] = ["No library with this slug."]
            elif event.version:
                event.library_version_id = versions.get((event.library_id, event.version))
                if event.library_version_id is None:
                    problems["version"] = ["No such version of this library."]
        if problems:
            errors[event.index] = problems
    return errors


USAGE_LOG_TABLE = UsageLog._meta.db_table
USAGE_EVENT_ID_TABLE = UsageEventId._meta.db_table
INSERT_COLUMNS = (
    "user_id", "library_id", "library_version_id", "endpoint", "tokens", "status_code", "duration_ms",
    "event_id", "created_at",
)
# The batch's event ids are registered first (ON CONFLICT DO NOTHING: a copy stored before, or by a concurrent
# batch, which this one waits for, is skipped), and only the events registered are inserted. The new rows come
# back summed per customer: exact counts, and a few rows to read instead of a thousand. The statement trigger
# that registers the ids of other inserts is told, for this statement only, that they are registered already.
POSTGRESQL_INSERT = f"""
WITH batch AS (
    SELECT DISTINCT ON (event_id) * FROM unnest(
        %s::bigint[], %s::bigint[], %s::bigint[], %s::varchar[], %s::integer[], %s::smallint[], %s::integer[],
        %s::varchar[], %s::timestamptz[]
    ) AS batch({", ".join(INSERT_COLUMNS)})
), registered AS (
    INSERT INTO {USAGE_EVENT_ID_TABLE} (event_id, created_at) SELECT event_id, created_at FROM batch
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
), inserted AS (
    INSERT INTO {USAGE_LOG_TABLE} (api_key_id, {", ".join(INSERT_COLUMNS)})
    SELECT NULL, {", ".join(f"batch.{column}" for column in INSERT_COLUMNS)}
    FROM batch JOIN registered USING (event_id)
    RETURNING user_id, tokens, created_at
)
SELECT user_id, COUNT(*), SUM(tokens), MAX(created_at) FROM inserted GROUP BY user_id
"""
REGISTERED_FLAG = "SELECT set_config('twinmcp.usage_event_ids_registered', %s, true)"
GENERIC_INSERT = f"""
INSERT INTO {USAGE_LOG_TABLE} (api_key_id, {", ".join(INSERT_COLUMNS)})
VALUES (NULL, {", ".join(["%s"] * len(INSERT_COLUMNS))})
ON CONFLICT (event_id) DO NOTHING
"""


def _event_values(event: _Event) -> tuple:
    return (
        event.user_id, event.library_id, event.library_version_id, event.endpoint, event.tokens, event.status_code,
        event.duration_ms, event.event_id, event.created_at,
    )


def _insert_new(events: list[_Event]) -> tuple[int, list[MeteredUsage]]:
    """Insert the events whose event_id is new: how many this call inserted, and their tokens per customer."""
    if not events:
        return 0, []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            columns = [list(column) for column in zip(*(_event_values(event) for event in events), strict=True)]
            cursor.execute(REGISTERED_FLAG, ["on"])
            cursor.execute(POSTGRESQL_INSERT, columns)
            rows = cursor.fetchall()
            cursor.execute(REGISTERED_FLAG, ["off"])
            return sum(row[1] for row in rows), [MeteredUsage(user_id, int(tokens), last_at)
                                                 for user_id, _, tokens, last_at in rows]
        inserted = []
        for event in events:  # SQLite (development): one statement per row, rowcount says whether it was new
            cursor.execute(GENERIC_INSERT, _event_values(event))
            if cursor.rowcount == 1:
                inserted.append(MeteredUsage(event.user_id, event.tokens, event.created_at))
        return len(inserted), inserted


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
    if valid:
        rejected.update(_resolve(valid))
        valid = [event for event in valid if event.index not in rejected]
    with transaction.atomic():
        accepted, usages = _insert_new(valid)
        transaction.on_commit(partial(metered_usage_notify, usages))
    return IngestResult(
        accepted=accepted,
        duplicates=len(valid) - accepted,
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
