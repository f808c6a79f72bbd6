"""What the database and server benchmarks share: a database of their own, bulk loads, a real server.

Private (`_common`): `python -m bench` does not list it as a benchmark.

- `bench_database(name)`: creates `twinmcp_bench_<name>_<random>` on the PostgreSQL server of DATABASE_URL
  (default postgresql://postgres@127.0.0.1:5432), points Django at it (`bench._settings`), migrates it, and
  drops it afterwards, whatever happened (the cache keys of the run go too).
- `copy_rows(...)`: PostgreSQL COPY of rows generated in Python.
- `indexes_dropped(table)`: drops a table's indexes and constraints during a bulk load and rebuilds them
  after, as a restore does, instead of maintaining them row by row.
- `gunicorn_server(...)`: the WSGI application under gunicorn on a free loopback port, stopped afterwards;
  its peak memory is that of its largest process, master or worker (see `peak_rss_of`).
- `wrk_measure(...)`: requests per second and latency of one endpoint under wrk (GET, or POST of a body),
  after a warm-up; `json_answer(...)`: one call before wrk, which only counts statuses.
"""
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench import progress

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SETTINGS_MODULE = "bench._settings"
DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def _database_url(name: str) -> str:
    """DATABASE_URL's server (PostgreSQL only; the default otherwise) with database `name`."""
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        base = DEFAULT_SERVER_URL
    return urlsplit(base)._replace(path=f"/{name}", query="").geturl()


def _terminate_as_exit(signum, frame):
    raise SystemExit(128 + signum)  # so that a benchmark stopped with SIGTERM still drops its database


@contextlib.contextmanager
def bench_database(bench: str) -> Iterator[str]:
    """A new database for this run, migrated, with Django set up on it; dropped on the way out."""
    import psycopg
    from psycopg import sql

    name = f"twinmcp_bench_{bench}_{secrets.token_hex(4)}"
    admin_url, url = _database_url("postgres"), _database_url(name)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    previous_handler = signal.signal(signal.SIGTERM, _terminate_as_exit)
    try:
        os.environ["DATABASE_URL"] = url
        os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
        os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
        os.environ["CACHE_KEY_PREFIX"] = name
        import django
        from django.core.management import call_command

        django.setup()
        started = time.perf_counter()
        call_command("migrate", verbosity=0, interactive=False)
        progress(f"database {name} created and migrated in {time.perf_counter() - started:.1f}s")
        yield url
    finally:
        try:
            from django.core.cache import cache
            from django.db import connections

            with contextlib.suppress(Exception):
                cache.delete_pattern("*")  # this run's keys only: the prefix is the database's name
            connections.close_all()
        finally:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            signal.signal(signal.SIGTERM, previous_handler)
            progress(f"database {name} dropped")


def raw_connection():
    """The psycopg connection under Django's default connection (COPY needs psycopg's own cursor)."""
    from django.db import connection

    connection.ensure_connection()
    return connection.connection


def copy_rows(table: str, columns: Iterable[str], rows: Iterable[tuple]) -> int:
    """COPY `rows` into `table`; returns how many were written."""
    from psycopg import sql

    columns = list(columns)
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    count = 0
    with raw_connection().cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def execute(statement: str, params=None) -> None:
    with raw_connection().cursor() as cursor:
        cursor.execute(statement, params)


def fetch(statement: str, params=None) -> list[tuple]:
    with raw_connection().cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()


@contextlib.contextmanager
def indexes_dropped(table: str) -> Iterator[None]:
    """Drop `table`'s constraints (but NOT NULL and CHECK) and indexes for a bulk load, then rebuild them as
    they were: primary key, unique and foreign keys (validated), then the other indexes; ANALYZE at the end."""
    constraints = fetch(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
        "AND contype IN ('p', 'u', 'f') ORDER BY contype = 'f', conname",
        [table],
    )
    indexes = fetch(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = (quote_ident(i.indexname))::regclass "
        "AND c.conrelid = %s::regclass)",
        [table, table],
    )
    for name, _ in reversed(constraints):
        execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        execute(f'DROP INDEX "{name}"')
    yield
    started = time.perf_counter()
    for name, definition in constraints:
        execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    for _, definition in indexes:
        # A partitioned table's index reads "ON ONLY": rebuilt plainly, it is built on every partition too.
        execute(definition.replace(" ON ONLY ", " ON ", 1))
    execute(f'VACUUM ANALYZE "{table}"')
    progress(f"{table}: {len(constraints)} constraints and {len(indexes)} indexes rebuilt, vacuumed and analyzed "
             f"in {time.perf_counter() - started:.1f}s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    pid: int
    log_path: str
    peak_rss_mb: float | None = None  # the largest of the master's and the workers', read before stopping

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(Path(self.log_path).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _wait_ready(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError(f"the server did not answer {url} within {timeout:.0f}s")


def peak_rss_of(pid: int) -> float | None:
    """The peak resident memory of a running process (VmHWM), in MB; None when it is gone.

    A child cannot report it with getrusage: Linux keeps ru_maxrss across exec, so a process started from the
    benchmark would count the benchmark's own peak; VmHWM belongs to the program the process runs now.
    """
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def children_of(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry.name))
    return children


def _stop(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM: gunicorn stops its workers gracefully; SIGKILL if it has not within `timeout`."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def gunicorn_server(*, workers: int, ready_path: str = "/bench/bare/") -> Iterator[Server]:
    """`gunicorn twinmcp.wsgi:application` (sync workers, as the image runs it) on 127.0.0.1, with the
    benchmark's settings and database; stopped on the way out, its peak memory in `peak_rss_mb`."""
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE, "PYTHONUNBUFFERED": "1"}
    log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log", delete=False)
    command = [
        sys.executable, "-m", "gunicorn", "twinmcp.wsgi:application", "--workers", str(workers),
        "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
    ]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Server(url=f"http://127.0.0.1:{port}", pid=process.pid, log_path=log.name)
    failed = True
    try:
        _wait_ready(server.url + ready_path, process, timeout=60)
        progress(f"gunicorn ({workers} sync workers) serving on {server.url}, pid {process.pid}")
        yield server
        failed = False
    finally:
        peaks = [peak_rss_of(pid) for pid in (process.pid, *children_of(process.pid))]
        server.peak_rss_mb = max((peak for peak in peaks if peak is not None), default=None)
        _stop(process)
        log.close()
        if failed:
            tail = server.log_tail()
            if tail:
                progress("last lines of the server's log:\n" + tail)
        Path(log.name).unlink(missing_ok=True)


@contextlib.contextmanager
def celery_workers(*, concurrency: int, queue: str) -> Iterator[Server]:
    """`celery -A twinmcp worker --concurrency N` (prefork, as the image runs it) on the Redis broker, with the
    benchmark's settings and database, consuming `queue` only and running tasks for real (not eagerly); stopped
    on the way out (warm shutdown), its peak memory in `peak_rss_mb` (the largest of the master and children)."""
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE, "PYTHONUNBUFFERED": "1",
        "CELERY_TASK_ALWAYS_EAGER": "false", "CELERY_TASK_DEFAULT_QUEUE": queue,
    }
    log = tempfile.NamedTemporaryFile(prefix="bench-celery-", suffix=".log", delete=False)
    command = [
        sys.executable, "-m", "celery", "-A", "twinmcp", "worker", "--concurrency", str(concurrency),
        "-Q", queue, "-n", f"{queue}@%h", "--loglevel", "warning", "--without-gossip", "--without-mingle",
        "--without-heartbeat",
    ]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    workers = Server(url=f"celery://{queue}", pid=process.pid, log_path=log.name)
    try:
        deadline = time.monotonic() + 60
        while len(children_of(process.pid)) < concurrency:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Celery worker did not start:\n" + workers.log_tail())
            time.sleep(0.2)
        progress(f"celery worker ({concurrency} processes) consuming {queue}, pid {process.pid}")
        yield workers
    finally:
        peaks = [peak_rss_of(pid) for pid in (process.pid, *children_of(process.pid))]
        workers.peak_rss_mb = max((peak for peak in peaks if peak is not None), default=None)
        _stop(process, timeout=120)
        log.close()
        Path(log.name).unlink(missing_ok=True)


# --- HTTP load with wrk --------------------------------------------------------------------------------

CONNECTIONS = 8
WARMUP_SECONDS = 2

# Figures of the run as JSON on wrk's last line; a per-thread counter makes a new URL per request when asked, and
# WRK_BODY makes every request a POST of that body.
WRK_SCRIPT = """
local threads = {}
local counter = 0
local unique = os.getenv("WRK_UNIQUE_PARAMETER")
local body = os.getenv("WRK_BODY")
if body then
    wrk.method = "POST"
    wrk.body = body
end

function setup(thread)
    thread:set("id", #threads + 1)
    table.insert(threads, thread)
end

function request()
    if not unique then
        return wrk.format()
    end
    counter = counter + 1
    return wrk.format(nil, wrk.path .. "&" .. unique .. "=" .. id .. "-" .. counter)
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "mean_us": %.1f, ' ..
        '"non_2xx": %d, "socket_errors": %d, "timeouts": %d}\\n',
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
        e.status, e.connect + e.read + e.write, e.timeout))
end
"""


@contextlib.contextmanager
def wrk_script() -> Iterator[str]:
    """The path of WRK_SCRIPT written to a temporary file, for the run."""
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "report.lua"
        script.write_text(WRK_SCRIPT)
        yield str(script)


def _request_headers(token: str | None, headers: dict[str, str] | None) -> dict[str, str]:
    return {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}


def json_answer(url: str, *, token: str | None = None, body: str | None = None,
                headers: dict[str, str] | None = None) -> dict:
    """One call before wrk (GET, or POST of `body`): it must answer 200, since wrk only counts statuses."""
    request = urllib.request.Request(url, data=body.encode() if body is not None else None,
                                     headers=_request_headers(token, headers))
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def _wrk(url: str, *, seconds: int, args, script: str, headers: dict[str, str], unique: bool,
         body: str | None) -> dict:
    command = ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{seconds}s", "--timeout", "10s",
               "-s", script]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    env = {**os.environ}
    env.pop("WRK_UNIQUE_PARAMETER", None)
    env.pop("WRK_BODY", None)
    if unique:
        env["WRK_UNIQUE_PARAMETER"] = "nocache"
    if body is not None:
        env["WRK_BODY"] = body
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True, env=env).stdout
    return json.loads(output.strip().splitlines()[-1])


def wrk_measure(name: str, url: str, *, token: str | None, args, script: str, unique: bool = False,
                body: str | None = None, headers: dict[str, str] | None = None, seconds: int | None = None,
                warm_up: bool = True) -> dict:
    """`seconds` (default `args.duration`) of wrk (`args.threads`, `args.connections`) on `url`, after
    WARMUP_SECONDS unless told not to: requests per second, p50 and p99 in milliseconds. Fails on any error or
    non-2xx answer."""
    options = {"args": args, "script": script, "headers": _request_headers(token, headers), "unique": unique,
               "body": body}
    if warm_up:
        _wrk(url, seconds=WARMUP_SECONDS, **options)
    result = _wrk(url, seconds=seconds or args.duration, **options)
    seconds = result["duration_us"] / 1e6
    figures = {
        "rps": round(result["requests"] / seconds, 1),
        "p50_ms": round(result["p50_us"] / 1000, 2),
        "p99_ms": round(result["p99_us"] / 1000, 2),
        "requests": result["requests"],
        "errors": result["non_2xx"] + result["socket_errors"] + result["timeouts"],
    }
    progress(f"{name}: {figures['rps']:,} req/s, p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms "
             f"({figures['requests']:,} requests, {figures['errors']} errors)")
    if figures["errors"]:
        raise AssertionError(f"{name}: {result}")
    return figures
