"""Tests: the real PostgreSQL and Redis of the machine, eager Celery, fast hashing."""
import datetime
import os
import uuid

import time_machine

os.environ.setdefault("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/twinmcp")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
# Each test run keeps its cache keys apart from any other run sharing this Redis.
os.environ.setdefault("CACHE_KEY_PREFIX", f"twinmcp-test-{uuid.uuid4().hex[:8]}")

from .base import *  # noqa: E402,F403
from .base import env  # noqa: E402

DEBUG = False
SECRET_KEY = "django-insecure-test-key"
FIELD_ENCRYPTION_KEY = env.list(
    "FIELD_ENCRYPTION_KEY",
    default=["wcQFNX4ETuY1HPhpa0CFj8nBFGnB-u0uKN1UwzOGAfA=", "wUsPtMS2ppEcyPZ9-JPwrzGU5ftfyJ03UzIi16LVZfI="],
)
AUDIT_LOG_KEYS = env.list("AUDIT_LOG_KEYS", default=["test-audit-log-key-never-used-in-production"])
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A real worker started by a test (billing/tests/test_worker.py) turns these to a broker and files.
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.locmem.EmailBackend")
if env("EMAIL_FILE_PATH", default=""):
    EMAIL_FILE_PATH = env("EMAIL_FILE_PATH")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
# Its broker keys under a prefix of its own, and a short visibility timeout to show a lost worker's redelivery.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    **CELERY_BROKER_TRANSPORT_OPTIONS,  # noqa: F405
    **env.json("CELERY_BROKER_TRANSPORT_OPTIONS", default={}),
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / ".test-media")  # noqa: F405

# Serve static files from the app folders without collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

DEMO_DATA_ALLOWED = env.bool("DEMO_DATA_ALLOWED", default=True)

# No test reaches the real VIES: this port of loopback refuses connections at once (VIES "unavailable"), unless
# a test points VIES_URL to the fake service it starts (accounts/tests/fake_vies.py).
VIES_URL = env("VIES_URL", default="http://127.0.0.1:9/vies")
VIES_TIMEOUT_SECONDS = env.float("VIES_TIMEOUT_SECONDS", default=1)

# The read replica is the primary itself in tests, so that routing to it can be checked. Its reads are off
# but in the router's own tests: on another connection, they would not see a test's uncommitted rows.
if "replica" not in DATABASES:  # noqa: F405
    DATABASES["replica"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}  # noqa: F405
DATABASE_REPLICA_READS = False

# Django's test client logs in without a request, which the login throttle needs; its own tests turn it on.
AXES_ENABLED = False

# `pytest --clock=…` (conftest.py) runs the suite under a shifted clock and passes the shift, in seconds, to the
# processes its tests start (a live server, a Celery worker, `manage.py` commands): each of them imports these
# settings, so the whole run sees one clock. PostgreSQL's own now() is not shifted: the code takes time from
# Python (billing.clock) only.
TEST_CLOCK_OFFSET_VARIABLE = "TWINMCP_TEST_CLOCK_OFFSET"


def clock_shift(seconds: float) -> None:
    """Every clock of this process (datetime, date, time) runs `seconds` ahead of the real one, ticking on."""
    real_now = datetime.datetime.now(datetime.UTC)
    time_machine.travel(real_now + datetime.timedelta(seconds=seconds), tick=True).start()


if env(TEST_CLOCK_OFFSET_VARIABLE, default=""):
    clock_shift(env.float(TEST_CLOCK_OFFSET_VARIABLE))
