"""Service checks shared by `/health/` and `manage.py health`."""
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from .celery import app as celery_app


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_cache() -> None:
    # The cache swallows Redis errors so pages keep serving; a write read back is the only honest probe.
    key = f"health:{uuid.uuid4().hex}"
    cache.set(key, "ok", timeout=10)
    if cache.get(key) != "ok":
        raise ConnectionError("cache did not return what was written")
    cache.delete(key)


def _check_broker() -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER and settings.CELERY_BROKER_URL.startswith("memory://"):
        return  # eager mode: tasks run in-process, there is no broker to reach
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)


CHECKS = {"database": _check_database, "cache": _check_cache, "broker": _check_broker}


def check_services() -> dict[str, dict[str, str]]:
    """Each service's status: {"database": {"status": "up"}, "cache": {"status": "down", "error": "…"}, …}."""
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as error:  # any failure of a probe means the service is down
            results[name] = {"status": "down", "error": f"{type(error).__name__}: {error}"[:300]}
        else:
            results[name] = {"status": "up"}
    return results


def services_down(results: dict[str, dict[str, str]]) -> list[str]:
    return [name for name, result in results.items() if result["status"] != "up"]
