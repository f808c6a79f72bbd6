"""Factur-X (EN 16931) for an `InvoiceDocument`: the CII XML, and the PDF/A-3 that embeds it.

VAT categories (UNTDID 5305, with the EN 16931 business rules they must meet):
- S, standard rate, for French customers and EU consumers;
- AE, reverse charge, for EU businesses with a valid VAT number (BR-AE: rate 0, seller and buyer VAT
  numbers, exemption reason VATEX-EU-AE and the printed mention);
- G, export outside the EU, for customers outside the EU. Strictly, B2B services whose place of supply
  is outside France (art. 259-1 CGI) are "not subject to VAT" (O), but BR-O-02 forbids the seller's VAT
  number on an O invoice, while French law requires it on every invoice and BR-G-02 requires it for G.
  G with VATEX-EU-G at 0 % is what French Factur-X issuers use for supplies to non-EU customers.
"""
from __future__ import annotations

import datetime
import functools
import importlib.resources
import re
import threading
from decimal import Decimal
from xml.sax.saxutils import escape

from facturx import generate_cii_xml
from facturx.facturx import FACTURX_FILENAME, FACTURX_LEVEL2xmp, FACTURX_LEVEL2xsd, generate_xmp_object
from lxml import etree, objectify

from billing import clock
from billing.documents.data import DocumentLine, DocumentParty, InvoiceDocument
from billing.documents.pdf import (
    CREATOR,
    PRODUCER,
    PdfA3,
    document_title,
    in_document_language,
    legal_mentions,
    reason_text,
    render_invoice_pdf,
    vat_percent,
)
from billing.money import round_money

LEVEL = "en16931"
INVOICE_TYPE_CODE = "380"
CREDIT_NOTE_TYPE_CODE = "381"
UNIT_CODE = "C62"  # UN/ECE rec. 20 "one": a plan month, a token
SIREN_SCHEME = "0002"  # ISO 6523 ICD of the French SIREN
EMAIL_SCHEME = "EM"
STANDARD, REVERSE_CHARGE, EXPORT = "S", "AE", "G"
EXEMPTION_CODES = {REVERSE_CHARGE: "VATEX-EU-AE", EXPORT: "VATEX-EU-G"}
DEFAULT_EXEMPTION_TEXT = {REVERSE_CHARGE: "Reverse charge", EXPORT: "Export outside the EU"}
# BT-23, the French billing framework ("cadre de facturation", BR-FR-08). Its letter is the category of the
# operation (B goods, S services, M both), its digit the case: 1 a plain invoice, 2 one already paid, 4 a final
# invoice after a down payment, 5/6 subcontracting and co-contracting, 7 one already e-reported, 8/9 multi-vendor
# and two-way ones. We sell services only and never take payment before issuing: S1, on credit notes too. An
# invoice that credits settle at issue stays S1, not S2, which states a payment on its due date (BR-FR-CO-09).
BILLING_FRAMEWORK = "S1"
MAX_QUANTITY_PLACES = 4  # BR-FR-DEC-02: a quantity (BT-129) or a base quantity (BT-149) has at most 4 decimals
# Notes by UNTDID 4451 subject code (BR-FR-05/06): PMD late-payment penalties, PMT recovery indemnity, AAB no
# discount, REG the category of the operation, TXD the option for VAT on debits.
LATE_PAYMENT_NOTE, RECOVERY_NOTE, DISCOUNT_NOTE, OPERATION_NOTE, TAX_NOTE = "PMD", "PMT", "AAB", "REG", "TXD"


class FacturXError(ValueError):
    """The XML does not validate against the Factur-X EN 16931 schema."""


def vat_category(document: InvoiceDocument) -> str:
    if document.tax_rate > 0:
        return STANDARD
    if document.reverse_charge:
        return REVERSE_CHARGE
    return EXPORT


def _amount(value: Decimal) -> str:
    return f"{round_money(value):f}"


def _plain(value: Decimal) -> str:
    """A decimal without trailing zeros nor exponent: 20, 1.5, 0.1234."""
    value = Decimal(value).normalize()
    return f"{value.quantize(Decimal(1)) if value == value.to_integral_value() else value:f}"


def _party(party: DocumentParty) -> dict:
    data = {
        "name": party.display_name,
        "country_code": party.country or "FR",
        "addr_l1": party.address_line1,
        "addr_l2": party.address_line2,
        "postcode": party.postal_code,
        "city": party.city,
        "vat_identifier": party.vat_number.replace(" ", ""),
    }
    if party.siren:
        data.update(legal_identifier=party.siren, legal_identifier_schemeid=SIREN_SCHEME)
    if party.company_name and party.name and party.name != party.company_name:
        data["contacts"] = [{"name": party.name, "email": party.email} if party.email else {"name": party.name}]
    elif party.email:
        data["contacts"] = [{"email": party.email}]
    if party.email:
        data.update(einvoicing_addr=party.email, einvoicing_addr_schemeid=EMAIL_SCHEME)
    return {key: value for key, value in data.items() if value}


def line_quantities(line: DocumentLine) -> tuple[Decimal, Decimal, int]:
    """The quantity (BT-129), net price (BT-146) and price base quantity (BT-149) of `line` in the e-invoice, the
    quantity with at most 4 decimals (BR-FR-DEC-02) and the line amount unchanged to the cent.

    Our lines already comply: a usage line bills whole tokens at a price per 1,000,000 of them (1,759,808 tokens
    at 2.00 per 1,000,000 = 3.52), a fee, prorated or not, is quantity 1 at its amount (16/31 days of 19.00 is
    1 × 9.81, the amount rounded once, half-up, as EN 16931 rounds a line net amount). A quantity stored with more
    decimals (the field keeps 6: usage in millions, 1.759808 at 2.00 per 1) is made whole by scaling it and the
    base quantity by the same power of ten (1,759,808 at 2.00 per 1,000,000): quantity × price / base is the
    same number, so the amount is the same to the cent.
    """
    quantity = Decimal(line.quantity).normalize()
    places = max(0, -quantity.as_tuple().exponent)
    scale = 10 ** places if places > MAX_QUANTITY_PLACES else 1
    return quantity * scale, Decimal(line.unit_price), line.price_base_quantity * scale


def _line(position: int, line: DocumentLine, *, category: str, rate: str) -> dict:
    quantity, price, base = line_quantities(line)
    data = {
        "BT-126": str(position),
        "BT-129": _plain(quantity),
        "BT-130": UNIT_CODE,
        "BT-131": _amount(line.amount),
        "BT-146": _plain(price),
        "BT-151": category,
        "BT-152": rate,
        "BT-153": line.description,
    }
    if base != 1:
        data["BT-149"] = str(base)
    return data


def facturx_data(document: InvoiceDocument) -> dict:
    """The `generate_cii_xml` dictionary (keys are EN 16931 business terms) for `document`; its notes in the
    buyer's language, its codes and dates as the standard writes them."""
    with in_document_language(document):
        return _facturx_data(document)


def _facturx_data(document: InvoiceDocument) -> dict:
    category = vat_category(document)
    rate = _plain(vat_percent(document))
    mentions = legal_mentions(document)
    tax = {
        "BT-116": _amount(document.subtotal),
        "BT-117": _amount(document.tax_amount),
        "BT-118": category,
        "BT-119": rate,
    }
    if category in EXEMPTION_CODES:
        tax["BT-120"] = document.tax_mention or DEFAULT_EXEMPTION_TEXT[category]
        tax["BT-121"] = EXEMPTION_CODES[category]
    lines = [
        _line(position, line, category=category, rate=rate)
        for position, line in enumerate(document.item_lines, start=1)
    ]
    # A coupon's discount or a credit spent before tax is a document-level allowance (BG-20) at the invoice's VAT
    # category and rate, not a line.
    allowances = [
        {"amount": _amount(-line.amount), "reason": line.description, "vat_category_code": category, "vat_rate": rate}
        for line in document.allowances
    ]
    notes = [
        {"BT-21": LATE_PAYMENT_NOTE, "BT-22": mentions["late_payment"]},
        {"BT-21": RECOVERY_NOTE, "BT-22": mentions["recovery_indemnity"]},
        {"BT-21": DISCOUNT_NOTE, "BT-22": mentions["no_discount"]},
        {"BT-21": OPERATION_NOTE, "BT-22": mentions["operation"]},
    ]
    if mentions["vat_on_debits"]:
        notes.append({"BT-21": TAX_NOTE, "BT-22": mentions["vat_on_debits"]})
    if document.tax_mention:
        notes.append({"BT-22": document.tax_mention})
    if document.is_credit_note and document.reason:
        notes.append({"BT-22": reason_text(document)})
    data = {
        "BT-23": BILLING_FRAMEWORK,
        "BT-1": document.number,
        "BT-2": document.issue_date,
        "BT-3": CREDIT_NOTE_TYPE_CODE if document.is_credit_note else INVOICE_TYPE_CODE,
        "BT-5": document.currency,
        "BG-1": notes,
        "BG-4": _party(document.seller),
        "BG-7": _party(document.buyer),
        "BT-72": document.period_last_day,  # the services of the period are completed on its last day
        "BT-73": document.period_start,
        "BT-74": document.period_last_day,
        "BT-20": document.payment_terms,
        "BG-23": [tax],
        "BG-25": lines,
        "BT-106": _amount(sum((line.amount for line in document.item_lines), Decimal(0))),
        "BT-109": _amount(document.subtotal),
        "BT-110": _amount(document.tax_amount),
        "BT-112": _amount(document.total),
        "BT-113": _amount(document.credit_applied + document.amount_paid),
        "BT-115": _amount(document.amount_due),
    }
    if allowances:
        data["BG-20"] = allowances
        data["BT-107"] = _amount(-sum((line.amount for line in document.allowances), Decimal(0)))
    if document.due_date is not None:
        data["BT-9"] = document.due_date
    if mentions["vat_on_debits"]:
        data["BT-8"] = "invoice"  # code 5: the VAT falls due on the invoice's date, not on payment
    payment = document.payment
    if payment is not None:
        # BG-16 payment instructions: the means (BT-81), the number as the reference (BT-83); a transfer names the
        # seller's IBAN (BT-84) and BIC (BT-86); a card its last four digits (BT-87: BR-51 and PCI DSS allow at most
        # the first six and the last four) and its brand as the means text (BT-82; BT-88 is the holder's name, which
        # is not kept); a direct debit its mandate (BT-89) and the debited account, masked (BT-91).
        details = {
            "BT-82": payment.card_brand, "BT-84": payment.iban, "BT-86": payment.bic, "BT-87": payment.card_last4,
            "BT-89": payment.mandate_reference, "BT-91": payment.debited_account,
        }
        data |= {"BT-81": payment.means_code, "BT-83": document.number}
        data |= {key: value for key, value in details.items() if value}
    if document.is_credit_note and document.original_invoice_number:
        preceding = {"BT-25": document.original_invoice_number}
        if document.original_invoice_issue_date is not None:
            preceding["BT-26"] = document.original_invoice_issue_date
        data["BG-3"] = [preceding]
    return data


# lxml schemas are best not shared between threads; parsing the XSD costs more than validating with it.
_schemas = threading.local()


def _schema() -> etree.XMLSchema:
    schema = getattr(_schemas, "en16931", None)
    if schema is None:
        path = importlib.resources.files("facturx").joinpath("xsd_and_schematron", FACTURX_LEVEL2xsd[LEVEL])
        schema = _schemas.en16931 = etree.XMLSchema(file=str(path))
    return schema


def xml_check(xml: bytes) -> None:
    """Validate against the official Factur-X EN 16931 XSD (the same file `facturx.xml_check_xsd` reads,
    parsed once per thread instead of once per call)."""
    schema = _schema()
    if not schema.validate(etree.fromstring(xml)):
        raise FacturXError(f"Factur-X XML is not valid against the EN 16931 schema: {schema.error_log}")


def _cii_xml(document: InvoiceDocument) -> bytes:
    return generate_cii_xml(facturx_data(document), level=LEVEL, check_xsd=False, check_schematron=False)


def facturx_xml(document: InvoiceDocument) -> bytes:
    """The Factur-X EN 16931 CII XML of `document`, validated against the official XSD."""
    xml = _cii_xml(document)
    xml_check(xml)
    return xml


# The Factur-X XMP packet (PDF/A-3 B identification, Dublin Core title, author and description, the Factur-X
# extension schema) as the factur-x library writes it, built once with a placeholder for each value a document
# changes, and the pdf:Keywords that the information dictionary states too.
_XMP_FIELDS = ("title", "author", "subject", "keywords", "timestamp")
_XMP_PLACEHOLDER = re.compile("@(" + "|".join(_XMP_FIELDS) + ")@")


@functools.cache
def _xmp_template() -> str:
    root = generate_xmp_object({
        "pdfa3_flavor": "B", "producer": PRODUCER, "creator_tool": CREATOR, "version": "1.0",
        "documenttype": "INVOICE", "xml_filename": FACTURX_FILENAME, "xmp_level": FACTURX_LEVEL2xmp[LEVEL],
        "urn": "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#",
        **{field: f"@{field}@" for field in _XMP_FIELDS},
    })
    [producer] = root.xpath("//pdf:Producer", namespaces=root.nsmap)
    pdf = objectify.ElementMaker(namespace=root.nsmap["pdf"], nsmap=root.nsmap, annotate=False)
    producer.addnext(pdf.Keywords("@keywords@"))
    packet = etree.tostring(root, pretty_print=True, encoding="unicode").strip()
    return f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n{packet}\n<?xpacket end="w"?>'


def _xmp(values: dict[str, str]) -> bytes:
    return _XMP_PLACEHOLDER.sub(lambda match: escape(values[match[1]]), _xmp_template()).encode()


def _pdfa3(document: InvoiceDocument, xml: bytes, *, now: datetime.datetime) -> PdfA3:
    """The PDF/A-3 of `document` carrying `xml` as factur-x.xml: one title, author, subject and keywords in the
    XMP and in the information dictionary, one date (UTC) for the file, its metadata and its attachment."""
    with in_document_language(document):
        kind = document_title(document)
    title = f"{kind} {document.number}"
    values = {
        "author": document.seller.display_name,
        "keywords": f"Factur-X, {kind}",
        "title": f"{document.seller.display_name}: {title}",
        "subject": f"Factur-X {title} ({document.issue_date.isoformat()})",
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
    }
    date = now.strftime("D:%Y%m%d%H%M%S+00'00'")
    info = {
        "Title": values["title"], "Author": values["author"], "Subject": values["subject"],
        "Keywords": values["keywords"], "Creator": CREATOR, "Producer": PRODUCER, "CreationDate": date,
        "ModDate": date,
    }
    return PdfA3(xmp=_xmp(values), info=info, filename=FACTURX_FILENAME, data=xml, mime_type="text/xml",
                 description="Factur-X XML file", relationship="Data")


def embed_facturx(document: InvoiceDocument, xml: bytes) -> bytes:
    """The PDF/A-3 of `document` with `xml` attached as factur-x.xml, checked against the official XSD first: an
    invalid e-invoice is never issued. The schematron would need a Saxon server; the tests run it."""
    xml_check(xml)
    now = clock.now().astimezone(datetime.UTC).replace(microsecond=0)
    return render_invoice_pdf(document, pdfa=_pdfa3(document, xml, now=now))


def render_invoice_document(document: InvoiceDocument) -> bytes:
    """The finished document: the PDF with its Factur-X XML embedded. This is what callers store."""
    return embed_facturx(document, _cii_xml(document))
