"""The invoice run on workers, and the daily sweeps: thin tasks, each calling one service that is safe to run again.

Task names are explicit and stable: the beat schedules stored in the database name them.
"""
import datetime

from celery import shared_task
from django.conf import settings
from prometheus_client import Histogram

from billing import clock
from billing.invoicing.invoice_run import invoice_run_chunk
from billing.invoicing.progressive import interim_invoice_issue
from billing.invoicing.sweeps import (
    expiring_subscription_alerts_raise,
    interim_invoices_issue_due,
    invoices_mark_overdue_due,
    subscriptions_expire_due,
    usage_threshold_alerts_raise,
)
from billing.periods import local_date
from billing.selectors import invoice_run_chunks
from billing.subscriptions.trials import trials_sweep
from core.tasks import RETRIED_TASK_OPTIONS, SWEEP_TASK_OPTIONS

# A chunk is one transaction: a worker lost half-way rolls it back, and the redelivered task (acks_late)
# runs it again from the start, so nothing is billed twice and no number is skipped.
CHUNK_SIZE = settings.INVOICE_RUN_CHUNK_SIZE

INVOICE_RUN_SECONDS = Histogram(
    "twinmcp_invoice_run_chunk_seconds",
    "Time to invoice, finalise and roll one chunk of subscriptions.",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)


@shared_task(
    name="billing.tasks.invoicing.invoice_run_chunk_task",
    **RETRIED_TASK_OPTIONS, **settings.TASK_TIME_LIMITS["invoice_run_chunk"],
)
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


@shared_task(name="billing.tasks.invoicing.monthly_invoice_run_task", **SWEEP_TASK_OPTIONS)
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


@shared_task(name="billing.tasks.sweeps.invoices_overdue_task", **SWEEP_TASK_OPTIONS)
def invoices_overdue_task() -> int:
    return invoices_mark_overdue_due()


@shared_task(name="billing.tasks.sweeps.subscriptions_expiring_task", **SWEEP_TASK_OPTIONS)
def subscriptions_expiring_task() -> None:
    expiring_subscription_alerts_raise()


@shared_task(name="billing.tasks.sweeps.subscriptions_expire_task", **SWEEP_TASK_OPTIONS)
def subscriptions_expire_task() -> int:
    return subscriptions_expire_due()


@shared_task(name="billing.tasks.sweeps.usage_thresholds_task", **SWEEP_TASK_OPTIONS)
def usage_thresholds_task() -> None:
    usage_threshold_alerts_raise()


@shared_task(name="billing.tasks.sweeps.trials_sweep_task", **SWEEP_TASK_OPTIONS)
def trials_sweep_task() -> tuple[int, int]:
    return trials_sweep()


@shared_task(name="billing.tasks.invoicing.interim_invoice_check_task", **RETRIED_TASK_OPTIONS)
def interim_invoice_check_task(*, subscription_id: int) -> int | None:
    """Queued by the quota throttle when a customer's usage charge reached their plan's progressive threshold."""
    invoice = interim_invoice_issue(subscription_id=subscription_id, now=clock.now())
    return invoice.pk if invoice else None


@shared_task(name="billing.tasks.invoicing.interim_invoices_sweep_task", **SWEEP_TASK_OPTIONS)
def interim_invoices_sweep_task() -> int:
    return interim_invoices_issue_due()
