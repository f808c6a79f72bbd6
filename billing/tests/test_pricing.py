"""Invoice amounts worked out by hand, through the monthly run (`generate_invoices`' code path)."""
import datetime
from decimal import Decimal

import pytest

from accounts.models import AuditLog
from accounts.tests.factories import make_customer
from billing.models import Interval, Invoice, InvoiceStatus, LineKind, Subscription
from billing.periods import Period
from billing.pricing import invoice_draft
from billing.selectors import invoice_upcoming
from billing.services import (
    credit_grant,
    invoice_generate,
    invoice_run,
    subscription_cancel,
    subscription_change_plan,
    subscription_pause,
    subscription_resume,
    subscription_scheduled_change_apply,
)
from billing.tax import OUTSIDE_EU_MENTION, REVERSE_CHARGE_MENTION
from billing.tests.factories import PARIS, PlanFactory, SubscriptionFactory, paris
from libraries.tests.factories import UsageLogFactory

UTC = datetime.UTC
NOVEMBER_1 = datetime.date(2026, 11, 1)
RUN_AT = datetime.datetime(2026, 11, 1, 2, 0, tzinfo=PARIS)


def pro():
    return PlanFactory(code="pro", name="Pro", price=Decimal("19.00"), included_tokens=5_000_000,
                       overage_price_per_million=Decimal("2.00"))


def team():
    return PlanFactory(code="team", name="Team", price=Decimal("99.00"), included_tokens=50_000_000,
                       overage_price_per_million=Decimal("1.50"))


def october_subscription(user, plan, **fields):
    fields.setdefault("current_period_start", datetime.date(2026, 10, 1))
    return SubscriptionFactory(
        user=user, plan=plan, current_period_end=NOVEMBER_1, started_at=paris(2026, 9, 1), **fields
    )


def use(user, tokens, at):
    UsageLogFactory(user=user, tokens=tokens, created_at=at)


def run_october() -> Invoice | None:
    invoice_run(period_end=NOVEMBER_1, now=RUN_AT)
    return Invoice.objects.order_by("pk").last()


def lines(invoice):
    return [(line.kind, line.quantity, line.unit_price, line.amount) for line in invoice.lines.order_by("position")]


@pytest.mark.django_db
class TestTax:
    @pytest.mark.parametrize(
        ("country", "vat_number", "tax", "total", "reverse_charge", "mention"),
        [
            ("FR", "", "3.80", "22.80", False, ""),
            ("", "", "3.80", "22.80", False, ""),  # no country counts as France
            ("FR", "FR40303265045", "3.80", "22.80", False, ""),  # a French business pays French VAT
            ("DE", "DE136695976", "0.00", "19.00", True, REVERSE_CHARGE_MENTION),
            ("GR", "EL094259216", "0.00", "19.00", True, REVERSE_CHARGE_MENTION),  # Greece's VAT prefix is EL
            ("DE", "", "3.80", "22.80", False, ""),  # an EU consumer
            ("DE", "DE136695977", "3.80", "22.80", False, ""),  # checksum wrong
            ("DE", "FR40303265045", "3.80", "22.80", False, ""),  # valid, but another country's
            ("US", "", "0.00", "19.00", False, OUTSIDE_EU_MENTION),
            ("CH", "CHE-116.281.710", "0.00", "19.00", False, OUTSIDE_EU_MENTION),
        ],
    )
    def test_tax_follows_the_buyer(self, country, vat_number, tax, total, reverse_charge, mention):
        october_subscription(make_customer(country=country, vat_number=vat_number), pro())

        invoice = run_october()

        assert invoice.subtotal == Decimal("19.00")
        assert invoice.tax_amount == Decimal(tax)
        assert invoice.total == Decimal(total)
        assert invoice.reverse_charge is reverse_charge
        assert invoice.tax_mention == mention
        assert invoice.tax_rate == (Decimal("0") if tax == "0.00" else Decimal("0.20"))

    def test_the_snapshot_keeps_buyer_and_seller_as_at_issue(self):
        user = make_customer(country="DE", vat_number="DE136695976", company_name="Muster GmbH", city="Berlin")
        october_subscription(user, pro())

        invoice = run_october()
        user.profile.company_name = "Renamed GmbH"
        user.profile.save()
        invoice.refresh_from_db()

        assert invoice.billing_details["buyer"]["company_name"] == "Muster GmbH"
        assert invoice.billing_details["buyer"]["vat_number"] == "DE136695976"
        assert invoice.billing_details["seller"]["siren"] == "303265045"


@pytest.mark.django_db
class TestFeeByDays:
    def test_a_full_month_pays_the_plan_fee(self):
        october_subscription(make_customer(), pro())

        invoice = run_october()

        assert lines(invoice) == [(LineKind.SUBSCRIPTION, Decimal("1"), Decimal("19.00"), Decimal("19.00"))]
        assert (invoice.period_start, invoice.period_end) == (datetime.date(2026, 10, 1), NOVEMBER_1)

    def test_a_first_partial_month_pays_its_days(self):
        # 15 → 31 October: 17 of 31 days; 19 × 17 / 31 = 10.419… → 10.42; VAT 2.084 → 2.08.
        october_subscription(make_customer(), pro(), current_period_start=datetime.date(2026, 10, 15))

        invoice = run_october()

        assert lines(invoice) == [(LineKind.SUBSCRIPTION, Decimal("1"), Decimal("10.42"), Decimal("10.42"))]
        assert (invoice.tax_amount, invoice.total) == (Decimal("2.08"), Decimal("12.50"))
        assert invoice.period_start == datetime.date(2026, 10, 15)

    def test_february_has_twenty_eight_days(self):
        # 15 → 28 February 2027: 14 of 28 days; 19 × 14 / 28 = 9.50.
        SubscriptionFactory(
            user=make_customer(), plan=pro(), current_period_start=datetime.date(2027, 2, 15),
            current_period_end=datetime.date(2027, 3, 1), started_at=paris(2027, 2, 15, 9),
        )

        invoice_run(period_end=datetime.date(2027, 3, 1), now=paris(2027, 3, 1, 2))

        assert Invoice.objects.get().subtotal == Decimal("9.50")

    def test_cancelling_now_stops_the_fee_that_day(self):
        # Cancelled on 10 October: 1 → 9 October billed, 9 of 31 days; 19 × 9 / 31 = 5.516… → 5.52.
        subscription = october_subscription(make_customer(), pro())
        subscription_cancel(subscription=subscription, at_period_end=False, now=paris(2026, 10, 10, 10))

        invoice = run_october()

        assert invoice.subtotal == Decimal("5.52")
        subscription.refresh_from_db()
        assert (subscription.current_period_start, subscription.current_period_end) == (
            datetime.date(2026, 10, 1), NOVEMBER_1
        )

    def test_a_plan_change_splits_the_fee_by_days(self):
        # Pro 1 → 10 October (10 days): 19 × 10 / 31 = 6.129… → 6.13 (PRORATION);
        # Team 11 → 31 October (21 days): 99 × 21 / 31 = 67.064… → 67.06 (SUBSCRIPTION).
        # 12M tokens: within Team's 50M, the plan in force at the period's end.
        user = make_customer()
        subscription = october_subscription(user, pro())
        team_plan = team()
        subscription_change_plan(subscription=subscription, plan=team_plan, now=paris(2026, 10, 11, 15))
        use(user, 12_000_000, paris(2026, 10, 20, 12))

        invoice = run_october()

        assert lines(invoice) == [
            (LineKind.PRORATION, Decimal("1"), Decimal("6.13"), Decimal("6.13")),
            (LineKind.SUBSCRIPTION, Decimal("1"), Decimal("67.06"), Decimal("67.06")),
        ]
        assert (invoice.subtotal, invoice.tax_amount, invoice.total) == (
            Decimal("73.19"), Decimal("14.64"), Decimal("87.83")
        )

    def test_paused_days_pay_no_fee(self):
        # Paused 11 → 20 October (10 days): 21 of 31 days; 19 × 21 / 31 = 12.870… → 12.87.
        subscription = october_subscription(make_customer(), pro())
        subscription_pause(subscription=subscription, now=paris(2026, 10, 11, 9))
        subscription_resume(subscription=subscription, now=paris(2026, 10, 21, 9))

        assert run_october().subtotal == Decimal("12.87")

    def test_a_yearly_plan_pays_its_first_partial_year_by_days(self):
        # Started 10 March 2026; the year is March 2026 → February 2027, 365 days, 356 of them billed:
        # 9,900 × 356 / 365 = 9,655.890… → 9,655.89; VAT 1,931.178 → 1,931.18.
        enterprise = PlanFactory(
            code="enterprise", name="Enterprise", interval=Interval.YEAR, price=Decimal("9900.00"),
            included_tokens=1_000_000_000, overage_price_per_million=Decimal("1.00"),
        )
        subscription = SubscriptionFactory(
            user=make_customer(), plan=enterprise, current_period_start=datetime.date(2026, 3, 10),
            current_period_end=datetime.date(2027, 3, 1), started_at=paris(2026, 3, 10, 11),
        )

        invoice_run(period_end=datetime.date(2027, 3, 1), now=paris(2027, 3, 1, 2))

        invoice = Invoice.objects.get()
        assert (invoice.subtotal, invoice.tax_amount, invoice.total) == (
            Decimal("9655.89"), Decimal("1931.18"), Decimal("11587.07")
        )
        subscription.refresh_from_db()
        assert (subscription.current_period_start, subscription.current_period_end) == (
            datetime.date(2027, 3, 1), datetime.date(2028, 3, 1)
        )


@pytest.mark.django_db
class TestOverage:
    @pytest.mark.parametrize(
        ("plan", "tokens", "quantity", "unit_price", "amount"),
        [
            (pro, 6_234_567, "1234567", "2.00", "2.47"),  # 2.469134 → 2.47
            (pro, 5_002_500, "2500", "2.00", "0.01"),  # 0.005 rounds half up, not to even
            (team, 53_333_333, "3333333", "1.50", "5.00"),  # 4.9999995 → 5.00
        ],
    )
    def test_overage_is_billed_per_million_and_rounded_half_up(self, plan, tokens, quantity, unit_price, amount):
        user = make_customer()
        subscription_plan = plan()
        october_subscription(user, subscription_plan)
        use(user, tokens, paris(2026, 10, 12, 8))

        invoice = run_october()

        usage = invoice.lines.get(kind=LineKind.USAGE)
        # The quantity is in tokens and the price is per million of them (EN 16931 BT-149).
        assert (usage.quantity, usage.unit_price, usage.price_base_quantity, usage.amount) == (
            Decimal(quantity), Decimal(unit_price), 1_000_000, Decimal(amount)
        )
        assert invoice.subtotal == subscription_plan.price + Decimal(amount)

    def test_usage_within_the_quota_adds_no_line(self):
        user = make_customer()
        october_subscription(user, pro())
        use(user, 5_000_000, paris(2026, 10, 12, 8))

        assert [line.kind for line in run_october().lines.all()] == [LineKind.SUBSCRIPTION]

    def test_the_quota_is_not_prorated(self):
        # A half month still includes the whole 5M tokens: 5.5M used → 0.5M over → 1.00.
        user = make_customer()
        october_subscription(user, pro(), current_period_start=datetime.date(2026, 10, 15))
        use(user, 5_500_000, paris(2026, 10, 20, 8))

        assert run_october().lines.get(kind=LineKind.USAGE).amount == Decimal("1.00")


def upgraded_on_the_31st_after_40_million_tokens() -> Subscription:
    """DESIGN's worked example: October on Pro, 40M tokens by the 30th, upgraded to Team on the 31st."""
    user = make_customer()
    subscription = october_subscription(user, pro())
    use(user, 25_000_000, paris(2026, 10, 3, 10))
    use(user, 15_000_000, paris(2026, 10, 30, 23, 30))  # the 30th in Paris, still on Pro
    subscription_change_plan(subscription=subscription, plan=team(), now=paris(2026, 10, 31, 9))
    return subscription


# Pro segment: 30 days, quota 5,000,000 × 30 / 31 = 4,838,709.67 → 4,838,709; 35,161,291 tokens over at
# 2.00 per million = 70.322582 → 70.32. Fees 19 × 30 / 31 = 18.387 → 18.39 and 99 × 1 / 31 = 3.193 → 3.19.
WORKED_EXAMPLE_LINES = [
    (LineKind.PRORATION, Decimal("1"), Decimal("18.39"), Decimal("18.39")),
    (LineKind.SUBSCRIPTION, Decimal("1"), Decimal("3.19"), Decimal("3.19")),
    (LineKind.USAGE, Decimal("35161291"), Decimal("2.00"), Decimal("70.32")),
]
WORKED_EXAMPLE_TOTALS = (Decimal("91.90"), Decimal("18.38"), Decimal("110.28"))


@pytest.mark.django_db
class TestUsageBelongsToThePlanInForce:
    def test_the_worked_example_is_invoiced_to_the_cent(self):
        upgraded_on_the_31st_after_40_million_tokens()

        invoice = run_october()

        assert lines(invoice) == WORKED_EXAMPLE_LINES
        assert (invoice.subtotal, invoice.tax_amount, invoice.total) == WORKED_EXAMPLE_TOTALS
        usage = invoice.lines.get(kind=LineKind.USAGE)
        assert usage.price_base_quantity == 1_000_000
        assert usage.description == "Pro plan, 30/31 days: usage above the 4,838,709 included tokens"

    def test_the_upcoming_invoice_shows_the_worked_example_before_the_period_ends(self):
        subscription = upgraded_on_the_31st_after_40_million_tokens()

        upcoming = invoice_upcoming(subscription=subscription, now=paris(2026, 10, 31, 18))

        assert [
            (line.kind, line.quantity, line.unit_price, line.amount) for line in upcoming.lines
        ] == WORKED_EXAMPLE_LINES
        assert (upcoming.subtotal, upcoming.tax_amount, upcoming.total) == WORKED_EXAMPLE_TOTALS
        assert upcoming.tokens_used == 40_000_000

    def test_each_segment_over_its_quota_has_its_own_usage_line_at_its_plan_price(self):
        # Pro 1 → 10 October: quota 5M × 10 / 31 = 1,612,903; 3M used → 1,387,097 over × 2.00 = 2.774… → 2.77.
        # Team 11 → 31 October: quota 50M × 21 / 31 = 33,870,967; 40M used → 6,129,033 over × 1.50 = 9.19.
        user = make_customer()
        subscription = october_subscription(user, pro())
        use(user, 3_000_000, paris(2026, 10, 10, 20))
        subscription_change_plan(subscription=subscription, plan=team(), now=paris(2026, 10, 11, 8))
        use(user, 40_000_000, paris(2026, 10, 25, 12))

        invoice = run_october()

        assert [line for line in lines(invoice) if line[0] == LineKind.USAGE] == [
            (LineKind.USAGE, Decimal("1387097"), Decimal("2.00"), Decimal("2.77")),
            (LineKind.USAGE, Decimal("6129033"), Decimal("1.50"), Decimal("9.19")),
        ]
        # Fees 19 × 10 / 31 = 6.13 and 99 × 21 / 31 = 67.06.
        assert invoice.subtotal == Decimal("6.13") + Decimal("67.06") + Decimal("2.77") + Decimal("9.19")

    def test_a_segment_within_its_quota_adds_no_usage_line(self):
        user = make_customer()
        subscription = october_subscription(user, pro())
        use(user, 1_612_903, paris(2026, 10, 10, 20))  # exactly Pro's 10-day quota
        subscription_change_plan(subscription=subscription, plan=team(), now=paris(2026, 10, 11, 8))

        assert [line[0] for line in lines(run_october())] == [LineKind.PRORATION, LineKind.SUBSCRIPTION]


@pytest.mark.django_db
class TestScheduledDowngrade:
    def test_the_period_stays_on_the_plan_paid_for_and_the_run_moves_to_the_new_one(self):
        # Downgraded to Pro on 20 October: October is Team's, whole quota and fee; November is Pro's.
        user = make_customer()
        subscription = october_subscription(user, team())
        subscription_change_plan(subscription=subscription, plan=pro(), now=paris(2026, 10, 20, 9))
        use(user, 30_000_000, paris(2026, 10, 25, 12))

        october = run_october()

        assert lines(october) == [(LineKind.SUBSCRIPTION, Decimal("1"), Decimal("99.00"), Decimal("99.00"))]
        subscription.refresh_from_db()
        assert (subscription.plan.code, subscription.current_period_start) == ("pro", NOVEMBER_1)
        assert AuditLog.objects.get(action="subscription.change_plan", object_id=str(subscription.pk)).changes == {
            "plan": ["team", "pro"], "scheduled": True
        }
        use(user, 6_000_000, paris(2026, 11, 10, 12))
        invoice_run(period_end=datetime.date(2026, 12, 1), now=paris(2026, 12, 1, 2))
        november = Invoice.objects.get(period_start=NOVEMBER_1)
        assert lines(november) == [
            (LineKind.SUBSCRIPTION, Decimal("1"), Decimal("19.00"), Decimal("19.00")),
            (LineKind.USAGE, Decimal("1000000"), Decimal("2.00"), Decimal("2.00")),
        ]

    def test_applied_at_once_by_finance_it_splits_the_period_like_an_upgrade(self):
        # Team 1 → 24 October (24 days): 99 × 24 / 31 = 76.645… → 76.65; Pro 25 → 31 (7 days): 4.290… → 4.29.
        user = make_customer()
        subscription = october_subscription(user, team())
        subscription_change_plan(subscription=subscription, plan=pro(), now=paris(2026, 10, 20, 9))
        subscription_scheduled_change_apply(subscription=subscription, now=paris(2026, 10, 25, 9))

        assert [line[3] for line in lines(run_october())] == [Decimal("76.65"), Decimal("4.29")]


@pytest.mark.django_db
class TestUsageBelongsToItsLocalDay:
    @pytest.mark.parametrize(
        ("moment", "in_october"),
        [
            (datetime.datetime(2026, 9, 30, 21, 59, tzinfo=UTC), False),  # 23:59 CEST, 30 September
            (datetime.datetime(2026, 9, 30, 22, 0, tzinfo=UTC), True),  # 00:00 CEST, 1 October
            (datetime.datetime(2026, 10, 25, 0, 30, tzinfo=UTC), True),  # the night clocks go back
            (datetime.datetime(2026, 10, 31, 22, 59, tzinfo=UTC), True),  # 23:59 CET, 31 October
            (datetime.datetime(2026, 10, 31, 23, 30, tzinfo=UTC), False),  # 00:30 CET, 1 November
        ],
    )
    def test_usage_counts_in_the_paris_month_of_its_timestamp(self, moment, in_october):
        user = make_customer()
        october_subscription(user, pro())
        use(user, 5_000_000, paris(2026, 10, 10, 12))
        use(user, 1_000_000, moment)

        invoice = run_october()

        expected = Decimal("21.00") if in_october else Decimal("19.00")
        assert invoice.subtotal == expected

    def test_march_ends_at_midnight_summer_time(self):
        user = make_customer()
        SubscriptionFactory(
            user=user, plan=pro(), current_period_start=datetime.date(2027, 3, 1),
            current_period_end=datetime.date(2027, 4, 1), started_at=paris(2027, 2, 1),
        )
        use(user, 6_000_000, datetime.datetime(2027, 3, 31, 21, 59, tzinfo=UTC))  # 23:59 CEST
        use(user, 9_000_000, datetime.datetime(2027, 3, 31, 22, 0, tzinfo=UTC))  # April in Paris

        invoice_run(period_end=datetime.date(2027, 4, 1), now=paris(2027, 4, 1, 2))

        assert Invoice.objects.get().lines.get(kind=LineKind.USAGE).amount == Decimal("2.00")


@pytest.mark.django_db
class TestCreditsOnNewInvoices:
    def test_a_partial_credit_lowers_the_amount_due(self):
        user = make_customer()
        october_subscription(user, pro())
        credit = credit_grant(user=user, type="PROMOTIONAL", amount=Decimal("10.00"), reason="Welcome",
                              now=paris(2026, 9, 1))

        invoice = run_october()

        # A promotional credit is a price reduction: 10.00 VAT included takes 8.33 off 19.00 (10.67 + 2.13 VAT).
        assert (invoice.subtotal, invoice.total, invoice.credit_applied, invoice.amount_due) == (
            Decimal("10.67"), Decimal("12.80"), Decimal("0.00"), Decimal("12.80")
        )
        assert invoice.status == InvoiceStatus.SENT
        credit.refresh_from_db()
        assert credit.remaining_amount == Decimal("0.00")

    def test_a_credit_covering_the_total_pays_the_invoice_at_once(self):
        user = make_customer()
        october_subscription(user, pro())
        credit = credit_grant(user=user, type="COMPENSATION", amount=Decimal("30.00"), reason="Outage",
                              now=paris(2026, 9, 1))

        invoice = run_october()

        assert (invoice.total, invoice.credit_applied, invoice.amount_due, invoice.status) == (
            Decimal("0.00"), Decimal("0.00"), Decimal("0.00"), InvoiceStatus.PAID
        )
        assert invoice.number == "TMCP-2026-000001"
        credit.refresh_from_db()
        assert credit.remaining_amount == Decimal("7.20")  # 30.00 − 22.80

    def test_an_expired_credit_is_ignored(self):
        user = make_customer()
        october_subscription(user, pro())
        credit_grant(user=user, type="PROMOTIONAL", amount=Decimal("10.00"), reason="Autumn offer",
                     expires_at=paris(2026, 10, 31, 23, 59), now=paris(2026, 10, 1))

        invoice = run_october()

        assert (invoice.credit_applied, invoice.amount_due) == (Decimal("0.00"), Decimal("22.80"))

    def test_the_credit_expiring_first_is_spent_first(self):
        user = make_customer()
        october_subscription(user, pro())
        never = credit_grant(user=user, type="REFUND", amount=Decimal("20.00"), reason="Refund", now=paris(2026, 9, 1))
        soon = credit_grant(user=user, type="PROMOTIONAL", amount=Decimal("15.00"), reason="Offer",
                            expires_at=paris(2026, 12, 31), now=paris(2026, 9, 2))

        run_october()

        never.refresh_from_db()
        soon.refresh_from_db()
        assert (soon.remaining_amount, never.remaining_amount) == (Decimal("0.00"), Decimal("12.20"))


@pytest.mark.django_db
class TestNothingOwed:
    def test_a_free_plan_gets_no_invoice(self):
        free = PlanFactory(code="free", name="Free", price=Decimal("0"), included_tokens=100_000,
                           overage_price_per_million=Decimal("0"))
        user = make_customer()
        october_subscription(user, free)
        use(user, 250_000, paris(2026, 10, 3))  # beyond the hard cap: refused calls, never billed

        summary = invoice_run(period_end=NOVEMBER_1, now=RUN_AT)

        assert (summary.created, summary.nothing_owed) == (0, 1)
        assert not Invoice.objects.exists()
        assert Subscription.objects.get().current_period_start == NOVEMBER_1

    def test_a_month_paused_throughout_gets_no_invoice(self):
        subscription = october_subscription(make_customer(), pro())
        subscription_pause(subscription=subscription, now=paris(2026, 10, 1, 0, 5))

        assert invoice_run(period_end=NOVEMBER_1, now=RUN_AT).nothing_owed == 1
        assert not Invoice.objects.exists()


@pytest.mark.django_db
class TestGenerateOnce:
    def test_generating_twice_returns_the_existing_invoice(self):
        subscription = october_subscription(make_customer(), pro())

        first = invoice_generate(subscription=subscription, period="2026-10")
        second = invoice_generate(subscription=subscription, period="2026-10")

        assert first.pk == second.pk
        assert first.status == InvoiceStatus.DRAFT and first.number is None
        assert Invoice.objects.count() == 1

    def test_the_run_finalises_a_draft_generated_by_hand_and_bills_nothing_twice(self):
        subscription = october_subscription(make_customer(), pro())
        draft = invoice_generate(subscription=subscription, period="2026-10")

        summary = invoice_run(period_end=NOVEMBER_1, now=RUN_AT)

        draft.refresh_from_db()
        assert (summary.created, summary.existing) == (0, 1)
        assert (draft.status, draft.number) == (InvoiceStatus.SENT, "TMCP-2026-000001")


@pytest.mark.django_db
class TestUpcomingInvoice:
    def test_prices_the_current_period_so_far_without_storing_it(self):
        user = make_customer()
        october_subscription(user, pro())
        use(user, 6_000_000, paris(2026, 10, 5))
        use(user, 9_000_000, paris(2026, 10, 20))  # after `now`: not yet used

        upcoming = invoice_upcoming(subscription=user.subscriptions.get(), now=paris(2026, 10, 15))

        assert upcoming.tokens_used == 6_000_000
        assert [line.amount for line in upcoming.lines] == [Decimal("19.00"), Decimal("2.00")]
        assert (upcoming.subtotal, upcoming.tax_amount, upcoming.total) == (
            Decimal("21.00"), Decimal("4.20"), Decimal("25.20")
        )
        assert not Invoice.objects.exists()


@pytest.mark.django_db
class TestLineDescriptions:
    def test_lines_are_written_in_the_buyers_language(self):
        user = make_customer(language="fr")
        october_subscription(user, pro(), current_period_start=datetime.date(2026, 10, 15))
        use(user, 6_234_567, paris(2026, 10, 20))

        invoice = run_october()

        assert [line.description for line in invoice.lines.order_by("position")] == [
            "Forfait Pro, octobre 2026\u00a0: 17 jours sur 31",
            "Consommation au-delà des 5\u202f000\u202f000 jetons inclus",
        ]
        assert invoice.lines.get(kind=LineKind.USAGE).quantity == Decimal(1_234_567)

    @pytest.mark.parametrize(
        ("language", "description"), [("fr", "Forfait Pro, décembre 2026"), ("en", "Pro plan, December 2026")]
    )
    def test_the_month_is_named_in_the_buyers_language(self, language, description):
        december = Period(datetime.date(2026, 12, 1), datetime.date(2027, 1, 1))
        subscription = SubscriptionFactory(
            user=make_customer(language=language), plan=pro(), current_period_start=december.start,
            current_period_end=december.end, started_at=paris(2026, 9, 1),
        )

        draft = invoice_draft(subscription=subscription, period=december, segment_tokens=[0])

        assert [line.description for line in draft.lines] == [description]

    def test_english_is_the_default(self):
        october_subscription(make_customer(), pro())

        assert run_october().lines.get().description == "Pro plan, October 2026"
