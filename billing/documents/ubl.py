"""UBL 2.1 for an `InvoiceDocument`: the same EN 16931 invoice as its Factur-X, in the other syntax.

Every figure, note, date and VAT category comes from `facturx_data(document)`, the EN 16931 business terms the
Factur-X is written from, so that the two XMLs of a record never disagree; this module only places those terms in
UBL elements (EN 16931-3-2 binding) and adds what the document's profile asks for on top. `ubl_profile` picks the
profile from the buyer:
- a buyer established in France (FR, or MC, inside the French VAT territory) is in the French e-invoicing exchange
  ("Flux 2"), whose CTC rules contradict Peppol's: the profile (BT-23) is the billing framework the Factur-X
  states (S1), not Peppol's profile, and the notes are the Factur-X's, one per note, with their subject codes
  (PMD, PMT, AAB, REG, TXD) as EN 16931 writes them in UBL ("#PMD#text"); the CustomizationID is EN 16931's own;
- any other buyer gets Peppol BIS Billing 3.0 when both parties have a Peppol address, else plain EN 16931.

Peppol asks for one note at most (PEPPOL-EN16931-R002): the Factur-X notes, one per line, without their subject
codes; a buyer reference (R003): the buyer's e-mail address, how we know the customer, written on every profile;
an electronic address (EndpointID) for the seller and the buyer (R010, R020), from the Peppol EAS code list, which
has no e-mail scheme (CL008): the SIREN (ICD 0002) when the party has one, else its VAT number under its country's
VAT scheme. A party with neither (a consumer, a business outside the EU without a VAT number) cannot be addressed
on Peppol: its document is a plain EN 16931 UBL (core CustomizationID, no profile) with its e-mail, if any, as
electronic address (EM), which EN 16931 allows. The French profile takes its electronic addresses (BT-34, BT-49,
which its rules require) the same way, and states the SIRENs (BT-30, BT-47) under ICD 0002 like the Factur-X.
"""
from __future__ import annotations

import datetime

from lxml import etree

from billing.documents.data import (
    BANK_CARD,
    SEPA_CREDIT_TRANSFER,
    SEPA_DIRECT_DEBIT,
    DocumentParty,
    InvoiceDocument,
    PaymentInstructions,
)
from billing.documents.facturx import EMAIL_SCHEME, SIREN_SCHEME, facturx_data
from billing.tax import FRENCH_VAT_TERRITORY

UBL_NAMESPACES = {
    "Invoice": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "CreditNote": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
}
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
EN16931 = "urn:cen.eu:en16931:2017"
PEPPOL_CUSTOMIZATION = f"{EN16931}#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PEPPOL_PROFILE = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
# The rules a UBL follows, as `ubl_profile` decides.
FRENCH_CTC, PEPPOL, EN16931_CORE = "fr-ctc", "peppol", "en16931"
VAT = "VAT"
# BT-8, when the VAT falls due: the Factur-X's UNTDID 2475 wording, in UBL as its UNTDID 2005 code.
VAT_POINT_CODES = {"invoice": "3", "delivery": "35", "payment": "432"}
# Peppol EAS schemes of VAT numbers, by ISO country (the VAT number of Greece starts with EL).
VAT_ENDPOINT_SCHEMES = {
    "AT": "9914", "BE": "9925", "BG": "9926", "CY": "9928", "CZ": "9929", "DE": "9930", "EE": "9931", "ES": "9920",
    "FI": "0213", "FR": "9957", "GR": "9933", "HR": "9934", "HU": "9910", "IE": "9935", "IT": "0211", "LT": "9937",
    "LU": "9938", "LV": "9939", "MT": "9943", "NL": "9944", "PL": "9945", "PT": "9946", "RO": "9947", "SI": "9949",
    "SK": "9950", "CH": "9927", "GB": "9932",
}


def _cbc(parent: etree._Element, name: str, text, **attributes) -> etree._Element:
    element = etree.SubElement(parent, f"{{{CBC}}}{name}", **attributes)
    element.text = text.isoformat() if isinstance(text, datetime.date) else str(text)
    return element


def _cac(parent: etree._Element, name: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{CAC}}}{name}")


def _money(parent: etree._Element, name: str, amount: str, currency: str) -> None:
    _cbc(parent, name, amount, currencyID=currency)


def _peppol_endpoint(party: DocumentParty) -> tuple[str, str] | None:
    """The party's Peppol address (EAS scheme, identifier), or None when it has no registered identifier."""
    if party.siren:
        return SIREN_SCHEME, party.siren
    vat_number = party.vat_number.replace(" ", "")
    scheme = VAT_ENDPOINT_SCHEMES.get(party.country)
    if vat_number and scheme:
        return scheme, vat_number
    return None


def ubl_profile(document: InvoiceDocument) -> str:
    """The rules the UBL of `document` follows: the French CTC profile for a buyer established in France, else
    Peppol BIS Billing 3.0 when both parties have a Peppol address, else plain EN 16931."""
    if document.buyer.country in FRENCH_VAT_TERRITORY:
        return FRENCH_CTC
    if _peppol_endpoint(document.seller) is not None and _peppol_endpoint(document.buyer) is not None:
        return PEPPOL
    return EN16931_CORE


def _coded_note(note: dict) -> str:
    """A Factur-X note (BG-1) as one UBL note: its subject code (BT-21), if any, between # before its text."""
    return f"#{note['BT-21']}#{note['BT-22']}" if "BT-21" in note else note["BT-22"]


def _party(parent: etree._Element, role: str, party: DocumentParty, terms: dict) -> None:
    """A seller (BG-4) or buyer (BG-7); `terms` is its Factur-X party, whose names and identifiers it repeats."""
    element = _cac(_cac(parent, role), "Party")
    endpoint = _peppol_endpoint(party) or ((EMAIL_SCHEME, party.email) if party.email else None)
    if endpoint is not None:
        _cbc(element, "EndpointID", endpoint[1], schemeID=endpoint[0])
    address = _cac(element, "PostalAddress")
    for name, key in (("StreetName", "addr_l1"), ("AdditionalStreetName", "addr_l2"), ("CityName", "city"),
                      ("PostalZone", "postcode")):
        if terms.get(key):
            _cbc(address, name, terms[key])
    _cbc(_cac(address, "Country"), "IdentificationCode", terms["country_code"])
    if terms.get("vat_identifier"):
        tax_scheme = _cac(element, "PartyTaxScheme")
        _cbc(tax_scheme, "CompanyID", terms["vat_identifier"])
        _cbc(_cac(tax_scheme, "TaxScheme"), "ID", VAT)
    legal_entity = _cac(element, "PartyLegalEntity")
    _cbc(legal_entity, "RegistrationName", terms["name"])
    if terms.get("legal_identifier"):
        _cbc(legal_entity, "CompanyID", terms["legal_identifier"], schemeID=terms["legal_identifier_schemeid"])
    for contact in terms.get("contacts", [])[:1]:
        contact_element = _cac(element, "Contact")
        for name, key in (("Name", "name"), ("ElectronicMail", "email")):
            if contact.get(key):
                _cbc(contact_element, name, contact[key])


def _payment_means(parent: etree._Element, payment: PaymentInstructions, *, number: str) -> None:
    """BG-16 as the means says: a transfer to the seller's account (58), a card (48) or a SEPA direct debit (59),
    with the document number as the remittance information (BT-83)."""
    means = _cac(parent, "PaymentMeans")
    code = _cbc(means, "PaymentMeansCode", payment.means_code)
    if payment.card_brand:
        code.set("name", payment.card_brand)  # BT-82, as the Factur-X states it
    _cbc(means, "PaymentID", number)
    if payment.means_code == BANK_CARD:
        card = _cac(means, "CardAccount")
        _cbc(card, "PrimaryAccountNumberID", payment.card_last4)
        _cbc(card, "NetworkID", payment.card_brand)
    elif payment.means_code == SEPA_CREDIT_TRANSFER:
        account = _cac(means, "PayeeFinancialAccount")
        _cbc(account, "ID", payment.iban)
        if payment.bic:
            _cbc(_cac(account, "FinancialInstitutionBranch"), "ID", payment.bic)
    elif payment.means_code == SEPA_DIRECT_DEBIT:
        mandate = _cac(means, "PaymentMandate")
        _cbc(mandate, "ID", payment.mandate_reference)
        if payment.debited_account:
            _cbc(_cac(mandate, "PayerFinancialAccount"), "ID", payment.debited_account)


def _tax_category(parent: etree._Element, name: str, *, category: str, rate: str, exemption: dict | None = None):
    element = _cac(parent, name)
    _cbc(element, "ID", category)
    _cbc(element, "Percent", rate)
    if exemption:
        _cbc(element, "TaxExemptionReasonCode", exemption["BT-121"])
        _cbc(element, "TaxExemptionReason", exemption["BT-120"])
    _cbc(_cac(element, "TaxScheme"), "ID", VAT)


def _line(parent: etree._Element, tag: str, quantity_tag: str, line: dict, currency: str) -> None:
    element = _cac(parent, tag)
    _cbc(element, "ID", line["BT-126"])
    _cbc(element, quantity_tag, line["BT-129"], unitCode=line["BT-130"])
    _money(element, "LineExtensionAmount", line["BT-131"], currency)
    item = _cac(element, "Item")
    _cbc(item, "Name", line["BT-153"])
    _tax_category(item, "ClassifiedTaxCategory", category=line["BT-151"], rate=line["BT-152"])
    price = _cac(element, "Price")
    _money(price, "PriceAmount", line["BT-146"], currency)
    if "BT-149" in line:  # a usage line's price is per million tokens
        _cbc(price, "BaseQuantity", line["BT-149"], unitCode=line["BT-130"])


def ubl_xml(document: InvoiceDocument) -> bytes:
    """The UBL 2.1 `Invoice` (380) or `CreditNote` (381) of `document`, as deterministic UTF-8 bytes."""
    terms = facturx_data(document)
    currency = terms["BT-5"]
    kind = "CreditNote" if document.is_credit_note else "Invoice"
    root = etree.Element(f"{{{UBL_NAMESPACES[kind]}}}{kind}", nsmap={None: UBL_NAMESPACES[kind], "cac": CAC,
                                                                      "cbc": CBC})
    profile = ubl_profile(document)
    _cbc(root, "CustomizationID", PEPPOL_CUSTOMIZATION if profile == PEPPOL else EN16931)
    profile_id = {PEPPOL: PEPPOL_PROFILE, FRENCH_CTC: terms["BT-23"]}.get(profile)
    if profile_id:
        _cbc(root, "ProfileID", profile_id)
    _cbc(root, "ID", terms["BT-1"])
    _cbc(root, "IssueDate", terms["BT-2"])
    if "BT-9" in terms and not document.is_credit_note:  # a UBL credit note has no due date
        _cbc(root, "DueDate", terms["BT-9"])
    _cbc(root, f"{kind}TypeCode", terms["BT-3"])
    if profile == FRENCH_CTC:
        for note in terms["BG-1"]:
            _cbc(root, "Note", _coded_note(note))
    elif terms["BG-1"]:
        _cbc(root, "Note", "\n".join(note["BT-22"] for note in terms["BG-1"]))
    _cbc(root, "DocumentCurrencyCode", currency)
    _cbc(root, "BuyerReference", document.buyer.email or document.buyer.display_name)
    period = _cac(root, "InvoicePeriod")
    _cbc(period, "StartDate", terms["BT-73"])
    _cbc(period, "EndDate", terms["BT-74"])
    if "BT-8" in terms:
        _cbc(period, "DescriptionCode", VAT_POINT_CODES[terms["BT-8"]])
    for preceding in terms.get("BG-3", []):
        reference = _cac(_cac(root, "BillingReference"), "InvoiceDocumentReference")
        _cbc(reference, "ID", preceding["BT-25"])
        if "BT-26" in preceding:
            _cbc(reference, "IssueDate", preceding["BT-26"])
    _party(root, "AccountingSupplierParty", document.seller, terms["BG-4"])
    _party(root, "AccountingCustomerParty", document.buyer, terms["BG-7"])
    _cbc(_cac(root, "Delivery"), "ActualDeliveryDate", terms["BT-72"])
    if document.payment is not None:
        _payment_means(root, document.payment, number=document.number)
    _cbc(_cac(root, "PaymentTerms"), "Note", terms["BT-20"])
    for allowance in terms.get("BG-20", []):
        element = _cac(root, "AllowanceCharge")
        _cbc(element, "ChargeIndicator", "false")
        _cbc(element, "AllowanceChargeReason", allowance["reason"])
        _money(element, "Amount", allowance["amount"], currency)
        _tax_category(element, "TaxCategory", category=allowance["vat_category_code"], rate=allowance["vat_rate"])
    tax_total = _cac(root, "TaxTotal")
    _money(tax_total, "TaxAmount", terms["BT-110"], currency)
    for tax in terms["BG-23"]:
        subtotal = _cac(tax_total, "TaxSubtotal")
        _money(subtotal, "TaxableAmount", tax["BT-116"], currency)
        _money(subtotal, "TaxAmount", tax["BT-117"], currency)
        _tax_category(subtotal, "TaxCategory", category=tax["BT-118"], rate=tax["BT-119"],
                      exemption=tax if "BT-121" in tax else None)
    totals = _cac(root, "LegalMonetaryTotal")
    _money(totals, "LineExtensionAmount", terms["BT-106"], currency)
    _money(totals, "TaxExclusiveAmount", terms["BT-109"], currency)
    _money(totals, "TaxInclusiveAmount", terms["BT-112"], currency)
    if "BT-107" in terms:
        _money(totals, "AllowanceTotalAmount", terms["BT-107"], currency)
    _money(totals, "PrepaidAmount", terms["BT-113"], currency)
    _money(totals, "PayableAmount", terms["BT-115"], currency)
    for line in terms["BG-25"]:
        _line(root, f"{kind}Line", "CreditedQuantity" if document.is_credit_note else "InvoicedQuantity", line,
              currency)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
