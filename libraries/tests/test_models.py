import pytest
from django.db import IntegrityError, transaction

from libraries.tests.factories import LibraryFactory, LibraryVersionFactory, UsageLogFactory


@pytest.mark.django_db
class TestConstraints:
    def test_a_version_exists_once_per_library(self):
        library = LibraryFactory()
        LibraryVersionFactory(library=library, version="5.2.0")

        with pytest.raises(IntegrityError), transaction.atomic():
            LibraryVersionFactory(library=library, version="5.2.0")

    def test_the_same_version_string_is_fine_in_another_library(self):
        LibraryVersionFactory(version="1.0.0")
        LibraryVersionFactory(version="1.0.0")

    def test_only_one_version_is_latest(self):
        library = LibraryFactory()
        LibraryVersionFactory(library=library, is_latest=True)

        with pytest.raises(IntegrityError), transaction.atomic():
            LibraryVersionFactory(library=library, is_latest=True)

    def test_a_usage_event_is_never_recorded_twice(self):
        UsageLogFactory(event_id="evt-2026-10-31-0001")

        with pytest.raises(IntegrityError), transaction.atomic():
            UsageLogFactory(event_id="evt-2026-10-31-0001")

    def test_usage_tokens_cannot_be_negative(self):
        with pytest.raises(IntegrityError), transaction.atomic():
            UsageLogFactory(tokens=-1)

    def test_each_usage_log_gets_its_own_event_id_by_default(self):
        first, second = UsageLogFactory(), UsageLogFactory()

        assert first.event_id and second.event_id and first.event_id != second.event_id
