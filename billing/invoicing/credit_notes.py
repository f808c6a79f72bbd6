"""Credit notes: a full one cancels its invoice (`invoice_cancel`), a partial one credits some lines of an issued
invoice, or an amount of it, any number of times while what its credit notes credit stays within its total.

What a partial credit note credits is no longer owed: it first lowers what is still due on the invoice (settled
at 0); what was already received goes back to the customer, as a REFUND credit, or handed back by the caller
(a card refund, billing.payments.refunds). Each is numbered in the credit-note sequence (`AV-<year>-<6 digits>`)
and its documents (PDF with Factur-X, email) follow after commit.
"""
import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import translation
from django.utils.translation import gettext as _

from accounts.services import audit_log_record
from billing import clock
from billing.cache import customer_cache_invalidate
from billing.documents.data import buyer_language
from billing.exceptions import BillingError
from billing.invoicing.numbering import numbers_reserve
from billing.invoicing.settlement import paid_when_settled
from billing.models import (
    ISSUED_INVOICE_STATUSES,
    Credit,
    CreditNote,
    CreditNoteKind,
    CreditNoteLine,
    CreditNoteReason,
    CreditType,
    DocumentKind,
    Invoice,
    LineKind,
)
from billing.money import ZERO, positive_amount, round_money
from billing.periods import local_date
from billing.selectors import invoice_lines_left_to_credit, price_refunds_pending
from core.enqueue import enqueue_after_commit


@dataclass(frozen=True)
class CreditNoteRequest:
    """What finance asks to credit: some invoice lines (line id → amount before tax, None for all that is left of
    it) or an amount VAT included; and why. Kept as JSON by a card refund Stripe has not confirmed yet."""

    reason_code: str
    reason: str = ""
    lines: dict[int, Decimal | None] = field(default_factory=dict)
    amount: Decimal | None = None

    def as_json(self) -> dict:
        return {
            "reason_code": self.reason_code, "reason": self.reason,
            "lines": {str(pk): None if part is None else str(part) for pk, part in self.lines.items()},
            "amount": None if self.amount is None else str(self.amount),
        }

    @classmethod
    def from_json(cls, data: dict) -> "CreditNoteRequest":
        return cls(
            reason_code=data["reason_code"], reason=data["reason"],
            lines={int(pk): None if part is None else Decimal(part) for pk, part in data["lines"].items()},
            amount=None if data["amount"] is None else Decimal(data["amount"]),
        )


@dataclass(frozen=True)
class CreditNotePrice:
    """A credit note priced, not yet issued: what the admin previews and what the service writes."""

    lines: tuple[CreditNoteLine, ...]  # unsaved
    subtotal: Decimal
    tax_rate: Decimal
    tax_amount: Decimal
    total: Decimal
    left: Decimal  # what was left to credit on the invoice before it


def credit_left(invoice: Invoice) -> Decimal:
    """What its credit notes may still credit on `invoice`, VAT included."""
    return invoice.total - invoice.credited


def _credited_lines(invoice: Invoice, parts: dict[int, Decimal | None]) -> list[CreditNoteLine]:
    """The credit note's lines for invoice lines: each one in full (as billed) or for part of its amount."""
    creditable = {line.pk: (line, left) for line, left in invoice_lines_left_to_credit(invoice)}
    lines = []
    for position, (line_id, part) in enumerate(sorted(parts.items())):
        if line_id not in creditable:
            raise BillingError(f"Invoice {invoice} has no line {line_id} that can be credited.")
        line, line_left = creditable[line_id]
        amount = line_left if part is None else positive_amount(part, what=f"The credit on line {line.description!r}")
        if line_left <= 0 or amount > line_left:
            raise BillingError(
                f"At most {line_left} {invoice.currency} of line {line.description!r} is left to credit."
            )
        in_full = amount == line.amount
        lines.append(CreditNoteLine(
            invoice_line=line, kind=line.kind, description=line.description, position=position, amount=amount,
            quantity=line.quantity if in_full else Decimal(1),
            unit_price=line.unit_price if in_full else amount,
            price_base_quantity=line.price_base_quantity if in_full else 1,
        ))
    return lines


def _amount_line(invoice: Invoice, subtotal: Decimal) -> CreditNoteLine:
    with translation.override(buyer_language(invoice)):
        description = _("Credit on invoice %(number)s") % {"number": invoice.number}
    return CreditNoteLine(
        kind=LineKind.ADJUSTMENT, description=description, quantity=Decimal(1), unit_price=subtotal, amount=subtotal,
    )


def credit_note_partial_price(
    *, invoice: Invoice, lines: dict[int, Decimal | None] | None = None, amount: Decimal | None = None
) -> CreditNotePrice:
    """Price a partial credit note of `invoice` without writing anything; BillingError when it cannot be issued.

    Lines are credited before tax and the VAT at the invoice's rate is rounded once on their sum. An `amount` is
    VAT included (what the customer gets back): its part before tax is rounded once, and the VAT is the rest.
    """
    if bool(lines) == (amount is not None):
        raise BillingError("Credit either some lines of the invoice or an amount, not both nor neither.")
    if invoice.status not in ISSUED_INVOICE_STATUSES:
        raise BillingError(f"Invoice {invoice} is {invoice.get_status_display().lower()}: only an issued invoice "
                           "can be credited.")
    if lines:
        credit_lines = _credited_lines(invoice, lines)
        subtotal = sum((line.amount for line in credit_lines), ZERO)
        tax_amount = round_money(subtotal * invoice.tax_rate)
    else:
        total = positive_amount(amount, what="The amount credited")
        subtotal = round_money(total / (1 + invoice.tax_rate))
        tax_amount = total - subtotal
        credit_lines = [_amount_line(invoice, subtotal)]
    # A card refund of the price Stripe has not confirmed yet will issue its credit note then: keep it its share.
    total, left = subtotal + tax_amount, credit_left(invoice) - price_refunds_pending(invoice)
    if subtotal <= 0:
        raise BillingError(f"A credit note credits at least 0.01 {invoice.currency} before tax.")
    if total > left:
        raise BillingError(
            f"At most {left} {invoice.currency} is left to credit on invoice {invoice} ({total} asked)."
        )
    return CreditNotePrice(
        lines=tuple(credit_lines), subtotal=subtotal, tax_rate=invoice.tax_rate, tax_amount=tax_amount, total=total,
        left=left,
    )


def _reason_checked(reason_code: str, reason: str) -> str:
    reason = (reason or "").strip()
    if reason_code not in CreditNoteReason.values:
        raise BillingError(f"Unknown credit note reason {reason_code!r} (one of {', '.join(CreditNoteReason.values)}).")
    if reason_code == CreditNoteReason.OTHER and not reason:
        raise BillingError("A credit note needs a reason: pick one or describe it.")
    return reason


def _credit_note_write(
    invoice: Invoice, *, kind: str, price: CreditNotePrice, reason_code: str, reason: str, now: datetime.datetime,
    actor=None, idempotency_key: str = "",
) -> CreditNote:
    """Number and store a credit note of the locked `invoice` with its lines; its documents follow after commit."""
    issue_date = local_date(now)
    [number] = numbers_reserve(kind=DocumentKind.CREDIT_NOTE, year=issue_date.year, count=1)
    credit_note = CreditNote.objects.create(
        number=number, invoice=invoice, kind=kind, subtotal=price.subtotal, tax_rate=price.tax_rate,
        tax_amount=price.tax_amount, amount=price.total, reason_code=reason_code, reason=reason,
        issue_date=issue_date, idempotency_key=idempotency_key,
    )
    for line in price.lines:
        line.credit_note = credit_note
    CreditNoteLine.objects.bulk_create(price.lines)
    audit_log_record(
        action="credit_note.issue", obj=credit_note, actor=actor,
        changes={"invoice": invoice.number, "kind": kind, "amount": str(credit_note.amount)},
    )
    enqueue_after_commit("billing.tasks.invoicing.credit_note_documents_issue_task", credit_note_id=credit_note.pk)
    return credit_note


def credit_note_full_write(invoice: Invoice, *, reason_code: str, reason: str, now: datetime.datetime) -> CreditNote:
    """The credit note cancelling the locked, issued `invoice`: its lines and amounts, or, after partial credit
    notes, what they left (an invoice they credited in full is PAID, which is never cancelled)."""
    partial = invoice.credit_notes.aggregate(subtotal=Sum("subtotal"), tax_amount=Sum("tax_amount"))
    if partial["subtotal"] is None:
        lines = tuple(
            CreditNoteLine(
                invoice_line=line, kind=line.kind, description=line.description, quantity=line.quantity,
                unit_price=line.unit_price, price_base_quantity=line.price_base_quantity, amount=line.amount,
                position=line.position,
            )
            for line in invoice.lines.order_by("position")
        )
        subtotal, tax_amount = invoice.subtotal, invoice.tax_amount
    else:
        subtotal = invoice.subtotal - partial["subtotal"]
        tax_amount = invoice.tax_amount - partial["tax_amount"]
        lines = (_amount_line(invoice, subtotal),)
    price = CreditNotePrice(
        lines=lines, subtotal=subtotal, tax_rate=invoice.tax_rate, tax_amount=tax_amount,
        total=subtotal + tax_amount, left=credit_left(invoice),
    )
    return _credit_note_write(
        invoice, kind=CreditNoteKind.FULL, price=price, reason_code=reason_code, reason=reason, now=now
    )


@dataclass(frozen=True)
class CreditEffect:
    """What crediting an amount does to its invoice's money."""

    lowered: Decimal  # taken off what is still due
    refunded: Decimal  # of what was paid, handed back by the caller (a card refund)
    given_back: Decimal  # of what was paid, back to the customer as a REFUND credit


def credit_effect(invoice: Invoice, total: Decimal, *, refunded: Decimal = ZERO) -> CreditEffect:
    """`refunded` of `total` is handed back by the caller; the rest lowers what is due, then what was paid comes
    back as a credit."""
    lowered = min(total - refunded, invoice.amount_due)
    return CreditEffect(lowered=lowered, refunded=refunded, given_back=total - refunded - lowered)


def _credit_books(invoice: Invoice, total: Decimal, *, refunded: Decimal, now: datetime.datetime) -> None:
    """The money of `total` credited on the locked `invoice` (credit_effect). What credits settled at issue stays
    spent: cancelling the invoice is what gives credits back."""
    effect = credit_effect(invoice, total, refunded=refunded)
    lowered, given_back = effect.lowered, effect.given_back
    if refunded + given_back > invoice.amount_paid:
        raise BillingError(
            f"At most {invoice.amount_paid + invoice.amount_due} {invoice.currency} of invoice {invoice} can be "
            "credited in part: the rest was settled with the customer's credits; cancel it to give those back."
        )
    invoice.credited += total
    invoice.amount_paid -= refunded + given_back
    invoice.amount_due -= lowered
    invoice.save(update_fields=["credited", "amount_paid", "amount_due", *paid_when_settled(invoice, now=now)])
    if given_back > 0:
        credit = Credit.objects.create(
            user=invoice.user, type=CreditType.REFUND, amount=given_back, remaining_amount=given_back,
            currency=invoice.currency, reason=f"Paid on invoice {invoice.number}, credited in part", created_at=now,
        )
        audit_log_record(action="credit.grant", obj=credit, changes={"amount": str(credit.amount)})


@transaction.atomic
def credit_note_partial_issue(
    *, invoice: Invoice, lines: dict[int, Decimal | None] | None = None, amount: Decimal | None = None,
    reason_code: str, reason: str = "", refunded: Decimal = ZERO, idempotency_key: str = "", actor=None,
    now: datetime.datetime | None = None,
) -> CreditNote:
    """Credit some lines of an issued invoice (line id → amount before tax, None for all that is left of it) or
    an amount VAT included, under the invoice's lock so that two at once never credit more than its total.

    `refunded` is the part of the credit the caller hands back of what was paid on the invoice (a card refund);
    the rest lowers what is due, and what it finds paid becomes a REFUND credit of the customer.
    `idempotency_key` names the request (the admin form's token): the same request again returns its credit note.
    """
    now = now or clock.now()
    reason = _reason_checked(reason_code, reason)
    locked = Invoice.objects.select_for_update().select_related("user").get(pk=invoice.pk)
    if idempotency_key:
        done = CreditNote.objects.filter(idempotency_key=idempotency_key).order_by("pk").first()
        if done is not None:
            return done
    price = credit_note_partial_price(invoice=locked, lines=lines, amount=amount)
    if refunded > price.total:
        raise BillingError(f"A refund of {refunded} is more than the {price.total} credited.")
    _credit_books(locked, price.total, refunded=refunded, now=now)
    credit_note = _credit_note_write(
        locked, kind=CreditNoteKind.PARTIAL, price=price, reason_code=reason_code, reason=reason, now=now,
        actor=actor, idempotency_key=idempotency_key,
    )
    customer_cache_invalidate(locked.user_id)
    return credit_note
