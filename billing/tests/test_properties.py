"""Properties of generated invoices, checked on many generated plans, usages, credits and payments.

Expected figures come from exact rational arithmetic (`Fraction`) rounded half-up to the cent here,
never from the billing code itself. Pricing is pure; credits and payments go through the database,
each example inside a transaction that is rolled back so that examples never see each other's rows.
"""

import datetime
import math
from contextlib import contextmanager
from decimal import Decimal
from fractions import Fraction

import pytest
from django.conf import settings
from django.db import transaction
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts.tests.factories import UserProfileFactory
from billing.models import (
    Credit,
    CreditType,
    Interval,
    InvoiceStatus,
    LineKind,
    Payment,
    Plan,
    Subscription,
    SubscriptionPlanChange,
)
from billing.periods import Period
from billing.pricing import invoice_draft, invoice_totals, usage_segments
from billing.selectors import history_prefill
from billing.services import invoice_finalize, invoice_generate, payment_record, payment_refund
from billing.tax import TaxTreatment, tax_treatment
from billing.tests.factories import CreditFactory, PlanFactory, SubscriptionFactory
from libraries.tests.factories import UsageLogFactory

UTC = datetime.UTC
OCTOBER_START, NOVEMBER_START = datetime.date(2026, 10, 1), datetime.date(2026, 11, 1)
OCTOBER_DAYS = 31
RUN_AT = datetime.datetime(2026, 11, 1, 6, 0, tzinfo=UTC)

examples = hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# Pure pricing in memory, no database: many more cases in the same time.
pure_examples = hypothesis_settings(max_examples=400, deadline=None)

# ---------------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------------

prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999.99"), places=2)
prices_per_million = st.decimals(min_value=Decimal("0"), max_value=Decimal("999.9999"), places=4)
quotas = st.integers(min_value=0, max_value=10**10)
token_counts = st.integers(min_value=0, max_value=10**11)
first_days = st.integers(min_value=1, max_value=OCTOBER_DAYS)  # 1 is a whole month, later a partial one
tax_rates = st.one_of(
    st.sampled_from([Decimal("0.20"), Decimal("0.10"), Decimal("0.055"), Decimal("0.021"), Decimal("0")]),
    st.decimals(min_value=Decimal("0"), max_value=Decimal("0.9999"), places=4),
)
# Buyers: (country, VAT number, the rate French VAT rules give them).
buyers = st.sampled_from(
    [
        ("FR", "", "standard"),  # France
        ("", "", "standard"),  # no country counts as France
        ("BE", "", "standard"),  # an EU consumer
        ("DE", "DE136695976", "zero"),  # an EU business: reverse charge
        ("US", "", "zero"),  # outside the EU
    ]
)
cents_amounts = st.integers(min_value=1, max_value=10_000)
# A credit: its amount in cents, when it expires (days after the run; None never, negative already), its type.
credit_specs = st.lists(
    st.tuples(
        cents_amounts,
        st.one_of(st.none(), st.integers(min_value=-30, max_value=-1), st.integers(1, 365)),
        st.sampled_from(CreditType.values),
    ),
    max_size=4,
)
# What happens to the invoice after it is issued: payments in cents, and refunds of one of them.
operations = st.lists(
    st.one_of(
        st.tuples(st.just("pay"), st.integers(min_value=1, max_value=6_000)),
        st.tuples(st.just("refund"), st.integers(min_value=0, max_value=7), st.integers(min_value=0, max_value=10**6)),
    ),
    max_size=8,
)

# ---------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------


def cents(value) -> Decimal:
    """`value` (≥ 0) rounded half-up to the cent, exactly: computed on fractions, not by the code under test."""
    rounded = math.floor(Fraction(value) * 100 + Fraction(1, 2))
    return Decimal(rounded).scaleb(-2)


def has_two_places(amount: Decimal) -> bool:
    return isinstance(amount, Decimal) and amount.as_tuple().exponent == -2


def in_cents(count: int) -> Decimal:
    return Decimal(count).scaleb(-2)


@contextmanager
def rolled_back():
    """Each example's rows vanish at its end, so the next example starts from the same database."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


@pytest.fixture
def october_subscription(db) -> Subscription:
    """An October subscription with its (empty) plan history loaded, priced without further queries."""
    subscription = SubscriptionFactory(current_period_start=OCTOBER_START, current_period_end=NOVEMBER_START)
    return Subscription.objects.prefetch_related("plan_changes", "pauses").get(pk=subscription.pk)


def price_october(subscription, *, price, included, per_million, first_day=1, tokens=0):
    """Pure pricing of October (from `first_day`) on a plan made of the given figures; no database write."""
    subscription.plan = Plan(
        code="generated",
        name="Generated",
        price=price,
        currency="EUR",
        interval=Interval.MONTH,
        included_tokens=included,
        overage_price_per_million=per_million,
    )
    period = Period(datetime.date(2026, 10, first_day), NOVEMBER_START)
    return invoice_draft(subscription=subscription, period=period, segment_tokens=[tokens])


def expected_overage(*, tokens: int, included: int, per_million: Decimal) -> Decimal:
    return cents(Fraction(max(0, tokens - included)) * Fraction(per_million) / 1_000_000)


def customer_with_october_invoice(*, price, included, per_million, tokens, credits):
    """A French customer on a generated plan since September, October's usage, credits; October's DRAFT."""
    profile = UserProfileFactory(country="FR")
    plan = PlanFactory(code="generated", price=price, included_tokens=included, overage_price_per_million=per_million)
    subscription = SubscriptionFactory(
        user=profile.user, plan=plan, started_at=datetime.datetime(2026, 9, 10, 8, tzinfo=UTC)
    )
    if tokens:
        UsageLogFactory(user=profile.user, tokens=tokens, created_at=datetime.datetime(2026, 10, 15, 12, tzinfo=UTC))
    granted = [
        CreditFactory(
            user=profile.user,
            type=credit_type,
            amount=in_cents(amount),
            expires_at=None if days is None else RUN_AT + datetime.timedelta(days=days),
            created_at=RUN_AT - datetime.timedelta(days=60) + datetime.timedelta(minutes=index),
        )
        for index, (amount, days, credit_type) in enumerate(credits)
    ]
    draft = invoice_generate(subscription=subscription, period="2026-10")
    return draft, granted


def total_at(subtotal: Decimal, rate) -> Decimal:
    return subtotal + cents(Fraction(subtotal) * Fraction(rate))


def expected_credit_spend(credits, subtotal: Decimal, rate) -> tuple[list[Decimal], Decimal, Decimal]:
    """What each credit has left, the subtotal after the price reductions, and the credit applied after tax.

    Usable credits go oldest-expiring first, expired ones untouched: promotional and compensation ones first, each
    the largest reduction of the subtotal, to the cent, that lowers the total by no more than it holds (found by
    bisection: the total falls as the subtotal does), and charged what the total fell by; the others then pay what
    is left of the total.
    """
    remaining = [in_cents(amount) for amount, _, _ in credits]
    usable = sorted(
        (index for index, (_, days, _) in enumerate(credits) if days is None or days > 0),
        key=lambda index: (credits[index][1] is None, credits[index][1] or 0, index),
    )
    for index in (i for i in usable if credits[i][2] in (CreditType.PROMOTIONAL, CreditType.COMPENSATION)):
        total = total_at(subtotal, rate)
        low, high = 0, int(subtotal * 100)
        while low < high:
            middle = (low + high + 1) // 2
            if total - total_at(subtotal - in_cents(middle), rate) <= remaining[index]:
                low = middle
            else:
                high = middle - 1
        remaining[index] -= total - total_at(subtotal - in_cents(low), rate)
        subtotal -= in_cents(low)
    owed, applied = total_at(subtotal, rate), Decimal("0.00")
    for index in (i for i in usable if credits[i][2] in (CreditType.REFUND, CreditType.ADJUSTMENT)):
        spent = min(remaining[index], owed - applied)
        remaining[index] -= spent
        applied += spent
    return remaining, subtotal, applied


def assert_balanced(invoice) -> None:
    assert invoice.amount_due == invoice.total - invoice.credit_applied - invoice.amount_paid
    assert Decimal("0") <= invoice.credit_applied <= invoice.total
    assert Decimal("0") <= invoice.amount_paid <= invoice.total - invoice.credit_applied
    assert invoice.amount_due >= 0
    assert (invoice.status == InvoiceStatus.PAID) == (invoice.amount_due == 0)
    for amount in (
        invoice.subtotal,
        invoice.tax_amount,
        invoice.total,
        invoice.credit_applied,
        invoice.amount_paid,
        invoice.amount_due,
    ):
        assert has_two_places(amount)


def assert_credits_within_bounds(user) -> None:
    for credit in Credit.objects.filter(user=user):
        assert Decimal("0") <= credit.remaining_amount <= credit.amount


# ---------------------------------------------------------------------------------------------------
# Pure pricing
# ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
class TestInvoiceArithmetic:
    @examples
    @given(
        price=prices,
        included=quotas,
        per_million=prices_per_million,
        first_day=first_days,
        tokens=token_counts,
        rate=tax_rates,
    )
    # A tie: 4.25 × 10 % = 0.425 VAT, which is 0.43 half-up (0.42 half-even).
    @example(price=Decimal("4.25"), included=0, per_million=Decimal("0"), first_day=1, tokens=0, rate=Decimal("0.10"))
    def test_lines_plus_tax_make_the_total_and_tax_is_rounded_once(
        self, october_subscription, price, included, per_million, first_day, tokens, rate
    ):
        draft = price_october(
            october_subscription,
            price=price,
            included=included,
            per_million=per_million,
            first_day=first_day,
            tokens=tokens,
        )

        totals = invoice_totals(subtotal=draft.subtotal, treatment=TaxTreatment(rate, False, ""))

        lines_sum = sum((line.amount for line in draft.lines), Decimal("0"))
        assert totals.subtotal == lines_sum
        assert totals.tax_amount == cents(Fraction(lines_sum) * Fraction(rate))
        assert totals.total == lines_sum + totals.tax_amount
        assert all(has_two_places(amount) for amount in (totals.subtotal, totals.tax_amount, totals.total))
        assert all(has_two_places(line.amount) for line in draft.lines)

    @examples
    @given(subtotal=st.integers(min_value=0, max_value=10**11).map(in_cents), buyer=buyers)
    def test_tax_follows_the_buyer(self, subtotal, buyer):
        country, vat_number, rate_kind = buyer
        expected_rate = settings.INVOICE_TAX_RATE if rate_kind == "standard" else Decimal("0")

        treatment = tax_treatment(
            country=country, vat_number=vat_number, company_name="", tax_point=datetime.date(2026, 11, 1)
        )
        totals = invoice_totals(subtotal=subtotal, treatment=treatment)

        assert totals.tax_rate == expected_rate
        assert totals.tax_amount == cents(Fraction(subtotal) * Fraction(expected_rate))
        assert totals.total == subtotal + totals.tax_amount
        assert has_two_places(totals.tax_amount) and has_two_places(totals.total)

    @examples
    @given(price=prices, first_day=first_days)
    def test_a_partial_month_pays_its_days(self, october_subscription, price, first_day):
        draft = price_october(
            october_subscription, price=price, included=0, per_million=Decimal("0"), first_day=first_day
        )

        days = OCTOBER_DAYS - first_day + 1
        fee = cents(Fraction(price) * days / OCTOBER_DAYS)
        # A fee that rounds to nothing (a day of a one-cent plan) leaves no line at all.
        assert [(line.kind, line.amount) for line in draft.lines] == ([(LineKind.SUBSCRIPTION, fee)] if fee else [])
        assert all(has_two_places(line.amount) for line in draft.lines)


@pytest.mark.django_db
class TestOverage:
    @examples
    @given(price=prices, included=quotas, per_million=prices_per_million, tokens=token_counts)
    # A tie: 2,500 tokens over at 2.00 per million is 0.005, which is 0.01 half-up (nothing half-even).
    @example(price=Decimal("19.00"), included=5_000_000, per_million=Decimal("2.0000"), tokens=5_002_500)
    def test_overage_is_the_tokens_above_the_quota_at_the_price_per_million(
        self, october_subscription, price, included, per_million, tokens
    ):
        draft = price_october(
            october_subscription, price=price, included=included, per_million=per_million, tokens=tokens
        )

        overage = expected_overage(tokens=tokens, included=included, per_million=per_million)
        usage = [line for line in draft.lines if line.kind == LineKind.USAGE]
        if overage == 0:
            assert usage == []  # nothing above the quota, or less than half a cent of it
        else:
            [line] = usage
            assert line.amount == overage
            assert (line.quantity, line.price_base_quantity) == (tokens - included, 1_000_000)  # tokens, per million
            assert line.unit_price == per_million
            assert has_two_places(line.amount)
        fee = [line for line in draft.lines if line.kind == LineKind.SUBSCRIPTION]
        assert [line.amount for line in fee] == [price]

    @examples
    @given(price=prices, included=quotas, tokens=token_counts)
    def test_a_hard_cap_plan_never_bills_usage(self, october_subscription, price, included, tokens):
        draft = price_october(
            october_subscription, price=price, included=included, per_million=Decimal("0"), tokens=tokens
        )

        assert [line.kind for line in draft.lines] == [LineKind.SUBSCRIPTION]


OCTOBER = Period(OCTOBER_START, NOVEMBER_START)
# A usage timeline: tokens used on days of October.
usage_timelines = st.lists(
    st.tuples(st.integers(min_value=1, max_value=OCTOBER_DAYS), st.integers(min_value=0, max_value=10**10)),
    max_size=8,
)
# The days on which the plan changes (to the other plan each time), the 1st excluded: it would replace the plan.
change_days = st.lists(st.integers(min_value=2, max_value=OCTOBER_DAYS), max_size=5, unique=True).map(sorted)


def in_memory_plan(pk: int, *, included: int, per_million: Decimal) -> Plan:
    return Plan(
        pk=pk, code=f"plan-{pk}", name=f"Plan {pk}", price=Decimal("10.00"), currency="EUR", interval=Interval.MONTH,
        included_tokens=included, overage_price_per_million=per_million,
    )


def october_with_changes(first: Plan, other: Plan, days: list[int]) -> Subscription:
    """An unsaved October subscription starting on `first` and switching between the two plans on `days`."""
    plans = [first, other]
    subscription = Subscription(
        pk=1, plan=plans[len(days) % 2], current_period_start=OCTOBER_START, current_period_end=NOVEMBER_START
    )
    changes = [
        SubscriptionPlanChange(
            subscription=subscription, from_plan=plans[index % 2], to_plan=plans[(index + 1) % 2],
            effective_date=datetime.date(2026, 10, day), changed_at=datetime.datetime(2026, 10, day, 9, tzinfo=UTC),
        )
        for index, day in enumerate(days)
    ]
    history_prefill(subscription, plan_changes=changes, pauses=[])
    return subscription


def usage_charge(subscription: Subscription, usage: list[tuple[int, int]]) -> tuple[Fraction, int]:
    """The USAGE lines of October for `usage` (each call on the plan in force on its day), and their count."""
    periods = [segment.period for segment in usage_segments(subscription, OCTOBER)]
    segment_tokens = [
        sum(tokens for day, tokens in usage if period.start <= OCTOBER_START.replace(day=day) < period.end)
        for period in periods
    ]
    draft = invoice_draft(subscription=subscription, period=OCTOBER, segment_tokens=segment_tokens)
    usage_lines = [line.amount for line in draft.lines if line.kind == LineKind.USAGE]
    return Fraction(sum(usage_lines, Decimal("0"))), len(usage_lines)


def cost_alone(plan: Plan, tokens: int) -> Fraction:
    """What `tokens` cost on `plan` for the whole month, exactly (before rounding)."""
    return Fraction(max(0, tokens - plan.included_tokens)) * Fraction(plan.overage_price_per_million) / 1_000_000


class TestPlanChangesCannotBeGamed:
    """Usage belongs to the plan in force on its day, each plan's segment with its quota's share by days.

    What is checked, for any usage timeline in October and any sequence of changes between two plans, and why
    it holds:
    1. Usage already done when the plan first changes is billed at least what it costs on its plan alone (both
       sides rounded half-up to the cent): later changes never lower its price. Its segment's quota is a share
       of the plan's, never more, and rounding half-up keeps the order.
    2. When one plan is bigger (at least as many included tokens and no dearer per million, the shape of an
       upgrade), the usage lines add up to at least the exact cost of the whole month's usage on the bigger plan
       alone, so at least the cheaper of staying on either, less half a cent of rounding per plan segment. The
       shares add up to at most one whole quota, so at least (tokens − the bigger quota) are over a quota, each
       billed at no less than the bigger plan's price.
    Without a bigger plan, the second is not claimed and does not hold: a plan with a big quota and a dear
    overage, nearly used up before moving to one with a small quota and a cheap overage, bills the rest at the
    cheap price, below the cost of either plan alone.
    """

    @pure_examples
    @given(
        included=quotas, per_million=prices_per_million, other_included=quotas,
        other_per_million=prices_per_million, days=change_days.filter(bool), data=st.data(),
    )
    def test_usage_done_before_a_change_costs_at_least_its_price_on_its_plan(
        self, included, per_million, other_included, other_per_million, days, data
    ):
        first = in_memory_plan(1, included=included, per_million=per_million)
        other = in_memory_plan(2, included=other_included, per_million=other_per_million)
        before_change = st.integers(min_value=1, max_value=days[0] - 1)
        usage = data.draw(st.lists(st.tuples(before_change, st.integers(0, 10**10)), max_size=6))

        charge, _ = usage_charge(october_with_changes(first, other, days), usage)

        assert charge >= Fraction(cents(cost_alone(first, sum(tokens for _, tokens in usage))))

    @pure_examples
    @given(
        included=quotas, per_million=prices_per_million, more_tokens=quotas,
        cheaper_by=prices_per_million, starts_small=st.booleans(), days=change_days, usage=usage_timelines,
    )
    # DESIGN's worked example: 40M tokens on Pro, Team from the 31st.
    @example(
        included=5_000_000, per_million=Decimal("2.00"), more_tokens=45_000_000, cheaper_by=Decimal("0.50"),
        starts_small=True, days=[31], usage=[(3, 40_000_000)],
    )
    # One token over the quota at 0.0001 per million: its line rounds to 0.00 and is not written.
    @example(
        included=0, per_million=Decimal("0.0001"), more_tokens=0, cheaper_by=Decimal("0"), starts_small=True,
        days=[], usage=[(1, 1)],
    )
    def test_switching_to_and_from_a_bigger_plan_never_beats_staying_on_either(
        self, included, per_million, more_tokens, cheaper_by, starts_small, days, usage
    ):
        small = in_memory_plan(1, included=included, per_million=per_million)
        cheaper = max(Decimal("0"), per_million - cheaper_by)
        big = in_memory_plan(2, included=included + more_tokens, per_million=cheaper)
        first, other = (small, big) if starts_small else (big, small)

        charge, _ = usage_charge(october_with_changes(first, other, days), usage)

        tokens = sum(tokens for _, tokens in usage)
        # Half a cent per plan segment: each segment's USAGE line is rounded once, and a line that rounds to 0.00
        # (a few tokens over at a tiny price) is not written at all.
        rounding = Fraction(len(days) + 1, 200)
        assert charge >= cost_alone(big, tokens) - rounding
        assert charge >= min(cost_alone(small, tokens), cost_alone(big, tokens)) - rounding


# ---------------------------------------------------------------------------------------------------
# Through the database: credits at issue, then payments and refunds
# ---------------------------------------------------------------------------------------------------

db_prices = st.decimals(min_value=Decimal("1.00"), max_value=Decimal("80.00"), places=2)
db_quotas = st.integers(min_value=0, max_value=5_000_000)
db_prices_per_million = st.decimals(min_value=Decimal("0"), max_value=Decimal("40.0000"), places=4)
db_tokens = st.integers(min_value=0, max_value=20_000_000)


@pytest.mark.django_db
class TestCreditsAtIssue:
    @examples
    @given(
        price=db_prices,
        included=db_quotas,
        per_million=db_prices_per_million,
        tokens=db_tokens,
        credits=credit_specs,
    )
    def test_credits_pay_oldest_expiring_first_and_never_go_negative(
        self, price, included, per_million, tokens, credits
    ):
        with rolled_back():
            draft, granted = customer_with_october_invoice(
                price=price, included=included, per_million=per_million, tokens=tokens, credits=credits
            )

            invoice = invoice_finalize(invoice=draft, now=RUN_AT)

            invoice.refresh_from_db()
            subtotal = price + expected_overage(tokens=tokens, included=included, per_million=per_million)
            expected_remaining, reduced, applied = expected_credit_spend(
                credits, subtotal, settings.INVOICE_TAX_RATE
            )
            assert (invoice.subtotal, invoice.total) == (reduced, total_at(reduced, settings.INVOICE_TAX_RATE))
            assert invoice.total == sum(line.amount for line in invoice.lines.all()) + invoice.tax_amount
            assert invoice.credit_applied == applied
            assert invoice.amount_paid == 0
            assert_balanced(invoice)
            remaining = [
                credit.remaining_amount
                for credit in Credit.objects.filter(pk__in=[c.pk for c in granted]).order_by("pk")
            ]
            assert remaining == expected_remaining
            assert_credits_within_bounds(invoice.user)


@pytest.mark.django_db
class TestPaymentsAndRefunds:
    @examples
    @given(price=db_prices, tokens=db_tokens, credits=credit_specs, operations=operations)
    def test_the_invoice_balance_and_the_money_held_always_add_up(self, price, tokens, credits, operations):
        with rolled_back():
            draft, _ = customer_with_october_invoice(
                price=price, included=5_000_000, per_million=Decimal("2.00"), tokens=tokens, credits=credits
            )
            invoice = invoice_finalize(invoice=draft, now=RUN_AT)
            credit_applied = invoice.credit_applied
            paid, due = Decimal("0.00"), invoice.total - credit_applied
            # Per payment: how much of it may still be refunded, and how much of it is held as a credit.
            ledger: list[dict] = []
            payments: list[Payment] = []

            for operation in operations:
                if operation[0] == "pay":
                    amount = in_cents(operation[1])
                    payments.append(
                        payment_record(
                            invoice=invoice, amount=amount, idempotency_key=f"payment-{len(payments)}", now=RUN_AT
                        )
                    )
                    applied = min(amount, due)
                    paid, due = paid + applied, due - applied
                    ledger.append({"refundable": amount, "held_as_credit": amount - applied})
                else:
                    _, which, fraction = operation
                    if not payments:
                        continue
                    index = which % len(payments)
                    refundable_cents = int(ledger[index]["refundable"] * 100)
                    if refundable_cents == 0:
                        continue
                    amount = in_cents(1 + fraction % refundable_cents)

                    payment_refund(payment=payments[index], amount=amount, now=RUN_AT)

                    # A refund first takes back the overpayment credit, then what reached the invoice.
                    from_credit = min(amount, ledger[index]["held_as_credit"])
                    ledger[index]["held_as_credit"] -= from_credit
                    ledger[index]["refundable"] -= amount
                    paid, due = paid - (amount - from_credit), due + (amount - from_credit)

                invoice.refresh_from_db()
                assert (invoice.credit_applied, invoice.amount_paid, invoice.amount_due) == (credit_applied, paid, due)
                assert_balanced(invoice)
                assert_credits_within_bounds(invoice.user)
                # Every cent received and not given back is either on the invoice or held as the customer's credit.
                received = sum(
                    (p.amount - p.refunded_amount for p in Payment.objects.filter(invoice=invoice)), Decimal("0")
                )
                held = sum((c.remaining_amount for c in Credit.objects.filter(payment__invoice=invoice)), Decimal("0"))
                assert received == invoice.amount_paid + held
                assert held == sum((entry["held_as_credit"] for entry in ledger), Decimal("0"))
