"""Invoice and credit-note PDFs: French B2B mentions, PDF/A-3 prerequisites and the embedded Factur-X XML.

Documents are built by hand as plain data (no database), except in the last class, which builds them from
saved invoices. The reference invoice: Pro for October 2026, 19.00 + usage 3.00 = 22.00, VAT 20 % 4.40,
total 26.40, 5.00 of credits applied, 21.40 due, issued 2026-11-02 and due 2026-12-02.
"""
import dataclasses
import datetime
import io
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import facturx
import pytest
import time_machine
from django.utils import translation
from lxml import etree
from pypdf import PdfReader

from billing.documents.data import (
    CREDIT_NOTE,
    INVOICE,
    SEPA_CREDIT_TRANSFER,
    DocumentLine,
    DocumentParty,
    InvoiceDocument,
    PaymentInstructions,
    credit_note_document,
    invoice_document,
)
from billing.documents.facturx import FacturXError, embed_facturx, facturx_xml, render_invoice_document
from billing.documents.pdf import fit_text, render_invoice_pdf
from billing.selectors import credit_note_of
from billing.tax import OUTSIDE_EU_MENTION, REVERSE_CHARGE_MENTION
from billing.tests.einvoice import en16931_failures

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
BASE14 = {
    "Courier", "Courier-Bold", "Courier-Oblique", "Courier-BoldOblique", "Helvetica", "Helvetica-Bold",
    "Helvetica-Oblique", "Helvetica-BoldOblique", "Times-Roman", "Times-Bold", "Times-Italic",
    "Times-BoldItalic", "Symbol", "ZapfDingbats",
}
SELLER = DocumentParty(
    name="TwinMCP SAS", address_line1="12 rue de la Paix", postal_code="75002", city="Paris", country="FR",
    vat_number="FR40303265045", siren="303265045", email="billing@twinmcp.dev",
    iban="FR7630006000011234567890189", bic="AGRIFRPPXXX",
)
IBAN_PRINTED = "FR76 3000 6000 0112 3456 7890 189"
VAT_ON_DEBITS = "Option for the payment of VAT on debits."
FRENCH_BUYER = DocumentParty(
    name="Camille Martin", company_name="Atelier Numérique SARL", address_line1="10 rue de Rivoli",
    postal_code="75001", city="Paris", country="FR", vat_number="FR44732829320", siren="732829320",
    email="compta@atelier.example",
)
GERMAN_BUYER = DocumentParty(
    name="Jonas Weber", company_name="Weber Software GmbH", address_line1="Torstraße 1", postal_code="10119",
    city="Berlin", country="DE", vat_number="DE136695976",
)
AMERICAN_BUYER = DocumentParty(
    name="Ada Byron", company_name="Analytical Engines Inc.", address_line1="1 Market Street",
    postal_code="94105", city="San Francisco", country="US",
)
LINES = (
    DocumentLine("Pro plan, 2026-10", Decimal("1.000000"), Decimal("19.0000"), Decimal("19.00")),
    # 1,500,000 tokens at 2.00 per million (EN 16931 BT-149: the price is for a base quantity of 1,000,000)
    DocumentLine("Usage above the 5,000,000 included tokens", Decimal("1500000"), Decimal("2.0000"), Decimal("3.00"),
                 price_base_quantity=1_000_000),
)


def make_document(**changes) -> InvoiceDocument:
    document = InvoiceDocument(
        kind=INVOICE,
        number="TMCP-2026-000042",
        issue_date=datetime.date(2026, 11, 2),
        due_date=datetime.date(2026, 12, 2),
        period_start=datetime.date(2026, 10, 1),
        period_end=datetime.date(2026, 11, 1),
        currency="EUR",
        seller=SELLER,
        buyer=FRENCH_BUYER,
        lines=LINES,
        subtotal=Decimal("22.00"),
        tax_rate=Decimal("0.2000"),
        tax_amount=Decimal("4.40"),
        total=Decimal("26.40"),
        credit_applied=Decimal("5.00"),
        amount_paid=Decimal("0.00"),
        amount_due=Decimal("21.40"),
        reverse_charge=False,
        tax_mention="",
        language="en",
        late_payment_rate=Decimal("12.15"),
        recovery_indemnity=Decimal("40.00"),
        payment_terms="Payable within 30 days of the issue date, by 2026-12-02 at the latest.",
        payment=PaymentInstructions(SEPA_CREDIT_TRANSFER, iban=SELLER.iban, bic=SELLER.bic),
    )
    return dataclasses.replace(document, **changes)


def untaxed(**changes) -> InvoiceDocument:
    return make_document(tax_rate=Decimal("0"), tax_amount=Decimal("0.00"), total=Decimal("22.00"),
                         amount_due=Decimal("17.00"), **changes)


def reverse_charge_document(**changes) -> InvoiceDocument:
    return untaxed(buyer=GERMAN_BUYER, reverse_charge=True, tax_mention=REVERSE_CHARGE_MENTION, **changes)


def export_document() -> InvoiceDocument:
    return untaxed(buyer=AMERICAN_BUYER, tax_mention=OUTSIDE_EU_MENTION)


def credit_note(**changes) -> InvoiceDocument:
    fields = dict(
        kind=CREDIT_NOTE, number="AV-2026-000003", issue_date=datetime.date(2026, 11, 20), due_date=None,
        credit_applied=Decimal("0.00"), amount_paid=Decimal("0.00"), amount_due=Decimal("26.40"),
        payment_terms="No payment is due on this credit note: its amount is credited to the customer.",
        original_invoice_number="TMCP-2026-000042", original_invoice_issue_date=datetime.date(2026, 11, 2),
        reason="Invoiced twice", payment=None,
    )
    return make_document(**{**fields, **changes})


def long_document(count=60) -> InvoiceDocument:
    lines = tuple(
        DocumentLine(f"Adjustment number {n:02d}", Decimal("2"), Decimal("0.5000"), Decimal("1.00"))
        for n in range(1, count + 1)
    )
    subtotal = Decimal(count)
    tax = (subtotal * Decimal("0.2")).quantize(Decimal("0.01"))
    return make_document(lines=lines, subtotal=subtotal, tax_amount=tax, total=subtotal + tax,
                         credit_applied=Decimal("0.00"), amount_due=subtotal + tax)


def page_texts(pdf: bytes) -> list[str]:
    """Each page's text with runs of whitespace (line breaks, non-breaking spaces) made one space."""
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages]


def text_of(pdf: bytes) -> str:
    return " ".join(page_texts(pdf))


def embedded_xml(pdf: bytes) -> bytes:
    filename, xml = facturx.get_xml_from_pdf(pdf, check_xsd=False)
    assert filename == "factur-x.xml"
    return xml


def xml_root(pdf: bytes) -> etree._Element:
    return etree.fromstring(embedded_xml(pdf))


def decimal_at(root, path: str) -> Decimal:
    [node] = root.xpath(path, namespaces=NS)
    return Decimal(node.text)


SUMMATION = "//ram:SpecifiedTradeSettlementHeaderMonetarySummation"


@pytest.fixture(scope="module")
def invoice_pdf() -> bytes:
    return render_invoice_document(make_document())


class TestInvoiceMentions:
    def test_seller_identity(self, invoice_pdf):
        text = text_of(invoice_pdf)
        assert "TwinMCP SAS" in text
        assert "12 rue de la Paix" in text and "75002 Paris" in text
        assert "SIREN 303265045" in text
        assert "VAT number FR40303265045" in text

    def test_buyer_identity(self, invoice_pdf):
        text = text_of(invoice_pdf)
        assert "Atelier Numérique SARL" in text
        assert "10 rue de Rivoli" in text and "75001 Paris" in text
        assert "VAT number FR44732829320" in text
        assert "SIREN 732829320" in text

    def test_number_dates_and_period(self, invoice_pdf):
        text = text_of(invoice_pdf)
        assert "Invoice" in text and "TMCP-2026-000042" in text
        assert "ISSUE DATE DUE DATE SERVICE PERIOD 2 November 2026 2 December 2026" in text
        # the period is half-open: October ends on the 31st
        assert "1 October 2026 – 31 October 2026" in text

    def test_lines(self, invoice_pdf):
        text = text_of(invoice_pdf)
        assert "Pro plan, 2026-10 1 19.00 EUR 19.00 EUR" in text
        assert "Usage above the 5,000,000 included tokens 1,500,000 tokens 2.00 EUR / million tokens 3.00 EUR" in text

    def test_vat_breakdown_and_totals(self, invoice_pdf):
        text = text_of(invoice_pdf)
        assert "22.00 EUR 20 % 4.40 EUR" in text  # base, rate, VAT
        assert "Subtotal (excl. VAT) 22.00 EUR" in text
        assert "VAT 20 % 4.40 EUR" in text
        assert "Total (incl. VAT) 26.40 EUR" in text
        assert "Credits applied 5.00 EUR" in text
        assert "Amount paid 0.00 EUR" in text
        assert "Amount due 21.40 EUR" in text

    def test_payment_terms_and_late_payment_mentions(self, invoice_pdf):
        text = text_of(invoice_pdf)
        assert "Payable within 30 days of the issue date" in text
        assert "Late-payment penalty rate: 12.15 % per year" in text
        assert "fixed recovery indemnity of 40 EUR" in text
        assert "No discount for early payment" in text

    def test_operation_category_and_page_number(self, invoice_pdf):
        text = text_of(invoice_pdf)
        assert "Operation category: Services" in text
        assert "Page 1 / 1" in text

    def test_the_option_for_vat_on_debits_only_when_the_seller_took_it(self, invoice_pdf):
        opted = dataclasses.replace(SELLER, vat_on_debits=True)

        assert VAT_ON_DEBITS in text_of(render_invoice_document(make_document(seller=opted)))
        assert VAT_ON_DEBITS not in text_of(invoice_pdf)
        # No French VAT charged, no option to state.
        assert VAT_ON_DEBITS not in text_of(render_invoice_document(reverse_charge_document(seller=opted)))

    def test_no_tax_mention_when_vat_is_charged(self, invoice_pdf):
        text = text_of(invoice_pdf)
        assert REVERSE_CHARGE_MENTION not in text and "TVA non applicable" not in text

    def test_reverse_charge_mention(self):
        text = text_of(render_invoice_document(reverse_charge_document()))
        assert REVERSE_CHARGE_MENTION in text
        assert "VAT number DE136695976" in text
        assert "22.00 EUR 0 % 0.00 EUR" in text

    def test_export_mention(self):
        text = text_of(render_invoice_document(export_document()))
        assert OUTSIDE_EU_MENTION in text
        assert "Analytical Engines Inc." in text and "San Francisco" in text


@pytest.fixture(scope="module")
def french_text() -> str:
    document = make_document(
        language="fr",
        payment_terms="Paiement à 30 jours à compter de la date d'émission, au plus tard le 2026-12-02.",
    )
    return text_of(render_invoice_document(document))


class TestFrenchDocument:
    @pytest.fixture
    def text(self, french_text) -> str:
        return french_text

    def test_french_labels(self, text):
        assert "Facture" in text and "Invoice" not in text
        for label in ("DATE D'ÉMISSION", "DATE D'ÉCHÉANCE", "PÉRIODE DE SERVICE", "Désignation", "Quantité",
                      "Prix unitaire HT", "Total HT", "Total TTC", "Crédits appliqués"):
            assert label in text, label

    def test_french_amounts(self, text):
        assert "19,00 EUR" in text and "TVA 20 % 4,40 EUR" in text
        assert "Net à payer 21,40 EUR" in text

    def test_french_tokens_and_price_per_million(self, text):
        assert "1 500 000 jetons 2,00 EUR / million de jetons 3,00 EUR" in text

    def test_french_dates_and_countries(self, text):
        assert "2 novembre 2026 2 décembre 2026 1er octobre 2026 – 31 octobre 2026" in text
        assert "75001 Paris France" in text

    @pytest.mark.parametrize(("language", "country"), [("en", "Germany"), ("fr", "Allemagne")])
    def test_a_german_buyer_is_in_germany_in_the_buyers_language(self, language, country):
        text = text_of(render_invoice_pdf(reverse_charge_document(language=language)))
        assert f"10119 Berlin {country}" in text

    def test_french_legal_mentions(self, text):
        assert "Catégorie d'opération : Prestations de services" in text
        assert "pénalités de retard au taux annuel de 12,15 %" in text
        assert "indemnité forfaitaire pour frais de recouvrement de 40 EUR" in text
        assert "Pas d'escompte pour paiement anticipé" in text
        assert "N° de TVA FR40303265045" in text


@pytest.fixture(scope="module")
def long_pages() -> list[str]:
    return page_texts(render_invoice_document(long_document(60)))


class TestLongInvoice:
    @pytest.fixture
    def pages(self, long_pages) -> list[str]:
        return long_pages

    def test_spans_several_pages_with_page_numbers(self, pages):
        assert len(pages) >= 2
        for number, text in enumerate(pages, start=1):
            assert f"Page {number} / {len(pages)}" in text

    def test_table_header_repeated_on_each_page(self, pages):
        pages_with_lines = [text for text in pages if "Adjustment number" in text]
        assert len(pages_with_lines) >= 2
        for text in pages_with_lines:
            assert "Description Quantity Unit price Amount" in text

    def test_every_line_printed_once(self, pages):
        text = " ".join(pages)
        for n in range(1, 61):
            assert text.count(f"Adjustment number {n:02d} ") == 1
        assert "Amount due 72.00 EUR" in pages[-1]


class TestLongCreditNote:
    def test_a_note_with_room_for_one_line_only_moves_whole_to_the_next_page(self):
        # 48 lines leave room for one line of a note at the foot of the second page: a paragraph is not split
        # there (no orphan line), it moves to the third page, and still prints.
        document = credit_note(lines=long_document(48).lines)
        pages = page_texts(render_invoice_pdf(document))
        assert len(pages) == 3
        assert "Page 3 / 3" in pages[2]
        notes = " ".join(pages[1:])
        assert "This credit note cancels invoice TMCP-2026-000042 of 2 November 2026. Reason: Invoiced twice" in notes
        assert "(article D441-5 of the French Commercial Code)." in pages[2]


@pytest.fixture(scope="module")
def credit_note_pdf() -> bytes:
    return render_invoice_document(credit_note())


class TestCreditNote:
    @pytest.fixture
    def pdf(self, credit_note_pdf) -> bytes:
        return credit_note_pdf

    def test_title_reference_and_reason(self, pdf):
        text = text_of(pdf)
        assert "Credit note" in text and "AV-2026-000003" in text
        assert "This credit note cancels invoice TMCP-2026-000042 of 2 November 2026" in text
        assert "Reason: Invoiced twice" in text
        assert "Total credited 26.40 EUR" in text
        assert "Pro plan, 2026-10" in text

    def test_french_credit_note(self):
        text = text_of(render_invoice_document(credit_note(language="fr", reason="Facturée deux fois")))
        assert "Avoir" in text
        assert "Cet avoir annule la facture TMCP-2026-000042 du 2 novembre 2026" in text
        assert "Motif : Facturée deux fois" in text

    def test_xml_is_a_credit_note_referencing_the_invoice(self, pdf):
        root = xml_root(pdf)
        assert root.xpath("string(//rsm:ExchangedDocument/ram:TypeCode)", namespaces=NS) == "381"
        assert root.xpath("string(//ram:InvoiceReferencedDocument/ram:IssuerAssignedID)", namespaces=NS) == (
            "TMCP-2026-000042"
        )
        assert decimal_at(root, f"{SUMMATION}/ram:DuePayableAmount") == Decimal("26.40")
        assert not root.xpath("//ram:DueDateDateTime", namespaces=NS)


class TestPdfA:
    def fonts(self, pdf: bytes) -> list:
        fonts = []

        def walk(resources):
            resources = resources.get_object() if resources is not None else {}
            for font in (resources.get("/Font") or {}).values():
                fonts.append(font.get_object())
            for xobject in (resources.get("/XObject") or {}).values():
                xobject = xobject.get_object()
                if xobject.get("/Subtype") == "/Form":
                    walk(xobject.get("/Resources"))

        for page in PdfReader(io.BytesIO(pdf)).pages:
            walk(page.get("/Resources"))
        return fonts

    @pytest.mark.parametrize("document", [make_document(), long_document(60), credit_note(language="fr")],
                             ids=["invoice", "long", "credit-note"])
    def test_every_font_is_an_embedded_truetype(self, document):
        fonts = self.fonts(render_invoice_document(document))
        assert fonts
        for font in fonts:
            if font["/Subtype"] == "/Type0":
                font = font["/DescendantFonts"][0].get_object()
            base_font = str(font["/BaseFont"]).lstrip("/").split("+")[-1]
            assert base_font not in BASE14
            assert "/FontFile2" in font["/FontDescriptor"].get_object(), base_font

    def test_no_base14_font_anywhere_in_the_file(self, invoice_pdf):
        for name in BASE14:
            assert f"/BaseFont /{name}".encode() not in invoice_pdf

    def test_srgb_output_intent(self, invoice_pdf):
        catalog = PdfReader(io.BytesIO(invoice_pdf)).trailer["/Root"]
        [intent] = catalog["/OutputIntents"]
        intent = intent.get_object()
        assert intent["/S"] == "/GTS_PDFA1"
        profile = intent["/DestOutputProfile"].get_object()
        assert profile["/N"] == 3
        icc = profile.get_data()
        assert icc[36:40] == b"acsp" and icc[16:20] == b"RGB "

    def test_pdfa3_metadata_and_attachment(self, invoice_pdf):
        reader = PdfReader(io.BytesIO(invoice_pdf))
        xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data()
        assert b"pdfaid" in xmp and b"<pdfaid:part>3</pdfaid:part>" in xmp
        assert list(reader.attachments) == ["factur-x.xml"]

    def test_one_clean_file_written_once(self, invoice_pdf):
        assert invoice_pdf.startswith(b"%PDF-1.6")
        assert invoice_pdf.count(b"%%EOF") == 1  # not one file with another one appended
        PdfReader(io.BytesIO(invoice_pdf), strict=True)

    def test_information_dictionary_matches_the_xmp_metadata(self, invoice_pdf):
        reader = PdfReader(io.BytesIO(invoice_pdf))
        xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode()
        info = reader.metadata
        assert f"<pdf:Producer>{info['/Producer']}</pdf:Producer>" in xmp
        assert f"<xmp:CreatorTool>{info['/Creator']}</xmp:CreatorTool>" in xmp
        assert f"<pdf:Keywords>{info['/Keywords']}</pdf:Keywords>" in xmp
        assert info["/Title"] == "TwinMCP SAS: Invoice TMCP-2026-000042" and info["/Title"] in xmp
        assert info["/Subject"] in xmp and f"<rdf:li>{info['/Author']}</rdf:li>" in xmp
        assert "/Trapped" not in info  # the XMP does not state it

    def test_the_file_its_metadata_and_its_xml_are_dated_when_rendered(self):
        with time_machine.travel(datetime.datetime(2026, 11, 2, 6, 30, 15, 500, tzinfo=datetime.UTC), tick=False):
            reader = PdfReader(io.BytesIO(render_invoice_document(make_document())))
        xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode()
        [filespec] = reader.trailer["/Root"]["/AF"]
        embedded = filespec.get_object()["/EF"]["/F"].get_object()
        assert reader.metadata["/CreationDate"] == reader.metadata["/ModDate"] == "D:20261102063015+00'00'"
        assert embedded["/Params"]["/ModDate"] == "D:20261102063015+00'00'"
        assert "<xmp:CreateDate>2026-11-02T06:30:15+00:00</xmp:CreateDate>" in xmp
        assert "<xmp:ModifyDate>2026-11-02T06:30:15+00:00</xmp:ModifyDate>" in xmp

    def test_xml_is_an_associated_data_file(self, invoice_pdf):
        catalog = PdfReader(io.BytesIO(invoice_pdf)).trailer["/Root"]
        [filespec] = catalog["/AF"]
        filespec = filespec.get_object()
        assert filespec["/AFRelationship"] == "/Data" and filespec["/UF"] == "factur-x.xml"
        embedded = filespec["/EF"]["/F"].get_object()
        assert embedded["/Subtype"] == "/text/xml"
        assert embedded["/Params"]["/Size"] == len(embedded.get_data()) == len(embedded_xml(invoice_pdf))
        assert "/Filter" not in catalog["/Metadata"].get_object()  # XMP readable as is, as PDF/A prefers

    def test_the_logo_is_printed_in_the_header(self, invoice_pdf):
        [page] = PdfReader(io.BytesIO(invoice_pdf)).pages
        images = [xobject.get_object() for xobject in page["/Resources"]["/XObject"].values()]
        assert [(image["/Subtype"], image["/Width"]) for image in images] == [("/Image", 128)]

    def test_logo_is_optional(self):
        pdf = render_invoice_pdf(make_document(), logo_path=None)
        assert "TwinMCP SAS" in text_of(pdf)


class TestFacturX:
    def test_embedded_xml_validates_against_the_en16931_schema(self, invoice_pdf):
        assert facturx.xml_check_xsd(embedded_xml(invoice_pdf), flavor="factur-x", level="en16931")

    @pytest.mark.parametrize(
        "document",
        [make_document(), reverse_charge_document(), export_document(), credit_note(), long_document(60)],
        ids=["standard", "reverse-charge", "export", "credit-note", "long"],
    )
    def test_totals_match_the_document_and_add_up(self, document):
        root = xml_root(render_invoice_document(document))
        assert facturx.xml_check_xsd(etree.tostring(root), flavor="factur-x", level="en16931")
        summation = {
            name: decimal_at(root, f"{SUMMATION}/ram:{name}")
            for name in ("LineTotalAmount", "TaxBasisTotalAmount", "TaxTotalAmount", "GrandTotalAmount",
                         "TotalPrepaidAmount", "DuePayableAmount")
        }
        assert summation["LineTotalAmount"] == document.subtotal
        assert summation["TaxBasisTotalAmount"] == document.subtotal
        assert summation["TaxTotalAmount"] == document.tax_amount
        assert summation["GrandTotalAmount"] == document.total
        assert summation["TotalPrepaidAmount"] == document.credit_applied + document.amount_paid
        assert summation["DuePayableAmount"] == document.amount_due
        line_amounts = root.xpath(
            "//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount/text()", namespaces=NS
        )
        assert len(line_amounts) == len(document.lines)
        assert sum(Decimal(amount) for amount in line_amounts) == summation["LineTotalAmount"]
        taxes = root.xpath("//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", namespaces=NS)
        for tax in taxes:
            basis = Decimal(tax.findtext("ram:BasisAmount", namespaces=NS))
            rate = Decimal(tax.findtext("ram:RateApplicablePercent", namespaces=NS))
            amount = Decimal(tax.findtext("ram:CalculatedAmount", namespaces=NS))
            assert (basis * rate / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) == amount
        assert sum(Decimal(t.findtext("ram:CalculatedAmount", namespaces=NS)) for t in taxes) == (
            summation["TaxTotalAmount"]
        )
        assert summation["GrandTotalAmount"] == summation["TaxBasisTotalAmount"] + summation["TaxTotalAmount"]
        assert summation["DuePayableAmount"] == summation["GrandTotalAmount"] - summation["TotalPrepaidAmount"]

    def test_a_usage_line_bills_tokens_at_a_price_per_million(self, invoice_pdf):
        root = xml_root(invoice_pdf)
        [usage] = [
            line for line in root.xpath("//ram:IncludedSupplyChainTradeLineItem", namespaces=NS)
            if line.findtext("ram:AssociatedDocumentLineDocument/ram:LineID", namespaces=NS) == "2"
        ]
        price = "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice"
        assert usage.findtext("ram:SpecifiedLineTradeDelivery/ram:BilledQuantity", namespaces=NS) == "1500000"
        assert usage.findtext(f"{price}/ram:ChargeAmount", namespaces=NS) == "2"
        assert usage.findtext(f"{price}/ram:BasisQuantity", namespaces=NS) == "1000000"  # BT-149
        fee_basis = root.xpath(f"//ram:IncludedSupplyChainTradeLineItem[1]/{price}/ram:BasisQuantity", namespaces=NS)
        assert fee_basis == []  # a plan fee is priced per one

    @pytest.mark.parametrize(
        "document", [make_document(), credit_note(), long_document(60)], ids=["standard", "credit-note", "long"]
    )
    def test_no_quantity_carries_more_than_four_decimals(self, document):
        """The French CTC rules (and EN 16931 practice) allow at most 4 decimals on a quantity."""
        root = xml_root(render_invoice_document(document))
        quantities = root.xpath("//ram:BilledQuantity/text() | //ram:BasisQuantity/text()", namespaces=NS)
        assert quantities
        assert all(-Decimal(quantity).as_tuple().exponent <= 4 for quantity in quantities), quantities

    def test_invalid_xml_is_not_embedded(self):
        xml = facturx_xml(make_document()).replace(b"<ram:TypeCode>380</ram:TypeCode>", b"")
        with pytest.raises(FacturXError, match="not valid"):
            embed_facturx(make_document(), xml)

    def test_invoice_header(self, invoice_pdf):
        root = xml_root(invoice_pdf)
        assert root.xpath("string(//rsm:ExchangedDocument/ram:ID)", namespaces=NS) == "TMCP-2026-000042"
        assert root.xpath("string(//rsm:ExchangedDocument/ram:TypeCode)", namespaces=NS) == "380"
        assert root.xpath("string(//ram:DueDateDateTime/udt:DateTimeString)", namespaces=NS) == "20261202"
        assert root.xpath("string(//ram:BillingSpecifiedPeriod/ram:EndDateTime/udt:DateTimeString)",
                          namespaces=NS) == "20261031"

    def test_parties_carry_vat_numbers_and_siren(self, invoice_pdf):
        root = xml_root(invoice_pdf)
        seller, buyer = "//ram:SellerTradeParty", "//ram:BuyerTradeParty"
        assert root.xpath(f"string({seller}/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA'])",
                          namespaces=NS) == "FR40303265045"
        assert root.xpath(f"string({seller}/ram:SpecifiedLegalOrganization/ram:ID[@schemeID='0002'])",
                          namespaces=NS) == "303265045"
        assert root.xpath(f"string({buyer}/ram:Name)", namespaces=NS) == "Atelier Numérique SARL"
        assert root.xpath(f"string({buyer}/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA'])",
                          namespaces=NS) == "FR44732829320"

    def test_standard_rate_category(self, invoice_pdf):
        root = xml_root(invoice_pdf)
        assert set(root.xpath("//ram:ApplicableTradeTax/ram:CategoryCode/text()", namespaces=NS)) == {"S"}

    def test_reverse_charge_category(self):
        root = etree.fromstring(facturx_xml(reverse_charge_document()))
        [tax] = root.xpath("//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", namespaces=NS)
        assert tax.findtext("ram:CategoryCode", namespaces=NS) == "AE"
        assert tax.findtext("ram:ExemptionReasonCode", namespaces=NS) == "VATEX-EU-AE"
        assert tax.findtext("ram:ExemptionReason", namespaces=NS) == REVERSE_CHARGE_MENTION
        assert set(root.xpath("//ram:ApplicableTradeTax/ram:CategoryCode/text()", namespaces=NS)) == {"AE"}

    def test_export_category(self):
        root = etree.fromstring(facturx_xml(export_document()))
        [tax] = root.xpath("//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", namespaces=NS)
        assert tax.findtext("ram:CategoryCode", namespaces=NS) == "G"
        assert tax.findtext("ram:ExemptionReasonCode", namespaces=NS) == "VATEX-EU-G"
        assert root.xpath("string(//ram:BuyerTradeParty//ram:CountryID)", namespaces=NS) == "US"

    def test_the_operation_category_is_noted(self, invoice_pdf):
        notes = self.notes(xml_root(invoice_pdf))
        assert notes["REG"] == "Operation category: Services."
        assert "TXD" not in notes
        assert xml_root(invoice_pdf).xpath("//ram:DueDateTypeCode", namespaces=NS) == []

    def test_the_option_for_vat_on_debits_is_noted_and_the_vat_falls_due_on_the_invoice_date(self):
        xml = facturx_xml(make_document(seller=dataclasses.replace(SELLER, vat_on_debits=True)))
        root = etree.fromstring(xml)

        assert self.notes(root)["TXD"] == VAT_ON_DEBITS
        assert root.xpath("string(//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:DueDateTypeCode)",
                          namespaces=NS) == "5"  # UNTDID 2475: date of invoice (BT-8)
        assert en16931_failures(xml) == []

    @staticmethod
    def notes(root) -> dict[str, str]:
        return {
            note.findtext("ram:SubjectCode", namespaces=NS): note.findtext("ram:Content", namespaces=NS)
            for note in root.xpath("//ram:IncludedNote", namespaces=NS)
        }

    def test_french_late_payment_notes(self):
        root = etree.fromstring(facturx_xml(make_document(language="fr")))
        notes = {
            note.findtext("ram:SubjectCode", namespaces=NS): note.findtext("ram:Content", namespaces=NS)
            for note in root.xpath("//ram:IncludedNote", namespaces=NS)
        }
        assert "12,15" in notes["PMD"] and "40" in notes["PMT"] and "escompte" in notes["AAB"]


class TestPaymentInstructions:
    """An invoice says how to pay it: a bank transfer to the seller's account, its number as the reference."""

    def test_the_pdf_prints_iban_bic_and_the_invoice_number_as_reference(self, invoice_pdf):
        assert (
            f"Payment: bank transfer to IBAN {IBAN_PRINTED}, BIC AGRIFRPPXXX, reference TMCP-2026-000042."
        ) in text_of(invoice_pdf)

    def test_the_french_pdf_prints_them_in_french(self, french_text):
        assert (
            f"Règlement : virement bancaire sur l'IBAN {IBAN_PRINTED}, BIC AGRIFRPPXXX, référence TMCP-2026-000042."
        ) in french_text

    def test_the_xml_carries_a_sepa_credit_transfer_to_the_iban(self, invoice_pdf):
        root = xml_root(invoice_pdf)
        assert facturx.xml_check_xsd(etree.tostring(root), flavor="factur-x", level="en16931")
        [means] = root.xpath("//ram:SpecifiedTradeSettlementPaymentMeans", namespaces=NS)
        assert means.findtext("ram:TypeCode", namespaces=NS) == "58"
        assert means.findtext("ram:PayeePartyCreditorFinancialAccount/ram:IBANID", namespaces=NS) == (
            "FR7630006000011234567890189"
        )
        assert means.findtext("ram:PayeeSpecifiedCreditorFinancialInstitution/ram:BICID", namespaces=NS) == (
            "AGRIFRPPXXX"
        )
        assert root.xpath("string(//ram:ApplicableHeaderTradeSettlement/ram:PaymentReference)", namespaces=NS) == (
            "TMCP-2026-000042"
        )

    def test_nothing_to_pay_prints_no_instructions(self):
        # what `invoice_document` makes of an invoice its credits paid in full: no payment instructions
        document = make_document(credit_applied=Decimal("26.40"), amount_due=Decimal("0.00"), payment=None)
        assert "IBAN" not in text_of(render_invoice_document(document))
        root = etree.fromstring(facturx_xml(document))
        assert not root.xpath("//ram:SpecifiedTradeSettlementPaymentMeans", namespaces=NS)

    def test_a_credit_note_asks_for_no_payment(self, credit_note_pdf):
        assert "IBAN" not in text_of(credit_note_pdf)
        assert not xml_root(credit_note_pdf).xpath("//ram:SpecifiedTradeSettlementPaymentMeans", namespaces=NS)


class TestText:
    def test_characters_missing_from_the_font_fall_back_to_their_base_letter(self):
        assert fit_text("Łódź Śląsk €") == "Łódz Slask €"

    def test_a_buyer_name_outside_the_font_still_renders(self):
        buyer = dataclasses.replace(GERMAN_BUYER, company_name="Łódź Ślęża sp. z o.o.", country="PL")
        assert "Łódz Sleza sp. z o.o." in text_of(render_invoice_pdf(make_document(buyer=buyer)))


@pytest.mark.slow
def test_pdf_and_facturx_modules_touch_no_model():
    """billing.documents.pdf and billing.documents.facturx import without Django settings and load no model module."""
    code = (
        "import sys; import billing.documents.pdf, billing.documents.facturx; "
        "forbidden = ('django.db', 'accounts.models', 'libraries.', 'billing.models'); "
        "loaded = [m for m in sys.modules if m.startswith(forbidden)]; "
        "assert not loaded, loaded"
    )
    env = {"PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --- Built from saved invoices -------------------------------------------------------------------------
@pytest.mark.django_db
class TestDocumentsFromInvoices:
    FINALISED_AT = datetime.datetime(2026, 11, 2, 9, 0, tzinfo=datetime.UTC)

    def issued_invoice(self, **profile):
        from accounts.tests.factories import UserProfileFactory
        from billing.services import invoice_finalize
        from billing.tests.factories import InvoiceFactory

        profile = UserProfileFactory(**{
            "country": "FR", "company_name": "Atelier Numérique SARL", "vat_number": "FR44732829320",
            "siren": "732829320", **profile,
        })
        invoice = InvoiceFactory(subscription__user=profile.user)
        return invoice_finalize(invoice=invoice, now=self.FINALISED_AT), profile

    def test_invoice_document_from_the_snapshot(self, settings):
        settings.SELLER = {**settings.SELLER, "iban": "fr76 3000 6000 0112 3456 7890 189", "bic": "AGRIFRPPXXX"}
        invoice, profile = self.issued_invoice(language="fr")
        profile.company_name = "Renamed after issue"
        profile.save()

        document = invoice_document(invoice)

        assert document.kind == INVOICE and document.number == invoice.number
        assert document.issue_date == datetime.date(2026, 11, 2) and document.due_date == invoice.due_date
        assert document.buyer.company_name == "Atelier Numérique SARL"  # as at issue, not as now
        assert document.buyer.vat_number == "FR44732829320" and document.buyer.siren == "732829320"
        assert document.seller.name == settings.SELLER["name"]
        assert document.seller.address_line1 == settings.SELLER["address"]
        assert document.seller.siren == settings.SELLER["siren"]
        assert [line.amount for line in document.lines] == [Decimal("19.00")]
        assert (document.subtotal, document.tax_amount, document.total) == (
            Decimal("19.00"), Decimal("3.80"), Decimal("22.80")
        )
        assert document.language == "fr" and "30 jours" in document.payment_terms
        assert (document.seller.iban, document.seller.bic) == ("FR7630006000011234567890189", "AGRIFRPPXXX")
        assert document.recovery_indemnity == Decimal("40.00")
        assert document.late_payment_rate == Decimal(str(getattr(settings, "LATE_PAYMENT_RATE", "12.15")))

        text = text_of(render_invoice_document(document))
        assert invoice.number in text and "Atelier Numérique SARL" in text and "Net à payer 22,80 EUR" in text
        assert f"virement bancaire sur l'IBAN {IBAN_PRINTED}, BIC AGRIFRPPXXX, référence {invoice.number}." in text

    def test_a_french_business_without_siren_has_the_one_its_vat_number_holds(self):
        invoice, _ = self.issued_invoice(siren="", vat_number="FR 44 732 829 320")

        document = invoice_document(invoice)

        assert document.buyer.siren == "732829320"  # FRkk + SIREN
        pdf = render_invoice_document(document)
        assert "SIREN 732829320" in text_of(pdf)
        assert xml_root(pdf).xpath(
            "string(//ram:BuyerTradeParty/ram:SpecifiedLegalOrganization/ram:ID[@schemeID='0002'])", namespaces=NS
        ) == "732829320"  # BT-47

    @pytest.mark.parametrize(
        "profile",
        [
            {"country": "DE", "company_name": "Weber Software GmbH", "vat_number": "DE136695976"},
            {"country": "MC", "company_name": "Monaco Data SAM", "vat_number": "FR53000004605"},  # no SIREN in it
            {"company_name": "", "vat_number": ""},
        ],
        ids=["german-business", "monaco-business", "french-consumer"],
    )
    def test_no_siren_without_a_french_one(self, profile):
        invoice, _ = self.issued_invoice(siren="", **profile)

        document = invoice_document(invoice)

        assert document.buyer.siren == ""
        assert xml_root(render_invoice_document(document)).xpath(
            "//ram:BuyerTradeParty/ram:SpecifiedLegalOrganization", namespaces=NS
        ) == []

    def test_the_option_for_vat_on_debits_is_the_one_taken_at_issue(self, settings):
        settings.SELLER_VAT_ON_DEBITS = True
        invoice, _ = self.issued_invoice()
        settings.SELLER_VAT_ON_DEBITS = False

        document = invoice_document(invoice)

        assert document.seller.vat_on_debits
        assert VAT_ON_DEBITS in text_of(render_invoice_document(document))

    def test_late_payment_rate_from_settings(self, settings):
        settings.LATE_PAYMENT_RATE = Decimal("11.50")
        invoice, _ = self.issued_invoice()
        assert invoice_document(invoice).late_payment_rate == Decimal("11.50")

    def test_credit_note_document(self):
        from billing.services import invoice_cancel

        invoice, _ = self.issued_invoice()
        invoice = invoice_cancel(invoice=invoice, reason="Invoiced twice", now=self.FINALISED_AT)

        credit_note = credit_note_of(invoice)
        document = credit_note_document(credit_note)

        assert document.kind == CREDIT_NOTE and document.number == credit_note.number
        assert document.original_invoice_number == invoice.number and document.reason == "Invoiced twice"
        assert document.due_date is None
        assert document.total == invoice.total and document.amount_due == credit_note.amount
        assert [line.description for line in document.lines] == [line.description for line in invoice.lines.all()]
        root = xml_root(render_invoice_document(document))
        assert root.xpath("string(//rsm:ExchangedDocument/ram:TypeCode)", namespaces=NS) == "381"

    @pytest.mark.parametrize(
        ("language", "reason"),
        [("fr", "Motif : Erreur de facturation — TVA à 10 %"), ("en", "Reason: Billing error — TVA à 10 %")],
    )
    def test_the_credit_note_reason_is_printed_in_the_buyers_language(self, language, reason):
        from billing.services import invoice_cancel

        invoice, _ = self.issued_invoice(language=language)
        with translation.override("en" if language == "fr" else "fr"):  # whatever language the request had
            invoice = invoice_cancel(
                invoice=invoice, reason_code="BILLING_ERROR", reason="TVA à 10 %", now=self.FINALISED_AT
            )
            pdf = render_invoice_document(credit_note_document(credit_note_of(invoice)))

        assert reason in text_of(pdf)
        notes = xml_root(pdf).xpath("//ram:IncludedNote/ram:Content/text()", namespaces=NS)
        assert reason in [" ".join(note.split()) for note in notes]  # BT-22, the no-break spaces aside

    def test_a_usage_line_prints_its_tokens_and_price_per_million(self):
        from billing.models import InvoiceLine, LineKind

        invoice, _ = self.issued_invoice(language="fr")
        InvoiceLine.objects.create(
            invoice=invoice, kind=LineKind.USAGE, description="Forfait Pro, 30 jours sur 31 : consommation",
            quantity=Decimal("35161291"), unit_price=Decimal("2.00"), price_base_quantity=1_000_000,
            amount=Decimal("70.32"), position=5,
        )

        text = text_of(render_invoice_pdf(invoice_document(invoice)))

        assert "35 161 291 jetons 2,00 EUR / million de jetons 70,32 EUR" in text

    def test_a_draft_has_no_document(self):
        from billing.tests.factories import InvoiceFactory

        with pytest.raises(ValueError, match="never issued"):
            invoice_document(InvoiceFactory())
