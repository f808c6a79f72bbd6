"""Set-based writes that Django's ORM makes slow at scale, and statements written once by hand: their columns
taken from the model, their rows read back as the ORM would."""
from django.db import DEFAULT_DB_ALIAS, connections, models, router


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
        # bulk_create's own first step (no public API does it): refuse unsaved related objects, take their ids.
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
            # As Django's own bulk_create marks the objects it stored (no public API does it): saved, in `using`.
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


# Statements written once. Hot paths (every docs API call) run SQL written by hand instead of the ORM's, because
# compiling the ORM query cost more than running it; these build such a statement from the model, so that its
# columns follow the model, and read its rows back as the ORM would. Callers build each once (functools.cache).


def columns(model, table_alias: str) -> str:
    """The select list of `model`'s concrete columns in field order, qualified by `table_alias`: the columns that
    `row_loader(model, …)` reads back."""
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name  # the same on every backend we run
    return ", ".join(f"{table_alias}.{quote(field.column)}" for field in model._meta.concrete_fields)


def row_loader(model, alias: str):
    """A function making an instance of `model` from a raw row of `columns(model, …)` (a slice of a wider row:
    `len(model._meta.concrete_fields)` values), as a queryset on `alias` makes it: converted as the ORM converts
    (SQLite's booleans, dates and decimals; encrypted fields decrypt), then `from_db`."""
    fields = model._meta.concrete_fields
    names = [field.attname for field in fields]
    convert = row_converter(fields, alias)
    return lambda values: model.from_db(alias, names, convert(values))


def insert_statement(model) -> tuple[str, tuple]:
    """The INSERT of one row of `model`, every concrete column but the primary key (the database assigns it), and
    those fields in the order of its placeholders: each value is `field.get_db_prep_save(field.pre_save(obj,
    add=True), connection)`, as `save()` prepares it."""
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    fields = tuple(field for field in model._meta.concrete_fields if not field.primary_key)
    names = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    return f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES ({placeholders})", fields
