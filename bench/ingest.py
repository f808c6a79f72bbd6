"""Usage events ingested per second through POST /api/usage/events/, in batches of 1,000, on a real server.

In a database of its own (created, migrated and dropped by the benchmark): customers (user, profile,
subscription, loaded with COPY), 20 libraries, and the documentation server's account with a `usage:write` API
key made by `accounts.services.api_key_create`. The WSGI application runs under gunicorn (sync workers, as the
image runs it) on 127.0.0.1 with real PostgreSQL and Redis; several client processes, each with its own
connection, POST batches of 1,000 new events (a random customer, library and version, tokens, a timestamp in
the last hour), prepared before the clock starts. One small batch per connection warms the workers up first.

events/s = events accepted ÷ seconds from the start signal to the last answer. Afterwards the rows are counted
in SQL: every event accepted once, none rejected, none a duplicate.

The floor, in the same run and the same tables, before and after the HTTP part (the better of the two, as the
machine's load changes): the same number of events, drawn alike (other event ids), stored as the endpoint stores
them, by COPY from this process: their UsageEventId rows, then their usage logs into `libraries_usagelog` (the
month's partition), in one transaction with the statement trigger told the ids are registered, as the endpoint
tells it. Each block of rows is built before its COPY starts; the clock runs during the COPYs and the commit.
ratio = events/s over HTTP ÷ events/s by COPY.

CPU time too, which the load of other processes on the machine leaves out (from /proc, per 1,000 events): over
HTTP, the gunicorn workers' and their database backends' during the timed part (read every second: Django reopens
a connection older than CONN_MAX_AGE); for COPY, this process's and its backend's during the COPYs and the
commit. cpu_ratio = COPY's ÷ HTTP's.
"""
import argparse
import contextlib
import datetime
import json
import multiprocessing
import os
import queue
import random
import secrets
import statistics
import time

from bench import progress, rate
from bench._common import bench_database, children_of, copy_rows, execute, fetch, gunicorn_server, peak_rss_of

BATCH_SIZE = 1000  # the most the endpoint takes
COPY_BLOCK = 10_000  # rows built at a time for the floor's COPY, so that a million events fit in memory
LIBRARIES = 20
PATH = "/api/usage/events/"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=1_000_000, help="events to send (default 1000000), in "
                        f"batches of {BATCH_SIZE}")
    parser.add_argument("--connections", type=int, default=4, help="client processes, one connection each "
                        "(default 4)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="gunicorn workers (default: "
                        "one per core)")
    parser.add_argument("--customers", type=int, default=10_000, help="customers the events name (default 10000)")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the generated data")


def _events(rng: random.Random, *, run_id: str, number: int, size: int, customers: int) -> list[dict]:
    from bench._data import customer_email

    now = datetime.datetime.now(datetime.UTC)
    events = []
    for k in range(size):
        library = f"bench/lib-{rng.randint(1, LIBRARIES)}"
        events.append({
            "event_id": f"{run_id}-{number}-{k}",
            "customer": customer_email(rng.randint(1, customers)),
            "library": library,
            "version": "1.0.0",
            "endpoint": f"/api/libraries/{library}/docs/",
            "tokens": rng.randint(100, 5000),
            "timestamp": (now - datetime.timedelta(seconds=rng.randint(0, 3600))).isoformat(),
            "status_code": 200,
            "duration_ms": rng.randint(5, 400),
        })
    return events


def _batch(rng: random.Random, *, run_id: str, number: int, size: int, customers: int) -> bytes:
    return json.dumps({"events": _events(rng, run_id=run_id, number=number, size=size, customers=customers)}).encode()


def _cpu_by_pid(pids) -> dict[int, float]:
    """CPU time (user and system) each process used so far, in seconds; none for one that is gone."""
    seconds = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                ticks = sum(map(int, stat.read().rsplit(")", 1)[1].split()[11:13]))  # utime, stime
        except OSError:
            continue
        seconds[pid] = ticks / os.sysconf("SC_CLK_TCK")
    return seconds


class _CpuMeter:
    """CPU time a changing set of processes used since the meter started. Each process seen is read again at
    every sample, so that one that ends (a database connection Django reopens after CONN_MAX_AGE) counts up to
    its last sample, and one that starts counts from its beginning."""

    def __init__(self, pids):
        self.first = _cpu_by_pid(pids)
        self.last = dict(self.first)

    def sample(self, pids) -> None:
        for pid, seconds in _cpu_by_pid(pids).items():
            self.first.setdefault(pid, 0.0)
            self.last[pid] = seconds

    @property
    def seconds(self) -> float:
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


def _copy_floor(*, events: int, run_id: str, customers: int, seed: int) -> tuple[float, float]:
    """Seconds and CPU seconds (this process and its backend) to store `events` new events by COPY, as the
    endpoint stores them (see the module's docstring); checks that they all were."""
    from django.db import transaction

    from libraries.services import INSERT_COLUMNS, REGISTERED_FLAG, USAGE_EVENT_ID_TABLE, USAGE_LOG_TABLE

    users = dict(fetch("SELECT lower(email), id FROM accounts_user"))
    versions = {slug: (library_id, version_id) for slug, library_id, version_id in fetch(
        "SELECT library.slug, library.id, version.id FROM libraries_library library "
        "JOIN libraries_libraryversion version ON version.library_id = library.id AND version.version = '1.0.0'"
    )}
    [(backend,)] = fetch("SELECT pg_backend_pid()")

    def backend_cpu() -> float:
        return sum(_cpu_by_pid([backend]).values())

    rng = random.Random(seed)
    seconds = cpu = 0.0
    with transaction.atomic():
        execute(REGISTERED_FLAG, ["on"])
        for start in range(0, events, COPY_BLOCK):
            block = _events(rng, run_id=run_id, number=start, size=min(COPY_BLOCK, events - start),
                            customers=customers)
            logs = [
                (users[event["customer"]], *versions[event["library"]], event["endpoint"], event["tokens"],
                 event["status_code"], event["duration_ms"], event["event_id"],
                 datetime.datetime.fromisoformat(event["timestamp"]))
                for event in block
            ]
            started, cpu_started = time.perf_counter(), time.process_time() + backend_cpu()
            copy_rows(USAGE_EVENT_ID_TABLE, ("event_id", "created_at"), ((log[7], log[8]) for log in logs))
            copy_rows(USAGE_LOG_TABLE, INSERT_COLUMNS, logs)
            seconds += time.perf_counter() - started
            cpu += time.process_time() + backend_cpu() - cpu_started
        committing, cpu_started = time.perf_counter(), time.process_time() + backend_cpu()
    seconds += time.perf_counter() - committing
    cpu += time.process_time() + backend_cpu() - cpu_started
    [(copied,)] = fetch("SELECT count(*) FROM libraries_usagelog WHERE event_id LIKE %s", [run_id + "-%"])
    if copied != events:
        raise AssertionError(f"COPY floor: {copied} usage logs stored of {events}")
    progress(f"floor: {events:,} events by COPY in {seconds:.2f}s ({rate(events, seconds):,.0f}/s), "
             f"{cpu:.2f} CPU-s")
    return seconds, cpu


def _post(pool, body: bytes, token: str) -> tuple[dict, int]:
    """POST one batch; waits and sends it again when throttled. The answer and how often it was throttled."""
    throttled = 0
    while True:
        answer = pool.request("POST", PATH, body=body, headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {token}",
        })
        if answer.status == 429:
            throttled += 1
            time.sleep(float(answer.headers.get("Retry-After", "1")))
            continue
        if answer.status != 200:
            raise RuntimeError(f"{PATH} answered {answer.status}: {answer.data[:500]!r}")
        return json.loads(answer.data), throttled


def _client(index: int, batches: list[int], args: dict, barrier, results) -> None:
    """One connection: warm up, build its batches, wait for the start, send them one after the other."""
    import urllib3

    try:
        rng = random.Random(args["seed"] * 1000 + index)
        pool = urllib3.HTTPConnectionPool("127.0.0.1", args["port"], maxsize=1, block=True, retries=False,
                                          timeout=120)
        warmup = _batch(rng, run_id=args["run_id"] + "w", number=index, size=10, customers=args["customers"])
        _post(pool, warmup, args["token"])
        bodies = [
            _batch(rng, run_id=args["run_id"], number=number, size=size, customers=args["customers"])
            for number, size in batches
        ]
        barrier.wait()
        accepted = duplicates = rejected = throttled = 0
        latencies = []
        for body in bodies:
            started = time.perf_counter()
            answer, was_throttled = _post(pool, body, args["token"])
            latencies.append(time.perf_counter() - started)
            accepted += answer["accepted"]
            duplicates += answer["duplicates"]
            rejected += len(answer["rejected"])
            throttled += was_throttled
        results.put({
            "index": index, "accepted": accepted, "duplicates": duplicates, "rejected": rejected,
            "throttled": throttled, "latencies": latencies,
            "peak_rss_mb": peak_rss_of(os.getpid()),  # not getrusage: see bench._common.peak_rss_of
        })
    except BaseException as error:
        barrier.abort()
        results.put({"index": index, "error": repr(error)})
        raise


def _backends() -> list[int]:
    """The PostgreSQL backends serving the benchmark's database, but this process's own."""
    return [pid for (pid,) in fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )]


def run(args: argparse.Namespace) -> dict:
    with bench_database("ingest"):
        from accounts.models import User
        from accounts.services import api_key_create
        from bench._data import customers_load, libraries_create, plans_create
        from billing import clock
        from billing.periods import local_date, period_containing

        month = period_containing(local_date(clock.now()))
        customers_load(count=args.customers, seed=args.seed, plans=plans_create(), period_start=month.start,
                       period_end=month.end)
        libraries_create(count=LIBRARIES)
        service = User.objects.create_user("docs-server@bench.example")
        token = api_key_create(user=service, name="documentation server", scopes=["usage:write"]).token
        sizes = [min(BATCH_SIZE, args.events - start) for start in range(0, args.events, BATCH_SIZE)]
        run_id = secrets.token_hex(4)
        floor = {"events": args.events, "customers": args.customers, "seed": args.seed}
        copy_seconds, copy_cpu = _copy_floor(run_id=run_id + "c1", **floor)
        connections = max(1, min(args.connections, len(sizes)))
        shares = [[(n, size) for n, size in enumerate(sizes) if n % connections == c] for c in range(connections)]

        with gunicorn_server(workers=args.workers) as server:
            context = multiprocessing.get_context("spawn")
            barrier, results = context.Barrier(connections + 1), context.Queue()
            client_args = {"port": server.port, "token": token, "run_id": run_id,
                           "customers": args.customers, "seed": args.seed}
            clients = [context.Process(target=_client, args=(c, shares[c], client_args, barrier, results))
                       for c in range(connections)]
            for client in clients:
                client.start()
            progress(f"{connections} clients preparing {len(sizes):,} batches ({args.events:,} events)")
            barrier.wait(timeout=600)
            server_cpu, database_cpu = _CpuMeter(children_of(server.pid)), _CpuMeter(_backends())
            started = time.perf_counter()
            progress("start")
            answers = []
            while len(answers) < len(clients):
                with contextlib.suppress(queue.Empty):
                    answers.append(results.get(timeout=1))
                server_cpu.sample(children_of(server.pid))
                database_cpu.sample(_backends())
                if time.perf_counter() - started > 3600:
                    raise TimeoutError("the clients did not finish within an hour")
            seconds = time.perf_counter() - started
            server_cpu, database_cpu = server_cpu.seconds, database_cpu.seconds
            for client in clients:
                client.join()
            failed = [answer["error"] for answer in answers if "error" in answer]
            if failed:
                raise RuntimeError(f"clients failed: {failed}")
        accepted = sum(answer["accepted"] for answer in answers)
        latencies = sorted(latency for answer in answers for latency in answer["latencies"])
        progress(f"{accepted:,} events accepted in {seconds:.1f}s ({rate(accepted, seconds):,.0f}/s), "
                 f"{len(latencies):,} batches")
        [(stored,)] = fetch("SELECT count(*) FROM libraries_usagelog WHERE event_id LIKE %s", [run_id + "-%"])
        duplicates = sum(answer["duplicates"] for answer in answers)
        rejected = sum(answer["rejected"] for answer in answers)
        if not (accepted == stored == args.events and duplicates == 0 and rejected == 0):
            raise AssertionError(f"sent {args.events}, accepted {accepted}, stored {stored}, duplicates "
                                 f"{duplicates}, rejected {rejected}")
        progress(f"checked: {stored:,} usage logs stored, none rejected or duplicated")
        again, again_cpu = _copy_floor(run_id=run_id + "c2", **floor)
        copy_seconds, copy_cpu = min(copy_seconds, again), min(copy_cpu, again_cpu)
        events_per_second, copy_events_per_second = rate(accepted, seconds), rate(args.events, copy_seconds)
        per_1000 = 1000 * 1000 / args.events  # CPU-seconds for all the events -> CPU-ms per 1,000
        http_cpu_ms, copy_cpu_ms = (server_cpu + database_cpu) * per_1000, copy_cpu * per_1000
        progress(f"HTTP at {events_per_second / copy_events_per_second:.1%} of the better floor "
                 f"({copy_events_per_second:,.0f} events/s); CPU per 1,000 events: {http_cpu_ms:.1f} ms over HTTP "
                 f"({server_cpu * per_1000:.1f} gunicorn, {database_cpu * per_1000:.1f} database), "
                 f"{copy_cpu_ms:.1f} ms by COPY")
        return {
            "events": args.events,
            "batch_size": BATCH_SIZE,
            "connections": connections,
            "workers": args.workers,
            "seconds": round(seconds, 2),
            "events_per_second": events_per_second,
            "copy_seconds": round(copy_seconds, 3),
            "copy_events_per_second": copy_events_per_second,
            "ratio": round(events_per_second / copy_events_per_second, 4),
            "http_cpu_ms_per_1000": round(http_cpu_ms, 1),
            "http_server_cpu_ms_per_1000": round(server_cpu * per_1000, 1),
            "http_database_cpu_ms_per_1000": round(database_cpu * per_1000, 1),
            "copy_cpu_ms_per_1000": round(copy_cpu_ms, 1),
            "cpu_ratio": round(copy_cpu_ms / http_cpu_ms, 4),
            "batches_per_second": rate(len(latencies), seconds),
            "batch_p50_ms": round(statistics.median(latencies) * 1000, 1),
            "batch_p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 1),
            "throttled": sum(answer["throttled"] for answer in answers),
            "server_peak_rss_mb": server.peak_rss_mb,
            "client_peak_rss_mb": max(answer["peak_rss_mb"] for answer in answers),
        }
