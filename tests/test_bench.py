"""`python -m bench`: each benchmark prints its progress, then one JSON object on its last line."""
import json
import subprocess
import sys

import pytest

from tests.helpers import PROJECT_ROOT


def run_bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
class TestBench:
    def test_pdf_prints_its_figures_as_json_on_the_last_line(self):
        result = run_bench("pdf", "--count", "20", "--rounds", "2")

        assert result.returncode == 0, result.stderr
        *progress, last = result.stdout.strip().splitlines()
        figures = json.loads(last)
        assert figures["bench"] == "pdf"
        assert figures["count"] == 20 and figures["rounds"] == 2
        for key in ("seconds", "bare_seconds", "pdfs_per_second", "bare_pdfs_per_second", "ratio", "cpu_seconds",
                    "bare_cpu_seconds", "cpu_ratio", "peak_rss_mb"):
            assert isinstance(figures[key], int | float) and figures[key] > 0, (key, figures)
        assert figures["ratio"] == round(figures["pdfs_per_second"] / figures["bare_pdfs_per_second"], 3)
        assert progress and "round 2/2: 20/20 rendered" in progress[-1]

    def test_an_unknown_benchmark_is_refused_with_the_list(self):
        result = run_bench("nope")

        assert result.returncode == 2
        assert "pdf" in result.stderr


@pytest.mark.slow
def test_invoice_run_smoke():
    """The monthly-run benchmark, small: it builds its database, runs the real service, checks and drops it."""
    result = run_bench("invoice_run", "--subscriptions", "2000", "--usage", "50000")

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["bench"] == "invoice_run"
    for key in ("seconds", "floor_seconds", "ratio", "peak_rss_mb"):
        assert isinstance(figures[key], int | float) and figures[key] > 0, (key, figures)
    assert isinstance(figures["invoices"], int) and 0 < figures["invoices"] <= 2000
    assert figures["numbers_gapless"] and figures["all_rolled"]
    assert "dropped" in result.stdout


@pytest.mark.slow
def test_mcp_smoke():
    """The MCP benchmark, short: MCP tool calls beside the REST docs endpoint and the ceiling, every call metered."""
    result = run_bench("mcp", "--duration", "1", "--customers", "200", "--workers", "1")

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["bench"] == "mcp"
    for endpoint in ("ceiling", "rest", "mcp"):
        assert figures[endpoint]["rps"] > 0 and figures[endpoint]["errors"] == 0, figures
    assert figures["rest"]["rounds"] == figures["mcp"]["rounds"] == 1
    assert figures["mcp_over_rest"] == round(figures["mcp"]["rps"] / figures["rest"]["rps"], 3)
    assert figures["mcp_ratio"] == round(figures["mcp"]["rps"] / figures["ceiling"]["rps"], 3)
    assert figures["mcp_calls_metered"] >= figures["mcp"]["requests"]
    assert "MCP get-library-docs serves the REST endpoint's 4 chunks, 992 tokens" in result.stdout


@pytest.mark.slow
def test_api_layers_smoke():
    """`api --layers`: each endpoint's calls in this process, a table of µs per layer, the ratios to the ceiling."""
    result = run_bench("api", "--layers", "--calls", "5", "--customers", "200")

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    layers = figures["per_layer_us"]
    assert set(layers) == {"ceiling", "invoices", "invoices_uncached", "docs", "mcp"}
    for name in ("invoices", "invoices_uncached", "docs", "mcp"):
        assert figures[f"{name}_ratio"] == round(figures["ceiling_us"] / figures[f"{name}_us"], 3)
    docs = layers["docs"]
    assert docs["whole call (WSGI) / middleware SessionMiddleware"]["n"] == 1
    assert 0 < figures["docs_cpu_us"] and figures["docs_cpu_ratio"] == round(
        figures["ceiling_cpu_us"] / figures["docs_cpu_us"], 3)
    assert any(row.endswith("usage row write (autocommit)") for row in docs)
    assert "middleware ContentSecurityPolicyMiddleware" in result.stdout and "µs per call" in result.stdout


@pytest.mark.slow
def test_ingest_smoke():
    """The ingestion benchmark, small: batches POSTed to a real server, every event stored once, then the COPY floor."""
    result = run_bench("ingest", "--events", "3000", "--customers", "200", "--connections", "2", "--workers", "1")

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["bench"] == "ingest" and figures["events"] == 3000
    for key in ("events_per_second", "copy_events_per_second", "ratio", "http_cpu_ms_per_1000", "copy_cpu_ms_per_1000",
                "cpu_ratio", "server_peak_rss_mb", "peak_rss_mb"):
        assert isinstance(figures[key], int | float) and figures[key] > 0, (key, figures)
    assert figures["ratio"] == round(figures["events_per_second"] / figures["copy_events_per_second"], 4)
    assert "checked: 3,000 usage logs stored, none rejected or duplicated" in result.stdout
    assert "dropped" in result.stdout
