"""Requests per second and latency of the API under wrk on loopback, against a bare DRF endpoint (the ceiling).

In a database of its own (created, migrated and dropped by the benchmark): background customers (COPY), and one
customer whose subscription started 50 months ago and was invoiced by the real monthly run each month since
(`billing.invoicing.invoice_run`: 50 issued invoices), with a `docs:read` API key; 20 libraries of 200
documentation chunks each. The customer's plan allows 10,000,000 requests per minute and 10^15 tokens, overage
billed (no hard cap, no spend cap), so that the docs API's plan throttles count every call but refuse none.

The WSGI application runs under gunicorn (sync workers, as the image runs it) on 127.0.0.1 with real PostgreSQL
and Redis. wrk (`apt-get install wrk`) drives each endpoint with 8 connections: 2 seconds of warm-up, then the
measured run (10 seconds by default):

- ceiling: `/bench/bare/`, an APIView with no authentication, permission or throttle, behind the same middleware
  (only the benchmark's URLconf has it);
- invoices: `/api/billing/invoices/` as a client calls it again and again: the page comes from the customer's
  cache (Redis) after the first call;
- invoices_uncached: the same with a query parameter that changes on every request (the filters ignore it), so
  that every call misses the cache and reads and serialises the page;
- docs: `/api/libraries/<slug>/docs/?topic=routing&tokens=1000`: full-text search of the chunks, one usage log
  written per call, plan throttles in Redis.

Each endpoint's `ratio` is its requests per second over the ceiling's (`docs_ratio`, …).

`--layers` measures instead, in this process and without a server or wrk, where each call's time goes: each
middleware, authentication, throttles, serialization, rendering, SQL and Redis, in µs per call (`bench._layers`),
for the same endpoints and MCP's `tools/call`.
"""
import argparse
import datetime
import os
import shutil
from contextlib import contextmanager

from bench import progress
from bench._common import (
    CONNECTIONS,
    WARMUP_SECONDS,
    bench_database,
    gunicorn_server,
    json_answer,
    wrk_measure,
    wrk_script,
)

INVOICES = 50
DOCS_LIBRARY = "bench/lib-1"
DOCS_QUERY = "topic=routing&tokens=1000"

def add_arguments(parser: argparse.ArgumentParser, *, customers: int = 10_000) -> None:
    parser.add_argument("--duration", type=int, default=10, help="seconds measured per endpoint (default 10)")
    parser.add_argument("--connections", type=int, default=CONNECTIONS, help=f"wrk connections (default "
                        f"{CONNECTIONS})")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="gunicorn workers (default: "
                        "one per core)")
    parser.add_argument("--customers", type=int, default=customers,
                        help=f"background customers (default {customers})")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the generated data")
    parser.add_argument("--layers", action="store_true", help="time each layer of a call in this process instead "
                        "(no server, no wrk): µs per call per middleware, authentication, throttle, …")
    parser.add_argument("--calls", type=int, default=500, help="calls per endpoint measured by --layers "
                        "(default 500)")
    parser.add_argument("--profile", metavar="FOLDER", help="with --layers: the same calls again under cProfile, "
                        "one FOLDER/<endpoint>.prof each")


def customer_with_invoices():
    """A customer invoiced by the real monthly run for each of the last 50 months, each invoice paid by transfer
    ten days after its issue (an unpaid one would suspend the docs API), and their API key."""
    from accounts.models import User, UserProfile
    from accounts.services import api_key_create
    from billing import clock
    from billing.models import Plan
    from billing.periods import add_months, local_date, start_of_day
    from billing.services import invoice_run, payment_record, subscription_create

    plan = Plan.objects.create(
        code="bench-unlimited", name="Bench unlimited", price="49.00", included_tokens=10**15,
        overage_price_per_million="1.00", requests_per_minute=10_000_000,
    )
    user = User.objects.create_user("api-customer@bench.example")
    UserProfile.objects.create(user=user, full_name="Camille Martin", company_name="Atelier Numérique SARL",
                               address_line1="10 rue de Rivoli", postal_code="75001", city="Paris", country="FR",
                               vat_number="FR44732829320", siren="732829320", language="fr")
    this_month = local_date(clock.now()).replace(day=1)
    first = add_months(this_month, -INVOICES)
    subscription_create(user=user, plan=plan, now=start_of_day(first) + datetime.timedelta(hours=10))
    for month in range(1, INVOICES + 1):
        period_end = add_months(first, month)
        invoice_run(period_end=period_end, customer=user, issue_documents=False,
                    now=start_of_day(period_end) + datetime.timedelta(hours=6))
    issued = user.invoices.exclude(number=None).count()
    if issued != INVOICES:
        raise AssertionError(f"{issued} invoices issued, {INVOICES} expected")
    for invoice in user.invoices.exclude(number=None).filter(amount_due__gt=0):
        payment_record(invoice=invoice, amount=invoice.amount_due, idempotency_key=f"bench:{invoice.pk}",
                       now=start_of_day(invoice.issue_date) + datetime.timedelta(days=10, hours=9))
    token = api_key_create(user=user, name="bench", scopes=["billing:read", "docs:read"]).token
    progress(f"customer with {issued} invoices issued by the monthly run and paid, {first:%Y-%m} to "
             f"{add_months(this_month, -1):%Y-%m}")
    return token


@contextmanager
def docs_world(args: argparse.Namespace, *, name: str):
    """The world above in a bench database of its own: yields the customer's token."""
    with bench_database(name):
        from bench._data import customers_load, libraries_create, plans_create
        from billing import clock
        from billing.periods import local_date, period_containing

        month = period_containing(local_date(clock.now()))
        customers_load(count=args.customers, seed=args.seed, plans=plans_create(), period_start=month.start,
                       period_end=month.end)
        libraries_create(count=20, chunks_per_library=200)
        yield customer_with_invoices()


@contextmanager
def docs_served(args: argparse.Namespace, *, name: str):
    """The world above served by gunicorn: yields the server, the customer's token and wrk's script."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    with docs_world(args, name=name) as token, wrk_script() as script, gunicorn_server(workers=args.workers) as server:
        yield server, token, script


def layers_run(args: argparse.Namespace) -> dict:
    """µs per call of each layer, in this process, for each endpoint of the run and MCP's tools/call."""
    from bench._layers import CPU, WHOLE, Call, measure, table
    from bench.mcp import MCP_CALL, MCP_HEADERS

    with docs_world(args, name="api") as token:
        key = {"Authorization": f"Bearer {token}"}
        calls = {
            "ceiling": Call("GET", "/bench/bare/"),
            "invoices": Call("GET", "/api/billing/invoices/", "page=1", headers=key),
            "invoices_uncached": Call("GET", "/api/billing/invoices/", "page=1", headers=key, unique=True),
            "docs": Call("GET", f"/api/libraries/{DOCS_LIBRARY}/docs/", DOCS_QUERY, headers=key),
            "mcp": Call("POST", "/mcp", body=MCP_CALL.encode(), headers={**key, **MCP_HEADERS}),
        }
        figures = measure(calls, count=args.calls, profile_folder=args.profile)
    progress("µs per call, inclusive (own) ×times per call:\n" + table(figures))
    ceiling, ceiling_cpu = figures["ceiling"][WHOLE]["us"], figures["ceiling"][CPU]["us"]
    return {
        "layers": True,
        "calls": args.calls,
        **{f"{name}_us": lines[WHOLE]["us"] for name, lines in figures.items()},
        **{f"{name}_cpu_us": lines[CPU]["us"] for name, lines in figures.items()},
        # The calls one process makes one after the other, over the ceiling's: by the clock, then by its own CPU.
        **{f"{name}_ratio": round(ceiling / lines[WHOLE]["us"], 3) for name, lines in figures.items()
           if name != "ceiling"},
        **{f"{name}_cpu_ratio": round(ceiling_cpu / lines[CPU]["us"], 3) for name, lines in figures.items()
           if name != "ceiling"},
        "per_layer_us": figures,
    }


def run(args: argparse.Namespace) -> dict:
    if args.layers:
        return layers_run(args)
    with docs_served(args, name="api") as (server, token, script):
        ceiling_url = f"{server.url}/bench/bare/"
        invoices_url = f"{server.url}/api/billing/invoices/"
        docs_url = f"{server.url}/api/libraries/{DOCS_LIBRARY}/docs/?{DOCS_QUERY}"
        page = json_answer(invoices_url, token=token)
        answer = json_answer(docs_url, token=token)
        progress(f"invoices: {page['count']} in all, {len(page['results'])} on the first page; docs: "
                 f"{len(answer['chunks'])} chunks, {answer['tokens']} tokens")
        progress(f"wrk: {args.threads} threads, {args.connections} connections, {WARMUP_SECONDS}s warm-up, "
                 f"{args.duration}s measured per endpoint")
        endpoints = {
            "ceiling": wrk_measure("ceiling /bench/bare/", ceiling_url, token=None, args=args, script=script),
            "invoices": wrk_measure("/api/billing/invoices/", invoices_url + "?page=1", token=token, args=args,
                                    script=script),
            "invoices_uncached": wrk_measure("/api/billing/invoices/ (cache missed)", invoices_url + "?page=1",
                                             token=token, args=args, script=script, unique=True),
            "docs": wrk_measure(f"/api/libraries/{DOCS_LIBRARY}/docs/", docs_url, token=token, args=args,
                                script=script),
        }
    ceiling_rps = endpoints["ceiling"]["rps"]
    return {
        "connections": args.connections,
        "workers": args.workers,
        "duration_seconds": args.duration,
        "ceiling_rps": ceiling_rps,
        **{f"{name}_ratio": round(figures["rps"] / ceiling_rps, 3) for name, figures in endpoints.items()
           if name != "ceiling"},
        **{name: figures for name, figures in endpoints.items() if name != "ceiling"},
        "ceiling": endpoints["ceiling"],
        "server_peak_rss_mb": server.peak_rss_mb,
    }
