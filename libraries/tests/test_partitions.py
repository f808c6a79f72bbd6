"""Usage logs in monthly partitions: created ahead, filled by month, read one at a time, dropped by retention,
and an event id still counted once across them."""
import datetime
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings as django_settings
from django.db import IntegrityError, connection, transaction
from django_celery_beat.models import PeriodicTask

from billing.selectors import usage_tokens_by_window
from libraries.models import UsageEventId, UsageLog
from libraries.partitions import (
    DEFAULT_PARTITION,
    partition_name,
    usage_partition_create,
    usage_partitions,
    usage_partitions_ensure,
)
from libraries.services import usage_events_ingest, usage_logs_purge
from libraries.tests.factories import UsageLogFactory

pytestmark = pytest.mark.django_db

# Partitions hold months of the billing time zone (Paris), as libraries.partitions reads it.
PARIS = ZoneInfo(django_settings.BILLING_TIME_ZONE)


def paris(year: int, month: int, day: int = 1, hour: int = 0) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, tzinfo=PARIS)


def partition_of(usage: UsageLog) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM libraries_usagelog WHERE id = %s", [usage.pk])
        return cursor.fetchone()[0]


def plan_of(sql: str, params: list) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def scanned_partitions(plan: str) -> set[str]:
    return {word for word in plan.replace("(", " ").split() if word.startswith("libraries_usagelog_")
            and not word.endswith("_idx") and not word.endswith("_pkey")}


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("partitions are PostgreSQL's")


def test_this_month_and_the_next_two_exist_and_the_beat_task_keeps_it_so():
    months = usage_partitions()
    today = datetime.datetime.now(PARIS)
    this_month = partition_name(today.year, today.month)
    assert this_month in months
    assert months.index(this_month) + 2 < len(months)
    task = PeriodicTask.objects.get(name="Usage log partitions ahead")
    assert task.task == "libraries.tasks.usage_partitions_ensure_task" and task.enabled

    created = usage_partitions_ensure(now=paris(2031, 12, 15))

    assert created == ["libraries_usagelog_y2031m12", "libraries_usagelog_y2032m01", "libraries_usagelog_y2032m02"]
    assert usage_partitions_ensure(now=paris(2031, 12, 15)) == []


def test_a_billing_month_is_a_paris_month_and_its_rows_land_in_its_partition():
    usage_partitions_ensure(now=paris(2030, 3, 10))
    last_of_february = UsageLogFactory(created_at=paris(2030, 2, 28, 23) + datetime.timedelta(minutes=59))
    first_of_march = UsageLogFactory(created_at=paris(2030, 3, 1, 0))
    first_of_march_in_utc = datetime.datetime(2030, 3, 1, 0, 30, tzinfo=datetime.UTC)  # 01:30 in Paris
    later = UsageLogFactory(created_at=first_of_march_in_utc)

    assert partition_of(first_of_march) == partition_of(later) == "libraries_usagelog_y2030m03"
    assert partition_of(last_of_february) == DEFAULT_PARTITION  # February's partition does not exist


def test_creating_a_month_moves_its_rows_out_of_the_default_partition():
    waiting = UsageLogFactory(created_at=paris(2029, 6, 14), tokens=1234)

    assert usage_partition_create(year=2029, month=6) is True

    assert partition_of(waiting) == "libraries_usagelog_y2029m06"
    assert UsageLog.objects.get(pk=waiting.pk).tokens == 1234
    assert usage_partition_create(year=2029, month=6) is False


def test_the_month_aggregate_reads_one_partition_and_the_run_query_only_the_month():
    usage_partitions_ensure(now=paris(2030, 9, 1))  # September, October, November 2030
    start, end = paris(2030, 10, 1), paris(2030, 11, 1)

    month_plan = plan_of(
        "SELECT user_id, sum(tokens) FROM libraries_usagelog WHERE created_at >= %s AND created_at < %s "
        "GROUP BY user_id",
        [start, end],
    )

    assert scanned_partitions(month_plan) == {"libraries_usagelog_y2030m10"}


def test_the_invoice_run_sums_each_window_from_the_month_partition():
    usage_partitions_ensure(now=paris(2030, 9, 1))
    alice, bob = UsageLogFactory(created_at=paris(2030, 10, 3), tokens=100), UsageLogFactory(
        created_at=paris(2030, 10, 20), tokens=7)
    UsageLogFactory(user=alice.user, created_at=paris(2030, 9, 30, 23), tokens=5000)  # September
    UsageLogFactory(user=bob.user, created_at=paris(2030, 10, 25), tokens=40)
    month = (paris(2030, 10, 1), paris(2030, 11, 1))
    from_the_20th = (paris(2030, 10, 20), paris(2030, 11, 1))

    tokens = usage_tokens_by_window({1: (alice.user_id, month), 2: (bob.user_id, from_the_20th),
                                     3: (bob.user_id, month)})

    assert tokens == {1: 100, 2: 47, 3: 47}


def test_an_event_id_is_unique_across_months():
    usage_partitions_ensure(now=paris(2030, 4, 1))
    UsageLogFactory(event_id="evt-across", created_at=paris(2030, 4, 2))

    with pytest.raises(IntegrityError, match="libraries_usageeventid_pkey"), transaction.atomic():
        UsageLogFactory(event_id="evt-across", created_at=paris(2030, 5, 2))

    assert UsageLog.objects.filter(event_id="evt-across").count() == 1


def test_ingesting_an_event_again_in_another_month_counts_it_once(django_user_model):
    usage_partitions_ensure(now=paris(2030, 4, 1))
    customer = django_user_model.objects.create_user(email="ada@example.com", password="x")
    now = paris(2030, 5, 2, 12)
    first = usage_events_ingest(events=[{"event_id": "evt-1", "customer": customer.email, "tokens": 10,
                                         "endpoint": "/docs", "timestamp": paris(2030, 4, 30, 23).isoformat()}],
                                now=now)
    again = usage_events_ingest(events=[{"event_id": "evt-1", "customer": customer.email, "tokens": 10,
                                         "endpoint": "/docs", "timestamp": paris(2030, 5, 2).isoformat()}],
                                now=now)

    assert (first.accepted, first.duplicates, again.accepted, again.duplicates) == (1, 0, 0, 1)
    assert UsageLog.objects.filter(event_id="evt-1").count() == 1


def test_retention_drops_whole_months_and_deletes_the_rest_with_their_event_ids(settings):
    settings.USAGE_RETENTION_DAYS = 30
    usage_partitions_ensure(now=paris(2028, 1, 5))  # January to March 2028
    january = [UsageLogFactory(created_at=paris(2028, 1, day)) for day in (3, 17, 30)]
    february_early = UsageLogFactory(created_at=paris(2028, 2, 2))
    february_late = UsageLogFactory(created_at=paris(2028, 2, 20))
    now = paris(2028, 3, 5)  # cutoff 4 February
    with connection.cursor() as cursor:  # the test's own inserts leave deferred key checks that block a DROP
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    purged = usage_logs_purge(now=now)

    assert purged == 4
    assert "libraries_usagelog_y2028m01" not in usage_partitions()
    assert "libraries_usagelog_y2028m02" in usage_partitions()
    assert set(UsageLog.objects.filter(created_at__year=2028).values_list("pk", flat=True)) == {february_late.pk}
    gone = [usage.event_id for usage in [*january, february_early]]
    assert not UsageEventId.objects.filter(event_id__in=gone).exists()
    assert UsageEventId.objects.filter(event_id=february_late.event_id).exists()


def test_after_an_ingested_batch_other_inserts_still_register_their_event_ids(django_user_model):
    customer = django_user_model.objects.create_user(email="grace@example.com", password="x")
    now = datetime.datetime.now(PARIS)
    usage_events_ingest(events=[{"event_id": "evt-batch", "customer": customer.email, "tokens": 3,
                                 "endpoint": "/docs", "timestamp": now.isoformat()}], now=now)

    later = UsageLogFactory(event_id="evt-orm", created_at=now)

    assert set(UsageEventId.objects.values_list("event_id", flat=True)) == {"evt-batch", "evt-orm"}
    assert UsageEventId.objects.get(event_id="evt-orm").created_at == later.created_at
    with pytest.raises(IntegrityError), transaction.atomic():
        UsageLogFactory(event_id="evt-batch", created_at=now)
