# TwinMCP Billing: one image for `web` (gunicorn), `worker` and `beat` (celery).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=twinmcp.settings.production \
    MEDIA_ROOT=/app/media

RUN groupadd --system --gid 10001 twinmcp \
    && useradd --system --uid 10001 --gid twinmcp --home-dir /app --no-create-home --shell /usr/sbin/nologin twinmcp

WORKDIR /app

# Dependencies first, so that a code change does not reinstall them.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# Static files are collected at build time with the production settings. The keys below are dummies that
# exist only for this step: they are not in the image's environment, and production refuses to start
# without real ones.
RUN SECRET_KEY=collectstatic-build-only-not-a-secret \
    FIELD_ENCRYPTION_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    AUDIT_LOG_KEYS=collectstatic-build-only-not-an-audit-log-key \
    SITE_URL=https://collectstatic.invalid \
    python manage.py collectstatic --noinput \
    && mkdir -p /app/media \
    && chown twinmcp:twinmcp /app/media

USER twinmcp

EXPOSE 8000

CMD ["gunicorn", "twinmcp.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
