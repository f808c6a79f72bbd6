import datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.tests.factories import UserProfileFactory
from billing.models import Invoice, InvoiceStatus, Subscription
from billing.tests.factories import PlanFactory, SubscriptionFactory
from tests.helpers import clean_environment, run_manage

NOVEMBER_1 = datetime.date(2026, 11, 1)
# When beat runs October's invoices: they are issued, and numbered, in 2026.
RUN_AT = datetime.datetime(2026, 11, 1, 1, 0, tzinfo=datetime.UTC)


def october_customer(email: str, country: str = "FR"):
    user = UserProfileFactory(user__email=email, country=country).user
    SubscriptionFactory(user=user, plan=PlanFactory(), current_period_start=datetime.date(2026, 10, 1),
                        current_period_end=NOVEMBER_1)
    return user


def generate(*args: str) -> str:
    out = StringIO()
    call_command("generate_invoices", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
class TestGenerateInvoices:
    @pytest.fixture(autouse=True)
    def _on_november_1(self, time_machine):
        time_machine.move_to(RUN_AT, tick=False)

    def test_invoices_every_period_that_ended_and_prints_a_summary(self):
        october_customer("ada@example.com")
        october_customer("alan@example.com", country="US")

        output = generate("--period", "2026-10")

        assert "invoices created:            2" in output
        assert "total billed:                41.80 EUR" in output  # 22.80 + 19.00 (no VAT outside the EU)
        assert set(Invoice.objects.values_list("status", flat=True)) == {InvoiceStatus.SENT}
        assert sorted(Invoice.objects.values_list("number", flat=True)) == ["TMCP-2026-000001", "TMCP-2026-000002"]
        assert set(Subscription.objects.values_list("current_period_start", "current_period_end")) == {
            (NOVEMBER_1, datetime.date(2026, 12, 1))
        }

    def test_a_second_run_bills_nothing(self):
        october_customer("ada@example.com")
        generate("--period", "2026-10")

        output = generate("--period", "2026-10")

        assert "invoices created:            0" in output
        assert Invoice.objects.count() == 1

    def test_one_customer_only(self):
        october_customer("ada@example.com")
        october_customer("alan@example.com")

        generate("--period", "2026-10", "--customer", "ADA@example.com")

        assert list(Invoice.objects.values_list("user__email", flat=True)) == ["ada@example.com"]

    def test_a_dry_run_reports_and_writes_nothing(self):
        october_customer("ada@example.com")

        output = generate("--period", "2026-10", "--dry-run")

        assert "dry run" in output
        assert "invoices created:            1" in output
        assert "total billed:                22.80 EUR" in output
        assert not Invoice.objects.exists()
        assert Subscription.objects.get().current_period_start == datetime.date(2026, 10, 1)

    @pytest.mark.parametrize("period", ["2026-13", "202610", "October", "2026-1", ""])
    def test_a_malformed_period_is_refused(self, period):
        october_customer("ada@example.com")

        with pytest.raises(CommandError, match="not a billing month"):
            generate("--period", period)
        assert not Invoice.objects.exists()

    def test_an_unknown_customer_is_refused(self):
        with pytest.raises(CommandError, match="No customer with the email nobody@example.com"):
            generate("--period", "2026-10", "--customer", "nobody@example.com")


@pytest.mark.slow
def test_the_command_exits_non_zero_on_a_malformed_period():
    env = clean_environment(DJANGO_SETTINGS_MODULE="twinmcp.settings.test",
                            DATABASE_URL="postgresql://postgres@127.0.0.1:5432/postgres")

    result = run_manage("generate_invoices", "--period", "2026-13", env=env)

    assert result.returncode != 0
    assert "'2026-13' is not a billing month: use YYYY-MM" in result.stderr
