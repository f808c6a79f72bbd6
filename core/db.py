"""Set-based writes that Django's ORM makes slow at scale, and reading rows of hand-written SQL as the ORM would."""
from django.db import connections, models, router


def rows_update(model, objects, fields: list[str]) -> int:
    """`bulk_update`, in one `UPDATE … FROM (VALUES …)` statement on PostgreSQL.

    Django's `bulk_update` builds a CASE WHEN per field and row, which costs far more Python time than the
    database spends; this sends each value once, prepared by its own field (so encrypted fields encrypt).
    Other databases keep `bulk_update`.
    """
    objects = list(objects)
    if not objects:
        return 0
    using = router.db_for_write(model)
    connection = connections[using]
    if connection.vendor != "postgresql":
        return model._default_manager.using(using).bulk_update(objects, fields)
    meta = model._meta
    pk = meta.pk
    columns = [pk] + [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    placeholder = "(" + ", ".join(f"%s::{field.db_type(connection)}" for field in columns) + ")"
    params = [
        field.get_db_prep_save(getattr(obj, field.attname), connection) for obj in objects for field in columns
    ]
    assignments = ", ".join(f"{quote(field.column)} = v.{quote(field.column)}" for field in columns[1:])
    names = ", ".join(quote(field.column) for field in columns)
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "
        f"FROM (VALUES {', '.join([placeholder] * len(objects))}) AS v({names}) "
        f"WHERE t.{quote(pk.column)} = v.{quote(pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def rows_insert(model, objects) -> None:
    """`bulk_create`, by COPY on PostgreSQL: primary keys are drawn from the table's sequence first and set
    on the objects, then the rows stream in one COPY, each value prepared by its own field (encrypted
    fields encrypt, JSON is adapted). Django's multi-row INSERT costs several times more Python time in
    compiling and quoting parameters than PostgreSQL spends storing them. Other databases keep
    `bulk_create`. Fields with database defaults must be set on the objects: COPY sends every column.
    """
    objects = list(objects)
    if not objects:
        return
    using = router.db_for_write(model)
    connection = connections[using]
    if connection.vendor != "postgresql":
        model._default_manager.using(using).bulk_create(objects)
        return
    meta = model._meta
    quote = connection.ops.quote_name
    for obj in objects:
        obj._prepare_related_fields_for_save(operation_name="rows_insert")
    fields = meta.concrete_fields
    prepared = [_needs_preparing(field) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [quote(meta.db_table), meta.pk.column, len(objects)],
        )
        for obj, (pk,) in zip(objects, cursor.fetchall(), strict=True):
            obj.pk = pk
            obj._state.adding, obj._state.db = False, using
        columns = ", ".join(quote(field.column) for field in fields)
        with cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for obj in objects:
                copy.write_row(
                    [
                        field.get_db_prep_save(field.pre_save(obj, add=True), connection)
                        if needs_preparing
                        else getattr(obj, field.attname)
                        for field, needs_preparing in zip(fields, prepared, strict=True)
                    ]
                )


# Fields whose Python value psycopg writes as it is: the rest (encrypted, JSON, automatic dates, custom
# fields) go through their own preparation.
PLAIN_FIELDS = (
    models.AutoField, models.BigAutoField, models.BigIntegerField, models.BooleanField, models.CharField,
    models.DateField, models.DateTimeField, models.DecimalField, models.ForeignKey, models.IntegerField,
    models.PositiveIntegerField, models.PositiveSmallIntegerField, models.SmallIntegerField, models.TextField,
)


def _needs_preparing(field) -> bool:
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return True
    return type(field) not in PLAIN_FIELDS


def row_converter(fields, alias: str):
    """A function turning a raw row of `fields`' columns (in that order) into their Python values, converted as
    the ORM converts them (SQLite's booleans, dates and decimals; encrypted fields decrypt). The converters
    depend only on the fields and the backend: callers build this once per statement and reuse it."""
    database = connections[alias]
    conversions = [
        (index, field.cached_col, converters)
        for index, field in enumerate(fields)
        if (converters := [*database.ops.get_db_converters(field.cached_col), *field.get_db_converters(database)])
    ]

    def convert(row) -> list:
        values = list(row)
        for index, column, converters in conversions:
            for converter in converters:
                values[index] = converter(values[index], column, database)
        return values

    return convert
