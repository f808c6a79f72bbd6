"""A server process, web or worker, moves the loaded application out of the cyclic collector's sight (core.gc)."""
import subprocess
import sys

import pytest

from tests.helpers import PROJECT_ROOT, clean_environment


@pytest.mark.parametrize("module", ["twinmcp.wsgi", "twinmcp.asgi"])
def test_the_loaded_application_is_frozen_out_of_the_collector(module):
    probe = f"import gc, {module}; print(gc.get_freeze_count())"
    env = clean_environment(DJANGO_SETTINGS_MODULE="twinmcp.settings.test")

    result = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                            timeout=120)

    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) > 10_000  # Django and the project's modules, not a handful of objects


def test_a_worker_pool_process_freezes_the_application_once_forked():
    # What Celery's prefork pool does in each new pool process, once the worker loaded the application and its tasks.
    probe = (
        "import gc, django; from celery import signals; from twinmcp.celery import app; django.setup(); "
        "app.loader.import_default_modules(); before = gc.get_freeze_count(); "
        "signals.worker_process_init.send(sender=None); print(before, gc.get_freeze_count())"
    )
    env = clean_environment(DJANGO_SETTINGS_MODULE="twinmcp.settings.test")

    result = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                            timeout=120)

    assert result.returncode == 0, result.stderr
    before, after = map(int, result.stdout.split())
    assert before == 0 and after > 10_000
