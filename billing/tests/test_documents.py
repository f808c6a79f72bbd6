"""Issued documents: each PDF rendered once at finalisation, stored with its SHA-256, emailed as stored.

The monthly run of October 2026 (Pro, 19.00 + 20 % VAT = 22.80 EUR) runs at 02:00 Paris on 1 November with
its after-commit callbacks executed, so the documents task runs (eager Celery) as it would after commit.
"""
import datetime
import hashlib
import io
from decimal import Decimal
from functools import partial

import facturx
import pytest
from django.core import mail
from django.core.files.storage import FileSystemStorage, default_storage
from lxml import etree
from pypdf import PdfReader

from accounts.tests.factories import make_customer
from billing.exceptions import BillingError
from billing.models import CreditNote, CreditType, EmailKind, EmailNotification, EmailStatus, Invoice, InvoiceStatus
from billing.services import (
    invoice_cancel,
    invoice_pdf_store,
    invoice_run,
    payment_record,
    subscription_change_plan,
)
from billing.tests.factories import PARIS, CreditFactory, InvoiceFactory, PlanFactory, SubscriptionFactory
from libraries.tests.factories import UsageLogFactory

NOVEMBER_1 = datetime.date(2026, 11, 1)
RUN_AT = datetime.datetime(2026, 11, 1, 2, 0, tzinfo=PARIS)


class CountingStorage(FileSystemStorage):
    """The file system storage, counting what is written through it."""

    saved: list[str] = []

    def _save(self, name, content):
        name = super()._save(name, content)
        type(self).saved.append(name)
        return name


@pytest.fixture(autouse=True)
def _during_the_run(time_machine):
    """Documents are filed under the year they are stored in: that of the run."""
    time_machine.move_to(RUN_AT, tick=False)


@pytest.fixture(autouse=True)
def _storage(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "billing.tests.test_documents.CountingStorage"},
    }
    CountingStorage.saved = []


# A French customer without a company, who receives the documents at the billing email given.
customer = partial(make_customer, full_name="Camille Martin", company_name="")


def october_subscription(user):
    plan = PlanFactory(code="pro", name="Pro", price=Decimal("19.00"), included_tokens=5_000_000)
    return SubscriptionFactory(
        user=user, plan=plan, current_period_start=datetime.date(2026, 10, 1), current_period_end=NOVEMBER_1
    )


@pytest.fixture
def run_october(django_capture_on_commit_callbacks):
    """The monthly run as a committed transaction sees it: documents and emails follow after commit."""

    def run() -> list[Invoice]:
        with django_capture_on_commit_callbacks(execute=True):
            invoice_run(period_end=NOVEMBER_1, now=RUN_AT)
        return list(Invoice.objects.order_by("number"))

    return run


def stored_bytes(field) -> bytes:
    with default_storage.open(field.name, "rb") as file:
        return file.read()


def pdf_text(pdf: bytes) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.mark.django_db
class TestInvoicePdfStoredAtFinalisation:
    def test_every_invoice_of_the_run_has_its_pdf_stored_with_its_sha256(self, run_october):
        for language, email in (("fr", "compta@atelier.example"), ("en", "billing@acme.example")):
            october_subscription(customer(language=language, billing_email=email))

        invoices = run_october()

        assert [invoice.number for invoice in invoices] == ["TMCP-2026-000001", "TMCP-2026-000002"]
        for invoice in invoices:
            assert invoice.pdf.name == f"invoices/2026/{invoice.number}.pdf"
            assert default_storage.exists(invoice.pdf.name)
            assert invoice.pdf_sha256 == hashlib.sha256(stored_bytes(invoice.pdf)).hexdigest()
        assert sorted(CountingStorage.saved) == sorted(invoice.pdf.name for invoice in invoices)

    def test_the_pdf_names_the_invoice_number_and_total(self, run_october):
        october_subscription(customer(language="en", billing_email="billing@acme.example"))

        [invoice] = run_october()

        text = pdf_text(stored_bytes(invoice.pdf))
        assert invoice.number in text
        assert invoice.total == Decimal("22.80")
        assert "22.80 EUR" in text

    def test_storing_again_neither_renders_nor_writes(self, run_october):
        october_subscription(customer(language="en", billing_email="billing@acme.example"))
        [invoice] = run_october()
        name, digest, content = invoice.pdf.name, invoice.pdf_sha256, stored_bytes(invoice.pdf)
        writes = len(CountingStorage.saved)

        again = invoice_pdf_store(invoice=invoice)

        assert (again.pdf.name, again.pdf_sha256) == (name, digest)
        assert stored_bytes(again.pdf) == content
        assert len(CountingStorage.saved) == writes
        assert default_storage.listdir("invoices/2026")[1] == [f"{invoice.number}.pdf"]

    def test_a_draft_has_no_document(self):
        draft = InvoiceFactory(
            subscription=october_subscription(customer(language="en", billing_email="a@acme.example"))
        )

        with pytest.raises(BillingError, match="draft"):
            invoice_pdf_store(invoice=draft)

        draft.refresh_from_db()
        assert not draft.pdf
        assert CountingStorage.saved == []


def settlement(pdf: bytes) -> dict[str, Decimal]:
    """The Factur-X XML's prepaid and due amounts (BT-113, BT-115) embedded in `pdf`."""
    _, xml = facturx.get_xml_from_pdf(pdf, check_xsd=False)
    root = etree.fromstring(xml)
    return {
        name: Decimal(root.xpath(f"string(//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:{name})",
                                 namespaces={"ram": root.nsmap["ram"]}))
        for name in ("TotalPrepaidAmount", "DuePayableAmount")
    }


@pytest.mark.django_db
class TestThePdfStatesTheInvoiceAsIssued:
    """The run's documents task was lost: the PDF is first rendered (by the sweep, or a download) later."""

    def test_a_payment_made_before_the_first_rendering_is_not_on_it(self):
        user = customer(language="en", billing_email="billing@acme.example")
        october_subscription(user)
        # A refund credit: a prepaid amount at issue (a promotional one would lower the total instead).
        CreditFactory(user=user, type=CreditType.REFUND, amount=Decimal("5.00"), reason="Refund")
        invoice_run(period_end=NOVEMBER_1, now=RUN_AT)  # after-commit documents never ran
        invoice = Invoice.objects.get()
        payment_record(invoice=invoice, amount=Decimal("17.80"), idempotency_key="transfer-1",
                       now=RUN_AT + datetime.timedelta(days=2))

        invoice = invoice_pdf_store(invoice=invoice)

        assert (invoice.status, invoice.amount_paid, invoice.amount_due) == (
            InvoiceStatus.PAID, Decimal("17.80"), Decimal("0.00")
        )
        pdf = stored_bytes(invoice.pdf)
        text = pdf_text(pdf)
        assert "Total (incl. VAT) 22.80 EUR" in text
        assert "Credits applied 5.00 EUR" in text
        assert "Amount paid 0.00 EUR" in text
        assert "Amount due 17.80 EUR" in text
        assert settlement(pdf) == {"TotalPrepaidAmount": Decimal("5.00"), "DuePayableAmount": Decimal("17.80")}

    def test_an_invoice_covered_by_credits_at_issue_shows_nothing_due(self):
        user = customer(language="en", billing_email="billing@acme.example")
        october_subscription(user)
        CreditFactory(user=user, amount=Decimal("30.00"))
        invoice_run(period_end=NOVEMBER_1, now=RUN_AT)

        invoice = invoice_pdf_store(invoice=Invoice.objects.get())

        assert invoice.status == InvoiceStatus.PAID
        pdf = stored_bytes(invoice.pdf)
        text = pdf_text(pdf)
        # A promotional credit is a price reduction: a CREDIT line takes the whole 19.00 off before tax.
        assert "Promotional credit: Welcome offer" in text and "-19.00 EUR" in text
        assert "Total (incl. VAT) 0.00 EUR" in text
        assert "Credits applied 0.00 EUR" in text
        assert "Amount due 0.00 EUR" in text
        assert settlement(pdf) == {"TotalPrepaidAmount": Decimal("0.00"), "DuePayableAmount": Decimal("0.00")}


@pytest.mark.django_db
class TestInvoiceEmail:
    def test_a_french_customer_gets_the_stored_pdf_with_a_french_email(self, run_october):
        october_subscription(customer(language="fr", billing_email="compta@atelier.example"))

        [invoice] = run_october()

        [message] = mail.outbox
        assert message.subject == f"Votre facture TwinMCP {invoice.number}"
        assert message.to == ["compta@atelier.example"]
        assert message.attachments == [(f"{invoice.number}.pdf", stored_bytes(invoice.pdf), "application/pdf")]
        assert "Facture" in pdf_text(stored_bytes(invoice.pdf))
        notification = EmailNotification.objects.get(kind=EmailKind.INVOICE_ISSUED)
        assert (notification.invoice, notification.language, notification.status) == (invoice, "fr", EmailStatus.SENT)

    def test_a_second_run_sends_nothing_more(self, run_october):
        october_subscription(customer(language="en", billing_email="billing@acme.example"))
        run_october()

        run_october()

        assert Invoice.objects.count() == 1
        assert len(mail.outbox) == 1


@pytest.mark.django_db
class TestCreditNote:
    def test_cancelling_an_issued_invoice_stores_and_emails_the_credit_note_pdf(
        self, run_october, django_capture_on_commit_callbacks
    ):
        october_subscription(customer(language="en", billing_email="billing@acme.example"))
        [invoice] = run_october()
        mail.outbox.clear()

        with django_capture_on_commit_callbacks(execute=True):
            invoice_cancel(invoice=invoice, reason="Billed twice", now=datetime.datetime(2026, 11, 3, tzinfo=PARIS))

        credit_note = CreditNote.objects.get(invoice=invoice)
        assert credit_note.number == "AV-2026-000001"
        assert credit_note.pdf.name == "credit-notes/2026/AV-2026-000001.pdf"
        content = stored_bytes(credit_note.pdf)
        assert credit_note.pdf_sha256 == hashlib.sha256(content).hexdigest()
        text = pdf_text(content)
        assert "AV-2026-000001" in text and invoice.number in text and "Billed twice" in text
        [message] = mail.outbox
        assert message.subject == f"Credit note AV-2026-000001 for invoice {invoice.number}"
        assert message.attachments == [("AV-2026-000001.pdf", content, "application/pdf")]
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.CANCELLED
        assert stored_bytes(invoice.pdf)  # the cancelled invoice keeps its own document


@pytest.mark.django_db
class TestAPlanChangeOnTheDocuments:
    def test_the_worked_example_prints_and_validates_with_a_usage_line_per_segment(self, run_october):
        user = customer(language="en", billing_email="billing@acme.example")
        subscription = october_subscription(user)
        UsageLogFactory(user=user, tokens=40_000_000, created_at=datetime.datetime(2026, 10, 3, 10, tzinfo=PARIS))
        team = PlanFactory(code="team", name="Team", price=Decimal("99.00"), included_tokens=50_000_000,
                           overage_price_per_million=Decimal("1.50"))
        upgraded_at = datetime.datetime(2026, 10, 31, 9, tzinfo=PARIS)
        subscription_change_plan(subscription=subscription, plan=team, now=upgraded_at)

        [invoice] = run_october()

        pdf = stored_bytes(invoice.pdf)
        _, xml = facturx.get_xml_from_pdf(pdf, check_xsd=True)
        root = etree.fromstring(xml)
        amounts = root.xpath("//ram:SpecifiedLineTradeSettlement//ram:LineTotalAmount/text()",
                             namespaces={"ram": root.nsmap["ram"]})
        assert amounts == ["18.39", "3.19", "70.32"]
        assert "110.28" in pdf_text(pdf)
        assert "Pro plan, 30/31 days: usage above the 4,838,709 included tokens" in pdf_text(pdf)
