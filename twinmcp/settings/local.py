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
