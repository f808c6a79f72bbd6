"""Work handed to Celery workers, named by task so that services need not import the task modules (which
import the services).

A task is named by its registered name, explicit and stable, e.g. "billing.tasks.emails.email_deliver_task"; the
apps register their task modules when they are ready.
"""
from celery import current_app
from django.db import transaction


def enqueue(task_name: str, **kwargs) -> None:
    """Send the task now: for work on rows that are already committed."""
    current_app.tasks[task_name].delay(**kwargs)


def enqueue_after_commit(task_name: str, *, countdown: float = 0, **kwargs) -> None:
    """Send the task once the current transaction commits (to run `countdown` seconds later); never if it rolls
    back.

    Robust: a broker that is down must neither fail the caller's committed work nor stop the other on-commit
    side effects; what the task had to do stays pending for its catch-up sweep.
    """
    task = current_app.tasks[task_name]  # a wrong name fails in the caller (NotRegistered), not after commit
    transaction.on_commit(lambda: task.apply_async(kwargs=kwargs, countdown=countdown), robust=True)
