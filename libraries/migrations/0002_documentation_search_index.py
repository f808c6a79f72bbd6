"""A GIN index for full-text search of documentation chunks, on PostgreSQL only (SQLite migrates as a no-op).

The expression must stay identical to `libraries.selectors.CHUNK_DOCUMENT`, or the planner will not use it.
"""
from django.db import migrations

INDEX_NAME = "libraries_chunk_search_idx"
CREATE = (
    f"CREATE INDEX IF NOT EXISTS {INDEX_NAME} ON libraries_documentationchunk "
    "USING gin (to_tsvector('english', title || ' ' || content))"
)
DROP = f"DROP INDEX IF EXISTS {INDEX_NAME}"


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("libraries", "0001_initial")]

    operations = [migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP), elidable=False)]
