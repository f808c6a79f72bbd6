"""Finance in a real browser (Playwright driving Debian's chromium): log in, read the dashboard (revenue and aging
charts, each beside its table), open an invoice and record the bank transfer that pays it. The dashboard's
screenshot is admin-dashboard.png (in docs/ with --update-docs-screenshots)."""
import os
import re

import pytest
from playwright import sync_api

from billing import clock
from billing.models import Invoice, InvoiceStatus, Payment, PaymentStatus
from billing.periods import period_containing
from billing.tests.admin_world import admin_log_in, finance_user, make_world
from libraries.models import UsageLog

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def usage_this_month(world) -> None:
    """Some customers used the API this month, so that the top-customers table has rows."""
    now = clock.now()
    month = period_containing(clock.today())
    during_month = month.start_at + (now - month.start_at) / 2
    UsageLog.objects.bulk_create(
        UsageLog(user=customer, endpoint="/api/libraries/vercel/next.js/docs/", tokens=250_000 * (index + 1),
                 event_id=f"browser-{customer.pk}", created_at=during_month)
        for index, customer in enumerate(world.customers)
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_finance_reads_the_dashboard_and_records_a_payment(live_server, monkeypatch, screenshot_path):
    # Playwright's sync API runs an event loop in this thread; the ORM is only used before and after it.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    world = make_world(invoices=160, customers=16)
    usage_this_month(world)
    finance = finance_user()
    screenshot = screenshot_path("admin-dashboard.png")
    invoice = world.invoice(InvoiceStatus.OVERDUE)
    invoice_url = f"{live_server.url}/admin/billing/invoice/{invoice.pk}/change/"

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(20_000)

        page.goto(f"{live_server.url}/admin/")
        admin_log_in(page, email=finance.email)
        page.get_by_role("link", name="Dashboard").click()
        sync_api.expect(page.locator("#card-mrr .tmcp-figure")).to_contain_text("EUR")
        sync_api.expect(page.locator("#revenue svg.tmcp-chart")).to_be_visible()
        sync_api.expect(page.locator("#aging svg.tmcp-chart")).to_be_visible()
        sync_api.expect(page.locator("#aging svg.tmcp-chart rect title")).to_have_count(5)  # a bar per age bucket
        sync_api.expect(page.locator("#aging table tbody tr")).to_have_count(5)
        sync_api.expect(page.locator("#top-customers tbody tr")).to_have_count(10)
        page.screenshot(path=str(screenshot), full_page=True)

        page.goto(invoice_url)
        sync_api.expect(page.locator("#audit-trail")).to_contain_text("invoice.finalize")
        page.get_by_role("button", name="Record a payment").click()
        sync_api.expect(page.locator("#id_amount")).to_have_value(str(invoice.amount_due))
        page.select_option("#id_method", "BANK_TRANSFER")
        page.fill("#id_reference", "VIR SEPA 2026-11 ACME")
        page.get_by_role("button", name="Record the payment").click()

        sync_api.expect(page).to_have_url(re.compile(rf"/admin/billing/invoice/{invoice.pk}/change/$"))
        sync_api.expect(page.locator(".messagelist")).to_contain_text(f"Payment recorded (1): {invoice.number}")
        sync_api.expect(page.locator(".field-status .readonly")).to_have_text("Paid")
        sync_api.expect(page.get_by_role("button", name="Record a payment")).to_have_count(0)
        browser.close()

    payment = Payment.objects.get(invoice=invoice)
    assert (payment.amount, payment.status, payment.provider_reference) == (
        invoice.amount_due, PaymentStatus.COMPLETED, "VIR SEPA 2026-11 ACME"
    )
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID
    assert screenshot.stat().st_size > 20_000


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_invoice_list_fits_1280_px_with_the_sidebar_open(live_server, monkeypatch, screenshot_path):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    make_world(invoices=60, customers=12)
    finance = finance_user()
    screenshot = screenshot_path("admin-invoice-list-1280.png")

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(20_000)
        page.goto(f"{live_server.url}/admin/")
        admin_log_in(page, email=finance.email)

        page.goto(f"{live_server.url}/admin/billing/invoice/?overdue=yes")
        sync_api.expect(page.locator("#nav-sidebar")).to_be_visible()
        sync_api.expect(page.locator("#changelist-filter")).to_be_visible()
        sync_api.expect(page.locator("#selection-totals")).to_contain_text("EUR")
        page.screenshot(path=str(screenshot), full_page=True)
        results = page.locator("#changelist .results").bounding_box()
        edges = [
            page.locator(selector).bounding_box()
            for selector in ("th.column-days_overdue", "#result_list tbody tr:first-child td.field-days_overdue")
        ]
        browser.close()

    for box in edges:
        assert box["x"] + box["width"] <= min(1280, results["x"] + results["width"])
    assert screenshot.stat().st_size > 20_000
