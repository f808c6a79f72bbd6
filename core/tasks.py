"""Options the apps' Celery tasks share (the tasks themselves are `shared_task`s: the app lives in twinmcp)."""
from celery.exceptions import SoftTimeLimitExceeded

# A long task that works in short committed batches and skips what is already done runs in slices: at its soft
# time limit it queues itself again at once and goes on, so however much there is to do, no task holds a worker
# (nor its message unacknowledged) past the limits the broker's visibility timeout is computed from.
RESUMABLE_TASK_OPTIONS = {"autoretry_for": (SoftTimeLimitExceeded,), "default_retry_delay": 0, "max_retries": 100}
