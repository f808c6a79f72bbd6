"""Celery application: Redis broker, JSON only, late acks, schedules in the database."""
import os

from celery import Celery, signals
from prometheus_client import Counter, start_http_server

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "twinmcp.settings.local")

app = Celery("twinmcp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()  # each app's tasks.py; billing registers its rooms' tasks when it is ready

TASK_OUTCOMES = Counter("twinmcp_celery_tasks", "Celery task outcomes.", ["task", "outcome"])


@signals.task_success.connect
def _count_success(sender=None, **kwargs):
    TASK_OUTCOMES.labels(sender.name, "success").inc()


@signals.task_failure.connect
def _count_failure(sender=None, **kwargs):
    TASK_OUTCOMES.labels(sender.name, "failure").inc()


@signals.task_retry.connect
def _count_retry(sender=None, **kwargs):
    TASK_OUTCOMES.labels(sender.name, "retry").inc()


@signals.worker_process_init.connect
def _freeze_loaded_application(**kwargs):
    """Each pool process, once forked with the application loaded, moves it out of the collector's sight, as the
    web processes do (`core.gc.loaded_application_freeze`): a chunk's collections walk only what the chunk made."""
    from core.gc import loaded_application_freeze

    loaded_application_freeze()


@signals.worker_process_init.connect
def _serve_worker_metrics(**kwargs):
    """Each worker process serves its own task counters when WORKER_METRICS_PORT is set, on WORKER_METRICS_ADDR."""
    from django.conf import settings

    if settings.WORKER_METRICS_PORT:
        start_http_server(settings.WORKER_METRICS_PORT + os.getpid() % 100, addr=settings.WORKER_METRICS_ADDR)
