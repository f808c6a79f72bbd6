from celery import shared_task

from .partitions import usage_partitions_ensure
from .services import usage_logs_purge


@shared_task(acks_late=True, soft_time_limit=3300, time_limit=3600)
def usage_logs_purge_task() -> int:
    return usage_logs_purge()


@shared_task(acks_late=True, soft_time_limit=540, time_limit=600)
def usage_partitions_ensure_task() -> list[str]:
    """Daily: the usage log partitions of this billing month and the next ones exist before they are needed."""
    return usage_partitions_ensure()
