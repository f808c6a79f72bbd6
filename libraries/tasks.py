from celery import shared_task

from .services import usage_logs_purge


@shared_task(acks_late=True, soft_time_limit=3300, time_limit=3600)
def usage_logs_purge_task() -> int:
    return usage_logs_purge()
