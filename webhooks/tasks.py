"""Deliveries on workers: one attempt per task, and the sweep every minute that sends what is due.

Task names are explicit and stable: the beat schedule stored in the database and the services name them.
"""
from celery import shared_task
from django.conf import settings

from core.tasks import RETRIED_TASK_OPTIONS, SWEEP_TASK_OPTIONS

from .services import webhook_deliveries_due_send, webhook_delivery_send


@shared_task(name="webhooks.tasks.webhook_delivery_send_task", **RETRIED_TASK_OPTIONS,
             **settings.TASK_TIME_LIMITS["short"])
def webhook_delivery_send_task(*, delivery_id: int) -> None:
    webhook_delivery_send(delivery_id=delivery_id)


@shared_task(name="webhooks.tasks.webhook_deliveries_due_task", **SWEEP_TASK_OPTIONS)
def webhook_deliveries_due_task() -> int:
    return webhook_deliveries_due_send()
