"""Every customer page and every admin page finance uses has no axe-core violation of WCAG 2.0/2.1 A and AA, at
1280 px and at 360 px; the keyboard focus ring stands out at 3:1 (WCAG 1.4.11) on white and on the page's grey;
the admin's breadcrumb links are told apart from their text by an underline, not by colour alone.

axe-core is the copy bundled in the axe-playwright-python wheel: nothing is downloaded while the tests run. The
focus-ring screenshots are focus-*.png in .test-artifacts/screenshots/.
"""
import re

import pytest
from axe_playwright_python.sync_playwright import Axe

from accounts.models import UserProfile
from billing.models import InvoiceStatus
from billing.tests.admin_world import admin_log_in, finance_user, make_world
from tests.helpers import EMAIL, log_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WCAG_A_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
             "resultTypes": ["violations"]}
CUSTOMER_PAGES = (
    "/billing/", "/billing/usage/", "/billing/usage/?group_by=library", "/billing/invoices/", "/billing/payments/",
    "/billing/credits/", "/billing/alerts/", "/billing/plan/", "/billing/plan/confirm/?plan=team", "/billing/cancel/",
    "/account/api-keys/", "/account/webhooks/", "/account/", "/account/privacy/", "/billing/no-such-page/",
)
ANONYMOUS_PAGES = ("/account/login/", "/account/password-reset/")
ADMIN_PAGES = (
    "/admin/", "/admin/billing/dashboard/", "/admin/billing/invoice/", "/admin/billing/exports/",
)
RGB = re.compile(r"rgba?\(([\d.]+), ([\d.]+), ([\d.]+)(?:, ([\d.]+))?\)")
WHITE = (255, 255, 255)

axe = Axe()


def axe_violations(page) -> list[dict]:
    # A table's scroll shadows are gradients, behind which axe leaves every cell's contrast unchecked: flattened
    # to the card's white (all a cell lies on unless scrolled to its edge), the tables' texts are checked too.
    page.evaluate("""() => document.querySelectorAll(".table-wrap").forEach(
        (wrap) => { wrap.style.background = getComputedStyle(wrap).backgroundColor; })""")
    return axe.run(page, options=WCAG_A_AA).response["violations"]


def violations_report(violations: list[dict]) -> str:
    """One line per element at fault: the rule, its impact, the element and what axe says to fix."""
    return "\n".join(
        f"{violation['id']} ({violation['impact']}) {' '.join(node['target'])}: {violation['help']}. "
        f"{node['failureSummary']}"
        for violation in violations for node in violation["nodes"]
    )


def assert_none(violations_by_page: dict[str, list[dict]]) -> None:
    """Every page was checked before this fails, so that one run names all that is wrong."""
    faulty = {url: violations for url, violations in violations_by_page.items() if violations}
    assert not faulty, "\n".join(f"{url}\n{violations_report(violations)}" for url, violations in faulty.items())


def relative_luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG 2.1's relative luminance of an sRGB colour given in 0-255 channels."""
    def linear(channel: float) -> float:
        channel /= 255
        return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(channel) for channel in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: tuple, second: tuple) -> float:
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def css_rgb(value: str) -> tuple[float, float, float]:
    """The channels of a computed colour; an opaque one, since a ring or background seen through would need the
    colour behind it too."""
    match = RGB.fullmatch(value)
    assert match, f"not a computed rgb() colour: {value!r}"
    assert match.group(4) in (None, "1"), f"{value} is not opaque"
    return tuple(float(channel) for channel in match.group(1, 2, 3))


@pytest.fixture
def new_page(browser, live_server):
    """Opens a page `width` px wide on the live server, in a browser set to a light or dark colour scheme; every
    page opened is closed after the test."""
    contexts = []

    def open_page(width: int, color_scheme: str = "light"):
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": width, "height": 900}, color_scheme=color_scheme,
        )
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.mark.parametrize(("width", "language"), [(1280, "en"), (360, "en"), (360, "fr")])
def test_the_customer_pages_have_no_violation(new_page, world, width, language, screenshot_path):
    UserProfile.objects.filter(user=world["user"]).update(language=language)
    page = new_page(width)
    violations = {}
    for path in ANONYMOUS_PAGES:
        page.goto(path)
        violations[page.url] = axe_violations(page)
    page.fill("#id_email", EMAIL)
    page.locator("#id_email").press("Enter")
    page.wait_for_url("**/password-reset/sent/")
    violations["password reset sent"] = axe_violations(page)
    log_in(page)  # in the browser's language, English; the pages after it in the customer's
    for path in (*CUSTOMER_PAGES, f"/billing/invoices/{world['invoice'].pk}/"):
        page.goto(path)
        violations[page.url] = axe_violations(page)
    assert page.get_attribute("html", "lang") == language
    page.goto("/account/")
    page.fill("#id_vat_number", "FR00000000000")
    page.locator("#id_vat_number").press("Enter")
    page.locator("#id_vat_number_error").wait_for()
    violations["profile with an error"] = axe_violations(page)
    page.goto("/account/api-keys/")
    page.fill("#id_name", "Laptop")
    page.locator("#id_name").press("Enter")
    page.locator("#new-key-token").wait_for()
    violations["a new API key shown once"] = axe_violations(page)
    page.goto("/account/webhooks/")
    page.fill("#id_url", "https://93.184.215.14/hooks/twinmcp/billing-events-for-the-accounting-team?source=twinmcp")
    page.check("#id_events_0")
    page.locator("#id_url").press("Enter")
    page.locator("#new-secret-value").wait_for()
    violations["a webhook endpoint and its secret shown once"] = axe_violations(page)
    page.screenshot(path=screenshot_path(f"webhooks-{width}-{language}.png"), full_page=True)

    assert_none(violations)


# The admin follows the system's dark theme (the customer pages keep their light one).
@pytest.mark.parametrize(("width", "color_scheme"), [(1280, "light"), (360, "light"), (1280, "dark")])
def test_the_admin_pages_finance_uses_have_no_violation(new_page, media, width, color_scheme, screenshot_path):
    books = make_world(invoices=24, customers=6)
    page = new_page(width, color_scheme)
    page.goto("/admin/login/")
    violations = {page.url: axe_violations(page)}
    admin_log_in(page, email=finance_user().email)
    issued_invoice = f"/admin/billing/invoice/{books.invoice(InvoiceStatus.SENT).pk}/change/"
    for path in (*ADMIN_PAGES, issued_invoice):
        page.goto(path)
        violations[page.url] = axe_violations(page)
    page.screenshot(path=str(screenshot_path(f"admin-invoice-{width}-{color_scheme}.png")), full_page=True)
    parties = page.get_by_role("region", name="Parties")
    assert parties.evaluate("region => region.scrollWidth") >= parties.locator("table").evaluate(
        "table => table.scrollWidth"
    )  # the whole table, its VAT numbers and emails included, can be scrolled to
    page.get_by_role("button", name="Record a payment").click()
    page.locator("#id_amount").wait_for()
    violations["the invoice's Record a payment form"] = axe_violations(page)

    assert_none(violations)


def tab_to(page, selector: str) -> None:
    """Presses Tab until the keyboard focus is on an element matching `selector`, as a keyboard user would."""
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("(selector) => document.activeElement.matches(selector)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def focus_ring(page) -> dict:
    """The focused element's outline and the backgrounds behind it."""
    return page.evaluate("""() => {
        const style = getComputedStyle(document.activeElement);
        return {
            visible: document.activeElement.matches(":focus-visible"),
            style: style.outlineStyle,
            width: parseFloat(style.outlineWidth),
            color: style.outlineColor,
            page: getComputedStyle(document.body).backgroundColor,
            header: getComputedStyle(document.querySelector(".site-header")).backgroundColor,
        };
    }""")


class TestTheFocusRing:
    def test_the_contrast_is_computed_as_wcag_does(self):
        assert round(contrast_ratio((0, 0, 0), WHITE), 2) == 21
        # The former ring, #f59e0b, as the accessibility review measured it on white and on the page's #f3f4f6.
        assert round(contrast_ratio((245, 158, 11), WHITE), 2) == 2.15
        assert round(contrast_ratio((245, 158, 11), (243, 244, 246)), 2) == 1.95

    def test_on_the_page_and_its_cards_it_stands_out_at_3_to_1(self, new_page, world, screenshot_path):
        page = new_page(1280)
        log_in(page)

        tab_to(page, "main .card a")
        ring = focus_ring(page)
        page.screenshot(path=str(screenshot_path("focus-dashboard-link.png")))

        assert ring["visible"] and ring["style"] == "solid" and ring["width"] >= 2
        colour = css_rgb(ring["color"])
        assert contrast_ratio(colour, WHITE) >= 3, f"{ring['color']} on white"
        assert contrast_ratio(colour, css_rgb(ring["page"])) >= 3, f"{ring['color']} on {ring['page']}"

    def test_in_the_header_it_stands_out_at_3_to_1(self, new_page, world, screenshot_path):
        page = new_page(1280)
        log_in(page)

        tab_to(page, ".skip-link")
        skip_link_ring = focus_ring(page)
        tab_to(page, ".nav a")
        nav_ring = focus_ring(page)
        page.screenshot(path=str(screenshot_path("focus-header-link.png")))

        for ring in (skip_link_ring, nav_ring):
            assert ring["visible"] and ring["style"] == "solid"
            assert contrast_ratio(css_rgb(ring["color"]), css_rgb(ring["header"])) >= 3, ring

    def test_on_a_form_it_stands_out_at_3_to_1(self, new_page, world, screenshot_path):
        page = new_page(360)
        page.goto("/account/login/")

        tab_to(page, "#id_username")
        ring = focus_ring(page)
        page.screenshot(path=str(screenshot_path("focus-login-360.png")))

        assert ring["visible"]
        assert contrast_ratio(css_rgb(ring["color"]), WHITE) >= 3, f"{ring['color']} on white"


def test_admin_breadcrumb_links_are_underlined(new_page, media, screenshot_path):
    make_world(invoices=4, customers=2)
    page = new_page(1280)
    page.goto("/admin/login/")
    admin_log_in(page, email=finance_user().email)
    page.goto("/admin/billing/invoice/")

    links = page.locator("div.breadcrumbs a")
    decorations = links.evaluate_all("(links) => links.map((link) => getComputedStyle(link).textDecorationLine)")
    tab_to(page, "div.breadcrumbs a")
    page.screenshot(path=str(screenshot_path("focus-admin-breadcrumbs.png")),
                    clip={"x": 0, "y": 0, "width": 1280, "height": 240})

    assert decorations and all("underline" in decoration for decoration in decorations), decorations
