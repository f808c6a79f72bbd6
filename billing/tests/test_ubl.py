"""Every issued invoice and credit note as UBL 2.1 (the French CTC profile for a buyer established in France, else
Peppol BIS Billing 3.0 or plain EN 16931): the official XSD, EN 16931, French CTC and Peppol rules find nothing
wrong, its figures are the Factur-X's and the invoice's to the cent, and customers download it or, when they chose
UBL, get it with their emails.

The invoices are the scenarios of test_einvoice_rules: October 2026 on Pro (19.00 fee, 5,000,000 tokens included,
2.00 per million beyond), 6,500,000 tokens used: 1,500,000 tokens of overage = 3.00, subtotal 22.00.
"""
import dataclasses
import datetime
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse
from lxml import etree

from accounts.models import EinvoiceFormat, UserProfile
from accounts.selectors import account_export
from accounts.services import api_key_create
from accounts.tests.factories import make_customer
from billing.documents.data import BANK_CARD, SEPA_DIRECT_DEBIT, PaymentInstructions
from billing.documents.services import invoice_documents_issue, record_ubl
from billing.documents.ubl import CAC, CBC, EN16931, PEPPOL_CUSTOMIZATION, PEPPOL_PROFILE, ubl_xml
from billing.models import Coupon, CreditType, Invoice
from billing.selectors import credit_note_of
from billing.services import coupon_redeem, credit_grant, invoice_cancel, invoice_run
from billing.tests.einvoice import document_failures, document_xml, ubl_failures, ubl_rule_sets
from billing.tests.factories import PARIS, InvoiceFactory, PlanFactory, SubscriptionFactory
from billing.tests.test_einvoice_rules import NOVEMBER_1, RUN_AT, october_invoice
from billing.tests.test_payment_instructions import save_card
from billing.tests.test_pdf import make_document

NS = {"cac": CAC, "cbc": CBC}
CII = {"ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"}
FRENCH_BUSINESS = {"company_name": "Atelier Durand", "vat_number": "FR40303265045", "siren": "303265045"}
GERMAN_BUSINESS = {"company_name": "Acme GmbH", "country": "DE", "vat_number": "DE136695976"}
FRENCH_RULES = ["EN 16931 UBL", "FR CTC UBL"]
PEPPOL_RULES = ["EN 16931 UBL", "Peppol BIS 3"]
# LegalMonetaryTotal (BG-22) and the VAT total, by the name of their Factur-X counterpart.
FACTURX_TOTALS = {
    "LineExtensionAmount": "LineTotalAmount", "AllowanceTotalAmount": "AllowanceTotalAmount",
    "TaxExclusiveAmount": "TaxBasisTotalAmount", "TaxAmount": "TaxTotalAmount",
    "TaxInclusiveAmount": "GrandTotalAmount", "PrepaidAmount": "TotalPrepaidAmount",
    "PayableAmount": "DuePayableAmount",
}


def ubl_of(record) -> etree._Element:
    return etree.fromstring(record_ubl(record))


def ubl_totals(root: etree._Element) -> dict[str, Decimal]:
    totals = {etree.QName(child).localname: Decimal(child.text) for child in root.find("cac:LegalMonetaryTotal", NS)}
    return totals | {"TaxAmount": Decimal(root.findtext("cac:TaxTotal/cbc:TaxAmount", namespaces=NS))}


def facturx_totals(record) -> dict[str, Decimal]:
    summation = etree.fromstring(document_xml(record)).find(
        ".//ram:SpecifiedTradeSettlementHeaderMonetarySummation", CII
    )
    cii = {etree.QName(child).localname: Decimal(child.text) for child in summation}
    return {name: cii[cii_name] for name, cii_name in FACTURX_TOTALS.items() if cii_name in cii}


def assert_same_figures(record, *, subtotal, tax, total, prepaid, payable) -> None:
    """The UBL states the record's figures, to the cent, and the Factur-X states the same."""
    totals = ubl_totals(ubl_of(record))
    assert (
        totals["TaxExclusiveAmount"], totals["TaxAmount"], totals["TaxInclusiveAmount"], totals["PrepaidAmount"],
        totals["PayableAmount"],
    ) == (subtotal, tax, total, prepaid, payable)
    assert {name: value for name, value in totals.items() if value or name != "PrepaidAmount"} == {
        name: value for name, value in facturx_totals(record).items() if value or name != "PrepaidAmount"
    }


def assert_invoice_figures(invoice: Invoice) -> None:
    assert_same_figures(
        invoice, subtotal=invoice.subtotal, tax=invoice.tax_amount, total=invoice.total,
        prepaid=invoice.credit_applied, payable=invoice.total - invoice.credit_applied,
    )


@pytest.mark.django_db
class TestEveryTaxCasePassesTheRules:
    @pytest.mark.parametrize(
        ("profile", "total", "customization", "profile_id", "rule_sets", "buyer_endpoint"),
        [
            # A buyer established in France: the French CTC profile, the billing framework S1 as its profile.
            (FRENCH_BUSINESS, Decimal("26.40"), EN16931, "S1", FRENCH_RULES, ("0002", "303265045")),
            ({"company_name": "", "user__email": "camille@example.com"}, Decimal("26.40"), EN16931, "S1",
             FRENCH_RULES, ("EM", "camille@example.com")),
            (GERMAN_BUSINESS, Decimal("22.00"), PEPPOL_CUSTOMIZATION, PEPPOL_PROFILE, PEPPOL_RULES,
             ("9930", "DE136695976")),
            ({"company_name": "Acme Inc.", "country": "US", "vat_number": "", "user__email": "ap@acme.example"},
             Decimal("22.00"), EN16931, None, ["EN 16931 UBL"], ("EM", "ap@acme.example")),
        ],
        ids=["fr-business", "fr-consumer", "eu-reverse-charge", "outside-eu"],
    )
    def test_the_period_invoice(self, profile, total, customization, profile_id, rule_sets, buyer_endpoint):
        invoice = october_invoice(**profile)

        root = ubl_of(invoice)

        assert invoice.total == total
        assert ubl_rule_sets(root) == rule_sets
        assert document_failures(invoice) == []
        assert_invoice_figures(invoice)
        assert etree.QName(root).localname == "Invoice"
        assert root.findtext("cbc:InvoiceTypeCode", namespaces=NS) == "380"
        assert root.findtext("cbc:CustomizationID", namespaces=NS) == customization
        assert root.findtext("cbc:ProfileID", namespaces=NS) == profile_id
        [endpoint] = root.iterfind("cac:AccountingCustomerParty/cac:Party/cbc:EndpointID", NS)
        assert (endpoint.get("schemeID"), endpoint.text) == buyer_endpoint
        seller_endpoint = root.find("cac:AccountingSupplierParty/cac:Party/cbc:EndpointID", NS)
        assert (seller_endpoint.get("schemeID"), seller_endpoint.text) == ("0002", "303265045")

    def test_the_usage_line_bills_tokens_at_a_price_per_million(self):
        invoice = october_invoice(**FRENCH_BUSINESS)

        lines = [
            tuple(line.findtext(path, namespaces=NS) for path in (
                "cbc:InvoicedQuantity", "cbc:LineExtensionAmount", "cac:Price/cbc:PriceAmount",
                "cac:Price/cbc:BaseQuantity",
            ))
            for line in ubl_of(invoice).iterfind("cac:InvoiceLine", NS)
        ]

        assert lines == [("1", "19.00", "19", None), ("1500000", "3.00", "2", "1000000")]

    def test_the_reverse_charge_states_its_exemption(self):
        invoice = october_invoice(**GERMAN_BUSINESS)

        category = ubl_of(invoice).find("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory", NS)

        assert [
            category.findtext(f"cbc:{name}", namespaces=NS) for name in ("ID", "Percent", "TaxExemptionReasonCode")
        ] == ["AE", "0", "VATEX-EU-AE"]

    def test_an_invoice_partly_paid_by_a_prepaid_credit(self):
        user = make_customer(**FRENCH_BUSINESS)
        credit_grant(user=user, amount=Decimal("10.00"), type=CreditType.REFUND, reason="Refund",
                     now=datetime.datetime(2026, 10, 2, tzinfo=PARIS))
        SubscriptionFactory(user=user, plan=PlanFactory(), current_period_start=datetime.date(2026, 10, 1),
                            current_period_end=NOVEMBER_1)
        invoice_run(period_end=NOVEMBER_1, customer=user, now=RUN_AT)
        invoice = Invoice.objects.get(user=user)

        assert document_failures(invoice) == []
        assert_same_figures(invoice, subtotal=Decimal("19.00"), tax=Decimal("3.80"), total=Decimal("22.80"),
                            prepaid=Decimal("10.00"), payable=Decimal("12.80"))

    def test_a_coupon_discount_is_a_document_level_allowance(self):
        user = make_customer(**FRENCH_BUSINESS)
        SubscriptionFactory(user=user, plan=PlanFactory(), current_period_start=datetime.date(2026, 10, 1),
                            current_period_end=NOVEMBER_1)
        Coupon.objects.create(code="WELCOME20", name="Welcome", percent_off=Decimal("20"), duration="once")
        coupon_redeem(user=user, code="WELCOME20", now=datetime.datetime(2026, 10, 10, 9, tzinfo=PARIS))
        invoice_run(period_end=NOVEMBER_1, customer=user, now=RUN_AT)
        invoice = Invoice.objects.get(user=user)

        root = ubl_of(invoice)

        assert document_failures(invoice) == []
        [allowance] = root.iterfind("cac:AllowanceCharge", NS)
        assert [allowance.findtext(f"cbc:{name}", namespaces=NS) for name in ("ChargeIndicator", "Amount")] == [
            "false", "3.80",
        ]
        assert allowance.findtext("cbc:AllowanceChargeReason", namespaces=NS) == "Welcome (coupon WELCOME20): 20% off"
        assert len(root.findall("cac:InvoiceLine", NS)) == 1  # the discount is no line
        assert_same_figures(invoice, subtotal=Decimal("15.20"), tax=Decimal("3.04"), total=Decimal("18.24"),
                            prepaid=Decimal("0"), payable=Decimal("18.24"))
        assert ubl_totals(root)["AllowanceTotalAmount"] == Decimal("3.80")

    def test_the_credit_note_cancelling_an_invoice_refers_to_it(self):
        invoice = october_invoice(**FRENCH_BUSINESS)
        invoice_cancel(invoice=invoice, reason="Billed twice", now=RUN_AT + datetime.timedelta(days=1))
        credit_note = credit_note_of(invoice)

        root = ubl_of(credit_note)

        assert document_failures(credit_note) == []
        assert etree.QName(root).localname == "CreditNote"
        assert root.findtext("cbc:ID", namespaces=NS) == credit_note.number
        assert root.findtext("cbc:CreditNoteTypeCode", namespaces=NS) == "381"
        reference = root.find("cac:BillingReference/cac:InvoiceDocumentReference", NS)
        assert [reference.findtext(f"cbc:{name}", namespaces=NS) for name in ("ID", "IssueDate")] == [
            invoice.number, invoice.issue_date.isoformat(),
        ]
        lines = root.findall("cac:CreditNoteLine", NS)
        quantities = [line.findtext("cbc:CreditedQuantity", namespaces=NS) for line in lines]
        assert quantities == ["1", "1500000"]
        assert root.find("cac:PaymentMeans", NS) is None  # nothing to pay on a credit note
        assert_same_figures(credit_note, subtotal=Decimal("22.00"), tax=Decimal("4.40"), total=Decimal("26.40"),
                            prepaid=Decimal("0"), payable=credit_note.amount)


def facturx_notes(record) -> list[str]:
    """The Factur-X's notes, each as EN 16931 writes a note in UBL: its subject code, if any, between # first."""
    notes = etree.fromstring(document_xml(record)).iterfind(".//ram:IncludedNote", CII)
    return [
        f"#{note.findtext('ram:SubjectCode', namespaces=CII)}#{note.findtext('ram:Content', namespaces=CII)}"
        if note.find("ram:SubjectCode", CII) is not None else note.findtext("ram:Content", namespaces=CII)
        for note in notes
    ]


def assert_french_profile(record) -> etree._Element:
    """The record's UBL follows the French CTC profile, its rules and every other find nothing wrong, and it states
    the Factur-X's billing framework and coded notes."""
    root = ubl_of(record)
    assert ubl_rule_sets(root) == FRENCH_RULES
    assert document_failures(record) == []
    assert (root.findtext("cbc:CustomizationID", namespaces=NS), root.findtext("cbc:ProfileID", namespaces=NS)) == (
        EN16931, "S1",
    )
    assert [note.text for note in root.iterfind("cbc:Note", NS)] == facturx_notes(record)
    return root


def legal_identifier(root: etree._Element, role: str) -> tuple[str, str] | None:
    company_id = root.find(f"cac:{role}/cac:Party/cac:PartyLegalEntity/cbc:CompanyID", NS)
    return None if company_id is None else (company_id.get("schemeID"), company_id.text)


@pytest.mark.django_db
class TestTheFrenchExchange:
    """A buyer established in France (or Monaco) is in the French e-invoicing exchange: its UBL passes the French
    CTC rules ("Flux 2") as its Factur-X does, which Peppol BIS 3 contradicts on the profile and the notes."""

    @pytest.mark.parametrize(
        ("profile", "buyer_siren", "buyer_endpoint"),
        [
            (FRENCH_BUSINESS, ("0002", "303265045"), ("0002", "303265045")),
            # No SIREN of its own nor a French VAT number to read one from: its e-mail is its address.
            ({"company_name": "Atelier Durand", "vat_number": "", "user__email": "compta@durand.example"}, None,
             ("EM", "compta@durand.example")),
            ({"company_name": "", "user__email": "camille@example.com"}, None, ("EM", "camille@example.com")),
            ({"company_name": "", "country": "MC", "user__email": "lea@example.mc"}, None, ("EM", "lea@example.mc")),
        ],
        ids=["business-with-siren", "business-without-siren", "consumer", "monaco-consumer"],
    )
    def test_the_period_invoice(self, profile, buyer_siren, buyer_endpoint):
        invoice = october_invoice(**profile)

        root = assert_french_profile(invoice)

        assert invoice.total == Decimal("26.40")
        assert_invoice_figures(invoice)
        assert [note.text.split("#")[1] for note in root.iterfind("cbc:Note", NS)] == ["PMD", "PMT", "AAB", "REG"]
        assert legal_identifier(root, "AccountingSupplierParty") == ("0002", "303265045")
        assert legal_identifier(root, "AccountingCustomerParty") == buyer_siren
        endpoint = root.find("cac:AccountingCustomerParty/cac:Party/cbc:EndpointID", NS)
        assert (endpoint.get("schemeID"), endpoint.text) == buyer_endpoint

    def test_the_credit_note_cancelling_an_invoice(self):
        invoice = october_invoice(**FRENCH_BUSINESS)
        invoice_cancel(invoice=invoice, reason="Billed twice", now=RUN_AT + datetime.timedelta(days=1))
        credit_note = credit_note_of(invoice)

        root = assert_french_profile(credit_note)

        assert root.findtext("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", namespaces=NS) == (
            invoice.number
        )
        assert [note.text for note in root.iterfind("cbc:Note", NS)][-1] == "Reason: Billed twice"
        assert_same_figures(credit_note, subtotal=Decimal("22.00"), tax=Decimal("4.40"), total=Decimal("26.40"),
                            prepaid=Decimal("0"), payable=Decimal("26.40"))

    def test_an_invoice_with_a_credit_allowance(self):
        user = make_customer(**FRENCH_BUSINESS)
        SubscriptionFactory(user=user, plan=PlanFactory(), current_period_start=datetime.date(2026, 10, 1),
                            current_period_end=NOVEMBER_1)
        credit_grant(user=user, amount=Decimal("5.00"), type=CreditType.PROMOTIONAL, reason="Welcome offer",
                     now=datetime.datetime(2026, 10, 2, tzinfo=PARIS))
        invoice_run(period_end=NOVEMBER_1, customer=user, now=RUN_AT)
        invoice = Invoice.objects.get(user=user)

        root = assert_french_profile(invoice)

        [allowance] = root.iterfind("cac:AllowanceCharge", NS)
        assert allowance.findtext("cbc:Amount", namespaces=NS) == "4.17"
        assert_same_figures(invoice, subtotal=Decimal("14.83"), tax=Decimal("2.97"), total=Decimal("17.80"),
                            prepaid=Decimal("0"), payable=Decimal("17.80"))

    def test_a_card_paid_invoice(self, settings):
        settings.PAYMENT_PROVIDER = "stripe"
        user = make_customer(**FRENCH_BUSINESS)
        save_card(user)
        SubscriptionFactory(user=user, plan=PlanFactory(), current_period_start=datetime.date(2026, 10, 1),
                            current_period_end=NOVEMBER_1)
        invoice_run(period_end=NOVEMBER_1, customer=user, now=RUN_AT)
        invoice = Invoice.objects.get(user=user)

        root = assert_french_profile(invoice)

        assert [root.findtext(path, namespaces=NS) for path in (
            "cac:PaymentMeans/cbc:PaymentMeansCode", "cac:PaymentMeans/cac:CardAccount/cbc:PrimaryAccountNumberID",
        )] == ["48", "4242"]

    def test_a_german_business_stays_on_peppol_with_one_uncoded_note(self):
        invoice = october_invoice(**GERMAN_BUSINESS)

        root = ubl_of(invoice)

        assert ubl_rule_sets(root) == PEPPOL_RULES
        assert document_failures(invoice) == []
        assert root.findtext("cbc:ProfileID", namespaces=NS) == PEPPOL_PROFILE
        [note] = root.iterfind("cbc:Note", NS)
        assert "#" not in note.text and note.text.splitlines()[:3] == [
            text.split("#", 2)[2] for text in facturx_notes(invoice)[:3]
        ]


@pytest.mark.django_db
class TestTheRulesCatchBrokenDocuments:
    def test_a_tampered_total(self):
        root = ubl_of(october_invoice(**FRENCH_BUSINESS))
        root.find("cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount", NS).text = "26.41"

        failures = ubl_failures(etree.tostring(root))

        assert any(failure.startswith("[EN 16931 UBL] BR-CO-15:") for failure in failures), failures

    def test_a_peppol_rule(self):
        root = ubl_of(october_invoice(**GERMAN_BUSINESS))
        root.remove(root.find("cbc:BuyerReference", NS))

        failures = ubl_failures(etree.tostring(root))

        assert any(failure.startswith("[Peppol BIS 3] PEPPOL-EN16931-R003:") for failure in failures), failures

    def test_a_french_buyers_document_without_its_billing_framework(self):
        root = ubl_of(october_invoice(**FRENCH_BUSINESS))
        root.remove(root.find("cbc:ProfileID", NS))

        failures = ubl_failures(etree.tostring(root))

        assert [failure.split(":")[0] for failure in failures] == ["[FR CTC UBL] BR-FR-08_BT-23"], failures

    def test_a_french_buyers_document_with_the_notes_uncoded(self):
        root = ubl_of(october_invoice(**FRENCH_BUSINESS))
        for note in root.iterfind("cbc:Note", NS):
            note.text = note.text.split("#", 2)[2]

        failures = ubl_failures(etree.tostring(root))

        assert sorted(failure.split(":")[0] for failure in failures) == [
            "[FR CTC UBL] BR-FR-05_BT-22-1", "[FR CTC UBL] BR-FR-05_BT-22-2", "[FR CTC UBL] BR-FR-05_BT-22-3",
        ], failures

    def test_an_element_out_of_the_schema(self):
        root = ubl_of(october_invoice(**FRENCH_BUSINESS))
        root.append(etree.Element(f"{{{CBC}}}Colour"))

        [failure] = ubl_failures(etree.tostring(root))

        assert failure.startswith("[UBL 2.1 XSD] SCHEMAV_ELEMENT_CONTENT:") and "Colour" in failure


class TestPaymentMeans:
    """BG-16 from the document's payment instructions, whichever way the invoice is collected."""

    def means(self, payment: PaymentInstructions | None) -> etree._Element | None:
        xml = ubl_xml(make_document(payment=payment))
        assert ubl_failures(xml) == []
        return etree.fromstring(xml).find("cac:PaymentMeans", NS)

    def test_a_bank_transfer_names_the_sellers_account_and_the_invoice_number(self):
        means = self.means(make_document().payment)

        assert [means.findtext(path, namespaces=NS) for path in (
            "cbc:PaymentMeansCode", "cbc:PaymentID", "cac:PayeeFinancialAccount/cbc:ID",
            "cac:PayeeFinancialAccount/cac:FinancialInstitutionBranch/cbc:ID",
        )] == ["58", "TMCP-2026-000042", "FR7630006000011234567890189", "AGRIFRPPXXX"]

    def test_a_card_names_its_last_digits_and_network(self):
        means = self.means(PaymentInstructions(BANK_CARD, card_last4="4242", card_brand="Visa"))

        assert [means.findtext(path, namespaces=NS) for path in (
            "cbc:PaymentMeansCode", "cac:CardAccount/cbc:PrimaryAccountNumberID", "cac:CardAccount/cbc:NetworkID",
        )] == ["48", "4242", "Visa"]
        assert means.find("cbc:PaymentMeansCode", NS).get("name") == "Visa"
        assert means.find("cac:PayeeFinancialAccount", NS) is None

    def test_a_sepa_direct_debit_names_its_mandate_and_the_debited_account(self):
        means = self.means(PaymentInstructions(
            SEPA_DIRECT_DEBIT, mandate_reference="MANDATE-2026-17", debited_account="DE89XXXXXXXXXXXXXX3000",
        ))

        assert [means.findtext(path, namespaces=NS) for path in (
            "cbc:PaymentMeansCode", "cac:PaymentMandate/cbc:ID", "cac:PaymentMandate/cac:PayerFinancialAccount/cbc:ID",
        )] == ["59", "MANDATE-2026-17", "DE89XXXXXXXXXXXXXX3000"]

    def test_nothing_due_has_no_payment_means(self):
        assert self.means(None) is None


class TestVatPoint:
    def test_a_seller_paying_vat_on_debits_states_that_the_vat_falls_due_on_the_invoice_date(self):
        document = make_document(seller=dataclasses.replace(make_document().seller, vat_on_debits=True))

        xml = ubl_xml(document)

        assert ubl_failures(xml) == []
        assert etree.fromstring(xml).findtext("cac:InvoicePeriod/cbc:DescriptionCode", namespaces=NS) == "3"
        assert etree.fromstring(ubl_xml(make_document())).find("cac:InvoicePeriod/cbc:DescriptionCode", NS) is None


def logged_in_client(client, user):
    client.force_login(user)
    return client


@pytest.mark.django_db
class TestDownloads:
    def test_the_invoice_page_gives_the_xml_of_the_issued_invoice_the_same_at_every_download(self, client):
        invoice = october_invoice(**FRENCH_BUSINESS)
        client = logged_in_client(client, invoice.user)

        first = client.get(reverse("billing:invoice_ubl", args=[invoice.pk]))
        second = client.get(reverse("billing:invoice_ubl", args=[invoice.pk]))

        assert first.status_code == 200
        assert first["Content-Type"] == "application/xml"
        assert first["Content-Disposition"] == f'attachment; filename="{invoice.number}.xml"'
        body = b"".join(first.streaming_content)
        assert body == b"".join(second.streaming_content) == record_ubl(invoice)

    def test_the_credit_note_xml_sits_next_to_its_pdf(self, client):
        invoice = october_invoice(**FRENCH_BUSINESS)
        invoice_cancel(invoice=invoice, reason="Billed twice", now=RUN_AT + datetime.timedelta(days=1))
        client = logged_in_client(client, invoice.user)

        response = client.get(reverse("billing:credit_note_ubl", args=[invoice.pk]))

        credit_note = credit_note_of(invoice)
        assert response["Content-Disposition"] == f'attachment; filename="{credit_note.number}.xml"'
        assert b"".join(response.streaming_content) == record_ubl(credit_note)

    def test_an_invoice_without_credit_note_has_no_credit_note_xml(self, client):
        invoice = october_invoice(**FRENCH_BUSINESS)

        response = logged_in_client(client, invoice.user).get(reverse("billing:credit_note_ubl", args=[invoice.pk]))

        assert response.status_code == 404

    def test_drafts_and_other_customers_invoices_answer_404(self, client):
        invoice = october_invoice(**FRENCH_BUSINESS)
        draft = InvoiceFactory(subscription=invoice.subscription, period_start=NOVEMBER_1,
                               period_end=datetime.date(2026, 12, 1))
        client = logged_in_client(client, make_customer())

        assert client.get(reverse("billing:invoice_ubl", args=[invoice.pk])).status_code == 404
        client.force_login(invoice.user)
        assert client.get(reverse("billing:invoice_ubl", args=[draft.pk])).status_code == 404

    def test_the_api_gives_the_same_xml_with_the_billing_read_scope(self):
        from rest_framework.test import APIClient

        invoice = october_invoice(**FRENCH_BUSINESS)
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION="Bearer " + api_key_create(
            user=invoice.user, name="accounting", scopes=["billing:read"]).token)

        response = api.get(f"/api/billing/invoices/{invoice.pk}/ubl/", HTTP_ACCEPT="application/xml")
        others = api.get(f"/api/billing/invoices/{october_invoice().pk}/ubl/")

        assert response.status_code == 200
        assert response["Content-Type"] == "application/xml"
        assert response["Content-Disposition"] == f'attachment; filename="{invoice.number}.xml"'
        assert b"".join(response.streaming_content) == record_ubl(invoice)
        assert others.status_code == 404

    @pytest.mark.parametrize(("einvoice_format", "first"), [("facturx", "facturx"), ("ubl", "ubl")])
    def test_the_invoice_page_lists_the_customers_format_first(self, client, einvoice_format, first):
        invoice = october_invoice(**FRENCH_BUSINESS, einvoice_format=einvoice_format)

        html = logged_in_client(client, invoice.user).get(
            reverse("billing:invoice_detail", args=[invoice.pk])
        ).content.decode()

        pdf, ubl = html.index('data-testid="download-facturx"'), html.index('data-testid="download-ubl"')
        assert (pdf < ubl) == (first == "facturx")
        assert reverse("billing:invoice_ubl", args=[invoice.pk]) in html


@pytest.mark.django_db
@pytest.mark.usefixtures("media")
class TestEmails:
    def issue(self, django_capture_on_commit_callbacks, **profile) -> Invoice:
        user = make_customer(**FRENCH_BUSINESS, **profile)
        SubscriptionFactory(user=user, plan=PlanFactory(), current_period_start=datetime.date(2026, 10, 1),
                            current_period_end=NOVEMBER_1)
        with django_capture_on_commit_callbacks(execute=True):
            invoice_run(period_end=NOVEMBER_1, customer=user, now=RUN_AT)
        return Invoice.objects.get(user=user)

    def test_a_customer_who_reads_ubl_gets_it_beside_the_pdf(self, django_capture_on_commit_callbacks):
        invoice = self.issue(django_capture_on_commit_callbacks, einvoice_format=EinvoiceFormat.UBL)

        [message] = mail.outbox
        assert [(name, mimetype) for name, _, mimetype in message.attachments] == [
            (f"{invoice.number}.pdf", "application/pdf"), (f"{invoice.number}.xml", "application/xml"),
        ]
        assert message.attachments[1][1] == record_ubl(invoice)

    def test_a_customer_who_reads_factur_x_gets_the_pdf_only(self, django_capture_on_commit_callbacks):
        invoice = self.issue(django_capture_on_commit_callbacks)

        [message] = mail.outbox
        assert [name for name, _, _ in message.attachments] == [f"{invoice.number}.pdf"]

    def test_the_credit_note_email_carries_the_credit_notes_ubl(self, django_capture_on_commit_callbacks):
        invoice = self.issue(django_capture_on_commit_callbacks, einvoice_format=EinvoiceFormat.UBL)
        mail.outbox.clear()

        with django_capture_on_commit_callbacks(execute=True):
            invoice_cancel(invoice=invoice, reason="Billed twice", now=RUN_AT + datetime.timedelta(days=1))

        [message] = mail.outbox
        credit_note = credit_note_of(invoice)
        assert [name for name, _, _ in message.attachments] == [
            f"{credit_note.number}.pdf", f"{credit_note.number}.xml",
        ]
        assert message.attachments[1][1] == record_ubl(credit_note)

    def test_the_email_sends_the_xml_of_the_issue_even_after_the_profile_changed(
        self, django_capture_on_commit_callbacks
    ):
        invoice = self.issue(django_capture_on_commit_callbacks, einvoice_format=EinvoiceFormat.UBL)
        UserProfile.objects.filter(user=invoice.user).update(company_name="Renamed SARL")

        assert b"Renamed SARL" not in record_ubl(invoice)
        assert mail.outbox[0].attachments[1][1] == record_ubl(invoice)
        invoice_documents_issue(invoice=invoice)  # a second call sends no second email
        assert len(mail.outbox) == 1


@pytest.mark.django_db
class TestProfile:
    def test_the_profile_form_saves_the_format(self, client):
        user = make_customer(**FRENCH_BUSINESS)
        client = logged_in_client(client, user)
        page = client.get(reverse("accounts:profile"))
        data = {name: value for name, value in page.context["form"].initial.items() if value is not None}

        response = client.post(reverse("accounts:profile"), data | {"einvoice_format": "ubl"})

        assert response.status_code == 302
        assert UserProfile.objects.get(user=user).einvoice_format == EinvoiceFormat.UBL
        assert 'name="einvoice_format"' in page.content.decode()

    def test_the_personal_data_export_states_the_format(self):
        user = make_customer(einvoice_format=EinvoiceFormat.UBL)

        assert account_export(user=user)["profile"]["einvoice_format"] == "ubl"

    def test_an_unknown_format_is_refused_and_nothing_changes(self, client):
        user = make_customer(**FRENCH_BUSINESS)
        client = logged_in_client(client, user)
        data = {name: value for name, value in client.get(reverse("accounts:profile")).context["form"].initial.items()
                if value is not None}

        response = client.post(reverse("accounts:profile"), data | {"einvoice_format": "edifact", "city": "Lyon"})

        assert response.status_code == 400
        profile = UserProfile.objects.get(user=user)
        assert (profile.einvoice_format, profile.city) == (EinvoiceFormat.FACTURX, user.profile.city)
