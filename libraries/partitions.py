"""Usage logs in monthly PostgreSQL partitions (declarative range partitioning on `created_at`).

A month is the billing month (`BILLING_TIME_ZONE`, Paris): the monthly invoice run's grouped usage query
reads one partition, and retention drops whole partitions instead of deleting rows one by one. Partitions
are created ahead by a daily beat task (`usage_partitions_ensure_task`); a DEFAULT partition keeps any
event outside them (a late or far-dated one) rather than refusing it, and its rows move into their month's
partition when that partition is created.

An event id is unique across the partitions through `UsageEventId`, filled by a statement trigger on every
insert (see migration 0005): a partitioned table's own unique indexes must include the partition key.

Other databases (SQLite for `make run`) keep one plain table: every function here does nothing there.
"""
import datetime
import re
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .models import UsageLog

TABLE = UsageLog._meta.db_table
DEFAULT_PARTITION = f"{TABLE}_default"
MONTHS_AHEAD = 2  # the current month and the next two always exist
PARTITION_NAME = re.compile(rf"^{TABLE}_y(\d{{4}})m(\d{{2}})$")


def partitioned() -> bool:
    return connection.vendor == "postgresql"


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.BILLING_TIME_ZONE)


def _month_start(year: int, month: int) -> datetime.datetime:
    return datetime.datetime(year, month, 1, tzinfo=_zone())


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def partition_name(year: int, month: int) -> str:
    return f"{TABLE}_y{year:04d}m{month:02d}"


def usage_partitions() -> list[str]:
    """The monthly partitions that exist, oldest first (the DEFAULT partition aside)."""
    if not partitioned():
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT child.relname FROM pg_inherits JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
            "WHERE pg_inherits.inhparent = %s::regclass",
            [TABLE],
        )
        return sorted(name for (name,) in cursor.fetchall() if PARTITION_NAME.match(name))


@transaction.atomic
def usage_partition_create(*, year: int, month: int) -> bool:
    """The partition of one billing month, if missing; True when it was created.

    Rows of that month waiting in the DEFAULT partition move into it in the same transaction (PostgreSQL
    refuses to attach a range that the DEFAULT partition still holds rows of).
    """
    name = partition_name(year, month)
    if not partitioned() or name in usage_partitions():
        return False
    start, end = _month_start(year, month), _month_start(*_next_month(year, month))
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {quote(TABLE)} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(f"CREATE TABLE {quote(name)} (LIKE {quote(TABLE)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        moved = f"DELETE FROM {quote(DEFAULT_PARTITION)} WHERE created_at >= %s AND created_at < %s RETURNING *"
        cursor.execute(f"WITH moved AS ({moved}) INSERT INTO {quote(name)} SELECT * FROM moved", [start, end])
        cursor.execute(
            f"ALTER TABLE {quote(TABLE)} ATTACH PARTITION {quote(name)} FOR VALUES FROM (%s) TO (%s)", [start, end]
        )
    return True


def usage_partitions_cover(start_at: datetime.datetime, end_at: datetime.datetime) -> list[str]:
    """Create the partitions of every billing month that [start_at, end_at] touches: the names created."""
    first, last = timezone.localtime(start_at, _zone()), timezone.localtime(end_at, _zone())
    year, month = first.year, first.month
    created = []
    while (year, month) <= (last.year, last.month):
        if usage_partition_create(year=year, month=month):
            created.append(partition_name(year, month))
        year, month = _next_month(year, month)
    return created


def usage_partitions_ensure(*, now: datetime.datetime | None = None, months_ahead: int = MONTHS_AHEAD) -> list[str]:
    """Create the partitions of the current billing month and the next `months_ahead`: the names created."""
    local = timezone.localtime(now or timezone.now(), _zone())
    year, month = local.year, local.month
    for _ in range(months_ahead):
        year, month = _next_month(year, month)
    return usage_partitions_cover(local, _month_start(year, month))


@transaction.atomic
def usage_partitions_drop_before(cutoff: datetime.datetime) -> dict[str, int]:
    """Drop the partitions whose whole month ends at or before `cutoff`: their names and rows.

    Their event ids stay in UsageEventId until the retention purge deletes them.
    """
    dropped = {}
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for name in usage_partitions():
            year, month = map(int, PARTITION_NAME.match(name).groups())
            if _month_start(*_next_month(year, month)) > cutoff:
                continue
            cursor.execute(f"SELECT count(*) FROM {quote(name)}")
            [dropped[name]] = cursor.fetchone()
            cursor.execute(f"DROP TABLE {quote(name)}")
    return dropped
