import pytest

from tests.helpers import clean_environment, run_manage
from twinmcp.celery import app as celery_app

GOOD_SECRET_KEY = "p7w!x2rk9#f3l0q8v6z1m4n5b7c2d8e9g0h1j2k3l4m5n6o7p8q9r0s1t2u3v4w5"
GOOD_ENCRYPTION_KEY = "wUsPtMS2ppEcyPZ9-JPwrzGU5ftfyJ03UzIi16LVZfI="
GOOD_AUDIT_LOG_KEY = "Jq3v8Zr1Xw6Lb0Nc5Ty2Hs9Pm4Kd7Fg1Ae8Ui3Oo6"


def production_environment(**overrides):
    env = clean_environment(
        DJANGO_SETTINGS_MODULE="twinmcp.settings.production",
        SECRET_KEY=GOOD_SECRET_KEY,
        FIELD_ENCRYPTION_KEY=GOOD_ENCRYPTION_KEY,
        AUDIT_LOG_KEYS=GOOD_AUDIT_LOG_KEY,
        SITE_URL="https://billing.twinmcp.dev",
        ALLOWED_HOSTS="billing.twinmcp.dev",
        DATABASE_URL="postgresql://postgres@127.0.0.1:5432/postgres",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("SECRET_KEY", "SECRET_KEY is not set"),
        ("FIELD_ENCRYPTION_KEY", "FIELD_ENCRYPTION_KEY is not set"),
        ("AUDIT_LOG_KEYS", "AUDIT_LOG_KEYS is not set"),
        ("SITE_URL", "SITE_URL must be the site's public https:// address"),
    ],
)
def test_production_refuses_to_start_without_its_secrets(missing, message):
    result = run_manage("check", env=production_environment(**{missing: None}))

    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.slow
def test_production_refuses_a_short_audit_log_key():
    result = run_manage("check", env=production_environment(AUDIT_LOG_KEYS=f"{GOOD_AUDIT_LOG_KEY},too-short"))

    assert result.returncode != 0
    assert "AUDIT_LOG_KEYS: every key must be at least 32 characters long" in result.stderr


@pytest.mark.slow
def test_deploy_check_is_clean_with_production_settings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=production_environment())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.slow
def test_a_tls_redis_url_with_a_password_configures_cache_and_broker():
    env = production_environment(REDIS_URL="rediss://:s3cret@redis.internal:6380/0")
    code = (
        "from django.conf import settings; import ssl; "
        "print('OUT', settings.CACHES['default']['LOCATION']); "
        "print('OUT', settings.CELERY_BROKER_URL); "
        "print('OUT', settings.CELERY_BROKER_USE_SSL['ssl_cert_reqs'] == ssl.CERT_REQUIRED); "
        "from twinmcp.celery import app; print('OUT', app.connection_for_write().transport_cls)"
    )

    result = run_manage("shell", "-v", "0", "-c", code, env=env)

    assert result.returncode == 0, result.stderr
    assert [line.split()[1] for line in result.stdout.splitlines() if line.startswith("OUT ")] == [
        "rediss://:s3cret@redis.internal:6380/0", "rediss://:s3cret@redis.internal:6380/0", "True", "rediss",
    ]


@pytest.mark.slow
def test_sslmode_in_the_database_url_reaches_the_driver():
    env = production_environment(DATABASE_URL="postgresql://billing:pw@db.internal:5432/twinmcp?sslmode=verify-full")

    code = "from django.conf import settings; print(settings.DATABASES['default'])"
    result = run_manage("shell", "-v", "0", "-c", code, env=env)

    assert result.returncode == 0, result.stderr
    assert "'sslmode': 'verify-full'" in result.stdout


class TestBrokerVisibilityTimeout:
    """Redis gives a task its worker has not acknowledged to another worker once the visibility timeout has
    passed since delivery: shorter than a task can take, a running task (an invoice-run chunk) runs twice."""

    def test_it_outlasts_whatever_any_registered_task_holds_a_delivery(self):
        celery_app.loader.import_default_modules()  # every app's tasks, as a worker registers them
        visibility_timeout = celery_app.conf.broker_transport_options["visibility_timeout"]

        for name, task in celery_app.tasks.items():
            assert task.soft_time_limit and task.time_limit, f"{name} has no time limits"
            assert task.soft_time_limit < task.time_limit, name
            # A task retrying by itself waits for its turn on the worker, its new message unacknowledged.
            retry_wait = 0
            if getattr(task, "autoretry_for", ()):
                backoff = getattr(task, "retry_backoff", False)
                retry_wait = getattr(task, "retry_backoff_max", 600) if backoff else task.default_retry_delay
            assert task.time_limit + retry_wait < visibility_timeout, name

    def test_it_is_far_shorter_than_redis_default_hour(self):
        assert celery_app.conf.broker_transport_options["visibility_timeout"] <= 15 * 60
        # Every worker looks for the tasks of lost workers every 10 s (and when it starts).
        assert celery_app.conf.broker_transport_options["unacked_restore_interval"] == 10
        assert celery_app.conf.broker_transport_options["unacked_restore_throttle"] == 1

    def test_a_lost_pool_process_has_its_task_requeued_at_once(self):
        assert celery_app.conf.task_acks_late and celery_app.conf.task_reject_on_worker_lost
        celery_app.loader.import_default_modules()
        chunk = celery_app.tasks["billing.tasks.invoicing.invoice_run_chunk_task"]
        assert chunk.acks_late and chunk.reject_on_worker_lost
