"""Accounting exports for a period: CSV of invoices, credit notes and payments, and the French FEC.

Plain functions: they take a period (first and last day, both included, in BILLING_TIME_ZONE), query, and
return rows; `billing/backoffice/views.py` writes them out.

FEC (Fichier des Écritures Comptables, article A47 A-1 of the Livre des procédures fiscales): the 18
columns below, tab-separated, one header line, dates as YYYYMMDD, amounts with a decimal comma and no
thousands separator. One balanced entry per document:

- invoice (journal VT, dated its issue date): debit 411 (the customer's auxiliary account) by the total,
  credit 706 by the subtotal, credit the VAT account by the VAT (no VAT line at 0 %): 44571 for French VAT, and
  for another member state's VAT charged under the One-Stop Shop a sub-account of that state, 44571 followed by
  its ISO code (44571DE "TVA due OSS DE"), so that the OSS return reads its figures per country (the FEC allows
  letters after the three digits of the chart of accounts);
- credit note (VT, its issue date): the invoice's entry reversed for the amounts it credits (all of them for
  one cancelling the invoice, its own subtotal, VAT and total for a partial one);
- payment (BQ, the day it was processed): debit 512 by the amount, credit 411 (the customer).

Not covered: credits spent on invoices (a promotional credit would be a 709 discount) and refunds (the
payment record keeps the refunded amount, not the refund's date). Amounts are in the invoice's currency;
`Montantdevise`/`Idevise` are filled only when it is not EUR.
"""
import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q

from billing.models import CreditNote, Invoice, Payment, PaymentStatus
from billing.periods import local_date, start_of_day
from billing.selectors import CREDIT_NOTES, invoice_credit_notes
from billing.tax import vat_country
from core.spreadsheets import spreadsheet_safe

FEC_COLUMNS = (
    "JournalCode", "JournalLib", "EcritureNum", "EcritureDate", "CompteNum", "CompteLib", "CompAuxNum",
    "CompAuxLib", "PieceRef", "PieceDate", "EcritureLib", "Debit", "Credit", "EcritureLet", "DateLet",
    "ValidDate", "Montantdevise", "Idevise",
)
SALES_JOURNAL = ("VT", "Ventes")
BANK_JOURNAL = ("BQ", "Banque")
CUSTOMERS_ACCOUNT = ("411", "Clients")
REVENUE_ACCOUNT = ("706", "Prestations de services")
VAT_ACCOUNT = ("44571", "TVA collectée")
BANK_ACCOUNT = ("512", "Banque")
ACCOUNTING_CURRENCY = "EUR"
SETTLED_PAYMENTS = (PaymentStatus.COMPLETED, PaymentStatus.REFUNDED)


@dataclass(frozen=True)
class ExportPeriod:
    first_day: datetime.date
    last_day: datetime.date  # included

    @property
    def start_at(self) -> datetime.datetime:
        return start_of_day(self.first_day)

    @property
    def end_at(self) -> datetime.datetime:
        return start_of_day(self.last_day + datetime.timedelta(days=1))


def _buyer(invoice: Invoice) -> dict:
    """The buyer as invoiced (the snapshot taken at issue), with the live profile for older rows."""
    buyer = (invoice.billing_details or {}).get("buyer") or {}
    profile = getattr(invoice.user, "profile", None)
    return {
        "email": buyer.get("email") or invoice.user.email,
        "name": buyer.get("name") or (profile.full_name if profile else "") or invoice.user.email,
        "company_name": buyer.get("company_name") or (profile.company_name if profile else ""),
        "country": buyer.get("country") or (profile.country if profile else "") or "FR",
        "vat_number": buyer.get("vat_number", ""),
    }


def _last_day(end: datetime.date) -> datetime.date:
    return end - datetime.timedelta(days=1)


# CSV

INVOICE_CSV_HEADER = (
    "number", "status", "issue_date", "due_date", "period_start", "period_last_day", "customer_email",
    "company", "country", "vat_number", "reverse_charge", "currency", "subtotal", "tax_rate", "tax_amount",
    "total", "credit_applied", "amount_paid", "amount_due", "credit_note", "credited",
)
CREDIT_NOTE_CSV_HEADER = (
    "number", "issue_date", "invoice_number", "invoice_issue_date", "customer_email", "company", "currency",
    "subtotal", "tax_amount", "amount", "reason", "kind",
)
PAYMENT_CSV_HEADER = (
    "id", "processed_date", "invoice_number", "customer_email", "company", "method", "status", "currency",
    "amount", "refunded_amount", "provider_reference",
)


def invoices_of(period: ExportPeriod):
    return (
        Invoice.objects.filter(
            number__isnull=False, issue_date__gte=period.first_day, issue_date__lte=period.last_day
        )
        .select_related("user__profile", "buyer_snapshot")
        .prefetch_related(CREDIT_NOTES)
        .order_by("number")
    )


def credit_notes_of(period: ExportPeriod):
    return (
        CreditNote.objects.filter(issue_date__gte=period.first_day, issue_date__lte=period.last_day)
        .select_related("invoice__user__profile", "invoice__buyer_snapshot")
        .order_by("number")
    )


def payments_of(period: ExportPeriod):
    """Payments settled (completed, possibly refunded since) during the period."""
    return (
        Payment.objects.filter(
            Q(status__in=SETTLED_PAYMENTS), processed_at__gte=period.start_at, processed_at__lt=period.end_at
        )
        .select_related("invoice__user__profile", "invoice__buyer_snapshot")
        .order_by("processed_at", "id")
    )


def invoice_csv_rows(period: ExportPeriod) -> Iterator[tuple]:
    yield INVOICE_CSV_HEADER
    for invoice in invoices_of(period):
        buyer = _buyer(invoice)
        yield (
            invoice.number, invoice.status, invoice.issue_date.isoformat(),
            invoice.due_date.isoformat() if invoice.due_date else "", invoice.period_start.isoformat(),
            _last_day(invoice.period_end).isoformat(), buyer["email"], buyer["company_name"], buyer["country"],
            buyer["vat_number"], "yes" if invoice.reverse_charge else "no", invoice.currency, invoice.subtotal,
            invoice.tax_rate, invoice.tax_amount, invoice.total, invoice.credit_applied, invoice.amount_paid,
            invoice.amount_due, " ".join(credit_note.number for credit_note in invoice_credit_notes(invoice)),
            invoice.credited,
        )


def credit_note_csv_rows(period: ExportPeriod) -> Iterator[tuple]:
    yield CREDIT_NOTE_CSV_HEADER
    for credit_note in credit_notes_of(period):
        invoice = credit_note.invoice
        buyer = _buyer(invoice)
        yield (
            credit_note.number, credit_note.issue_date.isoformat(), invoice.number,
            invoice.issue_date.isoformat() if invoice.issue_date else "", buyer["email"], buyer["company_name"],
            invoice.currency, credit_note.subtotal, credit_note.tax_amount, credit_note.amount, credit_note.reason,
            credit_note.kind,
        )


def payment_csv_rows(period: ExportPeriod) -> Iterator[tuple]:
    yield PAYMENT_CSV_HEADER
    for payment in payments_of(period):
        buyer = _buyer(payment.invoice)
        yield (
            payment.pk, local_date(payment.processed_at).isoformat(), payment.invoice.number, buyer["email"],
            buyer["company_name"], payment.method, payment.status, payment.currency, payment.amount,
            payment.refunded_amount, payment.provider_reference,
        )


# FEC


@dataclass(frozen=True)
class FecLine:
    journal: tuple[str, str]
    entry_number: str
    entry_date: datetime.date
    account: tuple[str, str]
    auxiliary: tuple[str, str]  # ("", "") outside 411
    piece_ref: str
    piece_date: datetime.date
    label: str
    debit: Decimal
    credit: Decimal
    currency: str

    def as_row(self) -> tuple[str, ...]:
        foreign = self.currency != ACCOUNTING_CURRENCY
        return (
            self.journal[0], self.journal[1], self.entry_number, fec_date(self.entry_date), self.account[0],
            self.account[1], self.auxiliary[0], self.auxiliary[1], self.piece_ref, fec_date(self.piece_date),
            self.label, fec_amount(self.debit), fec_amount(self.credit), "", "", fec_date(self.entry_date),
            fec_amount(self.debit or self.credit) if foreign else "", self.currency if foreign else "",
        )


def fec_date(day: datetime.date) -> str:
    return day.strftime("%Y%m%d")


def fec_amount(amount: Decimal) -> str:
    return f"{amount:.2f}".replace(".", ",")


def fec_text_field(text: str) -> str:
    """No tab or line break inside a field: they separate fields and records."""
    return " ".join(str(text).split())


def customer_account(invoice: Invoice) -> tuple[str, str]:
    buyer = _buyer(invoice)
    return f"C{invoice.user_id:06d}", fec_text_field(buyer["company_name"] or buyer["name"])


@dataclass(frozen=True)
class _Entry:
    journal: tuple[str, str]
    date: datetime.date
    order: tuple  # ties on a date: documents in number order
    piece_ref: str
    label: str
    currency: str
    # (account, auxiliary, debit, credit)
    movements: tuple[tuple[tuple[str, str], tuple[str, str], Decimal, Decimal], ...]


def vat_account(invoice: Invoice) -> tuple[str, str]:
    """The account of the VAT `invoice` charges: French VAT on 44571, OSS VAT on its member state's sub-account."""
    country = vat_country(
        buyer_country=invoice.buyer_country, tax_rate=invoice.tax_rate, tax_mention=invoice.tax_mention
    )
    if country in ("", "FR"):
        return VAT_ACCOUNT
    return f"{VAT_ACCOUNT[0]}{country}", f"TVA due OSS {country}"


def _sale_movements(
    invoice: Invoice, *, total: Decimal, subtotal: Decimal, tax_amount: Decimal, reverse: bool
) -> tuple:
    """The sale of `invoice` for the amounts given (its own, or those a credit note of it credits)."""
    zero = Decimal("0.00")
    customer = customer_account(invoice)
    lines = [(CUSTOMERS_ACCOUNT, customer, total, zero), (REVENUE_ACCOUNT, ("", ""), zero, subtotal)]
    if tax_amount:
        lines.append((vat_account(invoice), ("", ""), zero, tax_amount))
    if reverse:
        lines = [(account, auxiliary, credit, debit) for account, auxiliary, debit, credit in lines]
    return tuple(lines)


def _entries(period: ExportPeriod) -> list[_Entry]:
    entries = []
    for invoice in invoices_of(period):
        entries.append(
            _Entry(
                SALES_JOURNAL, invoice.issue_date, (0, invoice.number), invoice.number,
                fec_text_field(f"Facture {invoice.number} {customer_account(invoice)[1]}"), invoice.currency,
                _sale_movements(
                    invoice, total=invoice.total, subtotal=invoice.subtotal, tax_amount=invoice.tax_amount,
                    reverse=False,
                ),
            )
        )
    for credit_note in credit_notes_of(period):
        invoice = credit_note.invoice
        entries.append(
            _Entry(
                SALES_JOURNAL, credit_note.issue_date, (1, credit_note.number), credit_note.number,
                fec_text_field(f"Avoir {credit_note.number} sur facture {invoice.number}"), invoice.currency,
                _sale_movements(
                    invoice, total=credit_note.amount, subtotal=credit_note.subtotal,
                    tax_amount=credit_note.tax_amount, reverse=True,
                ),
            )
        )
    for payment in payments_of(period):
        invoice = payment.invoice
        zero = Decimal("0.00")
        entries.append(
            _Entry(
                BANK_JOURNAL, local_date(payment.processed_at), (2, payment.pk),
                fec_text_field(payment.provider_reference) or f"PAY{payment.pk}",
                fec_text_field(f"Règlement facture {invoice.number} ({payment.get_method_display()})"),
                payment.currency,
                (
                    (BANK_ACCOUNT, ("", ""), payment.amount, zero),
                    (CUSTOMERS_ACCOUNT, customer_account(invoice), zero, payment.amount),
                ),
            )
        )
    # In chronological order of validation, as the FEC requires.
    return sorted(entries, key=lambda entry: (entry.date, entry.journal[0], entry.order))


def fec_lines(period: ExportPeriod) -> list[FecLine]:
    """Every line of the FEC of `period`; entries are numbered without gaps per journal, in date order."""
    lines, counters = [], {}
    for entry in _entries(period):
        counters[entry.journal[0]] = counters.get(entry.journal[0], 0) + 1
        number = f"{entry.journal[0]}{counters[entry.journal[0]]:06d}"
        for account, auxiliary, debit, credit in entry.movements:
            lines.append(
                FecLine(
                    journal=entry.journal, entry_number=number, entry_date=entry.date, account=account,
                    auxiliary=auxiliary, piece_ref=entry.piece_ref, piece_date=entry.date, label=entry.label,
                    debit=debit, credit=credit, currency=entry.currency,
                )
            )
    return lines


def fec_rows(period: ExportPeriod) -> Iterator[tuple[str, ...]]:
    yield FEC_COLUMNS
    for line in fec_lines(period):
        # Accountants open the FEC in spreadsheets too: a company name is customer-typed text.
        yield spreadsheet_safe(line.as_row())


def fec_filename(*, siren: str, closing_date: datetime.date) -> str:
    """`<SIREN>FEC<YYYYMMDD>.txt`, the date being the closing date of the period exported."""
    return f"{siren}FEC{fec_date(closing_date)}.txt"


def fec_content(period: ExportPeriod) -> str:
    """The file: tab-separated fields, CRLF line ends (written out in UTF-8)."""
    return "".join("\t".join(row) + "\r\n" for row in fec_rows(period))
