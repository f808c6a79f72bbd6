"""Customer billing pages: dashboard, invoices and their PDF, payments, credits, alerts, plan change and
cancellation. Figures are those of a French customer on Pro (19.00 a month, 5,000,000 tokens included) for
the current month, which started with the subscription; last month's invoice is 19.00 + 20 % VAT = 22.80.

The pages read the real clock, so the world is built around today's billing period.
"""
import datetime
import re
from decimal import Decimal
from io import BytesIO

import pytest
import time_machine
from django.template.loader import render_to_string
from django.test import override_settings
from django.urls import get_resolver, path, reverse
from django.utils import timezone
from pypdf import PdfReader

from accounts.tests.factories import UserFactory, UserProfileFactory
from billing import clock
from billing.models import (
    AlertType,
    BillingAlert,
    CreditType,
    Invoice,
    InvoiceStatus,
    LineKind,
    PaymentStatus,
    SubscriptionPlanChange,
    SubscriptionStatus,
)
from billing.money import round_money
from billing.periods import Period, add_months, period_containing
from billing.pricing import invoice_draft, usage_segments
from billing.selectors import load_subscriptions
from billing.services import invoice_finalize, payment_record
from billing.subscriptions.lifecycle import subscription_change_preview
from billing.tests.factories import CreditFactory, InvoiceFactory, PaymentFactory, PlanFactory, SubscriptionFactory
from libraries.tests.factories import UsageLogFactory

# Invoice PDFs are written under a folder of the test's own.
pytestmark = pytest.mark.usefixtures("media")

NBSP = "\u00a0"


def eur(amount: str) -> str:
    return f"{amount}{NBSP}EUR"


@pytest.fixture
def period() -> Period:
    return period_containing(clock.today())


@pytest.fixture
def pro():
    return PlanFactory()


@pytest.fixture
def team():
    return PlanFactory(
        code="team", name="Team", price=Decimal("99.00"), included_tokens=50_000_000,
        overage_price_per_million=Decimal("1.50"),
    )


@pytest.fixture
def subscription(customer, pro, period):
    return SubscriptionFactory(
        user=customer, plan=pro, current_period_start=period.start, current_period_end=period.end,
        started_at=period.start_at,
    )


@pytest.fixture
def invoice(subscription, period):
    """Last month's invoice, issued on the first day of this period: TMCP-<year>-000001, 22.80 EUR."""
    last_month = Period(add_months(period.start, -1), period.start)
    draft = InvoiceFactory(subscription=subscription, period_start=last_month.start, period_end=last_month.end)
    return invoice_finalize(invoice=draft, now=period.start_at + datetime.timedelta(hours=2))


@pytest.fixture
def usage(customer, period):
    """2,000,000 tokens this period: on its first day and today (the same day at the start of a month)."""
    now = timezone.now()
    first_day = min(now, period.start_at + datetime.timedelta(hours=1))
    UsageLogFactory(user=customer, tokens=765_433, created_at=first_day)
    today = max(period.start_at, now - datetime.timedelta(minutes=1))
    UsageLogFactory(user=customer, tokens=1_234_567, created_at=today)


@pytest.fixture
def stranger_invoice():
    stranger = UserProfileFactory(user__email="eve@example.com").user
    subscription = SubscriptionFactory(user=stranger, plan=PlanFactory())
    return invoice_finalize(invoice=InvoiceFactory(subscription=subscription))


def html_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


@pytest.mark.django_db
class TestLoginRequired:
    @pytest.mark.parametrize(
        "url",
        [
            "/billing/", "/billing/invoices/", "/billing/invoices/1/", "/billing/invoices/1/pdf/", "/billing/payments/",
            "/billing/credits/", "/billing/alerts/", "/billing/plan/", "/billing/plan/confirm/?plan=team",
            "/billing/cancel/",
        ],
    )
    def test_anonymous_visitors_are_sent_to_the_login_page(self, client, url):
        response = client.get(url)

        assert response.status_code == 302
        assert response.url.startswith("/account/login/?next=")

    def test_the_site_root_leads_to_the_dashboard(self, client):
        assert client.get("/").url == reverse("billing:dashboard")


@pytest.mark.django_db
class TestDashboard:
    def test_it_shows_the_plan_the_period_the_usage_and_the_upcoming_invoice(
        self, logged_in, subscription, usage, period
    ):
        html = html_of(logged_in.get(reverse("billing:dashboard")))

        assert '<p class="figure" data-testid="plan-name">Pro</p>' in html
        assert f"{eur('19.00')} a month" in html
        last_day = period.end - datetime.timedelta(days=1)
        assert f"{period.start:%-d %b %Y} – {last_day:%-d %b %Y}" in html
        assert "2,000,000" in html and "of 5,000,000 included — 40.00&nbsp;%" in html
        assert 'style="width: 40.00%"' in html
        assert f'data-testid="upcoming-total">{eur("22.80")}<' in html  # 19.00 + 20 % VAT
        assert f"Pro plan, {period.start:%B %Y}" in html

    def test_the_chart_has_a_bar_per_day_of_use_with_its_figures(self, logged_in, subscription, usage, period):
        html = html_of(logged_in.get(reverse("billing:dashboard")))

        daily = re.search(r'<svg class="usage-chart daily-chart".*?</svg>.*?</svg>', html).group()
        assert 'role="img"' in daily
        assert "2,000,000 tokens in total" in daily
        bars = re.findall(r'<rect class="bar[^"]*"', daily)
        assert len(bars) == (1 if clock.today() == period.start else 2)
        assert 'class="bar bar-today"' in daily

    def test_credits_lower_what_is_left_to_pay(self, logged_in, subscription, customer):
        CreditFactory(user=customer, amount=Decimal("5.00"), reason="Welcome offer")  # promotional: before tax
        CreditFactory(user=customer, type=CreditType.REFUND, amount=Decimal("2.00"), reason="Refund")  # prepaid

        html = html_of(logged_in.get(reverse("billing:dashboard")))

        # 5.00 VAT included takes 4.17 off the 19.00 fee: 14.83 + 2.97 VAT = 17.80; the refund pays 2.00 of it.
        assert "Promotional credit: Welcome offer" in html and eur("14.83") in html and eur("17.80") in html
        assert f"−{eur('2.00')}" in html and eur("15.80") in html

    def test_unread_alerts_are_listed_and_read_ones_are_not(self, logged_in, subscription, customer):
        BillingAlert.objects.create(
            user=customer, type=AlertType.USAGE_THRESHOLD, occasion="x:80", message="You used 80 % of your quota."
        )
        BillingAlert.objects.create(
            user=customer, type=AlertType.INVOICE_OVERDUE, occasion="old", message="An old story.",
            read_at=timezone.now(),
        )

        html = html_of(logged_in.get(reverse("billing:dashboard")))

        assert "You used 80 % of your quota." in html
        assert "An old story." not in html

    def test_a_customer_without_a_subscription_is_told_so(self, client):
        client.force_login(UserFactory())

        html = html_of(client.get(reverse("billing:dashboard")))

        assert "You have no active subscription." in html
        assert "No usage yet" in html

    def test_over_the_quota_the_bar_is_full_and_the_overage_price_shown(self, logged_in, subscription, customer):
        UsageLogFactory(user=customer, tokens=6_000_000, created_at=timezone.now() - datetime.timedelta(seconds=5))

        html = html_of(logged_in.get(reverse("billing:dashboard")))

        assert 'class="meter-fill is-over" style="width: 100%"' in html
        assert f"billed at {eur('2.00')} per million" in html


@pytest.mark.django_db
class TestInvoiceList:
    def test_it_lists_the_customers_issued_invoices_only(self, logged_in, invoice, stranger_invoice, subscription):
        InvoiceFactory(subscription=subscription)  # this period's draft: not the customer's to see yet

        html = html_of(logged_in.get(reverse("billing:invoice_list")))

        assert invoice.number.startswith(f"TMCP-{invoice.issue_date.year}-")
        assert invoice.number in html and eur("22.80") in html
        assert stranger_invoice.number not in html
        assert len(re.findall(r'href="/billing/invoices/\d+/"', html)) == 1

    def test_filters_by_status_and_year(self, logged_in, invoice):
        year = invoice.issue_date.year

        sent = html_of(logged_in.get(reverse("billing:invoice_list"), {"status": "SENT", "year": year}))
        paid = html_of(logged_in.get(reverse("billing:invoice_list"), {"status": "PAID"}))
        other_year = html_of(logged_in.get(reverse("billing:invoice_list"), {"year": year - 1}))

        assert invoice.number in sent
        assert invoice.number not in paid and "No invoice matches these filters." in paid
        assert invoice.number not in other_year
        assert f'<option value="{year}" selected>{year}</option>' in sent

    def test_it_is_paginated(self, logged_in, customer):
        plan = PlanFactory()
        subscription = SubscriptionFactory(user=customer, plan=plan, status=SubscriptionStatus.EXPIRED)
        for index in range(25):
            start = add_months(datetime.date(2024, 1, 1), index)
            InvoiceFactory(
                subscription=subscription, period_start=start, period_end=add_months(start, 1),
                number=f"TMCP-{start.year}-{index + 1:06d}", status=InvoiceStatus.SENT, issue_date=start,
                due_date=start,
            )

        first = html_of(logged_in.get(reverse("billing:invoice_list")))
        second = html_of(logged_in.get(reverse("billing:invoice_list"), {"page": 2}))

        assert len(re.findall(r'href="/billing/invoices/\d+/"', first)) == 20 and "Page 1 of 2" in first
        assert len(re.findall(r'href="/billing/invoices/\d+/"', second)) == 5


@pytest.mark.django_db
class TestInvoiceDetail:
    def test_it_shows_lines_totals_payments_and_the_pdf_link(self, logged_in, invoice):
        payment_record(
            invoice=invoice, amount=Decimal("10.00"), idempotency_key="transfer-1", provider_reference="VIR-1"
        )

        html = html_of(logged_in.get(reverse("billing:invoice_detail", args=[invoice.pk])))

        assert f"Invoice {invoice.number}" in html
        assert "Pro plan, 2026-10" in html  # the factory's line
        assert eur("19.00") in html and eur("3.80") in html
        assert f'data-testid="invoice-total">{eur("22.80")}<' in html
        assert "VIR-1" in html and f"−{eur('10.00')}" in html
        assert f'data-testid="amount-due"><strong>{eur("12.80")}</strong>' in html
        assert "Analytical SAS" in html  # the buyer as snapshotted at issue
        assert reverse("billing:invoice_pdf", args=[invoice.pk]) in html

    def test_a_cancelled_invoice_shows_its_credit_note(self, logged_in, invoice):
        from billing.services import invoice_cancel

        invoice_cancel(invoice=invoice, reason="Billed twice by mistake")

        html = html_of(logged_in.get(reverse("billing:invoice_detail", args=[invoice.pk])))

        assert "Credit note AV-" in html and "Billed twice by mistake" in html

    @pytest.mark.parametrize(
        ("language", "expected"),
        [
            ("en", ["35,161,291 tokens", "2.00\u00a0EUR / million tokens", "70.32\u00a0EUR", "Quantity",
                    "Left to pay"]),
            ("fr", ["35\u202f161\u202f291 jetons", "2,00\u00a0EUR / million de jetons", "70,32\u00a0EUR", "Quantité",
                    "Reste à payer", "Toutes les factures"]),
        ],
    )
    def test_a_usage_line_shows_its_tokens_and_price_per_million_in_the_readers_language(
        self, logged_in, invoice, customer, language, expected
    ):
        invoice.lines.create(
            kind=LineKind.USAGE, description="Usage above the 4,838,709 included tokens", quantity=35_161_291,
            unit_price=Decimal("2.00"), price_base_quantity=1_000_000, amount=Decimal("70.32"), position=9,
        )
        customer.profile.language = language
        customer.profile.save()

        html = html_of(logged_in.get(reverse("billing:invoice_detail", args=[invoice.pk])))

        for text in expected:
            assert text in html, text

    def test_the_credit_note_reason_is_its_label_and_detail(self, logged_in, invoice):
        from billing.services import invoice_cancel

        invoice_cancel(invoice=invoice, reason_code="DUPLICATE", reason="Same as the previous one")

        html = html_of(logged_in.get(reverse("billing:invoice_detail", args=[invoice.pk])))

        assert "Duplicate invoice — Same as the previous one" in html

    def test_another_customers_invoice_answers_404(self, logged_in, stranger_invoice):
        assert logged_in.get(reverse("billing:invoice_detail", args=[stranger_invoice.pk])).status_code == 404

    def test_a_draft_answers_404(self, logged_in, subscription):
        draft = InvoiceFactory(subscription=subscription)

        assert logged_in.get(reverse("billing:invoice_detail", args=[draft.pk])).status_code == 404
        assert logged_in.get(reverse("billing:invoice_pdf", args=[draft.pk])).status_code == 404


@pytest.mark.django_db
class TestInvoicePdf:
    def test_the_pdf_is_rendered_once_stored_and_downloaded(self, logged_in, invoice):
        response = logged_in.get(reverse("billing:invoice_pdf", args=[invoice.pk]))

        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        assert response["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'
        body = b"".join(response.streaming_content)
        assert body.startswith(b"%PDF")
        assert invoice.number in "".join(page.extract_text() for page in PdfReader(BytesIO(body)).pages)
        stored = Invoice.objects.get(pk=invoice.pk)
        assert stored.pdf and stored.pdf_sha256

        again = logged_in.get(reverse("billing:invoice_pdf", args=[invoice.pk]))
        assert b"".join(again.streaming_content) == body
        assert Invoice.objects.get(pk=invoice.pk).pdf.name == stored.pdf.name

    def test_another_customers_pdf_answers_404_and_is_not_rendered(self, logged_in, stranger_invoice):
        assert logged_in.get(reverse("billing:invoice_pdf", args=[stranger_invoice.pk])).status_code == 404
        assert not Invoice.objects.get(pk=stranger_invoice.pk).pdf


@pytest.mark.django_db
class TestPaymentsCreditsAlerts:
    def test_payments_of_the_customer_are_listed(self, logged_in, invoice, stranger_invoice):
        PaymentFactory(invoice=invoice, amount=Decimal("22.80"), status=PaymentStatus.COMPLETED)
        PaymentFactory(invoice=stranger_invoice, amount=Decimal("7.77"))

        html = html_of(logged_in.get(reverse("billing:payments")))

        assert invoice.number in html and eur("22.80") in html and "Completed" in html
        assert "7.77" not in html

    def test_credits_show_their_balance(self, logged_in, customer):
        CreditFactory(user=customer, amount=Decimal("10.00"), remaining_amount=Decimal("4.50"), reason="Welcome")
        CreditFactory(user=customer, amount=Decimal("3.00"), reason="Sorry for the outage")
        CreditFactory(amount=Decimal("99.00"), reason="Somebody else's")

        html = html_of(logged_in.get(reverse("billing:credits")))

        assert f'data-testid="credit-balance">{eur("7.50")}<' in html
        assert "Sorry for the outage" in html and "Somebody else" not in html

    @time_machine.travel(datetime.datetime(2026, 10, 20, 12, tzinfo=datetime.UTC), tick=False)
    def test_with_no_usable_credit_the_balance_is_zero_with_its_currency(self, logged_in, customer):
        CreditFactory(user=customer, expires_at=datetime.datetime(2026, 10, 19, tzinfo=datetime.UTC))

        html = html_of(logged_in.get(reverse("billing:credits")))

        assert f'data-testid="credit-balance">{eur("0.00")}<' in html

    def test_an_alert_is_marked_read(self, logged_in, customer):
        alert = BillingAlert.objects.create(
            user=customer, type=AlertType.PAYMENT_FAILED, occasion="p:1", message="Your card was declined."
        )

        html = html_of(logged_in.get(reverse("billing:alerts")))
        assert "Your card was declined." in html and "Mark as read" in html

        response = logged_in.post(reverse("billing:alert_read", args=[alert.pk]))

        assert response.status_code == 302
        alert.refresh_from_db()
        assert alert.read_at is not None

    def test_another_customers_alert_answers_404(self, logged_in):
        alert = BillingAlert.objects.create(
            user=UserFactory(), type=AlertType.PAYMENT_FAILED, occasion="p:2", message="Not yours."
        )

        assert logged_in.post(reverse("billing:alert_read", args=[alert.pk])).status_code == 404
        assert "Not yours." not in html_of(logged_in.get(reverse("billing:alerts")))


def expected_proration(period: Period, today: datetime.date) -> tuple[list[str], Decimal, Decimal]:
    """Lines, new fee and difference of a switch from Pro (19.00) to Team (99.00) today."""
    whole, before, after = period.days, (today - period.start).days, (period.end - today).days
    if before == 0:
        return [f"Team plan, {period.start:%B %Y}"], Decimal("99.00"), Decimal("80.00")
    pro_part = round_money(Decimal("19.00") * before / whole)
    team_part = round_money(Decimal("99.00") * after / whole)
    lines = [
        f"Pro plan, {before}/{whole} days of {period.start:%B %Y}",
        f"Team plan, {after}/{whole} days of {period.start:%B %Y}",
    ]
    return lines, pro_part + team_part, pro_part + team_part - Decimal("19.00")


@pytest.mark.django_db
class TestPlanChange:
    def test_the_plan_page_offers_the_other_plans(self, logged_in, subscription, team):
        PlanFactory(code="enterprise", name="Enterprise", price=Decimal("9900.00"), interval="YEAR")

        html = html_of(logged_in.get(reverse("billing:plan_change")))

        assert 'value="team"' in html and "Your current plan" in html
        assert 'value="enterprise"' not in html and "Billed on another interval" in html

    def test_the_confirmation_shows_the_proration_and_changes_nothing(self, logged_in, subscription, team, period):
        lines, new_fee, difference = expected_proration(period, clock.today())

        html = html_of(logged_in.get(reverse("billing:plan_change_confirm"), {"plan": "team"}))

        for line in lines:
            assert line in html
        assert f'data-testid="new-fee">{eur(new_fee)}<' in html
        assert f'data-testid="current-fee">{eur("19.00")}<' in html
        assert f'data-testid="difference">+{eur(difference)}<' in html
        subscription.refresh_from_db()
        assert subscription.plan.code == "pro"
        assert not SubscriptionPlanChange.objects.exists()

    def test_confirming_applies_the_change_priced_as_previewed(self, logged_in, subscription, team, period):
        preview = subscription_change_preview(subscription=subscription, plan=team)

        response = logged_in.post(reverse("billing:plan_change_confirm"), {"plan": "team"}, follow=True)

        assert "You are now on the Team plan." in html_of(response)
        subscription.refresh_from_db()
        assert subscription.plan == team
        [change] = SubscriptionPlanChange.objects.all()
        assert change.effective_date == max(clock.today(), period.start)
        [reloaded] = load_subscriptions([subscription.pk])
        no_usage = [0] * len(usage_segments(reloaded, period))
        assert invoice_draft(subscription=reloaded, period=period, segment_tokens=no_usage).lines == preview.new_lines

    def test_an_unknown_or_current_plan_is_refused_with_a_message(self, logged_in, subscription):
        unknown = logged_in.get(reverse("billing:plan_change_confirm"), {"plan": "nope"}, follow=True)
        same = logged_in.post(reverse("billing:plan_change_confirm"), {"plan": "pro"}, follow=True)

        assert "Choose one of the plans offered." in html_of(unknown)
        assert "is already on Pro" in html_of(same)
        assert not SubscriptionPlanChange.objects.exists()


@pytest.fixture
def team_in_october(customer, team):
    """On Team for October 2026; the pages are read on 20 October."""
    with time_machine.travel(datetime.datetime(2026, 10, 20, 12, tzinfo=datetime.UTC), tick=False):
        yield SubscriptionFactory(
            user=customer, plan=team, current_period_start=datetime.date(2026, 10, 1),
            current_period_end=datetime.date(2026, 11, 1),
        )


@pytest.mark.django_db
class TestScheduledDowngrade:
    def test_the_confirmation_says_the_period_keeps_its_plan(self, logged_in, team_in_october, pro):
        html = html_of(logged_in.get(reverse("billing:plan_change_confirm"), {"plan": "pro"}))

        assert 'data-testid="scheduled"' in html
        assert "you stay on Team until 31 Oct 2026 and are on Pro from <strong>1 Nov 2026</strong>" in html
        assert f'data-testid="difference">{eur("0.00")}<' in html
        assert not SubscriptionPlanChange.objects.exists()

    def test_confirming_schedules_it_and_the_dashboard_shows_it_with_a_cancel_button(
        self, logged_in, team_in_october, pro
    ):
        response = logged_in.post(reverse("billing:plan_change_confirm"), {"plan": "pro"}, follow=True)

        html = html_of(response)
        assert "You move to the Pro plan on 1 Nov 2026; until then you stay on Team." in html
        assert "You move to Pro on 1 Nov 2026; until then you stay on Team." in html
        assert f'action="{reverse("billing:scheduled_change_cancel")}"' in html
        team_in_october.refresh_from_db()
        assert team_in_october.plan.code == "team"

    def test_the_dashboard_button_cancels_it(self, logged_in, team_in_october, pro):
        logged_in.post(reverse("billing:plan_change_confirm"), {"plan": "pro"})

        response = logged_in.post(reverse("billing:scheduled_change_cancel"), follow=True)

        html = html_of(response)
        assert "The plan change is cancelled: you stay on Team." in html
        assert 'data-testid="scheduled-change"' not in html
        assert not SubscriptionPlanChange.objects.exists()

    def test_cancelling_when_nothing_is_scheduled_says_so(self, logged_in, team_in_october):
        response = logged_in.post(reverse("billing:scheduled_change_cancel"), follow=True)

        assert "has no plan change scheduled" in html_of(response)

    def test_a_french_customer_reads_the_refusal_in_french(self, logged_in, customer, team_in_october):
        customer.profile.language = "fr"
        customer.profile.save(update_fields=["language"])

        same = logged_in.post(reverse("billing:plan_change_confirm"), {"plan": "team"}, follow=True)
        nothing = logged_in.post(reverse("billing:scheduled_change_cancel"), follow=True)

        assert "L’abonnement est déjà sur Team." in html_of(same)
        assert "Aucun changement de forfait n’est prévu pour cet abonnement." in html_of(nothing)
        assert "already on" not in html_of(same) and "no plan change" not in html_of(nothing)


@pytest.mark.django_db
class TestPlanChangeConfirmationFigures:
    def test_the_page_confirms_the_figures_the_preview_api_answers(self, logged_in, customer, team_in_october, pro):
        UsageLogFactory(
            user=customer, tokens=60_000_000, created_at=datetime.datetime(2026, 10, 5, tzinfo=datetime.UTC)
        )
        business = PlanFactory(code="business", name="Business", price=Decimal("199.00"), included_tokens=200_000_000,
                               overage_price_per_million=Decimal("1.00"))

        html = html_of(logged_in.get(reverse("billing:plan_change_confirm"), {"plan": "business"}))
        api = logged_in.post(
            "/api/billing/subscription/change-plan/preview/", {"plan": business.code}, content_type="application/json"
        ).json()

        for field, testid in (("subtotal", "preview-subtotal"), ("tax_amount", "preview-tax"),
                              ("total", "preview-total"), ("total_without_change", "preview-total-without")):
            assert f'data-testid="{testid}">{eur(api[field])}<' in html
        # Team 1 → 19 October: 99 × 19 / 31 = 60.68, quota 50M × 19 / 31 = 30,645,161, 29,354,839 over × 1.50 = 44.03;
        # Business from the 20th: 199 × 12 / 31 = 77.03.
        assert [line["amount"] for line in api["lines"]] == ["60.68", "77.03", "44.03"]
        assert not SubscriptionPlanChange.objects.exists()


@pytest.mark.django_db
class TestCancel:
    def test_the_confirmation_page_changes_nothing(self, logged_in, subscription, period):
        html = html_of(logged_in.get(reverse("billing:cancel")))

        last_day = period.end - datetime.timedelta(days=1)
        assert f"At the end of this period, on {last_day:%-d %b %Y}" in html
        subscription.refresh_from_db()
        assert subscription.status == SubscriptionStatus.ACTIVE and not subscription.cancel_at_period_end

    def test_cancelling_at_the_period_end(self, logged_in, subscription):
        response = logged_in.post(reverse("billing:cancel"), {"when": "period_end"}, follow=True)

        assert "Your subscription will end with the current period." in html_of(response)
        subscription.refresh_from_db()
        assert subscription.cancel_at_period_end and subscription.status == SubscriptionStatus.ACTIVE
        assert "Your subscription ends on" in html_of(logged_in.get(reverse("billing:dashboard")))

    def test_cancelling_now(self, logged_in, subscription):
        response = logged_in.post(reverse("billing:cancel"), {"when": "now"}, follow=True)

        assert "Your subscription is cancelled." in html_of(response)
        subscription.refresh_from_db()
        assert subscription.status == SubscriptionStatus.CANCELLED

    def test_each_choice_shows_the_amount_of_the_final_invoice(self, logged_in, customer, team_in_october):
        UsageLogFactory(
            user=customer, tokens=60_000_000, created_at=datetime.datetime(2026, 10, 5, tzinfo=datetime.UTC)
        )

        html = html_of(logged_in.get(reverse("billing:cancel")))

        # At the period's end: Team's 99.00 and 10,000,000 tokens over the quota × 1.50 = 15.00, + 20 % VAT.
        assert f'data-testid="final-invoice-period-end">Final invoice: {eur("136.80")} incl. VAT' in html
        # Now, on 20 October: the fee of 1 → 19 October, 99 × 19 / 31 = 60.68, the same usage, + 20 % VAT.
        assert f'data-testid="final-invoice-now">Final invoice: {eur("90.82")} incl. VAT' in html
        team_in_october.refresh_from_db()
        assert team_in_october.status == SubscriptionStatus.ACTIVE and team_in_october.ended_at is None

    def test_the_final_invoice_says_what_is_left_to_pay_after_credits(self, logged_in, customer, team_in_october):
        # A refund is a prepaid amount, spent after tax (a promotional credit would lower the total itself).
        CreditFactory(user=customer, type=CreditType.REFUND, amount=Decimal("100.00"), reason="Refund")

        html = html_of(logged_in.get(reverse("billing:cancel")))

        # 99.00 + 20 % VAT = 118.80 at the period's end; 60.68 + 12.14 VAT = 72.82 now, which the credit covers.
        assert f"{eur('118.80')} incl. VAT, with the usage so far. After your credits, {eur('18.80')} to pay." in html
        assert f"{eur('72.82')} incl. VAT, with the usage so far. After your credits, {eur('0.00')} to pay." in html

    def test_without_a_subscription_there_is_nothing_to_cancel(self, client):
        client.force_login(UserFactory())

        response = client.post(reverse("billing:cancel"), {"when": "now"}, follow=True)

        assert "You have no active subscription." in html_of(response)


def _failing_view(request):
    raise RuntimeError("the database went away")


# The site's URLs plus a page that always fails, for TestErrorPages only (ROOT_URLCONF is this module there).
urlpatterns = [path("fails/", _failing_view), *get_resolver().url_patterns]


class TestErrorPages:
    @pytest.mark.django_db
    def test_an_unknown_address_answers_404_with_the_way_back(self, logged_in):
        response = logged_in.get("/billing/no-such-page/")

        assert response.status_code == 404
        html = response.content.decode()
        assert "This page does not exist" in html
        assert f'href="{reverse("billing:dashboard")}">Go to your dashboard' in html
        assert f'href="{reverse("billing:invoice_list")}"' in html
        assert "css/app.css" in html  # the site's look, not the server's bare page

    @pytest.mark.django_db
    def test_another_customers_invoice_answers_the_same_404_page(self, logged_in, stranger_invoice):
        response = logged_in.get(reverse("billing:invoice_detail", args=[stranger_invoice.pk]))

        assert response.status_code == 404
        assert "This page does not exist" in response.content.decode()

    @pytest.mark.django_db
    def test_it_speaks_the_visitors_language(self, client):
        response = client.get("/billing/no-such-page/", HTTP_ACCEPT_LANGUAGE="fr")

        assert "Cette page n’existe pas" in response.content.decode()

    @pytest.mark.django_db
    def test_a_visitor_not_logged_in_is_offered_the_login(self, client):
        response = client.get("/billing/no-such-page/")

        assert response.status_code == 404
        assert f'href="{reverse("accounts:login")}">Log in' in response.content.decode()

    @override_settings(ROOT_URLCONF=__name__)
    def test_a_server_error_answers_500_saying_what_to_do(self, client):
        client.raise_request_exception = False

        response = client.get("/fails/")

        assert response.status_code == 500
        html = response.content.decode()
        assert "Something went wrong on our side" in html and "Try again in a few minutes" in html
        assert 'href="/">Back to your dashboard' in html and "css/app.css" in html

    def test_the_500_page_renders_without_context_or_database(self):
        # No django_db mark: any query here fails the test.
        html = render_to_string("500.html")

        assert "Something went wrong on our side" in html
