"""Options the apps' Celery tasks share (the tasks themselves are `shared_task`s: the app lives in twinmcp)."""
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError

# A task that changes the database in one transaction and is safe to run again: a lost connection, a lost disk
# or a lost worker (late acks) retries it with backoff; the redelivered task redoes what was rolled back.
RETRIED_TASK_OPTIONS = {
    "autoretry_for": (OperationalError, InterfaceError, OSError),
    "acks_late": True,
    "reject_on_worker_lost": True,
    "retry_backoff": True,
    "retry_backoff_max": settings.TASK_RETRY_BACKOFF_MAX,
    "max_retries": 5,
}

# A long task that works in short committed batches and skips what is already done runs in slices: at its soft
# time limit it queues itself again at once and goes on, so however much there is to do, no task holds a worker
# (nor its message unacknowledged) past the limits the broker's visibility timeout is computed from.
RESUMABLE_TASK_OPTIONS = {"autoretry_for": (SoftTimeLimitExceeded,), "default_retry_delay": 0, "max_retries": 100}
# A sweep goes through all that is due in short committed batches, within the batch time limits.
SWEEP_TASK_OPTIONS = {**RETRIED_TASK_OPTIONS, **settings.TASK_TIME_LIMITS["batch"]}
