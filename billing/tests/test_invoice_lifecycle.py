"""The invoice status machine: DRAFT→SENT→PAID, SENT→OVERDUE→PAID, DRAFT/SENT/OVERDUE→CANCELLED.

Every invoice below is Pro for October 2026: 19.00 + 20 % VAT (3.80) = 22.80, for a customer in France.
"""
import datetime
from decimal import Decimal

import pytest

from accounts.models import AuditLog
from accounts.tests.factories import UserProfileFactory
from billing.exceptions import BillingError, InvalidTransition
from billing.models import (
    AlertType,
    BillingAlert,
    Credit,
    CreditApplication,
    CreditNote,
    CreditType,
    Invoice,
    InvoiceStatus,
    LineKind,
    NumberSequence,
)
from billing.services import (
    credit_grant,
    invoice_cancel,
    invoice_finalize,
    invoice_mark_overdue,
    payment_record,
)
from billing.tests.factories import InvoiceFactory, paris

UTC = datetime.UTC


FINALISED_AT = paris(2026, 11, 2, 9, 0)  # issued 2 November 2026, due 2 December 2026
ISSUE_DATE, DUE_DATE = datetime.date(2026, 11, 2), datetime.date(2026, 12, 2)
AFTER_DUE = paris(2026, 12, 10, 9, 0)


def draft_invoice() -> Invoice:
    """A DRAFT for Pro in October 2026 (one line of 19.00), for a customer in France."""
    profile = UserProfileFactory(country="FR")
    return InvoiceFactory(subscription__user=profile.user)  # its one line: Pro, 19.00


def sent_invoice(now=FINALISED_AT) -> Invoice:
    return invoice_finalize(invoice=draft_invoice(), now=now)


def overdue_invoice() -> Invoice:
    return invoice_mark_overdue(invoice=sent_invoice(), now=AFTER_DUE)


def paid_invoice() -> Invoice:
    invoice = sent_invoice()
    payment_record(invoice=invoice, amount=Decimal("22.80"), idempotency_key=f"pay-{invoice.pk}",
                   now=paris(2026, 11, 5, 9, 0))
    return Invoice.objects.get(pk=invoice.pk)


def cancelled_invoice() -> Invoice:
    return invoice_cancel(invoice=sent_invoice(), reason="Billed twice", now=paris(2026, 11, 3, 9, 0))


def snapshot(invoice: Invoice) -> dict:
    """Every column of the invoice as stored, and every row a refused move must not add or change."""
    row = Invoice.objects.get(pk=invoice.pk)
    return {
        "row": {field.attname: getattr(row, field.attname) for field in row._meta.concrete_fields},
        "sequences": list(NumberSequence.objects.order_by("kind", "year").values_list("kind", "year", "last_number")),
        "credit_notes": CreditNote.objects.count(),
        "credits": list(Credit.objects.order_by("pk").values_list("pk", "remaining_amount")),
        "applications": list(CreditApplication.objects.order_by("pk").values_list("pk", "reversed_at")),
        "alerts": BillingAlert.objects.count(),
        "audit_rows": AuditLog.objects.count(),
    }


@pytest.mark.django_db
class TestFinalize:
    def test_a_draft_is_sent_with_the_first_number_of_the_year(self):
        invoice = draft_invoice()

        invoice_finalize(invoice=invoice, now=FINALISED_AT)

        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.SENT
        assert invoice.number == "TMCP-2026-000001"
        assert invoice.issue_date == ISSUE_DATE
        assert invoice.due_date == DUE_DATE  # 30 days later
        assert invoice.sent_at == FINALISED_AT
        assert invoice.paid_at is None
        assert (invoice.subtotal, invoice.tax_rate, invoice.tax_amount, invoice.total) == (
            Decimal("19.00"), Decimal("0.2000"), Decimal("3.80"), Decimal("22.80"),
        )
        assert (invoice.credit_applied, invoice.amount_paid, invoice.amount_due) == (
            Decimal("0.00"), Decimal("0.00"), Decimal("22.80"),
        )
        assert invoice.billing_details["buyer"]["country"] == "FR"
        assert AuditLog.objects.filter(
            action="invoice.finalize", object_type="billing.Invoice", object_id=str(invoice.pk)
        ).get().changes == {"number": "TMCP-2026-000001", "status": "SENT"}

    def test_the_issue_date_and_the_number_year_are_those_of_paris(self):
        invoice = draft_invoice()

        # 23:30 UTC on 31 December 2026 is already 1 January 2027 in Paris.
        invoice_finalize(invoice=invoice, now=datetime.datetime(2026, 12, 31, 23, 30, tzinfo=UTC))

        invoice.refresh_from_db()
        assert invoice.number == "TMCP-2027-000001"
        assert invoice.issue_date == datetime.date(2027, 1, 1)
        assert invoice.due_date == datetime.date(2027, 1, 31)

    def test_numbers_follow_each_other_and_restart_each_year(self):
        first, second, third = draft_invoice(), draft_invoice(), draft_invoice()

        invoice_finalize(invoice=first, now=paris(2026, 11, 2, 9, 0))
        invoice_finalize(invoice=second, now=paris(2026, 12, 31, 23, 0))
        invoice_finalize(invoice=third, now=paris(2027, 1, 1, 0, 30))

        numbers = [Invoice.objects.get(pk=invoice.pk).number for invoice in (first, second, third)]
        assert numbers == ["TMCP-2026-000001", "TMCP-2026-000002", "TMCP-2027-000001"]

    def test_the_tax_is_computed_again_from_the_profile_at_issue(self):
        # A customer outside the EU pays no French VAT: 19.00 is the total.
        invoice = draft_invoice()
        invoice.user.profile.country = "US"
        invoice.user.profile.save()

        invoice_finalize(invoice=invoice, now=FINALISED_AT)

        invoice.refresh_from_db()
        assert (invoice.tax_rate, invoice.tax_amount, invoice.total, invoice.amount_due) == (
            Decimal("0.0000"), Decimal("0.00"), Decimal("19.00"), Decimal("19.00"),
        )
        assert invoice.reverse_charge is False


@pytest.mark.django_db
class TestPaidAndOverdue:
    def test_a_payment_of_the_total_makes_a_sent_invoice_paid(self):
        invoice = sent_invoice()
        paid_at = paris(2026, 11, 5, 9, 0)

        payment_record(invoice=invoice, amount=Decimal("22.80"), idempotency_key="bank-1", now=paid_at)

        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID
        assert invoice.paid_at == paid_at
        assert (invoice.amount_paid, invoice.amount_due) == (Decimal("22.80"), Decimal("0.00"))

    def test_a_sent_invoice_past_its_due_date_becomes_overdue_with_one_alert(self):
        invoice = sent_invoice()

        # 23:30 UTC on 2 December is 3 December in Paris: the day after the due date.
        invoice_mark_overdue(invoice=invoice, now=datetime.datetime(2026, 12, 2, 23, 30, tzinfo=UTC))

        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.OVERDUE
        alert = BillingAlert.objects.get(user=invoice.user)
        assert alert.type == AlertType.INVOICE_OVERDUE
        assert alert.occasion == "invoice:TMCP-2026-000001"
        assert "TMCP-2026-000001" in alert.message
        assert "2 December 2026" in alert.message

    def test_on_its_due_date_an_invoice_is_not_overdue_yet(self):
        invoice = sent_invoice()
        before = snapshot(invoice)

        # 22:30 UTC on 2 December is 23:30 on 2 December in Paris: still the due date.
        with pytest.raises(BillingError, match="is not overdue: it is due on 2026-12-02"):
            invoice_mark_overdue(invoice=invoice, now=datetime.datetime(2026, 12, 2, 22, 30, tzinfo=UTC))

        assert snapshot(invoice) == before

    def test_marking_overdue_twice_is_refused_and_alerts_once(self):
        invoice = overdue_invoice()

        with pytest.raises(InvalidTransition, match="cannot move from OVERDUE to OVERDUE"):
            invoice_mark_overdue(invoice=invoice, now=paris(2026, 12, 20, 9, 0))

        assert BillingAlert.objects.filter(user=invoice.user, type=AlertType.INVOICE_OVERDUE).count() == 1

    def test_an_overdue_invoice_is_paid_by_a_payment_of_the_total(self):
        invoice = overdue_invoice()

        payment_record(invoice=invoice, amount=Decimal("22.80"), idempotency_key="late", now=paris(2026, 12, 15))

        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID
        assert invoice.amount_due == Decimal("0.00")


@pytest.mark.django_db
class TestCancel:
    def test_a_cancelled_draft_gets_no_number_and_no_credit_note(self):
        invoice = draft_invoice()
        now = paris(2026, 11, 2, 9, 0)

        invoice_cancel(invoice=invoice, reason="", now=now)

        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.CANCELLED
        assert invoice.cancelled_at == now
        assert invoice.number is None
        assert invoice.issue_date is None
        assert not CreditNote.objects.exists()
        assert not NumberSequence.objects.exists()

    def test_cancelling_a_sent_invoice_issues_a_credit_note_for_its_total(self):
        invoice = sent_invoice()
        now = paris(2026, 11, 3, 9, 0)

        invoice_cancel(invoice=invoice, reason="Billed twice", now=now)

        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.CANCELLED
        assert invoice.cancelled_at == now
        # An issued invoice is never edited: it keeps its number and amounts.
        assert invoice.number == "TMCP-2026-000001"
        assert invoice.total == Decimal("22.80")
        credit_note = CreditNote.objects.get(invoice=invoice)
        assert credit_note.number == "AV-2026-000001"
        assert credit_note.amount == Decimal("22.80")
        assert (credit_note.reason_code, credit_note.reason) == ("OTHER", "Billed twice")  # free text alone: Other
        assert credit_note.issue_date == datetime.date(2026, 11, 3)
        assert not Credit.objects.filter(user=invoice.user).exists()  # nothing was paid on it

    def test_a_reason_from_the_list_needs_no_detail(self):
        invoice = sent_invoice()

        invoice_cancel(invoice=invoice, reason_code="DUPLICATE", now=paris(2026, 11, 3, 9, 0))

        credit_note = CreditNote.objects.get(invoice=invoice)
        assert (credit_note.reason_code, credit_note.reason) == ("DUPLICATE", "")
        assert AuditLog.objects.get(action="invoice.cancel").changes == {"reason_code": "DUPLICATE", "reason": ""}

    def test_an_overdue_invoice_can_be_cancelled(self):
        invoice = overdue_invoice()

        invoice_cancel(invoice=invoice, reason="Service not delivered", now=paris(2026, 12, 11, 9, 0))

        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.CANCELLED
        assert CreditNote.objects.get(invoice=invoice).number == "AV-2026-000001"

    def test_credit_note_numbers_are_their_own_gapless_sequence(self):
        first, second = sent_invoice(), sent_invoice()  # TMCP-2026-000001 and 000002

        invoice_cancel(invoice=first, reason="Billed twice", now=paris(2026, 11, 3, 9, 0))
        invoice_cancel(invoice=second, reason="Billed twice", now=paris(2026, 11, 4, 9, 0))

        assert [CreditNote.objects.get(invoice=i).number for i in (first, second)] == [
            "AV-2026-000001", "AV-2026-000002",
        ]
        # Credit notes did not take invoice numbers: the next invoice is 000003.
        assert sent_invoice().number == "TMCP-2026-000003"

    def test_credit_note_numbers_restart_each_year(self):
        first, second = sent_invoice(), sent_invoice()

        invoice_cancel(invoice=first, reason="Billed twice", now=paris(2026, 12, 31, 12, 0))
        invoice_cancel(invoice=second, reason="Billed twice", now=datetime.datetime(2026, 12, 31, 23, 30, tzinfo=UTC))

        assert [CreditNote.objects.get(invoice=i).number for i in (first, second)] == [
            "AV-2026-000001", "AV-2027-000001",
        ]

    def test_the_credit_an_invoice_consumed_comes_back(self):
        draft = draft_invoice()
        credit = credit_grant(
            user=draft.user, type=CreditType.PROMOTIONAL, amount=Decimal("5.00"), reason="Welcome offer",
            now=paris(2026, 10, 1, 9, 0),
        )
        invoice = invoice_finalize(invoice=draft, now=FINALISED_AT)
        # A price reduction of 5.00 VAT included: 4.17 off 19.00, 14.83 + 2.97 VAT = 17.80.
        assert (invoice.total, invoice.credit_applied, invoice.amount_due) == (
            Decimal("17.80"), Decimal("0.00"), Decimal("17.80")
        )
        cancelled_at = paris(2026, 11, 3, 9, 0)

        invoice_cancel(invoice=invoice, reason="Wrong plan", now=cancelled_at)

        credit.refresh_from_db()
        assert credit.remaining_amount == Decimal("5.00")
        application = CreditApplication.objects.get(credit=credit, invoice=invoice)
        assert application.amount == Decimal("5.00")
        assert application.reversed_at == cancelled_at
        # The credit note cancels the whole invoice as issued, its CREDIT line included.
        assert CreditNote.objects.get(invoice=invoice).amount == Decimal("17.80")
        assert invoice.lines.get(kind=LineKind.CREDIT).amount == Decimal("-4.17")

    def test_what_was_paid_on_a_cancelled_invoice_becomes_a_refund_credit(self):
        invoice = sent_invoice()
        payment_record(invoice=invoice, amount=Decimal("10.00"), idempotency_key="part", now=paris(2026, 11, 2, 10))
        cancelled_at = paris(2026, 11, 3, 9, 0)

        invoice_cancel(invoice=invoice, reason="Wrong plan", now=cancelled_at)

        refund = Credit.objects.get(user=invoice.user)
        assert refund.type == CreditType.REFUND
        assert (refund.amount, refund.remaining_amount) == (Decimal("10.00"), Decimal("10.00"))
        assert "TMCP-2026-000001" in refund.reason
        assert refund.created_at == cancelled_at

    def test_a_refund_credit_pays_the_replacement_invoice(self):
        cancelled = sent_invoice()
        payment_record(invoice=cancelled, amount=Decimal("10.00"), idempotency_key="part", now=paris(2026, 11, 2))
        invoice_cancel(invoice=cancelled, reason="Wrong address", now=paris(2026, 11, 3, 9, 0))
        replacement = InvoiceFactory(subscription=cancelled.subscription)

        replacement = invoice_finalize(invoice=replacement, now=paris(2026, 11, 3, 10, 0))

        assert replacement.number == "TMCP-2026-000002"
        assert (replacement.credit_applied, replacement.amount_due) == (Decimal("10.00"), Decimal("12.80"))


# (an invoice in some state, the refused move, the error, what its message says)
REFUSED_MOVES = {
    "finalise a sent invoice": (
        sent_invoice, lambda i: invoice_finalize(invoice=i, now=AFTER_DUE),
        InvalidTransition, "cannot move from SENT to SENT",
    ),
    "finalise a paid invoice": (
        paid_invoice, lambda i: invoice_finalize(invoice=i, now=AFTER_DUE),
        InvalidTransition, "cannot move from PAID to SENT",
    ),
    "finalise a cancelled invoice": (
        cancelled_invoice, lambda i: invoice_finalize(invoice=i, now=AFTER_DUE),
        InvalidTransition, "cannot move from CANCELLED to SENT",
    ),
    "cancel a paid invoice": (
        paid_invoice, lambda i: invoice_cancel(invoice=i, reason="Customer asked", now=AFTER_DUE),
        InvalidTransition, "cannot move from PAID to CANCELLED",
    ),
    "cancel a cancelled invoice": (
        cancelled_invoice, lambda i: invoice_cancel(invoice=i, reason="Again", now=AFTER_DUE),
        InvalidTransition, "cannot move from CANCELLED to CANCELLED",
    ),
    "mark a paid invoice overdue": (
        paid_invoice, lambda i: invoice_mark_overdue(invoice=i, now=AFTER_DUE),
        InvalidTransition, "cannot move from PAID to OVERDUE",
    ),
    "mark a draft overdue": (
        draft_invoice, lambda i: invoice_mark_overdue(invoice=i, now=AFTER_DUE),
        InvalidTransition, "cannot move from DRAFT to OVERDUE",
    ),
    "mark a cancelled invoice overdue": (
        cancelled_invoice, lambda i: invoice_mark_overdue(invoice=i, now=AFTER_DUE),
        InvalidTransition, "cannot move from CANCELLED to OVERDUE",
    ),
    "cancel a sent invoice without a reason": (
        sent_invoice, lambda i: invoice_cancel(invoice=i, reason="", now=AFTER_DUE),
        BillingError, "A reason is required to cancel an issued invoice",
    ),
    "cancel an overdue invoice with a blank reason": (
        overdue_invoice, lambda i: invoice_cancel(invoice=i, reason="   ", now=AFTER_DUE),
        BillingError, "A reason is required to cancel an issued invoice",
    ),
    "cancel a sent invoice for another reason without saying which": (
        sent_invoice, lambda i: invoice_cancel(invoice=i, reason_code="OTHER", reason=" ", now=AFTER_DUE),
        BillingError, "A reason is required to cancel an issued invoice",
    ),
    "cancel a sent invoice for a reason not in the list": (
        sent_invoice, lambda i: invoice_cancel(invoice=i, reason_code="BORED", reason="No", now=AFTER_DUE),
        BillingError, "Unknown credit note reason 'BORED'",
    ),
}


@pytest.mark.django_db
class TestRefusedMoves:
    @pytest.mark.parametrize("case", REFUSED_MOVES.values(), ids=REFUSED_MOVES.keys())
    def test_is_refused_with_a_clear_error_and_changes_nothing(self, case):
        arrange, move, error, message = case
        invoice = arrange()
        before = snapshot(invoice)

        with pytest.raises(error, match=message):
            move(invoice)

        assert snapshot(invoice) == before

    @pytest.mark.parametrize("case", REFUSED_MOVES.values(), ids=REFUSED_MOVES.keys())
    def test_no_number_is_burnt(self, case):
        arrange, move, error, _ = case
        invoice = arrange()
        with pytest.raises(error):
            move(invoice)

        following = sent_invoice(now=paris(2026, 12, 20, 9, 0))
        invoice_cancel(invoice=following, reason="Check the credit note sequence", now=paris(2026, 12, 21, 9, 0))

        # Each arrangement issued one invoice (a draft none) and at most one credit note.
        issued_before = 0 if invoice.number is None else 1
        credit_notes_before = CreditNote.objects.exclude(invoice=following).count()
        assert following.number == f"TMCP-2026-{issued_before + 1:06d}"
        assert CreditNote.objects.get(invoice=following).number == f"AV-2026-{credit_notes_before + 1:06d}"
