"""The pricing catalogue in a real browser (Playwright and Debian's chromium) against a live server, at 1280 and
360 px: a customer on Pro reads the tiers of the graduated Scale plan on the plan page, enters a coupon code, reads
this period's invoice with the discount before confirming, and confirms; a customer in a free trial reads on the
dashboard until when it runs and what happens then."""
import datetime
from decimal import Decimal

import pytest
import time_machine

from billing.models import Coupon, CouponDuration, CouponRedemption, UsagePricing
from billing.periods import month
from billing.tests.factories import PARIS, PlanFactory, SubscriptionFactory
from tests.helpers import NBSP, amounts, fits, log_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DECEMBER = month(2026, 12)
TODAY = datetime.datetime(2026, 12, 16, 10, 0, tzinfo=PARIS)


@pytest.fixture
def pinned_clock():
    with time_machine.travel(TODAY, tick=True):
        yield


@pytest.fixture
def on_pro(pinned_clock, customer):
    """The customer on Pro (19.00, 5,000,000 tokens, 2.00 per million) for the whole of December, no usage yet; the
    graduated Scale plan is offered and the coupon WELCOME20 takes 20 % off the next invoice."""
    PlanFactory(
        code="scale", name="Scale", price=Decimal("49.00"), included_tokens=10_000_000,
        usage_pricing=UsagePricing.GRADUATED, overage_price_per_million=Decimal("0"),
        usage_tiers=[
            {"up_to": 10_000_000, "price_per_million": "2.00"},
            {"up_to": 50_000_000, "price_per_million": "1.50"},
            {"up_to": None, "price_per_million": "1.00"},
        ],
    )
    Coupon.objects.create(code="WELCOME20", name="Welcome", percent_off=Decimal("20"), duration=CouponDuration.ONCE)
    return SubscriptionFactory(
        user=customer, plan=PlanFactory(), current_period_start=DECEMBER.start, current_period_end=DECEMBER.end,
        started_at=DECEMBER.start_at - datetime.timedelta(days=40),
    )


def test_read_the_tiers_then_apply_a_coupon_seen_on_this_period_s_invoice(screen, on_pro, screenshot_path):
    page, width = screen
    log_in(page)
    page.get_by_role("link", name="Change plan").click()

    scale = page.get_by_test_id("usage-prices-scale")
    assert [row.inner_text().split("\t") for row in scale.locator("tr").all()] == [
        ["First 10,000,000 tokens beyond the included ones", f"2.00{NBSP}EUR per million"],
        ["Next 40,000,000 tokens", f"1.50{NBSP}EUR per million"],
        ["Above 50,000,000 tokens beyond the included ones", f"1.00{NBSP}EUR per million"],
    ]
    fits(page, width)
    page.screenshot(path=str(screenshot_path(f"pricing-plan-page-{width}.png")), full_page=True)

    page.get_by_label("Coupon code").fill("welcome20")
    page.get_by_role("button", name="See the reduced price").click()

    # December on Pro: 19.00, 20 % off = 3.80; 15.20 + 20 % VAT 3.04 = 18.24, against 22.80 without the coupon.
    assert page.get_by_test_id("plan-price").inner_text() == f"19.00{NBSP}EUR"
    assert page.get_by_test_id("reduced-price").inner_text() == f"15.20{NBSP}EUR"
    assert amounts(page.get_by_test_id("preview-invoice")) == [f"19.00{NBSP}EUR", f"-3.80{NBSP}EUR"]
    assert page.get_by_test_id("preview-subtotal").inner_text() == f"15.20{NBSP}EUR"
    assert page.get_by_test_id("preview-tax").inner_text() == f"3.04{NBSP}EUR"
    assert page.get_by_test_id("preview-total").inner_text() == f"18.24{NBSP}EUR"
    assert page.get_by_test_id("preview-total-without").inner_text() == f"22.80{NBSP}EUR"
    assert not CouponRedemption.objects.exists()  # nothing is written before the customer confirms
    fits(page, width)
    page.screenshot(path=str(screenshot_path(f"pricing-coupon-confirm-{width}.png")), full_page=True)

    page.get_by_role("button", name="Confirm: apply WELCOME20").click()

    page.wait_for_url("**/billing/")
    assert page.get_by_text("The coupon WELCOME20 is applied to your next invoices.").is_visible()
    assert CouponRedemption.objects.get().subscription == on_pro
    page.get_by_role("link", name="Change plan").click()
    assert page.get_by_test_id("coupon-running").inner_text().startswith(
        "Your subscription has the coupon Welcome (WELCOME20)"
    )


def test_a_customer_in_a_free_trial_reads_its_end_on_the_dashboard(screen, pinned_clock, customer, screenshot_path):
    page, width = screen
    pro = PlanFactory(trial_days=14)
    # Subscribed on 10 December with 14 trial days: billed from the 24th, the trial's last day is the 23rd.
    SubscriptionFactory(
        user=customer, plan=pro, current_period_start=DECEMBER.start, current_period_end=DECEMBER.end,
        started_at=datetime.datetime(2026, 12, 10, 9, tzinfo=PARIS), trial_end=datetime.date(2026, 12, 24),
        trial_plan=pro,
    )
    log_in(page)

    trial = page.get_by_test_id("trial")
    assert trial.inner_text().startswith("Free trial of Pro until 23 Dec 2026 (8 days left).")
    assert "From 24 Dec 2026, your subscription is billed" in trial.inner_text()
    fits(page, width)
    page.screenshot(path=str(screenshot_path(f"pricing-trial-dashboard-{width}.png")), full_page=True)
