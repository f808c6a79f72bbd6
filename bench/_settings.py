"""Settings of the benchmarks that use PostgreSQL, Redis or a server: the base settings as production runs them
(DEBUG off, real PostgreSQL and Redis, the same middleware), with fixed non-secret keys, no HTTPS redirect, the
login throttle off and a URLconf that adds a bare endpoint (`bench._urls`). `bench._common` sets
DATABASE_URL (the benchmark's own database), REDIS_URL and CACHE_KEY_PREFIX before Django reads them.

Private (`_settings`): `python -m bench` does not list it as a benchmark.
"""
from twinmcp.settings.base import *  # noqa: F403
from twinmcp.settings.base import env

DEBUG = False
SECRET_KEY = "bench-not-a-secret"
# The development key of twinmcp.settings.local: the benchmark's data is generated and dropped afterwards.
FIELD_ENCRYPTION_KEY = env.list("FIELD_ENCRYPTION_KEY", default=["wcQFNX4ETuY1HPhpa0CFj8nBFGnB-u0uKN1UwzOGAfA="])
AUDIT_LOG_KEYS = env.list("AUDIT_LOG_KEYS", default=["bench-audit-log-key-not-a-secret"])
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "bench._urls"
AXES_ENABLED = False
SECURE_SSL_REDIRECT = False
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Nothing the benchmarks run queues a task (the invoice run's documents are off); should one, it runs here
# instead of landing on a broker queue that some other worker might serve.
# `invoice_run --workers` turns it off for itself and the Celery workers it starts, on a queue of its own.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
