"""E-invoicing in a real browser (Playwright and Debian's chromium) against a live server, at 1280 and 360 px: a
customer reads the partial credit note of an invoice and downloads its UBL, then saves a German VAT number that VIES
confirms and picks UBL as their e-invoice format; the profile page shows VIES's reference."""
import datetime

import pytest
import time_machine
from lxml import etree

from accounts.models import EinvoiceFormat, UserProfile, ViesStatus
from accounts.tests.fake_vies import FakeVies
from billing.models import CreditNoteReason, LineKind
from billing.services import credit_note_partial_issue
from billing.tests.factories import PARIS, PlanFactory, SubscriptionFactory, period_invoice_of
from libraries.tests.factories import UsageLogFactory
from tests.helpers import NBSP, fits, log_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TODAY = datetime.datetime(2026, 11, 20, 10, 0, tzinfo=PARIS)


@pytest.fixture
def pinned_clock():
    with time_machine.travel(TODAY, tick=True):
        yield


@pytest.fixture
def credited_invoice(pinned_clock, customer):
    """October on Pro (19.00 + 1,500,000 tokens of overage at 2.00 per million = 22.00, VAT 4.40, total 26.40),
    its usage line credited by a partial credit note: 3.00 + 0.60 = 3.60, so 22.80 is left to pay."""
    SubscriptionFactory(user=customer, plan=PlanFactory(), current_period_start=datetime.date(2026, 10, 1),
                        current_period_end=datetime.date(2026, 11, 1))
    UsageLogFactory(user=customer, tokens=6_500_000, created_at=datetime.datetime(2026, 10, 12, 15, tzinfo=PARIS))
    invoice = period_invoice_of(customer)
    usage = invoice.lines.get(kind=LineKind.USAGE)
    credit_note_partial_issue(invoice=invoice, lines={usage.pk: None}, reason_code=CreditNoteReason.NOT_DELIVERED,
                              reason="Outage on 12 October", now=TODAY)
    return invoice


def test_read_a_partial_credit_note_and_download_its_ubl(screen, credited_invoice, screenshot_path):
    page, width = screen
    log_in(page)
    page.goto(f"/billing/invoices/{credited_invoice.pk}/")

    credit_notes = page.locator("section[aria-labelledby='credit-notes-title']")
    assert credit_notes.get_by_role("heading", name=f"Credit note AV-{TODAY.year}-000001").is_visible()
    assert f"On 20 Nov 2026, 3.60{NBSP}EUR of this invoice was credited to you." in credit_notes.inner_text()
    assert "Service not delivered as agreed — Outage on 12 October" in credit_notes.inner_text()
    fits(page, width)
    page.screenshot(path=str(screenshot_path(f"einvoicing-credit-note-{width}.png")), full_page=True)

    with page.expect_download() as download:
        credit_notes.get_by_role("link", name="Download its UBL XML").click()
    root = etree.parse(download.value.path()).getroot()
    ubl = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
           "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}
    assert etree.QName(root).localname == "CreditNote"
    assert root.findtext("cbc:ID", namespaces=ubl) == f"AV-{TODAY.year}-000001"
    assert root.findtext("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", namespaces=ubl) == (
        credited_invoice.number
    )
    assert root.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=ubl) == "3.60"


def test_save_a_vat_number_vies_confirms_and_prefer_ubl(screen, pinned_clock, customer, settings,
                                                        screenshot_path):
    page, width = screen
    with FakeVies() as vies:
        vies.answers["DE136695976"] = FakeVies.VALID
        settings.VIES_URL = vies.url
        log_in(page)
        page.goto("/account/")
        page.get_by_label("Country").select_option("DE")
        page.get_by_label("VAT number").fill("DE136695976")
        page.get_by_label("E-invoice format").select_option(EinvoiceFormat.UBL)
        page.get_by_role("button", name="Save the profile").click()
        page.wait_for_load_state()

        profile = UserProfile.objects.get(user=customer)
        assert (profile.vies_status, profile.einvoice_format) == (ViesStatus.VALID, EinvoiceFormat.UBL)
        assert page.get_by_text(f"reference {profile.vies_consultation_reference}").is_visible()
        assert vies.requests == {"DE136695976": 1}
    fits(page, width)
    page.screenshot(path=str(screenshot_path(f"einvoicing-profile-vies-{width}.png")), full_page=True)
    assert (profile.vat_number, profile.country) == ("DE136695976", "DE")
