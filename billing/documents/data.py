"""An issued invoice or credit note as plain, frozen data: what its PDF and its Factur-X XML print.

`billing/documents/pdf.py` and `billing/documents/facturx.py` take an `InvoiceDocument` and never touch a model. The two
builders at the bottom are the only functions here that read models: they state the document as it was
issued, whenever it is rendered: the buyer and the seller from the invoice's snapshot (`billing_details`), never
the live profile, and what was settled at issue, never a payment made since.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from django.utils import translation
from django.utils.translation import gettext, ngettext
from stdnum import iban

from billing.money import RECOVERY_INDEMNITY, ZERO, late_payment_rate
from billing.periods import format_long_date

if TYPE_CHECKING:  # the builders only read attributes: no import of models at runtime
    from billing.models import CreditNote, Invoice

INVOICE = "INVOICE"
CREDIT_NOTE = "CREDIT_NOTE"
DISCOUNT = "DISCOUNT"  # the kind of a coupon's line (billing.models.LineKind.DISCOUNT): negative, before tax
CREDIT = "CREDIT"  # a promotional or compensation credit spent before tax (billing.models.LineKind.CREDIT): negative
ALLOWANCE_KINDS = frozenset({DISCOUNT, CREDIT})  # negative lines the e-invoice states as document-level allowances
# UNTDID 4461 payment means codes (EN 16931 BT-81): how the amount due is collected.
SEPA_CREDIT_TRANSFER = "58"
SEPA_DIRECT_DEBIT = "59"
BANK_CARD = "48"
LANGUAGES = ("en", "fr")



@dataclass(frozen=True)
class DocumentParty:
    name: str
    company_name: str = ""
    address_line1: str = ""
    address_line2: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = "FR"  # ISO 3166 alpha-2
    vat_number: str = ""
    siren: str = ""
    email: str = ""
    iban: str = ""  # compact, the seller's only: where a bank transfer pays the invoice
    bic: str = ""
    vat_on_debits: bool = False  # the seller's only: it opted to pay VAT on debits (settings.SELLER_VAT_ON_DEBITS)

    @property
    def display_name(self) -> str:
        """The legal name printed first: the company when there is one."""
        return self.company_name or self.name


@dataclass(frozen=True)
class DocumentLine:
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    price_base_quantity: int = 1  # EN 16931 BT-149: a usage line's price is per million tokens
    kind: str = ""  # the invoice line's kind: DISCOUNT and CREDIT lines are document-level allowances in the e-invoice


@dataclass(frozen=True)
class PaymentInstructions:
    """How the amount due is paid (EN 16931 BG-16), as it was at issue.

    A bank transfer names the seller's account (BT-84 IBAN, BT-86 BIC) and the invoice number as the
    reference (BT-83); a card names the card (BT-87 last digits, BT-88 holder or brand); a SEPA direct debit
    names its mandate (BT-89) and the debited account (BT-91, masked).
    """

    means_code: str  # SEPA_CREDIT_TRANSFER, BANK_CARD or SEPA_DIRECT_DEBIT
    iban: str = ""
    bic: str = ""
    card_last4: str = ""
    card_brand: str = ""
    mandate_reference: str = ""
    debited_account: str = ""


@dataclass(frozen=True)
class InvoiceDocument:
    """Everything printed on an invoice or a credit note.

    `period_end` is excluded (half-open, like the invoice): the last day printed is `period_end - 1 day`.
    `tax_rate` is a fraction (0.2000 for 20 %), as on the invoice; `late_payment_rate` is a percentage.
    A credit note carries its own lines and amounts (all of the invoice it cancels, or what it credits of it);
    its `amount_due` is the amount credited to the customer, and nothing is prepaid on it.
    """

    kind: str  # INVOICE or CREDIT_NOTE
    number: str
    issue_date: datetime.date
    due_date: datetime.date | None  # None for a credit note
    period_start: datetime.date
    period_end: datetime.date
    currency: str
    seller: DocumentParty
    buyer: DocumentParty
    lines: tuple[DocumentLine, ...]
    subtotal: Decimal
    tax_rate: Decimal
    tax_amount: Decimal
    total: Decimal
    credit_applied: Decimal
    amount_paid: Decimal
    amount_due: Decimal
    reverse_charge: bool
    tax_mention: str
    language: str  # "fr" or "en"
    late_payment_rate: Decimal
    recovery_indemnity: Decimal
    payment_terms: str
    original_invoice_number: str = ""  # credit notes only
    reason: str = ""  # credit notes only, in `language`: the reason from the list, then its free-text detail
    original_invoice_issue_date: datetime.date | None = None  # credit notes only
    payment: PaymentInstructions | None = None  # invoices with an amount due only

    @property
    def is_credit_note(self) -> bool:
        return self.kind == CREDIT_NOTE

    @property
    def item_lines(self) -> tuple[DocumentLine, ...]:
        """The lines that bill something: the e-invoice's lines (BG-25)."""
        return tuple(line for line in self.lines if line.kind not in ALLOWANCE_KINDS)

    @property
    def allowances(self) -> tuple[DocumentLine, ...]:
        """The negative lines taken before tax (a coupon's discount, a credit spent as a price reduction): the
        e-invoice's document-level allowances (BG-20)."""
        return tuple(line for line in self.lines if line.kind in ALLOWANCE_KINDS)

    @property
    def period_last_day(self) -> datetime.date:
        return self.period_end - datetime.timedelta(days=1)


def _party(snapshot: dict) -> DocumentParty:
    """A party from its snapshot; the seller's (`settings.SELLER` at issue) has its street as one `address`."""
    return DocumentParty(
        name=snapshot.get("name", ""),
        company_name=snapshot.get("company_name", ""),
        address_line1=snapshot.get("address_line1") or snapshot.get("address", ""),
        address_line2=snapshot.get("address_line2", ""),
        postal_code=snapshot.get("postal_code", ""),
        city=snapshot.get("city", ""),
        country=(snapshot.get("country") or "FR").upper(),
        vat_number=snapshot.get("vat_number", ""),
        siren=snapshot.get("siren", ""),
        email=snapshot.get("email", ""),
        iban=iban.compact(snapshot.get("iban", "")),
        bic=snapshot.get("bic", "").replace(" ", "").upper(),
        vat_on_debits=snapshot.get("vat_on_debits", False),
    )


def _language(buyer: dict) -> str:
    language = (buyer.get("language") or "en").lower()
    return language if language in LANGUAGES else "en"


def buyer_language(invoice: Invoice) -> str:
    """The language the invoice's documents speak: its buyer's at issue (kept in clear on their snapshot)."""
    if invoice.buyer_snapshot_id:
        return _language({"language": invoice.buyer_snapshot.language})
    return _language(invoice.billing_details.get("buyer", {}))


def payment_snapshot(*, means_code: str, card_brand: str = "", card_last4: str = "") -> dict:
    """How an invoice is collected, as its `issue_details` keep it at issue: a payment means code and, for a
    card, its brand as printed and its last four digits (never its number)."""
    if means_code == BANK_CARD:
        return {"means_code": means_code, "card_brand": card_brand, "card_last4": card_last4}
    return {"means_code": means_code}


def issued_payment_means(invoice: Invoice) -> str:
    """The payment means code of an issued invoice as at issue; a bank transfer for one issued before the billing
    snapshot kept it."""
    return invoice.issue_details.get("payment", {}).get("means_code", SEPA_CREDIT_TRANSFER)


def _payment_instructions(invoice: Invoice, seller: DocumentParty) -> PaymentInstructions | None:
    """How the amount due is paid, as at issue: a card or a direct debit as snapshotted, else a bank transfer to
    the seller's account, when it has one."""
    snapshot = invoice.issue_details.get("payment", {})
    means_code = issued_payment_means(invoice)
    if means_code == BANK_CARD:
        return PaymentInstructions(
            means_code=BANK_CARD, card_brand=snapshot.get("card_brand", ""), card_last4=snapshot.get("card_last4", "")
        )
    if means_code == SEPA_DIRECT_DEBIT:
        return PaymentInstructions(
            means_code=SEPA_DIRECT_DEBIT, mandate_reference=snapshot.get("mandate_reference", ""),
            debited_account=snapshot.get("debited_account", ""),
        )
    if not seller.iban:
        return None
    return PaymentInstructions(means_code=SEPA_CREDIT_TRANSFER, iban=seller.iban, bic=seller.bic)


def _invoice_payment_terms(*, issue_date: datetime.date, due_date: datetime.date, language: str) -> str:
    days = (due_date - issue_date).days
    with translation.override(language):
        return ngettext(
            "Payable within %(days)s day of the issue date, by %(due_date)s at the latest.",
            "Payable within %(days)s days of the issue date, by %(due_date)s at the latest.",
            days,
        ) % {"days": days, "due_date": format_long_date(due_date)}


def _credit_note_payment_terms(language: str) -> str:
    with translation.override(language):
        return gettext("No payment is due on this credit note: its amount is credited to the customer.")


def _credit_note_reason(credit_note: CreditNote, language: str) -> str:
    with translation.override(language):
        return credit_note.reason_text()


def _snapshot(invoice: Invoice) -> tuple[dict, dict]:
    details = invoice.billing_details or {}
    if not invoice.number or "buyer" not in details or "seller" not in details:
        raise ValueError(f"Invoice {invoice} was never issued: it has no number or no billing snapshot.")
    return details["buyer"], details["seller"]


def _lines_of(lines) -> tuple[DocumentLine, ...]:
    """Invoice or credit note lines as printed, in their order."""
    return tuple(
        DocumentLine(
            description=line.description, quantity=line.quantity, unit_price=line.unit_price, amount=line.amount,
            price_base_quantity=line.price_base_quantity, kind=line.kind,
        )
        for line in sorted(lines, key=lambda line: line.position)
    )


def _from_invoice(invoice: Invoice) -> dict:
    """What an invoice and the credit note cancelling it print alike: parties, period, lines, tax, mentions."""
    buyer, seller = _snapshot(invoice)
    return {
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "currency": invoice.currency,
        "seller": _party(seller),
        "buyer": _party(buyer),
        "lines": _lines_of(invoice.lines.all()),
        "subtotal": invoice.subtotal,
        "tax_rate": invoice.tax_rate,
        "tax_amount": invoice.tax_amount,
        "total": invoice.total,
        "reverse_charge": invoice.reverse_charge,
        "tax_mention": invoice.tax_mention,
        "language": _language(buyer),
        "late_payment_rate": late_payment_rate(),
        "recovery_indemnity": RECOVERY_INDEMNITY,
    }


def invoice_document(invoice: Invoice) -> InvoiceDocument:
    """The document of an issued invoice as it was issued, even when first rendered after it was paid.

    Credits are spent when an invoice is finalised and never after (a cancellation keeps `credit_applied`):
    they are part of the issue. Payments are taken only once it is issued, so none is part of it: the amount
    due is the total less those credits, in the PDF as in its Factur-X XML.
    """
    shared = _from_invoice(invoice)
    amount_due = invoice.total - invoice.credit_applied
    return InvoiceDocument(
        **shared,
        kind=INVOICE,
        number=invoice.number,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        credit_applied=invoice.credit_applied,
        amount_paid=ZERO,
        amount_due=amount_due,
        payment=_payment_instructions(invoice, shared["seller"]) if amount_due > 0 else None,
        payment_terms=_invoice_payment_terms(
            issue_date=invoice.issue_date, due_date=invoice.due_date, language=shared["language"]
        ),
    )


def credit_note_document(credit_note: CreditNote) -> InvoiceDocument:
    """The document of a credit note: its own number, date, lines and totals (all of the invoice it cancels, or
    the part of it it credits), the parties, period, tax treatment and mentions of that invoice (BG-3)."""
    invoice = credit_note.invoice
    shared = _from_invoice(invoice) | {
        "lines": _lines_of(credit_note.lines.all()),
        "subtotal": credit_note.subtotal,
        "tax_rate": credit_note.tax_rate,
        "tax_amount": credit_note.tax_amount,
        "total": credit_note.amount,
    }
    return InvoiceDocument(
        **shared,
        kind=CREDIT_NOTE,
        number=credit_note.number,
        issue_date=credit_note.issue_date,
        due_date=None,
        credit_applied=ZERO,
        amount_paid=ZERO,
        amount_due=credit_note.amount,
        payment_terms=_credit_note_payment_terms(shared["language"]),
        original_invoice_number=invoice.number,
        reason=_credit_note_reason(credit_note, shared["language"]),
        original_invoice_issue_date=invoice.issue_date,
    )
