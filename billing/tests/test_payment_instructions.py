"""Payment instructions (EN 16931 BG-16) say how each invoice is collected, as at issue: a bank transfer to the
seller's account, or the saved card Stripe charges; a SEPA direct debit is supported by the documents though the
product saves no mandate (Stripe saves cards only).

October 2026 on Pro: 19.00 + 3.00 overage = 22.00, 20 % VAT, total 26.40.
"""
import dataclasses
import datetime
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from lxml import etree
from pypdf import PdfReader

from billing.documents.data import (
    BANK_CARD,
    SEPA_CREDIT_TRANSFER,
    SEPA_DIRECT_DEBIT,
    PaymentInstructions,
    invoice_document,
)
from billing.documents.facturx import facturx_xml, render_invoice_document
from billing.documents.ubl import ubl_xml
from billing.models import CreditType, EmailKind, EmailNotification, Invoice, PaymentProviderCustomer
from billing.services import credit_grant, invoice_documents_issue, invoice_run
from billing.tests.einvoice import document_failures, en16931_failures, ubl_failures
from billing.tests.factories import PARIS, pro_customer

NOVEMBER_1 = datetime.date(2026, 11, 1)
RUN_AT = datetime.datetime(2026, 11, 1, 2, 0, tzinfo=PARIS)
CII = {"ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"}
UBL = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
TRANSFER_SENTENCE = "Payment: bank transfer to IBAN FR76 3000 6000 0112 3456 7890 189, BIC AGRIFRPPXXX"


def october_customer():
    return pro_customer(company_name="Atelier Durand", vat_number="FR40303265045")


def save_card(user, *, brand="visa", last4="4242") -> PaymentProviderCustomer:
    return PaymentProviderCustomer.objects.create(
        user=user, provider="stripe", provider_customer_id=f"cus_{user.pk}", default_payment_method_id=f"pm_{user.pk}",
        card_brand=brand, card_last4=last4, card_exp_month=12, card_exp_year=2030,
    )


def run_october(user) -> Invoice:
    invoice_run(period_end=NOVEMBER_1, customer=user, now=RUN_AT)
    return Invoice.objects.get(user=user)


def pdf_text(pdf: bytes) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages)


def cii(xml: bytes, path: str) -> str:
    return etree.fromstring(xml).xpath(
        f"string(//ram:ApplicableHeaderTradeSettlement/{path})", namespaces=CII
    )


def ubl(xml: bytes, path: str) -> str:
    return etree.fromstring(xml).xpath(f"string(/*/cac:PaymentMeans/{path})", namespaces=UBL)


@pytest.fixture
def stripe_collects(settings):
    settings.PAYMENT_PROVIDER = "stripe"


@pytest.mark.django_db
class TestBankTransfer:
    def test_manual_collection_pays_by_transfer_to_the_sellers_account(self):
        invoice = run_october(october_customer())

        document = invoice_document(invoice)

        assert document.payment == PaymentInstructions(
            means_code=SEPA_CREDIT_TRANSFER, iban="FR7630006000011234567890189", bic="AGRIFRPPXXX"
        )
        assert f"{TRANSFER_SENTENCE}, reference {invoice.number}." in pdf_text(render_invoice_document(document))
        xml = facturx_xml(document)
        assert cii(xml, "ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode") == "58"
        assert cii(xml, "ram:PaymentReference") == invoice.number
        assert cii(xml, "ram:SpecifiedTradeSettlementPaymentMeans/ram:PayeePartyCreditorFinancialAccount/ram:IBANID") \
            == "FR7630006000011234567890189"
        assert ubl(ubl_xml(document), "cbc:PaymentMeansCode") == "58"
        assert document_failures(invoice) == []

    def test_with_stripe_and_no_saved_card_the_customer_pays_by_transfer(self, stripe_collects):
        invoice = run_october(october_customer())

        assert invoice_document(invoice).payment.means_code == SEPA_CREDIT_TRANSFER
        assert invoice.billing_details["payment"] == {"means_code": SEPA_CREDIT_TRANSFER}

    def test_an_invoice_issued_before_the_snapshot_kept_its_means_pays_by_transfer(self):
        invoice = run_october(october_customer())
        invoice.issue_details = {key: value for key, value in invoice.issue_details.items() if key != "payment"}
        invoice.save(update_fields=["issue_details"])
        invoice.refresh_from_db()

        assert invoice_document(invoice).payment.means_code == SEPA_CREDIT_TRANSFER

    def test_an_invoice_paid_in_full_by_credits_has_no_instructions(self):
        user = october_customer()
        credit_grant(user=user, type=CreditType.REFUND, amount=Decimal("30.00"), reason="Refund",
                     now=datetime.datetime(2026, 10, 2, tzinfo=PARIS))
        invoice = run_october(user)

        document = invoice_document(invoice)

        assert (invoice.credit_applied, invoice.amount_due) == (Decimal("26.40"), Decimal("0.00"))
        assert document.payment is None
        assert "Payment:" not in pdf_text(render_invoice_document(document))
        assert cii(facturx_xml(document), "ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode") == ""
        assert document_failures(invoice) == []


@pytest.mark.django_db
class TestSavedCard:
    def test_an_invoice_stripe_charges_names_the_card_on_every_document(self, stripe_collects):
        user = october_customer()
        save_card(user)
        invoice = run_october(user)

        document = invoice_document(invoice)

        assert document.payment == PaymentInstructions(means_code=BANK_CARD, card_brand="Visa", card_last4="4242")
        text = pdf_text(render_invoice_document(document))
        assert "Payment: charged to the Visa card ending in 4242 when the invoice is issued." in text
        assert "IBAN" not in text
        xml = facturx_xml(document)
        assert cii(xml, "ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode") == "48"
        assert cii(xml, "ram:SpecifiedTradeSettlementPaymentMeans/ram:Information") == "Visa"
        assert cii(xml, "ram:SpecifiedTradeSettlementPaymentMeans/ram:ApplicableTradeSettlementFinancialCard/ram:ID") \
            == "4242"
        assert cii(xml, "ram:SpecifiedTradeSettlementPaymentMeans/ram:PayeePartyCreditorFinancialAccount") == ""
        ubl_document = ubl_xml(document)
        assert ubl(ubl_document, "cbc:PaymentMeansCode") == "48"
        assert ubl(ubl_document, "cac:CardAccount/cbc:PrimaryAccountNumberID") == "4242"
        assert document_failures(invoice) == []

    def test_the_document_says_the_card_of_the_issue_even_after_it_was_replaced(self, stripe_collects):
        user = october_customer()
        card = save_card(user)
        invoice = run_october(user)
        card.card_brand, card.card_last4 = "mastercard", "4444"
        card.save()

        assert invoice_document(invoice).payment.card_last4 == "4242"

    def test_the_invoice_page_and_email_do_not_ask_for_a_transfer(self, stripe_collects, client):
        user = october_customer()
        save_card(user)
        invoice = run_october(user)
        client.force_login(user)

        page = client.get(reverse("billing:invoice_detail", args=[invoice.pk])).content.decode()
        invoice_documents_issue(invoice=invoice)

        assert 'data-testid="bank-transfer"' not in page
        email = EmailNotification.objects.get(invoice=invoice, kind=EmailKind.INVOICE_ISSUED)
        assert "iban" not in email.context

    def test_a_transfer_invoice_page_and_email_give_the_account(self, client):
        user = october_customer()
        invoice = run_october(user)
        client.force_login(user)

        page = client.get(reverse("billing:invoice_detail", args=[invoice.pk])).content.decode()
        invoice_documents_issue(invoice=invoice)

        assert 'data-testid="bank-transfer"' in page
        email = EmailNotification.objects.get(invoice=invoice, kind=EmailKind.INVOICE_ISSUED)
        assert email.context["iban"] == "FR76 3000 6000 0112 3456 7890 189"


@pytest.mark.django_db
class TestSepaDirectDebit:
    """The product saves no SEPA mandate (Stripe SetupIntents take cards only): a hand-made document."""

    def test_a_direct_debit_names_its_mandate_and_the_masked_debited_account(self):
        invoice = run_october(october_customer())
        document = dataclasses.replace(
            invoice_document(invoice),
            payment=PaymentInstructions(
                means_code=SEPA_DIRECT_DEBIT, mandate_reference="TMCP-MANDATE-000042",
                debited_account="FR76XXXXXXXXXXXXXXXXXXX0189",
            ),
        )

        text = pdf_text(render_invoice_document(document))
        xml = facturx_xml(document)

        assert ("Payment: SEPA direct debit from account FR76XXXXXXXXXXXXXXXXXXX0189 under mandate "
                "TMCP-MANDATE-000042.") in text
        assert cii(xml, "ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode") == "59"
        assert cii(xml, "ram:SpecifiedTradePaymentTerms/ram:DirectDebitMandateID") == "TMCP-MANDATE-000042"
        assert cii(xml, "ram:SpecifiedTradeSettlementPaymentMeans/ram:PayerPartyDebtorFinancialAccount/ram:IBANID") \
            == "FR76XXXXXXXXXXXXXXXXXXX0189"
        assert en16931_failures(xml) == []
        ubl_document = ubl_xml(document)
        assert ubl(ubl_document, "cbc:PaymentMeansCode") == "59"
        assert ubl(ubl_document, "cac:PaymentMandate/cbc:ID") == "TMCP-MANDATE-000042"
        assert ubl_failures(ubl_document) == []
