"""The status machines of invoices, payments and subscriptions: the only moves each may make, and one check.

Services ask `transition_check` before they move a status; a move not in the table is refused with one
`InvalidTransition` in one style ("Invoice TMCP-2026-000001 cannot move from PAID to CANCELLED."), in the
reader's language since customer pages show it. The database still refuses impossible states where a
constraint exists.
"""
from collections.abc import Callable

from django.db import models
from django.utils.translation import gettext as _

from billing.exceptions import InvalidTransition
from billing.models import InvoiceStatus, PaymentStatus, SubscriptionStatus

Moves = dict[str, frozenset[str]]

INVOICE_TRANSITIONS: Moves = {
    InvoiceStatus.DRAFT: frozenset({InvoiceStatus.SENT, InvoiceStatus.CANCELLED}),
    InvoiceStatus.SENT: frozenset({InvoiceStatus.PAID, InvoiceStatus.OVERDUE, InvoiceStatus.CANCELLED}),
    InvoiceStatus.OVERDUE: frozenset({InvoiceStatus.PAID, InvoiceStatus.CANCELLED}),
    InvoiceStatus.PAID: frozenset(),
    InvoiceStatus.CANCELLED: frozenset(),
}

PAYMENT_TRANSITIONS: Moves = {
    PaymentStatus.PENDING: frozenset({PaymentStatus.PROCESSING, PaymentStatus.COMPLETED, PaymentStatus.FAILED}),
    PaymentStatus.PROCESSING: frozenset({PaymentStatus.COMPLETED, PaymentStatus.FAILED}),
    PaymentStatus.COMPLETED: frozenset({PaymentStatus.REFUNDED}),
    PaymentStatus.FAILED: frozenset(),
    # A payment refunded in part may be refunded again, up to its amount.
    PaymentStatus.REFUNDED: frozenset({PaymentStatus.REFUNDED}),
}

SUBSCRIPTION_TRANSITIONS: Moves = {
    SubscriptionStatus.ACTIVE: frozenset(
        {SubscriptionStatus.PAUSED, SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED}
    ),
    SubscriptionStatus.PAUSED: frozenset(
        {SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED}
    ),
    SubscriptionStatus.CANCELLED: frozenset(),
    SubscriptionStatus.EXPIRED: frozenset(),
}


def _invoice_name(invoice) -> str:
    return _("Invoice %(reference)s") % {"reference": invoice}


def _payment_name(payment) -> str:
    return _("Payment %(reference)s") % {"reference": payment.pk}


def _subscription_name(subscription) -> str:
    return _("Subscription %(reference)s") % {"reference": subscription.pk}


# Keyed by model name so that this module needs the status vocabularies only, not the models.
MACHINES: dict[str, tuple[Moves, Callable[[models.Model], str]]] = {
    "invoice": (INVOICE_TRANSITIONS, _invoice_name),
    "payment": (PAYMENT_TRANSITIONS, _payment_name),
    "subscription": (SUBSCRIPTION_TRANSITIONS, _subscription_name),
}


def transition_check(obj: models.Model, *, to: str) -> None:
    """Refuse, before anything is written, a move of `obj`'s status that its table does not allow."""
    moves, name = MACHINES[obj._meta.model_name]
    if to not in moves[obj.status]:
        raise InvalidTransition(
            _("%(object)s cannot move from %(current)s to %(target)s.")
            % {"object": name(obj), "current": obj.status, "target": to}
        )
