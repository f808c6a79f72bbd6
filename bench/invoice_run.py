"""The monthly invoice run against its floor: the service the beat task runs, then the bare grouped usage query.

In a database of its own (created, migrated and dropped by the benchmark): N customers, each with a billing
profile and a subscription whose period is October 2026 (10% on a hard-capped free plan that owes nothing, some
started during the month, changed plan, paused, cancel at its end or hold a credit), and M usage logs in that
month, most from a few heavy customers. Users, profiles, subscriptions and credits are loaded with COPY; the
usage logs with one `INSERT … SELECT FROM generate_series` in PostgreSQL (the equivalent of COPY for rows the
server can generate), the table's indexes rebuilt after the load.

Then `billing.services.invoice_run(period_end=2026-11-01, issue_documents=False)`: the chunks the beat task
hands to workers (`invoice_run_chunk`, 500 subscriptions each), run one after the other in this process:
invoices, lines, numbers, credits, audit trail, cache invalidation and periods rolled; PDFs and emails off.
The floor is `SELECT user_id, sum(tokens) … GROUP BY user_id` over the same rows and window, timed before and
after the run (the best of the two counts), and the ratio is run ÷ floor. The numbers are then checked gapless
and every subscription rolled (or expired), in SQL.
"""
import argparse
import cProfile
import datetime
import io
import pstats
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
    parser.add_argument("--seed", type=int, default=2026, help="seed of the generated data")
    parser.add_argument("--profile", metavar="FILE", help="run the invoice run under cProfile, save the stats to "
                        "FILE and print where the time went (slows the run: its seconds are not the figure)")


def _floor(start_at, end_at) -> tuple[float, int]:
    """The bare aggregate, rows fetched to the client like the run's; seconds and customers with usage."""
    started = time.perf_counter()
    with raw_connection().cursor() as cursor:
        cursor.execute(FLOOR_SQL, [start_at, end_at])
        rows = cursor.fetchall()
    return time.perf_counter() - started, len(rows)


def _check(summary, subscriptions: int) -> dict:
    """Gapless numbers and every period rolled, in SQL; raises when either is not so."""
    [(issued, distinct, highest)] = fetch(
        "SELECT count(*), count(DISTINCT number), coalesce(max(substr(number, 11)::int), 0) FROM billing_invoice "
        "WHERE number LIKE 'TMCP-2026-%%'"
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
        from bench._data import customers_load, libraries_create, plans_create, usage_load
        from billing.periods import Period
        from billing.services import invoice_run
        from billing.services.invoice_run import DEFAULT_CHUNK_SIZE

        chunk_size = args.chunk_size or DEFAULT_CHUNK_SIZE
        month = Period(PERIOD_START, PERIOD_END)
        plans = plans_create()
        libraries_create(count=20)
        loaded = customers_load(count=args.subscriptions, seed=args.seed, plans=plans, period_start=PERIOD_START,
                                period_end=PERIOD_END)
        usage_load(rows=args.usage, customers=args.subscriptions, start_at=month.start_at, end_at=month.end_at,
                   seed=args.seed)

        floor_before, with_usage = _floor(month.start_at, month.end_at)
        progress(f"floor (before the run): {floor_before:.2f}s for {with_usage:,} customers with usage")
        progress(f"invoice run: {args.subscriptions:,} subscriptions in chunks of {chunk_size}, documents off")
        profiler = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        summary = invoice_run(period_end=PERIOD_END, now=RUN_AT, chunk_size=chunk_size, issue_documents=False)
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - started
        progress(f"invoice run: {summary.created:,} invoices, {summary.nothing_owed:,} owing nothing, "
                 f"{summary.total_billed} EUR billed in {seconds:.1f}s ({rate(summary.created, seconds)}/s)")
        floor_after, _ = _floor(month.start_at, month.end_at)
        progress(f"floor (after the run): {floor_after:.2f}s")
        floor = min(floor_before, floor_after)
        checked = _check(summary, args.subscriptions)
        if profiler:
            _print_profile(profiler, args.profile)
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
        }
