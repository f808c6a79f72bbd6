"""A plan change in a real browser (Playwright and Debian's chromium) against a live server: a customer on Pro picks
Team, reads the preview of this period's invoice (lines, subtotal, VAT, total) and confirms, and is on Team at once;
then picks a cheaper plan, which the confirmation says starts with the next period; the dashboard shows the
scheduled change with its cancel button, and cancelling it removes it. Screenshots at 1280 and 360 px."""
import datetime
from decimal import Decimal

import pytest
import time_machine

from billing.models import Subscription, SubscriptionPlanChange
from billing.periods import month
from billing.tests.factories import PARIS, PlanFactory, SubscriptionFactory
from libraries.tests.factories import UsageLogFactory
from tests.helpers import NBSP, amounts, fits, log_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DECEMBER = month(2026, 12)  # 31 days
UPGRADE_AT = datetime.datetime(2026, 12, 16, 10, 0, tzinfo=PARIS)


@pytest.fixture
def pinned_clock():
    """The 16th of December: Pro's 15 days and Team's 16 split the fee; the clock runs on from there."""
    with time_machine.travel(UPGRADE_AT, tick=True):
        yield


@pytest.fixture
def subscription(pinned_clock, customer):
    """The customer, a French business, on Pro since before December, 1,000,000 tokens used on the 5th (within
    Pro's share); Team and Free are offered."""
    PlanFactory(code="team", name="Team", price=Decimal("99.00"), included_tokens=50_000_000,
                overage_price_per_million=Decimal("1.50"))
    PlanFactory(code="free", name="Free", price=Decimal("0.00"), included_tokens=100_000,
                overage_price_per_million=Decimal("0"))
    subscription = SubscriptionFactory(
        user=customer, plan=PlanFactory(), current_period_start=DECEMBER.start, current_period_end=DECEMBER.end,
        started_at=DECEMBER.start_at - datetime.timedelta(days=40),
    )
    UsageLogFactory(user=customer, tokens=1_000_000, created_at=datetime.datetime(2026, 12, 5, 10, tzinfo=PARIS))
    return subscription


def test_upgrade_at_once_then_schedule_a_smaller_plan_and_cancel_it(screen, subscription, screenshot_path):
    page, width = screen
    log_in(page)

    page.get_by_role("link", name="Change plan").click()
    page.get_by_label("Team").check()
    page.get_by_role("button", name="See the new fee").click()

    # December: Pro 19.00 × 15/31 = 9.19, Team 99.00 × 16/31 = 51.10; Pro's 1,000,000 tokens are within its share
    # of 2,419,354. French VAT 20 % of 60.29 = 12.06.
    assert page.get_by_role("heading", level=1).inner_text() == "Switch from Pro to Team?"
    assert amounts(page.get_by_test_id("proration")) == [f"9.19{NBSP}EUR", f"51.10{NBSP}EUR"]
    assert page.get_by_test_id("new-fee").inner_text() == f"60.29{NBSP}EUR"
    assert page.get_by_test_id("current-fee").inner_text() == f"19.00{NBSP}EUR"
    assert page.get_by_test_id("difference").inner_text() == f"+41.29{NBSP}EUR"
    assert amounts(page.get_by_test_id("preview-invoice")) == [f"9.19{NBSP}EUR", f"51.10{NBSP}EUR"]
    assert page.get_by_test_id("preview-subtotal").inner_text() == f"60.29{NBSP}EUR"
    assert page.get_by_test_id("preview-tax").inner_text() == f"12.06{NBSP}EUR"
    assert page.get_by_test_id("preview-total").inner_text() == f"72.35{NBSP}EUR"
    assert page.get_by_test_id("preview-total-without").inner_text() == f"22.80{NBSP}EUR"
    fits(page, width)
    page.screenshot(path=str(screenshot_path(f"plan-change-preview-{width}.png")), full_page=True)

    page.get_by_role("button", name="Confirm: switch to Team").click()

    page.wait_for_url("**/billing/")
    assert page.get_by_test_id("plan-name").inner_text() == "Team"
    assert page.get_by_text("You are now on the Team plan.").is_visible()
    # Team's 16 days of 31 have 50,000,000 × 16 ÷ 31 tokens, against the tokens used since the change.
    assert page.get_by_test_id("tokens-used").inner_text().startswith("0")
    assert page.get_by_test_id("quota-since").inner_text() == (
        "Since your change to Team on 16 Dec 2026: its share of the quota for the rest of the period."
    )
    assert "of 25,806,451 included" in page.get_by_role("region", name="Usage this period").inner_text()
    assert Subscription.objects.get(pk=subscription.pk).plan.code == "team"

    page.get_by_role("link", name="Change plan").click()
    page.get_by_label("Pro").check()
    page.get_by_role("button", name="See the new fee").click()

    scheduled = page.get_by_test_id("scheduled")
    assert "you stay on Team until 31 Dec 2026 and are on Pro from 1 Jan 2027" in scheduled.inner_text()
    assert page.get_by_test_id("new-fee").inner_text() == page.get_by_test_id("current-fee").inner_text()
    assert page.get_by_test_id("difference").inner_text() == f"0.00{NBSP}EUR"
    fits(page, width)
    page.screenshot(path=str(screenshot_path(f"plan-change-scheduled-{width}.png")), full_page=True)

    page.get_by_role("button", name="Confirm: switch to Pro").click()

    page.wait_for_url("**/billing/")
    assert page.get_by_test_id("plan-name").inner_text() == "Team"
    change = page.get_by_test_id("scheduled-change")
    assert change.inner_text().startswith("You move to Pro on 1 Jan 2027; until then you stay on Team.")
    fits(page, width)
    page.screenshot(path=str(screenshot_path(f"plan-change-dashboard-{width}.png")), full_page=True)

    change.get_by_role("button", name="Cancel the change: keep Team").click()

    page.wait_for_url("**/billing/")
    assert page.get_by_test_id("scheduled-change").count() == 0
    assert page.get_by_test_id("plan-name").inner_text() == "Team"
    assert not SubscriptionPlanChange.objects.filter(subscription=subscription, to_plan__code="pro").exists()
