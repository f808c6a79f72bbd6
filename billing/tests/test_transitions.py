"""The status machines: every move of every model through the one check, allowed or refused in one style.

That a refused move leaves the row and the ledgers as they were is asserted through the services, in the
refused-move tables of test_invoice_lifecycle, test_payments_credits and test_subscriptions.
"""
import itertools

import pytest
from django.utils import translation

from billing.exceptions import InvalidTransition
from billing.models import (
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    Subscription,
    SubscriptionStatus,
)
from billing.transitions import transition_check

ALLOWED = {
    InvoiceStatus: {
        ("DRAFT", "SENT"), ("DRAFT", "CANCELLED"),
        ("SENT", "PAID"), ("SENT", "OVERDUE"), ("SENT", "CANCELLED"),
        ("OVERDUE", "PAID"), ("OVERDUE", "CANCELLED"),
    },
    PaymentStatus: {
        ("PENDING", "PROCESSING"), ("PENDING", "COMPLETED"), ("PENDING", "FAILED"),
        ("PROCESSING", "COMPLETED"), ("PROCESSING", "FAILED"),
        ("COMPLETED", "REFUNDED"),
        ("REFUNDED", "REFUNDED"),  # a partial refund, then another
    },
    SubscriptionStatus: {
        ("ACTIVE", "PAUSED"), ("ACTIVE", "CANCELLED"), ("ACTIVE", "EXPIRED"),
        ("PAUSED", "ACTIVE"), ("PAUSED", "CANCELLED"), ("PAUSED", "EXPIRED"),
    },
}
# An unsaved row of each model in `status`, and how the error names it.
ROWS = {
    InvoiceStatus: (lambda status: Invoice(number="TMCP-2026-000001", status=status), "Invoice TMCP-2026-000001"),
    PaymentStatus: (lambda status: Payment(pk=5, status=status), "Payment 5"),
    SubscriptionStatus: (lambda status: Subscription(pk=12, status=status), "Subscription 12"),
}
MOVES = [
    pytest.param(statuses, current, target, id=f"{statuses.__name__}:{current}->{target}")
    for statuses in ALLOWED
    for current, target in itertools.product(statuses.values, repeat=2)
]


class TestEveryMove:
    @pytest.mark.parametrize(("statuses", "current", "target"), MOVES)
    def test_an_allowed_move_passes_and_any_other_is_refused_in_one_style(self, statuses, current, target):
        make_row, name = ROWS[statuses]
        row = make_row(current)

        if (current, target) in ALLOWED[statuses]:
            transition_check(row, to=statuses(target))
        else:
            with pytest.raises(InvalidTransition) as refused:
                transition_check(row, to=statuses(target))
            assert str(refused.value) == f"{name} cannot move from {current} to {target}."
        assert row.status == current


class TestMessage:
    def test_a_customer_reads_it_in_their_language(self):
        subscription = Subscription(pk=12, status=SubscriptionStatus.EXPIRED)

        with translation.override("fr"), pytest.raises(InvalidTransition) as refused:
            transition_check(subscription, to=SubscriptionStatus.ACTIVE)

        assert str(refused.value) == "L’abonnement 12 ne peut pas passer de EXPIRED à ACTIVE."
