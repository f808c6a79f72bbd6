"""The usage page in a real browser (Playwright and Debian's chromium) against a live server: the customer opens
it from the menu, reads this period's tokens by day in the chart and the table, switches to API keys and to
libraries, picks last month, and downloads the CSV of what is shown. Screenshots: usage-*.png in
.test-artifacts/screenshots/.
"""
import csv
import datetime
import io
from pathlib import Path

import pytest
from django.utils import timezone

from accounts.tests.factories import ApiKeyFactory, make_customer
from billing import clock
from billing.periods import add_months
from libraries.tests.factories import LibraryFactory, UsageLogFactory
from tests.helpers import log_in

# The browser and the customer's world are tests/conftest.py's.
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def usage(world):
    """On top of the world's daily browser calls (no key, no library): this period, 40,000 tokens through the CI
    key on Next.js (one of them an MCP call) and, last month, 12,345 tokens on React; someone else's 9,999,999."""
    user, period = world["user"], world["period"]
    ci = ApiKeyFactory(user=user, name="CI key", prefix="ci000001")
    next_js = LibraryFactory(slug="vercel/next.js", name="Next.js")
    react = LibraryFactory(slug="facebook/react", name="React")
    # The first day of the period, before the world's call of that day (and never in the future).
    at = max(period.start_at, min(timezone.now() - datetime.timedelta(minutes=2),
                                  period.start_at + datetime.timedelta(hours=9)))
    UsageLogFactory(user=user, api_key=ci, library=next_js, tokens=30_000, created_at=at)
    UsageLogFactory(user=user, api_key=ci, library=next_js, tokens=10_000, endpoint="mcp:query-docs", created_at=at)
    UsageLogFactory(user=user, api_key=ci, library=react, tokens=12_345,
                    created_at=period.start_at - datetime.timedelta(days=3))
    UsageLogFactory(user=make_customer(), tokens=9_999_999, library=next_js, created_at=at)
    return {"browser_tokens": world["tokens"], "days": (clock.today() - period.start).days + 1}


def test_read_the_usage_by_day_key_and_library_and_download_it(page, world, usage, screenshot_path):
    total = usage["browser_tokens"] + 40_000
    log_in(page)
    page.get_by_role("link", name="See usage in detail").click()
    page.wait_for_url("**/billing/usage/")

    assert page.get_by_role("link", name="Usage", exact=True).get_attribute("aria-current") == "page"
    assert page.locator("svg.daily-chart rect.bar").count() == usage["days"]
    assert page.get_by_test_id("usage-total-tokens").inner_text() == f"{total:,}"
    assert page.get_by_test_id("usage-table").locator("tbody tr").count() == usage["days"]
    assert page.get_by_test_id("quota-line").is_visible()
    page.screenshot(path=str(screenshot_path("usage-by-day.png")), full_page=True)

    page.get_by_role("link", name="By API key").click()
    rows = page.get_by_test_id("usage-table").locator("tbody tr")
    assert [rows.nth(index).locator("th").inner_text() for index in range(rows.count())] == (
        ["Browser session (no API key)", "CI key tmcp_ci000001_…"] if usage["browser_tokens"] > 40_000
        else ["CI key tmcp_ci000001_…", "Browser session (no API key)"]
    )
    assert page.locator("svg.breakdown-chart rect.bar").count() == 2

    page.get_by_role("link", name="By library").click()
    next_js = page.get_by_test_id("usage-table").get_by_role("row", name="Next.js")
    assert next_js.locator("td").all_inner_texts() == ["40,000", "2"]  # the MCP call counted under Next.js
    assert page.get_by_test_id("usage-total-tokens").inner_text() == f"{total:,}"
    assert "9,999,999" not in page.content()
    page.screenshot(path=str(screenshot_path("usage-by-library.png")), full_page=True)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    period = world["period"]
    assert download.suggested_filename == f"usage-{period.start:%Y-%m}-library.csv"
    lines = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8-sig"))))
    assert lines[0] == ["library_slug", "library_name", "tokens", "calls"]
    assert ["vercel/next.js", "Next.js", "40000", "2"] in lines
    assert ["", "No library", str(usage["browser_tokens"]), str(usage["days"])] in lines

    page.get_by_label("Billing period", exact=True).select_option(f"{add_months(period.start, -1):%Y-%m}")
    page.get_by_role("button", name="Show").click()
    react = page.get_by_test_id("usage-table").get_by_role("row", name="React")
    assert react.locator("td").all_inner_texts() == ["12,345", "1"]
    assert page.get_by_test_id("quota-line").count() == 0


@pytest.mark.parametrize("group_by", ["day", "api_key"])
def test_at_360_px_the_usage_page_does_not_scroll_sideways(browser, live_server, world, usage, group_by,
                                                           screenshot_path):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 360, "height": 740})
    page = context.new_page()
    try:
        log_in(page)
        page.goto(f"/billing/usage/?group_by={group_by}")

        assert page.get_by_test_id("usage-total-tokens").inner_text() == f"{usage['browser_tokens'] + 40_000:,}"
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.screenshot(path=str(screenshot_path(f"usage-{group_by}-360.png")), full_page=True)
    finally:
        context.close()
