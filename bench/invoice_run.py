"""The monthly invoice run against its floor: the service the beat task runs, then the bare grouped usage query.

In a database of its own (created, migrated and dropped by the benchmark): N customers, each with a billing
profile and a subscription whose period is October 2026 (10% on a hard-capped free plan that owes nothing, some
started during the month, changed plan, paused, cancel at its end or hold a credit), and M usage logs in that
month, most from a few heavy customers. Users, profiles, subscriptions and credits are loaded with COPY; the
usage logs with one `INSERT … SELECT FROM generate_series` in PostgreSQL (the equivalent of COPY for rows the
server can generate), the table's indexes rebuilt after the load.

Then `billing.invoicing.invoice_run(period_end=2026-11-01, issue_documents=False)`: the chunks the beat task
hands to workers (`invoice_run_chunk`, 500 subscriptions each), run one after the other in this process:
invoices, lines, numbers, credits, audit trail, cache invalidation and periods rolled; PDFs and emails off.
The floor is `SELECT user_id, sum(tokens) … GROUP BY user_id` over the same rows and window, timed before and
after the run (the best of the two counts), and the ratio is run ÷ floor. The numbers are then checked gapless
and every subscription rolled (or expired), in SQL.
"""
import argparse
import contextlib
import cProfile
import datetime
import io
import os
import pstats
import re
import time
from zoneinfo import ZoneInfo

from bench import progress, rate
from bench._common import bench_database, fetch, raw_connection

PERIOD_START, PERIOD_END = datetime.date(2026, 10, 1), datetime.date(2026, 11, 1)
NEXT_PERIOD_END = datetime.date(2026, 12, 1)
# The beat's run time on the 1st, in BILLING_TIME_ZONE.
RUN_AT = datetime.datetime(2026, 11, 1, 6, 0, tzinfo=ZoneInfo("Europe/Paris"))
FLOOR_SQL = (
    "SELECT user_id, sum(tokens) FROM libraries_usagelog WHERE created_at >= %s AND created_at < %s GROUP BY user_id"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--subscriptions", type=int, default=100_000, help="customers, one subscription each "
                        "(default 100000)")
    parser.add_argument("--usage", type=int, default=10_000_000, help="usage logs in the month (default 10000000)")
    parser.add_argument("--chunk-size", type=int, default=None, help="subscriptions per chunk (default: the "
                        "service's, 500, as the beat task)")
    parser.add_argument("--workers", type=int, default=0, help="run the chunks on a real Celery worker with "
                        "this many processes, fed through Redis by the monthly task as beat starts it (default 0: "
                        "one chunk after the other in this process)")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the generated data")
    parser.add_argument("--breakdown", action="store_true", help="time the run's steps, its SQL and its Redis "
                        "calls (a timer around each call: the run is hardly slower) and add them to the figures")
    parser.add_argument("--profile", metavar="FILE", help="run the invoice run under cProfile, save the stats to "
                        "FILE and print where the time went (slows the run: its seconds are not the figure)")


# (module, attribute, label): the steps of a chunk, timed where the service looks them up.
BREAKDOWN_STEPS = (
    ("billing.invoicing.invoice_run", "subscription_rows", "subscriptions read as rows (plans, history)"),
    ("billing.invoicing.invoice_run", "invoice_drafts", "drafts: usage query and pricing"),
    ("billing.selectors", "usage_tokens_by_window", "  of which the grouped usage query"),
    ("billing.invoicing.invoice_run", "invoices_issue", "invoices_issue (price, credits, numbers, insert)"),
    ("billing.invoicing.invoices", "_new_invoices", "  of which pricing (buyer snapshots taken)"),
    ("billing.invoicing.invoices", "_apply_credits", "  of which credits"),
    ("billing.invoicing.invoices", "_insert_with_lines", "  of which invoices and lines inserted"),
    ("billing.invoicing.invoice_run", "_roll", "_roll (periods, expiries)"),
    ("billing.invoicing.invoice_run", "subscriptions_end", "  of which expiries"),
    ("billing.invoicing.invoice_run", "customer_cache_invalidate", "Redis: customer cache versions (before commit)"),
    ("billing.subscriptions.lifecycle", "customer_cache_invalidate", None),
    ("accounts.services", "audit_log_record_many", "audit trail (hash chain)"),
    ("billing.invoicing.invoice_run", "audit_log_record_many", None),
    ("billing.invoicing.invoices", "audit_log_record_many", None),
)


SQL_TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE)\s+"?(\w+)"?\s*(\()?', re.IGNORECASE)


def sql_table(sql: str) -> str | None:
    """The first table a statement reads or writes: a set-returning function (`unnest(…)`) only when it names none."""
    names = SQL_TABLE.findall(sql)
    tables = [name for name, call in names if not call]
    return (tables or [name for name, _ in names] or [None])[0]


class Breakdown:
    """Inclusive wall time and calls of the steps above, of QuerySet.bulk_update/bulk_create, and of SQL."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.sql: dict[str, float] = {}
        self.sql_calls: dict[str, int] = {}
        self._undo = []

    def _add(self, label: str, seconds: float) -> None:
        self.seconds[label] = self.seconds.get(label, 0.0) + seconds
        self.calls[label] = self.calls.get(label, 0) + 1

    def _wrap(self, owner, name: str, label: str, *, per_model: bool = False) -> None:
        original = getattr(owner, name)
        wrapped = getattr(original, "__bench_wrapped__", original)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return wrapped(*args, **kwargs)
            finally:
                self._add(f"{label} ({args[0].model.__name__})" if per_model else label,
                          time.perf_counter() - started)

        timed.__bench_wrapped__ = wrapped
        setattr(owner, name, timed)
        self._undo.append((owner, name, original))

    def _statement(self, execute, sql, params, many, context):
        kind = sql.split(None, 1)[0].upper() if sql.strip() else "?"
        table = sql_table(sql)
        key = f"{kind} {table}" if table else kind
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = time.perf_counter() - started
            self.sql[key] = self.sql.get(key, 0.0) + elapsed
            self.sql_calls[key] = self.sql_calls.get(key, 0) + 1

    def __enter__(self):
        import importlib

        from django.db import connection
        from django.db.models.query import QuerySet

        labels = {}
        for module, name, label in BREAKDOWN_STEPS:
            owner = importlib.import_module(module)
            label = label or labels[name]
            labels[name] = label
            self._wrap(owner, name, label)
        self._wrap(QuerySet, "bulk_update", "QuerySet.bulk_update", per_model=True)
        self._wrap(QuerySet, "bulk_create", "QuerySet.bulk_create", per_model=True)
        self._sql = connection.execute_wrapper(self._statement)
        self._sql.__enter__()
        return self

    def __exit__(self, *exc):
        self._sql.__exit__(*exc)
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)

    def report(self, total: float) -> dict:
        steps = list(dict.fromkeys(label for _, _, label in BREAKDOWN_STEPS if label))
        bulk = sorted((label for label in self.seconds if label not in steps), key=lambda label: -self.seconds[label])
        lines = [f"{'step':48} {'seconds':>8} {'share':>6} {'calls':>8}"]
        for label in [*steps, *bulk]:
            seconds = self.seconds.get(label, 0.0)
            lines.append(f"{label:48} {seconds:8.2f} {seconds / total:6.1%} {self.calls.get(label, 0):8,}")
        sql_total = sum(self.sql.values())
        lines.append(f"{'SQL, all statements (client-side wall time)':48} {sql_total:8.2f} {sql_total / total:6.1%} "
                     f"{sum(self.sql_calls.values()):8,}")
        for key, seconds in sorted(self.sql.items(), key=lambda item: -item[1])[:10]:
            lines.append(f"{'  ' + key:48} {seconds:8.2f} {seconds / total:6.1%} {self.sql_calls[key]:8,}")
        progress(f"where the {total:.1f}s went (inclusive: an indented step is part of the one above, bulk writes "
                 "and SQL are part of the steps):\n" + "\n".join(lines))
        return {
            "steps": {label: round(seconds, 2) for label, seconds in self.seconds.items()},
            "sql_seconds": round(sql_total, 2),
            "sql_statements": sum(self.sql_calls.values()),
        }


def _buyer_snapshots_make(customers: int, batch: int = 2_000) -> None:
    """The buyer snapshot of each profile loaded, as saving it would have made it (the profiles came by COPY)."""
    from django.contrib.auth import get_user_model

    from billing.invoicing.buyer_snapshots import buyer_snapshots_current

    started = time.perf_counter()
    users = get_user_model().objects.select_related("profile").order_by("pk")
    for first in range(1, customers + 1, batch):
        buyer_snapshots_current(users.filter(pk__gte=first, pk__lt=first + batch))
    progress(f"{customers:,} buyer snapshots made as profile saves make them in {time.perf_counter() - started:.1f}s")


def _floor(start_at, end_at) -> tuple[float, int]:
    """The bare aggregate, rows fetched to the client like the run's; seconds and customers with usage."""
    started = time.perf_counter()
    with raw_connection().cursor() as cursor:
        cursor.execute(FLOOR_SQL, [start_at, end_at])
        rows = cursor.fetchall()
    return time.perf_counter() - started, len(rows)


def _run_on_workers(concurrency: int) -> tuple:
    """The monthly task sent as beat sends it, its chunk tasks run by a real worker: (summary, seconds, peak RSS).

    The clock starts when the task is sent, after the worker is up, and stops when no live subscription is
    left in October; the summary is then read from the invoices.
    """
    from django.db.models import Sum

    from bench._common import celery_workers
    from billing.invoicing.invoice_run import RunSummary
    from billing.invoicing.tasks import monthly_invoice_run_task
    from billing.models import LIVE_SUBSCRIPTION_STATUSES, Invoice, Subscription
    from twinmcp.celery import app

    queue = f"bench-invoice-run-{os.getpid()}"
    app.conf.task_always_eager, app.conf.task_default_queue = False, queue
    with celery_workers(concurrency=concurrency, queue=queue) as workers:
        deadline = time.monotonic() + 60
        while not any(name.startswith(queue) for reply in app.control.ping(timeout=0.5) for name in reply):
            if time.monotonic() > deadline:
                raise RuntimeError("the Celery worker does not answer:\n" + workers.log_tail())
        # A chunk commits whole: once no live subscription is left in October, every chunk has committed.
        remaining = Subscription.objects.filter(current_period_end=PERIOD_END, status__in=LIVE_SUBSCRIPTION_STATUSES)
        started = time.perf_counter()
        monthly_invoice_run_task.apply_async(
            kwargs={"period_end": PERIOD_END.isoformat(), "issue_documents": False}, queue=queue
        )
        progress(f"monthly task sent to {queue}")
        reported = started
        while remaining.exists():
            time.sleep(0.05)
            if time.perf_counter() - reported > 10:
                reported = time.perf_counter()
                progress(f"{remaining.count():,} subscriptions left to bill after {reported - started:.0f}s")
        seconds = time.perf_counter() - started
    issued = Invoice.objects.filter(period_end=PERIOD_END)
    created = issued.count()
    summary = RunSummary(
        created=created,
        nothing_owed=Subscription.objects.count() - created,
        total_billed=issued.aggregate(total=Sum("total"))["total"],
    )
    return summary, seconds, workers.peak_rss_mb


def _check(summary, subscriptions: int) -> dict:
    """Gapless numbers and every period rolled, in SQL; raises when either is not so."""
    [(issued, distinct, highest)] = fetch(
        "SELECT count(*), count(DISTINCT number), coalesce(max(substr(number, 11)::int), 0) FROM billing_invoice "
        "WHERE number LIKE 'TMCP-2026-%'"
    )
    [last_number] = fetch(
        "SELECT coalesce(max(last_number), 0) FROM billing_numbersequence WHERE kind = 'INVOICE' AND year = 2026"
    )[0]
    [(rolled, expired, left)] = fetch(
        "SELECT count(*) FILTER (WHERE current_period_end = %s AND status IN ('ACTIVE', 'PAUSED')), "
        "count(*) FILTER (WHERE status = 'EXPIRED'), count(*) FILTER (WHERE current_period_end = %s "
        "AND status IN ('ACTIVE', 'PAUSED')) FROM billing_subscription",
        [NEXT_PERIOD_END, PERIOD_END],
    )
    [(lines,)] = fetch("SELECT count(*) FROM billing_invoiceline")
    gapless = issued == distinct == highest == last_number == summary.created
    all_rolled = left == 0 and rolled + expired == subscriptions
    if not (gapless and all_rolled):
        raise AssertionError(
            f"invoices issued {issued}, distinct numbers {distinct}, highest {highest}, counter {last_number}, "
            f"created {summary.created}; subscriptions rolled {rolled}, expired {expired}, left unrolled {left} "
            f"of {subscriptions}"
        )
    progress(f"checked: {issued:,} invoices numbered 1 to {highest:,} without a gap ({lines:,} lines); "
             f"{rolled:,} subscriptions rolled to {NEXT_PERIOD_END}, {expired:,} expired, none left")
    return {"lines": lines, "rolled": rolled, "expired": expired, "numbers_gapless": gapless, "all_rolled": all_rolled}


def _print_profile(profiler: cProfile.Profile, path: str) -> None:
    profiler.dump_stats(path)
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(30)
        progress(f"profile by {order} (saved to {path}):\n{out.getvalue()}")


def run(args: argparse.Namespace) -> dict:
    with bench_database("invoice_run"):
        from django.conf import settings

        from bench._data import customers_load, libraries_create, plans_create, usage_load
        from billing.periods import Period
        from billing.services import invoice_run

        chunk_size = args.chunk_size or settings.INVOICE_RUN_CHUNK_SIZE
        month = Period(PERIOD_START, PERIOD_END)
        plans = plans_create()
        libraries_create(count=20)
        loaded = customers_load(count=args.subscriptions, seed=args.seed, plans=plans, period_start=PERIOD_START,
                                period_end=PERIOD_END)
        usage_load(rows=args.usage, customers=args.subscriptions, start_at=month.start_at, end_at=month.end_at,
                   seed=args.seed)
        _buyer_snapshots_make(args.subscriptions)

        floor_before, with_usage = _floor(month.start_at, month.end_at)
        progress(f"floor (before the run): {floor_before:.2f}s for {with_usage:,} customers with usage")
        progress(f"invoice run: {args.subscriptions:,} subscriptions in chunks of {chunk_size}, documents off")
        profiler = cProfile.Profile() if args.profile else None
        with Breakdown() if args.breakdown else contextlib.nullcontext() as breakdown:
            started, cpu_started = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            if args.workers:
                summary, seconds, worker_peak_rss_mb = _run_on_workers(args.workers)
            else:
                summary = invoice_run(period_end=PERIOD_END, now=RUN_AT, chunk_size=chunk_size,
                                      issue_documents=False)
                seconds, worker_peak_rss_mb = time.perf_counter() - started, None
            cpu_seconds = time.process_time() - cpu_started
            if profiler:
                profiler.disable()
        progress(f"invoice run: {summary.created:,} invoices, {summary.nothing_owed:,} owing nothing, "
                 f"{summary.total_billed} EUR billed in {seconds:.1f}s ({rate(summary.created, seconds)}/s)")
        floor_after, _ = _floor(month.start_at, month.end_at)
        progress(f"floor (after the run): {floor_after:.2f}s")
        floor = min(floor_before, floor_after)
        checked = _check(summary, args.subscriptions)
        if profiler:
            _print_profile(profiler, args.profile)
        extra = {"breakdown": breakdown.report(seconds)} if breakdown else {}
        if args.workers:
            extra |= {"workers": args.workers, "worker_peak_rss_mb": worker_peak_rss_mb}
        else:
            # This process's own CPU: the run's Python, whatever else the machine does.
            extra |= {"cpu_seconds": round(cpu_seconds, 2)}
        return {
            "subscriptions": args.subscriptions,
            "usage_rows": args.usage,
            "chunk_size": chunk_size,
            "seconds": round(seconds, 2),
            "floor_seconds": round(floor, 3),
            "ratio": round(seconds / floor, 1) if floor > 0 else None,
            "invoices": summary.created,
            "nothing_owed": summary.nothing_owed,
            "invoices_per_second": rate(summary.created, seconds),
            **checked,
            "cancel_at_period_end": loaded["cancelling"],
            "profiled": bool(profiler),
            **extra,
        }
