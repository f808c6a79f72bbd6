"""A French customer in a real browser (Playwright and Debian's chromium): the login page answers the browser's
French, the dashboard and the invoice list follow the profile's French, and the footer's switch turns the pages
and the profile to English. Screenshots: language-*.png in .test-artifacts/screenshots/.
"""
import pytest

from accounts.models import UserProfile
from tests.helpers import EMAIL, PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def french_page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="fr-FR")
    page = context.new_page()
    yield page
    context.close()


def test_a_french_customer_reads_french_pages_and_switches_to_english(french_page, world, screenshot_path):
    page = french_page
    UserProfile.objects.filter(user=world["user"]).update(language="fr")
    invoice = world["invoice"]

    page.goto("/")
    page.get_by_label("Adresse e-mail").fill(EMAIL)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/billing/")

    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.get_by_role("heading", level=1).inner_text() == "Tableau de bord"
    assert page.get_by_role("heading", name="Votre forfait").is_visible()
    assert page.get_by_role("heading", name="Prochaine facture").is_visible()
    assert page.get_by_role("button", name="Se déconnecter").is_visible()
    page.screenshot(path=str(screenshot_path("language-dashboard-fr.png")), full_page=True)

    page.get_by_role("link", name="Factures", exact=True).click()
    page.wait_for_url("**/billing/invoices/")

    assert page.get_by_role("heading", level=1).inner_text() == "Factures"
    assert page.get_by_role("columnheader", name="Reste à payer").is_visible()
    assert page.get_by_role("row", name=invoice.number).get_by_text("Émise").is_visible()
    page.screenshot(path=str(screenshot_path("language-invoices-fr.png")), full_page=True)

    page.get_by_role("button", name="English").click()
    page.wait_for_url("**/billing/invoices/")

    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", level=1).inner_text() == "Invoices"
    assert page.get_by_role("columnheader", name="Left to pay").is_visible()
    assert page.get_by_role("row", name=invoice.number).get_by_text("Sent").is_visible()
    assert page.get_by_role("button", name="English").get_attribute("aria-pressed") == "true"
    assert UserProfile.objects.get(user=world["user"]).language == "en"
    page.screenshot(path=str(screenshot_path("language-invoices-en.png")), full_page=True)


def test_on_a_phone_the_french_login_page_keeps_its_switch_on_screen(browser, live_server, screenshot_path):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 360, "height": 740}, locale="fr-FR")
    page = context.new_page()

    page.goto("/account/login/")

    assert page.get_by_role("heading", level=1).inner_text() == "Se connecter"
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    for name in ("English", "Français"):
        box = page.get_by_role("button", name=name).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 360
    page.screenshot(path=str(screenshot_path("language-login-fr-phone.png")), full_page=True)
    context.close()
