"""A card saved in a real browser (Playwright and Debian's chromium) against a live server and a real localstripe
process: the customer opens /billing/payment-method/, types localstripe's test card into the card element its
Stripe.js shim mounts, saves, and reads "Visa ending 4242" as the card on file; the server took it from Stripe,
not from the page. Screenshots before and after, at 1280 px. With either provider the page has no axe-core
violation of WCAG 2.1 A/AA and does not scroll sideways, at 1280 and at 360 px."""
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from billing.models import PaymentProviderCustomer
from billing.tests import localstripe as fake_stripe
from tests.helpers import EMAIL, log_in
from tests.test_accessibility import WCAG_A_AA, violations_report

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# billing's localstripe process and the settings pointing at it, as fixtures of this module.
localstripe, stripe_settings = fake_stripe.localstripe, fake_stripe.stripe_settings


def test_a_customer_saves_a_card_and_sees_it_on_file(page, customer, stripe_settings, screenshot_path):
    log_in(page)
    page.get_by_role("link", name="How you pay").click()

    assert page.get_by_test_id("card-on-file").inner_text() == "No card on file yet."
    # Stripe.js loaded, the page's script hides the no-JavaScript notice: expect() waits for it, is_hidden() would not.
    expect(page.get_by_text("Saving a card needs JavaScript")).to_be_hidden()
    card = page.locator("#card-element")
    card.get_by_placeholder("number").fill("4242424242424242")
    card.get_by_placeholder("exp_month").fill("12")
    card.get_by_placeholder("exp_year").fill("34")
    card.get_by_placeholder("cvc").fill("123")
    card.get_by_placeholder("postal_code").fill("75002")
    page.screenshot(path=str(screenshot_path("payment-method-form.png")), full_page=True)
    page.get_by_role("button", name="Save the card").click()

    page.get_by_text("Your card is saved: Visa ending 4242.").wait_for()
    assert page.get_by_test_id("card-on-file").inner_text() == "Visa ending 4242"
    assert page.get_by_test_id("card-expiry").inner_text() == "Expires 12/2034"
    assert page.get_by_role("heading", name="Replace the card").is_visible()
    page.screenshot(path=str(screenshot_path("payment-method-saved.png")), full_page=True)
    saved = PaymentProviderCustomer.objects.get(user=customer)
    at_stripe = fake_stripe.stripe_client(stripe_settings).v1.customers.retrieve(saved.provider_customer_id)
    assert at_stripe.invoice_settings.default_payment_method == saved.default_payment_method_id


def test_a_card_stripe_declines_is_not_saved_and_the_page_says_why(page, customer, stripe_settings):
    log_in(page)
    page.goto("/billing/payment-method/")

    card = page.locator("#card-element")
    card.get_by_placeholder("number").fill("4000000000000002")  # localstripe declines it
    card.get_by_placeholder("exp_month").fill("12")
    card.get_by_placeholder("exp_year").fill("34")
    card.get_by_placeholder("cvc").fill("123")
    page.get_by_role("button", name="Save the card").click()

    # expect() waits for Stripe's answer to reach the page; is_visible() would look once, at once.
    expect(page.get_by_role("alert").filter(has_text="Your card was declined.")).to_be_visible()
    assert page.get_by_test_id("card-on-file").inner_text() == "No card on file yet."
    assert page.get_by_role("button", name="Save the card").is_enabled()  # the customer may try another card


@pytest.mark.parametrize("width", [1280, 360])
@pytest.mark.parametrize("provider", ["manual", "stripe"])
def test_the_page_is_accessible_and_fits_a_phone(browser, live_server, customer, request, provider, width):
    if provider == "stripe":
        request.getfixturevalue("stripe_settings")
    context = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": 800})
    page = context.new_page()
    try:
        log_in(page)
        page.goto("/billing/payment-method/")
        assert page.get_by_role("heading", name="Payment method").is_visible()
        assert page.get_by_text(f"Signed in as {EMAIL}").is_visible()
        # localstripe's shim puts bare inputs where Stripe.js puts its own labelled frame: only the page is ours.
        violations = Axe().run(page, context={"exclude": [["#card-element"]]}, options=WCAG_A_AA).response
        assert violations["violations"] == [], violations_report(violations["violations"])
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    finally:
        context.close()
