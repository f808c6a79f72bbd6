"""A newcomer's whole way in, in a real browser (Playwright and Debian's chromium) against a live server and a real
localstripe process: sign up, confirm, save a card, be billed, see the invoice paid by that card."""
import re
from decimal import Decimal

import pytest
from django.core import mail
from playwright.sync_api import expect

from billing.models import Invoice, InvoiceStatus, Payment, PaymentMethod, PaymentStatus, Subscription
from billing.services import invoice_finalize
from billing.tests import localstripe as fake_stripe
from billing.tests.factories import InvoiceFactory, PlanFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# billing's localstripe process and the settings pointing at it, as fixtures of this module.
localstripe, stripe_settings = fake_stripe.localstripe, fake_stripe.stripe_settings

EMAIL, PASSWORD = "ada.newcomer@example.com", "a-long-unusual-passphrase-42"


def test_sign_up_save_a_card_be_billed_and_see_it_paid(page, stripe_settings, screenshot_path):
    PlanFactory(code="free", name="Free", price=Decimal("0.00"), included_tokens=100_000,
                overage_price_per_million=Decimal("0"))

    page.goto("/account/signup/")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("I accept the terms of service").check()
    page.get_by_role("button", name="Create my account").click()
    page.wait_for_url("**/account/signup/sent/")
    [message] = mail.outbox
    [link] = re.findall(r"https?://[^/\s]+(/account/signup/confirm/\S+/)", message.body)
    page.goto(link)
    page.get_by_label("The password you chose").fill(PASSWORD)
    page.get_by_role("button", name="Confirm my account").click()
    page.wait_for_url("**/billing/plan/")

    page.goto("/billing/")
    page.get_by_role("link", name="How you pay").click()
    card = page.locator("#card-element")
    card.get_by_placeholder("number").fill("4242424242424242")
    card.get_by_placeholder("exp_month").fill("12")
    card.get_by_placeholder("exp_year").fill("34")
    card.get_by_placeholder("cvc").fill("123")
    page.get_by_role("button", name="Save the card").click()
    expect(page.get_by_test_id("card-on-file")).to_have_text("Visa ending 4242")

    # The month's invoice, issued as the monthly run issues it: charged to the card once the issue commits. The live
    # server runs on the clock of the run (`make test-clock` shifts it); nothing asserted depends on the day.
    subscription = Subscription.objects.get(user__email=EMAIL)
    invoice = invoice_finalize(invoice=InvoiceFactory(subscription=subscription))

    page.goto(f"/billing/invoices/{invoice.pk}/")
    page.screenshot(path=str(screenshot_path("newcomer-invoice-paid.png")), full_page=True)
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Invoice {invoice.number}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Paid")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid, invoice.amount_due) == (
        InvoiceStatus.PAID, Decimal("22.80"), Decimal("0.00")
    )
    [payment] = Payment.objects.filter(invoice=invoice)
    assert (payment.method, payment.status, payment.amount) == (PaymentMethod.CARD, PaymentStatus.COMPLETED,
                                                                  Decimal("22.80"))
    intent = fake_stripe.stripe_client(stripe_settings).v1.payment_intents.retrieve(payment.provider_reference)
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 2280, "eur")
    assert Invoice.objects.filter(user__email=EMAIL).count() == 1
