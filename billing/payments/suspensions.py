"""Finance's side of the access suspension: an unpaid invoice past its grace suspends the customer's metered
calls (billing.selectors.suspending_invoices, enforced by billing.metering.throttles); paying it lifts the
suspension at once, and finance may lift it by hand, for that invoice, with a reason."""
import datetime

from django.db import transaction

from accounts.services import audit_log_record
from billing import clock
from billing.cache import customer_cache_invalidate
from billing.exceptions import BillingError
from billing.models import AccessSuspensionLift, Invoice
from billing.periods import local_date
from billing.selectors import suspending_invoices


@transaction.atomic
def access_suspension_lift(
    *, invoice: Invoice, actor, reason: str, now: datetime.datetime | None = None
) -> AccessSuspensionLift:
    """Serve the customer's metered calls again although `invoice` stays unpaid (it is still due, reminded and
    overdue as before). Only an invoice that suspends access today may be lifted, once."""
    reason = (reason or "").strip()
    if not reason:
        raise BillingError("Lifting a suspension needs a reason.")
    now = now or clock.now()
    # Locked, so that two lifts of one invoice, or a lift and a payment, happen one after the other: the second
    # then sees the first's outcome below.
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if not suspending_invoices(today=local_date(now)).filter(pk=locked.pk).exists():
        raise BillingError(f"Invoice {locked} does not suspend its customer's access: there is nothing to lift.")
    lift = AccessSuspensionLift.objects.create(invoice=locked, lifted_by=actor, reason=reason, created_at=now)
    # On the invoice: its admin page shows its trail, where finance looks for what happened to it.
    audit_log_record(action="invoice.suspension_lift", obj=locked, changes={"reason": reason}, actor=actor)
    # The docs API caches the suspension per customer under their cache version: the next call is served.
    customer_cache_invalidate(locked.user_id)
    return lift
