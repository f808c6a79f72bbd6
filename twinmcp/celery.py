"""Celery application: Redis broker, JSON only, late acks, schedules in the database."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "twinmcp.settings.local")

app = Celery("twinmcp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
