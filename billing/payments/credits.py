import datetime
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.services import audit_log_record
from billing import clock
from billing.cache import customer_cache_invalidate
from billing.exceptions import BillingError, IdempotencyConflict
from billing.models import Credit, CreditType
from billing.money import positive_amount


@transaction.atomic
def credit_grant(
    *,
    user,
    type: str,
    amount: Decimal,
    reason: str,
    expires_at: datetime.datetime | None = None,
    currency: str | None = None,
    created_by=None,
    idempotency_key: str = "",
    now: datetime.datetime | None = None,
) -> Credit:
    """Give a customer an amount to spend on their next invoices.

    With an `idempotency_key` (a submitted form's), the same key grants once: asked again, even at the same
    time, it returns the credit it granted.
    """
    if type not in CreditType.values:
        raise BillingError(f"'{type}' is not a credit type: use one of {', '.join(CreditType.values)}.")
    amount = positive_amount(amount, what="A credit")
    if not reason or not reason.strip():
        raise BillingError("A credit needs a reason.")
    now = now or clock.now()
    if expires_at is not None and expires_at <= now:
        raise BillingError("A credit cannot expire in the past.")
    try:
        with transaction.atomic():
            credit = Credit.objects.create(
                user=user, type=type, amount=amount, remaining_amount=amount,
                currency=currency or settings.INVOICE_CURRENCY, reason=reason.strip(), expires_at=expires_at,
                created_by=created_by, idempotency_key=idempotency_key, created_at=now,
            )
    except IntegrityError:
        # The unique key refused a second grant: the first one stands.
        granted = Credit.objects.filter(idempotency_key=idempotency_key).first() if idempotency_key else None
        if granted is None:
            raise
        if (granted.user_id, granted.amount) != (user.pk, amount):
            raise IdempotencyConflict(f"Idempotency key '{idempotency_key}' was used for another credit.") from None
        return granted
    audit_log_record(action="credit.grant", obj=credit, changes={"amount": str(amount), "type": type}, actor=created_by)
    customer_cache_invalidate(credit.user_id)
    return credit
