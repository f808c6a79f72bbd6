"""MCP tool calls per second and latency on /mcp under wrk, beside the REST docs endpoint and the bare ceiling.

The same database, customer and server as `api` (its own database; the customer with 50 invoices and a `docs:read`
key on a plan that refuses nothing; 20 libraries of 200 chunks; gunicorn, sync workers). wrk drives three
endpoints with 8 connections, 2 seconds of warm-up then the measured run, in the same run so that the ratios
hold whatever the machine:

- ceiling: `/bench/bare/`, a DRF endpoint with no authentication, permission or throttle;
- rest: `GET /api/libraries/bench/lib-1/docs/?topic=routing&tokens=1000`;
- mcp: `POST /mcp` of `tools/call` `get-library-docs` with the same library, topic and budget: the same chunks,
  throttles and usage log (`mcp:get-library-docs`), wrapped in JSON-RPC.

REST and MCP are measured in alternating rounds of 2 seconds (`--duration` in all), so that a machine whose load
changes during the run weighs on both alike: their requests per second are over all their rounds, p50 the median
of their rounds' and p99 the worst. Before wrk, one call of each checks that MCP serves the REST endpoint's
chunks; after, that every MCP call measured was metered. `mcp_over_rest` is MCP's requests per second over REST's,
`rest_ratio` and `mcp_ratio` each one's over the ceiling's. `--layers`: the table of `api --layers`, MCP's call in it.
"""
import argparse
import functools
import json
import statistics

from bench import progress
from bench._common import json_answer, wrk_measure
from bench.api import DOCS_LIBRARY, DOCS_QUERY, docs_served, layers_run
from bench.api import add_arguments as api_arguments

MCP_TOOL = "get-library-docs"
MCP_CALL = json.dumps({
    "jsonrpc": "2.0", "id": 1, "method": "tools/call",
    "params": {"name": MCP_TOOL, "arguments": {
        "context7CompatibleLibraryID": f"/{DOCS_LIBRARY}", "topic": "routing", "tokens": 1000,
    }},
})
ROUND_SECONDS = 2
MCP_HEADERS = {
    "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-11-25",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    api_arguments(parser, customers=1000)


def _same_chunks(rest: dict, mcp: dict) -> None:
    result = mcp["result"]
    if result["isError"]:
        raise AssertionError(f"the MCP call was refused: {result['content'][0]['text']}")
    served = result["structuredContent"]
    if [chunk["title"] for chunk in served["chunks"]] != [chunk["title"] for chunk in rest["chunks"]] or (
        served["tokens"] != rest["tokens"]
    ):
        raise AssertionError(f"MCP served other chunks than REST: {served} against {rest}")


def _interleaved(measures: dict, *, rounds: int, seconds: int) -> dict[str, dict]:
    """Each of `measures` (name: measure(seconds, warm_up)) in turn, `rounds` times, then each one's figures over
    its rounds."""
    parts: dict[str, list[dict]] = {name: [] for name in measures}
    for round_number in range(rounds):
        for name, measure in measures.items():
            parts[name].append(measure(seconds=seconds, warm_up=round_number == 0))
    figures = {}
    for name, rounds_of in parts.items():
        requests = sum(part["requests"] for part in rounds_of)
        figures[name] = {
            "rps": round(requests / sum(part["requests"] / part["rps"] for part in rounds_of), 1),
            "p50_ms": round(statistics.median(part["p50_ms"] for part in rounds_of), 2),
            "p99_ms": max(part["p99_ms"] for part in rounds_of),
            "requests": requests,
            "errors": sum(part["errors"] for part in rounds_of),
            "rounds": len(rounds_of),
        }
        progress(f"{name}: {figures[name]['rps']:,} req/s, p50 {figures[name]['p50_ms']} ms, p99 "
                 f"{figures[name]['p99_ms']} ms over {len(rounds_of)} rounds")
    return figures


def run(args: argparse.Namespace) -> dict:
    if args.layers:  # the same table as `api --layers`, which has MCP's call too
        return layers_run(args)
    with docs_served(args, name="mcp") as (server, token, script):
        from libraries.models import UsageLog

        ceiling_url = f"{server.url}/bench/bare/"
        rest_url = f"{server.url}/api/libraries/{DOCS_LIBRARY}/docs/?{DOCS_QUERY}"
        mcp_url = f"{server.url}/mcp"
        rest = json_answer(rest_url, token=token)
        _same_chunks(rest, json_answer(mcp_url, token=token, body=MCP_CALL, headers=MCP_HEADERS))
        progress(f"MCP {MCP_TOOL} serves the REST endpoint's {len(rest['chunks'])} chunks, {rest['tokens']} tokens")
        seconds = min(ROUND_SECONDS, args.duration)
        rounds = max(1, args.duration // seconds)
        progress(f"wrk: {args.threads} threads, {args.connections} connections, {args.duration}s measured per "
                 f"endpoint (REST and MCP in {rounds} alternating rounds of {seconds}s)")
        metered_before = UsageLog.objects.filter(endpoint=f"mcp:{MCP_TOOL}").count()
        ceiling = wrk_measure("ceiling /bench/bare/", ceiling_url, token=None, args=args, script=script)
        endpoints = {"ceiling": ceiling, **_interleaved({
            "rest": functools.partial(wrk_measure, f"REST /api/libraries/{DOCS_LIBRARY}/docs/", rest_url,
                                      token=token, args=args, script=script),
            "mcp": functools.partial(wrk_measure, f"MCP /mcp tools/call {MCP_TOOL}", mcp_url, token=token,
                                     args=args, script=script, body=MCP_CALL, headers=MCP_HEADERS),
        }, rounds=rounds, seconds=seconds)}
        metered = UsageLog.objects.filter(endpoint=f"mcp:{MCP_TOOL}").count() - metered_before
    if metered < endpoints["mcp"]["requests"]:  # the warm-up's calls are metered too
        raise AssertionError(f"{metered} usage logs for {endpoints['mcp']['requests']} MCP calls measured")
    ratio = round(endpoints["mcp"]["rps"] / endpoints["rest"]["rps"], 3)
    progress(f"mcp/rest: {ratio:.0%} of REST's requests per second; mcp p99 {endpoints['mcp']['p99_ms']} ms; "
             f"{metered:,} MCP calls metered")
    return {
        "connections": args.connections,
        "workers": args.workers,
        "duration_seconds": args.duration,
        "mcp_over_rest": ratio,
        # Each over the ceiling's requests per second, as `api` prints its endpoints'.
        "rest_ratio": round(endpoints["rest"]["rps"] / endpoints["ceiling"]["rps"], 3),
        "mcp_ratio": round(endpoints["mcp"]["rps"] / endpoints["ceiling"]["rps"], 3),
        "mcp_rps": endpoints["mcp"]["rps"],
        "mcp_p99_ms": endpoints["mcp"]["p99_ms"],
        **endpoints,
        "mcp_calls_metered": metered,
        "server_peak_rss_mb": server.peak_rss_mb,
    }
