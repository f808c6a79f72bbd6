"""Credits by type: promotional and compensation credits are price reductions taken before tax (a CREDIT line, a
document-level allowance in the e-invoices); refunds and overpayments are prepaid amounts taken after tax.

October 2026 on Pro (19.00, 5,000,000 tokens included, 2.00 per million), 6,500,000 tokens used: fee 19.00 and
1,500,000 tokens of overage = 3.00, subtotal 22.00; a French buyer pays 20 % VAT, 4.40, total 26.40.
"""
import datetime
import io
from decimal import Decimal

import pytest
from lxml import etree
from pypdf import PdfReader

from billing.documents.data import credit_note_document, invoice_document
from billing.documents.facturx import render_invoice_document
from billing.models import CreditApplication, CreditNote, CreditType, Invoice, InvoiceStatus, LineKind
from billing.pricing import credits_spend, totals_at_rate
from billing.selectors import invoice_upcoming
from billing.services import credit_grant, invoice_cancel, invoice_finalize, invoice_generate, invoice_run
from billing.tests.einvoice import document_failures, document_xml
from billing.tests.factories import PARIS, CreditFactory, pro_customer

NOVEMBER_1 = datetime.date(2026, 11, 1)
RUN_AT = datetime.datetime(2026, 11, 1, 2, 0, tzinfo=PARIS)
GRANTED_AT = datetime.datetime(2026, 10, 2, 9, 0, tzinfo=PARIS)
FRENCH_BUSINESS = {"company_name": "Atelier Durand", "vat_number": "FR40303265045"}
GERMAN_BUSINESS = {"company_name": "Acme GmbH", "country": "DE", "vat_number": "DE136695976"}


def grant(user, type, amount, *, reason="Outage on 3 October", expires_at=None):
    return credit_grant(user=user, type=type, amount=Decimal(amount), reason=reason, expires_at=expires_at,
                        now=GRANTED_AT)


def run_october(user) -> Invoice:
    invoice_run(period_end=NOVEMBER_1, customer=user, now=RUN_AT)
    return Invoice.objects.get(user=user)


def figures(invoice: Invoice) -> tuple[str, ...]:
    return tuple(
        str(value) for value in (
            invoice.subtotal, invoice.tax_amount, invoice.total, invoice.credit_applied, invoice.amount_due,
        )
    )


def credit_lines(invoice: Invoice) -> list[tuple[str, str, str]]:
    return [
        (line.description, str(line.quantity.normalize()), str(line.amount))
        for line in invoice.lines.filter(kind=LineKind.CREDIT).order_by("position")
    ]


def allowances(xml: bytes) -> list[tuple[str, str]]:
    """The document-level allowances (BG-20) of a Factur-X XML: (amount, reason)."""
    root = etree.fromstring(xml)
    ram = {"ram": root.nsmap["ram"]}
    return [
        (charge.findtext("ram:ActualAmount", namespaces=ram), charge.findtext("ram:Reason", namespaces=ram))
        for charge in root.xpath("//ram:ApplicableHeaderTradeSettlement/ram:SpecifiedTradeAllowanceCharge",
                                 namespaces=ram)
    ]


def pdf_text(invoice: Invoice) -> str:
    pdf = render_invoice_document(invoice_document(invoice))
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.mark.django_db
class TestPriceReductionCredits:
    def test_a_compensation_credit_lowers_the_taxable_amount(self):
        user = pro_customer(**FRENCH_BUSINESS)
        credit = grant(user, CreditType.COMPENSATION, "10.00")

        invoice = run_october(user)

        # 10.00 VAT included is 8.33 before tax: 22.00 − 8.33 = 13.67, VAT 2.73, total 16.40 (26.40 − 10.00).
        assert credit_lines(invoice) == [("Compensation credit: Outage on 3 October", "1", "-8.33")]
        assert figures(invoice) == ("13.67", "2.73", "16.40", "0.00", "16.40")
        assert invoice.status == InvoiceStatus.SENT
        credit.refresh_from_db()
        assert credit.remaining_amount == Decimal("0.00")
        assert CreditApplication.objects.get(credit=credit).amount == Decimal("10.00")
        assert allowances(document_xml(invoice)) == [("8.33", "Compensation credit: Outage on 3 October")]
        assert document_failures(invoice) == []

    def test_the_pdf_shows_the_credit_as_a_line_and_the_reduced_vat(self):
        user = pro_customer(**FRENCH_BUSINESS)
        grant(user, CreditType.PROMOTIONAL, "10.00", reason="Welcome offer")

        text = pdf_text(run_october(user))

        assert "Promotional credit: Welcome offer" in text
        assert "-8.33" in text
        assert "13.67" in text and "2.73" in text and "16.40" in text

    def test_a_promotional_credit_larger_than_the_invoice_leaves_it_paid_and_keeps_the_rest(self):
        user = pro_customer(**FRENCH_BUSINESS)
        credit = grant(user, CreditType.PROMOTIONAL, "30.00", reason="Partner offer")

        invoice = run_october(user)

        assert credit_lines(invoice) == [("Promotional credit: Partner offer", "1", "-22.00")]
        assert figures(invoice) == ("0.00", "0.00", "0.00", "0.00", "0.00")
        assert invoice.status == InvoiceStatus.PAID
        credit.refresh_from_db()
        assert credit.remaining_amount == Decimal("3.60")  # 30.00 − 26.40
        assert invoice_document(invoice).payment is None
        assert document_failures(invoice) == []

    def test_under_reverse_charge_the_credit_is_taken_whole_before_a_zero_tax(self):
        user = pro_customer(**GERMAN_BUSINESS)
        grant(user, CreditType.COMPENSATION, "10.00")

        invoice = run_october(user)

        assert credit_lines(invoice) == [("Compensation credit: Outage on 3 October", "1", "-10.00")]
        assert figures(invoice) == ("12.00", "0.00", "12.00", "0.00", "12.00")
        assert invoice.reverse_charge
        assert document_failures(invoice) == []

    def test_the_credit_line_is_written_in_the_buyers_language(self):
        user = pro_customer(language="fr", **FRENCH_BUSINESS)
        grant(user, CreditType.COMPENSATION, "10.00", reason="Panne du 3 octobre")

        [(description, _quantity, amount)] = credit_lines(run_october(user))

        assert description.endswith("Panne du 3 octobre")
        assert amount == "-8.33"


@pytest.mark.django_db
class TestPrepaidCredits:
    @pytest.mark.parametrize("credit_type", [CreditType.REFUND, CreditType.ADJUSTMENT])
    def test_money_the_customer_paid_is_a_prepaid_amount_after_tax(self, credit_type):
        user = pro_customer(**FRENCH_BUSINESS)
        credit = grant(user, credit_type, "10.00", reason="Paid on cancelled invoice TMCP-2026-000001")

        invoice = run_october(user)

        assert credit_lines(invoice) == []
        assert figures(invoice) == ("22.00", "4.40", "26.40", "10.00", "16.40")
        credit.refresh_from_db()
        assert credit.remaining_amount == Decimal("0.00")
        root = etree.fromstring(document_xml(invoice))
        assert root.xpath("string(//ram:TotalPrepaidAmount)", namespaces={"ram": root.nsmap["ram"]}) == "10.00"
        assert allowances(document_xml(invoice)) == []
        assert document_failures(invoice) == []


@pytest.mark.django_db
class TestMixedCredits:
    def test_reductions_come_first_oldest_expiring_first_then_prepaid_credits(self):
        user = pro_customer(**FRENCH_BUSINESS)
        overpaid = grant(user, CreditType.ADJUSTMENT, "10.00", reason="Overpayment of TMCP-2026-000001")
        welcome = grant(user, CreditType.PROMOTIONAL, "2.00", reason="Welcome offer")
        outage = grant(user, CreditType.COMPENSATION, "5.00",
                       expires_at=datetime.datetime(2026, 12, 31, tzinfo=PARIS))

        invoice = run_october(user)

        # 5.00 takes 4.17 off (17.83, VAT 3.57, 21.40), then 2.00 takes 1.66 off (16.17, VAT 3.23, 19.40): each
        # is charged exactly what the total fell by; the overpayment then pays 10.00 of the 19.40.
        assert credit_lines(invoice) == [
            ("Compensation credit: Outage on 3 October", "1", "-4.17"),
            ("Promotional credit: Welcome offer", "1", "-1.66"),
        ]
        assert figures(invoice) == ("16.17", "3.23", "19.40", "10.00", "9.40")
        spent = dict(CreditApplication.objects.filter(invoice=invoice).values_list("credit_id", "amount"))
        assert spent == {outage.pk: Decimal("5.00"), welcome.pk: Decimal("2.00"), overpaid.pk: Decimal("10.00")}
        assert document_failures(invoice) == []

    def test_finalising_a_draft_gives_what_the_run_gives(self):
        by_run, by_hand = pro_customer(**FRENCH_BUSINESS), pro_customer(**FRENCH_BUSINESS)
        for user in (by_run, by_hand):
            grant(user, CreditType.REFUND, "3.00", reason="Refund")
            grant(user, CreditType.COMPENSATION, "5.00")

        issued = run_october(by_run)
        draft = invoice_generate(subscription=by_hand.subscriptions.get(), period="2026-10")
        finalised = invoice_finalize(invoice=draft, now=RUN_AT)

        assert figures(finalised) == figures(issued) == ("17.83", "3.57", "21.40", "3.00", "18.40")
        assert credit_lines(finalised) == credit_lines(issued)
        assert [line.position for line in finalised.lines.order_by("position")] == [0, 1, 2]


@pytest.mark.django_db
class TestCancellingGivesTheCreditsBack:
    def test_the_credit_comes_back_and_the_credit_line_stays_on_the_credit_note(self):
        user = pro_customer(**FRENCH_BUSINESS)
        credit = grant(user, CreditType.COMPENSATION, "10.00")
        invoice = run_october(user)
        cancelled_at = RUN_AT + datetime.timedelta(days=1)

        invoice_cancel(invoice=invoice, reason="Billed twice", now=cancelled_at)

        credit.refresh_from_db()
        assert credit.remaining_amount == Decimal("10.00")
        assert CreditApplication.objects.get(credit=credit).reversed_at == cancelled_at
        invoice.refresh_from_db()
        assert credit_lines(invoice) == [("Compensation credit: Outage on 3 October", "1", "-8.33")]
        credit_note = CreditNote.objects.get(invoice=invoice)
        assert credit_note.amount == Decimal("16.40")
        assert [line.amount for line in credit_note_document(credit_note).allowances] == [Decimal("-8.33")]
        assert document_failures(credit_note) == []


@pytest.mark.django_db
class TestTheEstimateSpendsCreditsAsTheIssueWill:
    def test_the_upcoming_invoice_shows_the_credit_line_and_the_reduced_vat(self):
        user = pro_customer(**FRENCH_BUSINESS)
        grant(user, CreditType.COMPENSATION, "10.00")
        grant(user, CreditType.REFUND, "1.00", reason="Refund")

        upcoming = invoice_upcoming(subscription=user.subscriptions.get(),
                                    now=datetime.datetime(2026, 10, 31, 18, tzinfo=PARIS))

        assert [(line.kind, line.amount) for line in upcoming.lines][-1] == (LineKind.CREDIT, Decimal("-8.33"))
        assert (upcoming.subtotal, upcoming.tax_amount, upcoming.total) == (
            Decimal("13.67"), Decimal("2.73"), Decimal("16.40")
        )
        assert (upcoming.credit_applied, upcoming.amount_due) == (Decimal("1.00"), Decimal("15.40"))
        assert figures(run_october(user)) == ("13.67", "2.73", "16.40", "1.00", "15.40")


class TestCreditsSpendNeverOvercharges:
    """No database: every credit from 0.01 to 40.00 on subtotals with awkward cents, at 20 %, 5.5 % and 0 %."""

    @pytest.mark.parametrize("tax_rate", [Decimal("0.2000"), Decimal("0.0550"), Decimal("0")])
    @pytest.mark.parametrize("subtotal", [Decimal("22.00"), Decimal("13.67"), Decimal("0.07")])
    def test_each_credit_is_charged_what_the_total_fell_by_and_never_more_than_it_has(self, subtotal, tax_rate):
        before = totals_at_rate(subtotal=subtotal, tax_rate=tax_rate)
        for cents in range(1, 4001, 7):
            credit = CreditFactory.build(type=CreditType.COMPENSATION, amount=Decimal(cents) / 100)

            spending = credits_spend(totals=before, settled=Decimal("0.00"), credits=[credit])

            after = spending.totals
            assert after.total == after.subtotal + after.tax_amount
            assert after.tax_amount == totals_at_rate(subtotal=after.subtotal, tax_rate=tax_rate).tax_amount
            saved = sum((spent.amount for spent in spending.spent), Decimal(0))
            assert saved == before.total - after.total
            assert saved <= credit.remaining_amount
            assert after.subtotal >= 0
            # The largest reduction: a cent more would cost the credit more than it has (or go below zero).
            if after.subtotal > 0:
                one_cent_more = totals_at_rate(subtotal=after.subtotal - Decimal("0.01"), tax_rate=tax_rate)
                assert before.total - one_cent_more.total > credit.remaining_amount
