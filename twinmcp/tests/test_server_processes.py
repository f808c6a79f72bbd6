"""A server process moves the loaded application out of the cyclic collector's sight (core.gc)."""
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
