"""Daily and hourly sweeps: thin tasks, each calling one service that is safe to run again."""
from celery import shared_task
from django.conf import settings

from billing.selectors import credit_notes_missing_documents, invoices_missing_documents
from billing.services import (
    expiring_subscription_alerts_raise,
    invoices_mark_overdue_due,
    subscriptions_expire_due,
    usage_threshold_alerts_raise,
)
from billing.services.notifications import alert_emails_send, payment_reminders_send, unsent_emails_retry

from .invoicing import TASK_OPTIONS, credit_note_documents_issue_task, invoices_documents_issue_task


@shared_task(**TASK_OPTIONS, **settings.TASK_TIME_LIMITS["batch"])
def invoices_overdue_task() -> int:
    return invoices_mark_overdue_due()


@shared_task(**TASK_OPTIONS, **settings.TASK_TIME_LIMITS["batch"])
def payment_reminders_task() -> int:
    return payment_reminders_send()


@shared_task(**TASK_OPTIONS, **settings.TASK_TIME_LIMITS["batch"])
def subscriptions_expiring_task() -> None:
    expiring_subscription_alerts_raise()


@shared_task(**TASK_OPTIONS, **settings.TASK_TIME_LIMITS["batch"])
def subscriptions_expire_task() -> int:
    return subscriptions_expire_due()


@shared_task(**TASK_OPTIONS, **settings.TASK_TIME_LIMITS["batch"])
def usage_thresholds_task() -> None:
    usage_threshold_alerts_raise()


@shared_task(**TASK_OPTIONS, **settings.TASK_TIME_LIMITS["batch"])
def alert_emails_task() -> int:
    return alert_emails_send()


@shared_task(**TASK_OPTIONS, **settings.TASK_TIME_LIMITS["batch"])
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


@shared_task(**TASK_OPTIONS, **settings.TASK_TIME_LIMITS["batch"])
def unsent_emails_task() -> int:
    return unsent_emails_retry()
