"""Partial credit notes: some lines of an issued invoice, or an amount of it, credited any number of times while
what is credited stays within its total.

October 2026 on Pro (19.00, 5,000,000 tokens included, 2.00 per million), 6,500,000 tokens used: fee 19.00 and
usage 3.00, subtotal 22.00, VAT 20 % 4.40, total 26.40; issued on 1 November 2026 as TMCP-2026-000001.
"""
import datetime
import io
import threading
import uuid
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from lxml import etree
from pypdf import PdfReader

from accounts.models import AuditLog
from accounts.tests.admin_helpers import admin_url
from accounts.tests.factories import make_customer
from billing.backoffice.exports import ExportPeriod, fec_lines
from billing.customer.personal_data import billing_personal_data
from billing.documents.data import credit_note_document
from billing.documents.facturx import render_invoice_document
from billing.exceptions import BillingError
from billing.models import (
    Credit,
    CreditNote,
    CreditNoteKind,
    CreditNoteReason,
    CreditType,
    Invoice,
    InvoiceStatus,
    LineKind,
    NumberSequence,
    Payment,
    PaymentMethod,
    PaymentStatus,
)
from billing.services import (
    CreditNoteRequest,
    credit_note_card_refund,
    credit_note_partial_issue,
    invoice_cancel,
    payment_record,
    recorded_payment_refund,
    refund_outcome_apply,
)
from billing.tests.einvoice import document_failures, document_xml
from billing.tests.factories import PARIS, period_invoice_of, pro_customer
from billing.tests.test_stripe_refunds import paid_by_card, pinned, refunds_at_stripe  # noqa: F401 (fixtures)

RUN_AT = datetime.datetime(2026, 11, 1, 2, 0, tzinfo=PARIS)
NOW = datetime.datetime(2026, 11, 10, 10, 0, tzinfo=PARIS)
ERROR = CreditNoteReason.BILLING_ERROR
RAM = {
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
}
FRENCH_BUSINESS = {"company_name": "Atelier Durand", "vat_number": "FR40303265045"}
GERMAN_BUSINESS = {"company_name": "Acme GmbH", "country": "DE", "vat_number": "DE136695976"}


def october_invoice(**profile) -> Invoice:
    """The month's invoice of a Pro customer who used 6,500,000 tokens, issued by the monthly run."""
    return period_invoice_of(pro_customer(**profile), now=RUN_AT)


def line_of(invoice: Invoice, kind: str):
    return invoice.lines.get(kind=kind)


def figures(credit_note: CreditNote) -> tuple:
    return credit_note.number, credit_note.kind, credit_note.subtotal, credit_note.tax_amount, credit_note.amount


def balance(invoice: Invoice) -> tuple:
    invoice.refresh_from_db()
    return invoice.status, invoice.credited, invoice.amount_paid, invoice.amount_due


def xml_of(credit_note: CreditNote):
    return etree.fromstring(document_xml(credit_note))


@pytest.fixture
def invoice(db) -> Invoice:
    invoice = october_invoice(**FRENCH_BUSINESS)
    assert (invoice.number, invoice.subtotal, invoice.tax_amount, invoice.total, invoice.amount_due) == (
        "TMCP-2026-000001", Decimal("22.00"), Decimal("4.40"), Decimal("26.40"), Decimal("26.40"),
    )
    return invoice


@pytest.mark.django_db
class TestCreditingLines:
    def test_the_usage_line_in_full_credits_3_00_and_0_60_of_vat(self, invoice):
        usage = line_of(invoice, LineKind.USAGE)

        credit_note = credit_note_partial_issue(
            invoice=invoice, lines={usage.pk: None}, reason_code=ERROR, reason="Usage counted twice", now=NOW
        )

        assert figures(credit_note) == (
            "AV-2026-000001", CreditNoteKind.PARTIAL, Decimal("3.00"), Decimal("0.60"), Decimal("3.60")
        )
        assert credit_note.issue_date == datetime.date(2026, 11, 10)
        [line] = credit_note.lines.all()
        assert (line.invoice_line, line.kind, line.quantity, line.unit_price, line.price_base_quantity, line.amount) \
            == (usage, LineKind.USAGE, Decimal(1_500_000), Decimal("2.0000"), 1_000_000, Decimal("3.00"))
        assert document_failures(credit_note) == []

    def test_part_of_the_fee_line_is_one_line_of_that_amount(self, invoice):
        fee = line_of(invoice, LineKind.SUBSCRIPTION)

        credit_note = credit_note_partial_issue(
            invoice=invoice, lines={fee.pk: Decimal("9.50")}, reason_code=CreditNoteReason.NOT_DELIVERED, now=NOW
        )

        assert figures(credit_note)[2:] == (Decimal("9.50"), Decimal("1.90"), Decimal("11.40"))
        [line] = credit_note.lines.all()
        assert (line.description, line.quantity, line.unit_price, line.amount) == (
            fee.description, Decimal(1), Decimal("9.50"), Decimal("9.50")
        )
        assert document_failures(credit_note) == []

    def test_a_line_credited_in_full_cannot_be_credited_again(self, invoice):
        usage = line_of(invoice, LineKind.USAGE)
        credit_note_partial_issue(invoice=invoice, lines={usage.pk: None}, reason_code=ERROR, now=NOW)

        with pytest.raises(BillingError, match="At most 0.00 EUR of line"):
            credit_note_partial_issue(invoice=invoice, lines={usage.pk: Decimal("0.01")}, reason_code=ERROR, now=NOW)

        assert CreditNote.objects.count() == 1
        assert balance(invoice) == (InvoiceStatus.SENT, Decimal("3.60"), Decimal("0.00"), Decimal("22.80"))


@pytest.mark.django_db
class TestCreditingAnAmount:
    def test_5_00_is_vat_included_split_once_at_the_invoices_rate(self, invoice):
        credit_note = credit_note_partial_issue(
            invoice=invoice, amount=Decimal("5.00"), reason_code=CreditNoteReason.COMMERCIAL_GESTURE, now=NOW
        )

        assert figures(credit_note)[2:] == (Decimal("4.17"), Decimal("0.83"), Decimal("5.00"))
        [line] = credit_note.lines.all()
        assert (line.kind, line.description, line.quantity, line.unit_price, line.amount) == (
            LineKind.ADJUSTMENT, "Credit on invoice TMCP-2026-000001", Decimal(1), Decimal("4.17"), Decimal("4.17")
        )
        assert document_failures(credit_note) == []

    def test_under_reverse_charge_it_carries_no_vat_and_passes_the_rules(self, db):
        invoice = october_invoice(**GERMAN_BUSINESS)

        credit_note = credit_note_partial_issue(invoice=invoice, amount=Decimal("5.00"), reason_code=ERROR, now=NOW)

        assert figures(credit_note)[2:] == (Decimal("5.00"), Decimal("0.00"), Decimal("5.00"))
        assert document_failures(credit_note) == []
        tax = xml_of(credit_note).find(".//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", RAM)
        assert tax.findtext("ram:CategoryCode", namespaces=RAM) == "AE"


    def test_at_another_member_states_rate_under_the_one_stop_shop_it_passes_the_rules(self, settings):
        settings.OSS_REGISTERED = True
        invoice = october_invoice(company_name="", country="FI")  # 25.5 % in Finland on 1 November 2026

        credit_note = credit_note_partial_issue(invoice=invoice, amount=Decimal("5.00"), reason_code=ERROR, now=NOW)

        assert figures(credit_note)[2:] == (Decimal("3.98"), Decimal("1.02"), Decimal("5.00"))
        assert credit_note.tax_rate == invoice.tax_rate == Decimal("0.2550")
        assert document_failures(credit_note) == []


@pytest.mark.django_db
class TestNumbering:
    def test_partial_and_full_credit_notes_share_the_av_sequence_and_the_full_one_credits_the_rest(self, invoice):
        usage = line_of(invoice, LineKind.USAGE)
        first = credit_note_partial_issue(invoice=invoice, lines={usage.pk: None}, reason_code=ERROR, now=NOW)
        second = credit_note_partial_issue(invoice=invoice, amount=Decimal("5.00"), reason_code=ERROR, now=NOW)

        invoice_cancel(invoice=invoice, reason_code=CreditNoteReason.DUPLICATE, now=NOW)

        full = CreditNote.objects.get(invoice=invoice, kind=CreditNoteKind.FULL)
        assert [first.number, second.number, full.number] == ["AV-2026-000001", "AV-2026-000002", "AV-2026-000003"]
        # 26.40 - 3.60 - 5.00: 22.00 - 3.00 - 4.17 before VAT, 4.40 - 0.60 - 0.83 of VAT.
        assert figures(full)[2:] == (Decimal("14.83"), Decimal("2.97"), Decimal("17.80"))
        assert document_failures(full) == []
        assert balance(invoice)[0] == InvoiceStatus.CANCELLED


@pytest.mark.django_db
class TestNeverOverCredit:
    def test_more_than_the_total_is_refused_and_nothing_is_written(self, invoice):
        with pytest.raises(BillingError, match=r"At most 26.40 EUR is left to credit on invoice TMCP-2026-000001"):
            credit_note_partial_issue(invoice=invoice, amount=Decimal("26.41"), reason_code=ERROR, now=NOW)

        assert not CreditNote.objects.exists()
        assert not NumberSequence.objects.filter(kind="CREDIT_NOTE").exists()
        assert balance(invoice) == (InvoiceStatus.SENT, Decimal("0.00"), Decimal("0.00"), Decimal("26.40"))

    def test_what_earlier_credit_notes_took_is_no_longer_left(self, invoice):
        credit_note_partial_issue(invoice=invoice, amount=Decimal("20.00"), reason_code=ERROR, now=NOW)

        with pytest.raises(BillingError, match="At most 6.40 EUR is left"):
            credit_note_partial_issue(invoice=invoice, amount=Decimal("6.41"), reason_code=ERROR, now=NOW)
        credit_note_partial_issue(invoice=invoice, amount=Decimal("6.40"), reason_code=ERROR, now=NOW)

        assert balance(invoice) == (InvoiceStatus.PAID, Decimal("26.40"), Decimal("0.00"), Decimal("0.00"))

    @pytest.mark.parametrize(
        ("asked", "error"),
        [
            ({}, "either some lines of the invoice or an amount"),
            ({"amount": Decimal("5.00"), "lines": {0: None}}, "either some lines of the invoice or an amount"),
            ({"amount": Decimal("0.001")}, "positive amount in cents"),
            ({"amount": Decimal("-5.00")}, "positive amount in cents"),
            ({"amount": Decimal("5.00"), "reason_code": CreditNoteReason.OTHER}, "needs a reason"),
            ({"amount": Decimal("5.00"), "reason_code": "TYPO"}, "Unknown credit note reason"),
            ({"lines": {999_999: None}}, "has no line 999999 that can be credited"),
        ],
    )
    def test_bad_input_is_refused_with_a_clear_error_and_nothing_is_written(self, invoice, asked, error):
        with pytest.raises(BillingError, match=error):
            credit_note_partial_issue(invoice=invoice, **{"reason_code": ERROR, **asked}, now=NOW)

        assert not CreditNote.objects.exists()
        assert balance(invoice) == (InvoiceStatus.SENT, Decimal("0.00"), Decimal("0.00"), Decimal("26.40"))

    def test_a_draft_or_a_cancelled_invoice_cannot_be_credited(self, invoice):
        invoice_cancel(invoice=invoice, reason_code=CreditNoteReason.DUPLICATE, now=NOW)

        with pytest.raises(BillingError, match="is cancelled: only an issued invoice can be credited"):
            credit_note_partial_issue(invoice=invoice, amount=Decimal("1.00"), reason_code=ERROR, now=NOW)

    def test_the_same_form_twice_issues_one_credit_note(self, invoice):
        key = f"admin-credit-note:{invoice.pk}:{uuid.uuid4()}"
        first = credit_note_partial_issue(
            invoice=invoice, amount=Decimal("5.00"), reason_code=ERROR, idempotency_key=key, now=NOW
        )
        again = credit_note_partial_issue(
            invoice=invoice, amount=Decimal("5.00"), reason_code=ERROR, idempotency_key=key, now=NOW
        )

        assert again == first
        assert balance(invoice)[1] == Decimal("5.00")


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_credits_of_20_00_on_26_40_issue_one():
    invoice = october_invoice(**FRENCH_BUSINESS)
    barrier, outcomes = threading.Barrier(2), []

    def credit():
        try:
            barrier.wait()
            credit_note_partial_issue(invoice=invoice, amount=Decimal("20.00"), reason_code=ERROR, now=NOW)
            outcomes.append("issued")
        except BillingError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=credit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["issued", "refused"]
    assert list(CreditNote.objects.values_list("number", "amount")) == [("AV-2026-000001", Decimal("20.00"))]
    assert balance(invoice) == (InvoiceStatus.SENT, Decimal("20.00"), Decimal("0.00"), Decimal("6.40"))


@pytest.mark.django_db
class TestMoney:
    def test_on_an_unpaid_invoice_what_is_due_falls_and_reaching_zero_settles_it(self, invoice):
        credit_note_partial_issue(invoice=invoice, amount=Decimal("5.00"), reason_code=ERROR, now=NOW)
        assert balance(invoice) == (InvoiceStatus.SENT, Decimal("5.00"), Decimal("0.00"), Decimal("21.40"))

        credit_note_partial_issue(invoice=invoice, amount=Decimal("21.40"), reason_code=ERROR, now=NOW)

        assert balance(invoice) == (InvoiceStatus.PAID, Decimal("26.40"), Decimal("0.00"), Decimal("0.00"))
        assert invoice.paid_at == NOW
        assert not Credit.objects.exists()

    def test_on_a_paid_invoice_it_becomes_a_refund_credit_of_the_customer(self, invoice):
        payment_record(
            invoice=invoice, amount=Decimal("26.40"), idempotency_key="transfer-1", method=PaymentMethod.BANK_TRANSFER,
            status=PaymentStatus.COMPLETED, now=NOW,
        )

        credit_note_partial_issue(
            invoice=invoice, lines={line_of(invoice, LineKind.USAGE).pk: None}, reason_code=ERROR, now=NOW
        )

        assert balance(invoice) == (InvoiceStatus.PAID, Decimal("3.60"), Decimal("22.80"), Decimal("0.00"))
        [credit] = Credit.objects.filter(user=invoice.user)
        assert (credit.type, credit.amount, credit.remaining_amount) == (
            CreditType.REFUND, Decimal("3.60"), Decimal("3.60")
        )

    def test_on_a_partly_paid_invoice_the_due_falls_first_then_the_rest_comes_back(self, invoice):
        payment_record(
            invoice=invoice, amount=Decimal("10.00"), idempotency_key="transfer-1", method=PaymentMethod.BANK_TRANSFER,
            status=PaymentStatus.COMPLETED, now=NOW,
        )

        credit_note_partial_issue(invoice=invoice, amount=Decimal("20.00"), reason_code=ERROR, now=NOW)

        assert balance(invoice) == (InvoiceStatus.PAID, Decimal("20.00"), Decimal("6.40"), Decimal("0.00"))
        assert Credit.objects.get(user=invoice.user).amount == Decimal("3.60")

    def test_it_is_audited(self, invoice):
        credit_note = credit_note_partial_issue(invoice=invoice, amount=Decimal("5.00"), reason_code=ERROR, now=NOW)

        [entry] = AuditLog.objects.filter(action="credit_note.issue", object_id=str(credit_note.pk))
        assert entry.changes == {"invoice": "TMCP-2026-000001", "kind": "PARTIAL", "amount": "5.00"}


@pytest.mark.django_db
@pytest.mark.usefixtures("media")
class TestDocuments:
    def test_the_pdf_is_stored_and_emailed_saying_what_it_credits(self, invoice, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            credit_note = credit_note_partial_issue(
                invoice=invoice, lines={line_of(invoice, LineKind.USAGE).pk: None}, reason_code=ERROR, now=NOW
            )

        credit_note.refresh_from_db()
        assert credit_note.pdf.name.endswith("AV-2026-000001.pdf")
        [message] = [message for message in mail.outbox if "AV-2026-000001" in message.subject]
        assert "credit note AV-2026-000001 of 3.60 EUR, which credits part of invoice TMCP-2026-000001" in message.body
        assert [name for name, *_ in message.attachments] == ["AV-2026-000001.pdf"]

    def test_the_factur_x_is_a_credit_note_of_its_own_lines_and_totals_referring_to_the_invoice(self, invoice):
        credit_note = credit_note_partial_issue(
            invoice=invoice, lines={line_of(invoice, LineKind.USAGE).pk: None}, reason_code=ERROR, now=NOW
        )

        root = xml_of(credit_note)
        assert root.findtext(".//rsm:ExchangedDocument/ram:TypeCode", namespaces=RAM) == "381"
        referenced = root.find(".//ram:InvoiceReferencedDocument", RAM)
        assert referenced.findtext("ram:IssuerAssignedID", namespaces=RAM) == "TMCP-2026-000001"
        [issued_on] = referenced.xpath(".//*[local-name()='DateTimeString']")
        assert issued_on.text == "20261101"
        assert len(root.findall(".//ram:IncludedSupplyChainTradeLineItem", RAM)) == 1
        summation = root.find(".//ram:SpecifiedTradeSettlementHeaderMonetarySummation", RAM)
        assert [summation.findtext(f"ram:{name}", namespaces=RAM) for name in (
            "LineTotalAmount", "TaxBasisTotalAmount", "GrandTotalAmount", "DuePayableAmount"
        )] == ["3.00", "3.00", "3.60", "3.60"]
        document = credit_note_document(credit_note)
        assert (document.original_invoice_number, document.total, document.amount_due) == (
            "TMCP-2026-000001", Decimal("3.60"), Decimal("3.60")
        )


@pytest.mark.django_db
@pytest.mark.usefixtures("media", "pinned")
class TestRefunds:
    @pytest.mark.usefixtures("paid_by_card")
    def test_refund_to_the_card_issues_the_credit_note_once_stripe_confirms_and_the_invoice_stays_paid(
        self, stripe_settings
    ):
        card_payment = Payment.objects.get(method=PaymentMethod.CARD)
        invoice = card_payment.invoice  # 22.80: 19.00 + 3.80

        credit_note_card_refund(
            invoice=invoice, amount=Decimal("5.00"), reason_code=CreditNoteReason.COMMERCIAL_GESTURE,
            request_key="form-1",
        )

        assert refunds_at_stripe(stripe_settings, card_payment) == [500]
        [credit_note] = CreditNote.objects.filter(invoice=invoice)
        assert (credit_note.kind, credit_note.amount) == (CreditNoteKind.PARTIAL, Decimal("5.00"))
        assert balance(invoice) == (InvoiceStatus.PAID, Decimal("5.00"), Decimal("17.80"), Decimal("0.00"))
        payment = Payment.objects.get(pk=card_payment.pk)
        assert (payment.status, payment.refunded_amount) == (PaymentStatus.REFUNDED, Decimal("5.00"))
        assert not Credit.objects.filter(user=invoice.user).exists()

    def test_refund_to_the_card_of_an_invoice_paid_otherwise_is_refused(self, invoice):
        payment_record(
            invoice=invoice, amount=Decimal("26.40"), idempotency_key="transfer-1", method=PaymentMethod.BANK_TRANSFER,
            status=PaymentStatus.COMPLETED, now=NOW,
        )

        with pytest.raises(BillingError, match="credit it to the customer's balance instead"):
            credit_note_card_refund(invoice=invoice, amount=Decimal("5.00"), reason_code=ERROR, now=NOW)

        assert not CreditNote.objects.exists()
        assert balance(invoice) == (InvoiceStatus.PAID, Decimal("0.00"), Decimal("26.40"), Decimal("0.00"))

    def test_refund_to_the_card_of_an_unpaid_invoice_is_refused_the_credit_note_lowers_what_is_due(self, invoice):
        with pytest.raises(BillingError, match="still has 26.40 EUR due: the credit note lowers that"):
            credit_note_card_refund(invoice=invoice, amount=Decimal("5.00"), reason_code=ERROR, now=NOW)

        assert not CreditNote.objects.exists()

    @pytest.mark.usefixtures("paid_by_card")
    def test_the_admin_preview_says_what_goes_back_to_the_card(self, finance_client):
        invoice = Payment.objects.get(method=PaymentMethod.CARD).invoice

        response = finance_client.post(
            admin_url(Invoice, "changelist"), issue_form(invoice, amount="5.00", refund_to="CARD", preview="1")
        )

        assert "5.00\u00a0EUR goes back to the card through Stripe" in response.content.decode()
        assert not CreditNote.objects.exists()

    def test_a_card_refund_stripe_confirms_later_issues_its_credit_note_then_once(self, invoice):
        payment = payment_record(
            invoice=invoice, amount=Decimal("26.40"), idempotency_key="stripe:invoice:1:attempt:1",
            method=PaymentMethod.CARD, status=PaymentStatus.COMPLETED, now=NOW,
        )
        asked = CreditNoteRequest(reason_code=CreditNoteReason.COMMERCIAL_GESTURE, amount=Decimal("5.00"))
        refund_outcome_apply(
            payment=payment, refund_id="re_1", amount=Decimal("5.00"), status="pending", credit_note=asked, now=NOW
        )
        assert not CreditNote.objects.exists()  # Stripe has not given the money back yet
        with pytest.raises(BillingError, match="At most 21.40 EUR is left"):  # the pending refund keeps its share
            credit_note_partial_issue(invoice=invoice, amount=Decimal("21.41"), reason_code=ERROR, now=NOW)

        for _ in range(2):  # the webhook's event, then its redelivery
            refund_outcome_apply(payment=payment, refund_id="re_1", amount=Decimal("5.00"), status="succeeded")

        [credit_note] = CreditNote.objects.filter(invoice=invoice)
        assert (credit_note.amount, credit_note.reason_code) == (Decimal("5.00"), CreditNoteReason.COMMERCIAL_GESTURE)
        assert balance(invoice) == (InvoiceStatus.PAID, Decimal("5.00"), Decimal("21.40"), Decimal("0.00"))

    def test_a_refund_of_part_of_the_price_issues_a_credit_note_for_it(self, invoice):
        payment = payment_record(
            invoice=invoice, amount=Decimal("26.40"), idempotency_key="transfer-1", method=PaymentMethod.BANK_TRANSFER,
            status=PaymentStatus.COMPLETED, now=NOW,
        )

        recorded_payment_refund(
            payment=payment, amount=Decimal("6.00"), reason="Outage on 28 October",
            credit_note=CreditNoteRequest(reason_code=CreditNoteReason.NOT_DELIVERED, reason="Outage on 28 October"),
            now=NOW,
        )

        [credit_note] = CreditNote.objects.filter(invoice=invoice)
        assert figures(credit_note)[2:] == (Decimal("5.00"), Decimal("1.00"), Decimal("6.00"))
        assert balance(invoice) == (InvoiceStatus.PAID, Decimal("6.00"), Decimal("20.40"), Decimal("0.00"))
        assert document_failures(credit_note) == []

    def test_a_refund_of_the_payment_itself_issues_none_and_the_invoice_is_due_again(self, invoice):
        payment = payment_record(
            invoice=invoice, amount=Decimal("26.40"), idempotency_key="transfer-1", method=PaymentMethod.BANK_TRANSFER,
            status=PaymentStatus.COMPLETED, now=NOW,
        )

        recorded_payment_refund(payment=payment, amount=Decimal("6.00"), reason="Paid twice by mistake", now=NOW)

        assert not CreditNote.objects.exists()
        assert balance(invoice) == (InvoiceStatus.SENT, Decimal("0.00"), Decimal("20.40"), Decimal("6.00"))


def issue_form(invoice: Invoice, **data) -> dict:
    """What the invoice's "Issue a partial credit note…" page posts: the action on the invoice and its form."""
    return {
        "action": "partial_credit_note", "_selected_action": [invoice.pk], "reason_code": ERROR, "reason": "",
        "refund_to": "BALANCE", "token": "0d9f5c8e-5b7e-4b8a-9a53-0c2f1d1e6a01", **data,
    }


@pytest.mark.django_db
@pytest.mark.usefixtures("media")
class TestFromTheAdmin:
    def test_the_invoice_page_offers_it(self, finance_client, invoice):
        html = finance_client.get(admin_url(invoice, "change")).content.decode()

        assert "Issue a partial credit note…" in html

    def test_a_preview_shows_the_credit_note_and_writes_nothing(self, finance_client, invoice):
        usage = line_of(invoice, LineKind.USAGE)

        response = finance_client.post(
            admin_url(Invoice, "changelist"), issue_form(invoice, **{f"line_{usage.pk}": "3.00", "preview": "1"})
        )

        assert response.status_code == 200
        preview = response.context["preview"]
        assert (preview.subtotal, preview.tax_amount, preview.total) == (
            Decimal("3.00"), Decimal("0.60"), Decimal("3.60")
        )
        html = response.content.decode()
        assert "Credit note preview" in html and "It takes 3.60\u00a0EUR off what is left to pay." in html
        assert not CreditNote.objects.exists()

    @pytest.mark.usefixtures("pinned")  # the admin issues it now: its number is of the year it is issued in
    def test_issuing_as_previewed_writes_one_credit_note_however_often_it_is_posted(self, finance_client, invoice):
        data = issue_form(invoice, amount="5.00", apply="1", previewed_plan="[]|5.00")

        first = finance_client.post(admin_url(Invoice, "changelist"), data)
        finance_client.post(admin_url(Invoice, "changelist"), data)

        assert first.status_code == 302
        [credit_note] = CreditNote.objects.all()
        assert figures(credit_note) == (
            "AV-2026-000001", CreditNoteKind.PARTIAL, Decimal("4.17"), Decimal("0.83"), Decimal("5.00")
        )
        assert balance(invoice) == (InvoiceStatus.SENT, Decimal("5.00"), Decimal("0.00"), Decimal("21.40"))

    def test_changed_after_the_preview_it_is_previewed_again_not_issued(self, finance_client, invoice):
        data = issue_form(invoice, amount="6.00", apply="1", previewed_plan="[]|5.00")

        response = finance_client.post(admin_url(Invoice, "changelist"), data)

        assert response.status_code == 200 and response.context["preview"].total == Decimal("6.00")
        assert not CreditNote.objects.exists()

    @pytest.mark.parametrize(
        ("data", "error"),
        [
            ({"amount": "26.41"}, "At most 26.40 EUR is left to credit"),
            ({}, "Credit some lines or an amount (one or the other)."),
            ({"amount": "5.00", "reason_code": "OTHER"}, "Describe the reason when it is Other."),
        ],
    )
    def test_bad_input_is_a_form_error_and_nothing_is_written(self, finance_client, invoice, data, error):
        response = finance_client.post(admin_url(Invoice, "changelist"), issue_form(invoice, **data, preview="1"))

        assert response.status_code == 200
        assert error in response.content.decode()
        assert not CreditNote.objects.exists()


@pytest.mark.django_db
@pytest.mark.usefixtures("media")
class TestTheCustomerSeesThem:
    @pytest.fixture
    def credited(self, invoice, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            credit_note_partial_issue(invoice=invoice, amount=Decimal("5.00"), reason_code=ERROR, now=NOW)
            credit_note_partial_issue(
                invoice=invoice, lines={line_of(invoice, LineKind.USAGE).pk: None}, reason_code=ERROR, now=NOW
            )
        return invoice

    def test_the_invoice_page_lists_each_credit_note_with_its_pdf(self, client, credited):
        client.force_login(credited.user)

        html = client.get(f"/billing/invoices/{credited.pk}/").content.decode()

        first, second = CreditNote.objects.order_by("number")
        for credit_note in (first, second):
            assert f"Credit note {credit_note.number}" in html
            assert f"/billing/credit-notes/{credit_note.pk}/pdf/" in html
        assert "of this invoice was credited to you." in html
        response = client.get(f"/billing/credit-notes/{first.pk}/pdf/")
        assert response.status_code == 200 and response["Content-Disposition"].endswith('"AV-2026-000001.pdf"')

    def test_each_credit_note_downloads_as_ubl(self, client, credited):
        client.force_login(credited.user)
        credit_note = CreditNote.objects.order_by("number").last()

        response = client.get(f"/billing/credit-notes/{credit_note.pk}/ubl/")

        assert response.status_code == 200 and response["Content-Disposition"].endswith('"AV-2026-000002.xml"')
        root = etree.fromstring(b"".join(response.streaming_content))
        assert root.tag == "{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}CreditNote"
        ubl = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}
        assert root.xpath("//*[local-name()='LegalMonetaryTotal']/cbc:PayableAmount/text()", namespaces=ubl) == [
            "3.60"
        ]

    def test_another_customer_gets_no_credit_note_of_theirs(self, client, credited):
        client.force_login(make_customer())

        credit_note = CreditNote.objects.order_by("number").first()
        assert client.get(f"/billing/credit-notes/{credit_note.pk}/pdf/").status_code == 404
        assert client.get(f"/billing/credit-notes/{credit_note.pk}/ubl/").status_code == 404

    def test_the_invoice_api_lists_them(self, client, credited):
        client.force_login(credited.user)

        detail = client.get(f"/api/billing/invoices/{credited.pk}/").json()

        assert detail["credited"] == "8.60"
        assert detail["credit_note"] is None
        listed = [(c["number"], c["kind"], c["subtotal"], c["tax_amount"], c["amount"]) for c in detail["credit_notes"]]
        assert listed == [
            ("AV-2026-000001", "PARTIAL", "4.17", "0.83", "5.00"),
            ("AV-2026-000002", "PARTIAL", "3.00", "0.60", "3.60"),
        ]


@pytest.mark.django_db
@pytest.mark.usefixtures("media")
def test_a_refund_from_the_payment_page_can_be_of_the_price(finance_client, invoice):
    payment = payment_record(
        invoice=invoice, amount=Decimal("26.40"), idempotency_key="transfer-1", method=PaymentMethod.BANK_TRANSFER,
        status=PaymentStatus.COMPLETED, now=NOW,
    )

    response = finance_client.post(admin_url(Payment, "changelist"), {
        "action": "refund", "_selected_action": [payment.pk], "apply": "1", "amount": "6.00",
        "reason": "Outage on 28 October", "credit_note_reason": CreditNoteReason.NOT_DELIVERED,
        "token": str(uuid.uuid4()),
    })

    assert response.status_code == 302
    [credit_note] = CreditNote.objects.filter(invoice=invoice)
    assert (credit_note.amount, credit_note.reason_code, credit_note.reason) == (
        Decimal("6.00"), CreditNoteReason.NOT_DELIVERED, "Outage on 28 October"
    )
    assert balance(invoice) == (InvoiceStatus.PAID, Decimal("6.00"), Decimal("20.40"), Decimal("0.00"))


@pytest.mark.django_db
class TestBooksAndExports:
    @pytest.fixture
    def credited(self, invoice):
        credit_note_partial_issue(
            invoice=invoice, lines={line_of(invoice, LineKind.USAGE).pk: None}, reason_code=ERROR, now=NOW
        )
        return invoice

    def test_the_fec_entry_of_a_partial_credit_note_reverses_its_own_amounts(self, credited):
        lines = fec_lines(ExportPeriod(datetime.date(2026, 11, 1), datetime.date(2026, 11, 30)))

        entry = [(line.account[0], line.debit, line.credit) for line in lines if line.piece_ref == "AV-2026-000001"]
        assert entry == [
            ("411", Decimal("0.00"), Decimal("3.60")),
            ("706", Decimal("3.00"), Decimal("0.00")),
            ("44571", Decimal("0.60"), Decimal("0.00")),
        ]

    def test_the_customers_personal_data_export_has_it(self, credited):
        [exported] = billing_personal_data(user=credited.user).sections["invoices"]

        assert exported["credited"] == "3.60"
        [credit_note] = exported["credit_notes"]
        assert (credit_note["number"], credit_note["kind"], credit_note["amount"], credit_note["lines"]) == (
            "AV-2026-000001", "PARTIAL", "3.60",
            [{"kind": "USAGE", "description": line_of(credited, LineKind.USAGE).description, "amount": "3.00"}],
        )

    @pytest.mark.usefixtures("media")
    def test_the_pdf_says_what_it_credits_and_of_which_invoice(self, credited):
        credit_note = CreditNote.objects.get()

        pdf = render_invoice_document(credit_note_document(credit_note))

        text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages)
        assert "AV-2026-000001" in text and "TMCP-2026-000001" in text
        assert "3.60" in text and "19.00" not in text  # its own lines and totals, not the invoice's
