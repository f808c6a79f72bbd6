"""Issued documents: each PDF is rendered once, stored with its SHA-256, then emailed to the customer."""
import datetime
import hashlib

from django.core.files.base import ContentFile
from django.db import transaction

from accounts.services import audit_log_record
from billing import clock
from billing.documents.data import credit_note_document, invoice_document
from billing.documents.facturx import render_invoice_document
from billing.exceptions import BillingError
from billing.models import CreditNote, EmailKind, EmailNotification, Invoice, InvoiceStatus
from billing.notifications.emails import email_queue


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
        context={},
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
        context={},
    )
    return credit_note


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
        user=invoice.user, invoice=invoice, context={},
    )
    audit_log_record(action="invoice.resend", obj=invoice, changes={"email": notification.key})
    return notification
