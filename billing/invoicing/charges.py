"""One-off charges: finance adds an amount to a customer's next period invoice, or invoices it at once on an invoice of
its own (kind ONE_OFF), or cancels it while it is pending.

A pending charge is priced by `billing.pricing.invoice_draft` (an ADJUSTMENT line) wherever the next invoice is priced:
the monthly run, `invoice_generate` and the upcoming estimate. The invoice that bills it marks it billed as its lines
are written (`billing.invoicing.invoices`), the charge locked since it was priced: billed once.
"""
import datetime
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.services import audit_log_record
from billing import clock
from billing.cache import customer_cache_invalidate
from billing.exceptions import BillingError, IdempotencyConflict
from billing.invoicing.invoices import invoices_create, invoices_finalize
from billing.models import Invoice, OneOffCharge
from billing.money import positive_amount
from billing.periods import local_date
from billing.pricing import charge_draft
from billing.selectors import customer_live_subscription

DESCRIPTION_MAX_LENGTH = OneOffCharge._meta.get_field("description").max_length


def _checked_description(description: str) -> str:
    description = (description or "").strip()
    if not description:
        raise BillingError("A one-off charge needs a description: it is the invoice line the customer reads.")
    if len(description) > DESCRIPTION_MAX_LENGTH:
        raise BillingError(f"A one-off charge's description is at most {DESCRIPTION_MAX_LENGTH} characters.")
    return description


@transaction.atomic
def charge_add(
    *,
    user,
    description: str,
    amount: Decimal,
    invoice_now: bool = False,
    created_by=None,
    idempotency_key: str = "",
    now: datetime.datetime | None = None,
) -> OneOffCharge:
    """A one-off charge of `amount` (before tax) for `user`: on their next period invoice, or with `invoice_now` on a
    numbered invoice of its own at once (`charge_invoice`).

    The next invoice needs a live subscription to come; a customer without one can only be invoiced at once. With an
    `idempotency_key` (a submitted form's), the same key adds one charge: asked again, it returns that charge.
    """
    description = _checked_description(description)
    amount = positive_amount(amount, what="A one-off charge")
    now = now or clock.now()
    subscription = customer_live_subscription(user=user)
    if subscription is None and not invoice_now:
        raise BillingError(f"{user} has no live subscription, so no next invoice: invoice the charge at once.")
    currency = subscription.plan.currency if subscription is not None else settings.INVOICE_CURRENCY
    try:
        with transaction.atomic():
            charge = OneOffCharge.objects.create(
                user=user, description=description, amount=amount, currency=currency, created_by=created_by,
                created_at=now, idempotency_key=idempotency_key,
            )
    except IntegrityError:
        # The unique key refused a second submission of the same form: the first charge stands.
        added = OneOffCharge.objects.filter(idempotency_key=idempotency_key).first() if idempotency_key else None
        if added is None:
            raise
        if (added.user_id, added.amount, added.description) != (user.pk, amount, description):
            raise IdempotencyConflict(f"Idempotency key '{idempotency_key}' was used for another charge.") from None
        return added
    audit_log_record(
        action="one_off_charge.add", obj=charge, actor=created_by,
        changes={"amount": str(amount), "currency": currency, "description": description, "invoice_now": invoice_now},
    )
    customer_cache_invalidate(user.pk)
    if invoice_now:
        charge.invoice = charge_invoice(charge=charge, actor=created_by, now=now)
    return charge


def _lock_pending(charge: OneOffCharge) -> OneOffCharge:
    """The charge, locked until commit, if it is still pending: the invoice run locks the pending charges it prices,
    so a charge is cancelled or invoiced before the run reads it, or found billed after."""
    locked = OneOffCharge.objects.select_for_update().select_related("user").get(pk=charge.pk)
    if locked.invoice_id is not None:
        raise BillingError(f"The charge '{locked.description}' is billed already, by invoice {locked.invoice}.")
    if locked.cancelled_at is not None:
        raise BillingError(f"The charge '{locked.description}' was cancelled.")
    return locked


@transaction.atomic
def charge_invoice(*, charge: OneOffCharge, actor=None, now: datetime.datetime | None = None) -> Invoice:
    """Invoice a pending charge at once: a ONE_OFF invoice of its own over today, naming the customer's live
    subscription when they have one, priced with their tax and issued like any invoice (number, credits, PDF and
    email after commit, a Stripe charge when they have a card, customer webhooks)."""
    now = now or clock.now()
    locked = _lock_pending(charge)
    draft = charge_draft(
        charge=locked, subscription=customer_live_subscription(user=locked.user), day=local_date(now)
    )
    [invoice] = invoices_create([draft], now=now)
    invoices_finalize([invoice], now=now)
    audit_log_record(action="one_off_charge.invoice", obj=locked, changes={"invoice": invoice.number}, actor=actor)
    return invoice


@transaction.atomic
def charge_cancel(*, charge: OneOffCharge, actor=None, now: datetime.datetime | None = None) -> OneOffCharge:
    """Cancel a pending charge: no invoice bills it. A billed one stays billed (cancel its invoice instead)."""
    now = now or clock.now()
    locked = _lock_pending(charge)
    locked.cancelled_at = now
    locked.save(update_fields=["cancelled_at"])
    audit_log_record(action="one_off_charge.cancel", obj=locked, changes={"amount": str(locked.amount)}, actor=actor)
    customer_cache_invalidate(locked.user_id)
    return locked
