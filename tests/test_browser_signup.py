"""Sign-up in a real browser (Playwright and Debian's chromium) against a live server, on a phone's width:
from the login page to the form, the confirmation email's link, and the plan page of a free subscription."""
import re
from decimal import Decimal

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core import mail

from accounts.models import ConsentPurpose, ConsentRecord
from billing.models import Subscription, SubscriptionStatus
from billing.tests.factories import PlanFactory

# The browser is tests/conftest.py's.
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EMAIL, PASSWORD = "grace@example.com", "a-long-unusual-passphrase-42"
# The rules tests/test_accessibility.py holds every customer page to (WCAG 2.0/2.1 A and AA).
WCAG_A_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
             "resultTypes": ["violations"]}


def accessibility_faults(page) -> list[str]:
    violations = Axe().run(page, options=WCAG_A_AA).response["violations"]
    return [f"{page.url} {v['id']}: {' '.join(n['target'])}" for v in violations for n in v["nodes"]]


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 360, "height": 740})
    yield context.new_page()
    context.close()


@pytest.fixture
def plans():
    """Free, what a sign-up starts on, and Pro to move up to."""
    PlanFactory(
        code="free", name="Free", price=Decimal("0.00"), included_tokens=100_000,
        overage_price_per_million=Decimal("0"),
    )
    PlanFactory()


def within_width(page, width=360) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= width


def test_sign_up_confirm_and_land_on_the_free_plan(phone, plans, screenshot_path):
    faults = []
    phone.goto("/account/login/")
    phone.get_by_role("link", name="Create an account").click()
    phone.wait_for_url("**/account/signup/")
    phone.get_by_role("button", name="Create my account").click()  # nothing filled in: each field says why
    assert phone.get_by_text("This field is required.").count() == 2  # email and password
    assert phone.get_by_text("Accept the terms of service to create an account.").is_visible()
    assert within_width(phone)
    faults += accessibility_faults(phone)
    phone.screenshot(path=str(screenshot_path("signup-errors-360.png")), full_page=True)

    phone.get_by_label("Email address").fill(EMAIL)
    phone.get_by_label("Password").fill(PASSWORD)
    phone.get_by_label("I accept the terms of service").check()
    phone.get_by_role("button", name="Create my account").click()

    phone.wait_for_url("**/account/signup/sent/")
    assert phone.get_by_role("heading", name="Check your email").is_visible()
    assert within_width(phone)
    faults += accessibility_faults(phone)
    [message] = mail.outbox
    [path] = re.findall(r"https?://[^/\s]+(/account/signup/confirm/\S+/)", message.body)

    phone.goto(path)
    assert within_width(phone)
    faults += accessibility_faults(phone)
    phone.screenshot(path=str(screenshot_path("signup-confirm-360.png")), full_page=True)
    phone.get_by_label("The password you chose").fill(PASSWORD)
    phone.get_by_role("button", name="Confirm my account").click()

    phone.wait_for_url("**/billing/plan/")
    assert phone.get_by_text("Your account is confirmed. Welcome to TwinMCP!").is_visible()
    assert within_width(phone)
    phone.screenshot(path=str(screenshot_path("signup-plan-360.png")), full_page=True)
    subscription = Subscription.objects.get(user__email=EMAIL)
    assert (subscription.plan.code, subscription.status) == ("free", SubscriptionStatus.ACTIVE)
    assert ConsentRecord.objects.filter(user__email=EMAIL, purpose=ConsentPurpose.TERMS, granted=True).exists()

    phone.goto(path)  # the link again, in the same browser
    assert phone.get_by_role("heading", name="Your account is already confirmed").is_visible()
    faults += accessibility_faults(phone)
    assert faults == []
