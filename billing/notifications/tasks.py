"""Emails on workers: one delivery per task, and the scheduled sends (reminders, alerts, retries of unsent mail).

Task names are explicit and stable: the beat schedules stored in the database name them.
"""
from celery import shared_task
from django.conf import settings

from billing.notifications.emails import EmailDeliveryFailed, email_deliver
from billing.notifications.scheduled import alert_emails_send, payment_reminders_send, unsent_emails_retry
from core.tasks import SWEEP_TASK_OPTIONS


@shared_task(
    name="billing.tasks.emails.email_deliver_task",
    acks_late=True,
    autoretry_for=(EmailDeliveryFailed,),
    retry_backoff=True,
    retry_backoff_max=settings.TASK_RETRY_BACKOFF_MAX,
    max_retries=8,
    **settings.TASK_TIME_LIMITS["short"],
)
def email_deliver_task(*, notification_id: int) -> None:
    email_deliver(notification_id=notification_id)


@shared_task(name="billing.tasks.sweeps.payment_reminders_task", **SWEEP_TASK_OPTIONS)
def payment_reminders_task() -> int:
    return payment_reminders_send()


@shared_task(name="billing.tasks.sweeps.alert_emails_task", **SWEEP_TASK_OPTIONS)
def alert_emails_task() -> int:
    return alert_emails_send()


@shared_task(name="billing.tasks.sweeps.unsent_emails_task", **SWEEP_TASK_OPTIONS)
def unsent_emails_task() -> int:
    return unsent_emails_retry()
