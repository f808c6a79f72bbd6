from celery import shared_task

from .services import encryption_keys_rotate


@shared_task(acks_late=True, soft_time_limit=3300, time_limit=3600)
def encryption_keys_rotate_task() -> int:
    return encryption_keys_rotate().rotated
