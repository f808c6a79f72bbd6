"""Documentation chunks keep their full-text vector in a stored generated column, `search_vector`, with a GIN
index; on PostgreSQL only (SQLite migrates as a no-op and searches with `icontains`).

Computing `to_tsvector` of each chunk at query time cost about 35 ms per docs call for one version's 200 chunks,
and the expression index of 0002 did not help: the planner reads one version's rows by `version_id` and then had
to compute the vector of each. A stored column is computed once per write, by PostgreSQL itself, so nothing can
forget to update it. The column is not declared on the model: the ORM never reads or writes it (raw SQL in
`libraries.selectors` does), and SQLite has no `tsvector`. The expression index of 0002 is dropped: the new index
serves the same queries.

PostgreSQL refuses to change the type of a column that a generated column uses: a later migration that alters
`title` or `content` must drop `search_vector` first and add it back afterwards.
"""
from django.db import migrations

COLUMN = "search_vector"
INDEX_NAME = "libraries_chunk_search_vector_idx"
OLD_INDEX_NAME = "libraries_chunk_search_idx"
TABLE = "libraries_documentationchunk"
# Same document as the expression index of 0002, so that ranks do not change.
DOCUMENT = "to_tsvector('english', title || ' ' || content)"

FORWARDS = [
    f"ALTER TABLE {TABLE} ADD COLUMN {COLUMN} tsvector GENERATED ALWAYS AS ({DOCUMENT}) STORED",
    f"CREATE INDEX {INDEX_NAME} ON {TABLE} USING gin ({COLUMN})",
    f"DROP INDEX IF EXISTS {OLD_INDEX_NAME}",
]
BACKWARDS = [
    f"CREATE INDEX IF NOT EXISTS {OLD_INDEX_NAME} ON {TABLE} USING gin ({DOCUMENT})",
    f"ALTER TABLE {TABLE} DROP COLUMN IF EXISTS {COLUMN}",  # its index goes with it
]


def _on_postgresql(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("libraries", "0003_retention_schedules")]

    operations = [migrations.RunPython(_on_postgresql(FORWARDS), _on_postgresql(BACKWARDS), elidable=False)]
