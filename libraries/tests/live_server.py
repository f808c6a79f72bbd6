"""The application under gunicorn in a subprocess on a free loopback port, on this test session's database: what
a real client (the official MCP SDK, an assistant) talks to. The server runs on the real clock (shifted with
`--clock` like every process the suite starts, through the environment), so its data must be committed
(transactional tests) and dated around today."""
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
START_TIMEOUT = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    """The test database this process uses, for the server to use too."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgresql://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _wait_until_serving(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited ({process.returncode}):\n{log.read_text()[-4000:]}")
        try:
            urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST"), timeout=5)
        except urllib.error.HTTPError as answer:
            if answer.code == 401:  # serving: it asks for a key
                return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"gunicorn did not serve {url} within {START_TIMEOUT}s:\n{log.read_text()[-4000:]}")


@contextmanager
def mcp_serving(django_db_blocker):
    """`gunicorn twinmcp.wsgi:application` (one sync worker, as the image runs it) on the test database; the
    environment carries this run's Redis, cache key prefix and clock shift. Yields the URL of `/mcp`."""
    with django_db_blocker.unblock():
        database_url = _database_url()
    port = _free_port()
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "twinmcp.settings.test", "DATABASE_URL": database_url,
        "PYTHONUNBUFFERED": "1",
    }
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "gunicorn.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "twinmcp.wsgi:application", "--workers", "1",
                 "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
                cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
            )
            url = f"http://127.0.0.1:{port}/mcp"
            try:
                _wait_until_serving(url, process, log)
                yield url
            finally:
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
