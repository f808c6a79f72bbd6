from celery import shared_task

from .services import encryption_keys_rotate, sessions_purge


@shared_task(acks_late=True, soft_time_limit=3300, time_limit=3600)
def encryption_keys_rotate_task() -> int:
    return encryption_keys_rotate().rotated


@shared_task(acks_late=True, soft_time_limit=600, time_limit=900)
def sessions_purge_task() -> int:
    return sessions_purge()
