"""The customer pages in a real browser (Playwright and Debian's chromium) against a live server.

A customer logs in, reads the dashboard figures, opens an invoice and downloads its PDF, creates an API key
and sees its secret once, submits an invalid VAT number and sees the error next to the field; at 360 px wide
no page scrolls sideways. The dashboard and invoice screenshots are taken here (docs/ with
--update-docs-screenshots).
"""
from io import BytesIO
from pathlib import Path

import pytest
from pypdf import PdfReader

from accounts.models import UserProfile
from billing import clock
from tests.helpers import NBSP, log_in

# The browser and the customer's world are tests/conftest.py's.
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_log_in_and_read_the_dashboard(page, world, screenshot_path):
    log_in(page)

    assert page.get_by_test_id("plan-name").inner_text() == "Pro"
    assert page.get_by_test_id("tokens-used").inner_text().startswith(f"{world['tokens']:,}")
    # Pro 19.00 less the 5.00 promotional credit, a price reduction before tax (its net 4.17): 14.83 + 20 % VAT.
    assert page.get_by_test_id("upcoming-total").inner_text() == f"17.80{NBSP}EUR"
    assert page.get_by_text("You have used 80 % of the tokens").is_visible()
    assert page.locator("svg.daily-chart rect.bar").count() == (clock.today() - world["period"].start).days + 1
    page.screenshot(path=str(screenshot_path("dashboard.png")), full_page=True)


def test_open_an_invoice_and_download_its_pdf(page, world, screenshot_path):
    invoice = world["invoice"]
    log_in(page)

    page.get_by_role("link", name="Invoices", exact=True).click()
    page.get_by_role("link", name=invoice.number).click()

    assert page.get_by_role("heading", level=1).inner_text().startswith(f"Invoice {invoice.number}")
    assert page.get_by_test_id("invoice-total").inner_text() == f"30.48{NBSP}EUR"  # 25.40 + 5.08 VAT
    assert page.get_by_test_id("amount-due").inner_text() == f"20.48{NBSP}EUR"  # 10.00 paid by transfer
    page.screenshot(path=str(screenshot_path("invoice.png")), full_page=True)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the PDF").click()
    download = download_info.value

    assert download.suggested_filename == f"{invoice.number}.pdf"
    body = Path(download.path()).read_bytes()
    assert body.startswith(b"%PDF")
    text = "".join(pdf_page.extract_text() for pdf_page in PdfReader(BytesIO(body)).pages)
    assert invoice.number in text


def test_create_an_api_key_and_see_its_secret_once(page, world):
    log_in(page)
    page.goto("/account/api-keys/")

    page.get_by_label("Name").fill("Laptop")
    assert page.get_by_label("docs:read").is_checked()  # the default scope
    page.get_by_label("billing:read").check()
    page.get_by_role("button", name="Create the key").click()

    token = page.locator("#new-key-token").inner_text()
    assert token.startswith("tmcp_")
    prefix = token.split("_")[1]
    assert page.get_by_text(f"tmcp_{prefix}_…").is_visible()
    row = page.get_by_role("row", name="Laptop")
    assert row.get_by_text("billing:read").is_visible() and row.get_by_text("docs:read").is_visible()

    page.reload()

    assert page.locator("#new-key-token").count() == 0
    assert token not in page.content()
    assert page.get_by_text(f"tmcp_{prefix}_…").is_visible()


def test_an_invalid_vat_number_is_shown_next_to_its_field(page, world):
    log_in(page)
    page.goto("/account/")

    page.get_by_label("Country").select_option("FR")
    page.get_by_label("VAT number").fill("FR00000000000")
    page.get_by_role("button", name="Save the profile").click()

    field = page.locator(".field", has=page.locator("#id_vat_number"))
    error = field.locator("#id_vat_number_error")
    assert error.is_visible()
    assert error.inner_text().endswith("This is not a valid VAT number for France: check the digits.")
    assert page.locator("#id_vat_number").get_attribute("aria-invalid") == "true"
    assert UserProfile.objects.get(user=world["user"]).vat_number == "FR40303265045"  # nothing saved


@pytest.mark.parametrize(
    "path",
    [
        "/billing/", "/billing/invoices/", "invoice", "/billing/payments/", "/billing/credits/", "/billing/cancel/",
        "/account/", "/account/api-keys/", "/account/privacy/", "/billing/no-such-page/",
    ],
)
def test_at_360_px_no_page_scrolls_sideways(browser, live_server, world, path, screenshot_path):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 360, "height": 740})
    page = context.new_page()
    try:
        log_in(page)
        page.goto(f"/billing/invoices/{world['invoice'].pk}/" if path == "invoice" else path)

        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        if path == "/billing/":
            page.screenshot(path=str(screenshot_path("dashboard-360.png")), full_page=True)
    finally:
        context.close()


@pytest.mark.parametrize("width", [1280, 360])
def test_the_monthly_and_forecast_charts_render_and_fit(browser, live_server, world, width, screenshot_path):
    context = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        log_in(page)

        # The world's usage is all this month: one bar, the current month's, at the right end.
        assert page.locator("svg.monthly-chart rect.bar").count() == 1
        assert page.locator("svg.monthly-chart rect.bar-today").count() == 1
        assert page.locator("svg.forecast-chart rect.forecast-bar").count() == 3
        for chart in ("svg.monthly-chart", "svg.forecast-chart", "[data-testid=monthly-table]",
                      "[data-testid=forecast-table]"):
            assert_within_width(page.locator(chart), width=width)
        assert page.get_by_role("img", name="Usage forecast for this period").is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.locator(".chart-grid").screenshot(path=str(screenshot_path(f"dashboard-charts-{width}.png")))
    finally:
        context.close()


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 360, "height": 740})
    yield context.new_page()
    context.close()


def assert_within_width(locator, width=360):
    """The element lies wholly between the screen's left and right edges (not cut off, not scrolled away)."""
    box = locator.bounding_box()
    assert box is not None, "the element is not shown"
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, f"{locator.inner_text()!r} spans {box}"


class TestAmountsOnAPhone:
    def test_the_invoice_list_shows_each_invoice_s_whole_amount(self, phone, world, screenshot_path):
        log_in(phone)
        phone.goto("/billing/invoices/")

        total = phone.get_by_test_id("invoice-total")
        assert total.inner_text().endswith(f"30.48{NBSP}EUR")
        assert_within_width(total)
        due = phone.get_by_role("row", name=world["invoice"].number).get_by_text(f"20.48{NBSP}EUR")
        assert_within_width(due)
        phone.screenshot(path=str(screenshot_path("invoice-list-360.png")), full_page=True)

    def test_the_invoice_page_shows_the_amount_column_and_every_total(self, phone, world, screenshot_path):
        log_in(phone)
        phone.goto(f"/billing/invoices/{world['invoice'].pk}/")

        amounts = phone.get_by_test_id("line-amount")
        assert amounts.all_inner_texts() == [f"19.00{NBSP}EUR", f"6.40{NBSP}EUR"]
        for amount in amounts.all():
            assert_within_width(amount)
        for test_id, figure in (("invoice-subtotal", "25.40"), ("invoice-tax", "5.08"), ("invoice-total", "30.48")):
            cell = phone.get_by_test_id(test_id)
            assert cell.inner_text() == f"{figure}{NBSP}EUR"
            assert_within_width(cell)
        payment = phone.get_by_test_id("payment-amount")
        assert payment.inner_text() == f"10.00{NBSP}EUR"
        assert_within_width(payment)
        phone.screenshot(path=str(screenshot_path("invoice-360.png")), full_page=True)


    def test_the_credits_page_shows_each_credit_s_amount_left(self, phone, world):
        log_in(phone)
        phone.goto("/billing/credits/")

        remaining = phone.get_by_test_id("credit-remaining")
        assert remaining.inner_text() == f"5.00{NBSP}EUR"
        assert_within_width(remaining)


def create_a_key_and_copy_it(page, *, name: str) -> str:
    """Logs in, creates a key on /account/api-keys/, presses its Copy button; the key's token shown once."""
    log_in(page)
    page.goto("/account/api-keys/")
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create the key").click()
    token = page.locator("#new-key-token").inner_text()
    page.get_by_role("button", name="Copy the key").click()
    return token


def test_the_copy_button_puts_a_new_key_on_the_clipboard(browser, live_server, world, screenshot_path):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 360, "height": 740})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    try:
        token = create_a_key_and_copy_it(page, name="Laptop")

        copied = page.get_by_role("button", name="Copied")
        copied.wait_for()
        assert page.evaluate("navigator.clipboard.readText()") == token
        assert page.evaluate("document.documentElement.scrollWidth") <= 360  # the list of keys stays in its box
        assert_within_width(page.get_by_role("link", name="Revoke Laptop"))
        page.screenshot(path=str(screenshot_path("api-key-copied-360.png")), full_page=True)
    finally:
        context.close()


def test_without_a_clipboard_the_copy_button_selects_the_key(browser, live_server, world):
    context = browser.new_context(base_url=live_server.url)
    # A browser that offers no clipboard to the page (an older one, or a page not served over https).
    context.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
    page = context.new_page()
    try:
        token = create_a_key_and_copy_it(page, name="Laptop")

        assert page.get_by_text("The key is selected: press Ctrl+C").is_visible()
        assert page.evaluate("window.getSelection().toString()").strip() == token
    finally:
        context.close()


def test_on_a_phone_a_consent_not_given_is_given_with_its_button(phone, world, screenshot_path):
    log_in(phone)
    phone.goto("/account/privacy/")
    row = phone.get_by_role("row", name="Marketing emails")
    assert row.get_by_text("Not given").is_visible()
    give = row.get_by_role("button", name="Give Marketing emails")
    assert_within_width(give)

    give.click()

    row = phone.get_by_role("row", name="Marketing emails")
    assert row.get_by_text("Given", exact=True).is_visible()
    assert_within_width(row.get_by_role("button", name="Withdraw Marketing emails"))
    accept = phone.get_by_role("row", name="Terms of service").get_by_role("button", name="Accept Terms of service")
    assert_within_width(accept)
    phone.screenshot(path=str(screenshot_path("privacy-360.png")), full_page=True)
