"""The invoice run on workers: the monthly task cuts the run in chunks, any worker takes a chunk."""
import datetime
import logging

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from billing import clock
from billing.metrics import INVOICE_RUN_SECONDS
from billing.models import CreditNote, Invoice
from billing.periods import local_date
from billing.selectors import invoice_run_chunks
from billing.services import credit_note_documents_issue, invoice_documents_issue, invoice_run_chunk

# A chunk is one transaction: a worker lost half-way rolls it back, and the redelivered task (acks_late)
# runs it again from the start, so nothing is billed twice and no number is skipped.
CHUNK_SIZE = settings.INVOICE_RUN_CHUNK_SIZE
logger = logging.getLogger(__name__)


class DocumentsIncomplete(Exception):
    """Some documents of a batch failed; the retry redoes only those (the others are already stored)."""


TASK_OPTIONS = {
    "autoretry_for": (OperationalError, InterfaceError, DocumentsIncomplete, OSError),
    "acks_late": True,
    "reject_on_worker_lost": True,
    "retry_backoff": True,
    "retry_backoff_max": settings.TASK_RETRY_BACKOFF_MAX,
    "max_retries": 5,
}


@shared_task(**TASK_OPTIONS, **settings.TASK_TIME_LIMITS["invoice_run_chunk"])
def invoice_run_chunk_task(
    *, subscription_ids: list[int], period_end: str, now: str, issue_documents: bool = True
) -> dict:
    with INVOICE_RUN_SECONDS.time():
        summary = invoice_run_chunk(
            subscription_ids=subscription_ids,
            period_end=datetime.date.fromisoformat(period_end),
            now=datetime.datetime.fromisoformat(now),
            issue_documents=issue_documents,
        )
    return summary.as_dict()


@shared_task(**TASK_OPTIONS, **settings.TASK_TIME_LIMITS["batch"])
def monthly_invoice_run_task(*, period_end: str | None = None, issue_documents: bool = True) -> int:
    """On the 1st: bill every period that ended today (or on `period_end`), one task per chunk.

    `issue_documents=False` bills first and leaves the PDFs and emails to the documents catch-up sweep.
    """
    now = clock.now()
    end = datetime.date.fromisoformat(period_end) if period_end else local_date(now).replace(day=1)
    chunks = invoice_run_chunks(period_end=end, chunk_size=CHUNK_SIZE)
    for chunk in chunks:
        invoice_run_chunk_task.delay(
            subscription_ids=chunk, period_end=end.isoformat(), now=now.isoformat(), issue_documents=issue_documents
        )
    return len(chunks)


@shared_task(**TASK_OPTIONS, **settings.TASK_TIME_LIMITS["batch"])
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


@shared_task(**TASK_OPTIONS, **settings.TASK_TIME_LIMITS["short"])
def credit_note_documents_issue_task(*, credit_note_id: int) -> None:
    credit_note_documents_issue(credit_note=CreditNote.objects.get(pk=credit_note_id))
