from celery import shared_task
from django.conf import settings

from core.tasks import RESUMABLE_TASK_OPTIONS, SWEEP_TASK_OPTIONS

from .services import encryption_keys_rotate, sessions_purge, vat_numbers_recheck


@shared_task(acks_late=True, **RESUMABLE_TASK_OPTIONS, **settings.TASK_TIME_LIMITS["batch"])
def encryption_keys_rotate_task() -> int:
    return encryption_keys_rotate().rotated


@shared_task(acks_late=True, **settings.TASK_TIME_LIMITS["batch"])
def sessions_purge_task() -> int:
    return sessions_purge()


# The beat schedule stored in the database (migration 0008) names it.
@shared_task(name="accounts.tasks.vat_numbers_recheck_task", **SWEEP_TASK_OPTIONS)
def vat_numbers_recheck_task() -> int:
    return vat_numbers_recheck()
