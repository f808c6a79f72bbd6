from celery import shared_task

from billing.services.emails import EmailDeliveryFailed, email_deliver


@shared_task(
    acks_late=True,
    autoretry_for=(EmailDeliveryFailed,),
    retry_backoff=True,
    retry_backoff_max=3600,
    max_retries=8,
    soft_time_limit=60,
    time_limit=90,
)
def email_deliver_task(*, notification_id: int) -> None:
    email_deliver(notification_id=notification_id)
