"""Coupons: redeemed by the customer (page, API) or granted by finance, taken off the period invoices before tax,
for one period, some months or forever, in the monthly run and the upcoming-invoice estimate alike; a
document-level allowance in the Factur-X.

Customers are on Pro (19.00 a month, 5,000,000 tokens included, 2.00 per million beyond) since September 2026; a
French customer pays 20 % VAT: a month without a coupon is 19.00 + 3.80 = 22.80 EUR.
"""
import datetime
import io
from decimal import Decimal

import pytest
from django.db import IntegrityError
from lxml import etree
from pypdf import PdfReader
from rest_framework.test import APIClient

from accounts.models import AuditLog
from accounts.services import api_key_create
from accounts.tests.factories import make_customer
from billing.documents.data import invoice_document
from billing.documents.pdf import render_invoice_pdf
from billing.models import (
    Coupon,
    CouponRedemption,
    Interval,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    LineKind,
    Subscription,
    SubscriptionStatus,
)
from billing.selectors import invoice_upcoming
from billing.services import (
    charge_add,
    coupon_grant,
    coupon_redeem,
    invoice_finalize,
    invoice_generate,
    invoice_run,
)
from billing.subscriptions.coupons import CouponRefused, coupon_preview
from billing.tests.einvoice import document_xml, en16931_failures
from billing.tests.factories import PlanFactory, SubscriptionFactory, paris
from billing.tests.test_concurrency import run_in_threads
from libraries.tests.factories import UsageLogFactory

OCTOBER, NOVEMBER, DECEMBER, JANUARY, FEBRUARY = (
    datetime.date(2026, 10, 1), datetime.date(2026, 11, 1), datetime.date(2026, 12, 1), datetime.date(2027, 1, 1),
    datetime.date(2027, 2, 1),
)
REDEEMED_AT = paris(2026, 10, 10, 9, 0)
CII = {"ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"}


def run_at(period_end: datetime.date) -> datetime.datetime:
    """The monthly run of the period ending on `period_end`: 07:00 in Paris that day."""
    return paris(period_end.year, period_end.month, period_end.day, 7, 0)


def coupon(**fields) -> Coupon:
    values = {"code": "WELCOME20", "name": "Welcome", "percent_off": Decimal("20")} | fields
    return Coupon.objects.create(**values)


def pro_subscription(*, plan=None, **profile) -> Subscription:
    """A customer on Pro (or `plan`) since 14 September 2026, in its October period."""
    user = make_customer(**({"language": "en"} | profile))
    return SubscriptionFactory(
        user=user, plan=plan or PlanFactory(), current_period_start=OCTOBER, current_period_end=NOVEMBER,
        started_at=paris(2026, 9, 14, 9, 30),
    )


def run_month(period_end: datetime.date) -> None:
    invoice_run(period_end=period_end, now=run_at(period_end))


def period_invoice(subscription: Subscription, period_start: datetime.date) -> Invoice:
    return Invoice.objects.get(subscription=subscription, period_start=period_start, kind=InvoiceKind.PERIOD)


def upcoming_total(subscription: Subscription, month: datetime.date) -> Decimal:
    """The upcoming-invoice estimate of the period starting `month`, asked on its 20th."""
    return invoice_upcoming(subscription=subscription, now=paris(month.year, month.month, 20, 12, 0)).total


def figures(invoice) -> list:
    """Lines (kind, description, amount), then subtotal, tax, total: what the customer reads."""
    lines = invoice.lines.order_by("position") if isinstance(invoice, Invoice) else invoice.lines
    return [
        [(line.kind, line.description, line.amount) for line in lines],
        invoice.subtotal, invoice.tax_amount, invoice.total,
    ]


def months_of_invoices(subscription: Subscription, months: list[datetime.date]) -> list[Decimal]:
    """Bill each month in turn (the upcoming estimate on its 20th, then the run at its end): (estimate, invoice)."""
    totals = []
    for start in months:
        estimate = upcoming_total(subscription, start)
        end = datetime.date(start.year + start.month // 12, start.month % 12 + 1, 1)
        run_month(end)
        totals.append((estimate, period_invoice(subscription, start).total))
    return totals


@pytest.mark.django_db
class TestDurationsThroughTheRunAndTheEstimate:
    def test_once_takes_20_percent_off_the_next_invoice_only(self):
        subscription = pro_subscription()
        coupon(duration="once")
        coupon_redeem(user=subscription.user, code="welcome20", now=REDEEMED_AT)

        upcoming = invoice_upcoming(subscription=subscription, now=paris(2026, 10, 20, 12, 0))
        assert figures(upcoming) == [
            [
                (LineKind.SUBSCRIPTION, "Pro plan, October 2026", Decimal("19.00")),
                (LineKind.DISCOUNT, "Welcome (coupon WELCOME20): 20% off", Decimal("-3.80")),
            ],
            Decimal("15.20"), Decimal("3.04"), Decimal("18.24"),
        ]
        assert months_of_invoices(subscription, [OCTOBER, NOVEMBER, DECEMBER]) == [
            (Decimal("18.24"), Decimal("18.24")),
            (Decimal("22.80"), Decimal("22.80")),
            (Decimal("22.80"), Decimal("22.80")),
        ]
        redemption = CouponRedemption.objects.get()
        assert (redemption.periods_applied, redemption.ended_at) == (1, run_at(NOVEMBER))
        assert period_invoice(subscription, OCTOBER).coupon_redemption == redemption
        assert period_invoice(subscription, NOVEMBER).coupon_redemption is None

    def test_repeating_takes_5_eur_off_two_months_of_invoices(self):
        subscription = pro_subscription()
        coupon(code="FIVE", name="Five off", percent_off=None, amount_off=Decimal("5.00"), currency="EUR",
               duration="repeating", duration_months=2)
        coupon_redeem(user=subscription.user, code="five", now=REDEEMED_AT)

        # 19.00 − 5.00 = 14.00 + 2.80 VAT = 16.80 for October and November; December pays in full.
        assert months_of_invoices(subscription, [OCTOBER, NOVEMBER, DECEMBER, JANUARY]) == [
            (Decimal("16.80"), Decimal("16.80")),
            (Decimal("16.80"), Decimal("16.80")),
            (Decimal("22.80"), Decimal("22.80")),
            (Decimal("22.80"), Decimal("22.80")),
        ]
        [discount] = period_invoice(subscription, NOVEMBER).lines.filter(kind=LineKind.DISCOUNT)
        assert (discount.description, discount.quantity, discount.unit_price, discount.amount) == (
            "Five off (coupon FIVE): 5.00\u00a0EUR off", Decimal(1), Decimal("-5.00"), Decimal("-5.00"),
        )
        redemption = CouponRedemption.objects.get()
        assert (redemption.periods_applied, redemption.months_applied, redemption.ended_at) == (2, 2, run_at(DECEMBER))

    def test_forever_takes_10_percent_off_every_invoice(self):
        subscription = pro_subscription()
        coupon(code="LOYAL", name="Loyalty", percent_off=Decimal("10"), duration="forever")
        coupon_redeem(user=subscription.user, code="LOYAL", now=REDEEMED_AT)

        # 19.00 − 1.90 = 17.10 + 3.42 VAT = 20.52, month after month.
        assert months_of_invoices(subscription, [OCTOBER, NOVEMBER, DECEMBER, JANUARY]) == [
            (Decimal("20.52"), Decimal("20.52")),
        ] * 4
        redemption = CouponRedemption.objects.get()
        assert (redemption.periods_applied, redemption.ended_at) == (4, None)

    def test_a_percentage_is_of_fee_and_usage_rounded_half_up_and_vat_is_on_the_reduced_subtotal(self):
        subscription = pro_subscription()
        coupon(code="SPRING15", name="Spring", percent_off=Decimal("15"))
        coupon_redeem(user=subscription.user, code="spring15", now=REDEEMED_AT)
        # 1,650,000 tokens over the quota: 3.30; 15 % of 22.30 is 3.345 → 3.35 (half-up, not half-even's 3.34).
        UsageLogFactory(user=subscription.user, tokens=6_650_000, created_at=paris(2026, 10, 12, 10, 0))

        estimate = invoice_upcoming(subscription=subscription, now=paris(2026, 10, 31, 23, 0))
        run_month(NOVEMBER)
        invoice = period_invoice(subscription, OCTOBER)
        expected = [
            [
                (LineKind.SUBSCRIPTION, "Pro plan, October 2026", Decimal("19.00")),
                (LineKind.USAGE, "Usage above the 5,000,000 included tokens", Decimal("3.30")),
                (LineKind.DISCOUNT, "Spring (coupon SPRING15): 15% off", Decimal("-3.35")),
            ],
            Decimal("18.95"), Decimal("3.79"), Decimal("22.74"),
        ]
        assert figures(estimate) == expected
        assert figures(invoice) == expected

    def test_an_amount_is_capped_at_the_lines_an_invoice_at_zero_is_issued_paid_and_the_period_counts(self):
        subscription = pro_subscription()
        coupon(code="BIG", name="Big", percent_off=None, amount_off=Decimal("25.00"), currency="EUR")
        coupon_redeem(user=subscription.user, code="BIG", now=REDEEMED_AT)

        assert upcoming_total(subscription, OCTOBER) == Decimal("0.00")
        run_month(NOVEMBER)
        invoice = period_invoice(subscription, OCTOBER)
        assert figures(invoice)[1:] == [Decimal("0.00"), Decimal("0.00"), Decimal("0.00")]
        assert invoice.lines.get(kind=LineKind.DISCOUNT).amount == Decimal("-19.00")
        assert (invoice.status, invoice.amount_due) == (InvoiceStatus.PAID, Decimal("0.00"))
        assert CouponRedemption.objects.get().ended_at == run_at(NOVEMBER)
        assert upcoming_total(subscription, NOVEMBER) == Decimal("22.80")

    def test_a_yearly_period_counts_twelve_months_and_is_discounted_whole(self):
        yearly = PlanFactory(code="pro-year", name="Pro yearly", price=Decimal("190.00"), interval=Interval.YEAR)
        subscription = pro_subscription(plan=yearly)
        Subscription.objects.filter(pk=subscription.pk).update(current_period_end=datetime.date(2027, 10, 1))
        coupon(code="Q1", name="First quarter", percent_off=Decimal("20"), duration="repeating", duration_months=3)
        coupon_redeem(user=subscription.user, code="Q1", now=REDEEMED_AT)

        invoice_run(period_end=datetime.date(2027, 10, 1), now=paris(2027, 10, 1, 7, 0))

        # 190.00 − 38.00 = 152.00 + 30.40 VAT; the year used the coupon's three months up.
        invoice = period_invoice(subscription, OCTOBER)
        assert invoice.total == Decimal("182.40")
        redemption = CouponRedemption.objects.get()
        assert (redemption.periods_applied, redemption.months_applied) == (1, 12)
        assert redemption.ended_at is not None

    def test_a_one_off_invoice_gets_no_discount_and_leaves_the_coupon_to_the_period_invoice(self):
        subscription = pro_subscription()
        coupon(duration="once")
        coupon_redeem(user=subscription.user, code="WELCOME20", now=REDEEMED_AT)

        charge_add(user=subscription.user, description="Onboarding workshop", amount=Decimal("150.00"),
                   invoice_now=True, now=paris(2026, 10, 15, 10, 0))

        one_off = Invoice.objects.get(kind=InvoiceKind.ONE_OFF)
        assert (one_off.total, one_off.coupon_redemption) == (Decimal("180.00"), None)
        assert not one_off.lines.filter(kind=LineKind.DISCOUNT).exists()
        assert CouponRedemption.objects.get().periods_applied == 0
        run_month(NOVEMBER)
        assert period_invoice(subscription, OCTOBER).total == Decimal("18.24")

    def test_generating_then_finalising_counts_the_period_like_the_run(self):
        subscription = pro_subscription()
        coupon(duration="once")
        coupon_redeem(user=subscription.user, code="WELCOME20", now=REDEEMED_AT)

        draft = invoice_generate(subscription=subscription, period="2026-10")
        assert CouponRedemption.objects.get().periods_applied == 0  # a draft is not issued yet
        invoice_finalize(invoice=draft, now=run_at(NOVEMBER))

        assert Invoice.objects.get().total == Decimal("18.24")
        assert CouponRedemption.objects.get().ended_at == run_at(NOVEMBER)


@pytest.mark.django_db
class TestRedemptionRules:
    @pytest.fixture
    def subscription(self):
        return pro_subscription()

    @pytest.mark.parametrize(
        ("fields", "code", "message"),
        [
            ({}, "NOPE", "NOPE is not a valid coupon code."),
            ({"is_active": False}, "WELCOME20", "The coupon WELCOME20 is no longer offered."),
            ({"expires_at": paris(2026, 10, 1)}, "WELCOME20", "The coupon WELCOME20 has expired."),
            ({"max_redemptions": 1, "times_redeemed": 1}, "WELCOME20",
             "The coupon WELCOME20 has been used as many times as it can be."),
            ({"percent_off": None, "amount_off": Decimal("5"), "currency": "USD"}, "WELCOME20",
             "The coupon WELCOME20 is in USD; your plan is billed in EUR."),
        ],
    )
    def test_a_code_that_cannot_be_redeemed_is_refused_and_nothing_is_written(
        self, subscription, fields, code, message
    ):
        coupon(**fields)
        with pytest.raises(CouponRefused, match=message):
            coupon_redeem(user=subscription.user, code=code, now=REDEEMED_AT)
        assert not CouponRedemption.objects.exists()
        assert not AuditLog.objects.filter(action="coupon.redeem").exists()

    def test_a_customer_redeems_a_coupon_once_even_on_a_later_subscription(self, subscription):
        coupon()
        coupon_redeem(user=subscription.user, code="WELCOME20", now=REDEEMED_AT)
        CouponRedemption.objects.update(ended_at=REDEEMED_AT)
        with pytest.raises(CouponRefused, match="You have already used the coupon WELCOME20."):
            coupon_redeem(user=subscription.user, code="WELCOME20", now=REDEEMED_AT)

    def test_one_coupon_runs_at_a_time(self, subscription):
        coupon()
        coupon(code="OTHER")
        coupon_redeem(user=subscription.user, code="WELCOME20", now=REDEEMED_AT)
        with pytest.raises(CouponRefused, match="already has the coupon WELCOME20"):
            coupon_redeem(user=subscription.user, code="OTHER", now=REDEEMED_AT)

    def test_without_a_live_subscription_there_is_nothing_to_discount(self, subscription):
        Subscription.objects.update(status=SubscriptionStatus.EXPIRED)
        coupon()
        with pytest.raises(CouponRefused, match="subscribe to a plan first"):
            coupon_redeem(user=subscription.user, code="WELCOME20", now=REDEEMED_AT)

    def test_finance_grants_a_coupon_audited_with_its_actor(self, subscription, finance):
        granted = coupon_grant(coupon=coupon(), user=subscription.user, granted_by=finance, now=REDEEMED_AT)
        assert (granted.granted_by, Coupon.objects.get().times_redeemed) == (finance, 1)
        entry = AuditLog.objects.get(action="coupon.grant")
        assert (entry.actor, entry.object_id, entry.changes["coupon"]) == (finance, str(granted.pk), "WELCOME20")

    def test_the_preview_shows_the_reduced_price_and_writes_nothing(self, subscription):
        coupon()
        preview = coupon_preview(user=subscription.user, code="welcome20", now=paris(2026, 10, 20, 12, 0))
        assert (preview.plan_price, preview.reduced_price) == (Decimal("19.00"), Decimal("15.20"))
        assert (preview.invoice.total, preview.invoice_without_coupon.total) == (Decimal("18.24"), Decimal("22.80"))
        assert not CouponRedemption.objects.exists()

    def test_the_database_refuses_a_coupon_with_both_a_percentage_and_an_amount(self):
        with pytest.raises(IntegrityError, match="coupon_percent_or_amount_off"):
            coupon(amount_off=Decimal("5.00"), currency="EUR")


@pytest.mark.django_db(transaction=True)
def test_the_last_redemption_goes_to_one_of_two_customers_redeeming_at_once():
    first, second = pro_subscription(), pro_subscription()
    limited = coupon(max_redemptions=1)

    def redeem(user):
        def call():
            try:
                return coupon_redeem(user=user, code="WELCOME20", now=REDEEMED_AT)
            except CouponRefused as refused:
                return str(refused)

        return call

    results = run_in_threads(redeem(first.user), redeem(second.user), hold=Coupon.objects.filter(pk=limited.pk))

    assert sorted(isinstance(result, CouponRedemption) for result in results) == [False, True]
    assert "The coupon WELCOME20 has been used as many times as it can be." in results
    assert (Coupon.objects.get().times_redeemed, CouponRedemption.objects.count()) == (1, 1)


def api_client(user, *scopes: str) -> APIClient:
    issued = api_key_create(user=user, name="tests", scopes=list(scopes or ("billing:read", "billing:write")))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}")
    return client


@pytest.mark.django_db
class TestApi:
    URL = "/api/billing/subscription/coupon/"

    def test_redeeming_answers_the_coupon_and_the_subscription_shows_it(self, time_machine):
        time_machine.move_to(REDEEMED_AT, tick=False)
        subscription = pro_subscription()
        coupon(code="FIVE", name="Five off", percent_off=None, amount_off=Decimal("5.00"), currency="EUR",
               duration="repeating", duration_months=3)
        client = api_client(subscription.user)

        response = client.post(self.URL, {"code": " five "}, format="json")

        assert response.status_code == 200
        expected = {
            "code": "FIVE", "name": "Five off", "percent_off": None, "amount_off": "5.00", "currency": "EUR",
            "duration": "repeating", "duration_months": 3, "periods_applied": 0, "periods_left": 3,
        }
        assert {key: response.json()[key] for key in expected} == expected
        shown = client.get("/api/billing/subscription/").json()["coupon"]
        assert {key: shown[key] for key in expected} == expected
        assert AuditLog.objects.filter(action="coupon.redeem").count() == 1

    @pytest.mark.parametrize("body", [{"code": "NOPE"}, {"code": ""}, {}])
    def test_a_bad_code_answers_400_naming_code_and_writes_nothing(self, body):
        subscription = pro_subscription()
        coupon()
        response = api_client(subscription.user).post(self.URL, body, format="json")
        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == ["code"]
        assert (CouponRedemption.objects.count(), Coupon.objects.get().times_redeemed) == (0, 0)

    def test_an_unknown_code_says_so(self):
        subscription = pro_subscription()
        response = api_client(subscription.user).post(self.URL, {"code": "nope"}, format="json")
        assert response.json()["error"]["fields"]["code"] == ["NOPE is not a valid coupon code."]

    def test_a_key_without_billing_write_is_refused(self):
        subscription = pro_subscription()
        coupon()
        response = api_client(subscription.user, "billing:read").post(self.URL, {"code": "WELCOME20"}, format="json")
        assert (response.status_code, response.json()["error"]["code"]) == (403, "insufficient_scope")
        assert not CouponRedemption.objects.exists()

    def test_the_subscription_without_coupon_says_null(self):
        subscription = pro_subscription()
        assert api_client(subscription.user).get("/api/billing/subscription/").json()["coupon"] is None


@pytest.mark.django_db
class TestPlanPage:
    def test_the_customer_sees_the_reduced_price_then_confirms(self, client, time_machine):
        time_machine.move_to(paris(2026, 10, 20, 12, 0), tick=False)
        subscription = pro_subscription()
        coupon()
        client.force_login(subscription.user)

        page = client.get("/billing/plan/").content.decode()
        assert "Coupon code" in page and 'action="/billing/plan/coupon/"' in page

        confirm = client.get("/billing/plan/coupon/", {"code": "welcome20"})
        text = confirm.content.decode()
        assert confirm.status_code == 200
        assert 'data-testid="reduced-price"><strong>15.20\u00a0EUR</strong>' in text
        assert 'data-testid="preview-total">18.24\u00a0EUR' in text
        assert 'data-testid="preview-total-without">22.80\u00a0EUR' in text
        assert not CouponRedemption.objects.exists()

        done = client.post("/billing/plan/coupon/", {"code": "WELCOME20"}, follow=True)
        assert done.redirect_chain[-1][0] == "/billing/"
        assert "The coupon WELCOME20 is applied to your next invoices." in done.content.decode()
        assert CouponRedemption.objects.get().subscription == subscription
        assert "Your subscription has the coupon Welcome (WELCOME20)" in client.get("/billing/plan/").content.decode()

    def test_a_bad_code_goes_back_to_the_plan_page_saying_why(self, client):
        subscription = pro_subscription()
        client.force_login(subscription.user)
        response = client.get("/billing/plan/coupon/", {"code": "nope"}, follow=True)
        assert response.redirect_chain[-1][0] == "/billing/plan/"
        assert "NOPE is not a valid coupon code." in response.content.decode()


@pytest.mark.django_db
class TestAdmin:
    def test_finance_creates_a_coupon_in_any_case_and_sees_its_redemptions(self, finance_client):
        response = finance_client.post("/admin/billing/coupon/add/", {
            "code": "spring", "name": "Spring", "percent_off": "15", "amount_off": "", "currency": "",
            "duration": "repeating", "duration_months": "3", "max_redemptions": "100", "expires_at_0": "",
            "expires_at_1": "", "is_active": "on",
            "redemptions-TOTAL_FORMS": "0", "redemptions-INITIAL_FORMS": "0",
        })
        assert response.status_code == 302, response.content.decode()[:3000]
        created = Coupon.objects.get()
        assert (created.code, created.percent_off, created.duration_months) == ("SPRING", Decimal("15.00"), 3)
        assert AuditLog.objects.filter(object_type="billing.Coupon", object_id=str(created.pk)).exists()

        coupon_redeem(user=pro_subscription().user, code="SPRING", now=REDEEMED_AT)
        listing = finance_client.get("/admin/billing/coupon/").content.decode()
        assert "SPRING" in listing and "15%" in listing
        assert '<td class="field-times_redeemed">1</td>' in listing

    def test_a_coupon_with_both_a_percentage_and_an_amount_is_a_form_error(self, finance_client):
        response = finance_client.post("/admin/billing/coupon/add/", {
            "code": "both", "name": "Both", "percent_off": "15", "amount_off": "5.00", "currency": "EUR",
            "duration": "once", "redemptions-TOTAL_FORMS": "0", "redemptions-INITIAL_FORMS": "0",
        })
        assert response.status_code == 200
        assert "Give a percentage (above 0, at most 100) or an amount off" in response.content.decode()
        assert not Coupon.objects.exists()

    def test_finance_grants_a_coupon_to_a_customer_by_email(self, finance_client, finance):
        subscription = pro_subscription(user__email="grace@example.com")
        granted = coupon()
        response = finance_client.post("/admin/billing/coupon/", {
            "action": "grant", "_selected_action": [granted.pk], "apply": "1", "customer": "grace@example.com",
        }, follow=True)
        assert "Coupon granted to grace@example.com" in response.content.decode()
        redemption = CouponRedemption.objects.get()
        assert (redemption.subscription, redemption.granted_by) == (subscription, finance)


@pytest.mark.django_db
class TestDocuments:
    def issued(self, **profile) -> Invoice:
        subscription = pro_subscription(**profile)
        coupon(duration="once")
        coupon_redeem(user=subscription.user, code="WELCOME20", now=REDEEMED_AT)
        run_month(NOVEMBER)
        return period_invoice(subscription, OCTOBER)

    def test_the_factur_x_of_a_french_invoice_carries_the_discount_as_an_allowance_and_is_valid(self):
        invoice = self.issued()
        xml = document_xml(invoice)

        assert en16931_failures(xml) == []
        root = etree.fromstring(xml)
        [allowance] = root.iterfind(".//ram:ApplicableHeaderTradeSettlement/ram:SpecifiedTradeAllowanceCharge", CII)
        assert allowance.findtext("ram:ActualAmount", namespaces=CII) == "3.80"
        assert allowance.findtext("ram:Reason", namespaces=CII) == "Welcome (coupon WELCOME20): 20% off"
        assert allowance.findtext("ram:CategoryTradeTax/ram:CategoryCode", namespaces=CII) == "S"
        assert allowance.findtext("ram:CategoryTradeTax/ram:RateApplicablePercent", namespaces=CII) == "20"
        summation = root.find(".//ram:SpecifiedTradeSettlementHeaderMonetarySummation", CII)
        totals = {child.tag.split("}")[1]: child.text for child in summation}
        assert [totals[name] for name in ("LineTotalAmount", "AllowanceTotalAmount", "TaxBasisTotalAmount")] == [
            "19.00", "3.80", "15.20",
        ]
        assert totals["GrandTotalAmount"] == "18.24"
        assert len(root.findall(".//ram:IncludedSupplyChainTradeLineItem", CII)) == 1  # the discount is no line

    def test_the_factur_x_of_a_reverse_charge_invoice_is_valid(self):
        invoice = self.issued(country="DE", company_name="Analytische GmbH", vat_number="DE129273398")
        assert (invoice.reverse_charge, invoice.total) == (True, Decimal("15.20"))
        xml = document_xml(invoice)
        assert en16931_failures(xml) == []
        category = etree.fromstring(xml).findtext(
            ".//ram:SpecifiedTradeAllowanceCharge/ram:CategoryTradeTax/ram:CategoryCode", namespaces=CII
        )
        assert category == "AE"

    def test_the_pdf_shows_the_discount_line_before_the_vat(self):
        invoice = self.issued()
        text = " ".join(
            " ".join(page.extract_text().split())
            for page in PdfReader(io.BytesIO(render_invoice_pdf(invoice_document(invoice)))).pages
        )
        assert "Welcome (coupon WELCOME20): 20% off" in text
        assert text.index("-3.80 EUR") < text.index("Subtotal (excl. VAT)")
        assert "15.20 EUR" in text and "18.24 EUR" in text
