"""Documents on workers: each issued invoice's PDF, Factur-X and email, and the catch-up of those a worker lost.

Task names are explicit and stable: the beat schedules stored in the database name them.
"""
import logging

from celery import shared_task
from django.conf import settings

from billing.documents.services import credit_note_documents_issue, invoice_documents_issue
from billing.models import CreditNote, Invoice
from billing.selectors import credit_notes_missing_documents, invoices_missing_documents
from core.tasks import RETRIED_TASK_OPTIONS

logger = logging.getLogger(__name__)


class DocumentsIncomplete(Exception):
    """Some documents of a batch failed; the retry redoes only those (the others are already stored)."""


DOCUMENT_TASK_OPTIONS = {
    **RETRIED_TASK_OPTIONS,
    "autoretry_for": (*RETRIED_TASK_OPTIONS["autoretry_for"], DocumentsIncomplete),
}


@shared_task(
    name="billing.tasks.invoicing.invoices_documents_issue_task",
    **DOCUMENT_TASK_OPTIONS, **settings.TASK_TIME_LIMITS["batch"],
)
def invoices_documents_issue_task(*, invoice_ids: list[int]) -> None:
    """Each invoice on its own: one that fails does not hold back the others; the task is retried for it."""
    failed = []
    for invoice in Invoice.objects.filter(pk__in=invoice_ids).order_by("pk"):
        try:
            invoice_documents_issue(invoice=invoice)
        except Exception:  # logged here, retried below; the others go on
            logger.exception("documents of invoice %s failed", invoice.pk)
            failed.append(invoice.pk)
    if failed:
        raise DocumentsIncomplete(f"documents of invoices {failed} failed")


@shared_task(
    name="billing.tasks.invoicing.credit_note_documents_issue_task",
    **DOCUMENT_TASK_OPTIONS, **settings.TASK_TIME_LIMITS["short"],
)
def credit_note_documents_issue_task(*, credit_note_id: int) -> None:
    credit_note_documents_issue(credit_note=CreditNote.objects.get(pk=credit_note_id))


@shared_task(
    name="billing.tasks.sweeps.documents_catch_up_task", **DOCUMENT_TASK_OPTIONS, **settings.TASK_TIME_LIMITS["batch"]
)
def documents_catch_up_task() -> int:
    """Issued invoices and credit notes whose PDF and email were lost with a worker get them now."""
    missing = invoices_missing_documents()
    size = settings.INVOICE_RUN_CHUNK_SIZE  # a backlog in batches that each fit one task's time limit
    for start in range(0, len(missing), size):
        invoices_documents_issue_task.delay(invoice_ids=missing[start : start + size])
    credit_notes = credit_notes_missing_documents()
    for credit_note_id in credit_notes:
        credit_note_documents_issue_task.delay(credit_note_id=credit_note_id)
    return len(missing) + len(credit_notes)
