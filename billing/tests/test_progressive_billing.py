"""Progressive billing: an interim invoice bills the period's usage the moment what is not billed yet reaches the
plan's threshold; the period's final invoice takes off what the interim invoices billed.

The plan throughout: Spike, 19.00 a month, 1,000,000 tokens included, 2.00 per million beyond them, threshold
10.00. The customer is French (20 % VAT). November 2026 in Paris is the period.
"""
import datetime
import io
from decimal import Decimal

import pytest
from django.core import mail
from django.core.files.storage import default_storage
from django.db import connection, transaction
from pypdf import PdfReader
from rest_framework.test import APIClient

from accounts.models import AuditLog
from accounts.services import api_key_create
from accounts.tests.admin_helpers import admin_url
from accounts.tests.factories import make_customer
from billing.exceptions import BillingError
from billing.models import (
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    LineKind,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Plan,
    Subscription,
)
from billing.selectors import invoice_upcoming
from billing.services import (
    interim_invoice_issue,
    interim_invoices_issue_due,
    invoice_cancel,
    invoice_generate,
    invoice_run,
    plan_new_version,
)
from billing.subscriptions.lifecycle import subscription_change_preview
from billing.tests.einvoice import document_xml, en16931_failures
from billing.tests.factories import PlanFactory, SubscriptionFactory, paris
from billing.tests.test_concurrency import run_in_threads
from billing.tests.test_stripe_charging import card_saved
from libraries.tests.factories import UsageLogFactory

NOVEMBER_START, DECEMBER_START = datetime.date(2026, 11, 1), datetime.date(2026, 12, 1)
RUN_AT = paris(2026, 12, 1, 7, 0)
USAGE_LINE = "Usage above the 1,000,000 included tokens"


def spike_plan(**fields):
    defaults = {
        "code": "spike", "name": "Spike", "price": Decimal("19.00"), "included_tokens": 1_000_000,
        "overage_price_per_million": Decimal("2.00"), "progressive_threshold": Decimal("10.00"),
    }
    return PlanFactory(**{**defaults, **fields})


def subscribe(plan=None, **profile) -> Subscription:
    user = make_customer(country="FR", **profile)
    return SubscriptionFactory(
        user=user, plan=plan or spike_plan(), current_period_start=NOVEMBER_START, current_period_end=DECEMBER_START,
        started_at=paris(2026, 10, 1, 0, 0),
    )


def use(subscription: Subscription, tokens: int, at: datetime.datetime) -> None:
    UsageLogFactory(user=subscription.user, tokens=tokens, created_at=at)


def lines(invoice: Invoice) -> list[tuple]:
    return [
        (line.kind, line.description, line.quantity, line.unit_price, line.amount)
        for line in invoice.lines.order_by("position")
    ]


def figures(invoice: Invoice) -> tuple:
    return invoice.kind, invoice.status, invoice.subtotal, invoice.tax_amount, invoice.total


def usage_line(tokens_over: int, amount: str) -> tuple:
    return LineKind.USAGE, USAGE_LINE, Decimal(tokens_over), Decimal("2.0000"), Decimal(amount)


def deduction(numbers: str, amount: str) -> tuple:
    plural = "s" if "," in numbers else ""
    return (
        LineKind.USAGE, f"Usage already billed on interim invoice{plural} {numbers}", Decimal(-1), Decimal(amount),
        -Decimal(amount),
    )


def pdf_text(invoice: Invoice) -> str:
    with default_storage.open(invoice.pdf.name, "rb") as file:
        return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(file.read())).pages)


@pytest.mark.django_db
class TestInterimInvoice:
    def test_usage_reaching_the_threshold_is_billed_at_once(self, media, django_capture_on_commit_callbacks):
        subscription = subscribe(billing_email="ada@example.com")
        use(subscription, 5_990_000, paris(2026, 11, 9, 10, 0))  # 4.99 M over: 9.98, below the threshold
        assert interim_invoice_issue(subscription_id=subscription.pk, now=paris(2026, 11, 9, 11, 0)) is None

        use(subscription, 10_000, paris(2026, 11, 10, 9, 0))  # 5 M over: 10.00
        with django_capture_on_commit_callbacks(execute=True):
            invoice = interim_invoice_issue(subscription_id=subscription.pk, now=paris(2026, 11, 10, 9, 5))

        assert invoice.number == "TMCP-2026-000001"
        assert figures(invoice) == (
            InvoiceKind.INTERIM, InvoiceStatus.SENT, Decimal("10.00"), Decimal("2.00"), Decimal("12.00")
        )
        assert (invoice.period_start, invoice.period_end, invoice.issue_date) == (
            NOVEMBER_START, DECEMBER_START, datetime.date(2026, 11, 10)
        )
        assert lines(invoice) == [usage_line(5_000_000, "10.00")]
        # Issued through the one path: audited, its PDF stored and mailed.
        invoice.refresh_from_db()
        assert AuditLog.objects.filter(action="invoice.finalize", object_id=str(invoice.pk)).exists()
        assert "TMCP-2026-000001" in pdf_text(invoice)
        assert [message.subject for message in mail.outbox if "TMCP-2026-000001" in message.subject]
        # Checking again bills nothing: all the usage so far is billed.
        assert interim_invoice_issue(subscription_id=subscription.pk, now=paris(2026, 11, 10, 9, 6)) is None

    def test_a_second_interim_invoice_takes_off_what_the_first_billed(self):
        subscription = subscribe()
        use(subscription, 6_000_000, paris(2026, 11, 10, 9, 0))
        first = interim_invoice_issue(subscription_id=subscription.pk, now=paris(2026, 11, 10, 9, 5))
        use(subscription, 4_990_000, paris(2026, 11, 20, 9, 0))  # 9.99 M over: 19.98, 9.98 not billed yet
        assert interim_invoice_issue(subscription_id=subscription.pk, now=paris(2026, 11, 20, 9, 5)) is None

        use(subscription, 10_000, paris(2026, 11, 21, 9, 0))  # 10 M over: 20.00, 10.00 not billed
        second = interim_invoice_issue(subscription_id=subscription.pk, now=paris(2026, 11, 21, 9, 5))

        assert (first.number, second.number) == ("TMCP-2026-000001", "TMCP-2026-000002")
        assert lines(second) == [usage_line(10_000_000, "20.00"), deduction("TMCP-2026-000001", "10.00")]
        assert figures(second) == (
            InvoiceKind.INTERIM, InvoiceStatus.SENT, Decimal("10.00"), Decimal("2.00"), Decimal("12.00")
        )

    def test_a_plan_without_threshold_bills_usage_at_the_period_end_only(self):
        subscription = subscribe(spike_plan(code="steady", progressive_threshold=None))
        use(subscription, 50_000_000, paris(2026, 11, 10, 9, 0))

        assert interim_invoice_issue(subscription_id=subscription.pk, now=paris(2026, 11, 10, 9, 5)) is None
        assert interim_invoices_issue_due(now=paris(2026, 11, 10, 9, 5)) == 0
        assert not Invoice.objects.exists()

    def test_a_period_that_ended_is_left_to_the_invoice_run(self):
        subscription = subscribe()
        use(subscription, 6_000_000, paris(2026, 11, 30, 22, 0))

        assert interim_invoice_issue(subscription_id=subscription.pk, now=paris(2026, 12, 1, 0, 1)) is None
        assert not Invoice.objects.exists()

    def test_a_cancelled_interim_invoice_is_billed_again(self):
        subscription = subscribe()
        use(subscription, 6_000_000, paris(2026, 11, 10, 9, 0))
        first = interim_invoice_issue(subscription_id=subscription.pk, now=paris(2026, 11, 10, 9, 5))
        invoice_cancel(invoice=first, reason="Billed by mistake", now=paris(2026, 11, 11, 9, 0))
        again = interim_invoice_issue(subscription_id=subscription.pk, now=paris(2026, 11, 11, 9, 5))

        assert lines(again) == [usage_line(5_000_000, "10.00")]
        assert again.total == Decimal("12.00")


@pytest.mark.django_db
class TestFinalInvoice:
    """The worked example: 6 M tokens → interim 10.00 + VAT; 9 M at the period's end → fee 19.00 + usage 16.00
    − 10.00 already billed = 25.00 + VAT."""

    @pytest.fixture
    def billed_once(self):
        subscription = subscribe()
        use(subscription, 6_000_000, paris(2026, 11, 10, 9, 0))
        interim = interim_invoice_issue(subscription_id=subscription.pk, now=paris(2026, 11, 10, 9, 5))
        use(subscription, 3_000_000, paris(2026, 11, 25, 9, 0))
        return subscription, interim

    def test_the_monthly_run_bills_the_rest_only(self, billed_once):
        subscription, interim = billed_once

        summary = invoice_run(period_end=DECEMBER_START, now=RUN_AT)

        final = Invoice.objects.get(kind=InvoiceKind.PERIOD)
        assert summary.created == 1
        assert final.number == "TMCP-2026-000002"
        assert lines(final) == [
            (LineKind.SUBSCRIPTION, "Spike plan, November 2026", Decimal(1), Decimal("19.0000"), Decimal("19.00")),
            usage_line(8_000_000, "16.00"),
            deduction("TMCP-2026-000001", "10.00"),
        ]
        assert figures(final) == (
            InvoiceKind.PERIOD, InvoiceStatus.SENT, Decimal("25.00"), Decimal("5.00"), Decimal("30.00")
        )
        # What one invoice would have billed: 19.00 + 16.00 = 35.00 + 7.00 VAT.
        assert interim.total + final.total == Decimal("42.00")

    def test_generating_the_period_invoice_bills_the_same(self, billed_once):
        subscription, _ = billed_once

        final = invoice_generate(subscription=subscription, period="2026-11")

        assert [line[4] for line in lines(final)] == [Decimal("19.00"), Decimal("16.00"), Decimal("-10.00")]
        assert final.subtotal == Decimal("25.00")

    def test_the_upcoming_estimate_takes_off_the_interim_invoice(self, billed_once):
        subscription, _ = billed_once

        upcoming = invoice_upcoming(subscription=subscription, now=paris(2026, 11, 26, 9, 0))

        assert [(line.description, line.amount) for line in upcoming.lines] == [
            ("Spike plan, November 2026", Decimal("19.00")),
            (USAGE_LINE, Decimal("16.00")),
            ("Usage already billed on interim invoice TMCP-2026-000001", Decimal("-10.00")),
        ]
        assert (upcoming.subtotal, upcoming.tax_amount, upcoming.total) == (
            Decimal("25.00"), Decimal("5.00"), Decimal("30.00")
        )

    def test_two_interim_invoices_are_both_taken_off(self):
        subscription = subscribe()
        use(subscription, 6_000_000, paris(2026, 11, 10, 9, 0))
        interim_invoice_issue(subscription_id=subscription.pk, now=paris(2026, 11, 10, 9, 5))
        use(subscription, 5_000_000, paris(2026, 11, 21, 9, 0))
        interim_invoice_issue(subscription_id=subscription.pk, now=paris(2026, 11, 21, 9, 5))
        use(subscription, 1_000_000, paris(2026, 11, 29, 9, 0))  # 11 M over in all: 22.00

        invoice_run(period_end=DECEMBER_START, now=RUN_AT)

        final = Invoice.objects.get(kind=InvoiceKind.PERIOD)
        assert lines(final)[1:] == [
            usage_line(11_000_000, "22.00"), deduction("TMCP-2026-000001, TMCP-2026-000002", "20.00")
        ]
        assert (final.subtotal, final.total) == (Decimal("21.00"), Decimal("25.20"))

    def test_a_plan_change_preview_shows_the_fees_and_deducts_the_interim_invoice_in_its_estimates(self, billed_once):
        subscription, _ = billed_once
        team = spike_plan(code="team", name="Team", price=Decimal("99.00"), included_tokens=50_000_000)

        preview = subscription_change_preview(subscription=subscription, plan=team, now=paris(2026, 11, 26, 9, 0))

        assert [line.description for line in preview.current_lines] == ["Spike plan, November 2026"]
        already_billed = ("Usage already billed on interim invoice TMCP-2026-000001", Decimal("-10.00"))
        for estimate in (preview.invoice, preview.invoice_without_change):
            assert already_billed in [(line.description, line.amount) for line in estimate.lines]
        assert preview.invoice_without_change.subtotal == Decimal("25.00")


@pytest.mark.django_db
class TestDocuments:
    def test_interim_and_final_pdfs_and_facturx_pass_en16931(self, media, django_capture_on_commit_callbacks):
        subscription = subscribe()
        use(subscription, 6_000_000, paris(2026, 11, 10, 9, 0))
        with django_capture_on_commit_callbacks(execute=True):
            first = interim_invoice_issue(subscription_id=subscription.pk, now=paris(2026, 11, 10, 9, 5))
        use(subscription, 5_000_000, paris(2026, 11, 21, 9, 0))
        with django_capture_on_commit_callbacks(execute=True):
            second = interim_invoice_issue(subscription_id=subscription.pk, now=paris(2026, 11, 21, 9, 5))
        with django_capture_on_commit_callbacks(execute=True):
            invoice_run(period_end=DECEMBER_START, now=RUN_AT)
        final = Invoice.objects.get(kind=InvoiceKind.PERIOD)

        for invoice in (first, second, final):
            invoice.refresh_from_db()
            assert en16931_failures(document_xml(invoice)) == [], invoice.number
        second_text, final_text = pdf_text(second), pdf_text(final)
        assert "Usage already billed on interim invoice TMCP-2026-000001" in second_text
        assert "12.00 EUR" in second_text
        assert "Usage already billed on interim invoices TMCP-2026-000001, TMCP-2026-000002" in final_text
        assert "-20.00" in final_text
        assert "22.80 EUR" in final_text  # 19.00 fee + 0.00 usage left: 19.00 + 3.80 VAT


@pytest.mark.django_db
class TestTriggers:
    DOCS = "/api/libraries/acme/widgets/docs/"

    @pytest.fixture(autouse=True)
    def _november(self, time_machine):
        time_machine.move_to(paris(2026, 11, 10, 9, 0), tick=False)

    def key_client(self, subscription) -> APIClient:
        client = APIClient()
        token = api_key_create(user=subscription.user, name="Key", scopes=["docs:read"]).token
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    def test_the_metered_call_after_usage_reached_the_threshold_issues_the_interim_invoice(
        self, library_version, django_capture_on_commit_callbacks
    ):
        subscription = subscribe()
        client = self.key_client(subscription)
        use(subscription, 5_999_000, paris(2026, 11, 10, 8, 0))  # then 1,000: 5 M over, 10.00, the threshold
        use(subscription, 1_000, paris(2026, 11, 10, 8, 30))

        with django_capture_on_commit_callbacks(execute=True):  # the check is queued after the call commits
            assert client.get(self.DOCS).status_code == 200
        with django_capture_on_commit_callbacks(execute=True):
            assert client.get(self.DOCS).status_code == 200  # the same amount due: no second check

        [interim] = Invoice.objects.all()
        assert lines(interim) == [usage_line(5_000_000, "10.00")]

    def test_calls_below_the_threshold_issue_nothing(self, library_version, django_capture_on_commit_callbacks):
        subscription = subscribe()
        client = self.key_client(subscription)
        use(subscription, 5_000_000, paris(2026, 11, 10, 8, 0))  # 8.00

        with django_capture_on_commit_callbacks(execute=True):
            assert [client.get(self.DOCS).status_code for _ in range(3)] == [200, 200, 200]
        assert not Invoice.objects.exists()

    def test_the_sweep_bills_usage_ingested_in_batches(self):
        spike, other = subscribe(), subscribe(spike_plan(code="steady", progressive_threshold=None))
        use(spike, 7_000_000, paris(2026, 11, 10, 8, 0))  # 12.00
        use(other, 7_000_000, paris(2026, 11, 10, 8, 0))

        assert interim_invoices_issue_due(now=paris(2026, 11, 10, 9, 0)) == 1
        assert interim_invoices_issue_due(now=paris(2026, 11, 10, 9, 5)) == 0
        [interim] = Invoice.objects.all()
        assert (interim.subscription_id, interim.subtotal) == (spike.pk, Decimal("12.00"))


@pytest.mark.django_db(transaction=True)
class TestRaces:
    def test_concurrent_usage_and_checks_bill_every_token_once(self):
        """Eight writers each add 5 M tokens (10.00) and check at once: however they interleave, each interim
        invoice bills whole steps of 10.00 not billed before, and together they bill the 80.00 exactly."""
        subscription = subscribe()
        use(subscription, 1_000_000, paris(2026, 11, 2, 9, 0))  # the quota
        now = paris(2026, 11, 10, 9, 0)

        def write_then_check(index):
            def call():
                with transaction.atomic():
                    use(subscription, 5_000_000, now - datetime.timedelta(seconds=index + 1))
                return interim_invoice_issue(subscription_id=subscription.pk, now=now)
            return call

        run_in_threads(*(write_then_check(index) for index in range(8)))
        interim_invoices_issue_due(now=now)  # what a check saw before the last write committed

        interims = list(Invoice.objects.filter(kind=InvoiceKind.INTERIM).order_by("number"))
        assert sum(invoice.subtotal for invoice in interims) == Decimal("80.00")
        assert all(invoice.subtotal >= Decimal("10.00") and invoice.subtotal % 10 == 0 for invoice in interims)
        assert [invoice.number for invoice in interims] == [f"TMCP-2026-{n:06d}" for n in range(1, len(interims) + 1)]
        for index, invoice in enumerate(interims):  # each one deducts exactly what the ones before it billed
            billed_before = sum((earlier.subtotal for earlier in interims[:index]), Decimal("0.00"))
            deducted = -sum((line.amount for line in invoice.lines.all() if line.quantity == -1), Decimal("0.00"))
            assert deducted == billed_before, invoice.number
        invoice_run(period_end=DECEMBER_START, now=RUN_AT)
        final = Invoice.objects.get(kind=InvoiceKind.PERIOD)
        assert final.subtotal == Decimal("19.00")  # 19.00 + 80.00 − 80.00 already billed
        assert sum(invoice.total for invoice in [*interims, final]) == Decimal("118.80")  # (19 + 80) × 1.2

    def test_concurrent_checks_issue_one_interim_invoice(self):
        subscription = subscribe()
        use(subscription, 41_000_000, paris(2026, 11, 10, 8, 0))  # 40 M over: 80.00
        now = paris(2026, 11, 10, 9, 0)

        results = run_in_threads(
            *(lambda: interim_invoice_issue(subscription_id=subscription.pk, now=now) for _ in range(8)),
            hold=Subscription.objects.filter(pk=subscription.pk),
        )

        [interim] = Invoice.objects.all()
        assert [result.pk for result in results if result is not None] == [interim.pk]
        assert (interim.subtotal, interim.total) == (Decimal("80.00"), Decimal("96.00"))

    def test_a_check_racing_the_monthly_run_bills_no_token_twice(self):
        subscription = subscribe()
        use(subscription, 6_000_000, paris(2026, 11, 30, 23, 0))  # 10.00 of usage, due for an interim invoice

        run_in_threads(
            lambda: interim_invoice_issue(subscription_id=subscription.pk, now=paris(2026, 11, 30, 23, 59, 59)),
            lambda: invoice_run(period_end=DECEMBER_START, now=RUN_AT),
            hold=Subscription.objects.filter(pk=subscription.pk),
        )

        invoices = list(Invoice.objects.order_by("number"))
        final = [invoice for invoice in invoices if invoice.kind == InvoiceKind.PERIOD]
        assert len(final) == 1 and len(invoices) <= 2
        # Whichever went first: 19.00 + 10.00 billed once, 29.00 + 5.80 VAT in all.
        assert sum(invoice.subtotal for invoice in invoices) == Decimal("29.00")
        assert sum(invoice.total for invoice in invoices) == Decimal("34.80")
        assert Subscription.objects.get(pk=subscription.pk).current_period_start == DECEMBER_START
        connection.close()


@pytest.mark.django_db
class TestCustomerPages:
    def test_the_pages_show_interim_invoices_as_such(self, customer, logged_in, time_machine):
        time_machine.move_to(paris(2026, 11, 12, 9, 0), tick=False)
        subscription = SubscriptionFactory(
            user=customer, plan=spike_plan(), current_period_start=NOVEMBER_START, current_period_end=DECEMBER_START
        )
        use(subscription, 6_000_000, paris(2026, 11, 10, 9, 0))
        interim = interim_invoice_issue(subscription_id=subscription.pk, now=paris(2026, 11, 10, 9, 5))

        listing = logged_in.get("/billing/invoices/").content.decode()
        detail = logged_in.get(f"/billing/invoices/{interim.pk}/").content.decode()
        dashboard = logged_in.get("/billing/").content.decode()

        assert 'data-testid="invoice-kind">Interim</span>' in listing
        assert "Interim invoice: the usage of the period so far" in detail
        assert "Usage is invoiced as soon as what is not invoiced yet reaches 10.00" in dashboard
        assert "Usage already billed on interim invoice TMCP-2026-000001" in dashboard  # the upcoming estimate
        [listed] = logged_in.get("/api/billing/invoices/").json()["results"]
        assert (listed["number"], listed["kind"], listed["total"]) == ("TMCP-2026-000001", "INTERIM", "12.00")


@pytest.mark.django_db
class TestCardCharge:
    def test_an_interim_invoice_is_charged_to_the_saved_card(
        self, customer, media, stripe_settings, time_machine, django_capture_on_commit_callbacks
    ):
        time_machine.move_to(paris(2026, 11, 10, 9, 5), tick=False)
        card_saved(customer, stripe_settings)
        subscription = SubscriptionFactory(
            user=customer, plan=spike_plan(), current_period_start=NOVEMBER_START, current_period_end=DECEMBER_START
        )
        use(subscription, 6_000_000, paris(2026, 11, 10, 9, 0))

        with django_capture_on_commit_callbacks(execute=True):
            interim = interim_invoice_issue(subscription_id=subscription.pk, now=paris(2026, 11, 10, 9, 5))

        interim.refresh_from_db()
        [payment] = Payment.objects.filter(invoice=interim)
        assert (payment.status, payment.method, payment.amount) == (
            PaymentStatus.COMPLETED, PaymentMethod.CARD, Decimal("12.00")
        )
        assert (interim.status, interim.amount_due) == (InvoiceStatus.PAID, Decimal("0.00"))


@pytest.mark.django_db
class TestFinance:
    def test_the_invoice_admin_shows_and_filters_the_kind(self, finance_client):
        subscription = subscribe()
        use(subscription, 6_000_000, paris(2026, 11, 10, 9, 0))
        interim = interim_invoice_issue(subscription_id=subscription.pk, now=paris(2026, 11, 10, 9, 5))

        interims = finance_client.get(admin_url(Invoice, "changelist"), {"kind__exact": "INTERIM"}).content.decode()
        periods = finance_client.get(admin_url(Invoice, "changelist"), {"kind__exact": "PERIOD"}).content.decode()
        page = finance_client.get(admin_url(interim, "change")).content.decode()

        assert interim.number in interims and interim.number not in periods
        assert "Interim" in page

    def test_the_plan_page_sets_the_threshold(self, finance_client):
        plan = spike_plan()

        page = finance_client.get(admin_url(plan, "change")).content.decode()

        assert 'name="progressive_threshold" value="10.00"' in page

    def test_a_new_plan_version_keeps_the_threshold_and_refuses_zero(self):
        plan = spike_plan()

        copy = plan_new_version(plan=plan, code="spike-2027", now=paris(2026, 11, 10, 9, 0))
        with pytest.raises(BillingError, match="threshold must be above 0"):
            plan_new_version(plan=plan, code="spike-2027-2", progressive_threshold="0", now=paris(2026, 11, 10, 9, 0))

        assert copy.progressive_threshold == Decimal("10.00")
        assert not Plan.objects.filter(code="spike-2027-2").exists()
