from celery import shared_task
from django.conf import settings

from billing.services.emails import EmailDeliveryFailed, email_deliver


@shared_task(
    acks_late=True,
    autoretry_for=(EmailDeliveryFailed,),
    retry_backoff=True,
    retry_backoff_max=settings.TASK_RETRY_BACKOFF_MAX,
    max_retries=8,
    **settings.TASK_TIME_LIMITS["short"],
)
def email_deliver_task(*, notification_id: int) -> None:
    email_deliver(notification_id=notification_id)
