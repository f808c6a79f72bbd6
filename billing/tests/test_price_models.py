"""Usage price models: per unit, graduated, volume and package, billed to the cent by the monthly run and the
upcoming-invoice estimate alike, checked when a plan is written, shown to finance and to customers.

The worked example: a plan at 29.00 EUR a month with 5,000,000 tokens included, and 40,123,457 tokens used
in October 2026: 35,123,457 tokens beyond the quota. The tiers, counted on those tokens:
    tokens 1 to 10,000,000 at 2.00 per million, 10,000,001 to 100,000,000 at 1.50, above at 1.00.
"""
import datetime
import io
from decimal import Decimal

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader
from rest_framework.test import APIClient

from accounts.services import api_key_create
from accounts.tests.admin_helpers import admin_url, unchanged_form_data
from accounts.tests.factories import make_customer
from billing.documents.data import invoice_document
from billing.documents.pdf import render_invoice_pdf
from billing.exceptions import BillingError
from billing.models import EmailKind, Invoice, LineKind, Plan, UsagePricing
from billing.notifications.emails import email_queue
from billing.pricing import usage_charges
from billing.selectors import invoice_upcoming
from billing.services import invoice_run, plan_new_version, subscription_change_plan
from billing.tests.einvoice import document_xml, en16931_failures
from billing.tests.factories import PlanFactory, SubscriptionFactory, paris
from libraries.tests.factories import UsageLogFactory

NOVEMBER_1 = datetime.date(2026, 11, 1)
RUN_AT = paris(2026, 11, 1, 2, 0)
END_OF_OCTOBER = paris(2026, 10, 31, 23, 0)
TIERS = [
    {"up_to": 10_000_000, "price_per_million": "2.00"},
    {"up_to": 100_000_000, "price_per_million": "1.50"},
    {"up_to": None, "price_per_million": "1.00"},
]
USED = 40_123_457  # 35,123,457 beyond the 5,000,000 included


def scale_plan(**fields) -> Plan:
    return PlanFactory(
        **{"code": "scale", "name": "Scale", "price": Decimal("29.00"), "included_tokens": 5_000_000,
           "overage_price_per_million": Decimal("2.00"), **fields}
    )


def graduated_plan() -> Plan:
    return scale_plan(usage_pricing=UsagePricing.GRADUATED, usage_tiers=TIERS)


def october_customer(plan: Plan, *, tokens: int = USED, language: str = "en"):
    user = make_customer(language=language, full_name="Ada Lovelace", company_name="")
    subscription = SubscriptionFactory(user=user, plan=plan, started_at=paris(2026, 10, 1))
    UsageLogFactory(user=user, tokens=tokens, created_at=paris(2026, 10, 3, 10))
    return subscription


def usage_lines(lines) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    return [(line.description, line.quantity, line.unit_price, line.amount) for line in lines
            if line.kind == LineKind.USAGE]


def billed_and_estimated(subscription) -> tuple[Invoice, object]:
    """The period invoice of the monthly run, and the estimate seen just before the period ended."""
    estimate = invoice_upcoming(subscription=subscription, now=END_OF_OCTOBER)
    invoice_run(period_end=NOVEMBER_1, now=RUN_AT)
    return Invoice.objects.get(subscription=subscription), estimate


@pytest.mark.django_db
class TestEachModelToTheCent:
    """Through the monthly run and the upcoming estimate; French VAT at 20 % on the subtotal."""

    def test_per_unit_bills_every_token_beyond_the_quota_at_the_overage_price(self):
        invoice, estimate = billed_and_estimated(october_customer(scale_plan()))

        # 35,123,457 × 2.00 / 1,000,000 = 70.246914 → 70.25; 29.00 + 70.25 = 99.25; VAT 19.85
        expected = [("Usage above the 5,000,000 included tokens", Decimal(35_123_457), Decimal("2.0000"),
                      Decimal("70.25"))]
        assert usage_lines(invoice.lines.all()) == expected == usage_lines(estimate.lines)
        assert (invoice.subtotal, invoice.total) == (Decimal("99.25"), Decimal("119.10"))
        assert (estimate.subtotal, estimate.total) == (Decimal("99.25"), Decimal("119.10"))

    def test_graduated_bills_each_tier_at_its_own_price_on_a_line_of_its_own(self):
        invoice, estimate = billed_and_estimated(october_customer(graduated_plan()))

        # tier 1: 10,000,000 × 2.00 = 20.00; tier 2: 25,123,457 × 1.50 = 37.6851855 → 37.69; tier 3 not reached
        # 29.00 + 20.00 + 37.69 = 86.69; VAT 17.338 → 17.34; total 104.03
        expected = [
            ("Usage above the 5,000,000 included tokens, tier 1 (tokens 1 to 10,000,000): 2.00\xa0EUR per million",
             Decimal(10_000_000), Decimal("2.0000"), Decimal("20.00")),
            ("Usage above the 5,000,000 included tokens, tier 2 (tokens 10,000,001 to 100,000,000): 1.50\xa0EUR per "
             "million", Decimal(25_123_457), Decimal("1.5000"), Decimal("37.69")),
        ]
        assert usage_lines(invoice.lines.all()) == expected == usage_lines(estimate.lines)
        assert (invoice.subtotal, invoice.tax_amount, invoice.total) == (
            Decimal("86.69"), Decimal("17.34"), Decimal("104.03"))
        assert (estimate.subtotal, estimate.total) == (Decimal("86.69"), Decimal("104.03"))

    def test_a_tier_price_stored_as_a_json_number_bills_the_decimal_it_shows(self):
        # A plan written through the ORM with 0.145 as a number: 1,000,000 tokens × 0.145 = 0.145 → 0.15 half-up
        # (the float nearest to 0.145 is 0.14499999…, which would round to 0.14).
        plan = Plan(usage_pricing=UsagePricing.GRADUATED, usage_tiers=[{"up_to": None, "price_per_million": 0.145}])

        [charge] = usage_charges(plan=plan, overage=1_000_000)

        assert (charge.unit_price, charge.amount) == (Decimal("0.145"), Decimal("0.15"))

    def test_graduated_reaching_the_open_tier_bills_three_lines(self):
        invoice, estimate = billed_and_estimated(october_customer(graduated_plan(), tokens=130_000_000))

        # 125,000,000 beyond: 10,000,000 × 2.00 = 20.00; 90,000,000 × 1.50 = 135.00; 25,000,000 × 1.00 = 25.00
        assert [amount for *_, amount in usage_lines(invoice.lines.all())] == [
            Decimal("20.00"), Decimal("135.00"), Decimal("25.00")]
        assert "tier 3 (tokens above 100,000,000): 1.00\xa0EUR per million" in usage_lines(invoice.lines.all())[2][0]
        assert invoice.subtotal == estimate.subtotal == Decimal("209.00")  # 29 + 20 + 135 + 25

    def test_volume_bills_all_the_tokens_at_the_price_of_the_tier_their_total_reaches(self):
        plan = scale_plan(usage_pricing=UsagePricing.VOLUME, usage_tiers=TIERS)
        invoice, estimate = billed_and_estimated(october_customer(plan))

        # 35,123,457 reaches tier 2: all of them × 1.50 = 52.6851855 → 52.69; 29.00 + 52.69 = 81.69; VAT 16.34
        expected = [
            ("Usage above the 5,000,000 included tokens, all at the price of tier 2 (tokens 10,000,001 to "
             "100,000,000): 1.50\xa0EUR per million", Decimal(35_123_457), Decimal("1.5000"), Decimal("52.69")),
        ]
        assert usage_lines(invoice.lines.all()) == expected == usage_lines(estimate.lines)
        assert (invoice.subtotal, invoice.total) == (Decimal("81.69"), Decimal("98.03"))
        assert (estimate.subtotal, estimate.total) == (Decimal("81.69"), Decimal("98.03"))

    def test_package_bills_each_started_block_at_the_block_price(self):
        plan = scale_plan(usage_pricing=UsagePricing.PACKAGE, package_tokens=1_000_000, package_price=Decimal("1.50"))
        invoice, estimate = billed_and_estimated(october_customer(plan))

        # ⌈35,123,457 / 1,000,000⌉ = 36 blocks × 1.50 = 54.00; 29.00 + 54.00 = 83.00; VAT 16.60
        expected = [
            ("Usage above the 5,000,000 included tokens: 35,123,457 tokens in started blocks of 1,000,000 tokens, "
             "1.50\xa0EUR a block", Decimal(36), Decimal("1.50"), Decimal("54.00")),
        ]
        assert usage_lines(invoice.lines.all()) == expected == usage_lines(estimate.lines)
        assert invoice.lines.get(kind=LineKind.USAGE).price_base_quantity == 1
        assert (invoice.subtotal, invoice.total) == (Decimal("83.00"), Decimal("99.60"))
        assert (estimate.subtotal, estimate.total) == (Decimal("83.00"), Decimal("99.60"))

    def test_within_the_quota_no_model_adds_a_usage_line(self):
        subscription = october_customer(graduated_plan(), tokens=5_000_000)
        invoice, estimate = billed_and_estimated(subscription)

        assert usage_lines(invoice.lines.all()) == [] == usage_lines(estimate.lines)
        assert invoice.subtotal == Decimal("29.00")

    def test_a_french_buyer_reads_the_tier_bounds_and_prices_written_the_french_way(self):
        invoice, _ = billed_and_estimated(october_customer(graduated_plan(), language="fr"))

        description = usage_lines(invoice.lines.all())[0][0]
        assert "5\u202f000\u202f000" in description and "10\u202f000\u202f000" in description
        assert "2,00\xa0EUR" in description


@pytest.mark.django_db
class TestAPlanChangeBetweenGraduatedAndPerUnit:
    def test_each_segment_is_priced_by_its_own_plan_model_and_quota(self):
        scale = graduated_plan()
        team = PlanFactory(code="team", name="Team", price=Decimal("99.00"), included_tokens=50_000_000,
                           overage_price_per_million=Decimal("1.50"))
        subscription = october_customer(scale, tokens=20_000_000)  # on 3 October, on Scale
        UsageLogFactory(user=subscription.user, tokens=30_000_000, created_at=paris(2026, 10, 20, 10))  # on Team
        subscription_change_plan(subscription=subscription, plan=team, now=paris(2026, 10, 16, 9))

        invoice, estimate = billed_and_estimated(subscription)

        # Scale 1–15 October (15/31 days): quota 5,000,000 × 15 // 31 = 2,419,354; 17,580,646 beyond:
        #   tier 1 10,000,000 × 2.00 = 20.00; tier 2 7,580,646 × 1.50 = 11.370969 → 11.37
        # Team 16–31 October (16/31 days): quota 50,000,000 × 16 // 31 = 25,806,451; 4,193,549 beyond at 1.50
        #   = 6.2903235 → 6.29
        # Fees: Scale 29.00 × 15/31 = 14.03; Team 99.00 × 16/31 = 51.10. Subtotal 102.79.
        lines = [(line.kind, line.amount) for line in invoice.lines.order_by("position")]
        assert lines == [
            (LineKind.PRORATION, Decimal("14.03")), (LineKind.SUBSCRIPTION, Decimal("51.10")),
            (LineKind.USAGE, Decimal("20.00")), (LineKind.USAGE, Decimal("11.37")), (LineKind.USAGE, Decimal("6.29")),
        ]
        assert [description for description, *_ in usage_lines(invoice.lines.order_by("position"))] == [
            "Scale plan, 15/31 days: usage above the 2,419,354 included tokens, tier 1 (tokens 1 to 10,000,000): "
            "2.00\xa0EUR per million",
            "Scale plan, 15/31 days: usage above the 2,419,354 included tokens, tier 2 (tokens 10,000,001 to "
            "100,000,000): 1.50\xa0EUR per million",
            "Team plan, 16/31 days: usage above the 25,806,451 included tokens",
        ]
        assert invoice.subtotal == estimate.subtotal == Decimal("102.79")


def plan_count_after(call) -> tuple[str, int]:
    with pytest.raises(BillingError) as refused:
        call()
    return str(refused.value), Plan.objects.count()


@pytest.mark.django_db
class TestValidation:
    @pytest.mark.parametrize(("changes", "message"), [
        ({"usage_pricing": "graduated", "usage_tiers": []}, "Graduated and volume pricing need at least one tier."),
        ({"usage_pricing": "volume", "usage_tiers": [{"up_to": 10, "price_per_million": "1"}]},
         "Tier 1: the last tier has no upper bound (up_to null)."),
        ({"usage_pricing": "graduated", "usage_tiers": [{"up_to": None, "price_per_million": "2"},
                                                        {"up_to": None, "price_per_million": "1"}]},
         "Tier 1: up_to must be a whole number of tokens; only the last tier is open."),
        ({"usage_pricing": "graduated", "usage_tiers": [{"up_to": 10, "price_per_million": "2"},
                                                        {"up_to": 10, "price_per_million": "1"},
                                                        {"up_to": None, "price_per_million": "1"}]},
         "Tier 2: up_to must be above 10 tokens (the bounds go up)."),
        ({"usage_pricing": "graduated", "usage_tiers": [{"up_to": 0, "price_per_million": "2"},
                                                        {"up_to": None, "price_per_million": "1"}]},
         "Tier 1: up_to must be above 0 tokens (the bounds go up)."),
        ({"usage_pricing": "graduated", "usage_tiers": [{"up_to": 10.5, "price_per_million": "2"},
                                                        {"up_to": None, "price_per_million": "1"}]},
         "Tier 1: up_to must be a whole number of tokens; only the last tier is open."),
        ({"usage_pricing": "graduated", "usage_tiers": [{"up_to": 10, "price_per_million": "-1"},
                                                        {"up_to": None, "price_per_million": "1"}]},
         "Tier 1: the price per million must be zero or more, with at most 4 decimals (got -1)."),
        ({"usage_pricing": "volume", "usage_tiers": [{"up_to": 10, "price_per_million": "2"},
                                                     {"up_to": None, "price_per_million": "0.00001"}]},
         "Tier 2: the price per million must be zero or more, with at most 4 decimals (got 0.00001)."),
        ({"usage_pricing": "graduated", "usage_tiers": [{"up_to": None}]},
         "Tier 1: give exactly up_to (tokens, or null) and price_per_million."),
        ({"usage_tiers": [{"up_to": None, "price_per_million": "1"}]},
         "Tiers apply to graduated and volume pricing only."),
        ({"usage_pricing": "package", "package_tokens": 0, "package_price": "1.00"},
         "Package pricing needs a block of at least 1 token (package tokens)."),
        ({"usage_pricing": "package", "package_tokens": 1000, "package_price": "1.005"},
         "The package price must be zero or more, with at most 2 decimals (got 1.005)."),
        ({"usage_pricing": "package", "package_tokens": 1000, "package_price": "-1"},
         "The package price must be zero or more, with at most 2 decimals (got -1)."),
        ({"usage_pricing": "package", "package_tokens": 1000},
         "Package pricing needs the price of a block (package price)."),
        ({"package_tokens": 1000, "package_price": "1.00"},
         "Package tokens and package price apply to package pricing only."),
        ({"usage_pricing": "tiered"}, "'tiered' is not a usage pricing: use one of per_unit, graduated, volume, "
                                      "package."),
    ])
    def test_a_new_plan_version_with_bad_usage_pricing_is_refused_and_nothing_is_written(self, changes, message):
        plan = scale_plan()

        assert plan_count_after(lambda: plan_new_version(plan=plan, now=RUN_AT, **changes)) == (message, 1)
        plan.refresh_from_db()
        assert plan.is_active

    def test_a_valid_graduated_version_is_written_with_its_tiers(self):
        new_plan = plan_new_version(plan=scale_plan(), now=RUN_AT, usage_pricing="graduated", usage_tiers=[
            {"up_to": 10_000_000, "price_per_million": Decimal("2.5")}, {"up_to": None, "price_per_million": "1.0125"},
        ])

        new_plan.refresh_from_db()
        assert (new_plan.code, new_plan.usage_pricing, new_plan.usage_tiers) == ("scale-2026", "graduated", [
            {"up_to": 10_000_000, "price_per_million": "2.5"}, {"up_to": None, "price_per_million": "1.0125"},
        ])

    def test_the_model_clean_names_the_tier(self):
        plan = Plan(code="x", name="X", price=Decimal("1.00"), included_tokens=0,
                    overage_price_per_million=Decimal(0), usage_pricing="graduated",
                    usage_tiers=[{"up_to": 5, "price_per_million": "1"}, {"up_to": 3, "price_per_million": "1"},
                                 {"up_to": None, "price_per_million": "1"}])

        with pytest.raises(Exception, match=r"Tier 2: up_to must be above 5 tokens"):
            plan.full_clean()

    @pytest.mark.parametrize("fields", [
        {"usage_pricing": "graduated", "usage_tiers": []},
        {"usage_pricing": "package", "package_tokens": None, "package_price": Decimal("1.00")},
        {"usage_pricing": "package", "package_tokens": 0, "package_price": Decimal("1.00")},
        {"usage_pricing": "per_unit", "package_tokens": 1000, "package_price": Decimal("1.00")},
        {"usage_pricing": "per_unit", "usage_tiers": [{"up_to": None, "price_per_million": "1"}]},
        {"usage_pricing": "package", "package_tokens": 1000, "package_price": Decimal("-1.00")},
        {"usage_pricing": "tiered"},
    ])
    def test_the_database_refuses_inconsistent_usage_pricing(self, fields):
        with pytest.raises(IntegrityError), transaction.atomic():
            Plan.objects.create(code="bad", name="Bad", price=Decimal("1.00"), included_tokens=0,
                                overage_price_per_million=Decimal(0), **fields)


def in_memory_plan(**fields) -> Plan:
    return Plan(code="p", name="P", price=Decimal("0.00"), included_tokens=0, overage_price_per_million=Decimal(0),
                **fields)


def charged(plan: Plan, overage: int) -> Decimal:
    return sum((charge.amount for charge in usage_charges(plan=plan, overage=overage)), Decimal(0))


PRICES = st.decimals(min_value=0, max_value=100, places=4)


@st.composite
def tiers(draw) -> list[dict]:
    bounds = sorted(draw(st.sets(st.integers(min_value=1, max_value=10**10), max_size=4)))
    prices = draw(st.lists(PRICES, min_size=len(bounds) + 1, max_size=len(bounds) + 1))
    return [{"up_to": up_to, "price_per_million": str(price)} for up_to, price in zip([*bounds, None], prices,
                                                                                      strict=True)]


class TestProperties:
    @settings(max_examples=200)
    @given(tiers(), st.integers(min_value=0, max_value=10**11), st.integers(min_value=0, max_value=10**11))
    def test_graduated_charge_is_monotonic_in_tokens(self, usage_tiers, a, b):
        plan = in_memory_plan(usage_pricing=UsagePricing.GRADUATED, usage_tiers=usage_tiers)

        assert charged(plan, min(a, b)) <= charged(plan, max(a, b))

    @settings(max_examples=200)
    @given(PRICES, st.integers(min_value=0, max_value=10**11))
    def test_volume_equals_graduated_with_one_tier(self, price, overage):
        [tier] = [{"up_to": None, "price_per_million": str(price)}]
        volume = in_memory_plan(usage_pricing=UsagePricing.VOLUME, usage_tiers=[tier])
        graduated = in_memory_plan(usage_pricing=UsagePricing.GRADUATED, usage_tiers=[tier])

        assert charged(volume, overage) == charged(graduated, overage)

    @settings(max_examples=200)
    @given(st.integers(min_value=1, max_value=10**9), st.decimals(min_value=0, max_value=10_000, places=2),
           st.integers(min_value=0, max_value=10**11))
    def test_package_bills_each_started_block(self, block, price, overage):
        plan = in_memory_plan(usage_pricing=UsagePricing.PACKAGE, package_tokens=block, package_price=price)

        blocks = (overage + block - 1) // block  # ⌈overage / block⌉ in whole numbers
        assert charged(plan, overage) == blocks * price


@pytest.mark.django_db
class TestDocuments:
    def test_a_graduated_invoice_prints_its_tier_lines_and_its_e_invoice_passes_en16931(self):
        invoice, _ = billed_and_estimated(october_customer(graduated_plan()))

        assert en16931_failures(document_xml(invoice)) == []
        text = pdf_text(render_invoice_pdf(invoice_document(invoice)))
        assert "tier 1 (tokens 1 to 10,000,000)" in text and "tier 2 (tokens 10,000,001 to 100,000,000)" in text
        assert "10,000,000 tokens" in text and "25,123,457 tokens" in text
        assert "20.00" in text and "37.69" in text and "104.03" in text

    def test_a_package_invoice_prints_its_blocks_and_its_e_invoice_passes_en16931(self):
        plan = scale_plan(usage_pricing=UsagePricing.PACKAGE, package_tokens=1_000_000, package_price=Decimal("1.50"))
        invoice, _ = billed_and_estimated(october_customer(plan))

        assert en16931_failures(document_xml(invoice)) == []
        text = pdf_text(render_invoice_pdf(invoice_document(invoice)))
        assert "in started blocks of 1,000,000 tokens" in text
        assert "54.00" in text and "99.60" in text


def pdf_text(pdf: bytes) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.mark.django_db
class TestAdmin:
    def test_the_plan_page_previews_what_1_10_and_100_million_tokens_cost(self, finance_client):
        plan = graduated_plan()

        html = finance_client.get(admin_url(plan, "change")).content.decode()

        # 1 M: within the 5 M included, the fee only. 10 M: 5 M beyond, tier 1: 29.00 + 10.00.
        # 100 M: 95 M beyond: 10 M × 2.00 + 85 M × 1.50 = 20.00 + 127.50; 29.00 + 147.50.
        assert "1 M tokens: 29.00 EUR<br>10 M tokens: 39.00 EUR<br>100 M tokens: 176.50 EUR" in html
        assert "10000000 2.00\n100000000 1.50\n* 1.00</textarea>" in html

    def test_finance_writes_the_tiers_one_a_line(self, finance_client):
        page = finance_client.get(admin_url(Plan, "add"))
        data = unchanged_form_data(page) | {
            "code": "scale", "name": "Scale", "price": "29.00", "included_tokens": "5000000",
            "overage_price_per_million": "0", "usage_pricing": "graduated",
            "usage_tiers": "10_000_000 2.00\n100000000 1.5\n* 1.0125",
        }

        response = finance_client.post(admin_url(Plan, "add"), data)

        assert response.status_code == 302
        assert Plan.objects.get(code="scale").usage_tiers == [
            {"up_to": 10_000_000, "price_per_million": "2.00"}, {"up_to": 100_000_000, "price_per_million": "1.5"},
            {"up_to": None, "price_per_million": "1.0125"},
        ]

    @pytest.mark.parametrize(("tiers", "error"), [
        ("10000000 2.00\n5000000 1.50\n* 1.00", "Tier 2: up_to must be above 10,000,000 tokens (the bounds go up)."),
        ("10000000 2.00\n20000000 1.50", "Tier 2: the last tier has no upper bound (up_to null)."),
        ("ten 2.00\n* 1.00", "Tier 1: “ten” is not a whole number of tokens, nor *."),
        ("10000000\n* 1.00", "Tier 1: write the tokens it goes up to (or *), then its price."),
        ("* 1.00001", "Tier 1: the price per million must be zero or more, with at most 4 decimals (got 1.00001)."),
    ])
    def test_bad_tiers_are_a_form_error_naming_the_tier_and_nothing_is_written(self, finance_client, tiers, error):
        page = finance_client.get(admin_url(Plan, "add"))
        data = unchanged_form_data(page) | {
            "code": "scale", "name": "Scale", "price": "29.00", "included_tokens": "5000000",
            "overage_price_per_million": "0", "usage_pricing": "graduated", "usage_tiers": tiers,
        }

        response = finance_client.post(admin_url(Plan, "add"), data)

        assert response.status_code == 200
        assert error in response.content.decode()
        assert not Plan.objects.filter(code="scale").exists()


@pytest.mark.django_db
class TestCustomerPages:
    def test_the_plan_page_tells_what_the_tokens_beyond_the_included_ones_cost(self, logged_in, customer):
        SubscriptionFactory(user=customer, plan=PlanFactory(), started_at=paris(2026, 10, 1))
        graduated_plan()
        scale_plan(code="bulk", name="Bulk", usage_pricing=UsagePricing.PACKAGE, package_tokens=1_000_000,
                   package_price=Decimal("1.50"))

        html = logged_in.get(reverse("billing:plan_change")).content.decode()

        rows = [
            ("Every token beyond the included ones", "2.00\xa0EUR per million"),  # Pro, per unit
            ("First 10,000,000 tokens beyond the included ones", "2.00\xa0EUR per million"),
            ("Next 90,000,000 tokens", "1.50\xa0EUR per million"),
            ("Above 100,000,000 tokens beyond the included ones", "1.00\xa0EUR per million"),
            ("Each started block of 1,000,000 tokens beyond the included ones", "1.50\xa0EUR"),
        ]
        for which, price in rows:
            assert f'<th scope="row">{which}</th><td class="num">{price}</td>' in html
        assert "5,000,000 tokens included; then the prices below" in html

    def test_the_dashboard_shows_the_tiers_of_a_graduated_plan(self, logged_in, customer, time_machine):
        time_machine.move_to(paris(2026, 10, 20, 12), tick=False)
        SubscriptionFactory(user=customer, plan=graduated_plan(), started_at=paris(2026, 10, 1))

        html = logged_in.get(reverse("billing:dashboard")).content.decode()

        assert '<th scope="row">Next 90,000,000 tokens</th><td class="num">1.50\xa0EUR per million</td>' in html
        assert "per million tokens</dd>" not in html  # not the per-unit overage price

    def test_the_plans_api_gives_the_usage_price_model(self):
        graduated_plan()
        issued = api_key_create(user=make_customer(), name="tests", scopes=["billing:read"])
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}")

        [scale] = client.get("/api/billing/plans/").json()["results"]

        assert {key: scale[key] for key in ("usage_pricing", "usage_tiers", "package_tokens", "package_price")} == {
            "usage_pricing": "graduated",
            "usage_tiers": [
                {"up_to": 10_000_000, "price_per_million": "2.0000"},
                {"up_to": 100_000_000, "price_per_million": "1.5000"},
                {"up_to": None, "price_per_million": "1.0000"},
            ],
            "package_tokens": None,
            "package_price": None,
        }


@pytest.mark.django_db
class TestUsageEmail:
    def test_the_quota_email_of_a_graduated_plan_points_to_its_prices_not_to_a_refusal(
        self, django_capture_on_commit_callbacks, media
    ):
        with django_capture_on_commit_callbacks(execute=True):
            email_queue(kind=EmailKind.USAGE_THRESHOLD, key="usage-2026-10:100", user=make_customer(), context={
                "percent": 100, "tokens_used": 5_000_000, "included_tokens": 5_000_000, "currency": "EUR",
                "period_start_date": "2026-10-01", "period_end_date": "2026-11-01",
                "overage_price_per_million": "0.0000", "usage_pricing": "graduated",
            })

        [message] = mail.outbox
        assert "Further tokens are billed at your plan's usage prices, on your next invoice." in message.body
        assert "refused" not in message.body


@pytest.mark.django_db
class TestQuotaRefusal:
    """Only per unit at no overage price is a hard cap: the other models bill the tokens beyond the quota."""

    DOCS = "/api/libraries/acme/widgets/docs/"

    @pytest.mark.parametrize(("fields", "status"), [
        ({"usage_pricing": UsagePricing.PER_UNIT}, 429),
        ({"usage_pricing": UsagePricing.GRADUATED, "usage_tiers": TIERS}, 200),
        ({"usage_pricing": UsagePricing.PACKAGE, "package_tokens": 1000, "package_price": Decimal("0.10")}, 200),
    ])
    def test_a_call_beyond_the_quota(self, time_machine, library_version, fields, status):
        time_machine.move_to(paris(2026, 10, 20, 12), tick=False)
        user = make_customer()
        plan = scale_plan(overage_price_per_million=Decimal("0"), **fields)
        SubscriptionFactory(user=user, plan=plan, started_at=paris(2026, 10, 1))
        UsageLogFactory(user=user, tokens=6_000_000, created_at=paris(2026, 10, 3, 10))
        key = api_key_create(user=user, name="Key", scopes=["docs:read"])
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.token}")

        assert client.get(self.DOCS).status_code == status
