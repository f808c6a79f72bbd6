from celery import shared_task
from django.conf import settings

from core.tasks import RESUMABLE_TASK_OPTIONS

from .partitions import usage_partitions_ensure
from .services import usage_logs_purge


@shared_task(acks_late=True, **RESUMABLE_TASK_OPTIONS, **settings.TASK_TIME_LIMITS["batch"])
def usage_logs_purge_task() -> int:
    return usage_logs_purge()


@shared_task(acks_late=True, **settings.TASK_TIME_LIMITS["batch"])
def usage_partitions_ensure_task() -> list[str]:
    """Daily: the usage log partitions of this billing month and the next ones exist before they are needed."""
    return usage_partitions_ensure()
