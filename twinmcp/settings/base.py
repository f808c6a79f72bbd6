"""Settings shared by every environment; each value comes from the environment (django-environ)."""
import ssl
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

SECRET_KEY = env("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "twinmcp.admin_site.AdminConfig",  # django.contrib.admin with the finance pages
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_prometheus",
    "axes",
    "core",
    "accounts",
    "libraries",
    "webhooks",
    "billing",
    "demo",
    "twinmcp",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "twinmcp.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.AuditContextMiddleware",
    "accounts.middleware.ProfileLanguageMiddleware",
    "accounts.ratelimit.RateLimitHeadersMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "accounts.middleware.ContentSecurityPolicyMiddleware",  # django-csp's, the site's policy built once
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "twinmcp.urls"
WSGI_APPLICATION = "twinmcp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: PostgreSQL through psycopg 3 when DATABASE_URL is set, an embedded SQLite file otherwise.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Query counts and latencies for /metrics: django-prometheus wraps the same backends.
PROMETHEUS_DB_ENGINES = {
    "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
    "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
}
engine = DATABASES["default"]["ENGINE"]
DATABASES["default"]["ENGINE"] = PROMETHEUS_DB_ENGINES.get(engine, engine)
# A read replica for the reads that opt in (twinmcp.db_router.replica_reads), e.g. reports and dashboards.
DATABASE_REPLICA_URL = env("DATABASE_REPLICA_URL", default="")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = env.db_url_config(DATABASE_REPLICA_URL)
    DATABASES["replica"].update(CONN_MAX_AGE=DATABASES["default"].get("CONN_MAX_AGE", 0), TEST={"MIRROR": "default"})
# Off: every read on the primary (e.g. while the replica lags behind), without removing it.
DATABASE_REPLICA_READS = env.bool("DATABASE_REPLICA_READS", default=True)
DATABASE_ROUTERS = ["core.db_router.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache and broker: Redis when REDIS_URL is set; local memory and eager Celery otherwise.
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="twinmcp"),
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 1,
                "SOCKET_TIMEOUT": 1,
                # The product keeps serving, uncached, while Redis is down.
                "IGNORE_EXCEPTIONS": True,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True

# The Redis of REDIS_URL by default; RabbitMQ (amqp://user:password@host:5672/vhost) works as well. Without
# either, tasks run eagerly; they still pass through an in-memory producer, whose URL names a host so that kombu
# does not warn that none was supplied.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "memory://localhost/")
if CELERY_BROKER_URL.startswith("rediss://"):
    # TLS to Redis (e.g. rediss://:password@redis.internal:6380/0): Celery verifies the server's certificate.
    CELERY_BROKER_USE_SSL = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL.startswith("memory://")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Time limits of the tasks, in seconds: at the soft one a task gets SoftTimeLimitExceeded (its transaction
# rolls back), at the hard one the pool kills its process. The broker's visibility timeout follows from them.
INVOICE_RUN_CHUNK_SIZE = 500
# bench/README.md measures 1.4 ms of worker time per subscription of a chunk: 0.1 s each leaves room for a slow
# host and for the wait on the invoice counter behind the chunks of the other workers.
_CHUNK_SECONDS = 30 + INVOICE_RUN_CHUNK_SIZE // 10
TASK_TIME_LIMITS = {
    "invoice_run_chunk": {"soft_time_limit": _CHUNK_SECONDS, "time_limit": _CHUNK_SECONDS + 30},
    # One email, one credit note's documents, and Celery's own tasks (the defaults below).
    "short": {"soft_time_limit": 60, "time_limit": 90},
    # The fan-out, a chunk's documents, the sweeps and purges: batches, each safe to stop and run again.
    "batch": {"soft_time_limit": 540, "time_limit": 600},
}
CELERY_TASK_SOFT_TIME_LIMIT = TASK_TIME_LIMITS["short"]["soft_time_limit"]
CELERY_TASK_TIME_LIMIT = TASK_TIME_LIMITS["short"]["time_limit"]
# The longest a retried task waits for its turn, held unacknowledged by its worker.
TASK_RETRY_BACKOFF_MAX = 120
# Redis hands an unacknowledged task to another worker once it has been out this long: longer than any task
# holds one (retry wait plus hard limit), so a running task never runs twice, and no longer, since it is how
# long the tasks of a worker lost whole (kill -9, host down) wait; every worker looks for them every 10 s.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": max(limits["time_limit"] for limits in TASK_TIME_LIMITS.values())
    + TASK_RETRY_BACKOFF_MAX
    + 60,
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 1,
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Worker processes serve their task counters on this port (plus pid % 100) when set.
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=0)
# Worker metrics have no authentication: loopback only, unless a private network lets the scraper reach them.
WORKER_METRICS_ADDR = env("WORKER_METRICS_ADDR", default="127.0.0.1")
# /metrics answers a scraper sending `Authorization: Bearer <METRICS_TOKEN>`, or a logged-in staff user (only
# staff when empty).
METRICS_TOKEN = env("METRICS_TOKEN", default="")
# Workers and producers sharing one Redis can keep to their own queue (the test worker does).
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="celery")

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses a locked-out account and IP before the password is checked
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling (customer and admin logins alike): 5 failures for an account from an IP lock it for 15 min.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"  # the login forms name the email field "username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_PROXY_COUNT = env.int("AXES_PROXY_COUNT", default=0)

# Self-service sign-up (/account/signup/). Each sign-up POST counts against its client address and against the
# email it names, in windows of AXES_COOLOFF_TIME, like the login's lock-outs; beyond SIGNUP_ATTEMPT_LIMIT it
# answers 429.
SIGNUP_ATTEMPT_LIMIT = env.int("SIGNUP_ATTEMPT_LIMIT", default=5)
# Seconds a confirmation link stays valid (3 days).
SIGNUP_CONFIRM_MAX_AGE = env.int("SIGNUP_CONFIRM_MAX_AGE", default=3 * 24 * 3600)
# The plan a confirmed account is subscribed to, free; with no active plan of that code, none.
SIGNUP_PLAN = env("SIGNUP_PLAN", default="free")
# Called as handler(user=, now=) when an account is confirmed, so that accounts never imports the apps above it.
SIGNUP_CONFIRMED_HANDLERS = ["billing.subscriptions.signup.signup_subscription_create"]

# Content-Security-Policy for every page: our own scripts only; inline style attributes for bars and charts.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/account/login/"
LOGIN_REDIRECT_URL = "/billing/"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Invoice PDFs go to S3 (or MinIO, through AWS_S3_ENDPOINT_URL) when a bucket is named.
AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env("AWS_S3_ENDPOINT_URL", default=None),
            "access_key": env("AWS_ACCESS_KEY_ID", default=None),
            "secret_key": env("AWS_SECRET_ACCESS_KEY", default=None),
            "region_name": env("AWS_S3_REGION_NAME", default=None),
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Every view declares the API key scope each method needs; a method it does not declare is refused.
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.HasRequiredScope"],
    "EXCEPTION_HANDLER": "core.api.api_exception_handler",
    # Every view of the API: requests per minute by plan, per key (billing provides it, accounts labels answers).
    "DEFAULT_THROTTLE_CLASSES": ["billing.metering.throttles.PlanRateThrottle"],
    # JSON too deep for the stack answers 400 naming the field, not 500 (views that pin JSON name this parser too).
    "DEFAULT_PARSER_CLASSES": [
        "accounts.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
}
# The docs API's quota, after the rate of every API view: billing provides it, libraries reads its name from here.
DOCS_API_THROTTLE_CLASSES = ["billing.metering.throttles.PlanQuotaThrottle"]
# What each app above accounts holds about a person, for the GDPR export (accounts.personal_data).
PERSONAL_DATA_PROVIDERS = [
    "billing.customer.personal_data.billing_personal_data", "webhooks.personal_data.webhooks_personal_data",
]
# Called by accounts.services.account_erase, so that accounts never imports the apps above it.
PERSONAL_DATA_ERASERS = [
    # Webhooks first: the erasure's own moves (the subscription cancelled) are sent to nobody.
    "webhooks.personal_data.webhooks_personal_data_erase",
    "billing.customer.personal_data.billing_personal_data_erase", "libraries.personal_data.usage_detach",
]
SPECTACULAR_SETTINGS = {
    "TITLE": "TwinMCP Billing API",
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,  # /api/schema/ describes the API, not itself
    "SERVE_AUTHENTICATION": [],  # public: rate limited per address, like any anonymous caller
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "accounts.ratelimit.rate_limit_schema"],
    # Several models have a `status`: each choice set keeps its own name in the schema.
    "ENUM_NAME_OVERRIDES": {
        "InvoiceKindEnum": "billing.models.InvoiceKind",
        "LineKindEnum": "billing.models.LineKind",
        "InvoiceStatusEnum": "billing.models.InvoiceStatus",
        "PaymentStatusEnum": "billing.models.PaymentStatus",
        "SubscriptionStatusEnum": "billing.models.SubscriptionStatus",
        "WebhookEventTypeEnum": "webhooks.models.WebhookEventType",
    },
}

# Email: SMTP when SMTP_HOST is set, the console otherwise.
SMTP_HOST = env("SMTP_HOST", default="")
if SMTP_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
EMAIL_HOST = SMTP_HOST or "localhost"
EMAIL_PORT = env.int("SMTP_PORT", default=587)
EMAIL_HOST_USER = env("SMTP_USER", default="")
EMAIL_HOST_PASSWORD = env("SMTP_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("SMTP_USE_TLS", default=True)
EMAIL_TIMEOUT = env.int("SMTP_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="TwinMCP Billing <billing@twinmcp.dev>")

# Encryption at rest: a comma-separated list of Fernet keys, newest first.
FIELD_ENCRYPTION_KEY = env.list("FIELD_ENCRYPTION_KEY", default=[])

# Keys signing the audit log's chain (HMAC-SHA256): comma-separated, newest first. The first signs new rows,
# each row names the key that signed it, and the older keys verify the rows they signed.
AUDIT_LOG_KEYS = env.list("AUDIT_LOG_KEYS", default=[])

# `seed_demo` creates users with known passwords: only where explicitly allowed.
DEMO_DATA_ALLOWED = env.bool("DEMO_DATA_ALLOWED", default=False)

# Raw usage logs are deleted after this many days (invoices keep what was billed).
USAGE_RETENTION_DAYS = env.int("USAGE_RETENTION_DAYS", default=400)

# Billing rules.
INVOICE_TAX_RATE = Decimal(env.str("INVOICE_TAX_RATE", default="0.20"))
# Registered for the One-Stop Shop (OSS, Union scheme): EU consumers outside France pay their own member state's
# standard VAT rate (billing/vat_rates.py) instead of INVOICE_TAX_RATE. Off is right only while the seller's
# cross-border sales to EU consumers stay under the EU-wide 10,000 EUR threshold (art. 59 quater of Directive
# 2006/112/EC).
OSS_REGISTERED = env.bool("OSS_REGISTERED", default=False)
INVOICE_DUE_DAYS = env.int("INVOICE_DUE_DAYS", default=30)
# Days past an invoice's due date during which its customer's metered calls are still served, that last day
# included: unpaid after them, the docs API answers 402 `payment_required` (billing.selectors.suspending_invoices).
ACCESS_SUSPEND_AFTER_DAYS = env.int("ACCESS_SUSPEND_AFTER_DAYS", default=14)
# Shared with the payment provider: events posted to /api/billing/payments/webhook/ are signed with it.
PAYMENT_WEBHOOK_SECRET = env("PAYMENT_WEBHOOK_SECRET", default="")
# The largest payment, refund, credit or webhook amount accepted; larger figures are refused as mistakes.
PAYMENT_MAX_AMOUNT = Decimal(env.str("PAYMENT_MAX_AMOUNT", default="1000000.00"))

# Who collects the money: `manual` (customers pay by bank transfer to SELLER_IBAN, finance records payments) or
# `stripe` (cards saved on /billing/payment-method/, through the official SDK). billing.payments.providers.
PAYMENT_PROVIDER = env("PAYMENT_PROVIDER", default="manual")
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
# Empty: Stripe's own API. A Stripe-compatible server otherwise (localstripe in tests and development).
STRIPE_API_BASE = env("STRIPE_API_BASE", default="").rstrip("/")
# Stripe.js, which takes the card in the browser (the card number never reaches this server); localstripe
# serves a shim of it at <its address>/js.stripe.com/v3/.
STRIPE_JS_URL = env("STRIPE_JS_URL", default="https://js.stripe.com/v3/")
# Days after an invoice's issue when a failed charge is tried again, each once.
PAYMENT_RETRY_DAYS = tuple(env.list("PAYMENT_RETRY_DAYS", cast=int, default=[1, 3, 5, 7]))
if PAYMENT_PROVIDER not in ("manual", "stripe"):
    raise ImproperlyConfigured(f"PAYMENT_PROVIDER is {PAYMENT_PROVIDER!r}: use 'manual' or 'stripe'.")
if PAYMENT_PROVIDER == "stripe":
    # Refused at start-up rather than at a customer's first card, or at the first webhook event.
    missing = [name for name in ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET")
               if not globals()[name]]
    if missing:
        raise ImproperlyConfigured(f"PAYMENT_PROVIDER is 'stripe': set {', '.join(missing)}.")
if not PAYMENT_RETRY_DAYS or list(PAYMENT_RETRY_DAYS) != sorted(set(PAYMENT_RETRY_DAYS)) or PAYMENT_RETRY_DAYS[0] < 1:
    raise ImproperlyConfigured(
        f"PAYMENT_RETRY_DAYS is {PAYMENT_RETRY_DAYS}: days after issue, increasing, each 1 or more (e.g. 1,3,5,7)."
    )
INVOICE_CURRENCY = env("INVOICE_CURRENCY", default="EUR")
# Yearly late-payment penalty rate printed on invoices, in percent: the ECB refinancing rate plus 10 points.
LATE_PAYMENT_RATE = Decimal(env.str("LATE_PAYMENT_RATE", default="12.15"))
BILLING_TIME_ZONE = env("BILLING_TIME_ZONE", default="Europe/Paris")
CELERY_TIMEZONE = BILLING_TIME_ZONE

# The seller's identity, printed on every invoice.
SELLER = {
    "name": env("SELLER_NAME", default="TwinMCP SAS"),
    "address": env("SELLER_ADDRESS", default="12 rue de la Paix"),
    "postal_code": env("SELLER_POSTAL_CODE", default="75002"),
    "city": env("SELLER_CITY", default="Paris"),
    "country": env("SELLER_COUNTRY", default="FR"),
    "vat_number": env("SELLER_VAT_NUMBER", default="FR40303265045"),
    "siren": env("SELLER_SIREN", default="303265045"),
    "email": env("SELLER_EMAIL", default="billing@twinmcp.dev"),
    # The account customers pay by bank transfer into, printed with the invoice number as the reference.
    "iban": env("SELLER_IBAN", default="FR7630006000011234567890189"),
    "bic": env("SELLER_BIC", default="AGRIFRPPXXX"),
}
# The seller opted to pay VAT on debits (art. 269-2-c CGI): invoices that charge VAT say so (the French mention
# "Option pour le paiement de la taxe d'après les débits") and their Factur-X has the VAT fall due on issue.
SELLER_VAT_ON_DEBITS = env.bool("SELLER_VAT_ON_DEBITS", default=False)
# EU VAT numbers are checked with the European Commission's VIES SOAP service when a profile is saved (the
# seller's VAT number as requester, so that VIES returns a consultation reference); a slow answer counts as
# VIES being unavailable: the number is accepted on its format and checked again later.
VIES_URL = env("VIES_URL", default="https://ec.europa.eu/taxation_customs/vies/services/checkVatService")
VIES_TIMEOUT_SECONDS = env.float("VIES_TIMEOUT_SECONDS", default=5)
# The address customers reach the site at: links in emails are built on it.
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

# Webhooks to customers: how long a receiver has to answer, and whether an endpoint may be on this machine
# (http://127.0.0.1:…, for development and tests only: every other private or loopback address is refused).
WEBHOOKS_TIMEOUT_SECONDS = env.float("WEBHOOKS_TIMEOUT_SECONDS", default=10)
WEBHOOKS_ALLOW_LOOPBACK = env.bool("WEBHOOKS_ALLOW_LOOPBACK", default=False)

# One JSON object per line, each with the request id of the request that logged it (LOG_FORMAT=text for people).
LOG_FORMAT = env("LOG_FORMAT", default="json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "twinmcp.logging.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["request_id"], "formatter": LOG_FORMAT},
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # django-axes announces itself at start-up and logs each failure itself; warnings (lock-outs) stay.
    "loggers": {"axes": {"level": "WARNING"}},
}
