"""Where one API call's time goes, layer by layer, in this process: `python -m bench api --layers`.

The WSGI application is called directly, as a gunicorn sync worker calls it (environ in, body read, response
closed), `calls` times per endpoint after a warm-up, so that the figures are the server's own work, without wrk
or sockets (PostgreSQL and Redis answer as they do under load: their round trips are timed too). Timers sit around:

- each middleware of `settings.MIDDLEWARE`: a probe before each one and one below the last (a middleware's own
  time is its probe's span less the next one's);
- Django's URL resolving, the `process_view` hooks and the rendering of DRF's `Response`;
- DRF's steps: its `Request`, content negotiation, authentication (the key's lookup), permissions, throttles
  (each class), the view's handler, the serializers, the pagination, the JSON renderer;
- the view's own work: `docs_serve` (version, chunks and usage row, one statement on PostgreSQL, and its commit;
  quota counter), the customer's cache of the invoice list, MCP's JSON-RPC parse;
- every SQL statement (`connection.execute_wrapper`) and every Redis round trip, under whichever layer ran them,
  and the connection's health check (`CONN_HEALTH_CHECKS`: a `SELECT 1` at a request's first query);
- the CPU time of the process for the whole call (`time.process_time`): the call's time less its waits.

`--profile FOLDER` then makes the same calls again under cProfile, timers off, one `<endpoint>.prof` each.

Layers nest as they ran: each figure is inclusive (its parts beneath it), `own` what its parts leave. Figures are
microseconds per call, the mean over the calls; `n` is how many times a layer ran per call.

Private (`_layers`): `python -m bench` does not list it as a benchmark.
"""
import contextlib
import cProfile
import functools
import importlib
import inspect
import io
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

from bench import progress

# (label, "module:Attribute.path") of everything timed below the middleware. A property is timed by its getter.
TIMED = [
    ("connection health check", "django.db.backends.postgresql.base:DatabaseWrapper.is_usable"),
    ("URL resolving", "django.core.handlers.base:BaseHandler.resolve_request"),
    ("DRF view", "rest_framework.views:APIView.dispatch"),
    ("DRF Request", "rest_framework.views:APIView.initialize_request"),
    ("content negotiation", "rest_framework.views:APIView.perform_content_negotiation"),
    ("authentication", "rest_framework.views:APIView.perform_authentication"),
    ("API key lookup", "accounts.authentication:api_key_authenticate"),
    ("permissions", "rest_framework.views:APIView.check_permissions"),
    ("throttles", "rest_framework.views:APIView.check_throttles"),
    ("rate throttle", "billing.metering.throttles:PlanRateThrottle.allow_request"),
    ("quota throttle", "billing.metering.throttles:PlanQuotaThrottle.allow_request"),
    ("finalize response", "rest_framework.views:APIView.finalize_response"),
    ("DRF rendering", "rest_framework.response:Response.rendered_content"),
    ("JSON renderer", "rest_framework.renderers:JSONRenderer.render"),
    ("serializer validation", "rest_framework.serializers:BaseSerializer.is_valid"),
    ("serialization", "rest_framework.serializers:BaseSerializer.data"),
    ("docs_serve", "libraries.apis:docs_serve"),
    ("docs_serve", "libraries.mcp.tools:docs_serve"),
    # PostgreSQL: the version, its chunks and the usage row are one statement; elsewhere the three steps below.
    ("version, chunks and usage row write (autocommit)", "libraries.services:_docs_served"),
    ("version lookup", "libraries.services:library_version_get"),
    ("chunks", "libraries.services:documentation_chunks_best"),
    ("usage row write (autocommit)", "libraries.services:_usage_log_write"),
    ("quota counter update", "libraries.services:metered_usage_notify"),
    ("customer cache", "billing.customer.apis:customer_cached"),
    ("filters", "rest_framework.generics:GenericAPIView.filter_queryset"),
    ("pagination", "rest_framework.generics:GenericAPIView.paginate_queryset"),
    ("MCP post", "libraries.mcp.views:McpView.post"),
    ("JSON-RPC parse", "libraries.mcp.views:message_read"),
    ("JSON-RPC answer", "libraries.mcp.views:answer"),
]
SQL, REDIS, WHOLE = "SQL", "Redis", "whole call (WSGI)"
CPU = "this process's CPU"  # of the whole call: what is left once PostgreSQL's and Redis's answers are waited out


@dataclass
class Node:
    seconds: float = 0.0
    count: int = 0


@dataclass
class Tracer:
    """Inclusive time per path of labels (the labels running when it started, outermost first)."""

    nodes: dict[tuple[str, ...], Node] = field(default_factory=lambda: defaultdict(Node))
    stack: list[str] = field(default_factory=list)
    cpu_seconds: float = 0.0

    @contextlib.contextmanager
    def span(self, label: str) -> Iterator[None]:
        if self.stack and self.stack[-1] == label:  # a layer calling its own kind (super()): counted once
            yield
            return
        self.stack.append(label)
        node = self.nodes[tuple(self.stack)]  # made on entry: the nodes are in the order the layers began
        started = time.perf_counter()
        try:
            yield
        finally:
            node.seconds += time.perf_counter() - started
            node.count += 1
            self.stack.pop()

    def timed(self, label: str, function: Callable) -> Callable:
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with self.span(label):
                return function(*args, **kwargs)

        return wrapper

    @contextlib.contextmanager
    def cpu(self) -> Iterator[None]:
        """This process's CPU time (no waiting on PostgreSQL or Redis), added to `cpu_seconds`."""
        started = time.process_time()
        try:
            yield
        finally:
            self.cpu_seconds += time.process_time() - started

    def reset(self) -> None:
        self.nodes.clear()
        self.cpu_seconds = 0.0


def _target(path: str) -> tuple[object, str]:
    module_name, _, attributes = path.partition(":")
    owner = importlib.import_module(module_name)
    *parents, name = attributes.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    return owner, name


def _patched(tracer: Tracer, label: str, path: str):
    owner, name = _target(path)
    original = inspect.getattr_static(owner, name)
    if isinstance(original, property):
        replacement = property(tracer.timed(label, original.fget), original.fset, original.fdel)
    elif isinstance(original, staticmethod):
        replacement = staticmethod(tracer.timed(label, original.__func__))
    else:
        replacement = tracer.timed(label, original)
    return mock.patch.object(owner, name, replacement)


class _Probe:
    """Above middleware number `position` (or below the last): the span of everything from there down."""

    tracer: Tracer
    label: str

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with self.tracer.span(self.label):
            return self.get_response(request)


def _probe_path(tracer: Tracer, position: int, label: str) -> str:
    """An importable probe class for `settings.MIDDLEWARE` (Django imports each entry by its dotted path)."""
    name = f"Probe{position}"
    globals()[name] = type(name, (_Probe,), {"tracer": tracer, "label": label})
    return f"{__name__}.{name}"


@contextlib.contextmanager
def instrumented_application(tracer: Tracer) -> Iterator[Callable]:
    """The WSGI application with a probe around every middleware and timers around the layers above."""
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application
    from django.db import connections
    from django.test.utils import override_settings
    from redis.client import Pipeline, Redis

    middleware = list(settings.MIDDLEWARE)
    probed = []
    for position, path in enumerate(middleware):
        probed += [_probe_path(tracer, position, f"middleware {path.rsplit('.', 1)[-1]}"), path]
    probed.append(_probe_path(tracer, len(middleware), "below the middleware"))

    def sql(execute, statement, params, many, context):
        with tracer.span(SQL):
            return execute(statement, params, many, context)

    with contextlib.ExitStack() as stack:
        for label, path in TIMED:
            stack.enter_context(_patched(tracer, label, path))
        stack.enter_context(mock.patch.object(Redis, "execute_command", tracer.timed(REDIS, Redis.execute_command)))
        stack.enter_context(mock.patch.object(Pipeline, "execute", tracer.timed(REDIS, Pipeline.execute)))
        for connection in connections.all():
            stack.enter_context(connection.execute_wrapper(sql))
        stack.enter_context(override_settings(MIDDLEWARE=probed))
        application = get_wsgi_application()
        application._view_middleware = [tracer.timed("process_view hooks", hook)
                                        for hook in application._view_middleware]
        yield application


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: str = ""
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    unique: bool = False  # a query parameter that changes on every call (misses any cache keyed by the URL)


def _environ(call: Call, number: int) -> dict:
    query = f"{call.query}&nocache={number}" if call.unique else call.query
    environ = {
        "REQUEST_METHOD": call.method, "SCRIPT_NAME": "", "PATH_INFO": call.path, "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(call.body),
        "wsgi.errors": io.StringIO(), "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(call.body)),
    }
    for name, value in call.headers.items():
        key = name.upper().replace("-", "_")
        environ[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    return environ


def _call(application, tracer: Tracer, call: Call, number: int) -> None:
    statuses = []
    with tracer.span(WHOLE), tracer.cpu():
        response = application(_environ(call, number), lambda status, headers, *exc: statuses.append(status))
        try:
            b"".join(response)
        finally:
            response.close()
    if not statuses[0].startswith("200"):
        raise AssertionError(f"{call.method} {call.path}?{call.query}: {statuses[0]}")


def measure(calls: dict[str, Call], *, count: int, warm_up: int = 30,
            profile_folder: str | None = None) -> dict[str, dict[str, dict]]:
    """Each endpoint called `count` times (after `warm_up` calls): its layers, µs per call. With `profile_folder`,
    the same calls are then made again under cProfile, without the timers, into `<folder>/<endpoint>.prof`."""
    tracer = Tracer()
    figures = {}
    with instrumented_application(tracer) as application:
        for name, call in calls.items():
            for number in range(warm_up):
                _call(application, tracer, call, -1 - number)
            tracer.reset()
            for number in range(count):
                _call(application, tracer, call, number)
            figures[name] = _layers(tracer.nodes, count=count)
            figures[name][CPU] = {"n": 1.0, "us": round(tracer.cpu_seconds / count * 1e6, 1), "own_us": 0.0}
            progress(f"{name}: {figures[name][WHOLE]['us']:,.0f} µs per call over {count} calls, of which "
                     f"{figures[name][CPU]['us']:,.0f} µs of this process's CPU")
    if profile_folder:
        _profile(calls, count=count, folder=Path(profile_folder))
    return figures


def _profile(calls: dict[str, Call], *, count: int, folder: Path) -> None:
    from django.core.wsgi import get_wsgi_application

    folder.mkdir(parents=True, exist_ok=True)
    application, tracer = get_wsgi_application(), Tracer()
    for name, call in calls.items():
        profiler = cProfile.Profile()
        for number in range(count):
            profiler.runcall(_call, application, tracer, call, count + number)
        profiler.dump_stats(folder / f"{name}.prof")
        progress(f"{name}: cProfile of {count} calls in {folder / f'{name}.prof'}")


def _layers(nodes: dict[tuple[str, ...], Node], *, count: int) -> dict[str, dict]:
    """Each path as one line (middleware flattened to one level), inclusive and own µs per call, in call order."""
    children: dict[tuple[str, ...], float] = defaultdict(float)
    for path, node in nodes.items():
        children[path[:-1]] += node.seconds
    lines = {}
    for path, node in nodes.items():
        shown = [label for label in path if not label.startswith("middleware ")]
        if path[-1].startswith("middleware "):
            shown = [WHOLE, path[-1]]
        key = " / ".join(shown)
        line = lines.setdefault(key, {"n": 0.0, "us": 0.0, "own_us": 0.0})
        line["n"] = round(line["n"] + node.count / count, 2)
        line["us"] = round(line["us"] + node.seconds / count * 1e6, 1)
        line["own_us"] = round(line["own_us"] + (node.seconds - children[path]) / count * 1e6, 1)
    return lines


def _tree_order(rows: list[str]) -> list[str]:
    """`rows` ("a / b / c" paths, in the order each first ran) with every layer's parts right beneath it."""
    parts: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        parts[row.rpartition(" / ")[0]].append(row)

    def below(parent: str) -> list[str]:
        return [line for row in parts[parent] for line in (row, *below(row))]

    return below("")


def table(figures: dict[str, dict[str, dict]]) -> str:
    """One column of µs per call per endpoint (inclusive, own in brackets), one row per layer."""
    names = list(figures)
    rows = _tree_order(list(dict.fromkeys(row for lines in figures.values() for row in lines)))
    width = max(len(row.rsplit(" / ", 1)[-1]) + 2 * row.count(" / ") for row in rows) + 2
    header = "layer".ljust(width) + "".join(f"{name:>26}" for name in names)
    out = [header, "-" * len(header)]
    for row in rows:
        label = "  " * row.count(" / ") + row.rsplit(" / ", 1)[-1]
        cells = []
        for name in names:
            line = figures[name].get(row)
            cells.append(f"{'':>26}" if line is None else
                         f"{line['us']:>10,.0f} ({line['own_us']:>7,.0f}) ×{line['n']:<5g}")
        out.append(label.ljust(width) + "".join(cells))
    return "\n".join(out)
