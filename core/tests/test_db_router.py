import datetime
from decimal import Decimal

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from billing.backoffice.dashboard import dashboard_figures
from billing.models import Invoice, Plan
from core.db_router import replica_reads


@pytest.fixture(autouse=True)
def _replica_reads_on(settings):
    settings.DATABASE_REPLICA_READS = True
    yield
    connections["replica"].close()  # else the test database cannot be dropped at the end of the run


@pytest.mark.django_db(databases=["default", "replica"])
class TestReplicaRouting:
    def test_reads_go_to_the_primary_by_default(self):
        assert Invoice.objects.all().db == "default"

    def test_replica_reads_turned_off_go_to_the_primary(self, settings):
        settings.DATABASE_REPLICA_READS = False
        with replica_reads():
            assert Invoice.objects.all().db == "default"

    def test_reads_that_opt_in_go_to_the_replica(self):
        with replica_reads():
            assert Invoice.objects.all().db == "replica"
        assert Invoice.objects.all().db == "default"

    def test_a_decorated_selector_reads_from_the_replica(self):
        @replica_reads()
        def report():
            return Plan.objects.all().db

        assert report() == "replica"

    def test_writes_and_locks_stay_on_the_primary(self):
        with replica_reads():
            plan = Plan.objects.create(
                code="starter", name="Starter", price=Decimal("5.00"), included_tokens=1_000_000,
                overage_price_per_million=Decimal("3.00"),
            )
            assert plan._state.db == "default"
            assert Plan.objects.select_for_update().filter(pk=plan.pk).db == "default"

    def test_the_back_office_dashboard_reads_every_figure_from_the_replica(self):
        with CaptureQueriesContext(connections["replica"]) as on_replica, CaptureQueriesContext(
            connections["default"]
        ) as on_primary:
            dashboard_figures(now=datetime.datetime(2026, 11, 24, 9, tzinfo=datetime.UTC), currency="EUR")

        assert len(on_replica.captured_queries) >= 5
        assert on_primary.captured_queries == []
