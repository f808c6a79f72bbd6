"""Development: `make run`. Works with nothing but Python (SQLite, local-memory cache, eager Celery)."""
from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="django-insecure-local-development-key-never-used-in-production")
# Fixed development keys so that `make run` needs no setup; production refuses to start without its own.
FIELD_ENCRYPTION_KEY = env.list("FIELD_ENCRYPTION_KEY", default=["wcQFNX4ETuY1HPhpa0CFj8nBFGnB-u0uKN1UwzOGAfA="])
AUDIT_LOG_KEYS = env.list("AUDIT_LOG_KEYS", default=["local-development-audit-log-key-never-used-in-production"])

# Serve static files from the app folders without collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

DEMO_DATA_ALLOWED = env.bool("DEMO_DATA_ALLOWED", default=True)
LOG_FORMAT = env("LOG_FORMAT", default="text")
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT  # noqa: F405

# The usage index carries `tokens` for PostgreSQL's index-only sums; SQLite builds it without, as it says.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

# Emails are written as files (one per message) under outbox/ rather than printed, where they would bury the
# output of `seed_demo` and of the server; SMTP_HOST still sends them.
if not SMTP_HOST:  # noqa: F405
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = env.path("EMAIL_FILE_PATH", default=BASE_DIR / "outbox")  # noqa: F405
# An eager task runs inside the request or command that queued it: its "succeeded" line tells nothing more, and
# a task that fails raises in its caller (CELERY_TASK_EAGER_PROPAGATES), which this leaves as it is.
if CELERY_TASK_ALWAYS_EAGER:  # noqa: F405
    LOGGING["loggers"]["celery.app.trace"] = {"level": "WARNING"}  # noqa: F405
