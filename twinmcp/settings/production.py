"""Production: every secret from the environment, HTTPS only."""
from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import AUDIT_LOG_KEYS, FIELD_ENCRYPTION_KEY, SECRET_KEY, SITE_URL, env

DEBUG = env.bool("DEBUG", default=False)

if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY is not set: production refuses to start without its own secret key.")
if not FIELD_ENCRYPTION_KEY:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEY is not set: production refuses to start without a key to encrypt personal data "
        "(a comma-separated list of Fernet keys, newest first)."
    )
if not AUDIT_LOG_KEYS:
    raise ImproperlyConfigured(
        "AUDIT_LOG_KEYS is not set: production refuses to start without a key to sign the audit log "
        "(a comma-separated list of secrets of at least 32 characters, newest first)."
    )
if min(len(key) for key in AUDIT_LOG_KEYS) < 32:
    raise ImproperlyConfigured("AUDIT_LOG_KEYS: every key must be at least 32 characters long (random).")
if not SITE_URL.startswith("https://"):
    raise ImproperlyConfigured(
        "SITE_URL must be the site's public https:// address: every email links to it (now: " + SITE_URL + ")."
    )

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"

STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
