"""`field__any=values`: the rows whose field is one of `values`, as `__in` selects them, sent on PostgreSQL as
`field = ANY(%s)` with the values as one array parameter.

An `IN (%s, %s, …)` of a chunk's 500 ids costs Python far more than PostgreSQL spends on it: Django compiles a
placeholder per value, and psycopg parses the long statement again on every call (it caches only short ones). The
array keeps the statement short and the same whatever the number of values. Other databases get `IN`.
"""
from django.core.exceptions import EmptyResultSet
from django.db.models import Field, ForeignObject
from django.db.models.expressions import ColPairs
from django.db.models.fields.related_lookups import RelatedIn
from django.db.models.lookups import In


class _AnyOfValues:
    lookup_name = "any"

    def as_postgresql(self, compiler, connection):
        if not self.rhs_is_direct_value() or isinstance(self.lhs, ColPairs):
            return self.as_sql(compiler, connection)  # a subquery, or a relation over several columns: IN
        field = self.lhs.output_field
        values = [
            field.get_db_prep_value(value, connection, prepared=True)
            for value in dict.fromkeys(self.rhs) if value is not None  # NULL equals nothing, as with IN
        ]
        if not values:
            raise EmptyResultSet
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", [*lhs_params, values]


class AnyOf(_AnyOfValues, In):
    pass


class RelatedAnyOf(_AnyOfValues, RelatedIn):
    pass


def register() -> None:
    Field.register_lookup(AnyOf)
    ForeignObject.register_lookup(RelatedAnyOf)
