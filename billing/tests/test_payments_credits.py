"""Payments settle invoices to the cent, once per idempotency key; credits pay invoices at issue; alerts once.

Every invoice below is Pro for October 2026: 19.00 + 20 % VAT (3.80) = 22.80, for a customer in France,
issued on 2 November 2026 and due on 2 December 2026.
"""
import datetime
from decimal import Decimal

import pytest

from accounts.models import AuditLog
from accounts.tests.factories import UserFactory, UserProfileFactory
from billing.exceptions import BillingError, IdempotencyConflict, InvalidTransition
from billing.models import (
    AlertType,
    BillingAlert,
    Credit,
    CreditApplication,
    CreditType,
    Invoice,
    InvoiceStatus,
    LineKind,
    Payment,
    PaymentMethod,
    PaymentStatus,
)
from billing.services import (
    alert_raise,
    credit_grant,
    invoice_cancel,
    invoice_finalize,
    invoice_mark_overdue,
    payment_complete,
    payment_fail,
    payment_mark_processing,
    payment_record,
    payment_refund,
)
from billing.tests.factories import InvoiceFactory, paris

GRANTED_AT = paris(2026, 10, 1, 9, 0)
FINALISED_AT = paris(2026, 11, 2, 9, 0)
PAID_AT = paris(2026, 11, 5, 14, 0)
REFUNDED_AT = paris(2026, 11, 20, 9, 0)  # before the due date, 2 December
AFTER_DUE = paris(2026, 12, 10, 9, 0)


def draft_invoice(user=None) -> Invoice:
    """A DRAFT for Pro in October 2026 (one line of 19.00), for a customer in France."""
    profile = UserProfileFactory(country="FR", **({"user": user} if user else {}))
    return InvoiceFactory(subscription__user=profile.user)  # its one line: Pro, 19.00


def sent_invoice() -> Invoice:
    return invoice_finalize(invoice=draft_invoice(), now=FINALISED_AT)


def pay(invoice: Invoice, amount: str, key: str = "bank-1", **kwargs) -> Payment:
    return payment_record(invoice=invoice, amount=Decimal(amount), idempotency_key=key, now=PAID_AT, **kwargs)


def reloaded(obj):
    return type(obj).objects.get(pk=obj.pk)


def row(obj) -> dict:
    obj = reloaded(obj)
    return {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}


def ledger() -> dict:
    """The rows a refused operation must leave as they are."""
    return {
        "payments": list(Payment.objects.order_by("pk").values()),
        "credits": list(Credit.objects.order_by("pk").values()),
        "alerts": BillingAlert.objects.count(),
        "audit_rows": AuditLog.objects.count(),
    }


def grant(user, amount: str, *, expires_at=None, type=CreditType.PROMOTIONAL, now=GRANTED_AT) -> Credit:
    return credit_grant(user=user, type=type, amount=Decimal(amount), reason="Welcome offer", expires_at=expires_at,
                        now=now)


@pytest.mark.django_db
class TestRecordPayment:
    def test_a_payment_of_the_total_makes_the_invoice_paid(self):
        invoice = sent_invoice()

        payment = pay(invoice, "22.80", method=PaymentMethod.CARD, provider_reference="ch_123")

        payment.refresh_from_db()
        assert payment.status == PaymentStatus.COMPLETED
        assert (payment.amount, payment.currency, payment.method) == (Decimal("22.80"), "EUR", PaymentMethod.CARD)
        assert payment.user == invoice.user
        assert payment.processed_at == PAID_AT
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID
        assert invoice.paid_at == PAID_AT
        assert (invoice.amount_paid, invoice.amount_due) == (Decimal("22.80"), Decimal("0.00"))
        assert AuditLog.objects.filter(action="payment.record", object_id=str(payment.pk)).count() == 1

    def test_a_partial_payment_leaves_the_invoice_sent_with_less_due(self):
        invoice = sent_invoice()

        pay(invoice, "10.00")

        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.SENT
        assert (invoice.amount_paid, invoice.amount_due) == (Decimal("10.00"), Decimal("12.80"))
        assert invoice.paid_at is None

    def test_two_payments_that_add_up_to_the_total_make_it_paid(self):
        invoice = sent_invoice()
        pay(invoice, "10.00", key="first")

        pay(invoice, "12.80", key="second")

        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID
        assert (invoice.amount_paid, invoice.amount_due) == (Decimal("22.80"), Decimal("0.00"))

    def test_one_cent_short_is_not_paid(self):
        invoice = sent_invoice()

        pay(invoice, "22.79")

        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.SENT
        assert invoice.amount_due == Decimal("0.01")

    def test_credits_and_payments_together_cover_the_total(self):
        draft = draft_invoice()
        grant(draft.user, "5.00", type=CreditType.REFUND)  # money the customer paid: prepaid, after tax
        invoice = invoice_finalize(invoice=draft, now=FINALISED_AT)
        assert invoice.amount_due == Decimal("17.80")  # 22.80 − 5.00

        pay(invoice, "17.80")

        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID
        assert (invoice.credit_applied, invoice.amount_paid, invoice.amount_due) == (
            Decimal("5.00"), Decimal("17.80"), Decimal("0.00"),
        )

    def test_an_overpayment_becomes_a_credit(self):
        invoice = sent_invoice()

        payment = pay(invoice, "30.00")

        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID
        assert (invoice.amount_paid, invoice.amount_due) == (Decimal("22.80"), Decimal("0.00"))
        assert reloaded(payment).amount == Decimal("30.00")
        credit = Credit.objects.get(user=invoice.user)
        assert credit.type == CreditType.ADJUSTMENT
        assert (credit.amount, credit.remaining_amount) == (Decimal("7.20"), Decimal("7.20"))  # 30.00 − 22.80
        assert credit.payment == payment
        assert "TMCP-2026-000001" in credit.reason

    def test_an_overdue_invoice_can_be_paid(self):
        invoice = invoice_mark_overdue(invoice=sent_invoice(), now=AFTER_DUE)

        pay(invoice, "22.80")

        assert reloaded(invoice).status == InvoiceStatus.PAID

    @pytest.mark.parametrize(
        ("arrange", "status"),
        [
            (draft_invoice, InvoiceStatus.DRAFT),
            (lambda: invoice_cancel(invoice=draft_invoice(), reason="", now=FINALISED_AT), InvoiceStatus.CANCELLED),
            (lambda: invoice_cancel(invoice=sent_invoice(), reason="Billed twice", now=PAID_AT),
             InvoiceStatus.CANCELLED),
        ],
        ids=["draft", "cancelled draft", "cancelled issued invoice"],
    )
    def test_an_invoice_not_issued_or_cancelled_cannot_be_paid(self, arrange, status):
        invoice = arrange()
        before_invoice, before = row(invoice), ledger()

        with pytest.raises(BillingError, match=f"is {status}: it cannot be paid"):
            pay(invoice, "22.80")

        assert row(invoice) == before_invoice
        assert ledger() == before

    @pytest.mark.parametrize("amount", ["0", "0.00", "-22.80", "22.805", "0.001"])
    def test_an_amount_that_is_not_positive_cents_is_refused(self, amount):
        invoice = sent_invoice()
        before_invoice, before = row(invoice), ledger()

        with pytest.raises(BillingError, match="positive amount in cents"):
            pay(invoice, amount)

        assert row(invoice) == before_invoice
        assert ledger() == before


@pytest.mark.django_db
class TestIdempotency:
    def test_the_same_key_twice_is_one_payment(self):
        invoice = sent_invoice()
        first = pay(invoice, "10.00", key="webhook-42")

        second = pay(invoice, "10.00", key="webhook-42")

        assert second.pk == first.pk
        assert Payment.objects.filter(idempotency_key="webhook-42").count() == 1
        invoice.refresh_from_db()
        assert (invoice.amount_paid, invoice.amount_due) == (Decimal("10.00"), Decimal("12.80"))  # counted once

    def test_the_same_key_for_another_amount_is_a_conflict(self):
        invoice = sent_invoice()
        pay(invoice, "10.00", key="webhook-42")
        before_invoice, before = row(invoice), ledger()

        with pytest.raises(IdempotencyConflict, match="'webhook-42' was used for another payment"):
            pay(invoice, "12.80", key="webhook-42")

        assert row(invoice) == before_invoice
        assert ledger() == before

    def test_the_same_key_for_another_invoice_is_a_conflict(self):
        invoice, other = sent_invoice(), sent_invoice()
        pay(invoice, "22.80", key="webhook-42")
        before_other, before = row(other), ledger()

        with pytest.raises(IdempotencyConflict, match="'webhook-42' was used for another payment"):
            pay(other, "22.80", key="webhook-42")

        assert row(other) == before_other
        assert ledger() == before


@pytest.mark.django_db
class TestPaymentFlow:
    def test_pending_then_processing_then_completed(self):
        invoice = sent_invoice()

        payment = pay(invoice, "22.80", status=PaymentStatus.PENDING)
        assert (payment.status, payment.processed_at) == (PaymentStatus.PENDING, None)
        assert reloaded(invoice).amount_paid == Decimal("0.00")  # no money yet

        payment_mark_processing(payment=payment)
        assert reloaded(payment).status == PaymentStatus.PROCESSING
        assert reloaded(invoice).status == InvoiceStatus.SENT

        completed_at = paris(2026, 11, 6, 10, 0)
        payment_complete(payment=payment, now=completed_at)

        payment.refresh_from_db()
        assert (payment.status, payment.processed_at) == (PaymentStatus.COMPLETED, completed_at)
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID
        assert invoice.paid_at == completed_at
        assert (invoice.amount_paid, invoice.amount_due) == (Decimal("22.80"), Decimal("0.00"))

    def test_a_failed_payment_raises_one_alert(self):
        invoice = sent_invoice()
        payment = pay(invoice, "22.80", status=PaymentStatus.PENDING)
        failed_at = paris(2026, 11, 6, 10, 0)

        payment_fail(payment=payment, reason="Card declined", now=failed_at)

        payment.refresh_from_db()
        assert payment.status == PaymentStatus.FAILED
        assert payment.failure_reason == "Card declined"
        assert payment.processed_at == failed_at
        alert = BillingAlert.objects.get(user=invoice.user)
        assert alert.type == AlertType.PAYMENT_FAILED
        assert "22.80" in alert.message and "Card declined" in alert.message
        invoice.refresh_from_db()
        assert (invoice.status, invoice.amount_due) == (InvoiceStatus.SENT, Decimal("22.80"))

    def test_a_payment_fails_only_once(self):
        invoice = sent_invoice()
        payment = pay(invoice, "22.80", status=PaymentStatus.PENDING)
        payment_fail(payment=payment, reason="Card declined", now=paris(2026, 11, 6, 10, 0))
        before_payment, before = row(payment), ledger()

        with pytest.raises(InvalidTransition, match="cannot move from FAILED to FAILED"):
            payment_fail(payment=payment, reason="Card declined again", now=paris(2026, 11, 7, 10, 0))

        assert row(payment) == before_payment
        assert ledger() == before
        assert BillingAlert.objects.filter(type=AlertType.PAYMENT_FAILED).count() == 1

    @pytest.mark.parametrize(
        ("move", "message"),
        [
            (lambda p: payment_complete(payment=p, now=PAID_AT), "cannot move from FAILED to COMPLETED"),
            (lambda p: payment_mark_processing(payment=p), "cannot move from FAILED to PROCESSING"),
        ],
        ids=["complete", "process"],
    )
    def test_a_failed_payment_cannot_complete_later(self, move, message):
        invoice = sent_invoice()
        payment = pay(invoice, "22.80", status=PaymentStatus.PENDING)
        payment_fail(payment=payment, reason="Card declined", now=paris(2026, 11, 6, 10, 0))
        before_invoice, before = row(invoice), ledger()

        with pytest.raises(InvalidTransition, match=message):
            move(payment)

        assert row(invoice) == before_invoice
        assert ledger() == before

    def test_a_completed_payment_cannot_fail(self):
        invoice = sent_invoice()
        payment = pay(invoice, "22.80")
        before_invoice, before = row(invoice), ledger()

        with pytest.raises(InvalidTransition, match="cannot move from COMPLETED to FAILED"):
            payment_fail(payment=payment, reason="Chargeback", now=AFTER_DUE)

        assert row(invoice) == before_invoice
        assert ledger() == before


@pytest.mark.django_db
class TestRefund:
    def test_a_full_refund_makes_the_invoice_due_again(self):
        invoice = sent_invoice()
        payment = pay(invoice, "22.80")

        payment_refund(payment=payment, now=REFUNDED_AT)

        payment.refresh_from_db()
        assert payment.status == PaymentStatus.REFUNDED
        assert payment.refunded_amount == Decimal("22.80")
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.SENT
        assert invoice.paid_at is None
        assert (invoice.amount_paid, invoice.amount_due) == (Decimal("0.00"), Decimal("22.80"))
        assert AuditLog.objects.filter(action="payment.refund", object_id=str(payment.pk)).count() == 1

    def test_a_refund_after_the_due_date_makes_the_invoice_overdue(self):
        invoice = sent_invoice()
        payment = pay(invoice, "22.80")

        payment_refund(payment=payment, now=AFTER_DUE)

        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.OVERDUE
        assert (invoice.amount_paid, invoice.amount_due) == (Decimal("0.00"), Decimal("22.80"))
        alert = BillingAlert.objects.get(user=invoice.user, type=AlertType.INVOICE_OVERDUE)
        assert alert.occasion == f"invoice:{invoice.number}"

    def test_a_partial_refund(self):
        invoice = sent_invoice()
        payment = pay(invoice, "22.80")

        payment_refund(payment=payment, amount=Decimal("5.00"), now=REFUNDED_AT)

        payment.refresh_from_db()
        assert payment.status == PaymentStatus.REFUNDED
        assert (payment.amount, payment.refunded_amount) == (Decimal("22.80"), Decimal("5.00"))
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.SENT
        assert (invoice.amount_paid, invoice.amount_due) == (Decimal("17.80"), Decimal("5.00"))

    def test_a_second_partial_refund_may_give_back_the_rest(self):
        invoice = sent_invoice()
        payment = pay(invoice, "22.80")
        payment_refund(payment=payment, amount=Decimal("5.00"), now=REFUNDED_AT)

        payment_refund(payment=payment, now=REFUNDED_AT)  # the remaining 17.80

        assert reloaded(payment).refunded_amount == Decimal("22.80")
        invoice.refresh_from_db()
        assert (invoice.amount_paid, invoice.amount_due) == (Decimal("0.00"), Decimal("22.80"))

    @pytest.mark.parametrize(
        ("already_refunded", "amount", "message"),
        [
            (None, "22.81", "between 0.01 and 22.80"),
            (None, "0.00", "positive amount in cents"),
            (None, "-1.00", "positive amount in cents"),
            (None, "1.005", "positive amount in cents"),
            ("5.00", "17.81", "between 0.01 and 17.80"),
            ("22.80", None, "refunded in full already"),
        ],
    )
    def test_more_than_is_refundable_is_refused(self, already_refunded, amount, message):
        invoice = sent_invoice()
        payment = pay(invoice, "22.80")
        if already_refunded:
            payment_refund(payment=payment, amount=Decimal(already_refunded), now=REFUNDED_AT)
        before_invoice, before_payment, before = row(invoice), row(payment), ledger()

        with pytest.raises(BillingError, match=message):
            payment_refund(payment=payment, amount=None if amount is None else Decimal(amount), now=REFUNDED_AT)

        assert row(invoice) == before_invoice
        assert row(payment) == before_payment
        assert ledger() == before

    def test_refunding_an_overpayment_takes_back_its_credit_first(self):
        invoice = sent_invoice()
        payment = pay(invoice, "30.00")

        payment_refund(payment=payment, amount=Decimal("7.20"), now=REFUNDED_AT)

        credit = Credit.objects.get(payment=payment)
        assert credit.remaining_amount == Decimal("0.00")
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID  # the 22.80 that paid it is still there
        assert invoice.amount_paid == Decimal("22.80")

    def test_a_payment_on_a_cancelled_invoice_is_not_refunded_twice(self):
        # Cancelling the invoice already gave the 10.00 paid on it back as a REFUND credit.
        invoice = sent_invoice()
        payment = pay(invoice, "10.00")
        invoice_cancel(invoice=invoice, reason="Wrong plan", now=paris(2026, 11, 6, 9, 0))
        before_invoice, before_payment, before = row(invoice), row(payment), ledger()

        with pytest.raises(BillingError, match="was cancelled: what was paid on it is already a credit"):
            payment_refund(payment=payment, now=REFUNDED_AT)

        assert row(invoice) == before_invoice
        assert row(payment) == before_payment
        assert ledger() == before
        assert Credit.objects.get(user=invoice.user, type=CreditType.REFUND).remaining_amount == Decimal("10.00")

    @pytest.mark.parametrize("status", [PaymentStatus.PENDING, PaymentStatus.FAILED])
    def test_only_a_completed_payment_is_refunded(self, status):
        invoice = sent_invoice()
        payment = pay(invoice, "22.80", status=PaymentStatus.PENDING)
        if status == PaymentStatus.FAILED:
            payment_fail(payment=payment, reason="Card declined", now=PAID_AT)
        before_invoice, before = row(invoice), ledger()

        with pytest.raises(InvalidTransition, match=f"cannot move from {status} to REFUNDED"):
            payment_refund(payment=payment, now=REFUNDED_AT)

        assert row(invoice) == before_invoice
        assert ledger() == before


@pytest.mark.django_db
class TestCreditGrant:
    @pytest.mark.parametrize("credit_type", CreditType.values)
    def test_each_type_of_credit_can_be_granted(self, credit_type):
        user, staff = UserFactory(), UserFactory(is_staff=True)
        expires_at = paris(2027, 1, 1, 0, 0)

        credit = credit_grant(
            user=user, type=credit_type, amount=Decimal("15.00"), reason="  Outage on 3 October  ",
            expires_at=expires_at, created_by=staff, now=GRANTED_AT,
        )

        credit.refresh_from_db()
        assert (credit.user, credit.type, credit.currency) == (user, credit_type, "EUR")
        assert (credit.amount, credit.remaining_amount) == (Decimal("15.00"), Decimal("15.00"))
        assert credit.reason == "Outage on 3 October"
        assert (credit.expires_at, credit.created_by, credit.created_at) == (expires_at, staff, GRANTED_AT)
        audit = AuditLog.objects.get(action="credit.grant", object_id=str(credit.pk))
        assert audit.actor == staff
        assert audit.changes == {"amount": "15.00", "type": credit_type}

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"amount": Decimal("0")}, "positive amount"),
            ({"amount": Decimal("-5.00")}, "positive amount"),
            ({"amount": Decimal("10.005")}, "positive amount in cents"),
            ({"amount": 10.5}, "never a float"),
            ({"reason": ""}, "needs a reason"),
            ({"reason": "   "}, "needs a reason"),
            ({"expires_at": paris(2026, 9, 30, 9, 0)}, "cannot expire in the past"),
            ({"expires_at": GRANTED_AT}, "cannot expire in the past"),
            ({"type": "GIFT"}, "'GIFT' is not a credit type"),
        ],
        ids=[
            "zero", "negative", "fraction of a cent", "float", "no reason", "blank reason", "expired",
            "expiring now", "unknown type",
        ],
    )
    def test_a_bad_grant_is_refused(self, fields, message):
        user = UserFactory()
        before = ledger()
        arguments = {"type": CreditType.COMPENSATION, "amount": Decimal("15.00"), "reason": "Outage", **fields}

        with pytest.raises(BillingError, match=message):
            credit_grant(user=user, now=GRANTED_AT, **arguments)

        assert ledger() == before


@pytest.mark.django_db
class TestCreditsAtFinalisation:
    def test_credits_are_spent_oldest_expiring_first_and_never_expiring_last(self):
        draft = draft_invoice()
        user = draft.user
        never = grant(user, "10.00")
        late = grant(user, "10.00", expires_at=paris(2027, 6, 1))
        soon = grant(user, "5.00", expires_at=paris(2026, 12, 1))

        invoice = invoice_finalize(invoice=draft, now=FINALISED_AT)

        # Price reductions of 22.80 VAT included: 5.00 (expires first) takes 4.17 off 19.00 (14.83 + 2.97 VAT =
        # 17.80), 10.00 (expires next) 8.33 (6.50 + 1.30 = 7.80), the one that never expires the last 6.50 (7.80).
        assert [reloaded(c).remaining_amount for c in (soon, late, never)] == [
            Decimal("0.00"), Decimal("0.00"), Decimal("2.20"),
        ]
        applied = {a.credit_id: a.amount for a in CreditApplication.objects.filter(invoice=invoice)}
        assert applied == {soon.pk: Decimal("5.00"), late.pk: Decimal("10.00"), never.pk: Decimal("7.80")}
        invoice.refresh_from_db()
        assert [line.amount for line in invoice.lines.filter(kind=LineKind.CREDIT).order_by("position")] == [
            Decimal("-4.17"), Decimal("-8.33"), Decimal("-6.50"),
        ]
        assert (invoice.total, invoice.credit_applied, invoice.status) == (
            Decimal("0.00"), Decimal("0.00"), InvoiceStatus.PAID
        )

    def test_a_fully_covered_invoice_is_paid_at_once(self):
        draft = draft_invoice()
        credit = grant(draft.user, "30.00")

        invoice_finalize(invoice=draft, now=FINALISED_AT)

        invoice = reloaded(draft)
        assert invoice.number == "TMCP-2026-000001"  # still issued, with a number
        assert invoice.status == InvoiceStatus.PAID
        assert invoice.paid_at == FINALISED_AT
        # A promotional credit is a price reduction: the whole 19.00 before tax, 22.80 VAT included.
        assert (invoice.subtotal, invoice.total, invoice.credit_applied, invoice.amount_paid, invoice.amount_due) == (
            Decimal("0.00"), Decimal("0.00"), Decimal("0.00"), Decimal("0.00"), Decimal("0.00"),
        )
        assert reloaded(credit).remaining_amount == Decimal("7.20")  # 30.00 − 22.80

    def test_a_partial_credit_leaves_the_rest_due(self):
        draft = draft_invoice()
        credit = grant(draft.user, "5.00")

        invoice_finalize(invoice=draft, now=FINALISED_AT)

        invoice = reloaded(draft)
        assert invoice.status == InvoiceStatus.SENT
        # 5.00 VAT included takes 4.17 off 19.00: 14.83 + 2.97 VAT = 17.80, 22.80 − 5.00.
        assert (invoice.subtotal, invoice.tax_amount, invoice.credit_applied, invoice.amount_due) == (
            Decimal("14.83"), Decimal("2.97"), Decimal("0.00"), Decimal("17.80")
        )
        assert reloaded(credit).remaining_amount == Decimal("0.00")

    def test_expired_credits_are_ignored(self):
        draft = draft_invoice()
        expired = grant(draft.user, "10.00", expires_at=paris(2026, 11, 1))  # a day before finalisation
        usable = grant(draft.user, "3.00")

        invoice_finalize(invoice=draft, now=FINALISED_AT)

        invoice = reloaded(draft)
        # Only the usable 3.00 is spent: 2.50 off 19.00, 16.50 + 3.30 VAT = 19.80.
        assert (invoice.total, invoice.credit_applied, invoice.amount_due) == (
            Decimal("19.80"), Decimal("0.00"), Decimal("19.80")
        )
        assert reloaded(expired).remaining_amount == Decimal("10.00")
        assert reloaded(usable).remaining_amount == Decimal("0.00")
        assert not CreditApplication.objects.filter(credit=expired).exists()

    def test_a_credit_expiring_at_the_moment_of_finalisation_is_expired(self):
        draft = draft_invoice()
        credit = grant(draft.user, "10.00", expires_at=FINALISED_AT)

        invoice_finalize(invoice=draft, now=FINALISED_AT)

        assert reloaded(draft).credit_applied == Decimal("0.00")
        assert reloaded(credit).remaining_amount == Decimal("10.00")

    def test_another_customers_credit_is_not_spent(self):
        draft = draft_invoice()
        someone_else = grant(UserFactory(), "10.00")

        invoice_finalize(invoice=draft, now=FINALISED_AT)

        assert reloaded(draft).credit_applied == Decimal("0.00")
        assert reloaded(someone_else).remaining_amount == Decimal("10.00")

    def test_an_overpayment_credit_pays_the_next_invoice(self):
        first = sent_invoice()
        pay(first, "30.00")  # 7.20 left over
        second = InvoiceFactory(
            subscription=first.subscription, period_start=datetime.date(2026, 11, 1),
            period_end=datetime.date(2026, 12, 1), line__description="Pro plan, 2026-11",
        )

        second = invoice_finalize(invoice=second, now=paris(2026, 12, 1, 9, 0))

        assert (second.credit_applied, second.amount_due) == (Decimal("7.20"), Decimal("15.60"))


@pytest.mark.django_db
class TestAlertRaise:
    def test_the_same_occasion_is_alerted_once(self):
        user = UserFactory()
        first, created = alert_raise(
            user=user, type=AlertType.USAGE_THRESHOLD, occasion="2026-10:80",
            message="You used 80 % of your tokens.", now=paris(2026, 10, 20, 9, 0),
        )
        assert created is True

        again, created = alert_raise(
            user=user, type=AlertType.USAGE_THRESHOLD, occasion="2026-10:80",
            message="You used 80 % of your tokens.", now=paris(2026, 10, 21, 9, 0),
        )

        assert created is False
        assert again.pk == first.pk
        assert BillingAlert.objects.filter(user=user).count() == 1
        assert reloaded(first).created_at == paris(2026, 10, 20, 9, 0)

    def test_another_occasion_type_or_user_is_a_new_alert(self):
        user, other = UserFactory(), UserFactory()
        alert_raise(user=user, type=AlertType.USAGE_THRESHOLD, occasion="2026-10:80", message="80 %")

        created = [
            alert_raise(user=user, type=AlertType.USAGE_THRESHOLD, occasion="2026-10:100", message="100 %")[1],
            alert_raise(user=user, type=AlertType.SUBSCRIPTION_EXPIRING, occasion="2026-10:80", message="Soon")[1],
            alert_raise(user=other, type=AlertType.USAGE_THRESHOLD, occasion="2026-10:80", message="80 %")[1],
        ]

        assert created == [True, True, True]
        assert BillingAlert.objects.count() == 4


@pytest.mark.django_db
class TestMoneyBounds:
    """PAYMENT_MAX_AMOUNT (1,000,000.00 by default) bounds every amount a service takes; floats are refused."""

    def test_a_payment_of_the_largest_amount_is_recorded(self):
        invoice = sent_invoice()

        payment = pay(invoice, "1000000.00")

        assert payment.amount == Decimal("1000000.00")
        assert Credit.objects.get(payment=payment).amount == Decimal("999977.20")  # the overpayment

    @pytest.mark.parametrize("amount", ["1000000.01", "9999999999.99", "1e30"])
    def test_a_payment_beyond_the_bound_is_refused_and_becomes_no_credit(self, amount):
        invoice = sent_invoice()
        before_invoice, before = row(invoice), ledger()

        with pytest.raises(BillingError, match=r"A payment is at most 1000000\.00 \(PAYMENT_MAX_AMOUNT\)"):
            pay(invoice, amount)

        assert row(invoice) == before_invoice
        assert ledger() == before

    def test_a_credit_beyond_the_bound_is_refused(self):
        user = UserFactory()

        with pytest.raises(BillingError, match="A credit is at most 1000000.00"):
            grant(user, "1000000.01")

        assert not Credit.objects.exists()

    def test_the_bound_is_a_setting(self, settings):
        settings.PAYMENT_MAX_AMOUNT = Decimal("500.00")
        invoice = sent_invoice()

        with pytest.raises(BillingError, match="at most 500.00"):
            pay(invoice, "500.01")
        assert pay(invoice, "500.00").amount == Decimal("500.00")

    @pytest.mark.parametrize("service", ["payment", "refund", "credit"])
    def test_a_float_is_refused_by_every_money_service(self, service):
        invoice = sent_invoice()
        payment = pay(invoice, "22.80") if service == "refund" else None
        calls = {
            "payment": lambda: payment_record(invoice=invoice, amount=22.8, idempotency_key="k", now=PAID_AT),
            "refund": lambda: payment_refund(payment=payment, amount=22.8, now=REFUNDED_AT),
            "credit": lambda: credit_grant(user=invoice.user, type=CreditType.PROMOTIONAL, amount=22.8,
                                           reason="Offer", now=GRANTED_AT),
        }
        before_invoice, before = row(invoice), ledger()

        with pytest.raises(BillingError, match="never a float"):
            calls[service]()

        assert row(invoice) == before_invoice
        assert ledger() == before
