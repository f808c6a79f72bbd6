"""Issued documents: each PDF is rendered once, stored with its SHA-256, then emailed to the customer."""
import datetime
import hashlib

from django.core.files.base import ContentFile
from django.db import transaction

from accounts.models import EinvoiceFormat
from accounts.selectors import saved_profile
from accounts.services import audit_log_record
from billing import clock
from billing.documents.data import credit_note_document, invoice_document
from billing.documents.facturx import render_invoice_document
from billing.documents.ubl import ubl_xml
from billing.exceptions import BillingError
from billing.models import CreditNote, EmailKind, EmailNotification, Invoice, InvoiceStatus
from billing.notifications.emails import UBL_NAME, UBL_XML, email_queue


def record_ubl(record: Invoice | CreditNote) -> bytes:
    """The UBL 2.1 XML of an issued invoice or credit note, built from its issue snapshot: the same bytes at every
    call. Not stored: unlike the PDF it renders in milliseconds and nothing in it can change after issue."""
    if isinstance(record, CreditNote):
        return ubl_xml(credit_note_document(record))
    return ubl_xml(invoice_document(record))


def _ubl_attachment(record: Invoice | CreditNote, *, user) -> dict[str, str]:
    """What the email of `record` needs to attach its UBL beside the PDF: nothing unless the customer reads UBL."""
    profile = saved_profile(user)
    if profile is None or profile.einvoice_format != EinvoiceFormat.UBL:
        return {}
    return {UBL_NAME: f"{record.number}.xml", UBL_XML: record_ubl(record).decode()}


def _store_pdf(record: Invoice | CreditNote, *, pdf: bytes) -> None:
    record.pdf.save(f"{record.number}.pdf", ContentFile(pdf), save=False)
    record.pdf_sha256 = hashlib.sha256(pdf).hexdigest()
    record.save(update_fields=["pdf", "pdf_sha256"])


@transaction.atomic
def invoice_pdf_store(*, invoice: Invoice) -> Invoice:
    """Render and store the PDF of an issued invoice, once: the stored file is what every download returns."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.pdf:
        return invoice
    if not invoice.is_issued:
        raise BillingError(f"Invoice {invoice} is a draft: it has no document before it is finalised.")
    _store_pdf(invoice, pdf=render_invoice_document(invoice_document(invoice)))
    return invoice


@transaction.atomic
def invoice_documents_issue(*, invoice: Invoice) -> Invoice:
    """The PDF, then the email that carries it; both happen once whatever the number of calls.

    An invoice cancelled before its documents were made still gets its PDF (its number was issued), but
    no email: the credit note's email tells the customer.
    """
    invoice = invoice_pdf_store(invoice=invoice)
    if invoice.status == InvoiceStatus.CANCELLED:
        return invoice
    email_queue(
        kind=EmailKind.INVOICE_ISSUED, key=f"invoice-issued:{invoice.pk}", user=invoice.user, invoice=invoice,
        context=_ubl_attachment(invoice, user=invoice.user),
    )
    return invoice


@transaction.atomic
def credit_note_documents_issue(*, credit_note: CreditNote) -> CreditNote:
    credit_note = CreditNote.objects.select_for_update().select_related("invoice__user").get(pk=credit_note.pk)
    if not credit_note.pdf:
        _store_pdf(credit_note, pdf=render_invoice_document(credit_note_document(credit_note)))
    invoice = credit_note.invoice
    email_queue(
        kind=EmailKind.CREDIT_NOTE_ISSUED, key=f"credit-note-issued:{credit_note.pk}", user=invoice.user,
        invoice=invoice,
        context=_credit_note_figures(credit_note) | _ubl_attachment(credit_note, user=invoice.user),
    )
    return credit_note


def _credit_note_figures(credit_note: CreditNote) -> dict:
    """What a credit note email says of its credit note (its invoice may have several)."""
    return {
        "credit_note_number": credit_note.number, "credit_note_kind": credit_note.kind,
        "amount": credit_note.amount, "reason_code": credit_note.reason_code, "reason": credit_note.reason,
    }


@transaction.atomic
def invoice_email_resend(*, invoice: Invoice, now: datetime.datetime | None = None) -> EmailNotification:
    """Email an issued invoice (with its PDF) to the customer again, e.g. after a bounce; every call sends
    one more email, under its own key `invoice-resent:<id>:<time>`, and is audited."""
    now = now or clock.now()
    if Invoice.objects.select_for_update().get(pk=invoice.pk).status == InvoiceStatus.CANCELLED:
        raise BillingError(f"Invoice {invoice} was cancelled: its credit note was sent instead.")
    invoice = invoice_pdf_store(invoice=invoice)
    notification = email_queue(
        kind=EmailKind.INVOICE_ISSUED, key=f"invoice-resent:{invoice.pk}:{now:%Y%m%dT%H%M%S.%f}",
        user=invoice.user, invoice=invoice, context=_ubl_attachment(invoice, user=invoice.user),
    )
    audit_log_record(action="invoice.resend", obj=invoice, changes={"email": notification.key})
    return notification
