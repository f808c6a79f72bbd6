import datetime
import importlib
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import translation

from accounts.tests.factories import UserFactory
from billing.models import (
    AlertType,
    BillingAlert,
    CreditApplication,
    CreditNoteReason,
    DocumentKind,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
    NumberSequence,
    SubscriptionStatus,
)
from billing.money import format_number, round_money
from billing.tests.factories import (
    CreditFactory,
    CreditNoteFactory,
    InvoiceFactory,
    PaymentFactory,
    PlanFactory,
    SubscriptionFactory,
)


def violates_constraint(create):
    """True when `create()` is refused by the database."""
    try:
        with transaction.atomic():
            create()
    except IntegrityError:
        return True
    return False


@pytest.mark.django_db
class TestInvoiceConstraints:
    def test_numbers_are_unique(self):
        InvoiceFactory(status=InvoiceStatus.SENT, number="TMCP-2026-000001")

        assert violates_constraint(lambda: InvoiceFactory(status=InvoiceStatus.SENT, number="TMCP-2026-000001"))

    def test_one_live_invoice_per_subscription_and_period(self):
        invoice = InvoiceFactory()

        assert violates_constraint(lambda: InvoiceFactory(subscription=invoice.subscription))

    def test_a_cancelled_invoice_leaves_room_for_its_replacement(self):
        cancelled = InvoiceFactory(status=InvoiceStatus.CANCELLED)

        replacement = InvoiceFactory(subscription=cancelled.subscription)

        assert replacement.period_start == cancelled.period_start

    def test_the_next_period_is_a_different_invoice(self):
        invoice = InvoiceFactory()

        InvoiceFactory(
            subscription=invoice.subscription,
            period_start=datetime.date(2026, 11, 1),
            period_end=datetime.date(2026, 12, 1),
        )

    @pytest.mark.parametrize(
        ("subtotal", "tax_amount", "credit_applied", "amount_paid"),
        [
            ("-1.00", "2.00", "0", "0"),  # a negative subtotal
            ("10.00", "-1.00", "0", "0"),  # negative tax
            ("10.00", "2.00", "-1.00", "0"),  # a negative credit
            ("10.00", "2.00", "0", "-1.00"),  # a negative payment
            ("10.00", "2.00", "10.00", "3.00"),  # more settled than owed: a negative amount due
        ],
    )
    def test_money_is_never_negative(self, subtotal, tax_amount, credit_applied, amount_paid):
        subtotal, tax_amount = Decimal(subtotal), Decimal(tax_amount)
        credit_applied, amount_paid = Decimal(credit_applied), Decimal(amount_paid)
        total = subtotal + tax_amount  # every other invariant holds: only a sign is at fault

        assert violates_constraint(
            lambda: InvoiceFactory(
                subtotal=subtotal, tax_amount=tax_amount, total=total, credit_applied=credit_applied,
                amount_paid=amount_paid, amount_due=total - credit_applied - amount_paid,
            )
        )

    def test_total_is_subtotal_plus_tax(self):
        assert violates_constraint(
            lambda: InvoiceFactory(subtotal=Decimal("19.00"), tax_amount=Decimal("3.80"), total=Decimal("22.81"))
        )

    def test_amount_due_is_total_less_credits_and_payments(self):
        assert violates_constraint(
            lambda: InvoiceFactory(
                credit_applied=Decimal("5.00"), amount_paid=Decimal("0"), amount_due=Decimal("22.80")
            )
        )
        InvoiceFactory(credit_applied=Decimal("5.00"), amount_paid=Decimal("10.00"), amount_due=Decimal("7.80"))

    def test_an_issued_invoice_has_a_number(self):
        assert violates_constraint(lambda: InvoiceFactory(status=InvoiceStatus.SENT, number=None))

    def test_a_draft_has_no_number(self):
        assert violates_constraint(lambda: InvoiceFactory(status=InvoiceStatus.DRAFT, number="TMCP-2026-000009"))

    def test_a_period_is_not_empty(self):
        assert violates_constraint(
            lambda: InvoiceFactory(period_start=datetime.date(2026, 10, 1), period_end=datetime.date(2026, 10, 1))
        )

    def test_line_positions_are_unique_per_invoice(self):
        invoice = InvoiceFactory()  # holds its fee line at position 0
        line = {"kind": LineKind.USAGE, "description": "Usage", "unit_price": 2, "amount": 2, "position": 0}

        assert violates_constraint(lambda: InvoiceLine.objects.create(invoice=invoice, **line))


@pytest.mark.django_db
class TestSubscriptionConstraints:
    def test_one_live_subscription_per_customer(self):
        subscription = SubscriptionFactory()

        assert violates_constraint(
            lambda: SubscriptionFactory(user=subscription.user, status=SubscriptionStatus.PAUSED)
        )

    def test_an_ended_subscription_does_not_block_a_new_one(self):
        ended = SubscriptionFactory(status=SubscriptionStatus.EXPIRED)

        SubscriptionFactory(user=ended.user)

    def test_the_current_period_is_not_empty(self):
        assert violates_constraint(
            lambda: SubscriptionFactory(
                current_period_start=datetime.date(2026, 11, 1), current_period_end=datetime.date(2026, 10, 1)
            )
        )


@pytest.mark.django_db
class TestLedgerConstraints:
    def test_an_idempotency_key_makes_one_payment(self):
        PaymentFactory(idempotency_key="checkout-42")

        assert violates_constraint(lambda: PaymentFactory(idempotency_key="checkout-42"))

    def test_a_payment_is_positive(self):
        assert violates_constraint(lambda: PaymentFactory(amount=Decimal("0.00")))

    def test_a_refund_never_exceeds_the_payment(self):
        assert violates_constraint(lambda: PaymentFactory(amount=Decimal("10.00"), refunded_amount=Decimal("10.01")))

    def test_a_credit_balance_is_never_negative(self):
        assert violates_constraint(lambda: CreditFactory(amount=Decimal("10.00"), remaining_amount=Decimal("-0.01")))

    def test_a_credit_balance_never_exceeds_the_credit(self):
        assert violates_constraint(lambda: CreditFactory(amount=Decimal("10.00"), remaining_amount=Decimal("10.01")))

    def test_a_credit_pays_an_invoice_once(self):
        credit, invoice = CreditFactory(), InvoiceFactory()
        CreditApplication.objects.create(credit=credit, invoice=invoice, amount=Decimal("5.00"))

        assert violates_constraint(
            lambda: CreditApplication.objects.create(credit=credit, invoice=invoice, amount=Decimal("1.00"))
        )

    def test_a_plan_price_is_never_negative(self):
        assert violates_constraint(lambda: PlanFactory(code="broken", price=Decimal("-1.00")))

    def test_an_alert_is_raised_once_per_occasion(self):
        user = UserFactory()
        BillingAlert.objects.create(user=user, type=AlertType.USAGE_THRESHOLD, occasion="2026-10:80", message="80 %")

        assert violates_constraint(
            lambda: BillingAlert.objects.create(
                user=user, type=AlertType.USAGE_THRESHOLD, occasion="2026-10:80", message="80 % again"
            )
        )
        BillingAlert.objects.create(user=user, type=AlertType.USAGE_THRESHOLD, occasion="2026-10:100", message="100 %")

    def test_a_line_price_is_for_a_positive_base_quantity(self):
        invoice = InvoiceFactory()

        assert violates_constraint(
            lambda: InvoiceLine.objects.create(
                invoice=invoice, kind=LineKind.USAGE, description="x", quantity=1, unit_price=1, amount=0,
                price_base_quantity=0,
            )
        )

    def test_a_credit_note_for_another_reason_says_which(self):
        invoice = InvoiceFactory()

        def credit_note(reason_code, reason):
            return lambda: CreditNoteFactory(
                number=f"AV-{reason_code}", invoice=invoice, reason_code=reason_code, reason=reason
            )

        assert violates_constraint(credit_note(CreditNoteReason.OTHER, ""))
        assert not violates_constraint(credit_note(CreditNoteReason.DUPLICATE, ""))

    def test_one_number_sequence_per_kind_and_year(self):
        NumberSequence.objects.create(kind=DocumentKind.INVOICE, year=2026)

        assert violates_constraint(lambda: NumberSequence.objects.create(kind=DocumentKind.INVOICE, year=2026))
        NumberSequence.objects.create(kind=DocumentKind.CREDIT_NOTE, year=2026)


def _built(kind):
    """An unsaved, otherwise valid instance of each model that has an enum field."""
    user = UserFactory()
    subscription = SubscriptionFactory(user=user)
    invoice = InvoiceFactory(subscription=subscription)
    return {
        "plan": lambda: PlanFactory.build(code="other"),
        "subscription": lambda: SubscriptionFactory.build(user=UserFactory(), plan=subscription.plan),
        "invoice": lambda: InvoiceFactory.build(
            subscription=subscription, user=user, period_start=datetime.date(2026, 9, 1),
            period_end=datetime.date(2026, 10, 1),
        ),
        "line": lambda: InvoiceLine(
            invoice=invoice, kind=LineKind.USAGE, description="x", unit_price=1, amount=1, position=1
        ),
        "payment": lambda: PaymentFactory.build(invoice=invoice, user=user),
        "credit": lambda: CreditFactory.build(user=user),
        "alert": lambda: BillingAlert(user=user, type=AlertType.PAYMENT_FAILED, occasion="x", message="x"),
        "sequence": lambda: NumberSequence(kind=DocumentKind.INVOICE, year=2030),
    }[kind]()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("plan", "interval"),
        ("subscription", "status"),
        ("invoice", "status"),
        ("line", "kind"),
        ("payment", "status"),
        ("payment", "method"),
        ("credit", "type"),
        ("alert", "type"),
        ("sequence", "kind"),
    ],
)
def test_each_enum_refuses_an_unknown_value(kind, field):
    instance = _built(kind)
    instance.full_clean()  # valid as built

    setattr(instance, field, "NOT_A_CHOICE")

    with pytest.raises(ValidationError) as error:
        instance.full_clean()
    assert field in error.value.message_dict


class TestRoundMoney:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [("0.005", "0.01"), ("0.004", "0.00"), ("2.675", "2.68"), ("-0.005", "-0.01"), ("19", "19.00")],
    )
    def test_rounds_half_up_to_the_cent(self, value, expected):
        assert round_money(Decimal(value)) == Decimal(expected)

    def test_refuses_float(self):
        with pytest.raises(TypeError):
            round_money(0.1)


class TestFormatNumber:
    """Money and token counts in the reader's language: English as the pages always printed them, French with a
    narrow no-break space between thousands and a no-break space before the currency."""

    @pytest.mark.parametrize(
        ("language", "expected"), [("en", "1,234.50\u00a0EUR"), ("fr", "1\u202f234,50\u00a0EUR")]
    )
    def test_money(self, language, expected):
        with translation.override(language):
            assert format_number(Decimal("1234.5"), currency="EUR") == expected

    @pytest.mark.parametrize(("language", "expected"), [("en", "35,161,291"), ("fr", "35\u202f161\u202f291")])
    def test_tokens(self, language, expected):
        with translation.override(language):
            assert format_number(35_161_291, places=0) == expected

    @pytest.mark.parametrize(
        ("value", "expected"), [("2.0000", "2.00"), ("0.0125", "0.0125"), ("1.23456", "1.2346"), ("12", "12.00")]
    )
    def test_a_unit_price_keeps_two_to_four_places(self, value, expected):
        with translation.override("en"):
            assert format_number(Decimal(value), max_places=4) == expected

    def test_a_negative_amount_rounds_half_up_away_from_zero(self):
        with translation.override("en"):
            assert format_number(Decimal("-1234.565")) == "-1,234.57"

    def test_refuses_float(self):
        with pytest.raises(TypeError):
            format_number(0.1)


LINES_IN_TOKENS = "0012_line_price_base_credit_note_reason"


@pytest.mark.django_db
class TestUsageLinesInTokensMigration:
    """Migration 0012: a usage line's quantity was in millions of tokens; it becomes tokens at the same price per
    million (price base quantity 1,000,000), and its amount does not move."""

    def migration(self):
        historical_apps = MigrationExecutor(connection).loader.project_state(("billing", LINES_IN_TOKENS)).apps
        return importlib.import_module(f"billing.migrations.{LINES_IN_TOKENS}"), historical_apps

    def test_a_usage_line_in_millions_becomes_tokens_with_the_same_amount(self):
        invoice = InvoiceFactory()
        fee = InvoiceLine.objects.create(
            invoice=invoice, kind=LineKind.SUBSCRIPTION, description="Pro plan, October 2026", quantity=1,
            unit_price=Decimal("19.00"), amount=Decimal("19.00"), position=10,
        )
        usage = InvoiceLine.objects.create(  # as written before: 35.161291 million tokens at 2.00 per million
            invoice=invoice, kind=LineKind.USAGE, description="Usage", quantity=Decimal("35.161291"),
            unit_price=Decimal("2.00"), amount=Decimal("70.32"), position=11,
        )
        migration, historical_apps = self.migration()

        migration.usage_lines_in_tokens(historical_apps, None)

        usage.refresh_from_db()
        fee.refresh_from_db()
        assert (usage.quantity, usage.unit_price, usage.price_base_quantity, usage.amount) == (
            Decimal("35161291"), Decimal("2.00"), 1_000_000, Decimal("70.32")
        )
        assert round_money(usage.quantity * usage.unit_price / usage.price_base_quantity) == usage.amount
        assert (fee.quantity, fee.price_base_quantity, fee.amount) == (Decimal("1"), 1, Decimal("19.00"))

    def test_it_runs_once_and_backwards(self):
        usage = InvoiceLine.objects.create(
            invoice=InvoiceFactory(), kind=LineKind.USAGE, description="Usage", quantity=Decimal("1.5"),
            unit_price=Decimal("2.00"), amount=Decimal("3.00"), position=10,
        )
        migration, historical_apps = self.migration()

        migration.usage_lines_in_tokens(historical_apps, None)
        migration.usage_lines_in_tokens(historical_apps, None)  # lines already in tokens are left alone
        usage.refresh_from_db()
        assert (usage.quantity, usage.price_base_quantity) == (Decimal("1500000"), 1_000_000)

        migration.usage_lines_in_millions(historical_apps, None)
        usage.refresh_from_db()
        assert (usage.quantity, usage.price_base_quantity) == (Decimal("1.5"), 1)
