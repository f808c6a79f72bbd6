"""Arrangement shared by the site-wide tests: the real browser, and the customer world its pages are read in
(tests/test_browser*.py, tests/test_accessibility.py, tests/test_pages_language.py)."""
import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright import sync_api

from accounts.tests.factories import make_customer
from billing import clock
from billing.models import AlertType, BillingAlert, Invoice
from billing.periods import Period, add_months, period_containing
from billing.services import credit_grant, invoice_finalize, payment_record
from billing.tests.factories import InvoiceFactory, InvoiceLineFactory, PlanFactory, SubscriptionFactory
from libraries.tests.factories import UsageLogFactory
from tests.helpers import EMAIL

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]
# Tokens per day of the current period, cycled: a believable week with a quiet weekend, which stays under Pro's
# 5,000,000 tokens on any day of any month (31 days at most 4,207,000), so the upcoming invoice has no overage.
DAILY_TOKENS = (136_800, 181_400, 154_000, 201_600, 166_300, 48_200, 29_200)


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API runs an event loop in this thread while the tests' ORM calls stay synchronous;
    # allowed for the module's tests only, so that no later subprocess inherits the switch.
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield browser
            browser.close()


@pytest.fixture
def page(browser, live_server):
    """A desktop-sized page (1280 × 900) on the live server."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture(params=[1280, 360], ids=["1280px", "360px"])
def screen(request, browser, live_server):
    """A page on the live server at a desktop's width and a phone's, with that width: (page, width)."""
    width = request.param
    context = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": 900})
    yield context.new_page(), width
    context.close()


@pytest.fixture
def world(media):
    """A French business customer on Pro this period with its usage of every day so far, last month's invoice
    partly paid by transfer, a credit and an unread alert; Team is offered. Built on today's date: the tests pin
    the clock or read the figures from the world (`period`, `tokens`)."""
    period = period_containing(clock.today())
    user = make_customer(
        user__email=EMAIL, user__first_name="Ada", user__last_name="Lovelace", full_name="Ada Lovelace",
        company_name="Analytical Engines SAS", vat_number="FR40303265045", siren="303265045", phone="",
    )
    pro = PlanFactory()
    PlanFactory(code="team", name="Team", price=Decimal("99.00"), included_tokens=50_000_000)
    subscription = SubscriptionFactory(
        user=user, plan=pro, current_period_start=period.start, current_period_end=period.end,
        started_at=period.start_at - datetime.timedelta(days=40),
    )
    last_month = Period(add_months(period.start, -1), period.start)
    draft = InvoiceFactory(
        subscription=subscription, period_start=last_month.start, period_end=last_month.end,
        line__description=f"Pro plan, {last_month.label}", line__amount=Decimal("19.00"),
        subtotal=Decimal("25.40"), tax_amount=Decimal("5.08"), total=Decimal("30.48"), amount_due=Decimal("30.48"),
    )
    InvoiceLineFactory(
        invoice=draft, kind="USAGE", position=1, description="Usage above the 5,000,000 included tokens",
        quantity=3_200_000, unit_price=Decimal("2.00"), price_base_quantity=1_000_000, amount=Decimal("6.40"),
    )
    invoice = invoice_finalize(invoice=draft, now=period.start_at + datetime.timedelta(hours=3))
    payment_record(
        invoice=invoice, amount=Decimal("10.00"), idempotency_key="browser-transfer", provider_reference="VIR-0042",
        now=period.start_at + datetime.timedelta(days=1),
    )
    credit_grant(user=user, type="PROMOTIONAL", amount=Decimal("5.00"), reason="Welcome offer")
    now = timezone.now()
    today = clock.today()
    for index in range((today - period.start).days + 1):
        day = period.start + datetime.timedelta(days=index)
        at = min(now - datetime.timedelta(minutes=1), period.start_at + datetime.timedelta(days=index, hours=10))
        UsageLogFactory(user=user, tokens=DAILY_TOKENS[day.weekday()], created_at=max(period.start_at, at))
    BillingAlert.objects.create(
        user=user, type=AlertType.USAGE_THRESHOLD, occasion=f"{period.start:%Y-%m}:80",
        message="You have used 80 % of the tokens included in your plan this period.",
    )
    tokens = sum(DAILY_TOKENS[(period.start + datetime.timedelta(days=i)).weekday()]
                 for i in range((today - period.start).days + 1))
    return {
        "user": user, "profile": user.profile, "invoice": Invoice.objects.get(pk=invoice.pk), "period": period,
        "tokens": tokens,
    }
