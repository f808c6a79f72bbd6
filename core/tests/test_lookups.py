"""`__any`: the rows `__in` selects, in one short statement on PostgreSQL."""
import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db


@pytest.fixture
def groups() -> list[Group]:
    return [Group.objects.create(name=f"finance-{index}") for index in range(5)]


def test_it_selects_what_in_selects_by_key_and_by_text(groups):
    wanted = [groups[1].pk, groups[3].pk, groups[3].pk, None, 10**9]

    assert list(Group.objects.filter(pk__any=wanted).order_by("pk")) == [groups[1], groups[3]]
    assert set(Group.objects.filter(name__any=["finance-0", "finance-4", "nobody"])) == {groups[0], groups[4]}


def test_a_relation_takes_instances_or_keys():
    types = list(ContentType.objects.order_by("pk")[:2])
    expected = set(Permission.objects.filter(content_type__in=types))

    assert expected
    assert set(Permission.objects.filter(content_type__any=types)) == expected
    assert set(Permission.objects.filter(content_type_id__any=[t.pk for t in types])) == expected


def test_no_values_select_no_rows_without_asking_the_database(groups):
    with CaptureQueriesContext(connection) as queries:
        assert list(Group.objects.filter(pk__any=[])) == []
        assert list(Group.objects.filter(pk__any=[None])) == []

    assert len(queries) == 0


def test_the_statement_is_the_same_for_three_values_and_for_five_hundred(groups):
    def compiled(values):
        return Group.objects.filter(pk__any=values).query.get_compiler(connection=connection).as_sql()

    (few, few_params), (many, many_params) = compiled([1, 2, 3]), compiled(list(range(1, 501)))

    assert few == many and few.endswith('"auth_group"."id" = ANY(%s)')
    assert few_params == ([1, 2, 3],) and many_params == (list(range(1, 501)),)


def test_a_subquery_is_selected_as_in_selects_it(groups):
    named = Group.objects.filter(name__any=["finance-2"]).values("pk")

    assert list(Group.objects.filter(pk__any=named)) == [groups[2]]
