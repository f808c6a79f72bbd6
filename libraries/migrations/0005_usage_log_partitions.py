"""Usage logs in monthly partitions on PostgreSQL, event ids kept unique by UsageEventId, and the daily
beat task that creates partitions ahead (libraries.partitions).

The table is rebuilt as a partitioned one under the same name, keeping every column, check, foreign key
and index by name (so that later migrations find them) except the unique index on `event_id`, which a
partitioned table cannot hold: the statement trigger created here registers the event ids of every INSERT
in UsageEventId, and a second copy fails there, as it did on the index. The rows are copied into their month's partition,
and the identity continues after the highest id. Other databases (SQLite) keep the plain table.

Not reversible: going back would need every event id to be unique again in one table, which it is, but
a partitioned table holding years of usage is not something to rewrite by accident.
"""
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from core.schedules import schedules_operation

TABLE = "libraries_usagelog"
OLD = "libraries_usagelog_unpartitioned"
SCHEDULES = {"Usage log partitions ahead": ("libraries.tasks.usage_partitions_ensure_task", "15", "3", "*")}

# After each INSERT statement, its rows' event ids in one set-based INSERT (a trigger per row costs a
# PL/pgSQL call per event): a second copy of an event fails the statement, as a unique index would. Usage
# ingestion registers its batch's ids in the same statement, and says so for that statement alone.
REGISTER_EVENT_ID = """
CREATE FUNCTION libraries_usage_events_register() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('twinmcp.usage_event_ids_registered', true) = 'on' THEN
        RETURN NULL;
    END IF;
    INSERT INTO libraries_usageeventid (event_id, created_at) SELECT event_id, created_at FROM inserted;
    RETURN NULL;
END
$$;
CREATE TRIGGER usage_events_register AFTER INSERT ON libraries_usagelog
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION libraries_usage_events_register();
"""


def partition_usage_logs(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from libraries.partitions import DEFAULT_PARTITION, usage_partitions_cover, usage_partitions_ensure

    execute = schema_editor.execute
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype IN ('p', 'u'))",
            [TABLE, TABLE],
        )
        indexes = [(name, definition) for name, definition in cursor.fetchall() if "event_id" not in definition]
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
            "AND contype = 'f'",
            [TABLE],
        )
        foreign_keys = cursor.fetchall()
        cursor.execute(f"SELECT min(created_at), max(created_at) FROM {TABLE}")
        first, last = cursor.fetchone()
    execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
    execute(f"ALTER INDEX {TABLE}_pkey RENAME TO {OLD}_pkey")
    for name, _ in indexes:
        execute(f'ALTER INDEX "{name}" RENAME TO "{name}_old"')
    execute(
        f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS, "
        f"PRIMARY KEY (id, created_at)) PARTITION BY RANGE (created_at)"
    )
    execute(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF {TABLE} DEFAULT")
    for name, definition in indexes:
        execute(definition.replace(f" ON public.{TABLE} ", f" ON {TABLE} "))
    for name, definition in foreign_keys:
        execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}')
    usage_partitions_ensure()
    if first is not None:
        usage_partitions_cover(first, last)
    execute(f"INSERT INTO {TABLE} SELECT * FROM {OLD}")
    execute(f"INSERT INTO libraries_usageeventid (event_id, created_at) SELECT event_id, created_at FROM {OLD}")
    execute(
        f"SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'), coalesce((SELECT max(id) FROM {OLD}), 0) + 1, "
        "false)"
    )
    execute(f"DROP TABLE {OLD}")
    execute(REGISTER_EVENT_ID)
    # Django's pattern index beside a text primary key serves LIKE lookups, never made on event ids: one
    # index less to write per event.
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'libraries_usageeventid' "
            "AND indexdef LIKE '%%varchar_pattern_ops%%'"
        )
        for (name,) in cursor.fetchall():
            execute(f'DROP INDEX "{name}"')



class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0005_key_rotation_schedule'),
        ('libraries', '0004_chunk_search_vector'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.CreateModel(
            name='UsageEventId',
            fields=[
                ('event_id', models.CharField(max_length=100, primary_key=True, serialize=False)),
                ('created_at', models.DateTimeField(db_index=True)),
            ],
        ),
        migrations.RemoveIndex(
            model_name='usagelog',
            name='usage_user_created_idx',
        ),
        migrations.AlterField(
            model_name='usagelog',
            name='user',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='usage_logs', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddIndex(
            model_name='usagelog',
            index=models.Index(fields=['user', 'created_at'], include=('tokens',), name='usage_user_created_idx'),
        ),
        migrations.RunPython(partition_usage_logs),
        schedules_operation(SCHEDULES),
    ]
